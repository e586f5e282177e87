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
//!
//! The simulated world and its setup are in [`world`], the `serve` child in [`serve`], the
//! readings from /proc in [`procfs`].

// The benchmarks' shared module lives beside this directory.
#[path = "../common/mod.rs"]
mod common;
mod procfs;
mod serve;
mod world;

use ferry::arm::{ArmClient, ArmConfig, RateLimit};
use ferry::auth::{DevToken, TokenProvider};
use ferry::bus::{BusAuth, Outbox, ServiceBusRest};
use ferry::clock::Clock;
use ferry::functions::App;
use ferry::ledger::memory::MemoryLedger;
use ferry::permissions::EntityNames;
use ferry::policy::Policy;
use ferry::sim::emulator::{Emulator, EmulatorConfig, FaultConfig, LimitConfig};
use ferry::sim::host::servicebus::Broker;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

use procfs::{ferry_user_sys_ticks, proc_cpu, reset_peak, status_kib};
use serve::run_serve;
use world::{copy_request, policy_json, setup_world, PhaseClock, TOKEN};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
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
    // Restore points are made back to back here, faster than the platform allows.
    cfg.limits.min_restore_point_interval = false;
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
            telemetry: Default::default(),
            alert_webhook: None,
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
