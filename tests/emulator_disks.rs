//! The emulator's managed disks (`Microsoft.Compute/disks`), the Disk RP surface a restore
//! drill uses: a disk restored from a (copied) disk restore point by a long-running PUT, GET,
//! list, a long-running DELETE, the `DiskOperations` behind their headers, the refusals, the
//! count of restores from a copy whose replication had not finished, and the traffic checked
//! with `oav validate-traffic` against the official `disk.json`.

mod common;

use std::sync::Arc;

use common::oav::{RecordingProxy, Traffic};
use common::{collection, rg, rp, World, SUB, TOKEN};
use serde_json::{json, Value};
use time::Duration;

const DISK_API: &str = "2025-01-02";

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, n: &str) -> &str {
        self.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn call(base: &str, method: reqwest::Method, url: &str, body: Option<Value>) -> Resp {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{base}{url}{sep}api-version={DISK_API}")
    };
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn target_collection() -> String {
    format!("{}/restorePointCollections/rpc-vm1-westus2", rg("rg-dr"))
}

fn disk(name: &str) -> String {
    format!("{}/disks/{name}", rg("rg-drill"))
}

fn restore_body(location: &str, source: &str) -> Value {
    json!({"location": location, "tags": {"ferry-drill": "d1"},
        "properties": {"creationData": {"createOption": "Restore", "sourceResourceId": source}}})
}

/// VM `vm1` (OS disk 64 GB, data disk 128 GB) with restore point `rp1`, copied to westus2 as
/// `c1`; the ids of the copy's disk restore points (OS disk first).
async fn copied(w: &World) -> Vec<String> {
    w.vm("vm1").await;
    w.restore_point("vm1", "rp1").await;
    w.clock.advance(Duration::minutes(6));
    w.put(
        &target_collection(),
        json!({"location": "westus2", "properties": {"source": {"id": collection("vm1")}}}),
    )
    .await;
    let c1 = format!("{}/restorePoints/c1", target_collection());
    w.put(
        &c1,
        json!({"properties": {"sourceRestorePoint": {"id": rp("vm1", "rp1")}}}),
    )
    .await;
    let list = call(
        &w.url,
        reqwest::Method::GET,
        &format!("{c1}/diskRestorePoints"),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let mut ids: Vec<(bool, String)> = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["properties"]["osType"].is_null(),
                d["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn a_disk_is_restored_from_a_copied_disk_restore_point_and_deleted() {
    use reqwest::Method as M;
    let w = World::new(10_000.0).await;
    let drps = copied(&w).await;
    w.clock.advance(Duration::hours(1));
    let put = call(
        &w.url,
        M::PUT,
        &disk("os"),
        Some(restore_body("westus2", &drps[0])),
    )
    .await;
    assert_eq!(put.status, 202, "{}", put.body);
    assert_eq!(put.body["properties"]["provisioningState"], "Updating");
    let op = put.header("Azure-AsyncOperation").to_string();
    assert!(op.contains("/locations/westus2/DiskOperations/"), "{op}");
    let monitor = put.header("Location").to_string();
    assert!(monitor.contains("monitor=true"), "{monitor}");
    // Re-PUT of the same restore is idempotent.
    let again = call(
        &w.url,
        M::PUT,
        &disk("os"),
        Some(restore_body("westus2", &drps[0])),
    )
    .await;
    assert_eq!(again.status, 200);
    let status = call(&w.url, M::GET, &op, None).await;
    assert_eq!(status.body["status"], "InProgress");
    assert_eq!(call(&w.url, M::GET, &monitor, None).await.status, 202);
    let got = call(&w.url, M::GET, &disk("os"), None).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Updating");

    w.clock.advance(Duration::minutes(5));
    let status = call(&w.url, M::GET, &op, None).await;
    assert_eq!(status.body["status"], "Succeeded", "{}", status.body);
    assert_eq!(
        status.body["properties"]["output"]["properties"]["diskSizeGB"],
        64
    );
    let done = call(&w.url, M::GET, &monitor, None).await;
    assert_eq!(done.status, 200);
    let got = call(&w.url, M::GET, &disk("os"), None).await.body;
    let p = &got["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["diskSizeGB"], 64);
    assert_eq!(p["osType"], "Linux");
    assert_eq!(got["location"], "westus2");
    assert_eq!(got["tags"]["ferry-drill"], "d1");
    assert_eq!(p["creationData"]["createOption"], "Restore");
    assert_eq!(p["creationData"]["sourceResourceId"], drps[0].as_str());
    assert_eq!(p["encryption"]["type"], "EncryptionAtRestWithPlatformKey");

    let list = call(&w.url, M::GET, &format!("{}/disks", rg("rg-drill")), None).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(w.emu.disks_present(), 1);

    let del = call(&w.url, M::DELETE, &disk("os"), None).await;
    assert_eq!(del.status, 202);
    let del_op = del.header("Azure-AsyncOperation").to_string();
    assert_eq!(
        call(&w.url, M::GET, &disk("os"), None).await.body["properties"]["provisioningState"],
        "Deleting"
    );
    assert_eq!(
        call(&w.url, M::GET, &del_op, None).await.body["status"],
        "InProgress"
    );
    w.clock.advance(Duration::minutes(1));
    assert_eq!(
        call(&w.url, M::GET, &del_op, None).await.body["status"],
        "Succeeded"
    );
    let gone = call(&w.url, M::GET, &disk("os"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["error"]["code"], "ResourceNotFound");
    assert_eq!(call(&w.url, M::DELETE, &disk("os"), None).await.status, 204);
    let stats = w.emu.stats();
    assert_eq!(stats.disks_restored, 1);
    assert_eq!(stats.disks_deleted, 1);
    assert_eq!(stats.unsafe_restores, 0);
    assert_eq!(w.emu.disks_present(), 0);
}

/// Like Azure, the emulator restores from a copy still replicating, and counts it.
#[tokio::test]
async fn a_restore_from_an_unfinished_copy_is_allowed_and_counted() {
    let w = World::new(1.0).await;
    let drps = copied(&w).await;
    w.clock.advance(Duration::minutes(10));
    let put = call(
        &w.url,
        reqwest::Method::PUT,
        &disk("early"),
        Some(restore_body("westus2", &drps[1])),
    )
    .await;
    assert_eq!(put.status, 202, "{}", put.body);
    assert_eq!(w.emu.stats().unsafe_restores, 1);
}

#[tokio::test]
async fn bad_restores_are_refused_with_arm_errors() {
    use reqwest::Method as M;
    let w = World::new(10_000.0).await;
    let drps = copied(&w).await;
    w.clock.advance(Duration::hours(1));
    let mut smaller = restore_body("westus2", &drps[0]);
    smaller["properties"]["diskSizeGB"] = json!(32);
    let empty = json!({"location": "westus2",
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 10}});
    let unknown = format!("{}/diskRestorePoints/nope", rp("vm1", "rp1"));
    // Each PUT of disk "d" in turn, and what ARM answers (status, error code when refused).
    let cases: [(&str, Value, u16, &str); 7] = [
        (
            "wrong region",
            restore_body("eastus", &drps[0]),
            400,
            "BadRequest",
        ),
        ("another create option", empty, 400, ""),
        (
            "unknown source",
            restore_body("westus2", &unknown),
            404,
            "NotFound",
        ),
        (
            "source not an id",
            restore_body("westus2", "/subscriptions/x/disks/y"),
            400,
            "InvalidParameter",
        ),
        ("smaller than the source", smaller, 400, ""),
        ("good", restore_body("westus2", &drps[0]), 202, ""),
        (
            "source changed on re-PUT",
            restore_body("westus2", &drps[1]),
            409,
            "PropertyChangeNotAllowed",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = call(&w.url, M::PUT, &disk("d"), Some(body)).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        if !code.is_empty() {
            assert_eq!(r.body["error"]["code"], code, "{what}: {}", r.body);
        }
    }
    let old_api = call(
        &w.url,
        M::GET,
        &format!("{}{}?api-version=2025-04-01", w.url, disk("d")),
        None,
    )
    .await;
    assert_eq!(old_api.status, 400);
    assert_eq!(w.emu.stats().disks_restored, 1);
}

/// The emulator's disk answers at api-version 2025-01-02 pass `oav validate-traffic` against
/// the official `disk.json` (vendored in tests/fixtures/swagger/); the operation-status polls
/// are in no copied swagger file and are left out (and listed). `disk.json` defines no error
/// response (no `default`), so the refusals (404, 409) are checked in the tests above only.
#[tokio::test]
async fn disk_traffic_passes_oav() {
    use reqwest::Method as M;
    let w = World::new(10_000.0).await;
    let drps = copied(&w).await;
    w.clock.advance(Duration::hours(1));
    let traffic = Arc::new(Traffic::new());
    let proxy = RecordingProxy::start(w.url.clone(), traffic.clone()).await;
    let p = &proxy.url;
    let put = call(
        p,
        M::PUT,
        &disk("os"),
        Some(restore_body("westus2", &drps[0])),
    )
    .await;
    assert_eq!(put.status, 202);
    let mut cmk = restore_body("westus2", &drps[1]);
    cmk["sku"] = json!({"name": "Premium_LRS"});
    cmk["properties"]["diskSizeGB"] = json!(256);
    cmk["properties"]["encryption"] = json!({"diskEncryptionSetId":
        format!("/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/diskEncryptionSets/des-westus2")});
    assert_eq!(call(p, M::PUT, &disk("data"), Some(cmk)).await.status, 202);
    assert_eq!(call(p, M::GET, &disk("os"), None).await.status, 200);
    w.clock.advance(Duration::minutes(10));
    assert_eq!(call(p, M::GET, &disk("os"), None).await.status, 200);
    assert_eq!(
        call(
            p,
            M::PUT,
            &disk("os"),
            Some(restore_body("westus2", &drps[0]))
        )
        .await
        .status,
        200
    );
    let list = call(p, M::GET, &format!("{}/disks", rg("rg-drill")), None).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(call(p, M::DELETE, &disk("os"), None).await.status, 202);
    assert_eq!(call(p, M::GET, &disk("os"), None).await.status, 200);
    assert_eq!(call(p, M::DELETE, &disk("nope"), None).await.status, 204);
    let op = put.header("Azure-AsyncOperation").to_string();
    let op_local = op.replacen(&w.url, p, 1);
    assert_eq!(call(p, M::GET, &op_local, None).await.status, 200);
    assert_eq!(traffic.left_out().len(), 1, "{:?}", traffic.left_out());
    traffic
        .assert_valid(&[
            "Disks_CreateOrUpdate",
            "Disks_Delete",
            "Disks_Get",
            "Disks_ListByResourceGroup",
        ])
        .await;
}

/// ferry's own ARM client restores, reads, lists and deletes drill disks through the
/// emulator; every exchange passes `oav validate-traffic` against `disk.json`.
#[tokio::test]
async fn arm_client_disk_calls_pass_oav() {
    use ferry::arm::{ArmClient, ArmConfig, Deleted, Disk};
    use ferry::auth::DevToken;
    use ferry::ids::{ManagedDiskId, ResourceGroupId};
    use std::collections::BTreeMap;

    let w = World::new(10_000.0).await;
    let drps = copied(&w).await;
    w.clock.advance(Duration::hours(1));
    let traffic = Arc::new(Traffic::new());
    let proxy = RecordingProxy::start(w.url.clone(), traffic.clone()).await;
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: url::Url::parse(&proxy.url).unwrap(),
            compute_api_version: "2025-04-01".into(),
            disk_api_version: DISK_API.into(),
            max_attempts: 1,
            read_limit: None,
            write_limit: None,
            ..Default::default()
        },
        Arc::new(DevToken::new(TOKEN)),
    )
    .unwrap();
    let rg: ResourceGroupId = format!("/subscriptions/{SUB}/resourceGroups/rg-drill")
        .parse()
        .unwrap();
    assert!(arm.list_disks(&rg).await.unwrap().is_empty());
    let id = ManagedDiskId::new(&rg, "ferry-drill-d1-0").unwrap();
    let tags = BTreeMap::from([("ferry-drill".to_string(), "d1".to_string())]);
    let started = arm
        .restore_disk(&id, &Disk::restore_request("westus2", &drps[0], tags, None))
        .await
        .unwrap();
    assert_eq!(started.status, 202);
    assert!(started.async_operation.is_some());
    assert_eq!(started.resource.provisioning_state(), Some("Updating"));
    w.clock.advance(Duration::minutes(5));
    let disk = arm.get_disk(&id).await.unwrap().unwrap();
    assert_eq!(disk.provisioning_state(), Some("Succeeded"));
    assert_eq!(disk.tag("ferry-drill"), Some("d1"));
    assert_eq!(disk.properties.unwrap().disk_size_gb, Some(64));
    let listed = arm.list_disks(&rg).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(matches!(
        arm.delete_disk(&id).await.unwrap(),
        Deleted::Done { status: 202, .. }
    ));
    w.clock.advance(Duration::minutes(1));
    // (A GET now answers 404, which disk.json does not define: counted instead.)
    assert_eq!(w.emu.disks_present(), 0);
    assert!(matches!(
        arm.delete_disk(&id).await.unwrap(),
        Deleted::Done { status: 204, .. }
    ));
    traffic
        .assert_valid(&[
            "Disks_CreateOrUpdate",
            "Disks_Delete",
            "Disks_Get",
            "Disks_ListByResourceGroup",
        ])
        .await;
}
