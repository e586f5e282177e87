//! Single-row writes and reads: insert, get, replace and delete with ETags, every value
//! type round-tripped.

use ferry::ledger::{Entity, Ledger, LedgerError, Op, Value};

use super::{every_type, expect_err, single};

pub(super) async fn crud(ledger: &dyn Ledger, pk: &str) {
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
