//! Starting a drill: read the chain's newest copy, and if it is ready, record the drill and
//! PUT one disk per disk restore point.

use std::collections::BTreeMap;

use super::cleanup::{disk_id, resource_group, save};
use super::{DrillRun, FnError};
use crate::arm::Disk;
use crate::clock::Clock;
use crate::functions::App;
use crate::ids::ResourceGroupId;
use crate::ledger::drills::{insert_drill, DrillDisk, DrillRecord, DrillState};
use crate::ledger::records::Chain;
use crate::rules::drill::{self as rules, DRILL_TAG};
use crate::rules::{readiness, Readiness};

/// Where `chain`'s drills restore their disks: the policy's drill resource group for its
/// target region, in the target collection's subscription.
pub(super) fn drill_resource_group(chain: &Chain, policy: &rules::DrillPolicy) -> ResourceGroupId {
    ResourceGroupId {
        subscription: chain.target_collection.subscription.clone(),
        resource_group: policy.resource_group_for(&chain.target_region),
    }
}

/// Starts a drill of `chain`'s newest succeeded copy; `Ok(Err(why))` when there is nothing
/// ready to drill.
pub(super) async fn start(
    app: &App,
    clock: &dyn Clock,
    chain: &Chain,
    policy: &rules::DrillPolicy,
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
            crate::rules::DiskProgress::reading(
                d.id.as_deref(),
                r.and_then(|r| r.completion_percent),
                r.and_then(|r| r.status.as_ref())
                    .and_then(|s| s.code.as_deref()),
            )
        })
        .collect();
    if let Readiness::NotReady { reason } = readiness(&disks) {
        // Never restore from a copy still replicating: the platform would allow it.
        return Ok(Err(format!(
            "its newest copy {copy} is not ready: {reason}"
        )));
    }
    let rg = drill_resource_group(chain, policy);
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
        resolved: false,
        etag: None,
    };
    // Recorded before the first PUT, so that every drill disk ARM holds belongs to a recorded
    // drill or to a dead one (`delete_leftovers` relies on it).
    insert_drill(app.ledger.as_ref(), &mut rec).await?;
    if put_disks(app, &mut rec).await? {
        // The accepted PUTs and their operations' URLs, for a later run to read each
        // restore's end time. A crash before this write: a later run PUTs them again (the
        // same body; ARM answers the disk as it is), and only the end time's precision is
        // lost (the run's time is used instead).
        save(app, &mut rec).await?;
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
pub(super) async fn put_disks(app: &App, rec: &mut DrillRecord) -> Result<bool, FnError> {
    let rg = resource_group(rec)?;
    let tags = BTreeMap::from([
        (DRILL_TAG.to_string(), rec.id.clone()),
        ("ferry-chain".to_string(), rec.chain.clone()),
    ]);
    let mut accepted = false;
    for d in rec.disks.iter_mut().filter(|d| d.put_pending) {
        let disk_id = disk_id(&rg, &d.name)?;
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
