//! The benchmark's world: the clock whose speed changes between setup and sweep, the ids,
//! the policy, the copy requests and their Service Bus deliveries, and the operators' PUTs
//! (VM, source collection, restore points) through the emulator's REST API.

use ferry::clock::Clock;
use ferry::functions::{CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::records::chain_key;
use ferry::sim::host::encode::DeliveredMessage;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const SUB: &str = "00000000-0000-0000-0000-0000000be4c4";
pub(crate) const TOKEN: &str = "bench-token";
const REGION: &str = "eastus";
const TARGET: &str = "westus2";
const SETUP_CONCURRENCY: usize = 32;

/// Simulated time that runs `scale` × real time; the scale can change mid-run.
pub(crate) struct PhaseClock(Mutex<(OffsetDateTime, Instant, f64)>);

impl PhaseClock {
    pub(crate) fn new(scale: f64) -> Self {
        PhaseClock(Mutex::new((
            OffsetDateTime::now_utc(),
            Instant::now(),
            scale,
        )))
    }
    pub(crate) fn set_scale(&self, scale: f64) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = g.0 + g.1.elapsed().mul_f64(g.2);
        *g = (now, Instant::now(), scale);
    }
}

impl Clock for PhaseClock {
    fn now(&self) -> OffsetDateTime {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.0 + g.1.elapsed().mul_f64(g.2)
    }
}

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}/providers/Microsoft.Compute")
}

fn vm(i: usize) -> String {
    format!("{}/virtualMachines/vm-{i:05}", rg("rg-app"))
}

fn collection(i: usize) -> String {
    format!("{}/restorePointCollections/rpc-{i:05}", rg("rg-app"))
}

fn restore_point(i: usize) -> String {
    format!("{}/restorePoints/rp-0001", collection(i))
}

pub(crate) fn policy_json() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        "targets": [{"region": TARGET, "resourceGroup": "rg-dr"}],
        "createTargetCollections": true,
    }]})
    .to_string()
}

/// The copy request ingest would queue for restore point `i`.
pub(crate) fn copy_request(i: usize) -> Result<String, String> {
    let coll: CollectionId = collection(i).parse().map_err(|e| format!("{e}"))?;
    let m = CopyRequestMessage {
        source_restore_point: restore_point(i),
        target_region: TARGET.into(),
        chain: chain_key(&coll, TARGET),
        event_id: Some(uuid::Uuid::new_v4().to_string()),
        purpose: Purpose::Event,
        attempt: 0,
        first_attempt_at: None,
    };
    serde_json::to_string(&m).map_err(|e| e.to_string())
}

async fn put(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Result<(), String> {
    let url = format!("{base}{path}?api-version=2025-11-01");
    let mut last = String::new();
    for _ in 0..5000 {
        match http.put(&url).bearer_auth(TOKEN).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                last = format!("HTTP {}", r.status());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(r) => {
                let s = r.status();
                return Err(format!(
                    "PUT {path}: HTTP {s}: {}",
                    r.text().await.unwrap_or_default()
                ));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("PUT {path}: gave up: {last}"))
}

/// VM, source collection and one restore point per index, through ARM's REST API.
pub(crate) async fn setup_world(base: &str, n: usize) -> Result<(), String> {
    let http = reqwest::Client::new();
    let results: Vec<Result<(), String>> = futures::stream::iter((0..n).map(|i| {
        let http = http.clone();
        async move {
            let vm_body = json!({"location": REGION, "properties": {"storageProfile": {
                "osDisk": {"name": format!("vm-{i:05}-os"), "diskSizeGB": 128, "managedDisk": {"storageAccountType": "Premium_LRS"}},
                "dataDisks": [{"lun": 0, "name": format!("vm-{i:05}-data"), "diskSizeGB": 256, "managedDisk": {"storageAccountType": "Premium_LRS"}}]}},
                "tags": {"ferry-emulator:usedPercent": "40"}});
            put(&http, base, &vm(i), &vm_body).await?;
            put(&http, base, &collection(i), &json!({"location": REGION, "properties": {"source": {"id": vm(i)}}})).await?;
            put(&http, base, &restore_point(i), &json!({"properties": {}})).await
        }
    }))
    .buffer_unordered(SETUP_CONCURRENCY)
    .collect()
    .await;
    results.into_iter().collect()
}

pub(crate) fn delivered(i: usize, now: OffsetDateTime) -> DeliveredMessage {
    DeliveredMessage {
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: collection(i)
            .parse::<CollectionId>()
            .ok()
            .map(|c| chain_key(&c, TARGET)),
        sequence_number: i as i64 + 1,
        enqueued_time: now,
        expires_at: now + time::Duration::days(14),
        delivery_count: 1,
        content_type: Some("application/json".into()),
        lock_token: uuid::Uuid::new_v4().to_string(),
        correlation_id: None,
        subject: Some("copy-request".into()),
        application_properties: Default::default(),
        namespace: "bench.servicebus.windows.net".into(),
    }
}
