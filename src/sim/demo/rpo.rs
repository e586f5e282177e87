//! RPO over time: every chain's recovery point objective sampled at every poller tick from
//! the emulator's own ground truth (what it published as copied), not from ferry's ledger,
//! and summed up for the report.

use serde::Serialize;
use time::OffsetDateTime;

use crate::sim::emulator::{ChainRef, ChainTruth, Emulator};

/// The samples of one chain: its RPO at each tick (whole seconds) and its largest backlog.
#[derive(Debug, Default, Clone)]
pub(super) struct ChainSamples {
    /// The source collection's name and the target region, as the ledger names the chain.
    pub(super) collection: String,
    pub(super) region: String,
    pub(super) rpo_secs: Vec<u32>,
    pub(super) backlog_max: usize,
}

/// Every chain the demo's policy makes (its VMs' collections × the target regions).
pub(super) struct RpoSampler {
    refs: Vec<ChainRef>,
    pub(super) chains: Vec<ChainSamples>,
}

impl RpoSampler {
    /// `chains`: (source collection id, its name, target region).
    pub(super) fn new(chains: impl IntoIterator<Item = (String, String, String)>) -> Self {
        let mut refs = Vec::new();
        let mut samples = Vec::new();
        for (id, name, region) in chains {
            if let Some(r) = ChainRef::new(&id, &region) {
                refs.push(r);
                samples.push(ChainSamples {
                    collection: name,
                    region,
                    ..ChainSamples::default()
                });
            }
        }
        RpoSampler {
            refs,
            chains: samples,
        }
    }

    /// One sample of every chain at `now` (the emulator's clock).
    pub(super) fn sample(&mut self, emu: &Emulator, now: OffsetDateTime) {
        let truths = emu.rpo_snapshot(&self.refs);
        for (c, t) in self.chains.iter_mut().zip(truths) {
            record(c, &t, now);
        }
    }

    /// The samples of the chain (collection name, region), case-insensitively.
    pub(super) fn chain(&self, collection: &str, region: &str) -> Option<&ChainSamples> {
        self.chains.iter().find(|c| {
            c.collection.eq_ignore_ascii_case(collection) && c.region.eq_ignore_ascii_case(region)
        })
    }
}

fn record(c: &mut ChainSamples, t: &ChainTruth, now: OffsetDateTime) {
    // No sample while the source has no restore point yet: there is nothing to protect.
    if let Some(rpo) = t.rpo(now) {
        c.rpo_secs
            .push(u32::try_from(rpo.whole_seconds().max(0)).unwrap_or(u32::MAX));
    }
    c.backlog_max = c.backlog_max.max(t.backlog);
}

/// The sample of nearest rank for percentile `p` (0–100) of `sorted` (ascending): the
/// smallest value with at least p % of the samples at or below it. None when empty.
pub(super) fn nearest_rank(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// RPO over every chain-tick of the protectable chains (`--json`'s `rpo`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RpoSummary {
    /// Chain-ticks sampled (chains × poller ticks, from each chain's first restore point).
    pub chain_ticks: usize,
    pub p50_hours: Option<f64>,
    pub p95_hours: Option<f64>,
    pub max_hours: Option<f64>,
    /// Share of chain-ticks whose RPO was over the policy's objective, in percent.
    pub over_objective_pct: Option<f64>,
}

pub(super) fn hours(secs: u32) -> f64 {
    (f64::from(secs) / 3600.0 * 100.0).round() / 100.0
}

/// Sums up samples (any order; sorted here) against `objective_secs`.
pub(super) fn summarize(mut secs: Vec<u32>, objective_secs: u32) -> RpoSummary {
    secs.sort_unstable();
    let over = secs.len() - secs.partition_point(|s| *s <= objective_secs);
    RpoSummary {
        chain_ticks: secs.len(),
        p50_hours: nearest_rank(&secs, 50.0).map(hours),
        p95_hours: nearest_rank(&secs, 95.0).map(hours),
        max_hours: secs.last().copied().map(hours),
        over_objective_pct: (!secs.is_empty())
            .then(|| (over as f64 * 100.0 / secs.len() as f64 * 100.0).round() / 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&[7], 0.0), Some(7));
        assert_eq!(nearest_rank(&[7], 100.0), Some(7));
        let v: Vec<u32> = (1..=20).collect();
        assert_eq!(nearest_rank(&v, 50.0), Some(10));
        assert_eq!(nearest_rank(&v, 95.0), Some(19));
        assert_eq!(nearest_rank(&v, 100.0), Some(20));
        assert_eq!(nearest_rank(&v, 0.0), Some(1));
        // Rank ⌈0.95 × 10⌉ = 10: the largest of ten.
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 95.0), Some(10));
        assert_eq!(nearest_rank(&ten, 50.0), Some(5));
    }

    #[test]
    fn summary_over_chain_ticks() {
        assert_eq!(summarize(Vec::new(), 3600).p50_hours, None);
        assert_eq!(summarize(Vec::new(), 3600).over_objective_pct, None);
        // Unsorted hours 1..=4; objective 2 h: exactly 2 h is not over.
        let s = summarize(vec![4 * 3600, 3600, 3 * 3600, 2 * 3600], 2 * 3600);
        assert_eq!(s.chain_ticks, 4);
        assert_eq!(s.p50_hours, Some(2.0));
        assert_eq!(s.p95_hours, Some(4.0));
        assert_eq!(s.max_hours, Some(4.0));
        assert_eq!(s.over_objective_pct, Some(50.0));
        assert_eq!(hours(5400), 1.5);
    }

    #[test]
    fn a_chain_is_sampled_from_its_first_restore_point() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let mut c = ChainSamples::default();
        record(&mut c, &ChainTruth::default(), t0);
        assert!(c.rpo_secs.is_empty());
        // Nothing copied yet: the age of the oldest restore point.
        let waiting = ChainTruth {
            newest_copied: None,
            oldest: Some(t0 - Duration::hours(3)),
            backlog: 2,
        };
        record(&mut c, &waiting, t0);
        // Then the age of the newest restore point copied.
        let copied = ChainTruth {
            newest_copied: Some(t0 - Duration::hours(1)),
            backlog: 1,
            ..waiting
        };
        record(&mut c, &copied, t0 + Duration::minutes(10));
        assert_eq!(c.rpo_secs, [3 * 3600, 4200]);
        assert_eq!(c.backlog_max, 2);
    }
}
