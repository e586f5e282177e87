//! Requests Table Storage refuses (bad keys, a batch spanning partitions or naming a row
//! twice, oversized strings and entities, bad property names), refused as `Invalid` by every
//! implementation.

use ferry::ledger::{Entity, Ledger, LedgerError, Op, Value};

use super::{expect_err, single};

pub(super) async fn invalid(ledger: &dyn Ledger, pk: &str) {
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
