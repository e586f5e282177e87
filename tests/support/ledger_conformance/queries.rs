//! Queries: one partition, row key ranges, typed equality, across partitions, partition
//! ranges (a resumed sweep), `$top` with continuations, invalid property names.

use ferry::ledger::{query_all, Continuation, Entity, Ledger, LedgerError, Op, Query, Value};
use time::macros::datetime;

use super::expect_err;

pub(super) async fn queries(ledger: &dyn Ledger, run: &str) {
    let p1 = format!("{run}-q1");
    let p2 = format!("{run}-q2");
    let at = datetime!(2026-01-02 03:04:05.123456 UTC);
    let mut ops = Vec::new();
    for (rk, active, n) in [
        ("chain", true, 1),
        ("copy-001", true, 2),
        ("copy-002", false, 3),
        ("copy-010", true, 2),
        ("reading-1", false, 5),
    ] {
        ops.push(Op::Insert(
            Entity::new(&p1, rk)
                .with("Active", Value::Bool(active))
                .with("N", Value::Int64(n))
                .with("Run", Value::String(run.to_string()))
                .with(
                    "At",
                    Value::DateTime(if n == 2 {
                        at
                    } else {
                        at + time::Duration::SECOND
                    }),
                )
                .with("Ratio", Value::Double(n as f64 / 2.0)),
        ));
    }
    ledger.batch(&p1, ops).await.expect("seed p1");
    ledger
        .batch(
            &p2,
            vec![
                Op::Insert(
                    Entity::new(&p2, "chain")
                        .with("Active", Value::Bool(true))
                        .with("Run", Value::String(run.to_string()))
                        .with("N", Value::String("2".into())),
                ),
                Op::Insert(
                    Entity::new(&p2, "copy-001")
                        .with("Active", Value::Bool(false))
                        .with("Run", Value::String(run.to_string())),
                ),
            ],
        )
        .await
        .expect("seed p2");

    let rows = |es: Vec<Entity>| -> Vec<(String, String)> {
        es.into_iter()
            .map(|e| (e.partition_key, e.row_key))
            .collect()
    };
    let keys = |pk: &str, rks: &[&str]| -> Vec<(String, String)> {
        rks.iter()
            .map(|rk| (pk.to_string(), rk.to_string()))
            .collect()
    };

    let page = ledger
        .query(&Query::partition(&p1), None)
        .await
        .expect("partition query");
    assert_eq!(page.continuation, None, "small query must fit one page");
    assert_eq!(
        rows(page.entities.clone()),
        keys(
            &p1,
            &["chain", "copy-001", "copy-002", "copy-010", "reading-1"]
        ),
        "partition query returns the partition in row key order"
    );
    assert!(
        page.entities.iter().all(|e| e.etag.is_some()),
        "queried rows carry ETags"
    );
    let direct = ledger
        .get(&p1, "copy-001")
        .await
        .expect("get")
        .expect("row");
    let queried = page
        .entities
        .iter()
        .find(|e| e.row_key == "copy-001")
        .expect("row");
    assert_eq!(
        queried, &direct,
        "query and get must return the same entity"
    );

    let q = Query::partition(&p1).row_prefix("copy-");
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("prefix query")),
        keys(&p1, &["copy-001", "copy-002", "copy-010"]),
        "row prefix"
    );
    let q = Query {
        row_key_from: Some("copy-002".into()),
        row_key_to: Some("reading".into()),
        ..Query::partition(&p1)
    };
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("range query")),
        keys(&p1, &["copy-002", "copy-010"]),
        "row key range is [from, to)"
    );

    // Typed equality: Int64 2 matches neither the string "2" nor other numbers.
    let check = |name: &'static str, v: Value, want: Vec<(String, String)>| {
        let q = Query::default()
            .where_eq("Run", Value::String(run.to_string()))
            .where_eq(name, v.clone());
        async move {
            let got = rows(
                query_all(ledger, &q)
                    .await
                    .unwrap_or_else(|e| panic!("query {name} eq {v:?}: {e}")),
            );
            assert_eq!(got, want, "query {name} eq {v:?}");
        }
    };
    check("N", Value::Int64(2), keys(&p1, &["copy-001", "copy-010"])).await;
    check("N", Value::String("2".into()), keys(&p2, &["chain"])).await;
    check("Ratio", Value::Double(1.5), keys(&p1, &["copy-002"])).await;
    check(
        "At",
        Value::DateTime(at),
        keys(&p1, &["copy-001", "copy-010"]),
    )
    .await;
    check("Missing", Value::Bool(true), vec![]).await;
    check("Run", Value::String(format!("{run}'x")), vec![]).await;

    // Cross-partition: the poller's question (active chains), in key order.
    let q = Query::default()
        .row_prefix("chain")
        .where_eq("Active", Value::Bool(true))
        .where_eq("Run", Value::String(run.to_string()));
    let mut all = Vec::new();
    all.extend(keys(&p1, &["chain"]));
    all.extend(keys(&p2, &["chain"]));
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("cross-partition query")),
        all
    );

    // A partition range, as a resumed sweep asks: [p2, ∞) then [start, p2).
    let q = Query::default()
        .row_prefix("chain")
        .where_eq("Run", Value::String(run.to_string()))
        .partitions(Some(&p2), None);
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("partition range from")),
        keys(&p2, &["chain"]),
        "partition key range starts at `from`, inclusive"
    );
    let q = Query::default()
        .row_prefix("chain")
        .where_eq("Run", Value::String(run.to_string()))
        .partitions(Some(run), Some(&p2));
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("partition range to")),
        keys(&p1, &["chain"]),
        "partition key range ends before `to`"
    );
    let q = Query {
        top: Some(1),
        ..Query::default()
            .where_eq("Run", Value::String(run.to_string()))
            .partitions(Some(&p1), Some(&p2))
    };
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("partition range paged")).len(),
        5,
        "a partition range pages like any query"
    );

    // $top smaller than the result: pages of that size with continuations.
    let q = Query {
        top: Some(2),
        ..Query::partition(&p1)
    };
    let first = ledger.query(&q, None).await.expect("first page");
    assert_eq!(rows(first.entities), keys(&p1, &["chain", "copy-001"]));
    let next: Continuation = first
        .continuation
        .expect("a continuation after a full page");
    let second = ledger.query(&q, Some(&next)).await.expect("second page");
    assert_eq!(rows(second.entities), keys(&p1, &["copy-002", "copy-010"]));
    assert_eq!(
        rows(query_all(ledger, &q).await.expect("query_all by twos")).len(),
        5
    );
    expect_err(
        "query on an invalid property name",
        ledger
            .query(&Query::default().where_eq("a b", Value::Bool(true)), None)
            .await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
}
