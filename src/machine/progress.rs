//! The decision after a progress reading of a copy in flight: what the copy and chain
//! records become, which alerts to send (each once per copy and kind), whether to delete
//! the target restore point, and the reading to record. The poller reads the target once
//! (`GET …?$expand=instanceView`), calls [`after_reading`], then acts and writes.

use super::{copy_alert, fmt_hours, resolve};
use crate::alerts::{Alert, AlertKind, LastReading};
use crate::ledger::records::{Attempt, Chain, CopyRecord, CopyState, Reading};
use crate::rules::{self, Assessment, CopyLimits, DiskProgress, InFlight, ReplicationState};
use time::{Duration, OffsetDateTime};

/// What the poller's one GET of the target restore point showed.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// The target restore point no longer exists (404).
    Gone,
    /// Its disk restore points' replication progress.
    Disks(&'a [DiskProgress]),
}

/// What to do after a reading.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The chain row, when it changes (the copy ended: the chain is free again).
    pub chain: Option<Chain>,
    pub copy: CopyRecord,
    /// The reading to record (none when the target is gone).
    pub reading: Option<Reading>,
    /// Alerts to send before the records are written (their ids make a resend harmless).
    pub alerts: Vec<Alert>,
    /// Delete the target restore point before writing (an expired copy is cleaned up, or
    /// the write waits for the next tick).
    pub delete_target: bool,
}

/// Decides what a reading means for `copy`, the chain's copy in flight. `None` when it is
/// no longer the chain's copy in flight (another instance settled it meanwhile).
pub fn after_reading(
    chain: &Chain,
    copy: &CopyRecord,
    seen: Seen<'_>,
    limits: &CopyLimits,
    now: OffsetDateTime,
) -> Option<Decision> {
    if chain.in_flight.as_deref() != Some(copy.row_key().as_str())
        || copy.state != CopyState::InFlight
    {
        return None;
    }
    let mut chain = chain.clone();
    let mut copy = copy.clone();
    let Seen::Disks(disks) = seen else {
        if (copy.earlier_attempts.len() as u32) < limits.restart_failed {
            // Someone deleted the target mid-copy: nothing to clean up, make it again.
            set_aside(&mut copy, "disappeared", now);
            requeue(&mut chain, &mut copy, now);
            return Some(Decision {
                chain: Some(chain),
                copy,
                reading: None,
                alerts: Vec::new(),
                delete_target: false,
            });
        }
        let reason = "the target restore point disappeared while copying".to_string();
        let mut alerts = Vec::new();
        let message = format!(
            "copy of {} to {} failed: {reason}",
            copy.source_restore_point.name, chain.target_region
        );
        if copy.alerts.insert(AlertKind::CopyFailed) {
            alerts.push(copy_alert(
                AlertKind::CopyFailed,
                &chain,
                &copy,
                message,
                now,
            ));
        }
        copy.state = CopyState::Failed;
        copy.reason = Some(reason);
        copy.ended_at = Some(now);
        chain.in_flight = None;
        return Some(Decision {
            chain: Some(chain),
            copy,
            reading: None,
            alerts,
            delete_target: false,
        });
    };

    let state = rules::replication_state(disks);
    let percent = rules::overall_percent(disks);
    let started = copy.started_at.unwrap_or(copy.requested_at);
    let flight = InFlight {
        started_at: started,
        last_progress_at: copy.last_progress_at.unwrap_or(started),
        last_percent: copy.last_percent,
    };
    let assessment = rules::assess(&flight, state, percent, now, limits);
    let reading = Reading {
        chain: chain.key.clone(),
        source_rp_name: copy.source_restore_point.name.clone(),
        at: now,
        disks: disks.to_vec(),
        percent,
        state: match state {
            ReplicationState::Succeeded => "Succeeded",
            ReplicationState::Failed => "Failed",
            ReplicationState::InProgress => "InProgress",
        }
        .into(),
    };
    // The platform resets the percentage on failure: the alert carries what we saw before.
    let before = copy.last_reading_at.map(|at| LastReading {
        at,
        percent: copy.last_percent,
        status: copy.last_status.clone(),
    });
    copy.readings += 1;
    copy.last_reading_at = Some(now);
    copy.last_status = Some(summarize(disks));
    let waited = now - copy.last_progress_at.unwrap_or(started);
    if state != ReplicationState::Failed {
        if let Some(p) = percent {
            if copy.last_percent.is_none_or(|l| p > l) {
                copy.last_progress_at = Some(now);
                copy.longest_gap_minutes = copy.longest_gap_minutes.max(minutes(waited));
            }
            copy.last_percent = Some(p);
        }
    }
    let restarts_left = (copy.earlier_attempts.len() as u32) < limits.restart_failed;
    let mut alerts = Vec::new();
    let mut chain_changed = false;
    let mut delete_target = false;
    let name = copy.source_restore_point.name.clone();
    let region = chain.target_region.clone();
    // Progress seen again (or done): a stall alert that fired is resolved below. (Not
    // "no longer judged stalled": a first 0 % reading restarts the stall clock without
    // anything having moved.)
    let moving = matches!(
        assessment,
        Assessment::Succeeded
            | Assessment::InProgress {
                progressed: true,
                ..
            }
    );
    match assessment {
        Assessment::Succeeded => {
            copy.state = CopyState::Succeeded;
            copy.ended_at = Some(now);
            copy.longest_gap_minutes = copy.longest_gap_minutes.max(minutes(waited));
            chain.history.record(
                now - started,
                Duration::minutes(i64::from(copy.longest_gap_minutes)),
            );
            chain.in_flight = None;
            if chain
                .last_success_source_time
                .is_none_or(|t| copy.source_time > t)
            {
                chain.last_success_source_time = Some(copy.source_time);
                chain.last_success_restore_point = Some(name);
            }
            chain.last_success_at = Some(now);
            // One more copy held in the target (retention lists only when this warrants);
            // a success also ends a refusal for a count limit.
            chain.upkeep.target_copies = chain.upkeep.target_copies.map(|n| n.saturating_add(1));
            chain.upkeep.limit_reached = None;
            chain_changed = true;
        }
        Assessment::Failed if restarts_left => {
            // The platform reset the percentage on failure: the attempt keeps what we saw before.
            if let Some(b) = &before {
                copy.last_reading_at = Some(b.at);
                copy.last_percent = b.percent;
                copy.last_status = b.status.clone();
            }
            restart(&mut copy, "failed", now);
            delete_target = true;
        }
        Assessment::Failed => {
            copy.state = CopyState::Failed;
            copy.ended_at = Some(now);
            copy.reason = Some("replication failed; the platform reports no error details".into());
            chain.in_flight = None;
            chain_changed = true;
            if copy.alerts.insert(AlertKind::CopyFailed) {
                let seen = before
                    .as_ref()
                    .map(|b| format!("{}% at {}", b.percent.unwrap_or(0.0), b.at))
                    .unwrap_or_else(|| "none".into());
                let message = format!(
                    "copy of {name} to {region} failed after {}; last progress seen: {seen}{}",
                    fmt_hours(now - started),
                    attempts_text(&copy)
                );
                let mut a = copy_alert(AlertKind::CopyFailed, &chain, &copy, message, now);
                a.last_reading = before;
                alerts.push(a);
            }
        }
        Assessment::Expired => {
            delete_target = true;
            copy.state = CopyState::Expired;
            copy.ended_at = Some(now);
            copy.reason = Some(format!(
                "no completion within {}",
                fmt_hours(limits.max_duration)
            ));
            // The chain stays held until the target is gone: a copy being deleted still
            // counts as the collection's copy in progress (see `after_release_check`).
            if copy.alerts.insert(AlertKind::CopyExpired) {
                let message = format!(
                    "copy of {name} to {region} expired after {} at {}%; target restore point deleted, chain moves on",
                    fmt_hours(now - started),
                    copy.last_percent.unwrap_or(0.0)
                );
                alerts.push(copy_alert(
                    AlertKind::CopyExpired,
                    &chain,
                    &copy,
                    message,
                    now,
                ));
            }
        }
        Assessment::InProgress { .. }
            if limits.restart_failed > 0
                && now - copy.last_progress_at.unwrap_or(started)
                    >= rules::stall_limit(
                        limits.restart_stalled_after,
                        chain.history.slowest_gap(),
                    ) =>
        {
            // No progress for longer than this chain's copies plausibly need: this attempt
            // will not finish. Its target is deleted either way (it holds the source's one
            // copy slot in the region); the copy is made again while restarts are left.
            delete_target = true;
            if restarts_left {
                restart(&mut copy, "stalled", now);
            } else {
                let stuck_since = copy.last_progress_at.unwrap_or(started);
                copy.earlier_attempts
                    .push(ended_attempt(&copy, "stalled", now));
                copy.state = CopyState::Failed;
                copy.ended_at = Some(now);
                copy.reason = Some(format!(
                    "no progress since {stuck_since} at {}%; given up after {} attempts",
                    copy.last_percent.unwrap_or(0.0),
                    copy.earlier_attempts.len()
                ));
                // Held until the target is gone, like an expired copy.
                if copy.alerts.insert(AlertKind::CopyFailed) {
                    let message = format!(
                        "copy of {name} to {region} made no progress since {stuck_since}; target restore point deleted, chain moves on{}",
                        attempts_text(&copy)
                    );
                    alerts.push(copy_alert(
                        AlertKind::CopyFailed,
                        &chain,
                        &copy,
                        message,
                        now,
                    ));
                }
            }
        }
        Assessment::InProgress {
            stalled,
            expiry_approaching,
            ..
        } => {
            if stalled && copy.alerts.insert(AlertKind::CopyStalled) {
                let message = format!(
                    "copy of {name} to {region} shows no progress since {} ({}%)",
                    copy.last_progress_at.unwrap_or(started),
                    copy.last_percent.unwrap_or(0.0)
                );
                alerts.push(copy_alert(
                    AlertKind::CopyStalled,
                    &chain,
                    &copy,
                    message,
                    now,
                ));
            }
            if expiry_approaching && copy.alerts.insert(AlertKind::ExpiryApproaching) {
                let message = format!(
                    "copy of {name} to {region} will reach its maximum duration at {} ({}% done)",
                    started + limits.max_duration,
                    copy.last_percent.unwrap_or(0.0)
                );
                alerts.push(copy_alert(
                    AlertKind::ExpiryApproaching,
                    &chain,
                    &copy,
                    message,
                    now,
                ));
            }
        }
    }
    if resolve::stall_ends(&copy, !moving) {
        // When the stall was judged is not kept; `stall_after` past the progress seen
        // before this reading bounds it (the alert id, not this time, pairs the two).
        let fired = now - waited + limits.stall_after;
        alerts.push(resolve::stall_resolved(&chain, &mut copy, fired, now));
    }
    Some(Decision {
        chain: chain_changed.then_some(chain),
        copy,
        reading: Some(reading),
        alerts,
        delete_target,
    })
}

fn minutes(d: Duration) -> u32 {
    d.whole_minutes().clamp(0, i64::from(u32::MAX)) as u32
}

/// The attempt that just ended, with ferry's last reading of it.
fn ended_attempt(copy: &CopyRecord, outcome: &str, now: OffsetDateTime) -> Attempt {
    Attempt {
        started_at: copy.started_at,
        ended_at: now,
        outcome: outcome.to_string(),
        last_reading_at: copy.last_reading_at,
        last_percent: copy.last_percent,
        last_status: copy.last_status.clone(),
    }
}

/// A failed or stalled attempt is set aside: the copy keeps the chain (nothing newer may
/// start while the old target is deleted) and is made again once the target is gone.
fn restart(copy: &mut CopyRecord, outcome: &str, now: OffsetDateTime) {
    set_aside(copy, outcome, now);
    copy.state = CopyState::Restarting;
    copy.reason = Some(format!(
        "attempt {} {outcome}; deleting its target restore point to copy again",
        copy.earlier_attempts.len()
    ));
}

/// The attempt that just ended goes into the copy's history with its last reading; the
/// next attempt's readings start afresh.
fn set_aside(copy: &mut CopyRecord, outcome: &str, now: OffsetDateTime) {
    copy.earlier_attempts
        .push(ended_attempt(copy, outcome, now));
    copy.last_reading_at = None;
    copy.last_percent = None;
    copy.last_status = None;
    copy.last_progress_at = None;
    copy.longest_gap_minutes = 0;
}

/// How long a restart waits for its old target's deletion before it gives up on the copy.
pub const RESTART_DELETE_TIMEOUT: Duration = Duration::hours(6);

/// What the poller's look at a restarting copy's old target comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStep {
    /// Still there: send the DELETE again (it is idempotent) and look at the next tick.
    DeleteAgain,
    /// Gone: the copy waits its turn again (`not_before` backs off); write these.
    Requeued { chain: Chain, copy: CopyRecord },
    /// The target would not go away: the copy is given up (it holds the source's copy slot
    /// in the region), with its alert; write these.
    GiveUp {
        chain: Chain,
        copy: CopyRecord,
        alert: Box<Alert>,
    },
}

/// Decides the next step of `copy`, a restarting copy the chain holds, from whether its old
/// target still exists. `None` when it is not (any more) the chain's restarting copy.
pub fn after_restart_check(
    chain: &Chain,
    copy: &CopyRecord,
    target_exists: bool,
    now: OffsetDateTime,
) -> Option<RestartStep> {
    if chain.in_flight.as_deref() != Some(copy.row_key().as_str())
        || copy.state != CopyState::Restarting
    {
        return None;
    }
    let (mut chain, mut copy) = (chain.clone(), copy.clone());
    if !target_exists {
        requeue(&mut chain, &mut copy, now);
        return Some(RestartStep::Requeued { chain, copy });
    }
    let since = copy.earlier_attempts.last().map_or(now, |a| a.ended_at);
    if now - since < RESTART_DELETE_TIMEOUT {
        return Some(RestartStep::DeleteAgain);
    }
    copy.state = CopyState::Failed;
    copy.ended_at = Some(now);
    copy.reason = Some(format!(
        "its failed target restore point could not be deleted within {} to copy again",
        fmt_hours(RESTART_DELETE_TIMEOUT)
    ));
    chain.in_flight = None;
    copy.alerts.insert(AlertKind::CopyFailed);
    let message = format!(
        "copy of {} to {} failed and could not be restarted: {}{}",
        copy.source_restore_point.name,
        chain.target_region,
        copy.reason.as_deref().unwrap_or_default(),
        attempts_text(&copy)
    );
    let alert = copy_alert(AlertKind::CopyFailed, &chain, &copy, message, now)
        .action("Delete the target restore point by hand; ferry will not copy this restore point again, newer ones continue.");
    Some(RestartStep::GiveUp {
        chain,
        copy,
        alert: Box::new(alert),
    })
}

/// What the poller's look at the target of a settled copy the chain still holds comes to:
/// such a copy ended with its target deleted (expired, or stalled past its restarts), and
/// the chain starts nothing new until that delete is done (a copy being deleted still counts
/// as the target collection's copy in progress).
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseStep {
    /// Still there: send the DELETE again (it is idempotent) and look at the next tick.
    DeleteAgain,
    /// Gone, or not gone after [`RESTART_DELETE_TIMEOUT`] (then the chain moves on anyway,
    /// `stuck` set, rather than hold it forever): write this chain row.
    Release { chain: Box<Chain>, stuck: bool },
}

/// Decides on `copy`, a settled copy the chain holds while its target is deleted. `None`
/// when it is not the chain's held copy, or not settled.
pub fn after_release_check(
    chain: &Chain,
    copy: &CopyRecord,
    target_exists: bool,
    now: OffsetDateTime,
) -> Option<ReleaseStep> {
    if chain.in_flight.as_deref() != Some(copy.row_key().as_str()) || !copy.state.is_final() {
        return None;
    }
    let stuck = target_exists
        && copy
            .ended_at
            .is_some_and(|e| now - e >= RESTART_DELETE_TIMEOUT);
    if target_exists && !stuck {
        return Some(ReleaseStep::DeleteAgain);
    }
    let mut chain = chain.clone();
    chain.in_flight = None;
    chain.active = true;
    Some(ReleaseStep::Release {
        chain: Box::new(chain),
        stuck,
    })
}

/// The copy waits its turn again, after a back-off; the chain is free for the catch-up
/// policy to pick (this copy again, or a newer one that supersedes it).
fn requeue(chain: &mut Chain, copy: &mut CopyRecord, now: OffsetDateTime) {
    copy.state = CopyState::Pending;
    copy.not_before = Some(now + rules::restart_delay(copy.earlier_attempts.len() as u32));
    chain.in_flight = None;
    chain.active = true;
}

/// Every attempt, for the final alert's text.
fn attempts_text(copy: &CopyRecord) -> String {
    if copy.earlier_attempts.is_empty() {
        return String::new();
    }
    let list: Vec<String> = copy
        .earlier_attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "attempt {} {} at {}% (last reading {})",
                i + 1,
                a.outcome,
                a.last_percent.unwrap_or(0.0),
                a.last_reading_at
                    .map_or_else(|| "none".to_string(), |t| t.to_string())
            )
        })
        .collect();
    format!("; {}", list.join("; "))
}

/// `disk=percent%/code` per disk, space-separated (the copy's last status).
pub fn summarize(disks: &[DiskProgress]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(disks.len() * 64);
    for (i, d) in disks.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{}={}%/{}",
            d.disk,
            d.percent.unwrap_or(0.0),
            d.code.as_deref().unwrap_or("-")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CollectionId;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-11-02 00:00 UTC);

    fn coll(rg: &str, name: &str) -> CollectionId {
        format!("/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}")
            .parse()
            .unwrap()
    }

    /// A chain whose copy of `rp1` (created at T0) started at T0 and is in flight.
    fn in_flight() -> (Chain, CopyRecord) {
        let source = coll("rg-app", "rpc-vm1");
        let target = coll("rg-dr", "rg-app-rpc-vm1-westus2");
        let mut chain = Chain {
            key: "k".into(),
            source_collection: source.clone(),
            source_region: Some("eastus".into()),
            source_vm: Some("vm1".into()),
            target_region: "westus2".into(),
            target_collection: target,
            created_at: T0,
            in_flight: None,
            active: true,
            watermark: Some(T0),
            base_restore_point: Some("rp1".into()),
            last_success_source_time: None,
            last_success_restore_point: None,
            last_success_at: None,
            recent_starts: vec![T0],
            rpo_alerted: None,
            upkeep: Default::default(),
            target_ready: true,
            history: Default::default(),
            etag: None,
            rpo_objective: None,
        };
        let copy = CopyRecord {
            state: CopyState::InFlight,
            started_at: Some(T0),
            last_progress_at: Some(T0),
            ..CopyRecord::pending(&chain, &source.restore_point("rp1"), T0, T0)
        };
        chain.in_flight = Some(copy.row_key());
        (chain, copy)
    }

    fn disks(percent: f64, state: &str) -> Vec<DiskProgress> {
        ["os", "data"]
            .iter()
            .map(|d| DiskProgress {
                disk: d.to_string(),
                percent: Some(percent),
                code: Some(format!("ReplicationState/{state}")),
            })
            .collect()
    }

    fn decide(chain: &Chain, copy: &CopyRecord, d: &[DiskProgress], at: Duration) -> Decision {
        after_reading(chain, copy, Seen::Disks(d), &CopyLimits::default(), T0 + at).unwrap()
    }

    fn kinds(d: &Decision) -> Vec<AlertKind> {
        d.alerts.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_copy_that_is_no_longer_in_flight_is_left_alone() {
        let (mut chain, copy) = in_flight();
        let d = disks(50.0, "inProgress");
        let limits = CopyLimits::default();
        chain.in_flight = Some("copy|other".into());
        assert!(after_reading(&chain, &copy, Seen::Disks(&d), &limits, T0).is_none());
        chain.in_flight = None;
        assert!(after_reading(&chain, &copy, Seen::Gone, &limits, T0).is_none());
        let (chain, mut copy) = in_flight();
        for state in [CopyState::Succeeded, CopyState::Failed, CopyState::Starting] {
            copy.state = state;
            assert!(after_reading(&chain, &copy, Seen::Disks(&d), &limits, T0).is_none());
        }
    }

    #[test]
    fn success_frees_the_chain_and_moves_its_rpo() {
        let (chain, copy) = in_flight();
        let d = decide(
            &chain,
            &copy,
            &disks(100.0, "succeeded"),
            Duration::hours(3),
        );
        assert_eq!(d.copy.state, CopyState::Succeeded);
        assert_eq!(d.copy.ended_at, Some(T0 + Duration::hours(3)));
        let c = d.chain.expect("the chain changes");
        assert_eq!(c.in_flight, None);
        assert_eq!(c.last_success_source_time, Some(T0));
        assert_eq!(c.last_success_restore_point.as_deref(), Some("rp1"));
        assert_eq!(c.last_success_at, Some(T0 + Duration::hours(3)));
        assert!(d.alerts.is_empty() && !d.delete_target);
        assert_eq!(d.reading.unwrap().state, "Succeeded");
    }

    fn restarting(n: u32) -> CopyLimits {
        CopyLimits {
            restart_failed: n,
            ..CopyLimits::default()
        }
    }

    fn decide_limits(
        chain: &Chain,
        copy: &CopyRecord,
        d: &[DiskProgress],
        at: Duration,
        l: &CopyLimits,
    ) -> Decision {
        after_reading(chain, copy, Seen::Disks(d), l, T0 + at).unwrap()
    }

    #[test]
    fn success_teaches_the_chain_its_pace() {
        let (chain, mut copy) = in_flight();
        // 0 % for 50 minutes, then 40 % at 1 h, then done at 3 h (a 2 h stretch).
        copy.last_percent = Some(0.0);
        let d1 = decide(
            &chain,
            &copy,
            &disks(40.0, "inProgress"),
            Duration::hours(1),
        );
        assert_eq!(d1.copy.longest_gap_minutes, 60);
        let d2 = decide(
            &chain,
            &d1.copy,
            &disks(100.0, "succeeded"),
            Duration::hours(3),
        );
        let c = d2.chain.unwrap();
        assert_eq!(c.history.copy_minutes, [180]);
        assert_eq!(c.history.slowest_gap_minutes, Some(120));
    }

    #[test]
    fn a_failed_copy_is_restarted_while_restarts_are_left() {
        let (chain, mut copy) = in_flight();
        copy.last_percent = Some(43.0);
        copy.last_reading_at = Some(T0 + Duration::minutes(50));
        let l = restarting(2);
        let d = decide_limits(&chain, &copy, &disks(0.0, "failed"), Duration::hours(1), &l);
        assert_eq!(d.copy.state, CopyState::Restarting);
        assert!(
            d.delete_target,
            "the failed target holds the source's copy slot"
        );
        assert!(d.alerts.is_empty(), "no alert while restarts are left");
        assert!(d.chain.is_none(), "the chain stays held");
        let a = &d.copy.earlier_attempts[0];
        assert_eq!((a.outcome.as_str(), a.last_percent), ("failed", Some(43.0)));
        assert_eq!(a.last_reading_at, Some(T0 + Duration::minutes(50)));
        assert_eq!(d.copy.last_percent, None, "the next attempt starts afresh");
    }

    #[test]
    fn restarts_exhausted_fail_with_one_alert_carrying_every_attempt() {
        let (chain, mut copy) = in_flight();
        let l = restarting(1);
        copy.earlier_attempts.push(crate::alerts::Attempt {
            started_at: Some(T0 - Duration::hours(5)),
            ended_at: T0 - Duration::hours(1),
            outcome: "stalled".into(),
            last_reading_at: Some(T0 - Duration::hours(1)),
            last_percent: Some(0.0),
            last_status: None,
        });
        copy.last_percent = Some(70.0);
        copy.last_reading_at = Some(T0 + Duration::minutes(50));
        let d = decide_limits(&chain, &copy, &disks(0.0, "failed"), Duration::hours(1), &l);
        assert_eq!(d.copy.state, CopyState::Failed);
        assert_eq!(kinds(&d), [AlertKind::CopyFailed]);
        let a = &d.alerts[0];
        assert!(
            a.message.contains("attempt 1 stalled at 0%"),
            "{}",
            a.message
        );
        assert_eq!(a.earlier_attempts.len(), 1);
        assert_eq!(a.last_reading.as_ref().unwrap().percent, Some(70.0));
        assert_eq!(d.chain.unwrap().in_flight, None);
    }

    #[test]
    fn a_stalled_copy_is_restarted_only_past_the_chains_plausible_time() {
        let (mut chain, mut copy) = in_flight();
        copy.last_percent = Some(0.0);
        let l = restarting(2);
        let zero = disks(0.0, "inProgress");
        // The floor (6 h) not yet reached.
        let d = decide_limits(&chain, &copy, &zero, Duration::hours(5), &l);
        assert_eq!(d.copy.state, CopyState::InFlight);
        assert!(!d.delete_target);
        let d = decide_limits(&chain, &copy, &zero, Duration::hours(6), &l);
        assert_eq!(d.copy.state, CopyState::Restarting);
        assert!(d.delete_target);
        assert!(
            d.alerts.is_empty(),
            "no stall warning: the restart is the answer"
        );
        assert_eq!(d.copy.earlier_attempts[0].outcome, "stalled");
        // A chain whose copies once went 3 h without a visible step waits 9 h.
        chain.history.slowest_gap_minutes = Some(180);
        let d = decide_limits(&chain, &copy, &zero, Duration::hours(8), &l);
        assert_eq!(d.copy.state, CopyState::InFlight);
        let d = decide_limits(&chain, &copy, &zero, Duration::hours(9), &l);
        assert_eq!(d.copy.state, CopyState::Restarting);
    }

    #[test]
    fn a_stalled_copy_out_of_restarts_is_given_up_and_deleted() {
        let (chain, mut copy) = in_flight();
        copy.last_percent = Some(0.0);
        copy.earlier_attempts.push(crate::alerts::Attempt {
            started_at: None,
            ended_at: T0,
            outcome: "failed".into(),
            last_reading_at: None,
            last_percent: None,
            last_status: None,
        });
        let d = decide_limits(
            &chain,
            &copy,
            &disks(0.0, "inProgress"),
            Duration::hours(7),
            &restarting(1),
        );
        assert_eq!(d.copy.state, CopyState::Failed);
        assert!(d.delete_target);
        assert_eq!(kinds(&d), [AlertKind::CopyFailed]);
        assert_eq!(d.copy.earlier_attempts.len(), 2);
        assert!(d.chain.is_none(), "held until the target is gone");
    }

    #[test]
    fn a_chain_holding_a_settled_copy_is_released_once_its_target_is_gone() {
        let (chain, copy) = in_flight();
        let at = Duration::days(14) - Duration::minutes(5);
        let d = decide(&chain, &copy, &disks(30.0, "inProgress"), at);
        let copy = d.copy;
        let t = T0 + at + Duration::minutes(10);
        // Not settled, or not held: left alone.
        let (_, flying) = in_flight();
        assert_eq!(after_release_check(&chain, &flying, true, t), None);
        let mut free = chain.clone();
        free.in_flight = None;
        assert_eq!(after_release_check(&free, &copy, false, t), None);
        assert_eq!(
            after_release_check(&chain, &copy, true, t),
            Some(ReleaseStep::DeleteAgain)
        );
        let Some(ReleaseStep::Release { chain: c, stuck }) =
            after_release_check(&chain, &copy, false, t)
        else {
            panic!("not released")
        };
        assert_eq!((c.in_flight, stuck), (None, false));
        // A target that never goes away does not hold the chain forever.
        let Some(ReleaseStep::Release { stuck, .. }) =
            after_release_check(&chain, &copy, true, T0 + at + RESTART_DELETE_TIMEOUT)
        else {
            panic!("not released")
        };
        assert!(stuck);
    }

    #[test]
    fn without_restarts_a_stall_only_warns() {
        let (chain, mut copy) = in_flight();
        copy.last_percent = Some(0.0);
        let d = decide(&chain, &copy, &disks(0.0, "inProgress"), Duration::hours(7));
        assert_eq!(d.copy.state, CopyState::InFlight);
        assert_eq!(kinds(&d), [AlertKind::CopyStalled]);
        assert!(!d.delete_target);
    }

    #[test]
    fn a_vanished_target_is_copied_again_while_restarts_are_left() {
        let (chain, mut copy) = in_flight();
        copy.longest_gap_minutes = 50;
        copy.last_percent = Some(30.0);
        let at = T0 + Duration::hours(2);
        let d = after_reading(&chain, &copy, Seen::Gone, &restarting(1), at).unwrap();
        assert_eq!(d.copy.earlier_attempts[0].last_percent, Some(30.0));
        assert_eq!(
            (d.copy.last_percent, d.copy.longest_gap_minutes),
            (None, 0),
            "the next attempt measures its own pace"
        );
        assert_eq!(d.copy.state, CopyState::Pending);
        assert_eq!(d.copy.not_before, Some(at + rules::restart_delay(1)));
        assert_eq!(d.copy.earlier_attempts[0].outcome, "disappeared");
        assert!(d.alerts.is_empty());
        assert_eq!(d.chain.unwrap().in_flight, None);
    }

    #[test]
    fn a_restart_waits_for_its_old_target_to_go() {
        let (chain, copy) = in_flight();
        let l = restarting(2);
        let d = decide_limits(&chain, &copy, &disks(0.0, "failed"), Duration::hours(1), &l);
        let copy = d.copy;
        let t1 = T0 + Duration::hours(1);
        // Not (any more) the chain's restarting copy: left alone.
        let mut other = chain.clone();
        other.in_flight = None;
        assert_eq!(after_restart_check(&other, &copy, true, t1), None);
        // Still there: delete again.
        assert_eq!(
            after_restart_check(&chain, &copy, true, t1 + Duration::minutes(10)),
            Some(RestartStep::DeleteAgain)
        );
        // Gone: waiting its turn again, after a back-off.
        let Some(RestartStep::Requeued { chain: c, copy: cp }) =
            after_restart_check(&chain, &copy, false, t1 + Duration::minutes(10))
        else {
            panic!("not requeued")
        };
        assert_eq!(
            (cp.state, c.in_flight.as_deref()),
            (CopyState::Pending, None)
        );
        assert!(c.active);
        assert_eq!(
            cp.not_before,
            Some(t1 + Duration::minutes(10) + rules::restart_delay(1))
        );
        // Never gone: given up after the timeout, once, with an alert.
        let Some(RestartStep::GiveUp {
            chain: c,
            copy: cp,
            alert,
        }) = after_restart_check(&chain, &copy, true, t1 + RESTART_DELETE_TIMEOUT)
        else {
            panic!("not given up")
        };
        assert_eq!((cp.state, c.in_flight), (CopyState::Failed, None));
        assert_eq!(alert.kind, AlertKind::CopyFailed);
        assert!(
            alert.message.contains("attempt 1 failed"),
            "{}",
            alert.message
        );
    }

    #[test]
    fn an_older_success_does_not_move_the_rpo_back() {
        let (mut chain, copy) = in_flight();
        chain.last_success_source_time = Some(T0 + Duration::days(1));
        chain.last_success_restore_point = Some("rp9".into());
        let d = decide(
            &chain,
            &copy,
            &disks(100.0, "succeeded"),
            Duration::hours(1),
        );
        let c = d.chain.unwrap();
        assert_eq!(c.last_success_source_time, Some(T0 + Duration::days(1)));
        assert_eq!(c.last_success_restore_point.as_deref(), Some("rp9"));
    }

    #[test]
    fn failure_alerts_once_with_the_reading_seen_before() {
        let (chain, mut copy) = in_flight();
        copy.last_reading_at = Some(T0 + Duration::minutes(50));
        copy.last_percent = Some(40.0);
        copy.last_status = Some("os=40%/ReplicationState/inProgress".into());
        let d = decide(&chain, &copy, &disks(0.0, "failed"), Duration::hours(1));
        assert_eq!(d.copy.state, CopyState::Failed);
        assert_eq!(d.chain.as_ref().unwrap().in_flight, None);
        assert_eq!(kinds(&d), vec![AlertKind::CopyFailed]);
        let a = &d.alerts[0];
        assert_eq!(a.last_reading.as_ref().unwrap().percent, Some(40.0));
        assert!(a.message.contains("40% at"), "{}", a.message);
        // The platform's reset to 0 % is not recorded as our last percentage.
        assert_eq!(d.copy.last_percent, Some(40.0));
        assert!(d.copy.alerts.contains(&AlertKind::CopyFailed));
        // A failure with no earlier reading says so.
        let (chain, copy) = in_flight();
        let d = decide(&chain, &copy, &disks(0.0, "failed"), Duration::minutes(10));
        assert!(d.alerts[0].message.contains("last progress seen: none"));
    }

    #[test]
    fn a_failure_already_alerted_is_not_alerted_again() {
        let (chain, mut copy) = in_flight();
        copy.alerts.insert(AlertKind::CopyFailed);
        let d = decide(&chain, &copy, &disks(0.0, "failed"), Duration::hours(1));
        assert!(d.alerts.is_empty());
        assert_eq!(d.copy.state, CopyState::Failed);
    }

    #[test]
    fn expiry_deletes_the_target_and_alerts_once() {
        let (chain, copy) = in_flight();
        // The last poll before the two weeks run out.
        let at = Duration::days(14) - Duration::minutes(5);
        let d = decide(&chain, &copy, &disks(30.0, "inProgress"), at);
        assert_eq!(d.copy.state, CopyState::Expired);
        assert!(d.delete_target);
        assert_eq!(kinds(&d), vec![AlertKind::CopyExpired]);
        assert!(d.chain.is_none(), "held until the target is gone");
        // A failure at the deadline is the platform's termination: expired too.
        let (chain, copy) = in_flight();
        let d = decide(&chain, &copy, &disks(0.0, "failed"), at);
        assert_eq!(d.copy.state, CopyState::Expired);
        // Already alerted: cleaned up, not alerted again.
        let (chain, mut copy) = in_flight();
        copy.alerts.insert(AlertKind::CopyExpired);
        let d = decide(&chain, &copy, &disks(30.0, "inProgress"), at);
        assert!(d.delete_target && d.alerts.is_empty());
    }

    #[test]
    fn progress_is_recorded_and_only_an_increase_counts_as_progress() {
        let (chain, copy) = in_flight();
        let d = decide(
            &chain,
            &copy,
            &disks(20.0, "inProgress"),
            Duration::minutes(10),
        );
        assert_eq!(d.copy.state, CopyState::InFlight);
        assert!(
            d.chain.is_none(),
            "the chain row is untouched while in flight"
        );
        assert!(d.alerts.is_empty());
        assert_eq!(d.copy.readings, 1);
        assert_eq!(d.copy.last_percent, Some(20.0));
        assert_eq!(d.copy.last_progress_at, Some(T0 + Duration::minutes(10)));
        assert_eq!(
            d.copy.last_status.as_deref(),
            Some("os=20%/ReplicationState/inProgress data=20%/ReplicationState/inProgress")
        );
        let r = d.reading.unwrap();
        assert_eq!((r.percent, r.state.as_str()), (Some(20.0), "InProgress"));
        // The same percentage later: a reading, but no progress.
        let d2 = decide(
            &chain,
            &d.copy,
            &disks(20.0, "inProgress"),
            Duration::minutes(20),
        );
        assert_eq!(d2.copy.readings, 2);
        assert_eq!(d2.copy.last_progress_at, Some(T0 + Duration::minutes(10)));
    }

    #[test]
    fn a_stall_that_moves_again_is_resolved_once_with_its_alert_id() {
        let (chain, copy) = in_flight();
        let d = decide(&chain, &copy, &disks(0.0, "inProgress"), Duration::hours(6));
        assert_eq!(kinds(&d), vec![AlertKind::CopyStalled]);
        let fired = d.alerts[0].clone();
        // Still stuck: nothing.
        let d2 = decide(
            &chain,
            &d.copy,
            &disks(0.0, "inProgress"),
            Duration::hours(7),
        );
        assert!(d2.alerts.is_empty(), "{:?}", d2.alerts);
        // Moving: one Resolved, same id, fired when the stall was judged.
        let d3 = decide(
            &chain,
            &d2.copy,
            &disks(30.0, "inProgress"),
            Duration::hours(8),
        );
        assert_eq!(kinds(&d3), vec![AlertKind::CopyStalled]);
        let r = &d3.alerts[0];
        assert_eq!(r.id, fired.id);
        assert!(r.is_resolved() && !fired.is_resolved());
        assert_eq!(r.resolved_at, Some(T0 + Duration::hours(8)));
        assert!(r.raised_at <= T0 + Duration::hours(8));
        assert!(d3.copy.resolved.contains(&AlertKind::CopyStalled));
        // Moving on, and done: never again.
        let d4 = decide(
            &chain,
            &d3.copy,
            &disks(60.0, "inProgress"),
            Duration::hours(9),
        );
        assert!(d4.alerts.is_empty());
        let d5 = decide(
            &chain,
            &d4.copy,
            &disks(100.0, "succeeded"),
            Duration::hours(10),
        );
        assert!(d5.alerts.iter().all(|a| !a.is_resolved()));
        // A stalled copy that completes is resolved by its success.
        let d6 = decide(
            &chain,
            &d2.copy,
            &disks(100.0, "succeeded"),
            Duration::hours(8),
        );
        assert_eq!(d6.copy.state, CopyState::Succeeded);
        assert_eq!(d6.alerts.iter().filter(|a| a.is_resolved()).count(), 1);
        // A copy that never stalled has nothing to resolve.
        let d7 = decide(
            &chain,
            &copy,
            &disks(30.0, "inProgress"),
            Duration::hours(1),
        );
        assert!(d7.alerts.is_empty());
    }

    #[test]
    fn a_stall_and_an_approaching_expiry_each_alert_once() {
        let (chain, copy) = in_flight();
        // 0 % for 6 hours: stalled.
        let d = decide(&chain, &copy, &disks(0.0, "inProgress"), Duration::hours(6));
        assert_eq!(kinds(&d), vec![AlertKind::CopyStalled]);
        let d2 = decide(
            &chain,
            &d.copy,
            &disks(0.0, "inProgress"),
            Duration::hours(7),
        );
        assert!(d2.alerts.is_empty(), "stall alerted once");
        // 12 days in with no progress since: the expiry warning (stall already sent).
        let d3 = decide(
            &chain,
            &d2.copy,
            &disks(0.0, "inProgress"),
            Duration::days(12),
        );
        assert_eq!(kinds(&d3), vec![AlertKind::ExpiryApproaching]);
        let d4 = decide(
            &chain,
            &d3.copy,
            &disks(0.0, "inProgress"),
            Duration::days(13),
        );
        assert!(d4.alerts.is_empty());
        // Both at once on a first reading that late.
        let d5 = decide(&chain, &copy, &disks(0.0, "inProgress"), Duration::days(12));
        assert_eq!(
            kinds(&d5),
            vec![AlertKind::CopyStalled, AlertKind::ExpiryApproaching]
        );
        // Moving along: neither.
        let d6 = decide(
            &chain,
            &copy,
            &disks(50.0, "inProgress"),
            Duration::hours(6),
        );
        assert!(d6.alerts.is_empty());
    }

    #[test]
    fn a_vanished_target_fails_the_copy_without_a_reading() {
        let (chain, copy) = in_flight();
        let limits = CopyLimits::default();
        let d = after_reading(&chain, &copy, Seen::Gone, &limits, T0).unwrap();
        assert_eq!(d.copy.state, CopyState::Failed);
        assert!(d.copy.reason.as_deref().unwrap().contains("disappeared"));
        assert!(d.reading.is_none() && !d.delete_target);
        assert_eq!(d.chain.as_ref().unwrap().in_flight, None);
        assert_eq!(kinds(&d), vec![AlertKind::CopyFailed]);
        // Alerted once only.
        let mut again = copy.clone();
        again.alerts.insert(AlertKind::CopyFailed);
        let d = after_reading(&chain, &again, Seen::Gone, &limits, T0).unwrap();
        assert!(d.alerts.is_empty());
    }

    #[test]
    fn no_disk_reported_yet_is_in_progress() {
        let (chain, copy) = in_flight();
        let d = decide(&chain, &copy, &[], Duration::minutes(10));
        assert_eq!(d.copy.state, CopyState::InFlight);
        assert_eq!(d.copy.last_percent, None);
    }
    #[test]
    fn summaries_list_every_disk() {
        let d = |disk: &str, percent, code: Option<&str>| DiskProgress {
            disk: disk.into(),
            percent,
            code: code.map(str::to_string),
        };
        assert_eq!(summarize(&[]), "");
        assert_eq!(
            summarize(&[
                d("os_1", Some(37.5), Some("ReplicationState/inProgress")),
                d("data_1", None, None)
            ]),
            "os_1=37.5%/ReplicationState/inProgress data_1=0%/-"
        );
    }
}
