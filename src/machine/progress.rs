//! The decision after a progress reading of a copy in flight: what the copy and chain
//! records become, which alerts to send (each once per copy and kind), whether to delete
//! the target restore point, and the reading to record. The poller reads the target once
//! (`GET …?$expand=instanceView`), calls [`after_reading`], then acts and writes.

use super::{copy_alert, fmt_hours};
use crate::alerts::{Alert, AlertKind, LastReading};
use crate::ledger::records::{Chain, CopyRecord, CopyState, Reading};
use crate::rules::{self, Assessment, CopyLimits, DiskProgress, InFlight, ReplicationState};
use time::OffsetDateTime;

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
    if state != ReplicationState::Failed {
        if let Some(p) = percent {
            if copy.last_percent.is_none_or(|l| p > l) {
                copy.last_progress_at = Some(now);
            }
            copy.last_percent = Some(p);
        }
    }
    let mut alerts = Vec::new();
    let mut chain_changed = false;
    let mut delete_target = false;
    let name = copy.source_restore_point.name.clone();
    let region = chain.target_region.clone();
    match assessment {
        Assessment::Succeeded => {
            copy.state = CopyState::Succeeded;
            copy.ended_at = Some(now);
            chain.in_flight = None;
            if chain
                .last_success_source_time
                .is_none_or(|t| copy.source_time > t)
            {
                chain.last_success_source_time = Some(copy.source_time);
                chain.last_success_restore_point = Some(name);
            }
            chain.last_success_at = Some(now);
            chain_changed = true;
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
                    "copy of {name} to {region} failed after {}; last progress seen: {seen}",
                    fmt_hours(now - started)
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
            chain.in_flight = None;
            chain_changed = true;
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
    Some(Decision {
        chain: chain_changed.then_some(chain),
        copy,
        reading: Some(reading),
        alerts,
        delete_target,
    })
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
        let copy = CopyRecord {
            chain: "k".into(),
            source_restore_point: source.restore_point("rp1"),
            source_vm: Some("vm1".into()),
            source_time: T0,
            target_restore_point: target.restore_point("rp1"),
            state: CopyState::InFlight,
            reason: None,
            requested_at: T0,
            started_at: Some(T0),
            ended_at: None,
            not_before: None,
            defer_count: 0,
            last_reading_at: None,
            last_percent: None,
            last_status: None,
            last_progress_at: Some(T0),
            readings: 0,
            alerts: Default::default(),
            encryption: Default::default(),
            earlier_attempts: Vec::new(),
            superseded_by: None,
            etag: None,
        };
        let chain = Chain {
            key: "k".into(),
            source_collection: source,
            source_region: Some("eastus".into()),
            source_vm: Some("vm1".into()),
            target_region: "westus2".into(),
            target_collection: target,
            created_at: T0,
            in_flight: Some(copy.row_key()),
            active: true,
            watermark: Some(T0),
            base_restore_point: Some("rp1".into()),
            last_success_source_time: None,
            last_success_restore_point: None,
            last_success_at: None,
            recent_starts: vec![T0],
            rpo_alerted: None,
            target_ready: true,
            history: Default::default(),
            etag: None,
        };
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
        assert_eq!(d.chain.as_ref().unwrap().in_flight, None);
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
