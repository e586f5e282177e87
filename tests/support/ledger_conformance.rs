//! One behavioural test suite for every [`Ledger`] implementation (test support: included
//! by `tests/ledger_table.rs` for the memory ledger and Table Storage on Azurite).
//!
//! Every check works in partitions named with a prefix unique to the run, so the suite
//! also runs on a table that already holds data (a shared Azurite or a real account).
//! DateTime values are compared at microsecond precision: Table Storage keeps 100 ns
//! ticks, so anything finer is truncated by that implementation.

use ferry::ledger::memory::{MAX_BATCH, MAX_PAGE};
use ferry::ledger::{query_all, Continuation, ETag, Entity, Ledger, LedgerError, Op, Query, Value};
use time::macros::datetime;

/// Runs every conformance check against `ledger`. Panics with a message naming the
/// failed check.
pub async fn run(ledger: &dyn Ledger) {
    ledger.ensure().await.expect("ensure() failed");
    ledger.ensure().await.expect("ensure() is not idempotent");
    let run = format!("c{}", uuid::Uuid::new_v4().simple());
    let name = ledger.describe();
    crud(ledger, &format!("{run}-crud")).await;
    invalid(ledger, &format!("{run}-bad")).await;
    batches(ledger, &format!("{run}-batch")).await;
    queries(ledger, &run).await;
    paging(ledger, &format!("{run}-page")).await;
    tracing::info!(ledger = %name, "ledger conformance passed");
}

fn expect_err<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, LedgerError>,
    pred: fn(&LedgerError) -> bool,
    want: &str,
) {
    match r {
        Err(e) if pred(&e) => {}
        Err(e) => panic!("{what}: expected {want}, got error {e:?}"),
        Ok(v) => panic!("{what}: expected {want}, got Ok({v:?})"),
    }
}

fn every_type(pk: &str, rk: &str) -> Entity {
    Entity::new(pk, rk)
        .with(
            "Name",
            Value::String("o'hara & \"friends\" — ünïcode ✓".into()),
        )
        .with("Empty", Value::String(String::new()))
        .with("Big", Value::Int64(i64::MAX))
        .with("Negative", Value::Int64(-9_007_199_254_740_993))
        .with("Ratio", Value::Double(0.1 + 0.2))
        .with("Whole", Value::Double(3.0))
        .with("Flag", Value::Bool(true))
        .with("Off", Value::Bool(false))
        .with(
            "At",
            Value::DateTime(datetime!(2026-07-08 09:10:11.123456 UTC)),
        )
        .with(
            // Given with an offset: stored and returned as the same instant.
            "Local",
            Value::DateTime(datetime!(2026-07-08 11:10:11.654321 +02:00)),
        )
}

async fn single(ledger: &dyn Ledger, op: Op) -> Result<Option<ETag>, LedgerError> {
    let pk = match &op {
        Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) => e.partition_key.clone(),
        Op::Delete { .. } => panic!("use batch() for deletes"),
    };
    let mut etags = ledger.batch(&pk, vec![op]).await?;
    assert_eq!(
        etags.len(),
        1,
        "batch of one returned {} etags",
        etags.len()
    );
    Ok(etags.remove(0))
}

async fn crud(ledger: &dyn Ledger, pk: &str) {
    assert_eq!(
        ledger
            .get(pk, "missing")
            .await
            .expect("get of a missing row"),
        None,
        "get of a missing row must be None"
    );
    let e = every_type(pk, "a");
    let etag = single(ledger, Op::Insert(e.clone()))
        .await
        .expect("insert")
        .expect("insert must return an ETag");
    let got = ledger
        .get(pk, "a")
        .await
        .expect("get after insert")
        .expect("inserted row must be found");
    assert_eq!(got.partition_key, pk);
    assert_eq!(got.row_key, "a");
    for (k, v) in &e.properties {
        assert_eq!(
            got.properties.get(k),
            Some(v),
            "property {k} did not round-trip"
        );
    }
    assert_eq!(
        got.properties.len(),
        e.properties.len(),
        "get returned extra properties: {:?}",
        got.properties.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        got.etag.as_ref(),
        Some(&etag),
        "get must return the insert's ETag"
    );

    expect_err(
        "insert of an existing row",
        single(ledger, Op::Insert(e.clone())).await,
        |e| matches!(e, LedgerError::Conflict(_)),
        "Conflict",
    );

    // Replace with the current ETag: new ETag, properties replaced (not merged).
    let replaced = Entity::new(pk, "a").with("Only", Value::Int64(1));
    let etag2 = single(ledger, Op::Replace(replaced.clone(), etag.clone()))
        .await
        .expect("replace with the current ETag")
        .expect("replace must return an ETag");
    assert_ne!(etag2, etag, "replace must change the ETag");
    let got = ledger.get(pk, "a").await.expect("get").expect("row");
    assert_eq!(
        got.properties, replaced.properties,
        "replace must replace all properties"
    );
    assert_eq!(got.etag.as_ref(), Some(&etag2));

    expect_err(
        "replace with a stale ETag",
        single(ledger, Op::Replace(replaced.clone(), etag.clone())).await,
        |e| matches!(e, LedgerError::PreconditionFailed(_)),
        "PreconditionFailed",
    );
    expect_err(
        "delete with a stale ETag",
        ledger
            .batch(
                pk,
                vec![Op::Delete {
                    row_key: "a".into(),
                    etag: etag.clone(),
                }],
            )
            .await,
        |e| matches!(e, LedgerError::PreconditionFailed(_)),
        "PreconditionFailed",
    );
    expect_err(
        "replace of a missing row",
        single(ledger, Op::Replace(Entity::new(pk, "nope"), etag2.clone())).await,
        |e| matches!(e, LedgerError::NotFound(_)),
        "NotFound",
    );

    // Upsert inserts, then replaces unconditionally.
    let u1 = single(
        ledger,
        Op::Upsert(Entity::new(pk, "u").with("N", Value::Int64(1))),
    )
    .await
    .expect("upsert of a new row")
    .expect("upsert must return an ETag");
    let u2 = single(
        ledger,
        Op::Upsert(Entity::new(pk, "u").with("M", Value::Bool(true))),
    )
    .await
    .expect("upsert of an existing row")
    .expect("upsert must return an ETag");
    assert_ne!(u1, u2, "upsert must change the ETag");
    let got = ledger
        .get(pk, "u")
        .await
        .expect("get")
        .expect("upserted row");
    assert_eq!(got.properties.len(), 1, "upsert must replace, not merge");
    assert_eq!(got.bool("M"), Some(true));

    // Delete with the right ETag.
    let deleted = ledger
        .batch(
            pk,
            vec![Op::Delete {
                row_key: "a".into(),
                etag: etag2,
            }],
        )
        .await
        .expect("delete with the current ETag");
    assert_eq!(deleted, vec![None], "delete returns no ETag");
    assert_eq!(ledger.get(pk, "a").await.expect("get after delete"), None);
    expect_err(
        "delete of a missing row",
        ledger
            .batch(
                pk,
                vec![Op::Delete {
                    row_key: "a".into(),
                    etag: u2,
                }],
            )
            .await,
        |e| matches!(e, LedgerError::NotFound(_)),
        "NotFound",
    );
}

async fn invalid(ledger: &dyn Ledger, pk: &str) {
    for bad in ["a/b", "a\\b", "a#b", "a?b", "a\u{1}b", "a\nb"] {
        expect_err(
            &format!("insert with row key {bad:?}"),
            single(ledger, Op::Insert(Entity::new(pk, bad))).await,
            |e| matches!(e, LedgerError::Invalid(_)),
            "Invalid",
        );
        expect_err(
            &format!("insert with partition key {bad:?}"),
            ledger
                .batch(bad, vec![Op::Insert(Entity::new(bad, "r"))])
                .await,
            |e| matches!(e, LedgerError::Invalid(_)),
            "Invalid",
        );
        expect_err(
            &format!("get with row key {bad:?}"),
            ledger.get(pk, bad).await,
            |e| matches!(e, LedgerError::Invalid(_)),
            "Invalid",
        );
    }
    expect_err(
        "insert into another partition than the batch's",
        ledger
            .batch(pk, vec![Op::Insert(Entity::new("elsewhere", "r"))])
            .await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
    expect_err(
        "the same row twice in a batch",
        ledger
            .batch(
                pk,
                vec![
                    Op::Insert(Entity::new(pk, "r")),
                    Op::Upsert(Entity::new(pk, "r")),
                ],
            )
            .await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
    let long = "x".repeat(32 * 1024 + 1); // 64 KiB + 2 bytes of UTF-16
    expect_err(
        "string property over 64 KiB",
        single(
            ledger,
            Op::Insert(Entity::new(pk, "r").with("S", Value::String(long))),
        )
        .await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
    let mut huge = Entity::new(pk, "r");
    for i in 0..20 {
        huge = huge.with(&format!("S{i}"), Value::String("y".repeat(30_000)));
    }
    expect_err(
        "entity over 1 MiB",
        single(ledger, Op::Insert(huge)).await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
    for name in ["9lives", "has space", "PartitionKey", "Timestamp", ""] {
        expect_err(
            &format!("property name {name:?}"),
            single(
                ledger,
                Op::Insert(Entity::new(pk, "r").with(name, Value::Bool(true))),
            )
            .await,
            |e| matches!(e, LedgerError::Invalid(_)),
            "Invalid",
        );
    }
    assert_eq!(
        ledger.get(pk, "r").await.expect("get"),
        None,
        "rejected writes must not store anything"
    );
}

async fn batches(ledger: &dyn Ledger, pk: &str) {
    let seed_etag = single(
        ledger,
        Op::Insert(Entity::new(pk, "r3").with("V", Value::Int64(0))),
    )
    .await
    .expect("seed insert")
    .expect("etag");
    // Third op conflicts: nothing of the batch may stick.
    let ops = vec![
        Op::Insert(Entity::new(pk, "r1")),
        Op::Upsert(Entity::new(pk, "r2")),
        Op::Insert(Entity::new(pk, "r3")),
        Op::Insert(Entity::new(pk, "r4")),
    ];
    expect_err(
        "batch whose third op conflicts",
        ledger.batch(pk, ops).await,
        |e| matches!(e, LedgerError::Conflict(_)),
        "Conflict",
    );
    for rk in ["r1", "r2", "r4"] {
        assert_eq!(
            ledger.get(pk, rk).await.expect("get"),
            None,
            "failed batch left row {rk} behind"
        );
    }
    let seed = ledger.get(pk, "r3").await.expect("get").expect("seed row");
    assert_eq!(
        seed.etag.as_ref(),
        Some(&seed_etag),
        "failed batch changed row r3"
    );

    // A stale ETag in a batch fails it as PreconditionFailed.
    expect_err(
        "batch with a stale ETag",
        ledger
            .batch(
                pk,
                vec![
                    Op::Insert(Entity::new(pk, "r1")),
                    Op::Replace(
                        Entity::new(pk, "r3"),
                        ETag("W/\"datetime'2000-01-01T00%3A00%3A00.0000000Z'\"".into()),
                    ),
                ],
            )
            .await,
        |e| matches!(e, LedgerError::PreconditionFailed(_)),
        "PreconditionFailed",
    );
    assert_eq!(ledger.get(pk, "r1").await.expect("get"), None);

    // Mixed batch: every kind of op, ETags in order.
    let etags = ledger
        .batch(
            pk,
            vec![
                Op::Insert(Entity::new(pk, "r1").with("V", Value::Int64(1))),
                Op::Upsert(Entity::new(pk, "r2").with("V", Value::Int64(2))),
                Op::Replace(Entity::new(pk, "r3").with("V", Value::Int64(3)), seed_etag),
            ],
        )
        .await
        .expect("mixed batch");
    assert_eq!(etags.len(), 3);
    for (i, rk) in ["r1", "r2", "r3"].iter().enumerate() {
        let row = ledger.get(pk, rk).await.expect("get").expect("batched row");
        assert_eq!(row.i64("V"), Some(i as i64 + 1), "row {rk}");
        assert_eq!(
            row.etag, etags[i],
            "batch ETag of {rk} must be the row's ETag"
        );
    }
    let etags = ledger
        .batch(
            pk,
            vec![
                Op::Delete {
                    row_key: "r1".into(),
                    etag: etags[0].clone().expect("etag"),
                },
                Op::Delete {
                    row_key: "r2".into(),
                    etag: etags[1].clone().expect("etag"),
                },
            ],
        )
        .await
        .expect("batch of deletes");
    assert_eq!(etags, vec![None, None]);

    // 100 operations is the limit; 101 is refused before anything is written.
    let full: Vec<Op> = (0..MAX_BATCH)
        .map(|i| {
            Op::Insert(Entity::new(pk, format!("full-{i:03}")).with("I", Value::Int64(i as i64)))
        })
        .collect();
    let etags = ledger.batch(pk, full).await.expect("batch of 100");
    assert_eq!(etags.len(), MAX_BATCH);
    assert!(etags.iter().all(Option::is_some));
    let over: Vec<Op> = (0..=MAX_BATCH)
        .map(|i| Op::Insert(Entity::new(pk, format!("over-{i:03}"))))
        .collect();
    expect_err(
        "batch of 101",
        ledger.batch(pk, over).await,
        |e| matches!(e, LedgerError::Invalid(_)),
        "Invalid",
    );
    assert_eq!(ledger.get(pk, "over-000").await.expect("get"), None);
    assert_eq!(
        ledger.batch(pk, Vec::new()).await.expect("empty batch"),
        Vec::<Option<ETag>>::new()
    );
}

async fn queries(ledger: &dyn Ledger, run: &str) {
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

async fn paging(ledger: &dyn Ledger, pk: &str) {
    const ROWS: usize = 1234;
    let all: Vec<String> = (0..ROWS).map(|i| format!("row-{i:05}")).collect();
    for chunk in all.chunks(MAX_BATCH) {
        let ops = chunk
            .iter()
            .map(|rk| Op::Insert(Entity::new(pk, rk.clone()).with("Bulk", Value::Bool(true))))
            .collect();
        ledger.batch(pk, ops).await.expect("bulk insert");
    }
    let q = Query::partition(pk);
    let first = ledger.query(&q, None).await.expect("first page");
    assert_eq!(
        first.entities.len(),
        MAX_PAGE,
        "a page holds at most 1,000 rows"
    );
    assert!(
        first.continuation.is_some(),
        "a full first page has a continuation"
    );
    let got: Vec<String> = query_all(ledger, &q)
        .await
        .expect("query_all")
        .into_iter()
        .map(|e| e.row_key)
        .collect();
    assert_eq!(got.len(), ROWS, "query_all must return every row");
    assert_eq!(got, all, "query_all must return rows in key order");
    // Cross-partition with a property filter pages the same way.
    let q = Query::default()
        .row_prefix("row-0")
        .where_eq("Bulk", Value::Bool(true));
    let got = query_all(ledger, &q)
        .await
        .expect("cross-partition query_all");
    assert!(
        got.iter().filter(|e| e.partition_key == pk).count() == ROWS,
        "cross-partition paging lost rows"
    );
}
