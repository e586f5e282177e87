//! The `drill` function (timer, `%FERRY_DRILL_SCHEDULE%`) and `ferry drill`: restore drills.
//!
//! One run: (1) plan, per policy rule with `drill`, the chains due ([`rules::drill::plan`]);
//! (2) for each, read its newest succeeded copy once (`$expand=instanceView`) and drill it only
//! if the readiness rule says it is ready; delete earlier drills' leftovers from the drill
//! resource group (by tag); restore one disk per disk restore point, tagged with the drill id;
//! (3) wait for every running drill's disks (reading each disk, paced like every other ARM
//! call), check them, record the result and the restore time (first PUT to last disk seen
//! ready), delete the disks, and raise one `DrillFailed` alert per failed drill.
//!
//! Copies come first: a chain whose copy is waiting to be claimed is not drilled in that run
//! (`copy_due`), and a drill's writes go through the same client pacing as the copies'.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use time::OffsetDateTime;

use super::{App, FnError, Outcome};
use crate::alerts::{Alert, AlertKind};
use crate::arm::Disk;
use crate::clock::Clock;
use crate::ids::{ManagedDiskId, ResourceGroupId};
use crate::ledger::drills::{
    all_drills, insert_drill, save_drill, DrillDisk, DrillRecord, DrillState,
};
use crate::ledger::records::{Chain, CHAIN_ROW};
use crate::ledger::{query_all, Query};
use crate::rules::drill::{
    self as rules, check_disk, stage, ChainDrillView, DiskWait, DrillStage, Expected, LastDrill,
    Observed, DRILL_TAG,
};
use crate::rules::{readiness, Readiness};

/// How a run waits for its drills' disks.
#[derive(Debug, Clone, Copy)]
pub struct DrillSettings {
    /// Real time between two reads of a drill's disks.
    pub poll_every: StdDuration,
    /// Real time one run waits for disks before it leaves the drills running for the next run.
    pub wait_budget: StdDuration,
}

impl DrillSettings {
    /// What the timer-triggered function uses: one step per run, never waiting. A drill is a
    /// state machine across runs (leftovers deleted and disks PUT in one run; disks read, and
    /// once ready checked and deleted, in a later one), so an invocation stays far inside the
    /// Functions timeout and the restore time still comes from ARM's own operation end time.
    pub const STEP: DrillSettings = DrillSettings {
        poll_every: StdDuration::from_secs(15),
        wait_budget: StdDuration::ZERO,
    };
}

impl Default for DrillSettings {
    fn default() -> Self {
        DrillSettings {
            poll_every: StdDuration::from_secs(15),
            wait_budget: StdDuration::from_secs(8 * 60),
        }
    }
}

/// The host's time at the invocation, moving on with this machine's clock: what a drill
/// measures restore times with when the host invokes it.
#[derive(Debug, Clone, Copy)]
pub struct HostClock {
    at: OffsetDateTime,
    since: std::time::Instant,
}

impl HostClock {
    pub fn new(at: OffsetDateTime) -> Self {
        HostClock {
            at,
            since: std::time::Instant::now(),
        }
    }
}

impl Clock for HostClock {
    fn now(&self) -> OffsetDateTime {
        let elapsed =
            time::Duration::try_from(self.since.elapsed()).unwrap_or(time::Duration::ZERO);
        self.at.saturating_add(elapsed)
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct DrillRun {
    pub started: Vec<String>,
    pub succeeded: Vec<DrillRecord>,
    pub failed: Vec<DrillRecord>,
    pub still_running: usize,
    pub leftovers_deleted: usize,
    /// Chains planned but not drilled, and why.
    pub skipped: BTreeMap<String, String>,
    pub outcome: Outcome,
}

async fn all_chains(app: &App) -> Result<Vec<Chain>, FnError> {
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let rows = query_all(app.ledger.as_ref(), &q).await?;
    rows.iter()
        .map(|e| Chain::from_entity(e).map_err(|e| FnError::Other(e.to_string())))
        .collect()
}

/// Runs the drills due (of `only` chains, by key, when given) and waits for every running one.
pub async fn drill(
    app: &App,
    clock: &dyn Clock,
    settings: &DrillSettings,
    only: Option<&BTreeSet<String>>,
) -> Result<DrillRun, FnError> {
    let now = clock.now();
    let mut run = DrillRun::default();
    let drills = all_drills(app.ledger.as_ref()).await?;
    clean_up(app, &drills).await?;
    let mut latest: BTreeMap<String, DrillRecord> = BTreeMap::new();
    for d in drills {
        let newer = latest
            .get(&d.chain)
            .is_none_or(|l| (l.started, &l.id) < (d.started, &d.id));
        if newer {
            latest.insert(d.chain.clone(), d);
        }
    }
    let chains = all_chains(app).await?;
    // Per policy rule: its chains' views.
    let mut groups: BTreeMap<usize, Vec<ChainDrillView>> = BTreeMap::new();
    let mut by_key: BTreeMap<&str, &Chain> = BTreeMap::new();
    for c in &chains {
        if only.is_some_and(|o| !o.contains(&c.key)) {
            continue;
        }
        let Some((rule, _)) = app
            .policy
            .find_target(&c.source_collection, &c.target_region)
        else {
            continue;
        };
        if rule.drill.is_none() {
            continue;
        }
        let Some(idx) = app.policy.rules.iter().position(|r| std::ptr::eq(r, rule)) else {
            continue;
        };
        let last = latest.get(&c.key).map(|d| LastDrill {
            started: d.started,
            succeeded: match d.state {
                DrillState::Running => None,
                s => Some(s == DrillState::Succeeded),
            },
        });
        groups.entry(idx).or_default().push(ChainDrillView {
            chain: c.key.clone(),
            last,
            copy_due: c.active && c.in_flight.is_none(),
            has_ready_copy: c.last_success_restore_point.is_some(),
        });
        by_key.insert(&c.key, c);
    }
    let running_ids: Vec<String> = latest
        .values()
        .filter(|d| d.state == DrillState::Running)
        .map(|d| d.id.clone())
        .collect();
    let mut running: Vec<DrillRecord> = latest
        .values()
        .filter(|d| d.state == DrillState::Running)
        .cloned()
        .collect();
    let mut stop_starting = false;
    for (idx, views) in &groups {
        let Some(policy) = app.policy.rules[*idx].drill.as_ref() else {
            continue;
        };
        for key in rules::plan(views, policy, now) {
            if stop_starting {
                break;
            }
            let Some(chain) = by_key.get(key) else {
                continue;
            };
            let running_now: Vec<&str> = running_ids
                .iter()
                .map(String::as_str)
                .chain(running.iter().map(|d| d.id.as_str()))
                .collect();
            match start(app, clock, chain, policy, &running_now, &mut run).await {
                Ok(Ok(rec)) => {
                    run.started.push(rec.id.clone());
                    running.push(rec);
                }
                Ok(Err(why)) => {
                    run.skipped.insert(key.to_string(), why);
                }
                // ARM or the ledger refusing for now: no more drills start in this run (one
                // recorded before the trouble is unknown to this run, and a later start's
                // leftover cleanup would take its disks); running ones still go on.
                Err(e) => {
                    run.skipped
                        .insert(key.to_string(), format!("not started this run: {e}"));
                    stop_starting = true;
                }
            }
        }
    }
    wait(app, clock, settings, running, &mut run).await?;
    // RTO evidence as a metric too: each drill that ended well this run, by its chain.
    for rec in &run.succeeded {
        let (Some(chain), Some(secs)) = (
            chains.iter().find(|c| c.key == rec.chain),
            rec.restore_seconds,
        ) else {
            continue;
        };
        let dims = crate::telemetry::ChainDims {
            source_collection: chain.source_collection.to_string(),
            target_region: chain.target_region.clone(),
        };
        app.telemetry
            .drill_restore_time(&dims, time::Duration::seconds_f64(secs));
    }
    Ok(run)
}

/// Starts a drill of `chain`'s newest succeeded copy; `Ok(Err(why))` when there is nothing
/// ready to drill.
async fn start(
    app: &App,
    clock: &dyn Clock,
    chain: &Chain,
    policy: &rules::DrillPolicy,
    running: &[&str],
    run: &mut DrillRun,
) -> Result<Result<DrillRecord, String>, FnError> {
    let Some(name) = chain.last_success_restore_point.as_deref() else {
        return Ok(Err("no copy succeeded yet".into()));
    };
    let copy = chain.target_collection.restore_point(name);
    let Some(rp) = app.arm.get_restore_point(&copy, true).await? else {
        return Ok(Err(format!("its newest copy {copy} no longer exists")));
    };
    let disks: Vec<crate::rules::DiskProgress> = rp
        .instance_view_disks()
        .iter()
        .map(|d| {
            let r = d.replication_status.as_ref();
            crate::rules::DiskProgress {
                disk: d
                    .id
                    .as_deref()
                    .and_then(|i| i.rsplit('/').next())
                    .unwrap_or("disk")
                    .to_string(),
                percent: r.and_then(|r| r.completion_percent),
                code: r
                    .and_then(|r| r.status.as_ref())
                    .and_then(|s| s.code.as_deref())
                    .map(str::to_string),
            }
        })
        .collect();
    if let Readiness::NotReady { reason } = readiness(&disks) {
        // Never restore from a copy still replicating: the platform would allow it.
        return Ok(Err(format!(
            "its newest copy {copy} is not ready: {reason}"
        )));
    }
    let rg = ResourceGroupId {
        subscription: chain.target_collection.subscription.clone(),
        resource_group: policy.resource_group_for(&chain.target_region),
    };
    // Earlier drills' leftovers first (a crash mid-drill leaves at most one drill's disks).
    let present: Vec<(String, Option<String>)> = app
        .arm
        .list_disks(&rg)
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
    for name in rules::leftovers(&present, running) {
        let id = ManagedDiskId::new(&rg, name).map_err(|e| FnError::Other(e.to_string()))?;
        app.arm.delete_disk(&id).await?;
        run.leftovers_deleted += 1;
    }
    let id = crate::ids::random_uuid().simple().to_string()[..12].to_string();
    let drill_disks: Vec<DrillDisk> = rp
        .disks()
        .enumerate()
        .filter_map(|(i, d)| {
            Some(DrillDisk {
                name: rules::disk_name(&id, i),
                disk_restore_point: d.disk_restore_point_id?.to_string(),
                size_gb: d.disk_size_gb,
                disk_encryption_set: d.disk_encryption_set_id.map(str::to_string),
                operation: None,
                // Until ARM accepts its PUT (a crash before then: a later run PUTs it).
                put_pending: true,
            })
        })
        .collect();
    if drill_disks.is_empty() {
        return Ok(Err(format!(
            "its newest copy {copy} names no disk restore points"
        )));
    }
    let mut rec = DrillRecord {
        chain: chain.key.clone(),
        id: id.clone(),
        copy,
        target_region: chain.target_region.clone(),
        resource_group: rg.to_string(),
        started: clock.now(),
        state: DrillState::Running,
        disks: drill_disks,
        restore_seconds: None,
        problems: Vec::new(),
        ended: None,
        cleaned: false,
        etag: None,
    };
    // Recorded before the first PUT: a crash after it leaves tagged disks a later drill finds.
    insert_drill(app.ledger.as_ref(), &rec).await?;
    let operations = put_disks(app, &mut rec).await?;
    let reread = |rec: &DrillRecord| {
        let (chain, row) = (rec.chain.clone(), rec.row_key());
        async move { app.ledger.get(&chain, &row).await }
    };
    // Re-read for its ETag (the next write replaces it).
    rec.etag = reread(&rec).await?.and_then(|e| e.etag);
    if operations {
        // The accepted PUTs and their operations' URLs, for a later run to read each
        // restore's end time. A crash before this write: a later run PUTs them again (the
        // same body; ARM answers the disk as it is), and only the end time's precision is
        // lost (the run's time is used instead).
        if save(app, &mut rec).await? {
            rec.etag = reread(&rec).await?.and_then(|e| e.etag);
        }
    }
    run.outcome.log(format!(
        "drill {id} of chain {} started: {} disk(s) from {}",
        chain.key,
        rec.disks.len(),
        rec.copy
    ));
    Ok(Ok(rec))
}

/// PUTs the drill's disks whose PUT is pending; a transient refusal leaves it pending for the
/// next run (ARM throttles and sheds load; a drill should not fail for that), a definitive
/// one is a problem that fails the drill. `true` when a PUT was accepted (the record changed).
async fn put_disks(app: &App, rec: &mut DrillRecord) -> Result<bool, FnError> {
    let rg: ResourceGroupId = rec
        .resource_group
        .parse()
        .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))?;
    let tags = BTreeMap::from([
        (DRILL_TAG.to_string(), rec.id.clone()),
        ("ferry-chain".to_string(), rec.chain.clone()),
    ]);
    let mut accepted = false;
    for d in rec.disks.iter_mut().filter(|d| d.put_pending) {
        let disk_id =
            ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
        let body = Disk::restore_request(
            &rec.target_region,
            &d.disk_restore_point,
            tags.clone(),
            d.disk_encryption_set.as_deref(),
        );
        match app.arm.restore_disk(&disk_id, &body).await {
            Ok(started) => {
                d.operation = started.async_operation.map(|u| u.to_string());
                d.put_pending = false;
                accepted = true;
            }
            Err(e) if e.is_transient() => {}
            Err(e) => {
                d.put_pending = false;
                rec.problems
                    .push(format!("disk {}: restore refused: {e}", d.name));
            }
        }
    }
    Ok(accepted)
}

/// Waits (within the budget) for the running drills, finishing each whose disks all ended.
async fn wait(
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
    let rg: ResourceGroupId = rec
        .resource_group
        .parse()
        .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))?;
    if rec.disks.iter().any(|d| d.put_pending) && put_disks(app, &mut rec).await? {
        if !save(app, &mut rec).await? {
            return Ok(None);
        }
        rec.etag = app
            .ledger
            .get(&rec.chain, &rec.row_key())
            .await?
            .and_then(|e| e.etag);
    }
    let mut waits = Vec::new();
    let mut seen: Vec<Option<Disk>> = Vec::new();
    for d in &rec.disks {
        let id = ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
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

/// Deletes a drill's disks (a missing one counts as deleted); `false` when ARM refused a
/// delete, which a later run tries again.
async fn delete_disks(app: &App, rec: &DrillRecord) -> Result<bool, FnError> {
    let rg: ResourceGroupId = rec
        .resource_group
        .parse()
        .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))?;
    let mut all = true;
    for d in &rec.disks {
        let id = ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
        if let Err(e) = app.arm.delete_disk(&id).await {
            tracing::warn!(drill = %rec.id, disk = %d.name, error = %e, "deleting a drill disk failed; a later run deletes it");
            all = false;
        }
    }
    Ok(all)
}

/// The cleanup step: deletes the disks of ended drills whose deletes ARM refused earlier.
async fn clean_up(app: &App, drills: &[DrillRecord]) -> Result<(), FnError> {
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

/// Writes a drill record; when another writer changed it since it was read (a lost race),
/// re-reads it and writes again if it is still running. `false`: another run ended it, and
/// its record stands.
async fn save(app: &App, rec: &mut DrillRecord) -> Result<bool, FnError> {
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
    // The result is recorded whether or not every delete went through: one ARM refused is
    // deleted by a later run (`clean_up`).
    rec.cleaned = delete_disks(app, &rec).await?;
    rec.ended = Some(clock.now());
    rec.state = if rec.problems.is_empty() {
        DrillState::Succeeded
    } else {
        DrillState::Failed
    };
    if rec.state == DrillState::Failed {
        let mut a = Alert::new(
            AlertKind::DrillFailed,
            &rec.id,
            format!(
                "Restore drill {} of {} failed: {}",
                rec.id,
                rec.copy,
                rec.problems.join("; ")
            ),
            clock.now(),
        );
        a.chain = Some(rec.chain.clone());
        a.target_region = Some(rec.target_region.clone());
        a.target_restore_point = Some(rec.copy.to_string());
        a.reason = Some(rec.problems.join("; "));
        a.started_at = Some(rec.started);
        // Raised before the record says the drill ended: a crash in between raises it again
        // with the same id, which duplicate detection drops.
        app.raise(std::slice::from_ref(&a)).await?;
        run.outcome.alerts.push(a);
    }
    if !save(app, &mut rec).await? {
        // Another run (an overlapping timer run, or `ferry drill`) finished it first.
        return Ok(());
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
