//! Copies by outcome, counted where they are decided for good: at the ledger.
//!
//! Every change of a copy's state is an ETag-conditional write of its row, and every such
//! write follows a read of that row (or an earlier write that returned its ETag). This
//! decorator remembers, per copy row, the state of the version it last saw; when a batch
//! commits, a row written with another state than its previous version had is one
//! transition, counted once. A write that loses its race commits nothing and counts
//! nothing; a retried invocation re-reads the new state and sees no transition. The
//! transition rules themselves are [`transition_outcome`], pure.
//!
//! It also learns each chain's dimensions from the chain rows going by, so a copy's metric
//! carries its chain's source collection and target region.

use super::{ChainDims, Telemetry};
use crate::ledger::records::{CopyState, CHAIN_ROW, COPY_PREFIX};
use crate::ledger::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Copy rows remembered at most; past this the memory starts over (a transition of a row
/// read before that is then not counted: a bounded undercount, never a double count).
const MAX_ROWS: usize = 200_000;

/// The `outcome` a change of a copy's state counts as, if any.
pub fn transition_outcome(before: Option<CopyState>, after: CopyState) -> Option<&'static str> {
    if before == Some(after) {
        return None;
    }
    Some(match after {
        CopyState::Starting => "started",
        CopyState::Succeeded => "succeeded",
        CopyState::Failed => "failed",
        CopyState::Restarting => "restarted",
        CopyState::Superseded => "superseded",
        CopyState::Expired => "expired",
        CopyState::Rejected => "rejected",
        // Recorded, adopted, or waiting again after a restart: not an outcome.
        CopyState::Pending | CopyState::InFlight => return None,
    })
}

#[derive(Default)]
struct Seen {
    /// (partition, row) → (ETag, state) of the copy row's last version seen.
    copies: HashMap<(String, String), (Option<ETag>, CopyState)>,
    chains: HashMap<String, ChainDims>,
}

pub struct MeteredLedger {
    inner: Arc<dyn Ledger>,
    telemetry: Telemetry,
    seen: Mutex<Seen>,
}

impl MeteredLedger {
    pub fn new(inner: Arc<dyn Ledger>, telemetry: Telemetry) -> Self {
        MeteredLedger {
            inner,
            telemetry,
            seen: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observe(&self, e: &Entity) {
        let mut seen = self.lock();
        observe_into(&mut seen, e, e.etag.clone());
    }
}

fn copy_state(e: &Entity) -> Option<CopyState> {
    if !e.row_key.starts_with(COPY_PREFIX) {
        return None;
    }
    e.str("State").and_then(CopyState::parse)
}

fn chain_dims(e: &Entity) -> Option<ChainDims> {
    (e.row_key == CHAIN_ROW).then_some(())?;
    Some(ChainDims {
        source_collection: e.str("SourceCollection")?.to_string(),
        target_region: e.str("TargetRegion")?.to_string(),
    })
}

fn observe_into(seen: &mut Seen, e: &Entity, etag: Option<ETag>) {
    if let Some(state) = copy_state(e) {
        if seen.copies.len() >= MAX_ROWS {
            seen.copies.clear();
        }
        seen.copies
            .insert((e.partition_key.clone(), e.row_key.clone()), (etag, state));
    } else if let Some(d) = chain_dims(e) {
        seen.chains.insert(e.partition_key.clone(), d);
    }
}

/// A copy row's dimensions when its chain row was never seen: the collection from the
/// source restore point's id; the region unknown.
fn fallback_dims(e: &Entity) -> ChainDims {
    let rp = e.str("SourceRestorePoint").unwrap_or_default();
    let collection = rp
        .to_ascii_lowercase()
        .find("/restorepoints/")
        .map(|i| rp[..i].to_string())
        .unwrap_or_default();
    ChainDims {
        source_collection: collection,
        target_region: "unknown".into(),
    }
}

#[async_trait::async_trait]
impl Ledger for MeteredLedger {
    async fn ensure(&self) -> Result<(), LedgerError> {
        self.inner.ensure().await
    }

    async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, LedgerError> {
        let r = self.inner.get(pk, rk).await?;
        if let Some(e) = &r {
            self.observe(e);
        }
        Ok(r)
    }

    async fn query(&self, q: &Query, c: Option<&Continuation>) -> Result<Page, LedgerError> {
        let page = self.inner.query(q, c).await?;
        for e in &page.entities {
            self.observe(e);
        }
        Ok(page)
    }

    async fn batch(&self, pk: &str, ops: Vec<Op>) -> Result<Vec<Option<ETag>>, LedgerError> {
        // What each op replaces, as known before the batch.
        let written: Vec<Option<(Entity, Option<CopyState>)>> = {
            let seen = self.lock();
            ops.iter()
                .map(|op| {
                    let (e, expected) = match op {
                        Op::Insert(e) => (e, None),
                        Op::Replace(e, etag) => (e, Some(Some(etag))),
                        Op::Upsert(e) => (e, Some(None)),
                        Op::Delete { .. } => return None,
                    };
                    copy_state(e)?;
                    let prior = seen
                        .copies
                        .get(&(e.partition_key.clone(), e.row_key.clone()));
                    let before = match (expected, prior) {
                        (None, _) => None, // a new row
                        // The version this write replaces is the one last seen.
                        (Some(Some(etag)), Some((Some(seen_etag), s))) if seen_etag == etag => {
                            Some(*s)
                        }
                        (Some(None), Some((_, s))) => Some(*s),
                        // Replaced a version never seen: its transition is unknown.
                        _ => return None,
                    };
                    Some((e.clone(), before))
                })
                .collect()
        };
        let etags = self.inner.batch(pk, ops.clone()).await?;
        let mut seen = self.lock();
        for (i, op) in ops.iter().enumerate() {
            if let Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) = op {
                observe_into(&mut seen, e, etags.get(i).cloned().flatten());
            }
        }
        for (e, before) in written.into_iter().flatten() {
            let Some(after) = copy_state(&e) else {
                continue;
            };
            let Some(outcome) = transition_outcome(before, after) else {
                continue;
            };
            let dims = seen
                .chains
                .get(&e.partition_key)
                .cloned()
                .unwrap_or_else(|| fallback_dims(&e));
            self.telemetry.copy_outcome(&dims, outcome);
            if after == CopyState::Succeeded {
                if let (Some(s), Some(t)) = (e.time("StartedAt"), e.time("EndedAt")) {
                    self.telemetry.copy_duration(&dims, t - s);
                }
            }
        }
        Ok(etags)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_change_counts_once_as_its_outcome() {
        use CopyState::*;
        for s in CopyState::ALL {
            assert_eq!(transition_outcome(Some(s), s), None, "{s:?} unchanged");
        }
        assert_eq!(transition_outcome(Some(Pending), Starting), Some("started"));
        assert_eq!(
            transition_outcome(Some(InFlight), Succeeded),
            Some("succeeded")
        );
        assert_eq!(
            transition_outcome(Some(InFlight), Restarting),
            Some("restarted")
        );
        assert_eq!(transition_outcome(Some(Restarting), Pending), None);
        assert_eq!(transition_outcome(None, Pending), None);
        assert_eq!(transition_outcome(None, Rejected), Some("rejected"));
        assert_eq!(
            transition_outcome(Some(Pending), Superseded),
            Some("superseded")
        );
        assert_eq!(transition_outcome(Some(InFlight), Expired), Some("expired"));
        assert_eq!(transition_outcome(Some(InFlight), Failed), Some("failed"));
        assert_eq!(transition_outcome(Some(Starting), InFlight), None);
        // Every outcome a transition can name is a declared value of the dimension.
        for a in CopyState::ALL {
            for b in CopyState::ALL {
                if let Some(o) = transition_outcome(Some(a), b) {
                    assert!(super::super::names::OUTCOMES.contains(&o));
                }
            }
        }
    }
}
