//! The demo's restore drills: the policy's compressed drill period, and the report's
//! `drills` block — what the ledger recorded, checked against the emulator's own counts
//! (disks still present, restores from unfinished copies) and against the goal that every
//! chain with a ready copy has a successful drill within each drill period.

use super::{DemoError, TICK};
use crate::clock::{Clock, ManualClock};
use crate::ledger::drills::{all_drills, DrillRecord, DrillState};
use crate::ledger::records::{Chain, CopyRecord, CopyState, CHAIN_ROW, COPY_PREFIX};
use crate::ledger::{query_all, Ledger, Query};
use crate::sim::emulator::Emulator;
use crate::sim::host::Host;
use serde::Serialize;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// The demo's drill period (policy `drill.every`): daily, so a 20-day run drills each chain
/// about twenty times (deployed policies would say e.g. `P7D`).
pub(super) const DRILL_EVERY: Duration = Duration::days(1);

/// The drill timer's schedule in the demo: every tick, as `%FERRY_DRILL_SCHEDULE%`. Each run
/// advances running drills one step and starts the due ones.
pub(super) const DRILL_SCHEDULE: &str = "0 */10 * * * *";

/// At most this many drill timer runs after the scenario's last tick, to finish the drills
/// still running then.
const WIND_DOWN_TICKS: i32 = 12;

/// The tag each drill disk carries, its value the drill's id (docs/drills.md).
const DRILL_TAG: &str = "ferry-drill";

/// Time given to the last drills' disk deletes before disks are counted.
const DELETE_SETTLE: Duration = Duration::minutes(5);

/// A drill is due when its period ends; the timer's run that starts it comes at most one
/// tick later. A gap longer than this between a chain's successful drills (or from its first
/// ready copy to its first successful drill, or from its last one to the end) is a period
/// without one.
const PERIOD_SLACK: Duration = TICK;

/// After the scenario's last tick, drills still running finish on the drill timer's next runs
/// (only it fires; a run may start a newly due drill too), and what those runs raise is
/// delivered. Bounded: whatever disks are left after it are reported as leftovers. Then the
/// last deletes complete (Azure: tens of seconds) before disks are counted.
pub(super) async fn wind_down(
    host: &Host,
    clock: &ManualClock,
    emu: &Emulator,
    scenario_end: OffsetDateTime,
) -> Result<(), DemoError> {
    let host_err = |e: &dyn std::fmt::Display| DemoError::Host(e.to_string());
    for k in 1..=WIND_DOWN_TICKS {
        if emu.disks_present() == 0 {
            break;
        }
        let at = scenario_end + TICK * k;
        clock.set(at);
        if host
            .timer_due(crate::functions::DRILL, at - TICK, at)
            .map_err(|e| host_err(&e))?
        {
            host.fire_timer(crate::functions::DRILL)
                .await
                .map_err(|e| host_err(&e))?;
            // A drill failing now raises its alert: the webhook delivers it like any other.
            host.run_until_idle().await.map_err(|e| host_err(&e))?;
        }
    }
    clock.set(clock.now() + DELETE_SETTLE);
    Ok(())
}

/// The policy's `drill` for the demo's source rule.
pub(super) fn policy_drill() -> serde_json::Value {
    serde_json::json!({"every": format!("PT{}H", DRILL_EVERY.whole_hours()), "sample": "all"})
}

/// One chain's drills.
#[derive(Debug, Clone, Serialize)]
pub struct ChainDrills {
    pub chain: String,
    pub run: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// The last drill's state, and its restore time when it succeeded.
    pub last_state: Option<String>,
    pub last_restore_seconds: Option<f64>,
    /// The longest time without a successful drill while the chain had a ready copy (from its
    /// first succeeded copy to the end of the run); None when it never had a ready copy.
    pub longest_gap_hours: Option<f64>,
}

/// `drills` in `ferry demo --json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrillsReport {
    pub every_hours: i64,
    pub run: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Still running at the end (the demo winds drills down after its last tick).
    pub running: usize,
    pub restore_seconds_p50: Option<f64>,
    pub restore_seconds_max: Option<f64>,
    /// Managed disks the emulator still holds at the end that no running drill owns: leaked
    /// (must be 0).
    pub leftover_disks: usize,
    /// Disks of drills still running at the end (their next timer run goes on with them).
    pub in_progress_disks: usize,
    /// Disks restored from a copy whose replication had not finished, as the emulator
    /// counted them (must be 0).
    pub unsafe_restores: u64,
    pub chains_with_ready_copy: usize,
    /// Chains with a ready copy that went longer than a drill period (plus one timer tick)
    /// without a successful drill.
    pub chains_undrilled_in_period: usize,
    pub longest_gap_hours: Option<f64>,
    /// Chains with a ready copy that went longer than a period (plus a tick) without a drill
    /// starting at all, whatever its outcome: the scheduling alone, apart from drills that
    /// failed (a failure shows in `chains_undrilled_in_period` as a double gap).
    pub chains_unattempted_in_period: usize,
    pub longest_attempt_gap_hours: Option<f64>,
    /// Failed drills whose chain was drilled again in the next period (started within one
    /// period and one tick after the failed one started) …
    pub failed_retried_next_period: usize,
    /// … and failed drills whose chain was not (must be 0, except those too near the end).
    pub failed_not_retried: usize,
    /// Failed drills less than a period and a tick before the end: no next period to see.
    pub failed_near_end: usize,
    /// Failed drills a later drill of the same chain succeeded after …
    pub failed_then_succeeded: usize,
    /// … and of those, the ones whose `DrillFailed` was resolved (must be equal).
    pub failures_resolved: usize,
    /// What the first failed drills reported (at most ten), to see why.
    pub failures: Vec<String>,
    pub per_chain: Vec<ChainDrills>,
}

fn hours(d: Duration) -> f64 {
    (d.as_seconds_f64() / 360.0).round() / 10.0
}

/// The longest gap in `points`, sorted, from `from` to `to`.
fn longest_gap(from: OffsetDateTime, points: &[OffsetDateTime], to: OffsetDateTime) -> Duration {
    let mut last = from;
    let mut longest = Duration::ZERO;
    for p in points.iter().copied().filter(|p| *p >= from).chain([to]) {
        longest = longest.max(p - last);
        last = p;
    }
    longest
}

/// The `drills` block, from the ledger's drill and copy records and the emulator's counts.
/// `end` is the scenario's last tick (the wind-down after it only finishes drills).
pub(super) async fn build(
    ledger: &dyn Ledger,
    emu: &Emulator,
    end: OffsetDateTime,
) -> Result<DrillsReport, DemoError> {
    let err = |e: &dyn std::fmt::Display| DemoError::Setup(e.to_string());
    let drills = all_drills(ledger).await.map_err(|e| err(&e))?;
    // A disk is a leak unless a drill the ledger says is still running owns it, by the tag
    // docs/drills.md promises every drill disk carries (read from the emulator's own state).
    let running: std::collections::BTreeSet<&str> = drills
        .iter()
        .filter(|d| d.state == DrillState::Running)
        .map(|d| d.id.as_str())
        .collect();
    let (owned, leaked): (Vec<_>, Vec<_>) = emu
        .disk_tags(DRILL_TAG)
        .into_iter()
        .partition(|t| t.as_deref().is_some_and(|id| running.contains(id)));
    let (in_progress_disks, leftover_disks) = (owned.len(), leaked.len());
    let mut by_chain: BTreeMap<String, Vec<DrillRecord>> = BTreeMap::new();
    for d in drills {
        by_chain.entry(d.chain.clone()).or_default().push(d);
    }
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let mut r = DrillsReport {
        every_hours: DRILL_EVERY.whole_hours(),
        leftover_disks,
        in_progress_disks,
        unsafe_restores: emu.stats().unsafe_restores,
        ..DrillsReport::default()
    };
    let mut times = Vec::new();
    for row in query_all(ledger, &q).await.map_err(|e| err(&e))? {
        let chain = Chain::from_entity(&row).map_err(|e| err(&e))?;
        // When the chain first had a ready copy: its first copy's end.
        let copies = query_all(
            ledger,
            &Query::partition(&chain.key).row_prefix(COPY_PREFIX),
        )
        .await
        .map_err(|e| err(&e))?;
        let mut ready_from = None;
        for c in &copies {
            let c = CopyRecord::from_entity(c).map_err(|e| err(&e))?;
            if c.state == CopyState::Succeeded {
                if let Some(t) = c.ended_at {
                    ready_from = Some(ready_from.map_or(t, |r: OffsetDateTime| r.min(t)));
                }
            }
        }
        let mut ds = by_chain.remove(&chain.key).unwrap_or_default();
        ds.sort_by_key(|d| d.started);
        let ok: Vec<OffsetDateTime> = ds
            .iter()
            .filter(|d| d.state == DrillState::Succeeded)
            .map(|d| d.started)
            .collect();
        let gap = ready_from
            .filter(|f| *f < end)
            .map(|f| longest_gap(f, &ok, end));
        if let Some(g) = gap {
            r.chains_with_ready_copy += 1;
            if g > DRILL_EVERY + PERIOD_SLACK {
                r.chains_undrilled_in_period += 1;
            }
        }
        let attempts: Vec<OffsetDateTime> = ds.iter().map(|d| d.started).collect();
        if let Some(g) = ready_from
            .filter(|f| *f < end)
            .map(|f| longest_gap(f, &attempts, end))
        {
            if g > DRILL_EVERY + PERIOD_SLACK {
                r.chains_unattempted_in_period += 1;
            }
            let h = hours(g);
            r.longest_attempt_gap_hours = Some(r.longest_attempt_gap_hours.map_or(h, |m| m.max(h)));
        }
        for (i, d) in ds.iter().enumerate() {
            match d.state {
                DrillState::Succeeded => {
                    r.succeeded += 1;
                    times.extend(d.restore_seconds);
                }
                DrillState::Running => r.running += 1,
                DrillState::Failed => {
                    r.failed += 1;
                    if r.failures.len() < 10 {
                        r.failures
                            .push(format!("{} {}: {}", d.chain, d.id, d.problems.join("; ")));
                    }
                    if ds[i + 1..].iter().any(|n| n.state == DrillState::Succeeded) {
                        r.failed_then_succeeded += 1;
                        r.failures_resolved += usize::from(d.resolved);
                    }
                    let next_due = d.started + DRILL_EVERY + PERIOD_SLACK;
                    if next_due > end {
                        r.failed_near_end += 1;
                    } else if ds[i + 1..].iter().any(|n| n.started <= next_due) {
                        r.failed_retried_next_period += 1;
                    } else {
                        r.failed_not_retried += 1;
                    }
                }
            }
        }
        r.run += ds.len();
        let last = ds.last();
        r.per_chain.push(ChainDrills {
            chain: format!("{} → {}", chain.source_collection.name, chain.target_region),
            run: ds.len(),
            succeeded: ok.len(),
            failed: ds.iter().filter(|d| d.state == DrillState::Failed).count(),
            last_state: last.map(|d| d.state.as_str().to_string()),
            last_restore_seconds: last.and_then(|d| d.restore_seconds),
            longest_gap_hours: gap.map(hours),
        });
    }
    r.longest_gap_hours = r
        .per_chain
        .iter()
        .filter_map(|c| c.longest_gap_hours)
        .max_by(f64::total_cmp);
    (r.restore_seconds_p50, r.restore_seconds_max) =
        crate::rules::drill::restore_time_summary(&times).unzip();
    r.per_chain.sort_by(|a, b| a.chain.cmp(&b.chain));
    Ok(r)
}

/// The invariants the drills must keep.
pub(super) fn broken(r: &DrillsReport) -> Vec<String> {
    let mut out = Vec::new();
    if r.leftover_disks != 0 {
        out.push(format!("leftover_disks = {}", r.leftover_disks));
    }
    if r.unsafe_restores != 0 {
        out.push(format!("unsafe_restores = {}", r.unsafe_restores));
    }
    if r.failures_resolved != r.failed_then_succeeded {
        out.push(format!(
            "drills: {} failures followed by a success, {} resolved",
            r.failed_then_succeeded, r.failures_resolved
        ));
    }
    out
}

/// The human report's drill lines.
pub(super) fn print_human(r: &DrillsReport) {
    println!();
    println!(
        "Restore drills (every {} h): {} run, {} succeeded, {} failed, {} running; restore time p50 {} s, max {} s",
        r.every_hours,
        r.run,
        r.succeeded,
        r.failed,
        r.running,
        r.restore_seconds_p50.map_or("-".into(), |s| format!("{s:.0}")),
        r.restore_seconds_max.map_or("-".into(), |s| format!("{s:.0}")),
    );
    println!(
        "  leftover disks {} (of running drills: {}), unsafe restores {}; chains with a ready copy {}, undrilled in a period {} (no drill started in a period: {}); failures resolved by a later success {} of {}",
        r.leftover_disks, r.in_progress_disks, r.unsafe_restores, r.chains_with_ready_copy, r.chains_undrilled_in_period, r.chains_unattempted_in_period, r.failures_resolved, r.failed_then_succeeded
    );
    println!(
        "  {:<34} {:>4} {:>4} {:>5} {:>10} {:>10} {:>9}",
        "chain", "run", "ok", "fail", "last", "last s", "gap h"
    );
    for c in &r.per_chain {
        println!(
            "  {:<34} {:>4} {:>4} {:>5} {:>10} {:>10} {:>9}",
            c.chain,
            c.run,
            c.succeeded,
            c.failed,
            c.last_state.as_deref().unwrap_or("-"),
            c.last_restore_seconds
                .map_or("-".into(), |s| format!("{s:.0}")),
            c.longest_gap_hours
                .map_or("-".into(), |h| format!("{h:.1}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn longest_gap_counts_from_ready_to_first_and_from_last_to_end() {
        let from = datetime!(2026-11-01 06:00 UTC);
        let end = datetime!(2026-11-05 00:00 UTC);
        let at = |h: i64| from + Duration::hours(h);
        assert_eq!(longest_gap(from, &[], end), end - from);
        assert_eq!(
            longest_gap(from, &[at(1), at(25), at(49), at(73)], end),
            Duration::hours(24)
        );
        // A failed period shows as a double gap.
        assert_eq!(
            longest_gap(from, &[at(1), at(49)], end),
            Duration::hours(48)
        );
        // Points before the first ready copy do not count.
        assert_eq!(
            longest_gap(from, &[from - Duration::hours(5)], end),
            end - from
        );
    }
}
