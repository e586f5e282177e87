//! Restore drills end to end on the emulator: chains copied by the real sequencer and poller,
//! then the `drill` function restores each chain's newest ready copy into the drill resource
//! group, waits, checks, records the restore time, deletes the disks; it is not due again
//! within its period; it deletes an earlier drill's leftovers but never a drill's that is
//! still running; one chain's trouble holds up no other chain's drill; a drill whose restores
//! ARM refuses fails once with a `DrillFailed` alert and leaves no disk.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use common::{collection, rp, ArmProxy, World, SUB, TOKEN};
use ferry::alerts::AlertKind;
use ferry::clock::Clock;
use ferry::functions::drill::{drill, DrillRun, DrillSettings};
use ferry::functions::poller::poller;
use ferry::functions::{sequencer::sequencer, App, CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::drills::{all_drills, insert_drill, running_drill_copies, DrillState};
use ferry::ledger::records::chain_key;
use serde_json::json;
use time::Duration;

async fn app(world: &World, arm_url: &str) -> App {
    common::app_on(
        world,
        arm_url,
        1,
        json!({"rules": [{
            "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
            "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
            "drill": {"every": "P1D", "sample": "all"},
        }]}),
    )
    .await
}

/// Two VMs' restore points copied to westus2 by the sequencer, finished by the poller.
async fn copied_chains(world: &World, app: &App) -> Vec<String> {
    let mut keys = Vec::new();
    for vm in ["vm1", "vm2"] {
        world.vm(vm).await;
        world.restore_point(vm, "rp-1").await;
        world.clock.advance(Duration::minutes(10));
        let coll: CollectionId = collection(vm).parse().unwrap();
        let key = chain_key(&coll, "westus2");
        let msg = CopyRequestMessage {
            source_restore_point: rp(vm, "rp-1"),
            target_region: "westus2".into(),
            chain: key.clone(),
            event_id: Some(format!("event-{vm}")),
            purpose: Purpose::Event,
            attempt: 0,
            first_attempt_at: None,
        };
        sequencer(
            app,
            &serde_json::to_string(&msg).unwrap(),
            world.clock.now(),
        )
        .await
        .unwrap();
        keys.push(key);
    }
    world.clock.advance(Duration::hours(2));
    poller(app, world.clock.now()).await.unwrap();
    keys
}

/// An emulator whose copies finish within the first poller run.
async fn fast_world() -> World {
    World::with_config(|cfg| {
        cfg.bandwidth_mbps = 10_000.0;
        cfg.restore_point_settle = Duration::ZERO;
    })
    .await
}

/// Two copied chains, with ferry's ARM traffic through a proxy that can fail it.
async fn copied_behind_proxy() -> (World, ArmProxy, App) {
    let world = fast_world().await;
    let proxy = ArmProxy::start(world.url.clone()).await;
    let app = app(&world, &proxy.url).await;
    copied_chains(&world, &app).await;
    (world, proxy, app)
}

/// A disk restored from `drp` into the drill resource group behind ferry's back.
async fn put_raw_disk(world: &World, name: &str, tags: serde_json::Value, drp: &str) {
    let disks = format!(
        "/subscriptions/{SUB}/resourceGroups/ferry-drill-westus2/providers/Microsoft.Compute/disks"
    );
    let r = reqwest::Client::new()
        .put(format!(
            "{}{disks}/{name}?api-version=2025-01-02",
            world.url
        ))
        .bearer_auth(TOKEN)
        .json(&json!({"location": "westus2", "tags": tags,
            "properties": {"creationData": {"createOption": "Restore", "sourceResourceId": drp}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// One drill run while the emulator's clock moves a minute every 10 ms of real time.
async fn run_drills(world: &World, app: &App) -> DrillRun {
    let clock = world.clock.clone();
    let ticker = tokio::spawn(async move {
        for _ in 0..20_000 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            clock.advance(Duration::minutes(1));
        }
    });
    let settings = DrillSettings {
        poll_every: std::time::Duration::from_millis(20),
        wait_budget: std::time::Duration::from_secs(60),
    };
    let run = drill(app, &world.clock, &settings, None).await.unwrap();
    ticker.abort();
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chain_with_a_ready_copy_is_drilled_timed_and_cleaned_up() {
    let world = fast_world().await;
    let app = app(&world, &world.url).await;
    let keys = copied_chains(&world, &app).await;

    let run = run_drills(&world, &app).await;
    assert_eq!(run.started.len(), 2, "{:?}", run.skipped);
    assert_eq!(run.succeeded.len(), 2, "failed: {:?}", run.failed);
    assert_eq!(run.still_running, 0);
    assert!(run.outcome.alerts.is_empty());
    for d in &run.succeeded {
        println!(
            "drill {} restored {} disk(s) in {:?} s",
            d.id,
            d.disks.len(),
            d.restore_seconds
        );
        assert!(keys.contains(&d.chain));
        // OS disk 64 GB, data disk 128 GB: the emulator restores in 2-3 minutes.
        let s = d.restore_seconds.unwrap();
        assert!((120.0..=600.0).contains(&s), "{s}");
        assert_eq!(d.disks.len(), 2);
        assert!(d.cleaned);
    }
    let stats = world.emu.stats();
    assert_eq!(stats.disks_restored, 4);
    assert_eq!(stats.unsafe_restores, 0);
    // Deletes were accepted; they complete within a minute.
    world.clock.advance(Duration::minutes(1));
    assert_eq!(world.emu.disks_present(), 0);
    assert!(running_drill_copies(app.ledger.as_ref())
        .await
        .unwrap()
        .is_empty());

    // Status shows the last drill per chain and the restore times; no alert was raised.
    let (code, body) =
        ferry::functions::status::status(&app, "drills", &Default::default(), world.clock.now())
            .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["run"].as_u64(), body["succeeded"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(body["chains"].as_array().unwrap().len(), 2);
    let p50 = body["restoreSecondsP50"].as_f64().unwrap();
    let max = body["restoreSecondsMax"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{body}");
    assert_eq!(body["chains"][0]["lastDrill"]["state"], "Succeeded");

    // Within the period nothing is due.
    let again = run_drills(&world, &app).await;
    assert!(again.started.is_empty());

    // A leftover of an earlier (crashed) drill is deleted by the next drill; a disk that is not
    // a drill's is left alone.
    let drp = &run.succeeded[0].disks[0].disk_restore_point;
    put_raw_disk(&world, "old-0", json!({"ferry-drill": "crashed"}), drp).await;
    put_raw_disk(&world, "theirs", json!({}), drp).await;
    world.clock.advance(Duration::days(1));
    let next = run_drills(&world, &app).await;
    assert_eq!(next.started.len(), 2);
    assert_eq!(next.succeeded.len(), 2);
    assert_eq!(next.leftovers_deleted, 1);
    world.clock.advance(Duration::minutes(5));
    assert_eq!(
        world.emu.disks_present(),
        1,
        "only the disk that is not ferry's"
    );
    assert_eq!(all_drills(app.ledger.as_ref()).await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_arm_refuses_fails_once_with_an_alert_and_leaves_no_disk() {
    let (world, proxy, app) = copied_behind_proxy().await;

    // ARM sheds the disk PUTs (503) for one run: the drills stay running, their PUTs pending,
    // and the next run (ARM answering again) restores and finishes them.
    proxy.fail_puts.store(true, Ordering::SeqCst);
    let step = drill(&app, &world.clock, &DrillSettings::STEP, None)
        .await
        .unwrap();
    assert_eq!((step.started.len(), step.still_running), (2, 2));
    assert!(step.failed.is_empty() && step.outcome.alerts.is_empty());
    assert_eq!(world.emu.disks_present(), 0);
    proxy.fail_puts.store(false, Ordering::SeqCst);
    let recovered = run_drills(&world, &app).await;
    assert_eq!(recovered.succeeded.len(), 2, "{:?}", recovered.failed);
    assert!(recovered.started.is_empty());

    // A period later ARM refuses every PUT for good: each drill fails once, at its time
    // limit, with one alert, and leaves no disk.
    world.clock.advance(Duration::days(1));
    proxy.fail_puts.store(true, Ordering::SeqCst);
    let run = run_drills(&world, &app).await;
    proxy.fail_puts.store(false, Ordering::SeqCst);
    assert_eq!(run.failed.len(), 2);
    assert!(run.succeeded.is_empty());
    let alerts: BTreeSet<_> = run.outcome.alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(alerts.len(), 2, "one alert per failed drill");
    for a in &run.outcome.alerts {
        assert_eq!(a.kind, AlertKind::DrillFailed);
        assert!(a.message.contains("not ready 6 hours"), "{}", a.message);
    }
    for d in &run.failed {
        assert_eq!(d.state, DrillState::Failed);
        assert!(d.cleaned);
    }
    world.clock.advance(Duration::minutes(1));
    assert_eq!(world.emu.disks_present(), 0);
    // Retried at the next period, and then it works.
    world.clock.advance(Duration::days(1));
    let next = run_drills(&world, &app).await;
    assert_eq!(next.succeeded.len(), 2, "{:?}", next.failed);
    world.clock.advance(Duration::minutes(1));
    assert_eq!(world.emu.disks_present(), 0);
    assert_eq!(world.emu.stats().unsafe_restores, 0);
    // The successes close both failures: one `Resolved` each, with the id each fired with.
    let resolved: BTreeSet<_> = next
        .outcome
        .alerts
        .iter()
        .inspect(|a| assert!(a.is_resolved() && a.kind == AlertKind::DrillFailed, "{a:?}"))
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(resolved, alerts);
    assert!(all_drills(app.ledger.as_ref())
        .await
        .unwrap()
        .iter()
        .filter(|d| d.state == DrillState::Failed)
        .all(|d| d.resolved));
    // Once: the next run (nothing due) resolves nothing again.
    let quiet = run_drills(&world, &app).await;
    assert!(
        quiet.outcome.alerts.is_empty(),
        "{:?}",
        quiet.outcome.alerts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chains_trouble_holds_up_no_other_and_a_running_drill_is_never_a_leftover() {
    let (world, proxy, app) = copied_behind_proxy().await;
    let first = run_drills(&world, &app).await;
    assert_eq!(first.succeeded.len(), 2, "{:?}", first.failed);

    // A drill another run recorded (after this run read the ledger: here, older than the
    // chain's last drill, so this run's own reading of the ledger does not count it), whose
    // disk is being restored, and a dead drill's disk.
    let mut theirs = first.succeeded[0].clone();
    theirs.id = "overlapping".into();
    theirs.started -= Duration::minutes(1);
    theirs.state = DrillState::Running;
    theirs.disks.truncate(1);
    theirs.disks[0].name = "ferry-drill-overlapping-0".into();
    (theirs.ended, theirs.restore_seconds, theirs.etag) = (None, None, None);
    theirs.cleaned = false;
    insert_drill(app.ledger.as_ref(), &mut theirs)
        .await
        .unwrap();
    let drp = theirs.disks[0].disk_restore_point.clone();
    put_raw_disk(
        &world,
        "ferry-drill-overlapping-0",
        json!({"ferry-drill": "overlapping"}),
        &drp,
    )
    .await;
    put_raw_disk(&world, "old-0", json!({"ferry-drill": "crashed"}), &drp).await;

    // A period later, ARM fails every read of the chain planned first (the longest undrilled).
    world.clock.advance(Duration::days(1));
    let planned_first = first
        .succeeded
        .iter()
        .min_by_key(|d| (d.started, d.chain.clone()))
        .unwrap();
    let copy_path = planned_first.copy.to_string();
    *proxy.fail_path.lock().unwrap() = Some(copy_path);
    let run = run_drills(&world, &app).await;
    *proxy.fail_path.lock().unwrap() = None;

    let why = &run.skipped[&planned_first.chain];
    assert!(why.starts_with("not started this run"), "{why}");
    assert_eq!(
        run.started.len(),
        1,
        "the other chain is drilled: {:?}",
        run.skipped
    );
    assert_eq!(run.succeeded.len(), 1, "{:?}", run.failed);
    assert_ne!(run.succeeded[0].chain, planned_first.chain);
    assert_eq!(run.leftovers_deleted, 1, "only the dead drill's disk");
    world.clock.advance(Duration::minutes(5));
    let disk: ferry::ids::ManagedDiskId = format!(
        "/subscriptions/{SUB}/resourceGroups/ferry-drill-westus2/providers/Microsoft.Compute/disks/ferry-drill-overlapping-0"
    )
    .parse()
    .unwrap();
    assert!(
        app.arm.get_disk(&disk).await.unwrap().is_some(),
        "the running drill's disk is still there"
    );
    assert_eq!(world.emu.disks_present(), 1);

    // The next run drills the chain that was skipped.
    let next = run_drills(&world, &app).await;
    assert_eq!(
        next.succeeded.len(),
        1,
        "{:?} {:?}",
        next.failed,
        next.skipped
    );
    assert_eq!(next.succeeded[0].chain, planned_first.chain);
}
