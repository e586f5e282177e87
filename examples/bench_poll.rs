//! Poll-sweep benchmark (not a test: figures depend on the machine).
//!
//! One poller invocation over N copies in flight on the ARM emulator: wall time, CPU per
//! polled copy, peak RSS, ARM requests per second and 429s. Run each size as its own process
//! so the peak RSS belongs to that size alone.
//!
//! Setup is the real pipeline, only faster: operators' PUTs (VM, source collection, restore
//! point) through the emulator's REST API, then one copy request per restore point through
//! ferry's own sequencer, which creates the target collection and starts the copy with the
//! copy PUT. The emulator copies at `BENCH_BANDWIDTH_MBPS` (default 1 Mbit/s per disk), so
//! every copy is still in progress when the sweep runs.
//!
//! The emulator's ARM buckets run on its clock. During setup that clock runs `BENCH_SETUP_SCALE`
//! (default 100) × real time so the setup's ~5 requests per copy are not throttled for
//! minutes; before the sweep it drops to 1.0 × real time, so during the sweep the buckets
//! refill exactly as ARM's do (250 burst + 25/s reads per subscription).
//!
//! Modes (`BENCH_MODE`):
//! - `limited`: emulator limits on (LimitConfig default) and ferry's client-side pacing on
//!   (RateLimit::ARM_READS). The sweep cannot finish before (N − 250)/25 s.
//! - `unlimited`: no limits anywhere: what the sweep itself costs.
//!
//! Where the handler runs (`BENCH_VIA`):
//! - `inprocess` (default): the poller fn is called in this process. CPU is split by thread:
//!   the emulator runs on its own runtime (threads named `emu`), ferry on the rest.
//!   `BENCH_SWEEP_ON=worker` runs the poller as a task on ferry's runtime instead of on the
//!   main thread (`block_on`, the default): as in `ferry serve`, where an invocation runs on
//!   a worker, the ARM client's connection tasks then share threads with the sweep.
//! - `serve`: `target/release/ferry serve` is started as a child process (pacing off: use
//!   with `unlimited`), fed the copy requests over the custom-handler protocol
//!   (POST /sequencer) and swept with POST /poller; RSS and CPU are the child's.
//!   Its ledger (`BENCH_LEDGER`): `memory` (default, inside the serve process) or `azurite`
//!   (Table Storage on the Azurite at `FERRY_TEST_AZURITE_TABLE`, which `scripts/azurite.sh`
//!   prints; a fresh table per run, filled by serve's own sequencer calls).
//!   `BENCH_PERF=<file>` attaches `perf record -g` to the serve process for the sweep only
//!   (not the setup) and writes the profile there; build ferry with debug info for symbols.
//!   `BENCH_PERF_EVENT` (e.g. a uprobe; every `BENCH_PERF_PERIOD`-th) replaces CPU sampling,
//!   `BENCH_PERF_CALL_GRAPH` (default `dwarf,16384`) the unwinder.
//!
//! `BENCH_POLL_BUDGET` (seconds, in-process): the sweep's time budget; default 3600 so one
//! whole sweep is measured, 480 (PT8M) for where a production invocation stops.
//!
//! Run: `BENCH_COPIES=10000 BENCH_MODE=unlimited cargo run --release --example bench_poll`
//! Prints a human line and one `RESULT {json}` line for scripts/bench.

mod common;

use ferry::arm::{ArmClient, ArmConfig, RateLimit};
use ferry::auth::{DevToken, TokenProvider};
use ferry::bus::{BusAuth, Outbox, ServiceBusRest};
use ferry::clock::Clock;
use ferry::functions::{App, CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::memory::MemoryLedger;
use ferry::ledger::records::chain_key;
use ferry::permissions::EntityNames;
use ferry::policy::Policy;
use ferry::sim::emulator::{Emulator, EmulatorConfig, FaultConfig, LimitConfig};
use ferry::sim::host::encode::{encode_service_bus, encode_timer, DeliveredMessage, SysData};
use ferry::sim::host::servicebus::Broker;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const SUB: &str = "00000000-0000-0000-0000-0000000be4c4";
const TOKEN: &str = "bench-token";
const REGION: &str = "eastus";
const TARGET: &str = "westus2";
const SETUP_CONCURRENCY: usize = 32;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Simulated time that runs `scale` × real time; the scale can change mid-run.
struct PhaseClock(Mutex<(OffsetDateTime, Instant, f64)>);

impl PhaseClock {
    fn new(scale: f64) -> Self {
        PhaseClock(Mutex::new((
            OffsetDateTime::now_utc(),
            Instant::now(),
            scale,
        )))
    }
    fn set_scale(&self, scale: f64) {
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

fn policy_json() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        "targets": [{"region": TARGET, "resourceGroup": "rg-dr"}],
        "createTargetCollections": true,
    }]})
    .to_string()
}

/// The copy request ingest would queue for restore point `i`.
fn copy_request(i: usize) -> Result<String, String> {
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
async fn setup_world(base: &str, n: usize) -> Result<(), String> {
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

/// (user, system) CPU ticks (10 ms) so far of this process's threads other than `emu*`, from
/// /proc/self/task/*/stat: how much of ferry's CPU is spent in the kernel (sockets, wakeups).
fn ferry_user_sys_ticks() -> (u64, u64) {
    let (mut user, mut sys) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in dir.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with("emu") {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        user += tick(11);
        sys += tick(12);
    }
    (user, sys)
}

/// user + system CPU seconds of a process, from /proc/<pid>/stat (what getrusage reports).
fn proc_cpu(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0 // USER_HZ is 100 on Linux
}

fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS counter so VmHWM covers the sweep only (Linux ≥ 4.0).
fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn main() {
    let n: usize = env_or("BENCH_COPIES", "1000").parse().unwrap_or(1000);
    let mode = env_or("BENCH_MODE", "unlimited");
    let via = env_or("BENCH_VIA", "inprocess");
    let setup_scale: f64 = env_or("BENCH_SETUP_SCALE", "100").parse().unwrap_or(100.0);
    let bandwidth: f64 = env_or("BENCH_BANDWIDTH_MBPS", "1").parse().unwrap_or(1.0);
    let limited = match mode.as_str() {
        "limited" => true,
        "unlimited" => false,
        other => {
            eprintln!("bench_poll: BENCH_MODE must be limited or unlimited, got {other:?}");
            std::process::exit(2);
        }
    };
    let clock = Arc::new(PhaseClock::new(setup_scale));
    let mut cfg = EmulatorConfig::new(clock.clone());
    cfg.faults = FaultConfig::default();
    cfg.bandwidth_mbps = bandwidth;
    cfg.restore_point_settle = time::Duration::ZERO;
    cfg.limits = if limited {
        LimitConfig::default()
    } else {
        LimitConfig {
            reads: None,
            writes: None,
            ..LimitConfig::default()
        }
    };
    let emu = Emulator::new(cfg);
    // The emulator gets its own runtime and threads, so its CPU can be told apart.
    let emu_rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("emu")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_poll: emulator runtime: {e}");
            std::process::exit(1);
        }
    };
    let emu_addr = match emu_rt.block_on(emu.serve(([127, 0, 0, 1], 0).into())) {
        Ok((a, _task)) => a,
        Err(e) => {
            eprintln!("bench_poll: emulator: {e}");
            std::process::exit(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("ferry")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_poll: runtime: {e}");
            std::process::exit(1);
        }
    };
    let r = rt.block_on(run(n, limited, &via, clock, emu, emu_addr));
    match r {
        Ok(v) => println!("RESULT {v}"),
        Err(e) => {
            eprintln!("bench_poll: {e}");
            std::process::exit(1);
        }
    }
}

/// ferry's ARM client: with pacing (`limited`) as in production, or without (setup). The
/// setup client is patient: on the sped-up emulator clock a Retry-After of one simulated
/// second is a real second, and the setup must start every copy rather than reschedule.
fn arm(endpoint: &str, limited: bool, tokens: Arc<dyn TokenProvider>) -> Result<ArmClient, String> {
    ArmClient::new(
        ArmConfig {
            endpoint: url::Url::parse(endpoint).map_err(|e| e.to_string())?,
            read_limit: limited.then_some(RateLimit::ARM_READS),
            write_limit: limited.then_some(RateLimit::ARM_WRITES),
            max_backoff: Duration::from_secs(60),
            max_attempts: if limited { 6 } else { 40 },
            ..ArmConfig::default()
        },
        tokens,
    )
    .map_err(|e| e.to_string())
}

async fn run(
    n: usize,
    limited: bool,
    via: &str,
    clock: Arc<PhaseClock>,
    emu: Emulator,
    emu_addr: std::net::SocketAddr,
) -> Result<Value, String> {
    let base = format!("http://{emu_addr}");
    let (_bus_stop, bus_rx) = tokio::sync::oneshot::channel::<()>();
    let broker = Arc::new(Broker::new(clock.clone(), time::Duration::minutes(10)));
    for (q, sessions) in [("copy-requests", true), ("restore-point-events", false)] {
        broker.declare(q, false, sessions)?;
    }
    broker.declare("alerts", true, false)?;
    let bus_addr = ferry::sim::host::servicebus::serve(broker.clone(), bus_rx)
        .await
        .map_err(|e| format!("broker: {e}"))?;
    let bus_url = format!("http://{bus_addr}");

    let t_setup = Instant::now();
    setup_world(&base, n).await?;
    let world_s = t_setup.elapsed().as_secs_f64();
    eprintln!("bench_poll: world of {n} VMs/collections/restore points in {world_s:.1} s");

    let tokens: Arc<dyn TokenProvider> = Arc::new(DevToken::new(TOKEN));
    let policy = Policy::parse(&policy_json()).map_err(|e| e.to_string())?;
    let concurrency: usize = env_or("FERRY_POLL_CONCURRENCY", "16").parse().unwrap_or(16);
    let make_app = |limited: bool| -> Result<App, String> {
        Ok(App {
            arm: arm(&format!("{base}/"), limited, tokens.clone())?,
            ledger: Arc::new(MemoryLedger::new()),
            bus: Outbox::new(
                Arc::new(
                    ServiceBusRest::new(
                        url::Url::parse(&bus_url).map_err(|e| e.to_string())?,
                        BusAuth::Token(tokens.clone()),
                    )
                    .map_err(|e| e.to_string())?,
                ),
                EntityNames::defaults(),
            ),
            policy: policy.clone(),
            stall_after: time::Duration::hours(6),
            expiry_warning: time::Duration::days(2),
            poll_concurrency: concurrency,
            // One whole sweep is measured, however long the rate limit makes it, unless
            // `BENCH_POLL_BUDGET` (seconds) sets the production budget (PT8M = 480) to see
            // where one invocation stops.
            poll_budget: std::time::Duration::from_secs(
                env_or("BENCH_POLL_BUDGET", "3600").parse().unwrap_or(3600),
            ),
            fail_points: None,
        })
    };

    if via == "serve" {
        return run_serve(n, limited, &base, &bus_url, clock, emu, world_s).await;
    }

    // Setup through ferry's own sequencer (no pacing; the emulator's clock is sped up).
    let setup_app = make_app(false)?;
    let t_seq = Instant::now();
    let outcomes: Vec<Result<(), String>> = futures::stream::iter((0..n).map(|i| {
        let app = &setup_app;
        let clock = clock.clone();
        async move {
            let body = copy_request(i)?;
            ferry::functions::sequencer::sequencer(app, &body, clock.now())
                .await
                .map(|_| ())
                .map_err(|e| format!("sequencer {i}: {e}"))
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    let seq_errors: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
    if let Some(e) = seq_errors.first() {
        eprintln!(
            "bench_poll: {} sequencer errors, first: {e}",
            seq_errors.len()
        );
    }
    let seq_s = t_seq.elapsed().as_secs_f64();
    let started = emu.stats().copies_started;
    eprintln!("bench_poll: {started} copies started by the sequencer in {seq_s:.1} s");

    // The sweep runs in real time against full buckets, like a 10-minute tick on ARM.
    clock.set_scale(1.0);
    tokio::time::sleep(Duration::from_secs(if limited { 11 } else { 1 })).await;
    let mut app = make_app(limited)?;
    app.ledger = setup_app.ledger.clone();
    let before = emu.stats();
    let (emu0, ferry0) = common::thread_cpu();
    let (user0, sys0) = ferry_user_sys_ticks();
    let cpu0 = proc_cpu("self");
    reset_peak("self");
    let rss_before = status_kib("self", "VmRSS:");
    let t0 = Instant::now();
    let app = Arc::new(app);
    let now = clock.now();
    let sweep_on = env_or("BENCH_SWEEP_ON", "main");
    let (out, stats) = if sweep_on == "worker" {
        let a = app.clone();
        tokio::spawn(async move { ferry::functions::poller::poller(&a, now).await })
            .await
            .map_err(|e| format!("poller task: {e}"))?
    } else {
        ferry::functions::poller::poller(&app, now).await
    }
    .map_err(|e| format!("poller: {e}"))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = proc_cpu("self");
    let (emu1, ferry1) = common::thread_cpu();
    let (user1, sys1) = ferry_user_sys_ticks();
    let ferry_sys_share = (sys1 - sys0) as f64 / ((user1 - user0) + (sys1 - sys0)).max(1) as f64;
    let after = emu.stats();
    let hwm = status_kib("self", "VmHWM:");
    let arm_requests = after.requests - before.requests;
    let throttled = after.throttled - before.throttled;
    let polled = stats.polled.max(1) as f64;
    let ferry_cpu_us = (ferry1 - ferry0) as f64 / 1e3 / polled;
    let emu_cpu_us = (emu1 - emu0) as f64 / 1e3 / polled;
    let min_s = if limited {
        (n.saturating_sub(250)) as f64 / 25.0
    } else {
        0.0
    };
    println!(
        "poll sweep ({}, in-process, on the {sweep_on} thread): {} chains, {} polled, {} errors, {} alerts; wall {wall:.2} s{}; ARM {arm_requests} requests = {:.0}/s, {throttled} × 429; CPU/copy: ferry {ferry_cpu_us:.1} µs ({:.0} % in the kernel), emulator {emu_cpu_us:.1} µs, process {:.1} µs; RSS before {:.1} MiB, peak during sweep {:.1} MiB",
        if limited { "limited" } else { "unlimited" },
        stats.chains,
        stats.polled,
        stats.errors,
        out.alerts.len(),
        if limited { format!(" (minimum {min_s:.0} s, ratio {:.3})", wall / min_s.max(1e-9)) } else { String::new() },
        arm_requests as f64 / wall,
        ferry_sys_share * 100.0,
        (cpu1 - cpu0) * 1e6 / polled,
        rss_before as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    if let Some(why) = &stats.stopped {
        println!(
            "sweep stopped early: {why}; the next tick resumes at chain {:?}",
            stats.resume_at
        );
    }
    Ok(json!({
        "via": "inprocess", "mode": if limited {"limited"} else {"unlimited"}, "copies": n,
        "copies_started": started, "chains": stats.chains, "polled": stats.polled, "errors": stats.errors,
        "alerts": out.alerts.len(), "wall_s": wall, "min_s": min_s,
        "ratio_to_min": if limited { wall / min_s.max(1e-9) } else { 0.0 },
        "arm_requests": arm_requests, "arm_rps": arm_requests as f64 / wall, "throttled": throttled,
        "ferry_cpu_us_per_copy": ferry_cpu_us, "emulator_cpu_us_per_copy": emu_cpu_us,
        "ferry_kernel_share": ferry_sys_share,
        "process_cpu_us_per_copy": (cpu1 - cpu0) * 1e6 / polled,
        "rss_before_mib": rss_before as f64 / 1024.0, "peak_rss_mib": hwm as f64 / 1024.0,
        "setup_world_s": world_s, "setup_sequencer_s": seq_s, "poll_concurrency": concurrency,
        "sweep_on": sweep_on, "stopped": stats.stopped, "resume_at": stats.resume_at,
    }))
}

/// `ferry serve` as a child process: copy requests in over POST /sequencer, one POST /poller.
async fn run_serve(
    n: usize,
    limited: bool,
    base: &str,
    bus_url: &str,
    clock: Arc<PhaseClock>,
    emu: Emulator,
    world_s: f64,
) -> Result<Value, String> {
    if limited {
        return Err(
            "BENCH_VIA=serve supports BENCH_MODE=unlimited only (serve runs on the system clock)"
                .into(),
        );
    }
    // serve's clock is the system clock: the emulator must run in real time too.
    clock.set_scale(1.0);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let bin = env_or("FERRY_BIN", "target/release/ferry");
    let (ledger, ledger_name) = serve_ledger()?;
    eprintln!("bench_poll: ferry serve ledger: {ledger_name}");
    let mut child = std::process::Command::new(&bin)
        .arg("serve")
        .env("FERRY_POLICY", policy_json())
        .env("FERRY_LEDGER", ledger)
        .env("FERRY_SERVICEBUS_ENDPOINT", bus_url)
        .env("FERRY_ARM_ENDPOINT", base)
        .env("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}"))
        .env("FERRY_ARM_READ_RATE", "off")
        .env("FERRY_ARM_WRITE_RATE", "off")
        .env("FERRY_LOG_FORMAT", "text")
        .env("RUST_LOG", "warn")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start {bin}: {e}"))?;
    let pid = child.id().to_string();
    let result = drive_serve(n, port, &pid, &emu, world_s).await;
    let _ = child.kill();
    let _ = child.wait();
    result.map(|mut v| {
        v["ledger"] = json!(ledger_name);
        v
    })
}

/// `FERRY_LEDGER` for the serve child, and how to name it in the report (without a key).
fn serve_ledger() -> Result<(String, String), String> {
    match env_or("BENCH_LEDGER", "memory").as_str() {
        "memory" => Ok(("memory".into(), "memory".into())),
        "azurite" => {
            let endpoint = std::env::var("FERRY_TEST_AZURITE_TABLE").map_err(|_| {
                "BENCH_LEDGER=azurite needs FERRY_TEST_AZURITE_TABLE (scripts/azurite.sh starts Azurite and prints it)"
                    .to_string()
            })?;
            let endpoint = endpoint.trim_end_matches('/');
            let table = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            Ok((
                format!("UseDevelopmentStorage=true;TableEndpoint={endpoint};Table={table}"),
                format!("table {endpoint}/{table} (Azurite)"),
            ))
        }
        other => Err(format!("BENCH_LEDGER={other}: expected memory or azurite")),
    }
}

async fn drive_serve(
    n: usize,
    port: u16,
    pid: &str,
    emu: &Emulator,
    world_s: f64,
) -> Result<Value, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while http.get(&url).send().await.is_err() {
        if t.elapsed() > Duration::from_secs(10) {
            return Err("ferry serve did not answer GET /".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let idle_rss = status_kib(pid, "VmRSS:");
    let t_seq = Instant::now();
    let now = OffsetDateTime::now_utc();
    let failures: usize = futures::stream::iter((0..n).map(|i| {
        let http = http.clone();
        let url = format!("{url}/sequencer");
        async move {
            let Ok(body) = copy_request(i) else { return 1 };
            let msg = delivered(i, now);
            let payload =
                encode_service_bus("request", &body, &msg, &SysData::new("sequencer", now));
            match http.post(&url).json(&payload).send().await {
                Ok(r) if r.status().is_success() => 0,
                _ => 1,
            }
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<usize>>()
    .await
    .into_iter()
    .sum();
    let seq_s = t_seq.elapsed().as_secs_f64();
    let started = emu.stats().copies_started;
    eprintln!("bench_poll: serve started {started} copies in {seq_s:.1} s ({failures} failed invocations)");

    let rss_before = status_kib(pid, "VmRSS:");
    let hwm_setup = status_kib(pid, "VmHWM:");
    reset_peak(pid);
    let before = emu.stats();
    let perf = start_perf(pid)?;
    let cpu0 = proc_cpu(pid);
    let now = OffsetDateTime::now_utc();
    let payload = encode_timer("timer", None, now, now, false, &SysData::new("poller", now));
    let t0 = Instant::now();
    let resp = http
        .post(format!("{url}/poller"))
        .json(&payload)
        .send()
        .await
        .map_err(|e| format!("POST /poller: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = proc_cpu(pid);
    stop_perf(perf);
    let hwm = status_kib(pid, "VmHWM:");
    let after = emu.stats();
    let summary = body["Logs"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .rev()
                .find_map(|x| x.as_str().filter(|s| s.starts_with("poll sweep")))
        })
        .unwrap_or("")
        .to_string();
    let polled: f64 = summary
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let arm_requests = after.requests - before.requests;
    println!(
        "poll sweep (unlimited, ferry serve process): HTTP {status}, {summary}; wall {wall:.2} s; ARM {arm_requests} requests = {:.0}/s; CPU/copy {:.1} µs; serve RSS idle {:.1} MiB, after setup {:.1} MiB (peak {:.1}), peak during sweep {:.1} MiB",
        arm_requests as f64 / wall,
        (cpu1 - cpu0) * 1e6 / polled.max(1.0),
        idle_rss as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        hwm_setup as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    Ok(json!({
        "via": "serve", "mode": "unlimited", "copies": n, "copies_started": started,
        "sequencer_failures": failures, "poller_status": status, "summary": summary, "polled": polled,
        "wall_s": wall, "arm_requests": arm_requests, "arm_rps": arm_requests as f64 / wall,
        "serve_cpu_us_per_copy": (cpu1 - cpu0) * 1e6 / polled.max(1.0),
        "serve_idle_rss_mib": idle_rss as f64 / 1024.0, "serve_rss_before_sweep_mib": rss_before as f64 / 1024.0,
        "serve_peak_setup_mib": hwm_setup as f64 / 1024.0, "serve_peak_sweep_mib": hwm as f64 / 1024.0,
        "setup_world_s": world_s, "setup_sequencer_s": seq_s,
    }))
}

/// `perf record` attached to the serve process for the sweep alone, when `BENCH_PERF` names
/// the output file. Returns once perf has attached (it prints nothing until then, so wait
/// a moment: a profile that misses the sweep's start is still a profile of the sweep).
fn start_perf(pid: &str) -> Result<Option<std::process::Child>, String> {
    let Ok(out) = std::env::var("BENCH_PERF") else {
        return Ok(None);
    };
    // `BENCH_PERF_EVENT` records that event (e.g. a uprobe) instead of sampling the CPU.
    let call_graph = env_or("BENCH_PERF_CALL_GRAPH", "dwarf,16384");
    let what = match std::env::var("BENCH_PERF_EVENT") {
        Ok(event) => vec![
            "-e".to_string(),
            event,
            "-c".to_string(),
            env_or("BENCH_PERF_PERIOD", "1"),
        ],
        Err(_) => vec!["-F".to_string(), "4999".to_string()],
    };
    let child = std::process::Command::new("perf")
        .arg("record")
        .args(&what)
        .args(["--call-graph", &call_graph, "-o", &out, "-p", pid])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("BENCH_PERF: cannot start perf: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(Some(child))
}

/// Stops `perf record` with SIGINT (so it writes its file) and waits for it.
fn stop_perf(perf: Option<std::process::Child>) {
    if let Some(mut child) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
}

fn delivered(i: usize, now: OffsetDateTime) -> DeliveredMessage {
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
