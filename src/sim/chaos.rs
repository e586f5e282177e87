//! Fault injection on ferry's own side, for the soak (`ferry demo --faults heavy`): handler
//! crashes at the product's fail points (`crate::failpoint`: where a crash hurts most,
//! between a ledger write and the ARM call it records, and back), and ledger write
//! conflicts as a concurrent instance would cause them. Seeded, so a soak is reproducible.
//! Never configured by `serve`; not in the deployable build.

use crate::ledger::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Chaos {
    rng: Mutex<ChaCha8Rng>,
    crash_rate: f64,
    conflict_rate: f64,
    crashes: AtomicU64,
    conflicts: AtomicU64,
}

impl Chaos {
    pub fn new(seed: u64, crash_rate: f64, conflict_rate: f64) -> Self {
        Chaos {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xc4a0_5eed)),
            crash_rate,
            conflict_rate,
            crashes: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random_bool(p.min(1.0))
    }

    pub fn crashes(&self) -> u64 {
        self.crashes.load(Ordering::Relaxed)
    }

    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }
}

/// Each fail point kills the invocation (as if the process had been killed there) with the
/// soak's crash rate, drawn from the seeded generator.
impl crate::failpoint::Hook for Chaos {
    fn fire(&self, _name: &'static str) -> bool {
        if self.roll(self.crash_rate) {
            self.crashes.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// A ledger where, now and then, another writer gets to a row first: before a batch that
/// replaces a row, the row is rewritten unchanged (new ETag), so the batch loses the race
/// for real and the caller must re-read and decide again.
pub struct ConflictingLedger {
    inner: Arc<dyn Ledger>,
    chaos: Arc<Chaos>,
}

impl ConflictingLedger {
    pub fn new(inner: Arc<dyn Ledger>, chaos: Arc<Chaos>) -> Self {
        ConflictingLedger { inner, chaos }
    }
}

#[async_trait::async_trait]
impl Ledger for ConflictingLedger {
    async fn ensure(&self) -> Result<(), LedgerError> {
        self.inner.ensure().await
    }

    async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, LedgerError> {
        self.inner.get(pk, rk).await
    }

    async fn query(&self, q: &Query, c: Option<&Continuation>) -> Result<Page, LedgerError> {
        self.inner.query(q, c).await
    }

    async fn batch(&self, pk: &str, ops: Vec<Op>) -> Result<Vec<Option<ETag>>, LedgerError> {
        let victim = ops.iter().find_map(|op| match op {
            Op::Replace(e, _) => Some(e.row_key.clone()),
            _ => None,
        });
        if let Some(rk) = victim {
            if self.chaos.roll(self.chaos.conflict_rate) {
                if let Some(current) = self.inner.get(pk, &rk).await? {
                    if let Some(etag) = current.etag.clone() {
                        self.inner
                            .batch(pk, vec![Op::Replace(current, etag)])
                            .await?;
                        self.chaos.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        self.inner.batch(pk, ops).await
    }

    fn describe(&self) -> String {
        format!("{} (with injected conflicts)", self.inner.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::memory::MemoryLedger;
    use crate::ledger::Value;

    #[tokio::test]
    async fn conflicts_are_real_etag_races() {
        let chaos = Arc::new(Chaos::new(1, 0.0, 1.0));
        let ledger = ConflictingLedger::new(Arc::new(MemoryLedger::new()), chaos.clone());
        let etag = ledger
            .batch(
                "p",
                vec![Op::Insert(Entity::new("p", "r").with("N", Value::Int64(1)))],
            )
            .await
            .unwrap()[0]
            .clone()
            .unwrap();
        let e = ledger.get("p", "r").await.unwrap().unwrap();
        let err = ledger
            .batch("p", vec![Op::Replace(e.with("N", Value::Int64(2)), etag)])
            .await
            .unwrap_err();
        assert!(err.is_race());
        assert_eq!(chaos.conflicts(), 1);
        // The row itself is unchanged by the injected writer.
        assert_eq!(
            ledger.get("p", "r").await.unwrap().unwrap().i64("N"),
            Some(1)
        );
    }

    #[test]
    fn fail_points_follow_the_rate_and_seed() {
        use crate::failpoint::Hook;
        let a = Chaos::new(7, 0.5, 0.0);
        let b = Chaos::new(7, 0.5, 0.0);
        let ra: Vec<bool> = (0..64).map(|_| a.fire("x")).collect();
        let rb: Vec<bool> = (0..64).map(|_| b.fire("x")).collect();
        assert_eq!(ra, rb);
        assert!(a.crashes() > 10 && a.crashes() < 54);
        assert!(!Chaos::new(1, 0.0, 0.0).fire("x"));
    }
}
