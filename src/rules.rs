//! The platform's rules and ferry's chain state machine, as pure functions.
//!
//! Nothing here does I/O or reads a clock: callers pass in what ARM and the ledger said and
//! the time, and get back a decision. That keeps every platform rule (docs/platform.md, each
//! with its Microsoft source) testable in isolation, and keeps the functions (ingest,
//! sequencer, poller) thin.

use std::collections::BTreeMap;
use std::fmt;
use time::{Duration, OffsetDateTime};

/// The longest a cross-region copy may run before the platform terminates it.
pub const PLATFORM_MAX_COPY: Duration = Duration::days(14);
/// Progress is published every 10 minutes; polling faster only burns ARM reads.
pub const POLL_INTERVAL: Duration = Duration::minutes(10);
/// Copy PUTs allowed per target collection per hour.
pub const COPIES_PER_HOUR: usize = 3;

/// Restore point consistency modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consistency {
    CrashConsistent,
    FileSystemConsistent,
    ApplicationConsistent,
}

impl Consistency {
    pub fn parse(s: &str) -> Option<Consistency> {
        match s.to_ascii_lowercase().as_str() {
            "crashconsistent" => Some(Consistency::CrashConsistent),
            "filesystemconsistent" => Some(Consistency::FileSystemConsistent),
            "applicationconsistent" => Some(Consistency::ApplicationConsistent),
            _ => None,
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::CrashConsistent => "CrashConsistent",
            Consistency::FileSystemConsistent => "FileSystemConsistent",
            Consistency::ApplicationConsistent => "ApplicationConsistent",
        })
    }
}

/// One disk of a source restore point, as ARM describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiskFacts {
    pub name: String,
    /// Source disk encryption set (customer-managed key), if any.
    pub disk_encryption_set: Option<String>,
    /// `networkAccessPolicy` of the disk restore point.
    pub network_access_policy: Option<String>,
    /// `diskAccessId` of the disk restore point (private link).
    pub disk_access_id: Option<String>,
}

/// What ARM says about a source restore point, reduced to what the rules need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceFacts {
    /// `properties.sourceRestorePoint` is set: this restore point is itself a copy.
    pub is_copy: bool,
    /// `sourceMetadata.securityProfile.securityType`.
    pub security_type: Option<String>,
    pub provisioning_state: Option<String>,
    pub consistency_mode: Option<String>,
    pub time_created: Option<OffsetDateTime>,
    pub disks: Vec<DiskFacts>,
}

/// What the policy asks of one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetRules {
    /// Source DES id (lower-case) → target DES id.
    pub disk_encryption_sets: BTreeMap<String, String>,
    pub min_consistency: Option<Consistency>,
}

/// Why a restore point will never be copied to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The source is itself a copy; the platform refuses copies of copies.
    CopyOfCopy,
    /// Confidential VMs are not supported by cross-region copy.
    ConfidentialVm { security_type: String },
    /// Private links are not supported by cross-region copy.
    PrivateLink { disk: String },
    /// The disk is encrypted with a customer-managed key and the policy has no target
    /// disk encryption set for it in this region.
    MissingDiskEncryptionSet { disk: String, source_des: String },
    /// The restore point is less consistent than the policy requires.
    ConsistencyTooLow { have: String, need: Consistency },
    /// A newer restore point of the chain was already copied or started: copying an older
    /// one would be a nonsequential copy, which the platform refuses.
    OutOfOrder {
        time_created: OffsetDateTime,
        watermark: OffsetDateTime,
    },
    /// The source restore point failed to create.
    SourceFailed { provisioning_state: String },
    /// The source restore point no longer exists.
    SourceMissing,
    /// ARM did not say when the restore point was created, so it cannot be ordered.
    NoCreationTime,
    /// The target collection does not exist and policy forbids creating it.
    TargetCollectionMissing { collection: String },
    /// The chain's target collection exists but belongs to another source collection or
    /// lives in another region: copying into it would mix two VMs' chains (or fail).
    TargetCollectionForeign {
        collection: String,
        source: Option<String>,
        location: Option<String>,
    },
    /// The target region is the source's own region.
    SameRegion { region: String },
    /// The source stayed not-ready for longer than ferry waits.
    NeverReady { waited: Duration },
}

impl RejectReason {
    /// Stable machine-readable code (alerts, ledger).
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::CopyOfCopy => "CopyOfCopy",
            RejectReason::ConfidentialVm { .. } => "ConfidentialVm",
            RejectReason::PrivateLink { .. } => "PrivateLink",
            RejectReason::MissingDiskEncryptionSet { .. } => "MissingDiskEncryptionSet",
            RejectReason::ConsistencyTooLow { .. } => "ConsistencyTooLow",
            RejectReason::OutOfOrder { .. } => "OutOfOrder",
            RejectReason::SourceFailed { .. } => "SourceFailed",
            RejectReason::SourceMissing => "SourceMissing",
            RejectReason::NoCreationTime => "NoCreationTime",
            RejectReason::TargetCollectionMissing { .. } => "TargetCollectionMissing",
            RejectReason::TargetCollectionForeign { .. } => "TargetCollectionForeign",
            RejectReason::SameRegion { .. } => "SameRegion",
            RejectReason::NeverReady { .. } => "NeverReady",
        }
    }

    /// What an operator can do about it.
    pub fn suggested_action(&self) -> &'static str {
        match self {
            RejectReason::CopyOfCopy => "Nothing to do: this restore point is itself a copy. Exclude the collection from the policy scope if it is a DR target.",
            RejectReason::ConfidentialVm { .. } => "Protect this confidential VM another way (e.g. Azure Backup); cross-region copy does not support it.",
            RejectReason::PrivateLink { .. } => "Disks behind private links cannot be copied across regions; use public network access for the disks or another DR method.",
            RejectReason::MissingDiskEncryptionSet { .. } => "Add the source disk encryption set to the target's diskEncryptionSets mapping in FERRY_POLICY.",
            RejectReason::ConsistencyTooLow { .. } => "Create application- or file-system-consistent restore points, or lower minConsistency in the policy.",
            RejectReason::OutOfOrder { .. } => "Nothing to do for this restore point: a newer one is already copied. Check why its event arrived late.",
            RejectReason::SourceFailed { .. } => "Investigate the failed source restore point; the next successful one will be copied.",
            RejectReason::SourceMissing => "The source restore point was deleted before it could be copied.",
            RejectReason::NoCreationTime => "Check the restore point in the portal; ARM did not report its creation time.",
            RejectReason::TargetCollectionMissing { .. } => "Create the target restore point collection (infra/modules/target-collection.bicep) or set createTargetCollections.",
            RejectReason::TargetCollectionForeign { .. } => "Give this chain its own target collection: include {resourceGroup} and {source} in the target's collectionName template (the default does), or move the other collection away.",
            RejectReason::SameRegion { .. } => "Fix FERRY_POLICY: the target region equals the source region.",
            RejectReason::NeverReady { .. } => "Investigate the source restore point: it never reached Succeeded.",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::CopyOfCopy => write!(f, "the restore point is a copy of another restore point; copies of copies are not supported"),
            RejectReason::ConfidentialVm { security_type } => write!(f, "the source VM is a confidential VM (securityType {security_type}); not supported by cross-region copy"),
            RejectReason::PrivateLink { disk } => write!(f, "disk {disk} uses a private link (networkAccessPolicy AllowPrivate or diskAccessId); not supported by cross-region copy"),
            RejectReason::MissingDiskEncryptionSet { disk, source_des } => write!(f, "disk {disk} is encrypted with disk encryption set {source_des} and the policy maps no target disk encryption set for it"),
            RejectReason::ConsistencyTooLow { have, need } => write!(f, "consistency {have} is below the policy's minimum {need}"),
            RejectReason::OutOfOrder { time_created, watermark } => write!(f, "created {time_created} but a restore point created {watermark} is already copied or copying; a nonsequential copy is not allowed"),
            RejectReason::SourceFailed { provisioning_state } => write!(f, "the source restore point is in provisioning state {provisioning_state}"),
            RejectReason::SourceMissing => write!(f, "the source restore point no longer exists"),
            RejectReason::NoCreationTime => write!(f, "the source restore point has no timeCreated"),
            RejectReason::TargetCollectionMissing { collection } => write!(f, "target collection {collection} does not exist and createTargetCollections is false"),
            RejectReason::TargetCollectionForeign { collection, source, location } => write!(
                f,
                "target collection {collection} belongs to source {} in {}, not to this chain; ferry will not copy into another chain's collection",
                source.as_deref().unwrap_or("(none)"),
                location.as_deref().unwrap_or("(no location)")
            ),
            RejectReason::SameRegion { region } => write!(f, "target region {region} is the source's own region"),
            RejectReason::NeverReady { waited } => write!(f, "the source restore point was not ready after {waited}"),
        }
    }
}

/// Why a copy cannot start yet, though it may later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferReason {
    /// `provisioningState` is not `Succeeded` yet (the write event can fire on accept).
    NotProvisioned { state: String },
}

impl fmt::Display for DeferReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeferReason::NotProvisioned { state } => {
                write!(f, "source restore point is {state}, not Succeeded yet")
            }
        }
    }
}

/// The outcome of checking a source restore point against one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Copy it. `encryption` maps disk name → target disk encryption set, for CMK disks.
    Eligible {
        time_created: OffsetDateTime,
        encryption: BTreeMap<String, String>,
    },
    Defer(DeferReason),
    Reject(RejectReason),
}

/// Checks a source restore point against every platform rule of docs/platform.md and the
/// policy. `watermark` is the creation time of the newest restore point of the chain that
/// was already copied or started.
///
/// Permanent refusals are checked before "not ready yet", so a confidential VM's restore
/// point is rejected at once rather than deferred until it is provisioned.
pub fn eligibility(
    facts: &SourceFacts,
    target: &TargetRules,
    watermark: Option<OffsetDateTime>,
) -> Eligibility {
    use Eligibility::*;
    if facts.is_copy {
        return Reject(RejectReason::CopyOfCopy);
    }
    if let Some(st) = &facts.security_type {
        if st.to_ascii_lowercase().starts_with("confidentialvm") {
            return Reject(RejectReason::ConfidentialVm {
                security_type: st.clone(),
            });
        }
    }
    for d in &facts.disks {
        let private = d
            .network_access_policy
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("AllowPrivate"))
            || d.disk_access_id.as_deref().is_some_and(|a| !a.is_empty());
        if private {
            return Reject(RejectReason::PrivateLink {
                disk: d.name.clone(),
            });
        }
    }
    let state = facts.provisioning_state.as_deref().unwrap_or("Unknown");
    if state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled") {
        return Reject(RejectReason::SourceFailed {
            provisioning_state: state.to_string(),
        });
    }
    if let Some(need) = target.min_consistency {
        let have = facts
            .consistency_mode
            .as_deref()
            .unwrap_or("CrashConsistent");
        // An unknown mode is treated as the weakest: refusing is safer than guessing.
        let have_level = Consistency::parse(have).unwrap_or(Consistency::CrashConsistent);
        if have_level < need {
            return Reject(RejectReason::ConsistencyTooLow {
                have: have.to_string(),
                need,
            });
        }
    }
    let mut encryption = BTreeMap::new();
    for d in &facts.disks {
        if let Some(des) = &d.disk_encryption_set {
            match target.disk_encryption_sets.get(&des.to_ascii_lowercase()) {
                Some(t) => {
                    encryption.insert(d.name.clone(), t.clone());
                }
                None => {
                    return Reject(RejectReason::MissingDiskEncryptionSet {
                        disk: d.name.clone(),
                        source_des: des.clone(),
                    })
                }
            }
        }
    }
    let Some(time_created) = facts.time_created else {
        return if state.eq_ignore_ascii_case("Succeeded") {
            Reject(RejectReason::NoCreationTime)
        } else {
            Defer(DeferReason::NotProvisioned {
                state: state.to_string(),
            })
        };
    };
    if let Some(w) = watermark {
        if time_created <= w {
            return Reject(RejectReason::OutOfOrder {
                time_created,
                watermark: w,
            });
        }
    }
    if !state.eq_ignore_ascii_case("Succeeded") {
        return Defer(DeferReason::NotProvisioned {
            state: state.to_string(),
        });
    }
    Eligible {
        time_created,
        encryption,
    }
}

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

/// Whether an existing target collection may take this chain's copies: its
/// `properties.source.id` must be the chain's source collection and its location the
/// chain's region. A collection made for another source (two sources whose names expand to
/// the same target name) would mix two VMs' restore points, and the platform refuses a copy
/// whose source is not the collection's source anyway. `source_key` is the lower-cased id.
pub fn target_collection_fits(
    collection: &str,
    existing_source: Option<&str>,
    existing_location: Option<&str>,
    source_key: &str,
    target_region: &str,
) -> Result<(), RejectReason> {
    let source_ok = existing_source.is_some_and(|s| s.eq_ignore_ascii_case(source_key));
    let location_ok = existing_location
        .and_then(crate::ids::normalize_region)
        .is_some_and(|l| l == target_region);
    if source_ok && location_ok {
        Ok(())
    } else {
        Err(RejectReason::TargetCollectionForeign {
            collection: collection.to_string(),
            source: existing_source.map(str::to_string),
            location: existing_location.map(str::to_string),
        })
    }
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

/// One disk's replication status in a progress reading.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DiskProgress {
    pub disk: String,
    pub percent: Option<f64>,
    pub code: Option<String>,
}

/// How a progress reading looks as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationState {
    Succeeded,
    Failed,
    InProgress,
}

/// Whether a replication status code is `ReplicationState/<want>`, ignoring case.
fn code_is(code: &Option<String>, want: &str) -> bool {
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
}

impl Default for CopyLimits {
    fn default() -> Self {
        CopyLimits {
            max_duration: PLATFORM_MAX_COPY,
            stall_after: Duration::hours(6),
            expiry_warning: Duration::days(2),
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

/// Recovery point objective status of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpo {
    /// Age of the newest restore point safely in the target region (`None`: none yet).
    pub current: Option<Duration>,
    pub breached: bool,
    /// When the breach began (the measured point plus the objective): the same instant on
    /// every tick of one breach, so it names the breach.
    pub breached_since: Option<OffsetDateTime>,
}

/// RPO = now − creation time of the newest source restore point whose copy completed.
/// Before any copy completes, the chain is measured from when it was first seen, so a
/// chain that never completes a copy still breaches.
pub fn rpo(
    newest_copied: Option<OffsetDateTime>,
    chain_since: OffsetDateTime,
    now: OffsetDateTime,
    objective: Duration,
) -> Rpo {
    let current = newest_copied.map(|t| now - t);
    let measured_from = newest_copied.unwrap_or(chain_since);
    let breached = now - measured_from > objective;
    Rpo {
        current,
        breached,
        breached_since: breached.then(|| measured_from + objective),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    fn ok_facts() -> SourceFacts {
        SourceFacts {
            is_copy: false,
            security_type: Some("TrustedLaunch".into()),
            provisioning_state: Some("Succeeded".into()),
            consistency_mode: Some("ApplicationConsistent".into()),
            time_created: Some(T0),
            disks: vec![
                DiskFacts {
                    name: "os".into(),
                    network_access_policy: Some("AllowAll".into()),
                    ..Default::default()
                },
                DiskFacts {
                    name: "data".into(),
                    ..Default::default()
                },
            ],
        }
    }

    fn reject_code(e: Eligibility) -> &'static str {
        match e {
            Eligibility::Reject(r) => r.code(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn eligible_when_every_rule_passes() {
        let e = eligibility(&ok_facts(), &TargetRules::default(), None);
        assert_eq!(
            e,
            Eligibility::Eligible {
                time_created: T0,
                encryption: BTreeMap::new()
            }
        );
    }

    #[test]
    fn copy_of_copy_rejected_even_if_everything_else_fine() {
        let f = SourceFacts {
            is_copy: true,
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "CopyOfCopy"
        );
    }

    #[test]
    fn confidential_vm_rejected_in_all_spellings() {
        for st in [
            "ConfidentialVM",
            "confidentialvm",
            "ConfidentialVM_DiskEncryptedWithPlatformKey",
        ] {
            let f = SourceFacts {
                security_type: Some(st.into()),
                ..ok_facts()
            };
            assert_eq!(
                reject_code(eligibility(&f, &TargetRules::default(), None)),
                "ConfidentialVm",
                "{st}"
            );
        }
        let f = SourceFacts {
            security_type: Some("TrustedLaunch".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn private_link_rejected_by_policy_or_disk_access() {
        let mut f = ok_facts();
        f.disks[1].network_access_policy = Some("AllowPrivate".into());
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "PrivateLink"
        );
        let mut f = ok_facts();
        f.disks[0].disk_access_id = Some(
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/diskAccesses/a".into(),
        );
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "PrivateLink"
        );
        let mut f = ok_facts();
        f.disks[0].disk_access_id = Some(String::new());
        f.disks[0].network_access_policy = Some("DenyAll".into());
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn cmk_needs_a_mapping_and_maps_case_insensitively() {
        let mut f = ok_facts();
        f.disks[0].disk_encryption_set = Some(
            "/subscriptions/S/resourceGroups/R/providers/Microsoft.Compute/diskEncryptionSets/DES1"
                .into(),
        );
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "MissingDiskEncryptionSet"
        );
        let mut t = TargetRules::default();
        t.disk_encryption_sets.insert(
            "/subscriptions/s/resourcegroups/r/providers/microsoft.compute/diskencryptionsets/des1"
                .into(),
            "target-des".into(),
        );
        match eligibility(&f, &t, None) {
            Eligibility::Eligible { encryption, .. } => {
                assert_eq!(encryption.get("os").map(String::as_str), Some("target-des"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn consistency_minimum() {
        let t = TargetRules {
            min_consistency: Some(Consistency::ApplicationConsistent),
            ..Default::default()
        };
        let f = SourceFacts {
            consistency_mode: Some("CrashConsistent".into()),
            ..ok_facts()
        };
        assert_eq!(reject_code(eligibility(&f, &t, None)), "ConsistencyTooLow");
        let f = SourceFacts {
            consistency_mode: None,
            ..ok_facts()
        };
        assert_eq!(reject_code(eligibility(&f, &t, None)), "ConsistencyTooLow");
        let t = TargetRules {
            min_consistency: Some(Consistency::CrashConsistent),
            ..Default::default()
        };
        assert!(matches!(
            eligibility(&f, &t, None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn watermark_orders_the_chain() {
        let f = ok_facts();
        assert_eq!(
            reject_code(eligibility(
                &f,
                &TargetRules::default(),
                Some(T0 + Duration::hours(1))
            )),
            "OutOfOrder"
        );
        // Equal creation time: the same instant is already covered.
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), Some(T0))),
            "OutOfOrder"
        );
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), Some(T0 - Duration::seconds(1))),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn not_yet_provisioned_defers_but_failed_rejects() {
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
        let f = SourceFacts {
            provisioning_state: None,
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
        let f = SourceFacts {
            provisioning_state: Some("Failed".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "SourceFailed"
        );
        // A creating restore point of a confidential VM is rejected at once, not deferred.
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            security_type: Some("ConfidentialVM".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "ConfidentialVm"
        );
        // Creating and older than the watermark: will never be copyable, reject now.
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(
                &f,
                &TargetRules::default(),
                Some(T0 + Duration::hours(1))
            )),
            "OutOfOrder"
        );
    }

    #[test]
    fn missing_creation_time() {
        let f = SourceFacts {
            time_created: None,
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "NoCreationTime"
        );
        let f = SourceFacts {
            time_created: None,
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
    }

    #[test]
    fn every_reason_has_text_and_action() {
        let reasons = [
            RejectReason::CopyOfCopy,
            RejectReason::ConfidentialVm {
                security_type: "ConfidentialVM".into(),
            },
            RejectReason::PrivateLink { disk: "d".into() },
            RejectReason::MissingDiskEncryptionSet {
                disk: "d".into(),
                source_des: "x".into(),
            },
            RejectReason::ConsistencyTooLow {
                have: "CrashConsistent".into(),
                need: Consistency::ApplicationConsistent,
            },
            RejectReason::OutOfOrder {
                time_created: T0,
                watermark: T0,
            },
            RejectReason::SourceFailed {
                provisioning_state: "Failed".into(),
            },
            RejectReason::SourceMissing,
            RejectReason::NoCreationTime,
            RejectReason::TargetCollectionMissing {
                collection: "c".into(),
            },
            RejectReason::TargetCollectionForeign {
                collection: "c".into(),
                source: Some("s".into()),
                location: None,
            },
            RejectReason::SameRegion {
                region: "eastus".into(),
            },
            RejectReason::NeverReady {
                waited: Duration::days(1),
            },
        ];
        let mut codes = std::collections::BTreeSet::new();
        for r in reasons {
            assert!(!r.to_string().is_empty());
            assert!(!r.suggested_action().is_empty());
            assert!(codes.insert(r.code()), "duplicate code {}", r.code());
        }
    }

    #[test]
    fn recheck_backs_off_and_caps() {
        assert_eq!(recheck_delay(0), Duration::minutes(1));
        assert_eq!(recheck_delay(1), Duration::minutes(2));
        assert_eq!(recheck_delay(4), Duration::minutes(16));
        assert_eq!(recheck_delay(5), Duration::minutes(30));
        assert_eq!(recheck_delay(40), Duration::minutes(30));
    }

    #[test]
    fn copy_rate_allows_three_per_rolling_hour() {
        assert_eq!(copy_rate(&[], T0), Ok(()));
        let starts = [T0, T0 + Duration::minutes(10)];
        assert_eq!(copy_rate(&starts, T0 + Duration::minutes(20)), Ok(()));
        let starts = [T0, T0 + Duration::minutes(10), T0 + Duration::minutes(20)];
        assert_eq!(
            copy_rate(&starts, T0 + Duration::minutes(30)),
            Err(T0 + Duration::hours(1) + Duration::seconds(1))
        );
        assert_eq!(
            copy_rate(&starts, T0 + Duration::hours(1) + Duration::seconds(1)),
            Ok(())
        );
        // Old starts don't count.
        let starts = [
            T0 - Duration::hours(2),
            T0 - Duration::hours(3),
            T0 - Duration::hours(4),
        ];
        assert_eq!(copy_rate(&starts, T0), Ok(()));
        // Unsorted input works.
        let starts = [T0 + Duration::minutes(20), T0, T0 + Duration::minutes(10)];
        assert!(copy_rate(&starts, T0 + Duration::minutes(30)).is_err());
    }

    #[test]
    fn prune_keeps_last_hour() {
        let mut s = vec![
            T0 + Duration::minutes(50),
            T0 - Duration::hours(2),
            T0 + Duration::minutes(5),
        ];
        prune_starts(&mut s, T0 + Duration::minutes(61));
        assert_eq!(
            s,
            vec![T0 + Duration::minutes(5), T0 + Duration::minutes(50)]
        );
    }

    fn pending(key: &str, mins: i64) -> PendingCopy {
        PendingCopy {
            key: key.into(),
            time_created: T0 + Duration::minutes(mins),
            not_before: None,
        }
    }

    #[test]
    fn one_in_flight_per_chain() {
        let c = ChainView {
            in_flight: Some("a".into()),
            pending: vec![pending("b", 1)],
            recent_starts: vec![],
        };
        assert_eq!(
            next_step(&c, T0),
            NextStep::Busy {
                in_flight: "a".into()
            }
        );
    }

    #[test]
    fn idle_without_pending() {
        assert_eq!(next_step(&ChainView::default(), T0), NextStep::Idle);
    }

    #[test]
    fn oldest_pending_first_regardless_of_arrival_order() {
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("rp3", 30), pending("rp1", 10), pending("rp2", 20)],
            recent_starts: vec![],
        };
        assert_eq!(next_step(&c, T0), NextStep::Start { key: "rp1".into() });
        // Same creation time: deterministic by key.
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("b", 10), pending("a", 10)],
            recent_starts: vec![],
        };
        assert_eq!(next_step(&c, T0), NextStep::Start { key: "a".into() });
    }

    #[test]
    fn deferred_oldest_blocks_newer_ones() {
        // Starting a newer one first would make the older one uncopyable forever.
        let mut p1 = pending("rp1", 10);
        p1.not_before = Some(T0 + Duration::minutes(5));
        let c = ChainView {
            in_flight: None,
            pending: vec![p1, pending("rp2", 20)],
            recent_starts: vec![],
        };
        assert_eq!(
            next_step(&c, T0),
            NextStep::WaitUntil {
                at: T0 + Duration::minutes(5),
                key: "rp1".into()
            }
        );
        assert_eq!(
            next_step(&c, T0 + Duration::minutes(5)),
            NextStep::Start { key: "rp1".into() }
        );
    }

    #[test]
    fn copy_rate_paces_the_chain() {
        let starts = vec![T0, T0 + Duration::minutes(1), T0 + Duration::minutes(2)];
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("rp4", 0)],
            recent_starts: starts,
        };
        assert_eq!(
            next_step(&c, T0 + Duration::minutes(3)),
            NextStep::WaitUntil {
                at: T0 + Duration::hours(1) + Duration::seconds(1),
                key: "rp4".into()
            }
        );
    }

    fn disk(p: Option<f64>, code: Option<&str>) -> DiskProgress {
        DiskProgress {
            disk: "d".into(),
            percent: p,
            code: code.map(String::from),
        }
    }

    #[test]
    fn status_codes_compare_ignoring_case() {
        let c = |s: &str| Some(s.to_string());
        assert!(code_is(&c("ReplicationState/succeeded"), "succeeded"));
        assert!(code_is(&c("replicationstate/SUCCEEDED"), "succeeded"));
        assert!(!code_is(&c("ReplicationState/succeeded/x"), "succeeded"));
        assert!(!code_is(&c("ReplicationStatesucceeded"), "succeeded"));
        assert!(!code_is(&c("ProvisioningState/succeeded"), "succeeded"));
        assert!(!code_is(&c("ReplicationState/failed"), "succeeded"));
        assert!(!code_is(&None, "failed"));
    }

    #[test]
    fn replication_state_needs_every_disk() {
        use ReplicationState::*;
        assert_eq!(replication_state(&[]), InProgress);
        assert_eq!(
            replication_state(&[disk(Some(100.0), Some("ReplicationState/succeeded"))]),
            Succeeded
        );
        assert_eq!(
            replication_state(&[
                disk(Some(100.0), Some("ReplicationState/succeeded")),
                disk(Some(40.0), Some("ReplicationState/inProgress"))
            ]),
            InProgress
        );
        // Succeeded code below 100 % is not done.
        assert_eq!(
            replication_state(&[disk(Some(99.0), Some("ReplicationState/succeeded"))]),
            InProgress
        );
        assert_eq!(replication_state(&[disk(Some(100.0), None)]), InProgress);
        assert_eq!(
            replication_state(&[
                disk(Some(100.0), Some("ReplicationState/succeeded")),
                disk(Some(0.0), Some("replicationstate/FAILED"))
            ]),
            Failed
        );
    }

    #[test]
    fn overall_percent_is_slowest_disk() {
        assert_eq!(overall_percent(&[]), None);
        assert_eq!(
            overall_percent(&[disk(Some(80.0), None), disk(Some(30.0), None)]),
            Some(30.0)
        );
        assert_eq!(
            overall_percent(&[disk(Some(80.0), None), disk(None, None)]),
            Some(0.0)
        );
    }

    /// Regression (arm_responses fuzz target): a NaN percentage with a succeeded code was
    /// Ready here but InProgress in `replication_state`.
    #[test]
    fn nan_percent_is_neither_ready_nor_succeeded() {
        let d = [disk(Some(f64::NAN), Some("ReplicationState/succeeded"))];
        assert!(matches!(readiness(&d), Readiness::NotReady { .. }));
        assert_eq!(replication_state(&d), ReplicationState::InProgress);
    }

    #[test]
    fn readiness_only_when_all_disks_done() {
        assert!(matches!(readiness(&[]), Readiness::NotReady { .. }));
        assert_eq!(
            readiness(&[disk(Some(100.0), Some("ReplicationState/succeeded"))]),
            Readiness::Ready
        );
        match readiness(&[
            disk(Some(100.0), Some("ReplicationState/succeeded")),
            disk(Some(60.0), Some("ReplicationState/inProgress")),
        ]) {
            Readiness::NotReady { reason } => assert!(reason.contains("60")),
            r => panic!("{r:?}"),
        }
        match readiness(&[disk(Some(0.0), Some("ReplicationState/failed"))]) {
            Readiness::NotReady { reason } => assert!(reason.contains("failed")),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            readiness(&[disk(None, Some("ReplicationState/succeeded"))]),
            Readiness::NotReady { .. }
        ));
    }

    fn flight(started_h: i64, progress_h: i64, pct: Option<f64>) -> InFlight {
        InFlight {
            started_at: T0 + Duration::hours(started_h),
            last_progress_at: T0 + Duration::hours(progress_h),
            last_percent: pct,
        }
    }

    #[test]
    fn assess_terminal_states_win() {
        let l = CopyLimits::default();
        let now = T0 + Duration::days(20);
        assert_eq!(
            assess(
                &flight(0, 0, None),
                ReplicationState::Succeeded,
                Some(100.0),
                now,
                &l
            ),
            Assessment::Succeeded
        );
        assert_eq!(
            assess(
                &flight(0, 0, None),
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(2),
                &l
            ),
            Assessment::Failed
        );
    }

    #[test]
    fn assess_expiry_from_our_start_time() {
        let l = CopyLimits::default();
        let c = flight(0, 0, Some(10.0));
        assert!(matches!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14) - Duration::minutes(10),
                &l
            ),
            Assessment::InProgress { .. }
        ));
        // The last poll before the deadline expires it: the next would be too late.
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14) - Duration::minutes(9),
                &l
            ),
            Assessment::Expired
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14),
                &l
            ),
            Assessment::Expired
        );
        // Failed at the deadline = terminated by the platform = expired; earlier = failed.
        assert_eq!(
            assess(
                &c,
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(14),
                &l
            ),
            Assessment::Expired
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(13),
                &l
            ),
            Assessment::Failed
        );
        // A policy maximum shorter than the platform's.
        let short = CopyLimits {
            max_duration: Duration::days(3),
            ..l
        };
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(50.0),
                T0 + Duration::days(3),
                &short
            ),
            Assessment::Expired
        );
        // A policy maximum longer than the platform's is capped.
        let long = CopyLimits {
            max_duration: Duration::days(30),
            ..l
        };
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(50.0),
                T0 + Duration::days(14),
                &long
            ),
            Assessment::Expired
        );
    }

    #[test]
    fn assess_expiry_warning_window() {
        let l = CopyLimits::default();
        let c = flight(0, 0, Some(10.0));
        let at = |d: Duration| assess(&c, ReplicationState::InProgress, Some(20.0), T0 + d, &l);
        assert!(matches!(
            at(Duration::days(11)),
            Assessment::InProgress {
                expiry_approaching: false,
                ..
            }
        ));
        assert!(matches!(
            at(Duration::days(12)),
            Assessment::InProgress {
                expiry_approaching: true,
                ..
            }
        ));
    }

    #[test]
    fn assess_stall_waits_long_enough() {
        let l = CopyLimits::default();
        // Low-churn disks show 0 for a while: not stalled after an hour.
        let c = flight(0, 0, Some(0.0));
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(0.0),
                T0 + Duration::hours(1),
                &l
            ),
            Assessment::InProgress {
                progressed: false,
                stalled: false,
                expiry_approaching: false
            }
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(0.0),
                T0 + Duration::hours(6),
                &l
            ),
            Assessment::InProgress {
                progressed: false,
                stalled: true,
                expiry_approaching: false
            }
        );
        // Progress resets the stall clock.
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(5.0),
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress {
                progressed: true,
                stalled: false,
                expiry_approaching: false
            }
        );
        // First reading ever with progress.
        assert!(matches!(
            assess(
                &flight(0, 0, None),
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress {
                progressed: true,
                stalled: false,
                ..
            }
        ));
        // No reading at all for long: stalled.
        assert!(matches!(
            assess(
                &flight(0, 0, None),
                ReplicationState::InProgress,
                None,
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress { stalled: true, .. }
        ));
    }

    #[test]
    fn rpo_measures_newest_copied_restore_point() {
        let obj = Duration::hours(36);
        let r = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(24),
            obj,
        );
        assert_eq!(
            r,
            Rpo {
                current: Some(Duration::hours(24)),
                breached: false,
                breached_since: None,
            }
        );
        let r = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(37),
            obj,
        );
        assert!(r.breached);
        assert_eq!(r.breached_since, Some(T0 + obj));
        // The same breach names the same instant on a later tick.
        let later = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(50),
            obj,
        );
        assert_eq!(later.breached_since, r.breached_since);
        // Never copied: measured from when the chain was first seen.
        let r = rpo(None, T0, T0 + Duration::hours(30), obj);
        assert_eq!(
            r,
            Rpo {
                current: None,
                breached: false,
                breached_since: None,
            }
        );
        let never = rpo(None, T0, T0 + Duration::hours(37), obj);
        assert!(never.breached);
        assert_eq!(never.breached_since, Some(T0 + obj));
    }
    #[test]
    fn target_collection_must_be_the_chains_own() {
        let src = "/subscriptions/s/resourcegroups/rg-app/providers/microsoft.compute/restorepointcollections/rpc-vm1";
        let fits = |source: Option<&str>, loc: Option<&str>| {
            target_collection_fits("dr/rpc", source, loc, src, "westus2")
        };
        // Same source (ARM may answer in another case) and region: fits.
        let upper = src.replace("rg-app", "RG-APP");
        assert_eq!(fits(Some(&upper), Some("westus2")), Ok(()));
        assert_eq!(fits(Some(src), Some("West US 2")), Ok(()));
        // Another resource group's collection of the same name: foreign.
        let other = src.replace("rg-app", "rg-other");
        let e = fits(Some(&other), Some("westus2")).unwrap_err();
        assert_eq!(e.code(), "TargetCollectionForeign");
        assert!(e.to_string().contains("rg-other"), "{e}");
        // A plain collection (no source) or one in another region: foreign too.
        assert!(fits(None, Some("westus2")).is_err());
        assert!(fits(Some(src), Some("eastus")).is_err());
        assert!(fits(Some(src), None).is_err());
        // A prefix is not a match.
        assert!(fits(Some(&format!("{src}2")), Some("westus2")).is_err());
    }
}
