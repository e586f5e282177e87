//! Advancing running drills: PUT what ARM refused for now, read the disks, and once every
//! disk ended, check them, record the result and the restore time, and delete them.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::cleanup::{delete_disks, disk_id, resource_group, save};
use super::start::put_disks;
use super::{DrillRun, DrillSettings, FnError};
use crate::arm::Disk;
use crate::clock::Clock;
use crate::functions::App;
use crate::ledger::drills::{DrillDisk, DrillRecord, DrillState};
use crate::rules::drill::{
    self as rules, check_disk, stage, DiskWait, DrillStage, Expected, Observed,
};

/// Waits (within the budget) for the running drills, finishing each whose disks all ended.
pub(super) async fn wait(
    app: &App,
    clock: &dyn Clock,
    settings: &DrillSettings,
    mut running: Vec<DrillRecord>,
    run: &mut DrillRun,
) -> Result<(), FnError> {
    let deadline = tokio::time::Instant::now() + settings.wait_budget;
    // Per drill and disk: what its restore operation said (start, end) and when this run
    // first saw the disk ended.
    let mut ended: BTreeMap<String, BTreeMap<String, EndedDisk>> = BTreeMap::new();
    loop {
        let mut still = Vec::new();
        for rec in running {
            let id = rec.id.clone();
            match step(app, clock, rec, ended.entry(id.clone()).or_default(), run).await {
                Ok(Some(rec)) => still.push(rec),
                Ok(None) => {}
                // One drill's trouble (ARM or the ledger refusing for now) does not hold up
                // the others: the drill stays running in the ledger, a later run continues it.
                Err(e) => run
                    .outcome
                    .log(format!("drill {id}: {e}; a later run continues it")),
            }
        }
        running = still;
        if running.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(settings.poll_every).await;
    }
    run.still_running = running.len();
    Ok(())
}

/// One step of one running drill: PUT its pending disks, read its disks, and once every disk
/// ended, check, record and clean it up (`None`); `Some` while it waits.
async fn step(
    app: &App,
    clock: &dyn Clock,
    mut rec: DrillRecord,
    ends: &mut BTreeMap<String, EndedDisk>,
    run: &mut DrillRun,
) -> Result<Option<DrillRecord>, FnError> {
    let rg = resource_group(&rec)?;
    if rec.disks.iter().any(|d| d.put_pending)
        && put_disks(app, &mut rec).await?
        && !save(app, &mut rec).await?
    {
        return Ok(None);
    }
    let mut waits = Vec::new();
    let mut seen: Vec<Option<Disk>> = Vec::new();
    for d in &rec.disks {
        let id = disk_id(&rg, &d.name)?;
        if d.put_pending {
            // Not created yet: a later run PUTs it (the drill's time limit applies).
            waits.push(DiskWait::Pending);
            seen.push(None);
            continue;
        }
        let disk = app.arm.get_disk(&id).await?;
        let w = match disk.as_ref().and_then(|x| x.provisioning_state()) {
            None if disk.is_none() => DiskWait::Missing,
            Some(s)
                if ["succeeded", "failed", "canceled"]
                    .contains(&s.to_ascii_lowercase().as_str()) =>
            {
                if !ends.contains_key(&d.name) {
                    if let Some(e) = operation_times(app, clock, &rec, d).await {
                        ends.insert(d.name.clone(), e);
                    }
                }
                if ends.contains_key(&d.name) {
                    // Filled in below, once the restore's start is known.
                    DiskWait::Ended(rec.started)
                } else {
                    // ARM briefly refused the operation read: the next run reads it.
                    DiskWait::Pending
                }
            }
            _ => DiskWait::Pending,
        };
        waits.push(w);
        seen.push(disk);
    }
    let starts: Vec<OffsetDateTime> = ends.values().filter_map(|e| e.start).collect();
    let first_put = rules::restore_started(rec.started, &starts);
    for (w, d) in waits.iter_mut().zip(&rec.disks) {
        if let (DiskWait::Ended(at), Some(e)) = (w, ends.get(&d.name)) {
            *at = rules::ready_at(first_put, e.end, e.seen);
        }
    }
    match stage(first_put, &waits, clock.now()) {
        DrillStage::Waiting if rec.problems.is_empty() => Ok(Some(rec)),
        st => finish(app, clock, rec, st, &seen, run).await.map(|()| None),
    }
}

/// A drill disk seen ended: its restore operation's start and end as ARM reported them, and
/// when this run saw it.
struct EndedDisk {
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    seen: OffsetDateTime,
}

/// Reads (once) the restore operation of a disk this run sees ended, for ARM's own start and
/// end times. Only for precision: a read ARM refuses for good leaves the times to the run's
/// clock; `None` when it was refused for now (throttled, unavailable) and is worth another
/// run's read.
async fn operation_times(
    app: &App,
    clock: &dyn Clock,
    rec: &DrillRecord,
    d: &DrillDisk,
) -> Option<EndedDisk> {
    let op = match d.operation.as_deref().map(url::Url::parse) {
        Some(Ok(url)) => match app.arm.get_disk_operation(&url).await {
            Ok(op) => op,
            Err(e) if e.is_transient() => return None,
            Err(e) => {
                tracing::warn!(drill = %rec.id, disk = %d.name, error = %e, "reading the disk's restore operation failed; its ready time is this run's");
                None
            }
        },
        _ => None,
    };
    Some(EndedDisk {
        start: op.as_ref().and_then(|o| o.start_time),
        end: op.and_then(|o| o.end_time),
        seen: clock.now(),
    })
}

/// Checks a drill's disks, records the result, deletes the disks, alerts on failure.
async fn finish(
    app: &App,
    clock: &dyn Clock,
    mut rec: DrillRecord,
    st: DrillStage,
    seen: &[Option<Disk>],
    run: &mut DrillRun,
) -> Result<(), FnError> {
    match st {
        DrillStage::Restored { restore_time } => {
            rec.restore_seconds = Some(restore_time.as_seconds_f64());
        }
        DrillStage::Broken { missing, timed_out } => {
            if missing > 0 {
                rec.problems
                    .push(format!("{missing} disk(s) vanished before they were ready"));
            }
            if timed_out {
                rec.problems.push(format!(
                    "disks not ready {} hours after the first restore",
                    rules::DRILL_TIMEOUT.whole_hours()
                ));
            }
        }
        DrillStage::Waiting => {}
    }
    for (d, disk) in rec.disks.iter().zip(seen) {
        let Some(disk) = disk else { continue };
        let p = disk.properties.as_ref();
        let want = Expected {
            disk_restore_point: &d.disk_restore_point,
            location: &rec.target_region,
            size_gb: d.size_gb,
            disk_encryption_set: d.disk_encryption_set.as_deref(),
        };
        let got = Observed {
            provisioning_state: disk.provisioning_state(),
            size_gb: p.and_then(|p| p.disk_size_gb),
            location: disk.location.as_deref(),
            disk_encryption_set: p
                .and_then(|p| p.encryption.as_ref())
                .and_then(|e| e.disk_encryption_set_id.as_deref()),
            source_resource_id: p
                .and_then(|p| p.creation_data.as_ref())
                .and_then(|c| c.source_resource_id.as_deref()),
        };
        for problem in check_disk(&want, &got) {
            rec.problems.push(format!("disk {}: {problem}", d.name));
        }
    }
    rec.ended = Some(clock.now());
    rec.state = if rec.problems.is_empty() {
        DrillState::Succeeded
    } else {
        DrillState::Failed
    };
    rec.cleaned = false;
    if rec.state == DrillState::Failed {
        let a = crate::machine::resolve::drill_failed(&rec, clock.now());
        // Raised before the record says the drill ended: a crash in between raises it again
        // with the same id, which duplicate detection drops.
        app.raise(std::slice::from_ref(&a)).await?;
        run.outcome.alerts.push(a);
    }
    // The result is recorded before the disks are deleted: a run that stops in between leaves
    // an ended drill's disks, which the next run's `clean_up` deletes. The other way round, it
    // would leave a running drill without disks, which the next run would fail as vanished.
    if !save(app, &mut rec).await? {
        // Another run (an overlapping timer run, or `ferry drill`) finished it first.
        return Ok(());
    }
    if delete_disks(app, &rec).await? {
        rec.cleaned = true;
        if let Err(e) = save(app, &mut rec).await {
            // Only the `cleaned` mark is lost: a later run deletes again (missing disks count
            // as deleted) and marks it.
            tracing::warn!(drill = %rec.id, error = %e, "recording a drill's disks as deleted failed; a later run does it");
        }
    }
    run.outcome.log(format!(
        "drill {} of chain {} {}{}",
        rec.id,
        rec.chain,
        rec.state.as_str(),
        rec.restore_seconds
            .map(|s| format!(", restore time {s:.0} s"))
            .unwrap_or_default()
    ));
    if rec.state == DrillState::Succeeded {
        run.succeeded.push(rec);
    } else {
        run.failed.push(rec);
    }
    Ok(())
}
