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

pub(super) fn collection_name(i: usize) -> String {
    format!("rpc-{}", vm_name(i))
}

pub(super) fn collection_id(i: usize) -> String {
    format!(
        "{}/restorePointCollections/{}",
        rg_path(SOURCE_RG),
        collection_name(i)
    )
}

pub(super) fn rp_id(i: usize, name: &str) -> String {
    format!("{}/restorePoints/{name}", collection_id(i))
}

pub(super) fn des_id(rg: &str, name: &str) -> String {
    format!("{}/diskEncryptionSets/{name}", rg_path(rg))
}

/// The demo policy's RPO objective (`rpoObjective` of its source rule), in hours; the
/// report measures the RPO it samples against it.
pub(super) const RPO_OBJECTIVE_HOURS: i64 = 36;

/// The demo's policy; `catch_up` (all | latest | auto) sets the source rule's `catchUp`,
/// absent leaves the policy's default.
pub(super) fn policy_json(
    catch_up: Option<&str>,
    retention: Option<&Value>,
    prune_source: bool,
    protect_base: bool,
    drills: bool,
) -> String {
    let targets: Vec<Value> = TARGET_REGIONS
        .iter()
        .map(|r| {
            let mut t = json!({
                "region": r,
                "resourceGroup": TARGET_RG,
                "diskEncryptionSets": { des_id(SOURCE_RG, "des-app"): des_id(TARGET_RG, &format!("des-dr-{r}")) },
            });
            if let Some(ret) = retention {
                t["retention"] = ret.clone();
            }
            t
        })
        .collect();
    let mut source_rule = json!({
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{SOURCE_RG}"),
        "targets": targets,
        "createTargetCollections": true,
        "maxCopyDuration": "P14D",
        "rpoObjective": format!("PT{RPO_OBJECTIVE_HOURS}H"),
        "minConsistency": "CrashConsistent",
    });
    if drills {
        source_rule["drill"] = super::drills::policy_drill();
    }
    if let Some(c) = catch_up {
        source_rule["catchUp"] = json!(c);
    }
    if prune_source {
        source_rule["pruneSource"] = json!({"keepLatest": 3});
    }
    if protect_base {
        source_rule["protectBase"] = json!(true);
    }
    json!({"rules": [source_rule, {
        // DR collections live in their own resource group: copies made there must never be
        // fed back in (they would be copies of copies).
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{TARGET_RG}"),
        "targets": [{"region": "northeurope"}],
    }]})
    .to_string()
}

/// `--retention`: a JSON policy, or `none`; the policy's own parser judges the content.
pub(super) fn retention_json(arg: Option<&str>) -> Result<Option<Value>, DemoError> {
    match arg.map(str::trim) {
        None => Ok(None),
        Some(n) if n.eq_ignore_ascii_case("none") => Ok(Some(json!("none"))),
        Some(j) => serde_json::from_str::<Value>(j)
            .map(Some)
            .map_err(|e| DemoError::Args(format!("--retention {j:?}: not JSON nor `none`: {e}"))),
    }
}

/// The platform's minimum interval between one VM's (crash-consistent) restore points.
pub(super) const MIN_RP_INTERVAL: Duration = Duration::HOUR;
/// Application-consistent restore points may be made at most every 3 hours.
const MIN_APP_CONSISTENT_INTERVAL: Duration = Duration::hours(3);
/// The estate's own retention: each VM keeps at most this many restore points (its first
/// one included), well under the platform's 500, as a real schedule would.
pub(super) const SOURCE_KEEP: usize = 400;

/// The demo estate's own source retention: per VM, the restore points it made after its
/// first, oldest first. The first (the base of every chain's copies) is never deleted.
pub(super) struct SourceRetention {
    kept: Vec<std::collections::VecDeque<String>>,
}

impl SourceRetention {
    pub(super) fn new(vms: usize) -> Self {
        SourceRetention {
            kept: vec![Default::default(); vms],
        }
    }

    /// The restore point of VM `i` to delete before it makes another, if it is at its keep.
    pub(super) fn make_room(&mut self, i: usize) -> Option<String> {
        let k = self.kept.get_mut(i)?;
        if k.len() + 1 >= SOURCE_KEEP {
            k.pop_front()
        } else {
            None
        }
    }

    /// VM `i` made restore point `name` of slot `k` (slot 0 is its first: never deleted).
    pub(super) fn made(&mut self, i: usize, slot: i64, name: &str) {
        if slot > 0 {
            if let Some(k) = self.kept.get_mut(i) {
                k.push_back(name.to_string());
            }
        }
    }
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

/// The simulated world's schedule. Every VM makes a restore point every `interval`: slot
/// `k` of VM `i` at START + k × interval + 1 h + 3 min × i (VMs staggered three minutes
/// apart), named after the slot's start (`rp-2026-11-01` when daily, else
/// `rp-2026-11-01t0400`), so one name is one slot in every VM.
pub(super) struct Scenario {
    pub(super) vms: usize,
    pub(super) days: u32,
    /// Whole seconds, at least one demo tick.
    pub(super) interval: Duration,
}

impl Scenario {
    /// The schedule's consistency: application-consistent when its interval allows it
    /// (every 3 hours at most), else crash-consistent (hourly at most).
    pub(super) fn consistency(&self) -> &'static str {
        if self.interval >= MIN_APP_CONSISTENT_INTERVAL {
            "ApplicationConsistent"
        } else {
            "CrashConsistent"
        }
    }

    /// An ad-hoc restore point between two scheduled ones is of the other consistency: the
    /// platform's minimum interval holds between restore points of one kind.
    pub(super) fn adhoc_consistency(&self) -> &'static str {
        if self.consistency() == "CrashConsistent" {
            "ApplicationConsistent"
        } else {
            "CrashConsistent"
        }
    }

    fn daily(&self) -> bool {
        self.interval == Duration::DAY
    }

    fn slot_start(&self, k: i64) -> OffsetDateTime {
        START + Duration::seconds(self.interval.whole_seconds() * k)
    }

    /// Name of every VM's restore point of slot `k`.
    pub(super) fn rp_name(&self, k: i64) -> String {
        let at = self.slot_start(k);
        if self.daily() {
            format!("rp-{}", at.date())
        } else {
            format!("rp-{}t{:02}{:02}", at.date(), at.hour(), at.minute())
        }
    }

    /// When VM `i` makes its restore point of slot `k`.
    pub(super) fn rp_time(&self, i: usize, k: i64) -> OffsetDateTime {
        self.slot_start(k) + Duration::hours(1) + Duration::minutes(3 * i as i64)
    }

    /// The slots of VM `i` whose restore point falls in [`from`, `to`).
    pub(super) fn slots_in(
        &self,
        i: usize,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> impl Iterator<Item = i64> + '_ {
        let step = self.interval.whole_seconds().max(1);
        let since = (from - self.rp_time(i, 0)).whole_seconds();
        // The first slot at or after `from` (ceiling division; never before slot 0).
        let first = if since <= 0 {
            0
        } else {
            (since + step - 1) / step
        };
        (first..).take_while(move |k| self.rp_time(i, *k) < to)
    }

    /// The first slot that starts on or after the start of `day`: the scenario's events tied
    /// to a day (a planted copy outcome, the ad-hoc restore point, delayed events) use it,
    /// which for daily restore points is that day's.
    pub(super) fn first_slot_of_day(&self, day: u32) -> i64 {
        let step = self.interval.whole_seconds().max(1);
        (i64::from(day) * 86_400 + step - 1) / step
    }

    /// The day (from START) that slot `k` of VM 0 falls on.
    pub(super) fn day_of_slot(&self, k: i64) -> u32 {
        u32::try_from((self.rp_time(0, k) - START).whole_days()).unwrap_or(u32::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sc(interval: Duration) -> Scenario {
        Scenario {
            vms: 300,
            days: 30,
            interval,
        }
    }

    #[test]
    fn daily_slots_keep_their_names_and_times() {
        let d = sc(Duration::DAY);
        assert_eq!(d.rp_name(0), "rp-2026-11-01");
        assert_eq!(d.rp_name(7), "rp-2026-11-08");
        assert_eq!(d.rp_time(2, 3), datetime!(2026-11-04 01:06 UTC));
        assert_eq!(d.first_slot_of_day(9), 9);
        assert_eq!(d.day_of_slot(9), 9);
        // One slot per VM per day, found by the tick whose window holds it.
        let t = datetime!(2026-11-04 01:00 UTC);
        assert_eq!(
            d.slots_in(2, t, t + Duration::minutes(10))
                .collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(d.slots_in(5, t, t + Duration::minutes(10)).count(), 0);
        assert_eq!(d.slots_in(0, START, START + Duration::hours(1)).count(), 0);
    }

    #[test]
    fn shorter_intervals_name_each_slot_by_its_start() {
        let h4 = sc(Duration::hours(4));
        assert_eq!(h4.rp_name(0), "rp-2026-11-01t0000");
        assert_eq!(h4.rp_name(1), "rp-2026-11-01t0400");
        assert_eq!(h4.rp_name(7), "rp-2026-11-02t0400");
        assert_eq!(h4.first_slot_of_day(3), 18);
        assert_eq!(h4.day_of_slot(18), 3);
        // Every slot of a day is found exactly once by the day's ticks.
        let mut seen = Vec::new();
        for tick in 144..288 {
            let now = START + Duration::minutes(10 * tick);
            seen.extend(h4.slots_in(299, now, now + Duration::minutes(10)));
        }
        // VM 299 is 14 h 57 min behind its slot's start: slot 3 (12:00) lands on day 1 at 03:57.
        assert_eq!(seen, [3, 4, 5, 6, 7, 8]);
        // A 90-minute interval: names stay unique.
        let odd = sc(Duration::minutes(90));
        let names: std::collections::BTreeSet<_> = (0..100).map(|k| odd.rp_name(k)).collect();
        assert_eq!(names.len(), 100);
    }
}
