//! Paging past a full page (1,000 rows): continuations that return every row once, in key
//! order, in one partition and across partitions with a filter.

use ferry::ledger::memory::{MAX_BATCH, MAX_PAGE};
use ferry::ledger::{query_all, Entity, Ledger, Op, Query, Value};

pub(super) async fn paging(ledger: &dyn Ledger, pk: &str) {
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
