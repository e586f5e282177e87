//! The ARM emulator over real HTTP on loopback, with reqwest as the client.

mod common;

use std::sync::Arc;

use common::oav::{RecordingProxy, Traffic};

use ferry::clock::{Clock, ManualClock, SharedClock};
use ferry::sim::emulator::ids::RestorePointId;
use ferry::sim::emulator::{CopyOutcome, Emulator, EmulatorConfig, FaultConfig, LimitConfig};
use serde_json::{json, Value};
use time::macros::datetime;
use time::Duration;

const SUB: &str = "00000000-0000-0000-0000-000000000001";
const API: &str = "2025-11-01";
const DISK_API: &str = "2026-03-02";

struct H {
    emu: Emulator,
    clock: ManualClock,
    base: String,
    http: reqwest::Client,
}

fn cfg(clock: &ManualClock) -> EmulatorConfig {
    let shared: SharedClock = Arc::new(clock.clone());
    let mut c = EmulatorConfig::new(shared);
    c.seed = 7;
    // Fast links keep most copies inside one progress step unless a test wants otherwise.
    c.bandwidth_mbps = 10_000.0;
    // Restore points minutes apart spend little simulated time (one test turns it on).
    c.limits.min_restore_point_interval = false;
    c
}

async fn start_with(f: impl FnOnce(&mut EmulatorConfig)) -> H {
    let clock = ManualClock::new(datetime!(2026-11-01 00:00 UTC));
    let mut c = cfg(&clock);
    f(&mut c);
    let emu = Emulator::new(c);
    let (addr, _h) = emu.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    H {
        emu,
        clock,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

async fn start() -> H {
    start_with(|_| {}).await
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }
}

fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute")
}
fn vm_path(rg: &str, vm: &str) -> String {
    format!("{}/virtualMachines/{vm}", rg_path(rg))
}
fn rpc_path(rg: &str, rpc: &str) -> String {
    format!("{}/restorePointCollections/{rpc}", rg_path(rg))
}
fn rp_path(rg: &str, rpc: &str, rp: &str) -> String {
    format!("{}/restorePoints/{rp}", rpc_path(rg, rpc))
}

impl H {
    async fn send(&self, method: reqwest::Method, path_q: &str, body: Option<Value>) -> Resp {
        self.send_to(&self.base, method, path_q, body).await
    }
    /// The same request sent to `base` (a proxy in front of the emulator) instead.
    async fn send_to(
        &self,
        base: &str,
        method: reqwest::Method,
        path_q: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut r = self
            .http
            .request(method, format!("{base}{path_q}"))
            .bearer_auth("test-token");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Resp {
            status,
            headers,
            body,
        }
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(
            reqwest::Method::PUT,
            &format!("{path}?api-version={API}"),
            Some(body),
        )
        .await
    }
    async fn get(&self, path: &str) -> Resp {
        self.send(
            reqwest::Method::GET,
            &format!("{path}?api-version={API}"),
            None,
        )
        .await
    }
    async fn get_q(&self, path_q: &str) -> Resp {
        self.send(reqwest::Method::GET, path_q, None).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.send(
            reqwest::Method::DELETE,
            &format!("{path}?api-version={API}"),
            None,
        )
        .await
    }

    async fn vm(&self, rg: &str, name: &str, location: &str, extra: Value) -> Resp {
        let mut body = json!({
            "location": location,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                "storageProfile": {
                    "osDisk": {"name": format!("{name}-os"), "osType": "Linux", "diskSizeGB": 30, "createOption": "FromImage"},
                    "dataDisks": [{"lun": 0, "name": format!("{name}-data0"), "diskSizeGB": 128, "createOption": "Empty"}]
                }
            }
        });
        merge(&mut body, extra);
        let r = self.put(&vm_path(rg, name), body).await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        r
    }

    async fn local_rpc(&self, rg: &str, rpc: &str, vm: &str, location: &str) {
        let r = self
            .put(
                &rpc_path(rg, rpc),
                json!({"location": location, "properties": {"source": {"id": vm_path(rg, vm)}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    async fn target_rpc(&self, rg: &str, rpc: &str, source_rpc: &str, location: &str) {
        let r = self
            .put(
                &rpc_path(rg, rpc),
                json!({"location": location, "properties": {"source": {"id": source_rpc}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }

    /// Creates a local restore point and lets it settle.
    async fn rp(&self, rg: &str, rpc: &str, name: &str) -> String {
        let r = self
            .put(&rp_path(rg, rpc, name), json!({"properties": {}}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        self.clock.advance(Duration::minutes(6));
        rp_path(rg, rpc, name)
    }

    async fn copy(&self, rg: &str, target_rpc: &str, name: &str, source: &str) -> Resp {
        self.put(
            &rp_path(rg, target_rpc, name),
            json!({"properties": {"sourceRestorePoint": {"id": source}}}),
        )
        .await
    }

    async fn iv(&self, path: &str) -> Value {
        let r = self
            .get_q(&format!("{path}?api-version={API}&$expand=instanceView"))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body
    }
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn percents(iv: &Value) -> Vec<i64> {
    iv["properties"]["instanceView"]["diskRestorePoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["replicationStatus"]["completionPercent"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

fn codes(iv: &Value) -> Vec<String> {
    iv["properties"]["instanceView"]["diskRestorePoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["replicationStatus"]["status"]["code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// VM in eastus with local collection `rpc1`, target collection `tgt` in westus.
async fn chain(h: &H) -> String {
    h.vm("rg", "vm1", "eastus", json!({})).await;
    h.local_rpc("rg", "rpc1", "vm1", "eastus").await;
    h.target_rpc("rg", "tgt", &rpc_path("rg", "rpc1"), "westus")
        .await;
    rpc_path("rg", "rpc1")
}

fn violations(h: &H, rule: &str) -> u64 {
    h.emu
        .stats()
        .violations_by_rule
        .get(rule)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn happy_path_progresses_in_ten_minute_steps() {
    // Slow link: the 64 GB data disk takes ~46 minutes, the 15 GB OS disk ~11.
    let h = start_with(|c| c.bandwidth_mbps = 200.0).await;
    chain(&h).await;
    let r = h
        .put(
            &rp_path("rg", "rpc1", "rp1"),
            json!({"properties": {"consistencyMode": "CrashConsistent"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert!(r.header("azure-asyncoperation").is_some());
    let src_created = r.body["properties"]["timeCreated"]
        .as_str()
        .unwrap()
        .to_string();
    let dd = &r.body["properties"]["sourceMetadata"]["storageProfile"]["dataDisks"][0];
    assert_eq!(dd["lun"], 0);
    assert!(dd["diskRestorePoint"]["id"]
        .as_str()
        .unwrap()
        .contains("/diskRestorePoints/vm1-data0_"));

    // Not ready yet → copying it is refused.
    let early = h
        .copy("rg", "tgt", "c1", &rp_path("rg", "rpc1", "rp1"))
        .await;
    assert_eq!(early.status, 409);
    assert_eq!(violations(&h, "source_not_ready"), 1);

    h.clock.advance(Duration::minutes(5));
    let g = h.get(&rp_path("rg", "rpc1", "rp1")).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");

    h.clock.advance(Duration::hours(1));
    let c = h
        .copy("rg", "tgt", "c1", &rp_path("rg", "rpc1", "rp1"))
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    assert_eq!(c.body["properties"]["provisioningState"], "Creating");
    assert_eq!(
        c.body["properties"]["timeCreated"].as_str().unwrap(),
        src_created
    );
    assert_eq!(
        c.body["properties"]["sourceRestorePoint"]["id"],
        rp_path("rg", "rpc1", "rp1")
    );
    let op = c.header("azure-asyncoperation").unwrap().to_string();
    assert!(c.header("location").is_some());
    assert!(c.header("retry-after").is_some());

    let copy = rp_path("rg", "tgt", "c1");
    let iv0 = h.iv(&copy).await;
    assert_eq!(percents(&iv0), vec![0, 0]);
    assert_eq!(codes(&iv0)[0], "ReplicationState/inProgress");
    let op_path = op.trim_start_matches(&h.base).to_string();
    let o = h.get_q(&op_path).await;
    assert_eq!(o.body["status"], "InProgress");
    let loc = c
        .header("location")
        .unwrap()
        .trim_start_matches(&h.base)
        .to_string();
    let m = h.get_q(&loc).await;
    assert_eq!(m.status, 202);
    assert!(m.header("retry-after").is_some());

    // Just before the first step: still nothing visible.
    h.clock.advance(Duration::minutes(9));
    assert_eq!(percents(&h.iv(&copy).await), vec![0, 0]);
    h.clock.advance(Duration::minutes(1));
    let iv10 = h.iv(&copy).await;
    let p10 = percents(&iv10);
    assert!(
        p10[0] > 0 && p10[0] < 100 && p10[1] > 0 && p10[1] < p10[0],
        "{p10:?}"
    );
    // provisioningState Succeeded only means "started": replication is still running.
    assert_eq!(iv10["properties"]["provisioningState"], "Succeeded");
    assert_eq!(h.get_q(&op_path).await.body["status"], "Succeeded");
    let m = h.get_q(&loc).await;
    assert_eq!(m.status, 200);
    assert_eq!(m.body["name"], "c1");

    h.clock.advance(Duration::minutes(5));
    assert_eq!(percents(&h.iv(&copy).await), p10, "no change between steps");
    h.clock.advance(Duration::minutes(5));
    let p20 = percents(&h.iv(&copy).await);
    assert_eq!(p20[0], 100);
    assert!(p20[1] > p10[1] && p20[1] < 100);

    h.clock.advance(Duration::hours(1));
    let done = h.iv(&copy).await;
    assert_eq!(percents(&done), vec![100, 100]);
    assert_eq!(
        done["properties"]["instanceView"]["statuses"][0]["code"],
        "ReplicationState/succeeded"
    );
    let s = h.emu.stats();
    assert_eq!((s.copies_started, s.copies_succeeded), (1, 1));

    // Disk restore points of the copy (Disk RP api-version).
    let list = h
        .get_q(&format!("{copy}/diskRestorePoints?api-version={DISK_API}"))
        .await;
    assert_eq!(list.status, 200);
    let d0 = &list.body["value"][0];
    assert_eq!(d0["properties"]["replicationState"], "Succeeded");
    assert_eq!(d0["properties"]["completionPercent"], 100);
    assert_eq!(d0["properties"]["sourceResourceLocation"], "eastus");
    let name = d0["name"].as_str().unwrap();
    let one = h
        .get_q(&format!(
            "{copy}/diskRestorePoints/{name}?api-version=2025-01-02"
        ))
        .await;
    assert_eq!(one.status, 200);
    assert!(one.body["properties"]["sourceResourceId"]
        .as_str()
        .unwrap()
        .contains("/restorePoints/rp1/diskRestorePoints/"));
}

#[tokio::test]
async fn incremental_copies_are_small_and_a_deleted_base_makes_the_next_full() {
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    h.vm(
        "rg",
        "vm1",
        "eastus",
        json!({"tags": {"ferry-emulator:churnGBPerDay": "2", "ferry-emulator:usedPercent": "80"}}),
    )
    .await;
    h.local_rpc("rg", "rpc1", "vm1", "eastus").await;
    h.target_rpc("rg", "tgt", &rpc_path("rg", "rpc1"), "westus")
        .await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    h.clock.advance(Duration::hours(24));
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    h.clock.advance(Duration::hours(24));
    let rp3 = h.rp("rg", "rpc1", "rp3").await;

    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let id = |n: &str| -> RestorePointId { rp_path("rg", "tgt", n).parse().unwrap() };
    let d1 = h.emu.copy_details(&id("c1")).unwrap();
    assert!(d1.full);
    assert_eq!(d1.data_gb, vec![24.0, 102.4]);
    h.clock.advance(Duration::days(1));

    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    let d2 = h.emu.copy_details(&id("c2")).unwrap();
    assert!(!d2.full);
    // 2 GB/day for the day (and 6 minutes) between rp1 and rp2.
    assert!(
        d2.data_gb.iter().all(|g| (*g - 2.0).abs() < 0.05),
        "{:?}",
        d2.data_gb
    );
    assert!(d2.duration < d1.duration);
    h.clock.advance(Duration::days(1));

    // Deleting the base (rp1) at the source: the next copy is full again, and slower.
    let del = h.delete(&rp1).await;
    assert_eq!(del.status, 202);
    assert_eq!(h.copy("rg", "tgt", "c3", &rp3).await.status, 201);
    let d3 = h.emu.copy_details(&id("c3")).unwrap();
    assert!(d3.full);
    assert_eq!(d3.data_gb, vec![24.0, 102.4]);
    assert!(d3.duration > d2.duration);
}

#[tokio::test]
async fn failed_copy_hides_percent_and_details() {
    let h = start_with(|c| c.bandwidth_mbps = 50.0).await;
    let rpc = chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    h.emu.plan_copy_outcome(&rp1, CopyOutcome::Fail);
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let copy = rp_path("rg", "tgt", "c1");
    let mut saw_progress = false;
    let mut last = Value::Null;
    for _ in 0..200 {
        h.clock.advance(Duration::minutes(10));
        last = h.iv(&copy).await;
        if codes(&last).iter().any(|c| c == "ReplicationState/failed") {
            break;
        }
        saw_progress |= percents(&last).iter().any(|p| *p > 0);
    }
    assert!(saw_progress, "the failure should come part-way");
    let dv = &last["properties"]["instanceView"]["diskRestorePoints"];
    let failed: Vec<_> = dv
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["replicationStatus"]["status"]["code"] == "ReplicationState/failed")
        .collect();
    assert!(!failed.is_empty());
    for d in failed {
        assert_eq!(d["replicationStatus"]["completionPercent"], 0);
        assert!(d["replicationStatus"]["status"].get("message").is_none());
    }
    assert_eq!(h.emu.stats().copies_failed, 1);
    // The chain is free again: a later copy from the same collection may start.
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    let _ = rpc;
}

#[tokio::test]
async fn never_progressing_copy_is_terminated_after_two_weeks() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    h.emu.plan_copy_outcome(&rp1, CopyOutcome::NeverProgress);
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let copy = rp_path("rg", "tgt", "c1");
    h.clock.advance(Duration::days(14) - Duration::minutes(1));
    let iv = h.iv(&copy).await;
    assert_eq!(percents(&iv), vec![0, 0]);
    assert!(codes(&iv)
        .iter()
        .all(|c| c == "ReplicationState/inProgress"));
    assert_eq!(h.emu.stats().copies_terminated, 0);
    h.clock.advance(Duration::minutes(1));
    let iv = h.iv(&copy).await;
    assert!(codes(&iv).iter().all(|c| c == "ReplicationState/failed"));
    let s = h.emu.stats();
    assert_eq!((s.copies_terminated, s.copies_failed), (1, 0));
}

#[tokio::test]
async fn deleting_a_copy_that_would_complete_counts_as_a_needless_restart() {
    // Slow enough that the first (full) copy is still in progress an hour after it starts.
    let h = start_with(|c| c.bandwidth_mbps = 50.0).await;
    chain(&h).await;
    let needless = |h: &H| h.emu.stats().needless_restarts;
    let fine = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &fine).await.status, 201);
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.delete(&rp_path("rg", "tgt", "c1")).await.status, 202);
    h.clock.advance(Duration::minutes(2));
    assert_eq!(needless(&h), 1, "it would have completed");

    let stalled = h.rp("rg", "rpc1", "rp2").await;
    h.emu
        .plan_copy_outcome(&stalled, CopyOutcome::NeverProgress);
    assert_eq!(h.copy("rg", "tgt", "c2", &stalled).await.status, 201);
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.delete(&rp_path("rg", "tgt", "c2")).await.status, 202);
    h.clock.advance(Duration::minutes(2));
    assert_eq!(needless(&h), 1, "it would never have completed");

    let failing = h.rp("rg", "rpc1", "rp3").await;
    h.emu.plan_copy_outcome(&failing, CopyOutcome::Fail);
    assert_eq!(h.copy("rg", "tgt", "c3", &failing).await.status, 201);
    assert_eq!(h.delete(&rp_path("rg", "tgt", "c3")).await.status, 202);
    h.clock.advance(Duration::minutes(2));
    assert_eq!(needless(&h), 1, "it would have failed");
    // Deleting a local restore point is no restart.
    assert_eq!(h.delete(&fine).await.status, 202);
    assert_eq!(needless(&h), 1);
}

#[tokio::test]
async fn a_failed_copy_holds_its_slot_until_it_is_deleted() {
    let h = start_with(|c| c.bandwidth_mbps = 50.0).await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    h.emu.plan_copy_outcome(&rp1, CopyOutcome::Fail);
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let c1 = rp_path("rg", "tgt", "c1");
    for _ in 0..200 {
        h.clock.advance(Duration::minutes(10));
        if codes(&h.iv(&c1).await)
            .iter()
            .any(|c| c == "ReplicationState/failed")
        {
            break;
        }
    }
    assert_eq!(h.emu.stats().copies_failed, 1);
    // Failed, it still holds "one copy per source restore point per region".
    let r = h.copy("rg", "tgt", "c1-again", &rp1).await;
    assert_eq!((r.status, r.code()), (409, "Conflict"), "{:?}", r.body);
    assert_eq!(violations(&h, "duplicate_copy"), 1);
    // The same PUT again is the same resource: no second copy.
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    assert_eq!(h.emu.stats().copies_started, 1);
    // Being deleted, it still holds it; and its name cannot be reused until it is gone.
    assert_eq!(h.delete(&c1).await.status, 202);
    assert_eq!(h.copy("rg", "tgt", "c1-again", &rp1).await.status, 409);
    assert_eq!(violations(&h, "duplicate_copy"), 2);
    let r = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!((r.status, r.code()), (409, "Conflict"), "{:?}", r.body);
    assert_eq!(violations(&h, "restore_point_deleting"), 1);
    // Once the delete completed (a GET answers 404), the copy may be made again, under the
    // same name.
    h.clock.advance(Duration::minutes(1));
    assert_eq!(h.get(&c1).await.status, 404);
    let r = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let s = h.emu.stats();
    assert_eq!((s.copies_started, s.duplicate_copies), (2, 2));
}

#[tokio::test]
async fn a_copy_in_progress_holds_its_chain_until_its_delete_completed() {
    let h = start_with(|c| c.bandwidth_mbps = 50.0).await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    h.emu.plan_copy_outcome(&rp1, CopyOutcome::NeverProgress);
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    assert_eq!(h.delete(&rp_path("rg", "tgt", "c1")).await.status, 202);
    // Still there (Deleting) and still in progress: one copy at a time per chain.
    let r = h.copy("rg", "tgt", "c2", &rp2).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "OperationNotAllowed"),
        "{:?}",
        r.body
    );
    assert_eq!(violations(&h, "concurrent_copy"), 1);
    h.clock.advance(Duration::minutes(1));
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
}

#[tokio::test]
async fn deleting_a_restore_point_is_a_long_running_operation() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    h.clock.advance(Duration::minutes(10));
    let c1 = rp_path("rg", "tgt", "c1");
    h.emu.drain_events();

    let del = h.delete(&c1).await;
    assert_eq!(del.status, 202);
    let rel = |url: &str| url.strip_prefix(&h.base).unwrap().to_string();
    let op = rel(del
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation"));
    let monitor = rel(del.header("location").expect("Location"));
    assert!(del.header("retry-after").is_some());
    let r = h.get(&c1).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["properties"]["provisioningState"], "Deleting");
    let s = h.get_q(&op).await;
    assert_eq!(
        (s.status, s.body["status"].as_str()),
        (200, Some("InProgress"))
    );
    assert!(s.body.get("endTime").is_none());
    assert_eq!(h.get_q(&monitor).await.status, 202);
    assert!(
        h.emu.drain_events().is_empty(),
        "no event before it completes"
    );

    h.clock.advance(Duration::minutes(1));
    assert_eq!(h.get(&c1).await.status, 404);
    let s = h.get_q(&op).await;
    assert_eq!(s.body["status"], "Succeeded");
    assert_eq!(s.body["endTime"], "2026-11-01T00:17:00Z");
    assert_eq!(h.get_q(&monitor).await.status, 204);
    let ev = h.emu.drain_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["eventType"],
        "Microsoft.Resources.ResourceDeleteSuccess"
    );
    assert_eq!(ev[0]["subject"], c1);
    assert_eq!(ev[0]["eventTime"], "2026-11-01T00:17:00Z");
    assert_eq!(h.delete(&c1).await.status, 204);
}

#[tokio::test]
async fn a_restarted_copy_transfers_what_its_deleted_attempt_did() {
    let h = start_with(|c| c.bandwidth_mbps = 50.0).await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    h.clock.advance(Duration::days(1));
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    h.emu.plan_copy_outcome(&rp2, CopyOutcome::NeverProgress);
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    let c2 = rp_path("rg", "tgt", "c2");
    let first = h.emu.copy_details(&c2).unwrap();
    assert!(!first.full);
    assert!(first.data_gb.iter().any(|gb| *gb > 0.1), "{first:?}");
    h.clock.advance(Duration::hours(6));
    assert_eq!(h.delete(&c2).await.status, 202);
    h.clock.advance(Duration::minutes(1));
    h.emu.plan_copy_outcome(&rp2, CopyOutcome::Normal);
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    let again = h.emu.copy_details(&c2).unwrap();
    // The churn since rp1 (still in the target), not since the deleted attempt.
    assert_eq!(
        (again.full, &again.data_gb, again.duration),
        (first.full, &first.data_gb, first.duration)
    );
}

#[tokio::test]
async fn rpo_snapshot_is_the_emulators_own_truth() {
    use ferry::sim::emulator::ChainRef;
    let h = start().await;
    let rpc = chain(&h).await;
    let chains = [
        ChainRef::new(&rpc, "westus").unwrap(),
        ChainRef::new(&rpc, "centralus").unwrap(),
    ];
    assert!(ChainRef::new(&"not an id", "westus").is_none());
    let t0 = h.clock.now();
    let truth = h.emu.rpo_snapshot(&chains);
    assert_eq!(truth[0].rpo(t0), None, "nothing to protect yet");
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    let now = h.clock.now();
    let truth = h.emu.rpo_snapshot(&chains);
    // Nothing copied: the age of the oldest restore point; both waiting.
    assert_eq!(truth[0].rpo(now), Some(now - t0));
    assert_eq!((truth[0].backlog, truth[1].backlog), (2, 2));
    // rp2 copied (rp1 skipped): rp1 is no backlog, and until the copy lands the RPO stands.
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    let truth = h.emu.rpo_snapshot(&chains);
    assert_eq!((truth[0].backlog, truth[0].newest_copied), (0, None));
    assert_eq!(truth[1].backlog, 2, "the other region's chain is its own");
    h.clock.advance(Duration::minutes(10));
    let now = h.clock.now();
    let truth = h.emu.rpo_snapshot(&chains);
    let rp2_created = now - Duration::minutes(10) - Duration::minutes(6) + Duration::minutes(6);
    assert_eq!(
        truth[0].newest_copied,
        Some(rp2_created - Duration::minutes(6))
    );
    assert_eq!(truth[0].rpo(now), Some(Duration::minutes(16)));
    // Being deleted, the copy no longer protects anything.
    assert_eq!(h.delete(&rp_path("rg", "tgt", "c2")).await.status, 202);
    let truth = h.emu.rpo_snapshot(&chains);
    assert_eq!(truth[0].newest_copied, None);
    assert_eq!(truth[0].backlog, 2);
    let _ = rp1;
}

#[tokio::test]
async fn copy_of_a_copy_is_refused() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    h.clock.advance(Duration::minutes(30));
    // A target collection whose source is itself a target is refused outright.
    let r = h
        .put(
            &rpc_path("rg", "tgt2"),
            json!({"location": "northeurope", "properties": {"source": {"id": rpc_path("rg", "tgt")}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    h.target_rpc("rg", "tgt3", &rpc_path("rg", "rpc1"), "northeurope")
        .await;
    let r = h
        .copy("rg", "tgt3", "cc", &rp_path("rg", "tgt", "c1"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "OperationNotAllowed");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Copy of a copy"));
    assert_eq!(violations(&h, "copy_of_copy"), 1);
}

#[tokio::test]
async fn one_copy_per_source_per_region_and_idempotent_reput() {
    let h = start().await;
    chain(&h).await;
    h.target_rpc("rg", "tgt-b", &rpc_path("rg", "rpc1"), "westus")
        .await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let first = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!(first.status, 201);
    // Same PUT again (a retry): the existing resource (201, the only status the swagger
    // allows), no new copy, no violation, same operation.
    let again = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(
        again.header("azure-asyncoperation"),
        first.header("azure-asyncoperation")
    );
    assert_eq!(
        h.emu.drain_events().len(),
        2,
        "one local write, one copy write"
    );
    let s = h.emu.stats();
    assert_eq!(
        (s.copies_started, s.rule_violations, s.duplicate_copies),
        (1, 0, 0)
    );
    // Another name, same region (even another collection there): refused and counted.
    h.clock.advance(Duration::hours(2));
    for (coll, name) in [("tgt", "c1-again"), ("tgt-b", "c1-b")] {
        let r = h.copy("rg", coll, name, &rp1).await;
        assert_eq!(r.status, 409, "{:?}", r.body);
        assert_eq!(r.code(), "Conflict");
    }
    let s = h.emu.stats();
    assert_eq!(s.duplicate_copies, 2);
    assert_eq!(violations(&h, "duplicate_copy"), 2);
    // Same name, different source: a conflict, not a new copy.
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp2).await.status, 409);
    assert_eq!(h.emu.stats().copies_started, 1);
}

#[tokio::test]
async fn nonsequential_copy_is_refused() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
    h.clock.advance(Duration::hours(2));
    let r = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "OperationNotAllowed");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Nonsequential"));
    assert_eq!(violations(&h, "nonsequential_copy"), 1);
}

#[tokio::test]
async fn a_deleted_copy_no_longer_blocks_its_source() {
    // The copy rules look at the copies that exist now (the emulator indexes every copy it
    // creates; a deleted one must stop counting).
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    h.clock.advance(Duration::hours(2));
    assert_eq!(h.copy("rg", "tgt", "c1-again", &rp1).await.status, 409);
    let deleted = h.delete(&rp_path("rg", "tgt", "c1")).await.status;
    assert!(matches!(deleted, 200 | 202 | 204), "delete: {deleted}");
    h.clock.advance(Duration::hours(1));
    let r = h.copy("rg", "tgt", "c1-again", &rp1).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(violations(&h, "duplicate_copy"), 1);
}

#[tokio::test]
async fn concurrent_copy_from_one_collection_to_one_region_is_refused() {
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    chain(&h).await;
    h.target_rpc("rg", "tgt-b", &rpc_path("rg", "rpc1"), "westus")
        .await;
    h.target_rpc("rg", "tgt-n", &rpc_path("rg", "rpc1"), "northeurope")
        .await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let rp2 = h.rp("rg", "rpc1", "rp2").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    let r = h.copy("rg", "tgt-b", "c2", &rp2).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "OperationNotAllowed");
    assert_eq!(violations(&h, "concurrent_copy"), 1);
    // Another region is an independent chain.
    assert_eq!(h.copy("rg", "tgt-n", "n1", &rp1).await.status, 201);
    // Once the first copy is visibly done, the next may start.
    h.clock.advance(Duration::hours(6));
    assert_eq!(h.copy("rg", "tgt", "c2", &rp2).await.status, 201);
}

#[tokio::test]
async fn confidential_vm_and_private_link_sources_are_refused() {
    let h = start().await;
    h.vm(
        "rg",
        "cvm",
        "eastus",
        json!({"properties": {"securityProfile": {"securityType": "ConfidentialVM"}}}),
    )
    .await;
    h.vm(
        "rg",
        "pvm",
        "eastus",
        json!({"tags": {"ferry-emulator:privateLink": "true"}}),
    )
    .await;
    for vm in ["cvm", "pvm"] {
        h.local_rpc("rg", &format!("rpc-{vm}"), vm, "eastus").await;
        h.target_rpc(
            "rg",
            &format!("tgt-{vm}"),
            &rpc_path("rg", &format!("rpc-{vm}")),
            "westus",
        )
        .await;
    }
    let c = h.rp("rg", "rpc-cvm", "rp1").await;
    let p = h.rp("rg", "rpc-pvm", "rp1").await;
    // What a client can see before copying.
    let g = h.get(&c).await;
    assert_eq!(
        g.body["properties"]["sourceMetadata"]["securityProfile"]["securityType"],
        "ConfidentialVM"
    );
    let d = h
        .get_q(&format!("{p}/diskRestorePoints?api-version={DISK_API}"))
        .await;
    assert_eq!(
        d.body["value"][0]["properties"]["networkAccessPolicy"],
        "AllowPrivate"
    );
    assert!(d.body["value"][0]["properties"]["diskAccessId"].is_string());

    let r = h.copy("rg", "tgt-cvm", "c1", &c).await;
    assert_eq!((r.status, r.code()), (400, "OperationNotAllowed"));
    let r = h.copy("rg", "tgt-pvm", "c1", &p).await;
    assert_eq!((r.status, r.code()), (400, "OperationNotAllowed"));
    assert_eq!(violations(&h, "confidential_vm"), 1);
    assert_eq!(violations(&h, "private_link"), 1);
    assert_eq!(h.emu.stats().copies_started, 0);
}

#[tokio::test]
async fn missing_or_wrong_target_collection_and_same_region_are_refused() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let r = h.copy("rg", "nope", "c1", &rp1).await;
    assert_eq!((r.status, r.code()), (404, "ParentResourceNotFound"));
    assert_eq!(violations(&h, "missing_target_collection"), 1);

    // A target collection created for another source collection.
    h.vm("rg", "vm2", "eastus", json!({})).await;
    h.local_rpc("rg", "rpc2", "vm2", "eastus").await;
    h.target_rpc("rg", "tgt2", &rpc_path("rg", "rpc2"), "westus")
        .await;
    let r = h.copy("rg", "tgt2", "c1", &rp1).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    assert_eq!(violations(&h, "target_collection_mismatch"), 1);

    // Target in the source's own region.
    h.target_rpc("rg", "same", &rpc_path("rg", "rpc1"), "eastus")
        .await;
    let r = h.copy("rg", "same", "c1", &rp1).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    assert_eq!(violations(&h, "same_region"), 1);

    // A source that does not exist is a plain 404, not a rule.
    let r = h
        .copy("rg", "tgt", "c1", &rp_path("rg", "rpc1", "ghost"))
        .await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    assert_eq!(h.emu.stats().rule_violations, 3);
}

#[tokio::test]
async fn cmk_source_needs_a_target_disk_encryption_set_per_disk() {
    let h = start().await;
    let des = |n: &str| format!("{}/diskEncryptionSets/{n}", rg_path("rg"));
    h.vm(
        "rg",
        "vm1",
        "eastus",
        json!({"properties": {"storageProfile": {
            "osDisk": {"managedDisk": {"diskEncryptionSet": {"id": des("src-des")}}},
            "dataDisks": [{"lun": 0, "name": "vm1-data0", "diskSizeGB": 128, "managedDisk": {"diskEncryptionSet": {"id": des("src-des")}}}]
        }}}),
    )
    .await;
    h.local_rpc("rg", "rpc1", "vm1", "eastus").await;
    h.target_rpc("rg", "tgt", &rpc_path("rg", "rpc1"), "westus")
        .await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let drps = h
        .get_q(&format!("{rp1}/diskRestorePoints?api-version={DISK_API}"))
        .await;
    assert_eq!(
        drps.body["value"][0]["properties"]["encryption"]["type"],
        "EncryptionAtRestWithCustomerKey"
    );
    let src_data_drp = h.get(&rp1).await.body["properties"]["sourceMetadata"]["storageProfile"]
        ["dataDisks"][0]["diskRestorePoint"]["id"]
        .clone();

    let r = h.copy("rg", "tgt", "c1", &rp1).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    // Only the OS disk mapped: still refused.
    let enc = |n: &str| json!({"encryption": {"diskEncryptionSet": {"id": des(n)}, "type": "EncryptionAtRestWithCustomerKey"}});
    let partial = json!({"properties": {
        "sourceRestorePoint": {"id": rp1},
        "sourceMetadata": {"storageProfile": {"osDisk": {"diskRestorePoint": enc("tgt-des")}}}
    }});
    let r = h.put(&rp_path("rg", "tgt", "c1"), partial).await;
    assert_eq!(r.status, 400);
    assert_eq!(violations(&h, "missing_cmk_mapping"), 2);

    let mut data = enc("tgt-des");
    data["sourceDiskRestorePoint"] = json!({"id": src_data_drp});
    let full = json!({"properties": {
        "sourceRestorePoint": {"id": rp1},
        "sourceMetadata": {"storageProfile": {
            "osDisk": {"diskRestorePoint": enc("tgt-des")},
            "dataDisks": [{"diskRestorePoint": data}]
        }}
    }});
    let r = h.put(&rp_path("rg", "tgt", "c1"), full).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let copy = rp_path("rg", "tgt", "c1");
    let d = h
        .get_q(&format!("{copy}/diskRestorePoints?api-version={DISK_API}"))
        .await;
    for v in d.body["value"].as_array().unwrap() {
        assert_eq!(
            v["properties"]["encryption"]["diskEncryptionSetId"],
            des("tgt-des")
        );
    }
}

#[tokio::test]
async fn more_than_three_copies_per_hour_into_one_collection_get_429() {
    let h = start().await;
    chain(&h).await;
    let mut rps = Vec::new();
    for i in 0..5 {
        rps.push(h.rp("rg", "rpc1", &format!("rp{i}")).await);
    }
    for (i, rp) in rps.iter().take(3).enumerate() {
        let r = h.copy("rg", "tgt", &format!("c{i}"), rp).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        h.clock.advance(Duration::minutes(10));
    }
    let r = h.copy("rg", "tgt", "c3", &rps[3]).await;
    assert_eq!((r.status, r.code()), (429, "TooManyRequests"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(wait, 30 * 60);
    assert_eq!(violations(&h, "copy_rate"), 1);
    h.clock.advance(Duration::seconds(wait as i64));
    assert_eq!(h.copy("rg", "tgt", "c3", &rps[3]).await.status, 201);
}

#[tokio::test]
async fn token_bucket_throttles_with_retry_after() {
    let h = start_with(|c| {
        c.limits = LimitConfig {
            reads: Some((3, 1.0)),
            writes: Some((200, 10.0)),
            copies_per_hour_per_target_collection: 3,
            min_restore_point_interval: false,
            ..LimitConfig::default()
        }
    })
    .await;
    chain(&h).await;
    let p = rpc_path("rg", "rpc1");
    for left in [2, 1, 0] {
        let r = h.get(&p).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-ms-ratelimit-remaining-subscription-reads"),
            Some(left.to_string().as_str())
        );
    }
    let r = h.get(&p).await;
    assert_eq!((r.status, r.code()), (429, "TooManyRequests"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        r.header("x-ms-ratelimit-remaining-subscription-reads"),
        Some("0")
    );
    let s = h.emu.stats();
    assert_eq!((s.throttled, s.rule_violations), (1, 0));
    // Writes have their own bucket.
    assert_eq!(h.vm("rg", "vm1", "eastus", json!({})).await.status, 200);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.get(&p).await.status, 200);
}

#[tokio::test]
async fn api_versions_like_arm() {
    let h = start().await;
    chain(&h).await;
    let p = rpc_path("rg", "rpc1");
    for v in ["2021-03-01", "2025-04-01", "2025-11-01", "2026-04-01"] {
        assert_eq!(
            h.get_q(&format!("{p}?api-version={v}")).await.status,
            200,
            "{v}"
        );
    }
    let r = h.get_q(&p).await;
    assert_eq!((r.status, r.code()), (400, "MissingApiVersionParameter"));
    let r = h.get_q(&format!("{p}?api-version=2019-07-01")).await;
    assert_eq!((r.status, r.code()), (400, "InvalidApiVersionParameter"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2026-04-01"));
    // Disk restore points use the Disk RP versions.
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let d = format!("{rp1}/diskRestorePoints");
    assert_eq!(
        h.get_q(&format!("{d}?api-version=2025-01-02")).await.status,
        200
    );
    assert_eq!(
        h.get_q(&format!("{d}?api-version=2026-03-02")).await.status,
        200
    );
    assert_eq!(
        h.get_q(&format!("{d}?api-version=2025-11-01")).await.status,
        400
    );
}

#[tokio::test]
async fn paths_match_case_insensitively() {
    let h = start().await;
    chain(&h).await;
    let p = format!(
        "/SUBSCRIPTIONS/{SUB}/resourcegroups/rg/PROVIDERS/microsoft.compute/RestorePointCollections/rpc1"
    );
    let r = h.get(&p).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "rpc1");
    assert_eq!(
        h.get(&format!("{}/widgets/x", rg_path("rg"))).await.status,
        404
    );
}

#[tokio::test]
async fn authorization_is_required() {
    let h = start().await;
    let r = h
        .http
        .get(format!(
            "{}{}?api-version={API}",
            h.base,
            rpc_path("rg", "x")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "AuthenticationFailed");
    let r = h
        .http
        .get(format!(
            "{}{}?api-version={API}",
            h.base,
            rpc_path("rg", "x")
        ))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn collections_list_with_paging() {
    let h = start().await;
    h.vm("rg", "vm1", "eastus", json!({})).await;
    h.vm("rg2", "vm9", "eastus", json!({})).await;
    for i in 0..55 {
        h.local_rpc("rg", &format!("rpc{i:02}"), "vm1", "eastus")
            .await;
    }
    h.local_rpc("rg2", "other", "vm9", "eastus").await;
    let mut names = Vec::new();
    let mut next = Some(format!(
        "{}/restorePointCollections?api-version={API}",
        rg_path("rg")
    ));
    let mut pages = 0;
    while let Some(url) = next {
        let r = h.get_q(url.trim_start_matches(&h.base)).await;
        assert_eq!(r.status, 200);
        pages += 1;
        for v in r.body["value"].as_array().unwrap() {
            names.push(v["name"].as_str().unwrap().to_string());
        }
        next = r.body["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 2);
    assert_eq!(names.len(), 55);
    let all = h
        .get_q(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Compute/restorePointCollections?api-version={API}"
        ))
        .await;
    assert_eq!(all.body["value"].as_array().unwrap().len(), 50);
    assert!(all.body["nextLink"].is_string());
}

#[tokio::test]
async fn collection_expand_update_and_delete() {
    let h = start().await;
    chain(&h).await;
    h.rp("rg", "rpc1", "rp1").await;
    let p = rpc_path("rg", "rpc1");
    let g = h
        .get_q(&format!("{p}?api-version={API}&$expand=restorePoints"))
        .await;
    assert_eq!(g.body["properties"]["restorePoints"][0]["name"], "rp1");
    assert_eq!(g.body["properties"]["source"]["location"], "eastus");
    assert!(h.get(&p).await.body["properties"]
        .get("restorePoints")
        .is_none());
    // Re-PUT of the same collection: 200.
    let r = h
        .put(&p, json!({"location": "eastus", "properties": {"source": {"id": vm_path("rg", "vm1")}}, "tags": {"a": "b"}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["tags"]["a"], "b");
    let t = h.get(&rpc_path("rg", "tgt")).await;
    assert_eq!(t.body["properties"]["source"]["id"], p);
    assert_eq!(h.delete(&p).await.status, 200);
    assert_eq!(h.delete(&p).await.status, 204);
    let r = h.get(&p).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn events_for_restore_point_writes_and_deletes() {
    let h = start().await;
    chain(&h).await;
    assert!(
        h.emu.drain_events().is_empty(),
        "VM/collection writes are not restore points"
    );
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    assert_eq!(h.delete(&rp1).await.status, 202);
    assert_eq!(
        h.delete(&rp1).await.status,
        202,
        "deleting again while the delete runs emits nothing"
    );
    let mut ev = h.emu.drain_events();
    assert_eq!(
        ev.len(),
        2,
        "the delete event fires when the delete completes"
    );
    h.clock.advance(Duration::minutes(1));
    assert_eq!(
        h.delete(&rp1).await.status,
        204,
        "deleting a deleted one emits nothing"
    );
    ev.extend(h.emu.drain_events());
    assert_eq!(ev.len(), 3);
    assert_eq!(
        ev[0]["eventType"],
        "Microsoft.Resources.ResourceWriteSuccess"
    );
    assert_eq!(ev[0]["subject"], rp1);
    assert_eq!(ev[0]["topic"], format!("/subscriptions/{SUB}"));
    assert_eq!(ev[0]["dataVersion"], "2");
    assert_eq!(ev[0]["metadataVersion"], "1");
    assert_eq!(ev[0]["data"]["resourceUri"], rp1);
    assert_eq!(
        ev[0]["data"]["operationName"],
        "Microsoft.Compute/restorePointCollections/restorePoints/write"
    );
    assert_eq!(ev[0]["data"]["status"], "Succeeded");
    assert_eq!(ev[0]["data"]["httpRequest"]["method"], "PUT");
    assert_eq!(ev[0]["eventTime"], "2026-11-01T00:00:00Z");
    assert_eq!(ev[1]["subject"], rp_path("rg", "tgt", "c1"));
    assert_eq!(
        ev[2]["eventType"],
        "Microsoft.Resources.ResourceDeleteSuccess"
    );
    assert_eq!(
        ev[2]["data"]["operationName"],
        "Microsoft.Compute/restorePointCollections/restorePoints/delete"
    );
    assert_eq!(ev[2]["data"]["httpRequest"]["method"], "DELETE");
    assert_eq!(ev[2]["eventTime"], "2026-11-01T00:07:00Z");
    assert!(h.emu.drain_events().is_empty());
    // The HTTP feed keeps everything and pages by sequence number.
    let r = h.get_q("/_emulator/events?after=1").await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["next"], 3);
    let r = h.get_q("/_emulator/events?after=3").await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 0);
    assert_eq!(r.body["next"], 3);
}

#[tokio::test]
async fn control_endpoints_plan_outcomes_and_report_stats() {
    let h = start().await;
    chain(&h).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    let r = h
        .http
        .post(format!("{}/_emulator/outcomes", h.base))
        .json(&json!({"sourceRestorePoint": rp1, "outcome": "neverProgress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let bad = h
        .http
        .post(format!("{}/_emulator/outcomes", h.base))
        .json(&json!({"sourceRestorePoint": rp1, "outcome": "explode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(h.copy("rg", "tgt", "c1", &rp1).await.status, 201);
    h.clock.advance(Duration::days(3));
    assert_eq!(
        percents(&h.iv(&rp_path("rg", "tgt", "c1")).await),
        vec![0, 0]
    );
    let s = h.get_q("/_emulator/stats").await;
    assert_eq!(s.body["copies_started"], 1);
    assert!(s.body["requests"].as_u64().unwrap() > 5);
}

async fn run_scenario(seed: u64) -> (Vec<String>, Vec<Value>) {
    let h = start_with(|c| {
        c.seed = seed;
        c.bandwidth_mbps = 100.0;
        c.faults = FaultConfig {
            copy_failure_rate: 0.4,
            copy_stall_rate: 0.2,
            ..Default::default()
        };
    })
    .await;
    h.vm("rg", "vm1", "eastus", json!({})).await;
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let rpc = format!("rpc{i}");
        h.local_rpc("rg", &rpc, "vm1", "eastus").await;
        h.target_rpc("rg", &format!("tgt{i}"), &rpc_path("rg", &rpc), "westus")
            .await;
        let rp = h.rp("rg", &rpc, "rp").await;
        assert_eq!(h.copy("rg", &format!("tgt{i}"), "c", &rp).await.status, 201);
    }
    h.clock.advance(Duration::days(15));
    for i in 0..6 {
        let iv = h.iv(&rp_path("rg", &format!("tgt{i}"), "c")).await;
        outcomes.push(
            iv["properties"]["instanceView"]["statuses"][0]["code"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let ids =
        h.get(&rpc_path("rg", "rpc0")).await.body["properties"]["restorePointCollectionId"].clone();
    (outcomes, vec![ids])
}

#[tokio::test]
async fn same_seed_same_run() {
    let a = run_scenario(42).await;
    let b = run_scenario(42).await;
    assert_eq!(a, b);
    let distinct: std::collections::BTreeSet<_> = a.0.iter().collect();
    assert!(
        distinct.len() > 1,
        "rates of 0.4/0.2 over 6 copies should mix outcomes: {:?}",
        a.0
    );
}

#[tokio::test]
async fn injected_faults_throttle_error_and_drop() {
    let h = start_with(|c| {
        c.faults = FaultConfig {
            throttle_rate: 1.0,
            ..Default::default()
        }
    })
    .await;
    let r = h.get(&rpc_path("rg", "x")).await;
    assert_eq!((r.status, r.code()), (429, "TooManyRequests"));
    assert!(r.header("retry-after").is_some());

    let h = start_with(|c| {
        c.faults = FaultConfig {
            server_error_rate: 1.0,
            ..Default::default()
        }
    })
    .await;
    let r = h.get(&rpc_path("rg", "x")).await;
    assert!(r.status == 500 || r.status == 503);
    assert!(!r.code().is_empty());

    let h = start_with(|c| {
        c.faults = FaultConfig {
            drop_rate: 1.0,
            ..Default::default()
        }
    })
    .await;
    let err = h
        .http
        .get(format!(
            "{}{}?api-version={API}",
            h.base,
            rpc_path("rg", "x")
        ))
        .bearer_auth("t")
        .send()
        .await;
    assert!(
        err.is_err(),
        "a dropped connection must surface as a client error"
    );
    let s = h.emu.stats();
    assert_eq!((s.injected_faults, s.requests), (1, 1));
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let h = start().await;
    let r = h
        .http
        .put(format!(
            "{}{}?api-version={API}",
            h.base,
            vm_path("rg", "v")
        ))
        .bearer_auth("t")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "InvalidRequestContent");
    let r = h.put(&vm_path("rg", "v"), json!({"properties": {}})).await;
    assert_eq!(r.code(), "LocationRequired");
    let r = h
        .vm_raw(json!({"location": "eastus", "tags": {"ferry-emulator:churnGBPerDay": "lots"}}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("churnGBPerDay"));
    let r = h
        .put(
            &rp_path("rg", "rpc1", "x"),
            json!({"properties": {"sourceRestorePoint": {"id": "/not/an/id"}}}),
        )
        .await;
    assert_eq!(r.status, 404, "missing target collection comes first");
    chain(&h).await;
    let r = h
        .put(
            &rp_path("rg", "tgt", "x"),
            json!({"properties": {"sourceRestorePoint": {"id": "/not/an/id"}}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
}

impl H {
    async fn vm_raw(&self, body: Value) -> Resp {
        self.put(&vm_path("rg", "raw"), body).await
    }
}

/// Sends the calls whose traffic oav checks through a [`RecordingProxy`] in front of the
/// emulator; setup calls made with `h.put`/`h.vm`… go straight to it and are not recorded.
struct Recorder {
    proxy: RecordingProxy,
}

impl Recorder {
    async fn call(
        &self,
        h: &H,
        method: reqwest::Method,
        path_q: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let r = h
            .send_to(&self.proxy.url, method.clone(), path_q, body)
            .await;
        assert_eq!(r.status, expect, "{method} {path_q}: {:?}", r.body);
        r.body
    }
}

/// The emulator's answers, at the swagger's api-versions, pass `oav validate-traffic`
/// against the official swagger vendored in tests/fixtures/swagger/ (ferry's client is checked
/// in tests/swagger.rs).
#[tokio::test]
async fn emulator_traffic_passes_oav() {
    use reqwest::Method as M;
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    let traffic = Arc::new(Traffic::new());
    let rec = Recorder {
        proxy: RecordingProxy::start(h.base.clone(), traffic.clone()).await,
    };
    let v = "?api-version=2025-04-01";
    let dv = "?api-version=2025-01-02";
    let des = format!("{}/diskEncryptionSets/des1", rg_path("rg"));
    let vm_body = |extra: Value| {
        let mut b = json!({"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {"osDisk": {"name": "os", "osType": "Linux", "createOption": "FromImage", "diskSizeGB": 30},
                "dataDisks": [{"lun": 0, "name": "data0", "createOption": "Empty", "diskSizeGB": 64}]}}});
        merge(&mut b, extra);
        b
    };
    rec.call(
        &h,
        M::PUT,
        &format!("{}{v}", vm_path("rg", "vm1")),
        Some(vm_body(json!({}))),
        201,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{}{v}", vm_path("rg", "vm1")),
        None,
        200,
    )
    .await;
    h.vm("rg", "cmk", "eastus", json!({"properties": {"storageProfile": {"osDisk": {"managedDisk": {"diskEncryptionSet": {"id": des}}}}}})).await;
    h.vm(
        "rg",
        "cvm",
        "eastus",
        json!({"properties": {"securityProfile": {"securityType": "ConfidentialVM"}}}),
    )
    .await;
    h.vm(
        "rg",
        "pvm",
        "eastus",
        json!({"tags": {"ferry-emulator:privateLink": "true"}}),
    )
    .await;

    let rpc = rpc_path("rg", "rpc1");
    let local = json!({"location": "eastus", "tags": {"k": "v"}, "properties": {"source": {"id": vm_path("rg", "vm1")}}});
    rec.call(&h, M::PUT, &format!("{rpc}{v}"), Some(local.clone()), 201)
        .await;
    rec.call(&h, M::PUT, &format!("{rpc}{v}"), Some(local), 200)
        .await;
    rec.call(
        &h,
        M::PATCH,
        &format!("{rpc}{v}"),
        Some(json!({"tags": {"k": "w"}})),
        200,
    )
    .await;
    let tgt = rpc_path("rg", "tgt");
    rec.call(
        &h,
        M::PUT,
        &format!("{tgt}{v}"),
        Some(json!({"location": "westus", "properties": {"source": {"id": rpc}}})),
        201,
    )
    .await;
    for (vm, coll) in [("cmk", "rpc-cmk"), ("cvm", "rpc-cvm"), ("pvm", "rpc-pvm")] {
        h.local_rpc("rg", coll, vm, "eastus").await;
    }

    let rp1 = rp_path("rg", "rpc1", "rp1");
    rec.call(
        &h,
        M::PUT,
        &format!("{rp1}{v}"),
        Some(json!({"properties": {"consistencyMode": "CrashConsistent"}})),
        201,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{rp1}{v}&$expand=instanceView"),
        None,
        200,
    )
    .await;
    h.clock.advance(Duration::minutes(10));
    rec.call(&h, M::GET, &format!("{rp1}{v}"), None, 200).await;
    rec.call(
        &h,
        M::GET,
        &format!("{rpc}{v}&$expand=restorePoints"),
        None,
        200,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{}/restorePointCollections{v}", rg_path("rg")),
        None,
        200,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("/subscriptions/{SUB}/providers/Microsoft.Compute/restorePointCollections{v}"),
        None,
        200,
    )
    .await;
    for coll in ["rpc-cmk", "rpc-cvm", "rpc-pvm"] {
        let p = h.rp("rg", coll, "rp").await;
        let list = rec
            .call(&h, M::GET, &format!("{p}/diskRestorePoints{dv}"), None, 200)
            .await;
        let name = list["value"][0]["name"].as_str().unwrap().to_string();
        rec.call(
            &h,
            M::GET,
            &format!("{p}/diskRestorePoints/{name}{dv}"),
            None,
            200,
        )
        .await;
    }

    let c1 = rp_path("rg", "tgt", "c1");
    let copy = json!({"properties": {"sourceRestorePoint": {"id": rp1}}});
    rec.call(&h, M::PUT, &format!("{c1}{v}"), Some(copy.clone()), 201)
        .await;
    rec.call(
        &h,
        M::PUT,
        &format!("{}{v}", rp_path("rg", "tgt", "c1-dup")),
        Some(copy),
        409,
    )
    .await;
    h.clock.advance(Duration::minutes(10));
    rec.call(
        &h,
        M::GET,
        &format!("{c1}{v}&$expand=instanceView"),
        None,
        200,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{c1}/diskRestorePoints{dv}"),
        None,
        200,
    )
    .await;
    h.clock.advance(Duration::days(1));
    rec.call(
        &h,
        M::GET,
        &format!("{c1}{v}&$expand=instanceView"),
        None,
        200,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{}{v}", rp_path("rg", "nope", "x")),
        None,
        404,
    )
    .await;
    rec.call(&h, M::DELETE, &format!("{rp1}{v}"), None, 202)
        .await;
    // While the delete runs, the restore point answers `Deleting`.
    let deleting = rec.call(&h, M::GET, &format!("{rp1}{v}"), None, 200).await;
    assert_eq!(deleting["properties"]["provisioningState"], "Deleting");
    h.clock.advance(Duration::minutes(1));
    rec.call(&h, M::DELETE, &format!("{rp1}{v}"), None, 204)
        .await;
    rec.call(&h, M::DELETE, &format!("{tgt}{v}"), None, 200)
        .await;
    rec.call(&h, M::DELETE, &format!("{tgt}{v}"), None, 204)
        .await;
    more_shapes(&traffic).await;
    assert_eq!(traffic.left_out(), Vec::<String>::new());
    traffic
        .assert_valid(&[
            "RestorePointCollections_CreateOrUpdate",
            "RestorePointCollections_Delete",
            "RestorePointCollections_Get",
            "RestorePointCollections_List",
            "RestorePointCollections_ListAll",
            "RestorePointCollections_Update",
            "RestorePoints_Create",
            "RestorePoints_Delete",
            "RestorePoints_Get",
            "VirtualMachines_CreateOrUpdate",
            "VirtualMachines_Get",
            "DiskRestorePoint_Get",
            "DiskRestorePoint_ListByRestorePoint",
        ])
        .await;
}

/// More of what the emulator can answer, recorded into `traffic`: optional properties
/// (instant access, excluded disks, Trusted Launch and confidential VMs), paged lists, failed
/// and terminated copies, and the error bodies of refused requests, throttling and faults.
async fn more_shapes(traffic: &Arc<Traffic>) {
    use reqwest::Method as M;
    let v = "?api-version=2025-04-01";
    let dv = "?api-version=2025-01-02";
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    let rec = Recorder {
        proxy: RecordingProxy::start(h.base.clone(), traffic.clone()).await,
    };
    h.vm(
        "rg",
        "tl",
        "eastus",
        json!({"properties": {"securityProfile": {"securityType": "TrustedLaunch"}}}),
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{}{v}", vm_path("rg", "tl")),
        None,
        200,
    )
    .await;
    let rpc = rpc_path("rg", "rpc-tl");
    rec.call(
        &h,
        M::PUT,
        &format!("{rpc}{v}"),
        Some(json!({"location": "eastus", "properties": {"source": {"id": vm_path("rg", "tl")}, "instantAccess": true}})),
        201,
    )
    .await;
    let data_disk = rec
        .call(
            &h,
            M::GET,
            &format!("{}{v}", vm_path("rg", "tl")),
            None,
            200,
        )
        .await["properties"]["storageProfile"]["dataDisks"][0]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rp = rp_path("rg", "rpc-tl", "rp1");
    rec.call(
        &h,
        M::PUT,
        &format!("{rp}{v}"),
        Some(json!({"properties": {"excludeDisks": [{"id": data_disk}], "instantAccessDurationMinutes": 120}})),
        201,
    )
    .await;
    h.clock.advance(Duration::minutes(6));
    rec.call(
        &h,
        M::GET,
        &format!("{rp}{v}&$expand=instanceView"),
        None,
        200,
    )
    .await;
    let list = rec
        .call(
            &h,
            M::GET,
            &format!("{rp}/diskRestorePoints{dv}"),
            None,
            200,
        )
        .await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
    // Refused requests: a bad consistency mode, a missing parent, an existing target name.
    rec.call(
        &h,
        M::PUT,
        &format!("{}{v}", rp_path("rg", "rpc-tl", "bad")),
        Some(json!({"properties": {"consistencyMode": "Sometimes"}})),
        400,
    )
    .await;
    rec.call(
        &h,
        M::PUT,
        &format!("{}{v}", rp_path("rg", "nope", "x")),
        Some(json!({"properties": {}})),
        404,
    )
    .await;
    rec.call(
        &h,
        M::GET,
        &format!("{}/diskRestorePoints/nope{dv}", rp),
        None,
        404,
    )
    .await;
    // A confidential VM's restore point, with its security profile.
    h.vm(
        "rg",
        "cvm",
        "eastus",
        json!({"properties": {"securityProfile": {"securityType": "ConfidentialVM"}}}),
    )
    .await;
    h.local_rpc("rg", "rpc-cvm", "cvm", "eastus").await;
    let crp = h.rp("rg", "rpc-cvm", "rp").await;
    rec.call(
        &h,
        M::GET,
        &format!("{crp}{v}&$expand=instanceView"),
        None,
        200,
    )
    .await;
    // A list longer than one page, followed through its nextLink.
    for i in 0..50 {
        h.local_rpc("rg", &format!("many{i:02}"), "tl", "eastus")
            .await;
    }
    let page = rec
        .call(
            &h,
            M::GET,
            &format!("{}/restorePointCollections{v}", rg_path("rg")),
            None,
            200,
        )
        .await;
    let next = url::Url::parse(page["nextLink"].as_str().expect("a second page")).unwrap();
    let page2 = rec
        .call(
            &h,
            M::GET,
            &format!("{}?{}", next.path(), next.query().unwrap()),
            None,
            200,
        )
        .await;
    assert!(page2.get("nextLink").is_none(), "{page2}");

    // Copies that fail part-way, and copies that stall until the platform terminates them.
    for outcome in [CopyOutcome::Fail, CopyOutcome::NeverProgress] {
        let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
        let rec = Recorder {
            proxy: RecordingProxy::start(h.base.clone(), traffic.clone()).await,
        };
        chain(&h).await;
        let src = h.rp("rg", "rpc1", "rp1").await;
        h.emu
            .plan_copy_outcome(&src.parse::<RestorePointId>().unwrap(), outcome);
        assert_eq!(h.copy("rg", "tgt", "c1", &src).await.status, 201);
        h.clock.advance(Duration::days(15));
        let c1 = rp_path("rg", "tgt", "c1");
        let got = rec
            .call(
                &h,
                M::GET,
                &format!("{c1}{v}&$expand=instanceView"),
                None,
                200,
            )
            .await;
        assert_eq!(
            got["properties"]["instanceView"]["statuses"][0]["code"], "ReplicationState/failed",
            "{outcome:?}: {got}"
        );
        rec.call(
            &h,
            M::GET,
            &format!("{c1}/diskRestorePoints{dv}"),
            None,
            200,
        )
        .await;
    }

    // Throttling by the token bucket, and injected throttling and server errors.
    let h = start_with(|c| c.limits.reads = Some((1, 0.0))).await;
    let rec = Recorder {
        proxy: RecordingProxy::start(h.base.clone(), traffic.clone()).await,
    };
    let coll = format!("{}{v}", rpc_path("rg", "none"));
    rec.call(&h, M::GET, &coll, None, 404).await;
    rec.call(&h, M::GET, &coll, None, 429).await;
    for (statuses, configure) in [
        (
            &[429][..],
            (|c: &mut EmulatorConfig| c.faults.throttle_rate = 1.0) as fn(&mut EmulatorConfig),
        ),
        (&[500, 503][..], |c: &mut EmulatorConfig| {
            c.faults.server_error_rate = 1.0
        }),
    ] {
        let h = start_with(configure).await;
        let proxy = RecordingProxy::start(h.base.clone(), traffic.clone()).await;
        for (method, path_q, body) in [
            (M::GET, coll.clone(), None),
            (
                M::PUT,
                format!("{}{v}", rp_path("rg", "none", "x")),
                Some(json!({"properties": {}})),
            ),
        ] {
            let r = h.send_to(&proxy.url, method, &path_q, body).await;
            assert!(
                statuses.contains(&r.status),
                "{statuses:?}: {} {:?}",
                r.status,
                r.body
            );
        }
    }
}

/// Drives the emulator with Microsoft's official Python SDK (azure-mgmt-compute, pinned in
/// tests/sdk/requirements.txt). `FERRY_SDK_PYTHON` names a Python interpreter that has it
/// installed. Ignored by a plain `cargo test` (reported as ignored, never as passed);
/// `scripts/test` installs the SDK into `.venv` (scripts/sdk-venv) and runs it with
/// `--ignored`. Run explicitly, it fails when the variable is unset.
#[tokio::test]
#[ignore = "needs Python with the official SDK in FERRY_SDK_PYTHON; scripts/test runs it with --ignored"]
async fn official_python_sdk_is_served() {
    let python = std::env::var_os("FERRY_SDK_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "FERRY_SDK_PYTHON is not set: it must name a Python interpreter with \
                 tests/sdk/requirements.txt installed (`FERRY_SDK_PYTHON=$(scripts/sdk-venv)`; \
                 scripts/test does this)"
            )
        });
    let h = start_with(|c| c.bandwidth_mbps = 100.0).await;
    chain(&h).await;
    h.vm("rg", "vm1", "eastus", json!({})).await;
    let rp1 = h.rp("rg", "rpc1", "rp1").await;
    for i in 0..55 {
        h.local_rpc("rg", &format!("many{i:02}"), "vm1", "eastus")
            .await;
    }
    let script = r#"
import sys
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import RestorePoint, ApiEntityReference

class Cred:
    def get_token(self, *scopes, **kw):
        return AccessToken("emulator-token", 4102444800)
    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo
        return AccessTokenInfo("emulator-token", 4102444800)

base, sub, rp1 = sys.argv[1], sys.argv[2], sys.argv[3]
c = ComputeManagementClient(Cred(), sub, base_url=base, polling_interval=0)
kw = {"enforce_https": False}
coll = c.restore_point_collections.get("rg", "rpc1", expand="restorePoints", **kw)
assert coll.restore_points[0].name == "rp1", coll
names = [x.name for x in c.restore_point_collections.list("rg", **kw)]
assert len(names) == 57, len(names)
poller = c.restore_points.begin_create("rg", "tgt", "c1",
    RestorePoint(source_restore_point=ApiEntityReference(id=rp1)), **kw)
print("create status", poller.status())
rp = c.restore_points.get("rg", "tgt", "c1", expand="instanceView", **kw)
assert rp.source_restore_point.id.lower() == rp1.lower()
st = rp.instance_view.disk_restore_points[0].replication_status
print("replication", st.status.code, st.completion_percent)
drps = list(c.disk_restore_point.list_by_restore_point("rg", "tgt", "c1", **kw))
assert len(drps) == 2 and drps[0].source_resource_location == "eastus", drps
try:
    c.restore_points.get("rg", "tgt", "nope", **kw)
    raise SystemExit("expected 404")
except Exception as e:
    assert "ResourceNotFound" in str(e), e
# A restore drill's disk: restored from the copy's disk restore point, waited for, deleted.
from azure.mgmt.compute.models import Disk, CreationData
os_drp = [d for d in drps if d.os_type][0]
disk = c.disks.begin_create_or_update("rg", "drill-os", Disk(location="westus",
    tags={"ferry-drill": "sdk"}, creation_data=CreationData(create_option="Restore",
    source_resource_id=os_drp.id)), **kw).result()
assert disk.provisioning_state == "Succeeded", disk
assert disk.creation_data.source_resource_id.lower() == os_drp.id.lower(), disk
got = c.disks.get("rg", "drill-os", **kw)
assert got.disk_size_gb == 30 and got.location == "westus" and got.tags["ferry-drill"] == "sdk", got
assert [x.name for x in c.disks.list_by_resource_group("rg", **kw)] == ["drill-os"]
c.disks.begin_delete("rg", "drill-os", **kw).result()
try:
    c.disks.get("rg", "drill-os", **kw)
    raise SystemExit("expected 404 after delete")
except Exception as e:
    assert "ResourceNotFound" in str(e), e
print("ok")
"#;
    let file = std::env::temp_dir().join(format!("ferry-sdk-{}.py", std::process::id()));
    std::fs::write(&file, script).unwrap();
    let run = tokio::process::Command::new(python)
        .arg(&file)
        .arg(&h.base)
        .arg(SUB)
        .arg(&rp1)
        .output();
    // The SDK's pollers wait for the disk's long-running operations: the emulator's clock
    // moves a minute every 100 ms of real time while the script runs (bounded).
    let clock = h.clock.clone();
    let ticker = tokio::spawn(async move {
        for _ in 0..3000 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            clock.advance(Duration::minutes(1));
        }
    });
    let out = run.await.unwrap();
    ticker.abort();
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.emu.stats().copies_started, 1);
    assert_eq!(h.emu.stats().disks_restored, 1);
    assert_eq!(h.emu.disks_present(), 0);
}

#[tokio::test]
async fn standalone_runs_on_scaled_time() {
    use ferry::sim::emulator::start_standalone;
    assert!(start_standalone(
        "127.0.0.1:0".parse().unwrap(),
        0.0,
        1,
        FaultConfig::default()
    )
    .await
    .is_err());
    // 3600x: the 5-minute settle of a local restore point takes about 83 ms of real time.
    let (emu, addr, _h) = start_standalone(
        "127.0.0.1:0".parse().unwrap(),
        3600.0,
        1,
        FaultConfig::default(),
    )
    .await
    .unwrap();
    let clock = ManualClock::new(datetime!(2026-11-01 00:00 UTC));
    let h = H {
        emu,
        clock,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    };
    h.vm("rg", "vm1", "eastus", json!({})).await;
    h.local_rpc("rg", "rpc1", "vm1", "eastus").await;
    let r = h
        .put(&rp_path("rg", "rpc1", "rp1"), json!({"properties": {}}))
        .await;
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    // A real sleep only guarantees that at least this much simulated time has passed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let g = h.get(&rp_path("rg", "rpc1", "rp1")).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    let s = h.get_q("/_emulator/stats").await;
    assert_eq!(s.body["requests"], 4);
}

#[tokio::test]
async fn restore_points_of_one_kind_keep_the_platforms_minimum_interval() {
    let h = start_with(|c| c.limits.min_restore_point_interval = true).await;
    chain(&h).await;
    let put = |name: &'static str, mode: &'static str| {
        let h = &h;
        async move {
            h.put(
                &rp_path("rg", "rpc1", name),
                json!({"properties": {"consistencyMode": mode}}),
            )
            .await
        }
    };
    assert_eq!(put("a1", "ApplicationConsistent").await.status, 201);
    h.clock.advance(Duration::hours(1));
    // Application-consistent: 3 hours apart at least.
    let r = put("a2", "ApplicationConsistent").await;
    assert_eq!((r.status, r.code()), (409, "VMRestorePointClientError"));
    // A crash-consistent one is of the other kind: hourly is fine.
    assert_eq!(put("c1", "CrashConsistent").await.status, 201);
    h.clock.advance(Duration::minutes(30));
    let r = put("c2", "CrashConsistent").await;
    assert_eq!((r.status, r.code()), (409, "VMRestorePointClientError"));
    h.clock.advance(Duration::minutes(30));
    assert_eq!(put("c2", "CrashConsistent").await.status, 201);
    h.clock.advance(Duration::hours(1));
    assert_eq!(put("a2", "ApplicationConsistent").await.status, 201);
    let s = h.emu.stats();
    assert_eq!(s.limit_refusals, 2);
    assert_eq!(
        s.rule_violations, 0,
        "a limit refusal is not a rule violation"
    );
}

#[tokio::test]
async fn a_vm_holds_at_most_500_restore_points_across_its_collections() {
    let h = start_with(|c| c.limits.writes = None).await;
    h.vm("rg", "vm1", "eastus", json!({})).await;
    h.local_rpc("rg", "rpc1", "vm1", "eastus").await;
    h.local_rpc("rg", "rpc2", "vm1", "eastus").await;
    for i in 0..500 {
        let rpc = if i % 2 == 0 { "rpc1" } else { "rpc2" };
        let r = h
            .put(
                &rp_path("rg", rpc, &format!("rp{i}")),
                json!({"properties": {}}),
            )
            .await;
        assert_eq!(r.status, 201, "{i}: {:?}", r.body);
    }
    let r = h
        .put(
            &rp_path("rg", "rpc1", "one-more"),
            json!({"properties": {}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "VMRestorePointClientError"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("500"));
    // A restore point being deleted still counts until it is gone.
    assert_eq!(h.delete(&rp_path("rg", "rpc2", "rp1")).await.status, 202);
    let r = h
        .put(
            &rp_path("rg", "rpc1", "one-more"),
            json!({"properties": {}}),
        )
        .await;
    assert_eq!(r.status, 409);
    h.clock.advance(Duration::minutes(2));
    let r = h
        .put(
            &rp_path("rg", "rpc1", "one-more"),
            json!({"properties": {}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let s = h.emu.stats();
    assert_eq!(s.limit_refusals_by_limit["restore-points-per-vm"], 2);
    // Another VM has its own 500.
    h.vm("rg", "vm2", "eastus", json!({})).await;
    h.local_rpc("rg", "rpc3", "vm2", "eastus").await;
    let r = h
        .put(&rp_path("rg", "rpc3", "x"), json!({"properties": {}}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn a_target_collection_holds_at_most_its_limit_of_copies() {
    // 500 by default (modelled on the per-VM limit); lowered here to reach it quickly.
    assert_eq!(LimitConfig::default().copies_per_target_collection, 500);
    let h = start_with(|c| c.limits.copies_per_target_collection = 30).await;
    let src = chain(&h).await;
    let mut previous: Option<String> = None;
    for i in 0..31 {
        let rp = h.rp("rg", "rpc1", &format!("rp{i:03}")).await;
        let r = h.copy("rg", "tgt", &format!("rp{i:03}"), &rp).await;
        if i < 30 {
            assert_eq!(r.status, 201, "{i}: {:?}", r.body);
        } else {
            assert_eq!((r.status, r.code()), (409, "VMRestorePointClientError"));
        }
        // Fast links: the copy completes within the step; three copies an hour at most.
        h.clock.advance(Duration::minutes(20));
        // The source keeps its first restore point and the newest (under its own 500).
        if let Some(p) = previous.take() {
            if !p.ends_with("rp000") {
                assert_eq!(h.delete(&p).await.status, 202);
            }
        }
        previous = Some(rp);
    }
    let s = h.emu.stats();
    assert_eq!(s.target_restore_points_max, 30);
    assert_eq!(s.limit_refusals_by_limit["copies-per-target-collection"], 1);
    assert_eq!(s.rule_violations, 0, "{:?}", s.violations_by_rule);
    let _ = src;
}
