//! One behavioural test suite for every [`Ledger`] implementation (test support: included
//! by `tests/ledger_table.rs` for the memory ledger and Table Storage on Azurite).
//!
//! Every check works in partitions named with a prefix unique to the run, so the suite
//! also runs on a table that already holds data (a shared Azurite or a real account).
//! DateTime values are compared at microsecond precision: Table Storage keeps 100 ns
//! ticks, so anything finer is truncated by that implementation.
//!
//! One module per area: [`crud`], [`invalid`], [`batches`], [`queries`], [`paging`]; the
//! shared helpers are here.

mod batches;
mod crud;
mod invalid;
mod paging;
mod queries;

use batches::batches;
use crud::crud;
use invalid::invalid;
use paging::paging;
use queries::queries;

use ferry::ledger::{ETag, Entity, Ledger, LedgerError, Op, Value};
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
