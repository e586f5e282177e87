//! Invocation-overhead benchmark (not a test: figures depend on the machine).
//!
//! Throughput and latency of `ingest`, `ingest-eventgrid` and `sequencer` invocations through
//! the custom-handler protocol (POST /{function} with the payload the Functions host sends),
//! against ferry's server in this process, compared with a bare warp endpoint that only
//! parses the same payload (`serde_json::from_slice` to `Value`) and answers an empty
//! invocation response. Same client, same payloads, fixed concurrency.
//!
//! The work is real: the ARM emulator (own runtime and thread, limits off — this measures
//! the handler, not ARM's quota) holds `BENCH_VMS` VMs per group with 5 restore points
//! each, created through its REST API: per repetition one group for `ingest` and one for
//! `ingest-eventgrid`, plus one for the warm-up, so no measured invocation replays an event
//! ferry has already seen. ingest gets the emulator's own Event Grid events for them (GET of the restore point, copy requests sent to a local Service Bus broker over
//! REST); the sequencer gets one copy request per restore point, session-ordered (no two
//! in-flight requests share a chain), then duplicates of a fifth of them — the first request
//! of a chain creates the target collection and starts the copy, later ones are recorded
//! behind it.
//!
//! Besides throughput and latency it reports the CPU time per invocation split by thread:
//! the Azure stand-ins (emulator and broker, on their own runtime, threads `emu`) and
//! everything else (the handler under test and the client driving it).
//!
//! Run: `cargo run --release --example bench_invoke`
//! Env: `BENCH_VMS` (default 200), `BENCH_REPS` (3), `BENCH_CONCURRENCY` (8).
//! Prints a table and one `RESULT {json}` line for scripts/bench.

mod common;

use ferry::auth::{DevToken, TokenProvider};
use ferry::clock::SystemClock;
use ferry::functions::{App, CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::memory::MemoryLedger;
use ferry::ledger::records::chain_key;
use ferry::sim::emulator::{Emulator, EmulatorConfig, FaultConfig, LimitConfig};
use ferry::sim::host::encode::{encode_event_grid, encode_service_bus, DeliveredMessage, SysData};
use ferry::sim::host::servicebus::Broker;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use warp::Filter;

const SUB: &str = "00000000-0000-0000-0000-00000001a7e5";
const TOKEN: &str = "bench-token";
const RPS_PER_VM: usize = 5;
const TARGET: &str = "westus2";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}/providers/Microsoft.Compute")
}
fn vm(rep: usize, i: usize) -> String {
    format!("{}/virtualMachines/vm-{rep}-{i:04}", rg("rg-app"))
}
fn collection(rep: usize, i: usize) -> String {
    format!("{}/restorePointCollections/rpc-{rep}-{i:04}", rg("rg-app"))
}
fn restore_point(rep: usize, i: usize, k: usize) -> String {
    format!("{}/restorePoints/rp-{k}", collection(rep, i))
}

fn policy_json() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        "targets": [{"region": TARGET, "resourceGroup": "rg-dr"}],
    }]})
    .to_string()
}

async fn put(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Result<(), String> {
    let url = format!("{base}{path}?api-version=2025-11-01");
    let r = http
        .put(&url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("PUT {path}: {e}"))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("PUT {path}: HTTP {}", r.status()))
    }
}

fn delivered(session: Option<String>, seq: i64, now: OffsetDateTime) -> DeliveredMessage {
    DeliveredMessage {
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: session,
        sequence_number: seq,
        enqueued_time: now,
        expires_at: now + time::Duration::days(14),
        delivery_count: 1,
        content_type: Some("application/json".into()),
        lock_token: uuid::Uuid::new_v4().to_string(),
        correlation_id: None,
        subject: None,
        application_properties: Default::default(),
        namespace: "bench.servicebus.windows.net".into(),
    }
}

struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
    /// CPU per request of the Azure stand-ins (emulator and broker, threads `emu`).
    cpu_azure_us: f64,
    /// CPU per request of everything else: the handler (ferry or bare) and the client.
    cpu_rest_us: f64,
}

/// POSTs every payload with `concurrency` in flight; latency per request, total throughput.
async fn drive(
    http: &reqwest::Client,
    url: &str,
    payloads: &[bytes::Bytes],
    concurrency: usize,
) -> Measured {
    let (emu0, rest0) = common::thread_cpu();
    let t0 = Instant::now();
    let results: Vec<(Duration, bool)> = futures::stream::iter(payloads.iter().map(|p| {
        let req = http
            .post(url)
            .header("Content-Type", "application/json")
            .body(p.clone());
        async move {
            let t = Instant::now();
            let ok = match req.send().await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    let _ = r.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            (t.elapsed(), ok)
        }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let total = t0.elapsed().as_secs_f64();
    let (emu1, rest1) = common::thread_cpu();
    let per = |ns: u64| ns as f64 / 1e3 / results.len().max(1) as f64;
    let mut lat: Vec<f64> = results.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    Measured {
        rps: results.len() as f64 / total,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        failures: results.iter().filter(|(_, ok)| !ok).count(),
        cpu_azure_us: per(emu1.saturating_sub(emu0)),
        cpu_rest_us: per(rest1.saturating_sub(rest0)),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // The emulator and the broker stand in for Azure: their own runtime and thread.
    let azure_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("emu")
        .enable_all()
        .build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let (Ok(azure_rt), Ok(rt)) = (azure_rt, rt) else {
        eprintln!("bench_invoke: cannot build runtimes");
        std::process::exit(1);
    };
    let mut cfg = EmulatorConfig::new(Arc::new(SystemClock));
    cfg.faults = FaultConfig::default();
    cfg.restore_point_settle = time::Duration::ZERO;
    cfg.bandwidth_mbps = 1.0;
    cfg.limits = LimitConfig {
        reads: None,
        writes: None,
        ..LimitConfig::default()
    };
    // Restore points are made back to back here, faster than the platform allows.
    cfg.limits.min_restore_point_interval = false;
    let emu = Emulator::new(cfg);
    let broker = Arc::new(Broker::new(
        Arc::new(SystemClock),
        time::Duration::minutes(10),
    ));
    let (_stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let setup = azure_rt.block_on(async {
        for (q, s) in [("copy-requests", true), ("restore-point-events", false)] {
            broker.declare(q, false, s)?;
        }
        broker.declare("alerts", true, false)?;
        let bus = ferry::sim::host::servicebus::serve(broker.clone(), stop_rx)
            .await
            .map_err(|e| e.to_string())?;
        let (arm, _) = emu
            .serve(([127, 0, 0, 1], 0).into())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((arm, bus))
    });
    let (arm_addr, bus_addr) = match setup {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_invoke: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(emu, broker, arm_addr, bus_addr)) {
        Ok(v) => println!("RESULT {v}"),
        Err(e) => {
            eprintln!("bench_invoke: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(
    emu: Emulator,
    broker: Arc<Broker>,
    arm_addr: std::net::SocketAddr,
    bus_addr: std::net::SocketAddr,
) -> Result<Value, String> {
    let vms = env_usize("BENCH_VMS", 200).max(8);
    let reps = env_usize("BENCH_REPS", 3).max(1);
    let concurrency = env_usize("BENCH_CONCURRENCY", 8).max(1);
    let base = format!("http://{arm_addr}");

    // The world: groups of VMs, each used once, so that every measured invocation does
    // first-time work (a replayed event is the cheaper duplicate path): per repetition one
    // group for `ingest` (and then the sequencer) and one for `ingest-eventgrid`, plus one
    // group for the warm-up.
    let groups = 2 * reps + 1;
    let http = reqwest::Client::new();
    let t = Instant::now();
    let jobs: Vec<(usize, usize)> = (0..groups)
        .flat_map(|r| (0..vms).map(move |i| (r, i)))
        .collect();
    let made: Vec<Result<(), String>> = futures::stream::iter(jobs.into_iter().map(|(r, i)| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            put(&http, &base, &vm(r, i), json!({"location": "eastus", "properties": {"storageProfile": {"osDisk": {"name": format!("vm-{r}-{i}-os"), "diskSizeGB": 128, "managedDisk": {"storageAccountType": "Premium_LRS"}}, "dataDisks": []}}})).await?;
            put(&http, &base, &collection(r, i), json!({"location": "eastus", "properties": {"source": {"id": vm(r, i)}}})).await?;
            for k in 1..=RPS_PER_VM {
                put(&http, &base, &restore_point(r, i, k), json!({"properties": {}})).await?;
            }
            Ok(())
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    made.into_iter().collect::<Result<Vec<()>, String>>()?;
    let mut events: Vec<Vec<Value>> = vec![Vec::new(); groups];
    for e in emu.drain_events() {
        let subject = e["subject"].as_str().unwrap_or_default();
        if !subject.contains("/restorePoints/") {
            continue;
        }
        if let Some(g) = (0..groups).find(|g| subject.contains(&format!("/rpc-{g}-"))) {
            events[g].push(e);
        }
    }
    eprintln!(
        "bench_invoke: world of {} VMs, {} restore point events in {:.1} s",
        groups * vms,
        events.iter().map(Vec::len).sum::<usize>(),
        t.elapsed().as_secs_f64()
    );

    // ferry's server, configured as `serve` would be, and the bare endpoint.
    let tokens: Arc<dyn TokenProvider> = Arc::new(DevToken::new(TOKEN));
    let env: std::collections::BTreeMap<String, String> = [
        ("FERRY_POLICY", policy_json()),
        ("FERRY_LEDGER", "memory".into()),
        ("FERRY_SERVICEBUS_ENDPOINT", format!("http://{bus_addr}")),
        ("FERRY_ARM_ENDPOINT", base.clone()),
        ("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}")),
        ("FERRY_ARM_READ_RATE", "off".into()),
        ("FERRY_ARM_WRITE_RATE", "off".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = ferry::config::Config::from_env(&env, ferry::config::Mode::Serve)
        .map_err(|e| e.to_string())?;
    let app: App = ferry::bootstrap::app(&config, tokens, Arc::new(MemoryLedger::new()))
        .map_err(|e| e.to_string())?;
    let (_stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ferry_addr, _h) = ferry::server::serve(Arc::new(app), ([127, 0, 0, 1], 0).into(), async {
        let _ = stop_rx.await;
    })
    .await
    .map_err(|e| e.to_string())?;
    let bare = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::body::bytes())
        .map(|_name: String, body: bytes::Bytes| {
            let ok = serde_json::from_slice::<Value>(&body).is_ok();
            let reply = warp::reply::json(&json!({"Outputs": {}, "Logs": [], "ReturnValue": null}));
            let status = if ok {
                warp::http::StatusCode::OK
            } else {
                warp::http::StatusCode::BAD_REQUEST
            };
            warp::reply::with_status(reply, status)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let bare_addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(warp::serve(bare).incoming(listener).run());

    // Payloads, encoded as the host encodes them.
    let now = OffsetDateTime::now_utc();
    let enc = |v: Value| bytes::Bytes::from(v.to_string());
    let ingest_sb = |g: usize| -> Vec<bytes::Bytes> {
        events[g]
            .iter()
            .enumerate()
            .map(|(n, e)| {
                enc(encode_service_bus(
                    "event",
                    &e.to_string(),
                    &delivered(None, n as i64 + 1, now),
                    &SysData::new("ingest", now),
                ))
            })
            .collect()
    };
    let ingest_eg = |g: usize| -> Vec<bytes::Bytes> {
        events[g]
            .iter()
            .map(|e| {
                enc(encode_event_grid(
                    "event",
                    e,
                    &SysData::new("ingest-eventgrid", now),
                ))
            })
            .collect()
    };
    let sequencer = |rep: usize| -> Result<Vec<bytes::Bytes>, String> {
        // Round-robin over chains: a window of `concurrency` requests never shares a session,
        // as with Service Bus sessions; then duplicates (redeliveries) of a fifth.
        let mut order: Vec<(usize, usize)> = (1..=RPS_PER_VM)
            .flat_map(|k| (0..vms).map(move |i| (i, k)))
            .collect();
        order.extend((0..vms).map(|i| (i, 1 + i % RPS_PER_VM)));
        order
            .into_iter()
            .enumerate()
            .map(|(n, (i, k))| {
                let coll: CollectionId =
                    collection(2 * rep, i).parse().map_err(|e| format!("{e}"))?;
                let key = chain_key(&coll, TARGET);
                let m = CopyRequestMessage {
                    source_restore_point: restore_point(2 * rep, i, k),
                    target_region: TARGET.into(),
                    chain: key.clone(),
                    event_id: Some(uuid::Uuid::new_v4().to_string()),
                    purpose: Purpose::Event,
                    attempt: 0,
                    first_attempt_at: None,
                };
                let body = serde_json::to_string(&m).map_err(|e| e.to_string())?;
                Ok(enc(encode_service_bus(
                    "request",
                    &body,
                    &delivered(Some(key), n as i64 + 1, now),
                    &SysData::new("sequencer", now),
                )))
            })
            .collect()
    };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let ferry_url = |f: &str| format!("http://{ferry_addr}/{f}");
    let bare_url = |f: &str| format!("http://{bare_addr}/{f}");
    // Warm-up (connections, allocator, caches) on its own group, which nothing measures.
    let warm = ingest_sb(groups - 1);
    let warm = &warm[..warm.len().min(100)];
    let _ = drive(&client, &bare_url("ingest"), warm, concurrency).await;
    let _ = drive(&client, &ferry_url("ingest"), warm, concurrency).await;

    let mut rows: Vec<(&str, Vec<Measured>, Vec<Measured>)> = vec![
        ("ingest", Vec::new(), Vec::new()),
        ("ingest-eventgrid", Vec::new(), Vec::new()),
        ("sequencer", Vec::new(), Vec::new()),
    ];
    let arm_before = emu.stats().requests;
    let mut seq_invocations = 0usize;
    let mut ingest_invocations = 0usize;
    for rep in 0..reps {
        // This repetition's own events: each reaches ferry once.
        let (sb, eg) = (ingest_sb(2 * rep), ingest_eg(2 * rep + 1));
        ingest_invocations += sb.len() + eg.len();
        let seq = sequencer(rep)?;
        seq_invocations += seq.len();
        for (name, f, b) in rows.iter_mut() {
            let payloads: &[bytes::Bytes] = match *name {
                "ingest" => &sb,
                "ingest-eventgrid" => &eg,
                _ => &seq,
            };
            // Interleaved: bare, then ferry, each repetition.
            b.push(drive(&client, &bare_url(name), payloads, concurrency).await);
            f.push(drive(&client, &ferry_url(name), payloads, concurrency).await);
        }
    }
    let arm_requests = emu.stats().requests - arm_before;
    let started = emu.stats().copies_started;

    println!(
        "invocation overhead: concurrency {concurrency}, {reps} repetitions (medians), {} fresh events per function per repetition, {} sequencer requests per repetition",
        events[0].len(),
        seq_invocations / reps
    );
    println!(
        "{:<17} {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>6} {:>5}",
        "function", "ferry/s", "p50 ms", "p99 ms", "bare/s", "p50 ms", "p99 ms", "ratio", "fail"
    );
    let mut out = serde_json::Map::new();
    for (name, f, b) in &rows {
        let fr = median(f.iter().map(|m| m.rps).collect());
        let br = median(b.iter().map(|m| m.rps).collect());
        let row = json!({
            "ferry_rps": fr,
            "ferry_p50_ms": median(f.iter().map(|m| m.p50_ms).collect()),
            "ferry_p99_ms": median(f.iter().map(|m| m.p99_ms).collect()),
            "bare_rps": br,
            "bare_p50_ms": median(b.iter().map(|m| m.p50_ms).collect()),
            "bare_p99_ms": median(b.iter().map(|m| m.p99_ms).collect()),
            "ratio": fr / br,
            "ferry_cpu_azure_us": median(f.iter().map(|m| m.cpu_azure_us).collect()),
            "ferry_cpu_rest_us": median(f.iter().map(|m| m.cpu_rest_us).collect()),
            "bare_cpu_azure_us": median(b.iter().map(|m| m.cpu_azure_us).collect()),
            "bare_cpu_rest_us": median(b.iter().map(|m| m.cpu_rest_us).collect()),
            "ferry_failures": f.iter().map(|m| m.failures).sum::<usize>(),
            "bare_failures": b.iter().map(|m| m.failures).sum::<usize>(),
        });
        println!(
            "{:<17} {:>10.0} {:>8.2} {:>8.2} | {:>10.0} {:>8.2} {:>8.2} | {:>6.3} {:>5}",
            name,
            fr,
            row["ferry_p50_ms"].as_f64().unwrap_or(0.0),
            row["ferry_p99_ms"].as_f64().unwrap_or(0.0),
            br,
            row["bare_p50_ms"].as_f64().unwrap_or(0.0),
            row["bare_p99_ms"].as_f64().unwrap_or(0.0),
            fr / br,
            row["ferry_failures"]
        );
        out.insert(name.to_string(), row);
    }
    println!(
        "CPU per invocation, µs (medians): Azure stand-ins (emulator + broker threads) | handler + client (all other threads)"
    );
    for (name, _, _) in &rows {
        let r = out.get(*name).cloned().unwrap_or(Value::Null);
        let g = |k: &str| r[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<17} ferry {:>7.1} | {:>7.1}   bare {:>7.1} | {:>7.1}",
            name,
            g("ferry_cpu_azure_us"),
            g("ferry_cpu_rest_us"),
            g("bare_cpu_azure_us"),
            g("bare_cpu_rest_us"),
        );
    }
    let total_ferry: usize = ingest_invocations + seq_invocations;
    println!(
        "ARM requests during the measured runs: {arm_requests} ({:.2} per ferry invocation); copies started: {started}; broker: {:?}",
        arm_requests as f64 / total_ferry as f64,
        broker.counters()
    );
    out.insert("arm_requests".into(), json!(arm_requests));
    out.insert("copies_started".into(), json!(started));
    out.insert("concurrency".into(), json!(concurrency));
    out.insert("events_per_rep".into(), json!(events[0].len()));
    out.insert(
        "sequencer_requests_per_rep".into(),
        json!(seq_invocations / reps),
    );
    Ok(Value::Object(out))
}
