//! Cold-start benchmark (not a test: figures depend on the machine).
//!
//! Process start → first answer to `GET /`, for `ferry serve` and for the typical
//! JavaScript custom handler (a `node -e` http.createServer on the same port), started the
//! same way the Functions host starts a custom handler: fresh process, port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, probed until it answers. Runs are interleaved
//! (ferry, node, ferry, node, …) so machine noise hits both alike.
//!
//! The probe connects and sends `GET /` every `BENCH_POLL_MS` (default 1 ms); the real host
//! probes every 25 ms, so the report also gives the first answer rounded up to that grid.
//! After the first answer it reads the process's RSS (the idle footprint), then kills it.
//!
//! Run: `cargo build --release --bin ferry && cargo run --release --example bench_coldstart`
//! Env: `BENCH_RUNS` (default 30), `BENCH_POLL_MS` (1), `FERRY_BIN` (target/release/ferry),
//! `NODE_BIN` (node). Prints a table and one `RESULT {json}` line for scripts/bench.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOST_PROBE: Duration = Duration::from_millis(25);
const GIVE_UP: Duration = Duration::from_secs(10);

const NODE_HANDLER: &str = "require('http').createServer((q,s)=>{s.writeHead(200,{'Content-Type':'application/json'});s.end('{}')}).listen(+process.env.FUNCTIONS_CUSTOMHANDLER_PORT,'127.0.0.1')";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One probe: `Some(status)` when an HTTP response came back.
fn probe(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..]).ok()?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let text = std::str::from_utf8(&buf[..got]).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Run {
    first_answer: Duration,
    status: u16,
    rss_kib: u64,
}

fn start(kind: &str, ferry: &str, node: &str, port: u16) -> std::io::Result<Child> {
    let mut cmd = if kind == "ferry" {
        let mut c = Command::new(ferry);
        c.arg("serve")
            .env("FERRY_POLICY", r#"{"rules":[{"scope":"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app","targets":[{"region":"westus2","resourceGroup":"rg-dr"}]}]}"#)
            .env("FERRY_LEDGER", "memory")
            .env("FERRY_SERVICEBUS_ENDPOINT", "http://127.0.0.1:9")
            .env("FERRY_CREDENTIAL", "dev-token:x");
        c
    } else {
        let mut c = Command::new(node);
        c.arg("-e").arg(NODE_HANDLER);
        c
    };
    cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn one(kind: &str, ferry: &str, node: &str, poll: Duration) -> Result<Run, String> {
    let port = free_port().map_err(|e| format!("free port: {e}"))?;
    let t0 = Instant::now();
    let mut child = start(kind, ferry, node, port).map_err(|e| format!("start {kind}: {e}"))?;
    let result = loop {
        if let Some(status) = probe(port) {
            let first_answer = t0.elapsed();
            let rss_kib = rss_kib(child.id(), "VmRSS:").unwrap_or(0);
            break Ok(Run {
                first_answer,
                status,
                rss_kib,
            });
        }
        if let Ok(Some(st)) = child.try_wait() {
            break Err(format!("{kind} exited before answering: {st}"));
        }
        if t0.elapsed() > GIVE_UP {
            break Err(format!("{kind} did not answer GET / within {GIVE_UP:?}"));
        }
        std::thread::sleep(poll);
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The first answer as the host sees it: its probe fires every 25 ms from process start.
fn on_host_grid(d: Duration) -> f64 {
    let grid = HOST_PROBE.as_secs_f64();
    (d.as_secs_f64() / grid).ceil() * grid * 1e3
}

fn main() {
    let runs: usize = env_or("BENCH_RUNS", "30").parse().unwrap_or(30).max(1);
    let poll = Duration::from_millis(env_or("BENCH_POLL_MS", "1").parse().unwrap_or(1));
    let ferry = env_or("FERRY_BIN", "target/release/ferry");
    let node = env_or("NODE_BIN", "node");
    // One warm-up each: page cache, not the cold path of a freshly deployed app alone.
    for kind in ["ferry", "node"] {
        if let Err(e) = one(kind, &ferry, &node, poll) {
            eprintln!("bench_coldstart: {e}");
            std::process::exit(1);
        }
    }
    let mut results: Vec<(&str, Vec<Run>)> = vec![("ferry", Vec::new()), ("node", Vec::new())];
    for _ in 0..runs {
        for (kind, v) in results.iter_mut() {
            match one(kind, &ferry, &node, poll) {
                Ok(r) => v.push(r),
                Err(e) => {
                    eprintln!("bench_coldstart: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "cold start: process start -> first answer to GET / ({runs} runs each, interleaved, probe every {} ms)",
        poll.as_millis()
    );
    println!(
        "{:<6} {:>9} {:>9} {:>9} {:>13} {:>12} {:>7}",
        "", "median", "p90", "max", "host-25ms p50", "idle RSS p50", "status"
    );
    let mut summary = serde_json::Map::new();
    for (kind, v) in &results {
        let mut ms: Vec<f64> = v
            .iter()
            .map(|r| r.first_answer.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        let mut grid: Vec<f64> = v.iter().map(|r| on_host_grid(r.first_answer)).collect();
        grid.sort_by(f64::total_cmp);
        let mut rss: Vec<u64> = v.iter().map(|r| r.rss_kib).collect();
        rss.sort();
        let status = v.first().map(|r| r.status).unwrap_or(0);
        println!(
            "{:<6} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>10.0} ms {:>8.1} MiB {:>7}",
            kind,
            pct(&ms, 0.5),
            pct(&ms, 0.9),
            ms[ms.len() - 1],
            pct(&grid, 0.5),
            rss[rss.len() / 2] as f64 / 1024.0,
            status
        );
        summary.insert(
            kind.to_string(),
            serde_json::json!({
                "median_ms": pct(&ms, 0.5), "p90_ms": pct(&ms, 0.9), "max_ms": ms[ms.len()-1],
                "host_grid_median_ms": pct(&grid, 0.5),
                "idle_rss_mib": rss[rss.len() / 2] as f64 / 1024.0,
            }),
        );
    }
    let med = |k: &str| summary[k]["median_ms"].as_f64().unwrap_or(f64::NAN);
    let p90 = |k: &str| summary[k]["p90_ms"].as_f64().unwrap_or(f64::NAN);
    let ratio = med("ferry") / med("node");
    println!(
        "ratio ferry/node: median {:.3}, p90 {:.3}  (target: ferry <= 10 ms median and <= 0.2 x node)",
        ratio,
        p90("ferry") / p90("node")
    );
    summary.insert("ratio_median".into(), serde_json::json!(ratio));
    println!("RESULT {}", serde_json::Value::Object(summary));
}
