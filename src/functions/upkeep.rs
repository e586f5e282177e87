//! A chain's target upkeep, run by the poller: target retention (the decision is
//! [`rules::retention::decide`]; this lists, deletes and records) and the warning before the
//! platform's count limit. It lists the chain's copy records (the ledger, not ARM) only when
//! the chain's count or a `maxAge` deadline calls for it; each deletion is one ARM DELETE
//! (a long-running operation, not waited for), paced by the ARM client with the other
//! writes and capped per tick by [`retention::DELETES_PER_TICK`].

use std::collections::BTreeSet;

use super::chain::{self, commit, load_chain, replace_chain, replace_copy};
use super::{App, FnError, Outcome};
use crate::alerts::AlertKind;
use crate::ledger::records::{Chain, CopyRecord, CopyState};
use crate::machine::chain_alert;
use crate::policy::Target;
use crate::rules::retention::{self, Held, Retention};
use time::OffsetDateTime;

/// The copies (ledger rows) of `chain` that a restore is using right now: retention never
/// deletes them. A restore drill still running (its record in the chain's own partition,
/// `ledger::drills`) is using the copy it restores from, until it ends and its disks are
/// gone. One ledger query of the chain's partition; no ARM read.
pub(crate) async fn copies_in_use_by_restores(
    app: &App,
    chain: &Chain,
    copies: &[CopyRecord],
) -> Result<BTreeSet<String>, FnError> {
    let drills = crate::ledger::drills::chain_drills(app.ledger.as_ref(), &chain.key).await?;
    Ok(in_use_rows(&drills, copies))
}

/// The rows of `copies` whose target restore point a running drill restores from.
fn in_use_rows(
    drills: &[crate::ledger::drills::DrillRecord],
    copies: &[CopyRecord],
) -> BTreeSet<String> {
    use crate::ledger::drills::DrillState;
    let restoring: Vec<_> = drills
        .iter()
        .filter(|d| d.state == DrillState::Running || !d.cleaned)
        .map(|d| &d.copy)
        .collect();
    copies
        .iter()
        .filter(|c| restoring.contains(&&c.target_restore_point))
        .map(CopyRecord::row_key)
        .collect()
}

/// Whether the chain's upkeep has anything to decide now, from the chain row alone: the
/// count it holds (raised by each success) has reached the cap (or, with retention off, the
/// warning level), a `maxAge` deadline or an unfinished deletion is due, or it was never
/// counted while it has copies.
pub(crate) fn due(chain: &Chain, retention: Retention, now: OffsetDateTime) -> bool {
    let u = &chain.upkeep;
    if u.due_at.is_some_and(|d| d <= now) {
        return true;
    }
    let Some(count) = u.target_copies else {
        return chain.last_success_at.is_some();
    };
    match retention.cap() {
        Some((cap, _)) => count > cap,
        None => count >= retention::APPROACHING_AT && !u.approaching_alerted,
    }
}

/// Applies the target's retention to the chain now: lists its copies, decides, deletes,
/// records (the copy records stay, marked deleted) and alerts once per condition.
pub(crate) async fn run(
    app: &App,
    target: &Target,
    key: &str,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let Some(mut chain) = load_chain(app, key).await? else {
        return Ok(());
    };
    let copies = chain::copies(app, key, None).await?;
    let held: Vec<Held> = copies
        .iter()
        .filter(|c| c.deleted_at.is_none())
        .filter_map(|c| {
            let ready = match c.state {
                CopyState::Succeeded => true,
                CopyState::InFlight | CopyState::Starting | CopyState::Restarting => false,
                _ => return None,
            };
            Some(Held {
                row: c.row_key(),
                source_time: c.source_time,
                ready,
            })
        })
        .collect();
    let in_use = copies_in_use_by_restores(app, &chain, &copies).await?;
    let decision = retention::decide(
        target.retention,
        &held,
        &in_use,
        now,
        retention::DELETES_PER_TICK,
    );
    let by = if decision.by_default_cap {
        "default cap"
    } else {
        "retention"
    };
    let mut deleted: Vec<CopyRecord> = Vec::new();
    let mut stopped = false;
    for row in &decision.delete {
        let Some(copy) = copies.iter().find(|c| &c.row_key() == row) else {
            continue;
        };
        match app
            .arm
            .delete_restore_point(&copy.target_restore_point)
            .await
        {
            Ok(_) => {
                let mut c = copy.clone();
                c.deleted_at = Some(now);
                c.deleted_by = Some(by.to_string());
                deleted.push(c);
            }
            Err(e) => {
                // Looked at again next tick (a DELETE of what is gone answers 404: done).
                out.log(format!(
                    "retention: {}",
                    crate::arm::locks::delete_failure(&copy.target_restore_point, &e)
                ));
                stopped = true;
                break;
            }
        }
    }
    let mut alerts = Vec::new();
    if decision.by_default_cap && !deleted.is_empty() && !chain.upkeep.cap_alerted {
        alerts.push(chain_alert(
            AlertKind::RetentionCapDeleting,
            &chain.key,
            &chain,
            format!(
                "{} → {}: no retention is configured, so ferry keeps at most {} copies in {} and has started deleting the oldest",
                chain.source_collection.name,
                chain.target_region,
                retention::DEFAULT_CAP,
                chain.target_collection.name
            ),
            now,
        ));
        chain.upkeep.cap_alerted = true;
    }
    if target.retention == Retention::Off
        && decision.held_after >= retention::APPROACHING_AT
        && !chain.upkeep.approaching_alerted
    {
        alerts.push(chain_alert(
            AlertKind::RestorePointLimitApproaching,
            &chain.key,
            &chain,
            format!(
                "{} → {}: the target collection {} holds {} restore points; the platform allows {} and retention is off (\"none\"), so copies will be refused soon. Configure retention or delete old copies.",
                chain.source_collection.name,
                chain.target_region,
                chain.target_collection.name,
                decision.held_after,
                retention::TARGET_LIMIT
            ),
            now,
        ));
        chain.upkeep.approaching_alerted = true;
    }
    let u = &mut chain.upkeep;
    u.checked_at = Some(now);
    u.target_copies = Some(decision.held_after + (decision.delete.len() - deleted.len()) as u32);
    u.deleted += deleted.len() as u32;
    u.due_at = if stopped || decision.more_now {
        Some(now)
    } else {
        decision.due_at
    };
    u.next_deletion = decision
        .next
        .as_deref()
        .and_then(|r| r.split_once('|'))
        .map(|(_, name)| name.to_string());
    // Sent before the write that records them (see `App::raise`).
    app.raise(&alerts).await?;
    let mut ops = vec![replace_chain(&chain)?];
    for c in &deleted {
        ops.push(replace_copy(c)?);
    }
    if commit(app, &chain, ops).await? {
        if !deleted.is_empty() {
            out.log(format!(
                "retention ({by}): deleted {} copies of chain {key}",
                deleted.len()
            ));
        }
        for a in alerts {
            out.alert(a);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::drills::{DrillRecord, DrillState};
    use crate::ledger::{Entity, Value};
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    fn chain() -> Chain {
        let e = Entity::new("k", crate::ledger::records::CHAIN_ROW)
            .with("SourceCollection", Value::String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc-vm1".into()))
            .with("TargetRegion", Value::String("westus2".into()))
            .with("TargetCollection", Value::String("/subscriptions/s/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/rpc-vm1-westus2".into()))
            .with("CreatedAt", Value::DateTime(T0));
        Chain::from_entity(&e).unwrap()
    }

    fn drill(copy: &CopyRecord, state: DrillState, cleaned: bool) -> DrillRecord {
        DrillRecord {
            chain: "k".into(),
            id: "d1".into(),
            copy: copy.target_restore_point.clone(),
            target_region: "westus2".into(),
            resource_group: "/subscriptions/s/resourceGroups/rg-drill".into(),
            started: T0,
            state,
            disks: Vec::new(),
            restore_seconds: None,
            problems: Vec::new(),
            ended: None,
            cleaned,
            resolved: false,
            etag: None,
        }
    }

    #[test]
    fn a_copy_is_in_use_while_a_drill_restores_from_it_or_its_disks_remain() {
        let c = chain();
        let rp = |n: &str| c.source_collection.restore_point(n);
        let copies = [
            CopyRecord::pending(&c, &rp("rp1"), T0, T0),
            CopyRecord::pending(&c, &rp("rp2"), T0, T0),
        ];
        let row = |i: usize| BTreeSet::from([copies[i].row_key()]);
        assert!(in_use_rows(&[], &copies).is_empty());
        assert_eq!(
            in_use_rows(&[drill(&copies[1], DrillState::Running, false)], &copies),
            row(1)
        );
        // Ended, but its disks not yet deleted: still restored from.
        assert_eq!(
            in_use_rows(&[drill(&copies[0], DrillState::Failed, false)], &copies),
            row(0)
        );
        // Ended and cleaned: free to go.
        assert!(in_use_rows(&[drill(&copies[0], DrillState::Succeeded, true)], &copies).is_empty());
    }
}
