//! Two `ferry serve` processes on one Table ledger, racing on one chain: sequencer and
//! poller invocations hit both at once, round after round. ETag-conditional batches must
//! keep every copy started exactly once, in order, one at a time, with no lost update.

mod common;

use common::*;
use ferry::functions::{CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::records::chain_key;
use ferry::sim::host::encode::{encode_service_bus, encode_timer, DeliveredMessage, SysData};
use ferry::sim::host::{HandlerTarget, Host, HostConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::Duration;

const RPS: usize = 5;
const REGIONS: [&str; 2] = ["westus2", "centralus"];

fn env(arm: &str, ledger: &str) -> BTreeMap<String, String> {
    [
        ("FERRY_ARM_ENDPOINT", arm.to_string()),
        ("FERRY_POLICY", policy()),
        ("FERRY_LEDGER", ledger.to_string()),
        ("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}")),
        ("FERRY_ARM_READ_RATE", "off".into()),
        ("FERRY_ARM_WRITE_RATE", "off".into()),
        ("FERRY_LOG", "error".into()),
        ("FERRY_COPY_QUEUE", "copy-requests".into()),
        ("FERRY_EVENTS_QUEUE", "restore-point-events".into()),
        ("FERRY_ALERTS_TOPIC", "alerts".into()),
        ("FERRY_DRILL_SCHEDULE", "0 0 3 * * 0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sequencer_payload(body: &str, seq: i64, now: time::OffsetDateTime) -> Value {
    let msg = DeliveredMessage {
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: None,
        sequence_number: seq,
        enqueued_time: now,
        expires_at: now + Duration::days(14),
        delivery_count: 1,
        content_type: Some("application/json".into()),
        lock_token: uuid::Uuid::new_v4().to_string(),
        correlation_id: None,
        subject: None,
        application_properties: BTreeMap::new(),
        namespace: "local".into(),
    };
    encode_service_bus("request", body, &msg, &SysData::new("sequencer", now))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handlers_racing_on_one_chain_never_double_start() {
    let Some(ledger) = azurite_ledger(&unique_table("race")) else {
        return;
    };
    let world = World::new(2000.0).await;
    // Handler A through the host stand-in (it also provides the Service Bus endpoint)...
    let target = HandlerTarget::Process {
        exe: env!("CARGO_BIN_EXE_ferry").into(),
        args: vec!["serve".into()],
        env: env(&world.url, &ledger),
    };
    let mut cfg = HostConfig::new(
        env!("CARGO_MANIFEST_DIR"),
        target,
        Arc::new(world.clock.clone()),
    );
    cfg.settings = env(&world.url, &ledger);
    let host = Host::start(cfg).await.unwrap();
    host.declare_topic("alerts").unwrap();
    let a = host.handler_url();
    // ...and handler B, a second process on the same ledger.
    let port = free_port();
    let mut b_env = env(&world.url, &ledger);
    b_env.insert(
        "FERRY_SERVICEBUS_ENDPOINT".into(),
        host.service_bus_endpoint().to_string(),
    );
    let _b = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("serve")
        .envs(&b_env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let b: url::Url = format!("http://127.0.0.1:{port}/").parse().unwrap();
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if http.get(b.clone()).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    world.vm("vm3").await;
    for i in 0..RPS {
        world.restore_point("vm3", &format!("rp{i}")).await;
        world.clock.advance(Duration::minutes(30));
    }
    world.emu.drain_events();
    let source: CollectionId = collection("vm3").parse().unwrap();
    let bodies: Vec<String> = (0..RPS)
        .flat_map(|i| REGIONS.iter().map(move |r| (i, *r)))
        .map(|(i, r)| {
            serde_json::to_string(&CopyRequestMessage {
                source_restore_point: rp("vm3", &format!("rp{i}")),
                target_region: r.into(),
                chain: chain_key(&source, r),
                event_id: None,
                purpose: Purpose::Event,
                attempt: 0,
                first_attempt_at: None,
            })
            .unwrap()
        })
        .collect();

    let mut seq = 0;
    for _round in 0..80 {
        let (_, body) = host
            .call_http("status", "GET", "/api/status/chains", &[], None)
            .await
            .unwrap();
        let done = body["chains"].as_array().is_some_and(|cs| {
            cs.len() == REGIONS.len() && cs.iter().all(|c| c["copies"]["Succeeded"] == RPS)
        });
        if done {
            break;
        }
        let now = ferry::clock::Clock::now(&world.clock);
        let mut calls = Vec::new();
        for (h, other) in [(&a, &b), (&b, &a)] {
            for body in &bodies {
                seq += 1;
                calls.push((
                    h.join("sequencer").unwrap(),
                    sequencer_payload(body, seq, now),
                ));
            }
            let timer = encode_timer(
                "timer",
                None,
                now + Duration::minutes(10),
                now,
                false,
                &SysData::new("poller", now),
            );
            calls.push((other.join("poller").unwrap(), timer));
        }
        let results = futures::future::join_all(calls.into_iter().map(|(url, payload)| {
            let http = http.clone();
            async move {
                http.post(url)
                    .json(&payload)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        }))
        .await;
        for r in results {
            let status = r.expect("handlers keep serving");
            assert!(status == 200 || status == 500, "unexpected status {status}");
        }
        host.run_until_idle().await.unwrap();
        world.clock.advance(Duration::minutes(10));
    }

    let stats = world.emu.stats();
    if stats.copies_started as usize != RPS * REGIONS.len() {
        let (_, body) = host
            .call_http("status", "GET", "/api/status/chains", &[], None)
            .await
            .unwrap();
        for c in body["chains"].as_array().cloned().unwrap_or_default() {
            let key = c["key"].as_str().unwrap_or_default().to_string();
            let (_, detail) = host
                .call_http(
                    "status",
                    "GET",
                    &format!("/api/status/chain?key={key}"),
                    &[],
                    None,
                )
                .await
                .unwrap();
            eprintln!("{}", serde_json::to_string_pretty(&detail).unwrap());
        }
    }
    assert_eq!(stats.duplicate_copies, 0, "{stats:?}");
    assert_eq!(
        stats.rule_violations, 0,
        "no concurrent or nonsequential copy: {stats:?}"
    );
    assert_eq!(
        stats.copies_started as usize,
        RPS * REGIONS.len(),
        "every copy started exactly once: {stats:?}"
    );
    let (status, body) = host
        .call_http("status", "GET", "/api/status/chains", &[], None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let chains = body["chains"].as_array().unwrap();
    assert_eq!(chains.len(), REGIONS.len());
    for c in chains {
        assert_eq!(c["copies"]["Succeeded"], RPS, "no lost update: {c}");
        assert_eq!(c["lastSuccess"]["restorePoint"], format!("rp{}", RPS - 1));
        assert!(c["inFlight"].is_null());
    }
    host.shutdown().await;
}
