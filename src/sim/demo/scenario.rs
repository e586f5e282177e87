//! The demo's simulated world: which VMs exist and what role each plays, the policy, and
//! the operator's hands on ARM (creating VMs, collections and restore points through the
//! emulator's REST API, retrying its injected faults like any well-behaved client).

use super::{
    DemoError, SOURCE_REGION, SOURCE_RG, START, SUBSCRIPTION, TARGET_REGIONS, TARGET_RG, TOKEN,
};
use crate::clock::ManualClock;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The roles VMs play, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Plain,
    /// Disks encrypted with a customer-managed key (mapped per region in the policy).
    Cmk,
    /// A confidential VM: every restore point is rejected up front.
    Confidential,
    /// One copy fails part-way.
    FailingCopy,
    /// One copy never progresses and expires after 14 days.
    NeverProgresses,
    /// Its base restore point is deleted mid-run.
    BaseDeleted,
}

pub(super) fn role(i: usize) -> Role {
    match i {
        1 => Role::Cmk,
        2 => Role::Confidential,
        3 => Role::FailingCopy,
        4 => Role::NeverProgresses,
        5 => Role::BaseDeleted,
        _ => Role::Plain,
    }
}

pub(super) fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Compute")
}

pub(super) fn vm_name(i: usize) -> String {
    format!("vm-{i:02}")
}

pub(super) fn collection_id(i: usize) -> String {
    format!(
        "{}/restorePointCollections/rpc-{}",
        rg_path(SOURCE_RG),
        vm_name(i)
    )
}

pub(super) fn rp_id(i: usize, name: &str) -> String {
    format!("{}/restorePoints/{name}", collection_id(i))
}

pub(super) fn des_id(rg: &str, name: &str) -> String {
    format!("{}/diskEncryptionSets/{name}", rg_path(rg))
}

pub(super) fn policy_json() -> String {
    let targets: Vec<Value> = TARGET_REGIONS
        .iter()
        .map(|r| json!({
            "region": r,
            "resourceGroup": TARGET_RG,
            "diskEncryptionSets": { des_id(SOURCE_RG, "des-app"): des_id(TARGET_RG, &format!("des-dr-{r}")) },
        }))
        .collect();
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{SOURCE_RG}"),
        "targets": targets,
        "createTargetCollections": true,
        "maxCopyDuration": "P14D",
        "rpoObjective": "PT36H",
        "minConsistency": "CrashConsistent",
    }, {
        // DR collections live in their own resource group: copies made there must never be
        // fed back in (they would be copies of copies).
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{TARGET_RG}"),
        "targets": [{"region": "northeurope"}],
    }]})
    .to_string()
}

/// The scenario's hands on ARM: what operators and Azure Backup would do (create VMs,
/// collections, restore points; delete one). It retries the emulator's injected faults like
/// any well-behaved client.
pub(super) struct Operator {
    pub(super) http: reqwest::Client,
    pub(super) base: url::Url,
    /// While set, a 429 makes simulated time pass by its Retry-After (only before the
    /// scenario's clock starts ticking).
    pub(super) waits_on: Option<ManualClock>,
}

impl Operator {
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DemoError> {
        self.call_with(method, path, body, 40).await
    }

    pub(super) async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        attempts: u32,
    ) -> Result<(u16, Value), DemoError> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| DemoError::Arm(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("api-version", "2025-11-01");
        let mut last = String::new();
        for attempt in 0..attempts {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(TOKEN);
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i64>().ok());
                    let v: Value = resp.json().await.unwrap_or(Value::Null);
                    if let (429, Some(secs), Some(clock)) = (status, retry_after, &self.waits_on) {
                        // Setting the world up: the operator waits as ARM asks, in simulated time.
                        clock.advance(Duration::seconds(secs.clamp(1, 60)));
                    }
                    if status == 429 || status >= 500 {
                        last = format!("HTTP {status}: {v}");
                    } else {
                        return Ok((status, v));
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(2 + u64::from(attempt))).await;
        }
        Err(DemoError::Arm(format!("{method} {path}: {last}")))
    }

    /// Another tool's burst of reads: GETs `path` until ARM's read bucket itself answers 429
    /// (its refusals carry `x-ms-ratelimit-remaining-subscription-reads: 0`; injected faults
    /// don't) or `max` requests were sent. Returns (requests sent, bucket refusals).
    pub(super) async fn drain_reads(&self, path: &str, max: usize) -> (usize, usize) {
        let Ok(mut url) = self.base.join(path.trim_start_matches('/')) else {
            return (0, 0);
        };
        url.query_pairs_mut()
            .append_pair("api-version", "2025-11-01");
        let mut refused = 0;
        for sent in 1..=max {
            let Ok(resp) = self.http.get(url.clone()).bearer_auth(TOKEN).send().await else {
                continue;
            };
            let bucket_empty = resp.status().as_u16() == 429
                && resp
                    .headers()
                    .get("x-ms-ratelimit-remaining-subscription-reads")
                    .is_some_and(|v| v == "0");
            let _ = resp.bytes().await;
            if bucket_empty {
                refused += 1;
                if refused >= 3 {
                    return (sent, refused);
                }
            }
        }
        (max, refused)
    }

    pub(super) async fn put(&self, path: &str, body: Value) -> Result<Value, DemoError> {
        let (status, v) = self.call(reqwest::Method::PUT, path, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(DemoError::Arm(format!("PUT {path}: HTTP {status}: {v}")))
        }
    }
}

/// The simulated world's schedule.
pub(super) struct Scenario {
    pub(super) vms: usize,
    pub(super) days: u32,
}

impl Scenario {
    /// Restore point name for a VM's daily restore point.
    pub(super) fn rp_name(day: u32) -> String {
        format!("rp-{}", (START + Duration::days(i64::from(day))).date())
    }

    pub(super) fn rp_time(i: usize, day: u32) -> OffsetDateTime {
        START
            + Duration::days(i64::from(day))
            + Duration::hours(1)
            + Duration::minutes(3 * i as i64)
    }
}

pub(super) async fn setup_world(op: &Operator, sc: &Scenario) -> Result<(), DemoError> {
    for i in 0..sc.vms {
        let name = vm_name(i);
        let r = role(i);
        let des = (r == Role::Cmk).then(|| json!({"id": des_id(SOURCE_RG, "des-app")}));
        let mut os = json!({"name": format!("{name}-os"), "diskSizeGB": 128, "managedDisk": {"storageAccountType": "Premium_LRS"}});
        let mut data = json!({"lun": 0, "name": format!("{name}-data"), "diskSizeGB": 256 + 128 * (i % 3), "managedDisk": {"storageAccountType": "Premium_LRS"}});
        if let Some(d) = &des {
            os["managedDisk"]["diskEncryptionSet"] = d.clone();
            data["managedDisk"]["diskEncryptionSet"] = d.clone();
        }
        let mut props = json!({"storageProfile": {"osDisk": os, "dataDisks": [data]}});
        if r == Role::Confidential {
            props["securityProfile"] = json!({"securityType": "ConfidentialVM"});
        }
        let churn = if i % 2 == 0 { "4" } else { "0.2" };
        op.put(
            &format!("{}/virtualMachines/{name}", rg_path(SOURCE_RG)),
            json!({"location": SOURCE_REGION, "properties": props, "tags": {"ferry-emulator:churnGBPerDay": churn, "ferry-emulator:usedPercent": "40"}}),
        )
        .await?;
        op.put(&collection_id(i), json!({"location": SOURCE_REGION, "properties": {"source": {"id": format!("{}/virtualMachines/{name}", rg_path(SOURCE_RG))}}})).await?;
    }
    Ok(())
}
