//! Ferry's own ARM client, talking to the emulator, must send and receive only what the
//! official swagger allows. Every request/response pair goes through a recording proxy on
//! loopback and is checked with Microsoft's `oav validate-traffic` against the swagger vendored
//! in `tests/fixtures/swagger/` from Azure/azure-rest-api-specs (Compute 2025-04-01, DiskRP
//! 2025-01-02; paths and commits in its SOURCES.md), so the client
//! is configured with exactly those api-versions. The emulator's own traffic is checked the
//! same way in tests/emulator.rs (`emulator_traffic_passes_oav`).
//!
//! Left out, because none of the copied swagger files describes them: the operation-status
//! polls (`…/locations/{l}/operations/{id}`) that `operation_status`/`wait_operation` make.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::oav::{RecordingProxy, Traffic};
use common::{collection, rg, rp, World, SUB, TOKEN};
use ferry::arm::{ArmClient, ArmConfig, ArmError, CopyRequest, Deleted, OperationState};
use ferry::auth::DevToken;
use ferry::ids::{CollectionId, DiskEncryptionSetId, DiskRestorePointId, RestorePointId};
use serde_json::json;
use time::Duration;
use url::Url;

const COMPUTE_API: &str = "2025-04-01";
const DISK_API: &str = "2025-01-02";

fn client(endpoint: &str) -> ArmClient {
    ArmClient::new(
        ArmConfig {
            endpoint: Url::parse(endpoint).unwrap(),
            compute_api_version: COMPUTE_API.into(),
            disk_api_version: DISK_API.into(),
            // One attempt: every exchange the test causes is one traffic file.
            max_attempts: 1,
            read_limit: None,
            write_limit: None,
            ..Default::default()
        },
        Arc::new(DevToken::new(TOKEN)),
    )
    .unwrap()
}

fn des(rg_name: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg_name}/providers/Microsoft.Compute/diskEncryptionSets/{name}")
}

fn target_collection(vm: &str) -> CollectionId {
    format!("{}/restorePointCollections/rpc-{vm}-westus2", rg("rg-dr"))
        .parse()
        .unwrap()
}

/// A VM whose OS and data disks are encrypted with a customer-managed key, and its collection.
async fn cmk_vm(w: &World, name: &str) {
    let key = json!({"diskEncryptionSet": {"id": des("rg-app", "des-east")}});
    w.put(
        &format!("{}/virtualMachines/{name}", rg("rg-app")),
        json!({"location": "eastus", "properties": {"storageProfile": {
            "osDisk": {"name": format!("{name}-os"), "diskSizeGB": 64, "managedDisk": key},
            "dataDisks": [{"lun": 0, "name": format!("{name}-data"), "diskSizeGB": 128, "managedDisk": key}]}},
            "tags": {"ferry-emulator:usedPercent": "50"}}),
    )
    .await;
    w.put(
        &collection(name),
        json!({"location": "eastus", "properties": {"source": {"id": format!("{}/virtualMachines/{name}", rg("rg-app"))}}}),
    )
    .await;
}

/// One full copy the way ferry makes it: look at the target collection, create it, inspect the
/// source, start the copy (with target disk encryption sets for CMK disks), poll its progress.
async fn copy_chain(w: &World, arm: &ArmClient, vm: &str) -> RestorePointId {
    let source_coll: CollectionId = collection(vm).parse().unwrap();
    let target_coll = target_collection(vm);
    assert!(arm
        .get_collection(&target_coll, false)
        .await
        .unwrap()
        .is_none());
    let source = arm
        .get_collection(&source_coll, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source.restore_points().len(), 1);
    let tags = BTreeMap::from([("ferry".to_string(), "managed".to_string())]);
    let created = arm
        .create_collection(&target_coll, "westus2", &source_coll, tags.clone())
        .await
        .unwrap();
    assert_eq!(created.location.as_deref(), Some("westus2"));
    // Creating it again is idempotent (200).
    arm.create_collection(&target_coll, "westus2", &source_coll, tags)
        .await
        .unwrap();
    assert!(arm
        .get_collection(&target_coll, false)
        .await
        .unwrap()
        .is_some());

    let source_rp: RestorePointId = rp(vm, "rp1").parse().unwrap();
    let rp_plain = arm
        .get_restore_point(&source_rp, false)
        .await
        .unwrap()
        .unwrap();
    let rp_view = arm
        .get_restore_point(&source_rp, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rp_plain.id, rp_view.id);
    let drps = arm.list_disk_restore_points(&source_rp).await.unwrap();
    assert_eq!(drps.len(), 2, "{drps:?}");
    let drp_id: DiskRestorePointId = drps[0].id.as_deref().unwrap().parse().unwrap();
    assert!(arm.get_disk_restore_point(&drp_id).await.unwrap().is_some());

    let request = CopyRequest::for_source(&source_rp, &rp_plain, |d| {
        assert!(d.ends_with("/des-east"), "{d}");
        Some(
            des("rg-dr", "des-westus2")
                .parse::<DiskEncryptionSetId>()
                .unwrap(),
        )
    })
    .unwrap();
    assert_eq!(
        request.properties.source_metadata.is_some(),
        vm.starts_with("cmk"),
        "{request:?}"
    );
    let target = target_coll.restore_point("rp1");
    let started = arm.start_copy(&target, &request).await.unwrap();
    assert_eq!(started.status, 201);
    let op = started
        .async_operation
        .clone()
        .expect("Azure-AsyncOperation");
    assert_eq!(
        arm.operation_status(&op).await.unwrap().status,
        OperationState::InProgress
    );
    // The same PUT again is idempotent; a second copy of the same source is refused (409).
    assert_eq!(arm.start_copy(&target, &request).await.unwrap().status, 201);
    match arm
        .start_copy(&target_coll.restore_point("rp1-again"), &request)
        .await
    {
        Err(ArmError::Api { status: 409, .. }) => {}
        other => panic!("expected 409, got {other:?}"),
    }
    w.clock.advance(Duration::minutes(10));
    let progress = arm.get_restore_point(&target, true).await.unwrap().unwrap();
    assert!(progress.properties.is_some());
    assert_eq!(
        arm.list_disk_restore_points(&target).await.unwrap().len(),
        2
    );
    let with_copies = arm
        .get_collection(&target_coll, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_copies.restore_points().len(), 1);
    target
}

#[tokio::test]
async fn arm_client_traffic_passes_oav() {
    let w = World::new(100.0).await;
    w.vm("plain").await;
    w.restore_point("plain", "rp1").await;
    cmk_vm(&w, "cmk").await;
    w.restore_point("cmk", "rp1").await;
    w.clock.advance(Duration::minutes(6));

    let traffic = Arc::new(Traffic::new());
    let proxy = RecordingProxy::start(w.url.clone(), traffic.clone()).await;
    let arm = client(&proxy.url);

    let plain = copy_chain(&w, &arm, "plain").await;
    copy_chain(&w, &arm, "cmk").await;

    // Things that are not there.
    let missing: RestorePointId = rp("plain", "nope").parse().unwrap();
    assert!(arm
        .get_restore_point(&missing, true)
        .await
        .unwrap()
        .is_none());
    let missing_drp: DiskRestorePointId = format!("{}/diskRestorePoints/nope", rp("plain", "rp1"))
        .parse()
        .unwrap();
    assert!(arm
        .get_disk_restore_point(&missing_drp)
        .await
        .unwrap()
        .is_none());

    // Delete a copy: 202 with an operation, then 204 once gone; a missing collection is 404.
    let deleted = arm.delete_restore_point(&plain).await.unwrap();
    assert!(
        matches!(deleted, Deleted::Done { status: 202, .. }),
        "{deleted:?}"
    );
    let op = deleted.operation_url().unwrap().clone();
    // The emulator's delete runs a simulated minute (a long-running operation, as in Azure).
    w.clock.advance(Duration::minutes(1));
    let done = arm
        .wait_operation(&op, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, OperationState::Succeeded);
    assert!(matches!(
        arm.delete_restore_point(&plain).await.unwrap(),
        Deleted::Done { status: 204, .. }
    ));
    let nowhere = target_collection("gone").restore_point("rp1");
    assert_eq!(
        arm.delete_restore_point(&nowhere).await.unwrap(),
        Deleted::AlreadyGone
    );

    // Throttled: a second emulator whose read bucket holds one token and does not refill.
    let tight = World::with_config(|c| c.limits.reads = Some((1, 0.0))).await;
    let tight_proxy = RecordingProxy::start(tight.url.clone(), traffic.clone()).await;
    let tight_arm = client(&tight_proxy.url);
    let coll = target_collection("plain");
    assert!(tight_arm
        .get_collection(&coll, false)
        .await
        .unwrap()
        .is_none());
    match tight_arm.get_collection(&coll, false).await {
        Err(ArmError::Throttled { .. }) => {}
        other => panic!("expected 429, got {other:?}"),
    }

    let left_out = traffic.left_out();
    // Two copy operations looked at once, one delete operation waited for.
    assert_eq!(left_out.len(), 3, "{left_out:#?}");
    assert!(
        left_out
            .iter()
            .all(|l| l.starts_with("GET ") && l.contains("/operations/")),
        "{left_out:#?}"
    );
    traffic
        .assert_valid(&[
            "RestorePointCollections_Get",
            "RestorePointCollections_CreateOrUpdate",
            "RestorePoints_Get",
            "RestorePoints_Create",
            "RestorePoints_Delete",
            "DiskRestorePoint_ListByRestorePoint",
            "DiskRestorePoint_Get",
        ])
        .await;
}
