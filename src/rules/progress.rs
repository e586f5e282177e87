//! What a progress reading of a copy means: replication state, overall percentage,
//! readiness to restore, and the assessment of a copy in flight (done, failed, expired,
//! stalled, close to expiry).

use super::{PLATFORM_MAX_COPY, POLL_INTERVAL};
use time::{Duration, OffsetDateTime};

/// One disk's replication status in a progress reading.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiskProgress {
    pub disk: String,
    pub percent: Option<f64>,
    pub code: Option<String>,
}

impl DiskProgress {
    /// One disk's reading as ARM's instance view gives it: the disk restore point's id (its
    /// last segment names the disk), its completion percent and its status code.
    pub fn reading(id: Option<&str>, percent: Option<f64>, code: Option<&str>) -> DiskProgress {
        DiskProgress {
            disk: id
                .and_then(|i| i.rsplit('/').next())
                .unwrap_or("disk")
                .to_string(),
            percent,
            code: code.map(str::to_string),
        }
    }
}

/// How a progress reading looks as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationState {
    Succeeded,
    Failed,
    InProgress,
}

/// Whether a replication status code is `ReplicationState/<want>`, ignoring case.
pub(super) fn code_is(code: &Option<String>, want: &str) -> bool {
    code.as_deref()
        .and_then(|c| c.split_once('/'))
        .is_some_and(|(kind, state)| {
            kind.eq_ignore_ascii_case("ReplicationState") && state.eq_ignore_ascii_case(want)
        })
}

/// Succeeded only when every disk reports `ReplicationState/succeeded` at 100 %
/// (`provisioningState: Succeeded` only means the copy started). Any failed disk fails the
/// copy. No disks reported yet = in progress.
pub fn replication_state(disks: &[DiskProgress]) -> ReplicationState {
    if disks.iter().any(|d| code_is(&d.code, "failed")) {
        return ReplicationState::Failed;
    }
    if !disks.is_empty()
        && disks
            .iter()
            .all(|d| code_is(&d.code, "succeeded") && d.percent.is_some_and(|p| p >= 100.0))
    {
        return ReplicationState::Succeeded;
    }
    ReplicationState::InProgress
}

/// Overall progress of a copy: the slowest disk's percentage (what restore waits for).
pub fn overall_percent(disks: &[DiskProgress]) -> Option<f64> {
    disks
        .iter()
        .map(|d| d.percent.unwrap_or(0.0))
        .fold(None, |acc: Option<f64>, p| {
            Some(acc.map_or(p, |a| a.min(p)))
        })
}

/// A restore point can be restored from only when every disk restore point reports 100 %
/// and succeeded; the platform does not check this itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    Ready,
    NotReady { reason: String },
}

pub fn readiness(disks: &[DiskProgress]) -> Readiness {
    if disks.is_empty() {
        return Readiness::NotReady {
            reason: "no disk restore point reports replication status".into(),
        };
    }
    for d in disks {
        if code_is(&d.code, "failed") {
            return Readiness::NotReady {
                reason: format!("disk {} replication failed", d.disk),
            };
        }
        // Written as "not at least 100" so an unordered value (NaN) is never ready, exactly
        // as `replication_state` never calls it succeeded.
        if !code_is(&d.code, "succeeded") || !d.percent.is_some_and(|p| p >= 100.0) {
            return Readiness::NotReady {
                reason: format!(
                    "disk {} at {}% ({})",
                    d.disk,
                    d.percent.unwrap_or(0.0),
                    d.code.as_deref().unwrap_or("no status")
                ),
            };
        }
    }
    Readiness::Ready
}

/// Timing limits for copies in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyLimits {
    /// Policy's maximum copy duration (≤ 14 days).
    pub max_duration: Duration,
    /// No progress for this long = stalled (warning).
    pub stall_after: Duration,
    /// Warn this long before `max_duration` runs out.
    pub expiry_warning: Duration,
    /// Restarts of a failed or stalled copy before it is given up (policy `restartFailed`).
    pub restart_failed: u32,
    /// The least time without progress before a copy is restarted as stalled (policy
    /// `restartStalledAfter`); see [`stall_limit`].
    pub restart_stalled_after: Duration,
}

/// How long a copy may show no progress before it counts as stalled and is restarted: the
/// policy's floor, or three times the longest stretch without progress that any of the
/// chain's own succeeded copies went through, whichever is longer.
///
/// The chain's history is what ferry can know of "plausible": ARM does not say how much data
/// a disk restore point holds (only the provisioned disk size, which overstates it many
/// times for incremental copies), nor the bandwidth; but the stretches between visible
/// progress steps of the chain's earlier copies are exactly its data size over its
/// bandwidth, measured. The factor three keeps a copy that is merely as slow as the slowest
/// one seen so far, plus room, from being restarted.
pub fn stall_limit(floor: Duration, slowest_gap: Option<Duration>) -> Duration {
    floor.max(slowest_gap.map_or(Duration::ZERO, |g| g * 3))
}

/// How long a copy waits after its failed target is gone before it is made again: 10
/// minutes, then 40, then 160 … (at most 12 hours), so a platform in trouble is not hammered.
pub fn restart_delay(attempt: u32) -> Duration {
    (POLL_INTERVAL * (1i32 << (2 * attempt.saturating_sub(1)).min(12))).min(Duration::hours(12))
}

impl Default for CopyLimits {
    fn default() -> Self {
        CopyLimits {
            max_duration: PLATFORM_MAX_COPY,
            stall_after: Duration::hours(6),
            expiry_warning: Duration::days(2),
            restart_failed: 0,
            restart_stalled_after: Duration::hours(6),
        }
    }
}

/// What ferry knows about a copy in flight, from its own records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InFlight {
    /// When ferry started the copy (not the target's `timeCreated`, which is the source's).
    pub started_at: OffsetDateTime,
    /// When the overall percentage last changed (or the start).
    pub last_progress_at: OffsetDateTime,
    pub last_percent: Option<f64>,
}

/// The decision for a copy in flight after a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    Succeeded,
    /// Failed; the platform hides where, so the alert carries our last reading.
    Failed,
    /// Ran past the maximum duration: clean up and move on.
    Expired,
    InProgress {
        /// Percentage changed in this reading.
        progressed: bool,
        stalled: bool,
        expiry_approaching: bool,
    },
}

/// Decides what a reading means for a copy in flight.
///
/// Stall detection waits `stall_after` with no change in the overall percentage, because
/// the platform publishes progress only every 10 minutes and low-churn disks jump 0 → 100.
pub fn assess(
    copy: &InFlight,
    state: ReplicationState,
    percent: Option<f64>,
    now: OffsetDateTime,
    limits: &CopyLimits,
) -> Assessment {
    let max = limits.max_duration.min(PLATFORM_MAX_COPY);
    let age = now - copy.started_at;
    // Act at the last poll before the deadline: the next one would come after the platform
    // terminated the copy (which then looks like a plain failure).
    let last_chance = age + POLL_INTERVAL > max;
    match state {
        ReplicationState::Succeeded => return Assessment::Succeeded,
        // A failure at the deadline is the platform's termination.
        ReplicationState::Failed if last_chance => return Assessment::Expired,
        ReplicationState::Failed => return Assessment::Failed,
        ReplicationState::InProgress => {}
    }
    if last_chance {
        return Assessment::Expired;
    }
    let progressed = match (copy.last_percent, percent) {
        (Some(a), Some(b)) => b > a,
        (None, Some(b)) => b > 0.0,
        _ => false,
    };
    let since = if progressed {
        Duration::ZERO
    } else {
        now - copy.last_progress_at
    };
    Assessment::InProgress {
        progressed,
        stalled: !progressed && since >= limits.stall_after,
        expiry_approaching: age >= max - limits.expiry_warning,
    }
}
#[cfg(test)]
mod restart_tests {
    use super::*;

    #[test]
    fn the_stall_limit_is_the_floor_or_three_times_the_slowest_stretch() {
        let floor = Duration::hours(6);
        assert_eq!(stall_limit(floor, None), floor);
        assert_eq!(stall_limit(floor, Some(Duration::hours(1))), floor);
        assert_eq!(
            stall_limit(floor, Some(Duration::hours(3))),
            Duration::hours(9)
        );
    }

    #[test]
    fn restart_delays_grow_and_are_capped() {
        assert_eq!(restart_delay(0), Duration::minutes(10));
        assert_eq!(restart_delay(1), Duration::minutes(10));
        assert_eq!(restart_delay(2), Duration::minutes(40));
        assert_eq!(restart_delay(3), Duration::minutes(160));
        assert_eq!(
            restart_delay(4),
            Duration::hours(12).min(Duration::minutes(640))
        );
        assert_eq!(restart_delay(50), Duration::hours(12));
    }
}
