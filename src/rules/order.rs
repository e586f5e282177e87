//! Order and pace within a chain: strictly the oldest pending copy, one at a time, at most
//! three copy PUTs per hour per target collection, and the back-off of a not-ready source.

use super::COPIES_PER_HOUR;
use time::{Duration, OffsetDateTime};

/// How long to wait before looking at a not-yet-ready source again, growing with each
/// attempt (1, 2, 4 … minutes, at most 30) so a slow restore point costs few reads.
pub fn recheck_delay(attempt: u32) -> Duration {
    Duration::minutes(1i64 << attempt.min(5)).min(Duration::minutes(30))
}

/// Deferrals after which a source is given up on (about a day with [`recheck_delay`]).
pub const MAX_DEFERRALS: u32 = 50;

/// Whether another copy PUT into a target collection is allowed now, given the times of
/// the previous starts. `Err(t)` = not before `t`.
pub fn copy_rate(
    recent_starts: &[OffsetDateTime],
    now: OffsetDateTime,
) -> Result<(), OffsetDateTime> {
    let window_start = now - Duration::hours(1);
    let mut in_window: Vec<_> = recent_starts
        .iter()
        .filter(|t| **t > window_start)
        .copied()
        .collect();
    if in_window.len() < COPIES_PER_HOUR {
        return Ok(());
    }
    in_window.sort();
    // The oldest start in the window must leave it before another start fits.
    let k = in_window.len() - COPIES_PER_HOUR;
    Err(in_window[k] + Duration::hours(1) + Duration::seconds(1))
}

/// Keeps only the starts that still matter for [`copy_rate`].
pub fn prune_starts(recent_starts: &mut Vec<OffsetDateTime>, now: OffsetDateTime) {
    recent_starts.retain(|t| *t > now - Duration::hours(1));
    recent_starts.sort();
}

/// A copy waiting in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCopy {
    pub key: String,
    pub time_created: OffsetDateTime,
    /// Not to be looked at before this time (deferred).
    pub not_before: Option<OffsetDateTime>,
}

/// The state of one chain (source collection → target region) relevant to what comes next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainView {
    /// A copy is started (or being started) and not finished.
    pub in_flight: Option<String>,
    pub pending: Vec<PendingCopy>,
    pub recent_starts: Vec<OffsetDateTime>,
}

/// What the chain should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Nothing pending.
    Idle,
    /// A copy is in flight; only one at a time per source collection → target region.
    Busy { in_flight: String },
    /// Look at this copy now (validate, then start it).
    Start { key: String },
    /// The oldest pending copy may not start before this time (deferred, or the
    /// 3-per-hour copy limit).
    WaitUntil { at: OffsetDateTime, key: String },
}

/// Chooses the next step for a chain: strictly the oldest pending copy, never more than one
/// in flight, never more than three copy PUTs per hour into its target collection.
pub fn next_step(chain: &ChainView, now: OffsetDateTime) -> NextStep {
    if let Some(k) = &chain.in_flight {
        return NextStep::Busy {
            in_flight: k.clone(),
        };
    }
    let Some(oldest) = chain
        .pending
        .iter()
        .min_by(|a, b| (a.time_created, &a.key).cmp(&(b.time_created, &b.key)))
    else {
        return NextStep::Idle;
    };
    if let Some(nb) = oldest.not_before {
        if nb > now {
            return NextStep::WaitUntil {
                at: nb,
                key: oldest.key.clone(),
            };
        }
    }
    match copy_rate(&chain.recent_starts, now) {
        Ok(()) => NextStep::Start {
            key: oldest.key.clone(),
        },
        Err(at) => NextStep::WaitUntil {
            at,
            key: oldest.key.clone(),
        },
    }
}
