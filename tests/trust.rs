//! What ferry refuses to take on trust, through the host stand-in and the emulator:
//! - a target collection's name: same-named collections in two resource groups sent to one
//!   DR resource group get their own targets, and an existing target collection made for
//!   another source is refused with an alert instead of being copied into (the platform
//!   would fail those copies, and the chains would be mixed);
//! - a delete event: a chain forgets its base restore point only when ARM confirms the
//!   restore point is gone, so a forged or stale event cannot silence the base protection.

mod common;

use common::*;
use ferry::sim::host::{EventDelivery, Host};
use serde_json::{json, Value};
use time::Duration;

/// One rule for the whole subscription into one DR resource group, default template.
fn subscription_policy() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}"),
        "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
    }]})
    .to_string()
}

async fn start_host(world: &World) -> Host {
    start_serve_host(
        world,
        serve_env(&world.url, &subscription_policy(), "memory"),
    )
    .await
}

/// VM `name` in resource group `rg` with its collection `rpc-{name}`, and one restore point.
async fn vm_in(world: &World, rg_name: &str, name: &str) -> String {
    let vm = format!("{}/virtualMachines/{name}", rg(rg_name));
    world
        .put(
            &vm,
            json!({"location": "eastus", "properties": {"storageProfile": {
                "osDisk": {"name": format!("{rg_name}-{name}-os"), "diskSizeGB": 32}}}}),
        )
        .await;
    let coll = format!("{}/restorePointCollections/rpc-{name}", rg(rg_name));
    world
        .put(
            &coll,
            json!({"location": "eastus", "properties": {"source": {"id": vm}}}),
        )
        .await;
    world
        .put(
            &format!("{coll}/restorePoints/rp1"),
            json!({"properties": {}}),
        )
        .await;
    coll
}

async fn run(world: &World, host: &Host) {
    world.clock.advance(Duration::minutes(6));
    host.publish_events(
        world.emu.drain_events(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    for _ in 0..30 {
        world.clock.advance(Duration::minutes(10));
        host.fire_timer("poller").await.unwrap();
        host.run_until_idle().await.unwrap();
    }
}

fn alerts(host: &Host) -> Vec<Value> {
    host.peek("alerts")
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_named_collections_in_two_resource_groups_get_their_own_targets() {
    let world = World::new(2000.0).await;
    let host = start_host(&world).await;
    vm_in(&world, "rg-app", "vm1").await;
    vm_in(&world, "rg-other", "vm1").await;
    run(&world, &host).await;

    let stats = world.emu.stats();
    assert_eq!(stats.copies_started, 2, "{stats:?}");
    assert_eq!(stats.rule_violations, 0, "{stats:?}");
    for source_rg in ["rg-app", "rg-other"] {
        let target = format!(
            "{}/restorePointCollections/{source_rg}-rpc-vm1-westus2",
            rg("rg-dr")
        );
        let (status, body) = world.arm(reqwest::Method::GET, &target, None).await;
        assert_eq!(status, 200, "{target}: {body}");
        let source = body["properties"]["source"]["id"].as_str().unwrap_or("");
        assert!(
            source
                .to_ascii_lowercase()
                .contains(&format!("/resourcegroups/{source_rg}/")),
            "{target} has source {source}"
        );
    }
    let failed: Vec<_> = alerts(&host)
        .into_iter()
        .filter(|a| a["kind"] != "CopySucceeded")
        .collect();
    assert!(failed.is_empty(), "unexpected alerts: {failed:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_target_collection_of_another_source_is_refused() {
    let world = World::new(2000.0).await;
    let host = start_host(&world).await;
    // Someone else's collection already holds the name the chain would use.
    let other_vm = format!("{}/virtualMachines/vm9", rg("rg-else"));
    world
        .put(
            &other_vm,
            json!({"location": "eastus", "properties": {"storageProfile": {
                "osDisk": {"name": "vm9-os", "diskSizeGB": 32}}}}),
        )
        .await;
    let other = format!("{}/restorePointCollections/rpc-vm9", rg("rg-else"));
    world
        .put(
            &other,
            json!({"location": "eastus", "properties": {"source": {"id": other_vm}}}),
        )
        .await;
    let squatted = format!(
        "{}/restorePointCollections/rg-app-rpc-vm1-westus2",
        rg("rg-dr")
    );
    world
        .put(
            &squatted,
            json!({"location": "westus2", "properties": {"source": {"id": other}}}),
        )
        .await;
    vm_in(&world, "rg-app", "vm1").await;
    world.emu.drain_events();
    // Only vm1's restore point event reaches ferry (re-create it so it is the one pending).
    world
        .put(
            &format!(
                "{}/restorePointCollections/rpc-vm1/restorePoints/rp2",
                rg("rg-app")
            ),
            json!({"properties": {}}),
        )
        .await;
    run(&world, &host).await;

    let stats = world.emu.stats();
    assert_eq!(
        stats.copies_started, 0,
        "no copy into a foreign collection: {stats:?}"
    );
    let foreign: Vec<_> = alerts(&host)
        .into_iter()
        .filter(|a| a.to_string().contains("TargetCollectionForeign"))
        .collect();
    assert!(
        !foreign.is_empty(),
        "no TargetCollectionForeign alert: {:?}",
        alerts(&host)
    );
    assert!(
        foreign[0].to_string().contains("rpc-vm9"),
        "the alert names the collection's real source: {}",
        foreign[0]
    );
    host.shutdown().await;
}

fn base_alerts(host: &Host) -> usize {
    alerts(host)
        .iter()
        .filter(|a| a.to_string().contains("BaseRestorePointDeleted"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_event_for_a_restore_point_that_exists_is_ignored() {
    let world = World::new(2000.0).await;
    let host = start_host(&world).await;
    let coll = vm_in(&world, "rg-app", "vm1").await;
    run(&world, &host).await;
    assert_eq!(world.emu.stats().copies_started, 1);

    // A genuine delete event of another restore point, rewritten to name the base (rp1),
    // which still exists: what a forged or stale event looks like.
    world
        .put(
            &format!("{coll}/restorePoints/rp2"),
            json!({"properties": {}}),
        )
        .await;
    world.clock.advance(Duration::minutes(6));
    let (status, _) = world
        .arm(
            reqwest::Method::DELETE,
            &format!("{coll}/restorePoints/rp2"),
            None,
        )
        .await;
    assert!((200..300).contains(&status));
    // A delete is a long-running operation: its event fires when it completes.
    world.clock.advance(Duration::minutes(1));
    let delete = world
        .emu
        .drain_events()
        .into_iter()
        .find(|e| e.to_string().contains("ResourceDeleteSuccess"))
        .expect("the emulator sends a delete event");
    let forged: Value = serde_json::from_str(
        &delete
            .to_string()
            .replace("/restorePoints/rp2", "/restorePoints/rp1"),
    )
    .unwrap();
    assert!(forged.to_string().contains("/restorePoints/rp1"));
    host.publish_events(
        vec![forged],
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    assert_eq!(base_alerts(&host), 0, "a forged delete event was believed");

    // The real deletion is believed.
    let (status, _) = world
        .arm(
            reqwest::Method::DELETE,
            &format!("{coll}/restorePoints/rp1"),
            None,
        )
        .await;
    assert!((200..300).contains(&status));
    world.clock.advance(Duration::minutes(1));
    host.publish_events(
        world.emu.drain_events(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    assert_eq!(base_alerts(&host), 1, "{:?}", alerts(&host));
    host.shutdown().await;
}
