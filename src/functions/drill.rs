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
    for (idx, views) in &groups {
        let Some(policy) = app.policy.rules[*idx].drill.as_ref() else {
            continue;
        };
        for key in rules::plan(views, policy, now) {
            let Some(chain) = by_key.get(key) else {
                continue;
            };
            let running_now: Vec<&str> = running_ids
                .iter()
                .map(String::as_str)
                .chain(running.iter().map(|d| d.id.as_str()))
                .collect();
            match start(app, clock, chain, policy, &running_now, &mut run).await? {
                Ok(rec) => {
                    run.started.push(rec.id.clone());
                    running.push(rec);
                }
                Err(why) => {
                    run.skipped.insert(key.to_string(), why);
                }
            }
        }
    }
    wait(app, clock, settings, running, &mut run).await?;
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
    let tags = BTreeMap::from([
        (DRILL_TAG.to_string(), id.clone()),
        ("ferry-chain".to_string(), chain.key.clone()),
    ]);
    for d in &rec.disks {
        let disk_id =
            ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
        let body = Disk::restore_request(
            &chain.target_region,
            &d.disk_restore_point,
            tags.clone(),
            d.disk_encryption_set.as_deref(),
        );
        if let Err(e) = app.arm.restore_disk(&disk_id, &body).await {
            rec.problems
                .push(format!("disk {}: restore refused: {e}", d.name));
        }
    }
    // Re-read for its ETag (the next write replaces it).
    rec.etag = app
        .ledger
        .get(&rec.chain, &rec.row_key())
        .await?
        .and_then(|e| e.etag);
    run.outcome.log(format!(
        "drill {id} of chain {} started: {} disk(s) from {}",
        chain.key,
        rec.disks.len(),
        rec.copy
    ));
    Ok(Ok(rec))
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
    // Per drill: when each disk was first seen ended.
    let mut ended: BTreeMap<String, BTreeMap<String, OffsetDateTime>> = BTreeMap::new();
    loop {
        let mut still = Vec::new();
        for rec in running {
            let rg: ResourceGroupId = rec
                .resource_group
                .parse()
                .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))?;
            let mut waits = Vec::new();
            let mut seen: Vec<Option<Disk>> = Vec::new();
            let ends = ended.entry(rec.id.clone()).or_default();
            for d in &rec.disks {
                let id =
                    ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
                let disk = app.arm.get_disk(&id).await?;
                let w = match disk.as_ref().and_then(|x| x.provisioning_state()) {
                    None if disk.is_none() => DiskWait::Missing,
                    Some(s)
                        if ["succeeded", "failed", "canceled"]
                            .contains(&s.to_ascii_lowercase().as_str()) =>
                    {
                        DiskWait::Ended(*ends.entry(d.name.clone()).or_insert_with(|| clock.now()))
                    }
                    _ => DiskWait::Pending,
                };
                waits.push(w);
                seen.push(disk);
            }
            match stage(rec.started, &waits, clock.now()) {
                DrillStage::Waiting if rec.problems.is_empty() => still.push(rec),
                st => finish(app, clock, rec, st, &seen, run).await?,
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
    let rg: ResourceGroupId = rec
        .resource_group
        .parse()
        .map_err(|e: crate::ids::IdError| FnError::Other(e.to_string()))?;
    for d in &rec.disks {
        let id = ManagedDiskId::new(&rg, &d.name).map_err(|e| FnError::Other(e.to_string()))?;
        app.arm.delete_disk(&id).await?;
    }
    rec.cleaned = true;
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
    save_drill(app.ledger.as_ref(), &rec).await?;
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
