//! The whole flow over loopback HTTP, through the Functions host stand-in, with `ferry serve`
//! as a real child process on the Table Storage ledger (Azurite): events delivered twice and
//! late, a handler failure redelivered, `kill -9` of the handler mid-copy, and the copy still
//! completing exactly once per region.

mod common;

use common::*;
use ferry::sim::host::{EventDelivery, HandlerTarget, Host, HostConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use time::Duration;

/// The host stand-in spawning `ferry serve` itself (it sets FERRY_SERVICEBUS_ENDPOINT).
async fn start_host(world: &World, arm: &str, ledger: &str) -> Host {
    start_serve_host(world, serve_env(arm, &policy(), ledger)).await
}

async fn tick(world: &World, host: &Host) {
    world.clock.advance(Duration::minutes(10));
    host.run_until_idle().await.unwrap();
    host.fire_timer("poller").await.unwrap();
    host.run_until_idle().await.unwrap();
}

async fn readiness(host: &Host, target: &str) -> Value {
    let q = percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let (status, body) = host
        .call_http(
            "status",
            "GET",
            &format!("/api/status/readiness?restorePoint={q}"),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn handler_env(arm: &str, ledger: &str, servicebus: &str) -> BTreeMap<String, String> {
    let mut env = serve_env(arm, &policy(), ledger);
    env.insert("FERRY_SERVICEBUS_ENDPOINT".into(), servicebus.to_string());
    env
}

/// `ferry serve` as a child process on a fixed port, so the test can kill -9 it and start
/// it again where the host expects it.
async fn spawn_serve(port: u16, env: &BTreeMap<String, String>) -> tokio::process::Child {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("serve")
        .envs(env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("ferry serve starts");
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("ferry serve did not answer GET / on port {port}");
}

async fn kill_9(child: &mut tokio::process::Child) {
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_survive_duplicates_failures_and_kill_9() {
    let Some(ledger) = azurite_ledger(&unique_table("pipeline")) else {
        return;
    };
    let world = World::new(40.0).await;
    let proxy = ArmProxy::start(world.url.clone()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The host needs a handler to probe before it tells where its Service Bus is; the first
    // process only answers the probe and is replaced at once.
    let mut handler = spawn_serve(
        port,
        &handler_env(&proxy.url, &ledger, "http://127.0.0.1:9"),
    )
    .await;
    let mut cfg = HostConfig::new(
        env!("CARGO_MANIFEST_DIR"),
        HandlerTarget::Url(format!("http://127.0.0.1:{port}/").parse().unwrap()),
        Arc::new(world.clock.clone()),
    );
    cfg.settings = host_settings();
    let host = Host::start(cfg).await.expect("host stand-in starts");
    host.declare_topic("alerts").unwrap();
    let env = handler_env(&proxy.url, &ledger, host.service_bus_endpoint().as_str());
    kill_9(&mut handler).await;
    handler = spawn_serve(port, &env).await;

    world.vm("vm1").await;
    world.restore_point("vm1", "rp1").await;
    let events = world.emu.drain_events();
    assert_eq!(events.len(), 1, "one write event for rp1");

    // A handler failure: the process is dead when Event Grid delivers; the batch fails and
    // Event Grid delivers it again once the handler is back.
    kill_9(&mut handler).await;
    host.publish_events(events.clone(), EventDelivery::EventGridTrigger)
        .await
        .unwrap();
    host.run_until_idle().await.unwrap();
    assert!(
        host.stats().failures >= 1,
        "delivery to a dead handler must fail: {:?}",
        host.stats()
    );
    handler = spawn_serve(port, &env).await;

    // ARM down while the same event arrives again through the queue (twice): ingest puts it
    // back on the queue with a delay instead of failing.
    proxy.down.store(true, Ordering::SeqCst);
    host.publish_events(
        events.clone(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.publish_events(
        events.clone(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    assert!(proxy.refused.load(Ordering::SeqCst) > 0);
    proxy.down.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        tick(&world, &host).await;
    }
    assert!(
        host.stats().redeliveries >= 1,
        "the failed Event Grid batch must be redelivered: {:?}",
        host.stats()
    );
    assert_eq!(
        world.emu.stats().copies_started,
        2,
        "one copy per target region: {:?}",
        world.emu.stats()
    );

    // kill -9 mid-copy; the restarted handler finds its state in the Table ledger.
    let before = readiness(&host, &target_rp("vm1", "westus2", "rp1")).await;
    assert_eq!(
        before["ready"], false,
        "the copy must still be running: {before}"
    );
    kill_9(&mut handler).await;
    let _handler = spawn_serve(port, &env).await;

    let mut done = false;
    for _ in 0..200 {
        tick(&world, &host).await;
        let w = readiness(&host, &target_rp("vm1", "westus2", "rp1")).await;
        let c = readiness(&host, &target_rp("vm1", "centralus", "rp1")).await;
        if w["ready"] == true && c["ready"] == true {
            assert_eq!(
                w["lineage"]["sourceVm"]
                    .as_str()
                    .unwrap_or("")
                    .to_ascii_lowercase(),
                format!("{}/virtualmachines/vm1", rg("rg-app")).to_ascii_lowercase()
            );
            assert_eq!(
                w["lineage"]["sourceRestorePoint"].as_str().unwrap_or(""),
                rp("vm1", "rp1")
            );
            done = true;
            break;
        }
    }
    assert!(done, "the copies never completed");

    // The same event, long after Service Bus's duplicate-detection window: the ledger
    // still knows the copy, so nothing is started again.
    host.publish_events(events, EventDelivery::Queue("restore-point-events".into()))
        .await
        .unwrap();
    tick(&world, &host).await;

    let stats = world.emu.stats();
    assert_eq!(stats.copies_started, 2, "{stats:?}");
    assert_eq!(stats.duplicate_copies, 0, "{stats:?}");
    assert_eq!(stats.rule_violations, 0, "{stats:?}");
    assert!(host.dead_letters("copy-requests").is_empty());
    assert!(host.dead_letters("restore-point-events").is_empty());
    assert!(host.dead_letters("eventgrid:ingest-eventgrid").is_empty());
    let alerts: Vec<String> = host.peek("alerts").into_iter().map(|m| m.body).collect();
    assert!(
        alerts.is_empty(),
        "a clean run raises no alerts: {alerts:?}"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_copy_put_is_resumed_not_repeated() {
    let Some(ledger) = azurite_ledger(&unique_table("resume")) else {
        return;
    };
    let world = World::new(400.0).await;
    let proxy = ArmProxy::start(world.url.clone()).await;
    let host = start_host(&world, &proxy.url, &ledger).await;
    world.vm("vm2").await;
    world.restore_point("vm2", "rp1").await;
    world.clock.advance(Duration::minutes(6));

    // Every PUT fails: the chain claims the copy (Starting) but the copy PUT never lands.
    proxy.fail_puts.store(true, Ordering::SeqCst);
    host.publish_events(
        world.emu.drain_events(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    assert_eq!(world.emu.stats().copies_started, 0);
    proxy.fail_puts.store(false, Ordering::SeqCst);

    for _ in 0..12 {
        tick(&world, &host).await;
    }
    let stats = world.emu.stats();
    assert_eq!(
        stats.copies_started, 2,
        "resumed once per region: {stats:?}"
    );
    assert_eq!(stats.duplicate_copies, 0);
    assert_eq!(stats.rule_violations, 0, "{stats:?}");
    assert_eq!(
        readiness(&host, &target_rp("vm2", "westus2", "rp1")).await["ready"],
        true
    );
    host.shutdown().await;
}
