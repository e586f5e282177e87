//! When an alert's condition ends, and the one `Resolved` that says so.
//!
//! Three of ferry's alerts watch a condition that can end by itself: an RPO breach (a copy
//! catches the chain up), a stalled copy (its progress moves again, or it completes) and a
//! failed restore drill (a later drill of the chain succeeds: the chain is proven to restore
//! again). Each is closed by one message with the same alert id as the one that fired and
//! `resolved_at` set, sent once: what marks it sent is in the ledger (the chain's
//! `rpo_alerted` cleared, the copy's `resolved` set, the failed drill's `resolved` set),
//! written after the send, like every alert (a retry raises the same message, which
//! duplicate detection drops).
//! The other kinds report something that happened (a failure, a rejection, an expiry, a
//! deleted base): nothing to resolve.

use crate::alerts::{Alert, AlertKind};
use crate::ledger::drills::{DrillRecord, DrillState};
use crate::ledger::records::{Chain, CopyRecord};
use crate::rules::Rpo;
use time::OffsetDateTime;

/// The subject an RPO breach alert is named by: the chain and when the breach began.
pub fn rpo_subject(chain_key: &str, since: &str) -> String {
    format!("{chain_key}|{since}")
}

/// A chain's RPO breach alert, named by when the breach began (`since`: its `Fired` and its
/// `Resolved` share the id), with the newest source restore point copied.
pub fn rpo_alert(chain: &Chain, since: &str, message: String, at: OffsetDateTime) -> Alert {
    let mut a = super::chain_alert(
        AlertKind::RpoBreached,
        &rpo_subject(&chain.key, since),
        chain,
        message,
        at,
    );
    a.source_restore_point = chain
        .last_success_restore_point
        .as_ref()
        .map(|n| chain.source_collection.restore_point(n).to_string());
    a
}

/// The `Resolved` for the chain's open RPO breach, if it has one and the RPO is within
/// its objective again.
pub fn rpo_resolved(chain: &Chain, rpo: &Rpo, now: OffsetDateTime) -> Option<Alert> {
    let since = chain.rpo_alerted.as_deref()?;
    if rpo.breached {
        return None;
    }
    let fired =
        OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).unwrap_or(now);
    let message = format!(
        "RPO back within its objective for {} → {}",
        chain.source_collection.name, chain.target_region
    );
    Some(rpo_alert(chain, since, message, fired).resolved(now))
}

/// Whether a copy's stall alert is to be resolved now: it fired, was not resolved yet,
/// and the copy is no longer stalled (`still_stalled` is this reading's assessment).
pub fn stall_ends(copy: &CopyRecord, still_stalled: bool) -> bool {
    !still_stalled
        && copy.alerts.contains(&AlertKind::CopyStalled)
        && !copy.resolved.contains(&AlertKind::CopyStalled)
}

/// The `Resolved` of a copy's stall alert (same id as [`super::copy_alert`] gave it),
/// `fired` being when the stall was judged; records it in `copy.resolved`.
pub fn stall_resolved(
    chain: &Chain,
    copy: &mut CopyRecord,
    fired: OffsetDateTime,
    now: OffsetDateTime,
) -> Alert {
    copy.resolved.insert(AlertKind::CopyStalled);
    let message = format!(
        "copy of {} to {} is moving again ({}%)",
        copy.source_restore_point.name,
        chain.target_region,
        copy.last_percent.unwrap_or(0.0)
    );
    super::copy_alert(AlertKind::CopyStalled, chain, copy, message, fired.min(now)).resolved(now)
}

/// A failed drill's `DrillFailed` alert (named by the drill's id).
pub fn drill_failed(rec: &DrillRecord, now: OffsetDateTime) -> Alert {
    let problems = rec.problems.join("; ");
    let mut a = Alert::new(
        AlertKind::DrillFailed,
        &rec.id,
        format!(
            "Restore drill {} of {} failed: {problems}",
            rec.id, rec.copy
        ),
        now,
    );
    a.chain = Some(rec.chain.clone());
    a.target_region = Some(rec.target_region.clone());
    a.target_restore_point = Some(rec.copy.to_string());
    a.reason = Some(problems);
    a.started_at = Some(rec.started);
    a
}

/// The failed drills whose `DrillFailed` is to be resolved now, each with its `Resolved`: a
/// drill of the same chain that started later succeeded. Every unresolved failure before
/// that success is resolved by it; a failure after the chain's newest success stays open.
pub fn drill_failures_resolved(
    drills: &[DrillRecord],
    now: OffsetDateTime,
) -> Vec<(&DrillRecord, Alert)> {
    let mut out = Vec::new();
    for failed in drills
        .iter()
        .filter(|d| d.state == DrillState::Failed && !d.resolved)
    {
        let by = drills
            .iter()
            .filter(|d| {
                d.chain == failed.chain
                    && d.state == DrillState::Succeeded
                    && (d.started, &d.id) > (failed.started, &failed.id)
            })
            .max_by_key(|d| (d.started, &d.id));
        let Some(by) = by else { continue };
        let fired = failed.ended.unwrap_or(failed.started);
        let mut a = drill_failed(failed, fired);
        a.message = format!(
            "Restore drill {} of {} succeeded: the chain restores again (drill {} had failed)",
            by.id, by.copy, failed.id
        );
        a.target_restore_point = Some(by.copy.to_string());
        out.push((failed, a.resolved(now)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    /// Built from a ledger row, so the test does not spell every field of `Chain`.
    fn chain() -> Chain {
        use crate::ledger::{Entity, Value};
        let e = Entity::new("k", crate::ledger::records::CHAIN_ROW)
            .with("SourceCollection", Value::String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc-vm1".into()))
            .with("TargetRegion", Value::String("westus2".into()))
            .with("TargetCollection", Value::String("/subscriptions/s/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/rpc-vm1-westus2".into()))
            .with("CreatedAt", Value::DateTime(T0));
        Chain::from_entity(&e).unwrap()
    }

    #[test]
    fn an_rpo_breach_is_resolved_once_caught_up_with_the_alert_id_it_fired_with() {
        let objective = Duration::hours(24);
        let mut c = chain();
        // Breached since T0 + 24 h (no copy yet): the fired alert's subject.
        let now = T0 + Duration::hours(30);
        let rpo = crate::rules::rpo(None, c.created_at, now, objective);
        assert!(rpo.breached);
        let since = "2026-11-02T00:00:00Z";
        assert_eq!(
            rpo.breached_since,
            Some(
                OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
                    .unwrap()
            )
        );
        // Nothing open yet: nothing to resolve; open but still breached: nothing either.
        assert!(rpo_resolved(&c, &rpo, now).is_none());
        c.rpo_alerted = Some(since.into());
        assert!(rpo_resolved(&c, &rpo, now).is_none());
        // Caught up: a copy of a restore point made 2 hours ago completed.
        let later = T0 + Duration::hours(40);
        let ok = crate::rules::rpo(
            Some(later - Duration::hours(2)),
            c.created_at,
            later,
            objective,
        );
        let r = rpo_resolved(&c, &ok, later).expect("resolved");
        let fired_id = Alert::id_for(AlertKind::RpoBreached, &rpo_subject("k", since));
        assert_eq!(r.id, fired_id);
        assert_eq!(r.kind, AlertKind::RpoBreached);
        assert_eq!(r.resolved_at, Some(later));
        assert_eq!(r.raised_at, T0 + Duration::hours(24));
        // Once the ledger says it is closed (rpo_alerted cleared), never again.
        c.rpo_alerted = None;
        assert!(rpo_resolved(&c, &ok, later).is_none());
    }

    #[test]
    fn only_a_fired_unresolved_stall_ends() {
        let c = chain();
        let mut copy = CopyRecord::pending(&c, &c.source_collection.restore_point("rp1"), T0, T0);
        assert!(!stall_ends(&copy, false));
        copy.alerts.insert(AlertKind::CopyStalled);
        assert!(!stall_ends(&copy, true));
        assert!(stall_ends(&copy, false));
        let r = stall_resolved(
            &c,
            &mut copy,
            T0 + Duration::hours(6),
            T0 + Duration::hours(8),
        );
        assert!(r.is_resolved());
        assert!(!stall_ends(&copy, false));
    }

    fn drill(id: &str, chain: &str, hours: i64, state: DrillState) -> DrillRecord {
        DrillRecord {
            chain: chain.into(),
            id: id.into(),
            copy: "/subscriptions/s/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/t/restorePoints/rp1".parse().unwrap(),
            target_region: "westus2".into(),
            resource_group: "/subscriptions/s/resourceGroups/ferry-drill-westus2".into(),
            started: T0 + Duration::hours(hours),
            state,
            disks: Vec::new(),
            restore_seconds: None,
            problems: vec!["disk x: 1 disk(s) vanished".into()],
            ended: Some(T0 + Duration::hours(hours + 1)),
            cleaned: true,
            resolved: false,
            etag: None,
        }
    }

    #[test]
    fn a_failed_drill_is_resolved_by_a_later_success_of_its_chain_only() {
        use DrillState::*;
        let now = T0 + Duration::days(10);
        let mut drills = vec![
            drill("f1", "a", 0, Failed),
            drill("f2", "a", 24, Failed),
            drill("s1", "a", 48, Succeeded),
            // After the newest success: still open.
            drill("f3", "a", 72, Failed),
            // Another chain's success resolves nothing of "a"; its own failure after it stays.
            drill("s2", "b", 0, Succeeded),
            drill("f4", "b", 24, Failed),
            drill("r1", "a", 96, Running),
        ];
        let got = drill_failures_resolved(&drills, now);
        let ids: Vec<&str> = got.iter().map(|(f, _)| f.id.as_str()).collect();
        assert_eq!(ids, ["f1", "f2"]);
        for (f, a) in &got {
            // The id the failure fired with, its fired time, and what resolved it.
            assert_eq!(a.id, drill_failed(f, now).id);
            assert_eq!(a.kind, AlertKind::DrillFailed);
            assert_eq!(a.raised_at, f.ended.unwrap());
            assert_eq!(a.resolved_at, Some(now));
            assert!(a.message.contains("s1"), "{}", a.message);
        }
        // Marked resolved: nothing more; a later success resolves f3.
        drills[0].resolved = true;
        drills[1].resolved = true;
        assert!(drill_failures_resolved(&drills, now).is_empty());
        drills.push(drill("s3", "a", 120, Succeeded));
        let got = drill_failures_resolved(&drills, now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.id, "f3");
        assert!(got[0].1.message.contains("s3"));
    }
}
