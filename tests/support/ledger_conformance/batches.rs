//! Entity group transactions: all or nothing on a conflict or a stale ETag, every kind of op
//! with its ETag in order, and the 100-operation limit.

use ferry::ledger::memory::MAX_BATCH;
use ferry::ledger::{ETag, Entity, Ledger, LedgerError, Op, Value};

use super::{expect_err, single};

pub(super) async fn batches(ledger: &dyn Ledger, pk: &str) {
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
