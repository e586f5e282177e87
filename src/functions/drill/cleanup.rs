//! Deleting drill disks, and writing drill records: the two things every step shares.
//!
//! Drill disks are deleted in three places: by the drill itself once its result is recorded
//! ([`delete_disks`]), by a later run when ARM refused that delete ([`clean_up`]), and as the
//! leftovers of a drill whose record was lost or never written ([`delete_leftovers`]).

use std::collections::BTreeSet;

use super::{DrillRun, FnError};
use crate::functions::App;
use crate::ids::{ManagedDiskId, ResourceGroupId};
use crate::ledger::drills::{running_drill_ids, save_drill, DrillRecord, DrillState};
use crate::rules::drill::{self as rules, DRILL_TAG};

pub(super) fn resource_group(rec: &DrillRecord) -> Result<ResourceGroupId, FnError> {
    rec.resource_group
        .parse()
        .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))
}

pub(super) fn disk_id(rg: &ResourceGroupId, name: &str) -> Result<ManagedDiskId, FnError> {
    ManagedDiskId::new(rg, name).map_err(|e| FnError::Other(e.to_string()))
}

/// Deletes a drill's disks (a missing one counts as deleted); `false` when ARM refused a
/// delete, which a later run tries again.
pub(super) async fn delete_disks(app: &App, rec: &DrillRecord) -> Result<bool, FnError> {
    let rg = resource_group(rec)?;
    let mut all = true;
    for d in &rec.disks {
        if let Err(e) = app.arm.delete_disk(&disk_id(&rg, &d.name)?).await {
            tracing::warn!(drill = %rec.id, disk = %d.name, error = %e, "deleting a drill disk failed; a later run deletes it");
            all = false;
        }
    }
    Ok(all)
}

/// Deletes the disks of ended drills whose deletes ARM refused earlier (or whose run stopped
/// between recording the result and deleting).
pub(super) async fn clean_up(app: &App, drills: &[DrillRecord]) -> Result<(), FnError> {
    for rec in drills
        .iter()
        .filter(|d| d.state != DrillState::Running && !d.cleaned)
    {
        let mut rec = rec.clone();
        if delete_disks(app, &rec).await? {
            rec.cleaned = true;
            save(app, &mut rec).await?;
        }
    }
    Ok(())
}

/// Deletes, from one drill resource group, the disks of drills that are not running: the
/// leftovers of a drill that died before its record was written or after it was lost.
/// `running` is what this run read of the ledger at its start. A disk whose drill is not in it
/// may still be a live drill's (started by an overlapping run, or recorded by this run just
/// before an error hid it), so the running drills are read again, after the listing, before
/// anything is deleted: a drill is recorded before its first disk PUT, so every disk listed
/// belongs either to a drill that read finds or to a dead one.
pub(super) async fn delete_leftovers(
    app: &App,
    rg: &ResourceGroupId,
    running: &BTreeSet<String>,
    run: &mut DrillRun,
) -> Result<(), FnError> {
    let present: Vec<(String, Option<String>)> = app
        .arm
        .list_disks(rg)
        .await?
        .into_iter()
        // One being deleted is on its way out already.
        .filter(|d| {
            !d.provisioning_state()
                .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"))
        })
        .filter_map(|d| {
            let tag = d.tag(DRILL_TAG).map(str::to_string);
            d.name.map(|n| (n, tag))
        })
        .collect();
    let known: Vec<&str> = running.iter().map(String::as_str).collect();
    if rules::leftovers(&present, &known).is_empty() {
        return Ok(());
    }
    let now_running = running_drill_ids(app.ledger.as_ref()).await?;
    let all: Vec<&str> = known
        .into_iter()
        .chain(now_running.iter().map(String::as_str))
        .collect();
    for name in rules::leftovers(&present, &all) {
        app.arm.delete_disk(&disk_id(rg, name)?).await?;
        run.leftovers_deleted += 1;
    }
    Ok(())
}

/// Writes a drill record; when another writer changed it since it was read (a lost race),
/// re-reads it and writes again if it is still running. `false`: another run ended it, and
/// its record stands.
pub(super) async fn save(app: &App, rec: &mut DrillRecord) -> Result<bool, FnError> {
    match save_drill(app.ledger.as_ref(), rec).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_race() => {
            let current = app.ledger.get(&rec.chain, &rec.row_key()).await?;
            let Some(current) = current else {
                return Err(e.into());
            };
            let state = DrillRecord::from_entity(&current)
                .map_err(|e| FnError::Other(e.to_string()))?
                .state;
            if state != DrillState::Running {
                return Ok(false);
            }
            rec.etag = current.etag;
            save_drill(app.ledger.as_ref(), rec).await?;
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}
