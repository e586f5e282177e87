//! `ferry plan <scope>` against the ARM emulator over loopback: it lists the estate and
//! says what the pipeline would do, with the product's own rules: the rule and chains per
//! collection, target collections found or to create, the first copy onboarding makes,
//! and the confidential VM, private-link disks and missing key mapping rejected up front.
//! Its count of ARM reads is checked against the emulator's own count.

mod common;

use common::{collection, rg, World, SUB, TOKEN};
use ferry::cli::plan::{plan_report, plan_table};
use ferry::functions::plan::PlanProgress;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl PlanProgress for Seen {
    fn listed(&self, n: usize) {
        self.0.lock().unwrap().push(format!("listed {n}"));
    }
    fn examined(&self, done: usize, of: usize) {
        self.0.lock().unwrap().push(format!("examined {done}/{of}"));
    }
}

fn des(rg_name: &str, name: &str) -> String {
    format!("{}/diskEncryptionSets/{name}", rg(rg_name))
}

/// A VM (with tags and extra properties) and its collection in `rg_name`.
async fn vm(w: &World, rg_name: &str, name: &str, props: Value, tags: Value) {
    let mut p = json!({"storageProfile": {
        "osDisk": {"name": format!("{name}-os"), "diskSizeGB": 64, "managedDisk": {}},
        "dataDisks": [{"lun": 0, "name": format!("{name}-data"), "diskSizeGB": 128, "managedDisk": {}}]}});
    if let Some(d) = props.get("des") {
        p["storageProfile"]["osDisk"]["managedDisk"]["diskEncryptionSet"] = json!({"id": d});
        p["storageProfile"]["dataDisks"][0]["managedDisk"]["diskEncryptionSet"] = json!({"id": d});
    }
    if let Some(st) = props.get("securityType") {
        p["securityProfile"] = json!({"securityType": st});
    }
    let vm_id = format!("{}/virtualMachines/{name}", rg(rg_name));
    w.put(
        &vm_id,
        json!({"location": "eastus", "properties": p, "tags": tags}),
    )
    .await;
    let c = format!("{}/restorePointCollections/rpc-{name}", rg(rg_name));
    w.put(
        &c,
        json!({"location": "eastus", "properties": {"source": {"id": vm_id}}}),
    )
    .await;
}

fn policy() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        "targets": [
            {"region": "westus2", "resourceGroup": "rg-dr",
             "diskEncryptionSets": {des("rg-app", "des-app"): des("rg-dr", "des-dr-westus2")}},
            {"region": "centralus", "resourceGroup": "rg-dr"},
        ],
    }]})
    .to_string()
}

#[tokio::test]
async fn plan_reads_the_estate_and_says_what_the_pipeline_would_do() {
    let w = World::new(200.0).await;
    vm(&w, "rg-app", "plain", json!({}), json!({})).await;
    vm(
        &w,
        "rg-app",
        "cmk",
        json!({"des": des("rg-app", "des-app")}),
        json!({}),
    )
    .await;
    vm(
        &w,
        "rg-app",
        "conf",
        json!({"securityType": "ConfidentialVM"}),
        json!({}),
    )
    .await;
    vm(
        &w,
        "rg-app",
        "priv",
        json!({}),
        json!({"ferry-emulator:privateLink": "true"}),
    )
    .await;
    vm(&w, "rg-app", "empty", json!({}), json!({})).await;
    vm(&w, "rg-other", "elsewhere", json!({}), json!({})).await;
    for v in ["plain", "cmk", "conf", "priv", "elsewhere"] {
        let c = if v == "elsewhere" {
            format!("{}/restorePointCollections/rpc-{v}", rg("rg-other"))
        } else {
            collection(v)
        };
        for (i, name) in ["rp-1", "rp-2"].iter().enumerate() {
            w.clock.advance(time::Duration::hours(1 + i as i64));
            w.put(
                &format!("{c}/restorePoints/{name}"),
                json!({"properties": {}}),
            )
            .await;
        }
    }
    w.clock.advance(time::Duration::hours(1));
    // rpc-plain's westus2 target exists already.
    w.put(
        &format!(
            "{}/restorePointCollections/rg-app-rpc-plain-westus2",
            rg("rg-dr")
        ),
        json!({"location": "westus2", "properties": {"source": {"id": collection("plain")}}}),
    )
    .await;

    let env: BTreeMap<String, String> = [
        ("FERRY_ARM_ENDPOINT", w.url.clone()),
        ("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}")),
        ("FERRY_POLICY", policy()),
        ("FERRY_ARM_READ_RATE", "off".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let before = w.emu.stats().requests;
    let seen = Seen::default();
    let p = plan_report(&env, &format!("/subscriptions/{SUB}"), &seen)
        .await
        .unwrap();
    let requests = w.emu.stats().requests - before;
    assert_eq!(
        p["armReads"],
        json!(requests),
        "the plan counts every ARM read it makes"
    );
    // 1 list page for the subscription, 1 for the target group; per covered collection with
    // restore points: its expand, the first copy's GET and its disk list; `empty`: 1.
    assert_eq!(requests, 1 + 1 + 4 * 3 + 1, "{p:#}");

    assert_eq!(p["collections"], 6, "{p:#}");
    assert_eq!(p["covered"], 5);
    assert_eq!(p["chains"], 10);
    let by_name = |n: &str| {
        p["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not in the plan: {p:#}"))
    };
    let chain = |n: &str, region: &str| {
        by_name(n)["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["targetRegion"] == region)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("rpc-elsewhere")["rule"], Value::Null);
    // Onboarding (latest by default) copies the newest restore point first.
    let plain_w = chain("rpc-plain", "westus2");
    assert_eq!(plain_w["target"]["state"], "exists", "{plain_w:#}");
    assert_eq!(plain_w["firstCopy"]["verdict"], "copy");
    assert_eq!(plain_w["firstCopy"]["restorePoint"], "rp-2");
    assert_eq!(chain("rpc-plain", "centralus")["target"]["state"], "create");
    // CMK: mapped for westus2, not for centralus.
    let cmk_w = chain("rpc-cmk", "westus2");
    assert_eq!(cmk_w["firstCopy"]["verdict"], "copy", "{cmk_w:#}");
    assert_eq!(
        cmk_w["firstCopy"]["encryption"].as_object().unwrap().len(),
        2
    );
    assert_eq!(
        chain("rpc-cmk", "centralus")["firstCopy"]["code"],
        "MissingDiskEncryptionSet"
    );
    assert_eq!(
        chain("rpc-conf", "westus2")["firstCopy"]["code"],
        "ConfidentialVm"
    );
    assert_eq!(
        chain("rpc-priv", "centralus")["firstCopy"]["code"],
        "PrivateLink"
    );
    assert_eq!(
        chain("rpc-empty", "westus2")["firstCopy"]["verdict"],
        "nothing yet"
    );
    assert_eq!(p["missingKeyMappings"].as_array().unwrap().len(), 1);
    assert_eq!(
        p["rejected"].as_array().unwrap().len(),
        4,
        "conf and priv, both regions"
    );
    assert_eq!(p["targetCollectionsToCreate"].as_array().unwrap().len(), 9);
    // Seven listed: the six sources and the existing target collection (not planned).
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.first().map(String::as_str), Some("listed 7"));
    assert_eq!(seen.last().map(String::as_str), Some("examined 5/5"));

    let table = plan_table(&p);
    eprintln!("{table}");
    assert!(table.starts_with("Collection"), "{table}");
    assert!(
        table.contains("reject: ")
            && table.contains("rpc-elsewhere")
            && table.contains("not copied"),
        "{table}"
    );
    assert!(table.contains(&format!("6 collections in /subscriptions/{SUB}, 5 covered by a rule, 10 chains; 9 target collections to create, 1 missing key mappings, 4 first copies rejected; {requests} ARM reads.")), "{table}");

    // A resource group scope reads only that group's list.
    let p = plan_report(
        &env,
        &format!("/subscriptions/{SUB}/resourceGroups/rg-other"),
        &Seen::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            p["collections"].clone(),
            p["covered"].clone(),
            p["armReads"].clone()
        ),
        (json!(1), json!(0), json!(1))
    );

    // One collection by id: no list at all.
    let p = plan_report(&env, &collection("conf"), &Seen::default())
        .await
        .unwrap();
    assert_eq!(p["collections"], 1);
    assert_eq!(
        p["plan"][0]["chains"][0]["firstCopy"]["code"],
        "ConfidentialVm"
    );

    // Errors name what is wrong.
    let e = plan_report(&env, "/subscriptions", &Seen::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("scope \"/subscriptions\""), "{e}");
    let mut no_policy = env.clone();
    no_policy.remove("FERRY_POLICY");
    let e = plan_report(
        &no_policy,
        &format!("/subscriptions/{SUB}"),
        &Seen::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("FERRY_POLICY"), "{e}");
}
