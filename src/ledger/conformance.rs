//! One behavioural test suite for every [`Ledger`](super::Ledger) implementation.

use super::Ledger;

/// Runs every conformance check against `ledger` (which must be empty). Panics on failure.
pub async fn run(ledger: &dyn Ledger) {
    ledger.ensure().await.expect("ensure");
}
