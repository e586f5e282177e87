//! ARM response bodies: `serde_json::from_slice` into every `ferry::arm::model` type ferry
//! reads, then every accessor the engine uses, the copy request built from a source restore
//! point, and the public rules over the progress ARM reports. Properties: nothing panics,
//! a body read and written back reads back the same (the models keep unknown fields), and
//! the rules agree with each other.
#![no_main]

mod common;

use ferry::arm::model::{
    ArmErrorBody, CopyRequest, DiskRestorePoint, DiskRestorePointList, OperationStatus,
    RestorePoint, RestorePointCollection, RestorePointCollectionList, RestorePointProgress,
};
use ferry::ids::{DiskEncryptionSetId, RestorePointId};
use ferry::rules::{self, Readiness, ReplicationState};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Reads `data` as `T`; if it reads, writing it out and reading again gives the same JSON.
fn read<T: DeserializeOwned + Serialize>(data: &[u8]) -> Option<T> {
    let t: T = serde_json::from_slice(data).ok()?;
    let first = serde_json::to_value(&t).expect("a model serializes");
    let back: T = serde_json::from_value(first.clone())
        .unwrap_or_else(|e| panic!("written model does not read back: {e}\n{first}"));
    let second = serde_json::to_value(&back).expect("a model serializes");
    assert!(
        common::json_eq(&first, &second),
        "round trip changed\n{first}\n{second}"
    );
    Some(t)
}

fn restore_point(rp: &RestorePoint) {
    let _ = (
        rp.is_copy(),
        rp.source_restore_point_id(),
        rp.security_type(),
    );
    let _ = (
        rp.is_confidential_vm(),
        rp.time_created(),
        rp.provisioning_state(),
    );
    let _ = (
        rp.source_location(),
        rp.vm_unique_id(),
        rp.instance_view_statuses(),
    );
    for d in rp.disks() {
        let _ = d.is_customer_key();
    }
    // The copy request for this source, mapping each source DES to a same-named target DES.
    if let Some(id) = rp
        .id
        .as_deref()
        .and_then(|i| i.parse::<RestorePointId>().ok())
    {
        let built = CopyRequest::for_source(&id, rp, |des| {
            let mut d: DiskEncryptionSetId = des.parse().ok()?;
            d.resource_group.push_str("-dr");
            Some(d)
        });
        match built {
            Ok(req) => {
                let v = serde_json::to_value(&req).expect("copy request serializes");
                assert_eq!(v["properties"]["sourceRestorePoint"]["id"], id.to_string());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    for d in rp.instance_view_disks() {
        if let Some(r) = &d.replication_status {
            let _ = (r.is_succeeded(), r.is_failed());
            if let Some(p) = r.percent() {
                assert!(p <= 100);
            }
        }
    }
}

/// Progress as the poller and the readiness check read it (the slim model and the poller's
/// own reduction), through the public rules.
fn progress(p: &RestorePointProgress) {
    let disks = ferry::functions::poller::disk_progress(p);
    let state = rules::replication_state(&disks);
    let _ = rules::overall_percent(&disks);
    // Restorable exactly when the copy counts as succeeded.
    let ready = rules::readiness(&disks) == Readiness::Ready;
    assert_eq!(ready, state == ReplicationState::Succeeded, "{disks:?}");
}

fn disk_restore_point(d: &DiskRestorePoint) {
    let _ = (
        d.uses_private_link(),
        d.completion_percent(),
        d.replication_state(),
    );
}

fn collection(c: &RestorePointCollection) {
    let _ = (c.provisioning_state(), c.source_id(), c.source_location());
    for rp in c.restore_points() {
        restore_point(rp);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(rp) = read::<RestorePoint>(data) {
        restore_point(&rp);
    }
    // Read-only (never written back), so not through `read`.
    if let Ok(p) = serde_json::from_slice::<RestorePointProgress>(data) {
        progress(&p);
    }
    if let Some(c) = read::<RestorePointCollection>(data) {
        collection(&c);
    }
    if let Some(list) = read::<RestorePointCollectionList>(data) {
        list.value.iter().for_each(collection);
    }
    if let Some(d) = read::<DiskRestorePoint>(data) {
        disk_restore_point(&d);
    }
    if let Some(list) = read::<DiskRestorePointList>(data) {
        list.value.iter().for_each(disk_restore_point);
    }
    if let Some(op) = read::<OperationStatus>(data) {
        let _ = (op.status.as_str(), op.status.is_terminal());
    }
    if let Some(e) = read::<ArmErrorBody>(data) {
        let _ = e.error.code.len();
    }
});
