//! The platform's count and frequency limits on restore points and collections, enforced
//! by the emulator with its own counting (not the product's): restore points per VM, copies
//! per target collection (modelled), collections per subscription and region, and the
//! minimum interval between one VM's restore points. Each refusal is counted in
//! `EmulatorStats::limit_refusals` (not a rule violation: the limits are the estate's, and
//! a tool that keeps within them must prune, which is what the demo measures).

use time::{Duration, OffsetDateTime};

use super::rules::Refusal;
use super::state::{CollectionKind, RpKind, State};

/// At most this many restore points per VM at a time, across all its collections
/// (Restore points overview and support matrix).
pub(crate) const MAX_RESTORE_POINTS_PER_VM: usize = 500;
/// Copies in one cross-region target collection. Not documented for targets: modelled on
/// the per-VM limit, since a target collection holds one VM's restore points.
pub(crate) const MAX_COPIES_PER_TARGET_COLLECTION: usize = 500;
/// Restore point collections per subscription per region (support matrix).
pub(crate) const MAX_COLLECTIONS_PER_REGION: usize = 10_000;
/// The least time between two crash-consistent restore points of one VM.
pub(crate) const MIN_INTERVAL_CRASH: Duration = Duration::HOUR;
/// The least time between two application-consistent restore points of one VM.
pub(crate) const MIN_INTERVAL_APP: Duration = Duration::hours(3);

/// The error code of a refused restore point creation (the platform's client-error code
/// for restore point operations).
pub(crate) const RP_LIMIT_CODE: &str = "VMRestorePointClientError";
/// The error code of a refused collection creation (a subscription quota).
pub(crate) const COLLECTION_LIMIT_CODE: &str = "QuotaExceeded";

/// Names of the limits, as counted in `EmulatorStats::limit_refusals_by_limit`.
pub(crate) mod limit {
    pub const PER_VM: &str = "restore-points-per-vm";
    pub const PER_TARGET_COLLECTION: &str = "copies-per-target-collection";
    pub const COLLECTIONS_PER_REGION: &str = "collections-per-subscription-region";
    pub const MIN_INTERVAL: &str = "min-interval-between-restore-points";
}

/// Counts a refusal and returns it as the reply to send.
pub(crate) fn refuse(
    st: &mut State,
    which: &'static str,
    code: &'static str,
    msg: String,
) -> Refusal {
    st.stats.limit_refusals += 1;
    *st.stats
        .limit_refusals_by_limit
        .entry(which.to_string())
        .or_default() += 1;
    Refusal::new(409, code, msg)
}

/// Crash-consistent restore points may be made hourly; application- and file-system-
/// consistent ones (which run the VM's writers) every 3 hours. Each interval is held
/// between restore points of its own kind.
fn interval_of(mode: &str) -> Duration {
    if mode.eq_ignore_ascii_case("CrashConsistent") {
        MIN_INTERVAL_CRASH
    } else {
        MIN_INTERVAL_APP
    }
}

fn crash(mode: &str) -> bool {
    mode.eq_ignore_ascii_case("CrashConsistent")
}

/// May VM `vm_key` make a restore point of consistency `mode` at `now`? Its restore points
/// across all its collections (those being deleted still count until they are gone) must be
/// fewer than the limit, and its newest one of the same kind at least the minimum interval old.
pub(crate) fn check_local(
    st: &mut State,
    vm_key: &str,
    mode: &str,
    now: OffsetDateTime,
    min_interval: bool,
) -> Result<(), Refusal> {
    let mut count = 0;
    let mut newest_same: Option<OffsetDateTime> = None;
    for c in st.collections.values() {
        if !matches!(&c.kind, CollectionKind::Local { vm } if vm == vm_key) {
            continue;
        }
        count += c.rps.len();
        for rp in &c.rps {
            if matches!(rp.kind, RpKind::Local { .. }) && crash(&rp.consistency_mode) == crash(mode)
            {
                newest_same = Some(newest_same.map_or(rp.time_created, |n| n.max(rp.time_created)));
            }
        }
    }
    if count >= MAX_RESTORE_POINTS_PER_VM {
        return Err(refuse(
            st,
            limit::PER_VM,
            RP_LIMIT_CODE,
            format!("The virtual machine already has {count} restore points; at most {MAX_RESTORE_POINTS_PER_VM} restore points are allowed per virtual machine. Delete restore points that are no longer needed and try again."),
        ));
    }
    let min = interval_of(mode);
    if let Some(last) = newest_same.filter(|_| min_interval) {
        if now - last < min {
            return Err(refuse(
                st,
                limit::MIN_INTERVAL,
                RP_LIMIT_CODE,
                format!("A {mode} restore point of this virtual machine was created at {last}; the minimum interval between such restore points is {} minutes.", min.whole_minutes()),
            ));
        }
    }
    Ok(())
}

/// May one more copy go into target collection `tkey`?
pub(crate) fn check_copy_count(st: &mut State, tkey: &str, max: usize) -> Result<(), Refusal> {
    let n = st.collections.get(tkey).map_or(0, |c| c.rps.len());
    if n >= max {
        return Err(refuse(
            st,
            limit::PER_TARGET_COLLECTION,
            RP_LIMIT_CODE,
            format!("The restore point collection already holds {n} restore points; at most {max} are allowed. Delete restore points that are no longer needed and try again."),
        ));
    }
    Ok(())
}

/// May subscription `sub` create one more collection in `region`?
pub(crate) fn check_collection_count(
    st: &mut State,
    sub: &str,
    region: &str,
) -> Result<(), Refusal> {
    let n = st
        .collections
        .values()
        .filter(|c| c.id.subscription.eq_ignore_ascii_case(sub) && c.location == region)
        .count();
    if n >= MAX_COLLECTIONS_PER_REGION {
        return Err(refuse(
            st,
            limit::COLLECTIONS_PER_REGION,
            COLLECTION_LIMIT_CODE,
            format!("The subscription already has {n} restore point collections in '{region}'; at most {MAX_COLLECTIONS_PER_REGION} are allowed per region."),
        ));
    }
    Ok(())
}

/// Records the size of target collection `tkey` after a copy went in.
pub(crate) fn note_target_size(st: &mut State, tkey: &str) {
    let n = st.collections.get(tkey).map_or(0, |c| c.rps.len());
    st.stats.target_restore_points_max = st.stats.target_restore_points_max.max(n as u64);
}

/// Whether local restore point `key` is its collection's base: the oldest one still there.
pub(crate) fn is_base(st: &State, key: &str) -> bool {
    let Some((ckey, _)) = key.rsplit_once("/restorepoints/") else {
        return false;
    };
    let Some(c) = st.collections.get(ckey) else {
        return false;
    };
    if !matches!(c.kind, CollectionKind::Local { .. }) {
        return false;
    }
    c.rps
        .iter()
        .filter(|r| r.deleting.is_none())
        .min_by_key(|r| r.time_created)
        .is_some_and(|r| r.id.key() == key)
}

/// Counts a DELETE of restore point `key` accepted from ferry (its User-Agent): a source
/// restore point pruned, and whether it was its collection's base.
pub(crate) fn note_delete(st: &mut State, key: &str, user_agent: Option<&str>) {
    if !user_agent.is_some_and(|u| u.starts_with("restore-point-ferry/")) {
        return;
    }
    let local = st
        .find_rp(key)
        .is_some_and(|r| matches!(r.kind, RpKind::Local { .. }));
    if !local {
        return;
    }
    let base = is_base(st, key);
    st.stats.source_deleted_by_ferry += 1;
    if base {
        st.stats.base_deleted_by_ferry += 1;
    }
}
