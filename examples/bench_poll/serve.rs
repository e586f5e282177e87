//! `BENCH_VIA=serve`: `ferry serve` as a child process, fed copy requests over the
//! custom-handler protocol and swept with one POST /poller, with its ledger chosen by
//! `BENCH_LEDGER` and `perf record` attached for the sweep when `BENCH_PERF` asks.

use ferry::sim::emulator::Emulator;
use ferry::sim::host::encode::{encode_service_bus, encode_timer, SysData};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

use super::env_or;
use super::procfs::{proc_cpu, reset_peak, status_kib};
use super::world::{copy_request, delivered, policy_json, PhaseClock, TOKEN};

/// `ferry serve` as a child process: copy requests in over POST /sequencer, one POST /poller.
pub(crate) async fn run_serve(
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
