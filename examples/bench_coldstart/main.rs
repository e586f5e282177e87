//! Cold-start benchmark (not a test: figures depend on the machine).
//!
//! Process start → first answer to `GET /`, for `ferry serve` and for the typical
//! JavaScript custom handler (a `node -e` http.createServer on the same port), started the
//! same way the Functions host starts a custom handler: fresh process, port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, probed until it answers. Runs are interleaved
//! (ferry, ferry-mi, ferry-key, node, ferry, …) so machine noise hits all alike.
//!
//! ferry starts in three setups:
//! - `ferry`: `FERRY_LEDGER=memory`, `FERRY_CREDENTIAL=dev-token:x` — nothing to fetch or
//!   check before serving (a setup Azure would not run; kept as the lower bound).
//! - `ferry-mi`, the Azure-like one: `FERRY_CREDENTIAL=managed-identity` with
//!   `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` pointing at a local App Service-style identity
//!   endpoint, and `FERRY_LEDGER` a table URL. Before its first answer `serve` fetches a
//!   storage token and creates-or-checks the table (`bootstrap::ledger`). The table URL
//!   points at a loopback gateway standing in for Table Storage's Entra authentication: it
//!   accepts only `Authorization: Bearer <the token the identity endpoint issued>` (anything
//!   else: 403, like Azure), re-signs the request with Azurite's well-known development key
//!   (`ferry::ledger::table::sign`) and forwards it to Azurite, returning Azurite's answer.
//!   Azurite itself accepts bearer tokens only over HTTPS with its own certificate, which
//!   ferry (webpki roots) rightly does not trust; the gateway adds one loopback hop.
//! - `ferry-key`: `FERRY_LEDGER` an Azurite shared-key connection string (no token; the
//!   table's create-or-check goes straight to Azurite), credential as for `ferry-mi`.
//!
//! The identity endpoint and the gateway run in this process (own thread, current-thread
//! runtime); Azurite is a node process. All share the machine's cores with the process
//! under test, which a real deployment's identity endpoint and Table Storage do not.
//! Each table setup uses one table, created by its warm-up run, so every measured start
//! finds it existing (409 on create: the steady state of a deployed app), unless
//! `BENCH_FRESH_TABLE=1` (a new table per start: the first start of a new deployment).
//!
//! The probe connects and sends `GET /` every `BENCH_POLL_MS` (default 1 ms); the real host
//! probes every 25 ms, so the report also gives the first answer rounded up to that grid.
//! After the first answer it reads the process's RSS (the idle footprint), then kills it.
//!
//! Run: `cargo build --release --bin ferry && cargo run --release --example bench_coldstart`
//! Env: `BENCH_RUNS` (default 30), `BENCH_POLL_MS` (1), `FERRY_BIN` (target/release/ferry),
//! `NODE_BIN` (node), `BENCH_TABLE` (1; 0 = only `ferry` and `node`, no Azurite),
//! `BENCH_FRESH_TABLE` (0), `FERRY_TEST_AZURITE_TABLE` (an Azurite table endpoint,
//! `http://127.0.0.1:<port>/devstoreaccount1`; unset = start one with `scripts/azurite.sh`).
//! Prints a table and one `RESULT {json}` line for scripts/bench.
//!
//! The identity endpoint and the gateway are in [`stand_ins`]; starting Azurite is in
//! [`azurite`].

mod azurite;
mod stand_ins;

use ferry::ledger::table::setting::{DEV_ACCOUNT, DEV_KEY};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use azurite::{azurite, OwnAzurite};
use stand_ins::{check_gateway_refuses, hop_cost, start_stand_ins, StandIns, IDENTITY_SECRET};

const HOST_PROBE: Duration = Duration::from_millis(25);
const GIVE_UP: Duration = Duration::from_secs(10);

const NODE_HANDLER: &str = "require('http').createServer((q,s)=>{s.writeHead(200,{'Content-Type':'application/json'});s.end('{}')}).listen(+process.env.FUNCTIONS_CUSTOMHANDLER_PORT,'127.0.0.1')";
const POLICY: &str = r#"{"rules":[{"scope":"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app","targets":[{"region":"westus2","resourceGroup":"rg-dr"}]}]}"#;

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

// ---------------------------------------------------------------------------------------
// The runs.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Memory ledger, dev token.
    Ferry,
    /// Managed identity (local endpoint), table URL through the gateway to Azurite.
    FerryMi,
    /// Azurite shared-key connection string.
    FerryKey,
    Node,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ferry => "ferry",
            Kind::FerryMi => "ferry-mi",
            Kind::FerryKey => "ferry-key",
            Kind::Node => "node",
        }
    }
    /// The RESULT key.
    fn key(self) -> &'static str {
        match self {
            Kind::Ferry => "ferry",
            Kind::FerryMi => "ferry_table_mi",
            Kind::FerryKey => "ferry_table_key",
            Kind::Node => "node",
        }
    }
}

struct Setup {
    ferry: String,
    node: String,
    poll: Duration,
    fresh_table: bool,
    stand_ins: Option<StandIns>,
    azurite: Option<url::Url>,
    tables: AtomicU64,
}

impl Setup {
    fn table(&self, kind: &str) -> String {
        if self.fresh_table {
            let n = self.tables.fetch_add(1, Ordering::Relaxed);
            format!("coldstart{kind}{}x{n}", std::process::id())
        } else {
            format!("coldstart{kind}")
        }
    }
}

struct Run {
    first_answer: Duration,
    status: u16,
    rss_kib: u64,
    /// ferry-mi: process start → the identity endpoint's answer, → the gateway's last
    /// answer before the first `GET /` answer.
    token_at: Option<Duration>,
    table_at: Option<Duration>,
}

fn start(kind: Kind, setup: &Setup, port: u16) -> std::io::Result<Child> {
    let mut cmd = if kind == Kind::Node {
        let mut c = Command::new(&setup.node);
        c.arg("-e").arg(NODE_HANDLER);
        c
    } else {
        let mut c = Command::new(&setup.ferry);
        c.arg("serve")
            .env("FERRY_POLICY", POLICY)
            .env("FERRY_SERVICEBUS_ENDPOINT", "http://127.0.0.1:9");
        match kind {
            Kind::Ferry => {
                c.env("FERRY_LEDGER", "memory")
                    .env("FERRY_CREDENTIAL", "dev-token:x");
            }
            Kind::FerryMi | Kind::FerryKey => {
                let si = setup.stand_ins.as_ref().expect("stand-ins");
                c.env("FERRY_CREDENTIAL", "managed-identity")
                    .env(
                        "IDENTITY_ENDPOINT",
                        format!("http://{}/msi/token", si.identity),
                    )
                    .env("IDENTITY_HEADER", IDENTITY_SECRET);
                let ledger = if kind == Kind::FerryMi {
                    format!("http://{}/{DEV_ACCOUNT}/{}", si.gateway, setup.table("mi"))
                } else {
                    let az = setup.azurite.as_ref().expect("azurite");
                    format!(
                        "DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};TableEndpoint={};Table={}",
                        az.as_str().trim_end_matches('/'),
                        setup.table("key")
                    )
                };
                c.env("FERRY_LEDGER", ledger);
            }
            Kind::Node => unreachable!(),
        }
        c
    };
    cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
}

fn one(kind: Kind, setup: &Setup) -> Result<Run, String> {
    let name = kind.name();
    let port = free_port().map_err(|e| format!("free port: {e}"))?;
    if let Some(si) = &setup.stand_ins {
        si.seen.take_events();
    }
    let t0 = Instant::now();
    let mut child = start(kind, setup, port).map_err(|e| format!("start {name}: {e}"))?;
    let result = loop {
        if let Some(status) = probe(port) {
            let first_answer = t0.elapsed();
            let rss_kib = rss_kib(child.id(), "VmRSS:").unwrap_or(0);
            let (mut token_at, mut table_at) = (None, None);
            if let Some(si) = &setup.stand_ins {
                let t1 = t0 + first_answer;
                for (what, at) in si.seen.take_events() {
                    if at < t0 || at > t1 {
                        continue;
                    }
                    match what {
                        "token" => token_at = Some(at - t0),
                        _ => table_at = Some(at - t0),
                    }
                }
            }
            break Ok(Run {
                first_answer,
                status,
                rss_kib,
                token_at,
                table_at,
            });
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            break Err(format!(
                "{name} exited before answering: {st}: {}",
                err.trim()
            ));
        }
        if t0.elapsed() > GIVE_UP {
            break Err(format!("{name} did not answer GET / within {GIVE_UP:?}"));
        }
        std::thread::sleep(setup.poll);
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The first answer as the host sees it: its probe fires every 25 ms from process start.
fn on_host_grid(d: Duration) -> f64 {
    let grid = HOST_PROBE.as_secs_f64();
    (d.as_secs_f64() / grid).ceil() * grid * 1e3
}

fn fail(e: String) -> ! {
    eprintln!("bench_coldstart: {e}");
    std::process::exit(1);
}

fn main() {
    let runs: usize = env_or("BENCH_RUNS", "30").parse().unwrap_or(30).max(1);
    let poll = Duration::from_millis(env_or("BENCH_POLL_MS", "1").parse().unwrap_or(1));
    let with_table = env_or("BENCH_TABLE", "1") != "0";
    let fresh_table = env_or("BENCH_FRESH_TABLE", "0") == "1";
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let mut own_azurite = OwnAzurite(None);
    let mut setup = Setup {
        ferry: env_or("FERRY_BIN", "target/release/ferry"),
        node: env_or("NODE_BIN", "node"),
        poll,
        fresh_table,
        stand_ins: None,
        azurite: None,
        tables: AtomicU64::new(0),
    };
    let mut kinds = vec![Kind::Ferry];
    let mut hop_token = String::new();
    if with_table {
        let (az, own) = azurite().unwrap_or_else(|e| fail(e));
        own_azurite = own;
        // A token nobody could guess, so the gateway's check means something.
        let token = format!(
            "bench-{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let mut origin = az.clone();
        origin.set_path("");
        let stand_ins = start_stand_ins(origin, token.clone());
        hop_token = token;
        if let Err(e) = check_gateway_refuses(stand_ins.gateway) {
            drop(own_azurite);
            fail(e);
        }
        stand_ins.seen.refused.store(0, Ordering::Relaxed);
        println!("gateway check: no token -> 403, wrong token -> 403");
        setup.stand_ins = Some(stand_ins);
        setup.azurite = Some(az);
        kinds.extend([Kind::FerryMi, Kind::FerryKey]);
    }
    kinds.push(Kind::Node);
    let run_or_exit = |kind: Kind, setup: &Setup| -> Run {
        match one(kind, setup) {
            Ok(r) => r,
            Err(e) => {
                drop(OwnAzurite(own_azurite.0));
                fail(e)
            }
        }
    };
    // One warm-up each: page cache (and the table setups' tables get created), not the
    // cold path of a freshly deployed app alone.
    for &kind in &kinds {
        run_or_exit(kind, &setup);
    }
    let counters = |s: &Setup| {
        s.stand_ins.as_ref().map(|si| {
            (
                si.seen.tokens_issued.load(Ordering::Relaxed),
                si.seen.forwarded.load(Ordering::Relaxed),
                si.seen.refused.load(Ordering::Relaxed),
            )
        })
    };
    let before = counters(&setup);
    // Per kind, counters' deltas over its measured runs (only ferry-mi should move them,
    // and ferry-key the identity endpoint's never: it fetches no token at start).
    let mut deltas: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    let mut results: Vec<(Kind, Vec<Run>)> = kinds.iter().map(|&k| (k, Vec::new())).collect();
    for _ in 0..runs {
        for (kind, v) in results.iter_mut() {
            let c0 = counters(&setup);
            v.push(run_or_exit(*kind, &setup));
            if let (Some(a), Some(b)) = (c0, counters(&setup)) {
                let d = deltas.entry(kind.name()).or_default();
                d.0 += b.0 - a.0;
                d.1 += b.1 - a.1;
                d.2 += b.2 - a.2;
            }
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let after = counters(&setup);
    let hop = match (&setup.azurite, &setup.stand_ins) {
        (Some(az), Some(si)) => match hop_cost(az, si.gateway, &hop_token, 200) {
            Ok(h) => Some(h),
            Err(e) => {
                drop(own_azurite);
                fail(e)
            }
        },
        _ => None,
    };
    drop(own_azurite);

    println!(
        "cold start: process start -> first answer to GET / ({runs} runs each, interleaved, probe every {} ms{})",
        poll.as_millis(),
        if fresh_table { ", a new table per start" } else { "" }
    );
    println!(
        "load average (1/5/15 min) before: {}, after: {}",
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>13} {:>12} {:>7}",
        "", "median", "p90", "max", "host-25ms p50", "idle RSS p50", "status"
    );
    let mut summary = serde_json::Map::new();
    for (kind, v) in &results {
        let ms = sorted(
            v.iter()
                .map(|r| r.first_answer.as_secs_f64() * 1e3)
                .collect(),
        );
        let grid = sorted(v.iter().map(|r| on_host_grid(r.first_answer)).collect());
        let mut rss: Vec<u64> = v.iter().map(|r| r.rss_kib).collect();
        rss.sort();
        let status = v.first().map(|r| r.status).unwrap_or(0);
        println!(
            "{:<9} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>10.0} ms {:>8.1} MiB {:>7}",
            kind.name(),
            pct(&ms, 0.5),
            pct(&ms, 0.9),
            ms[ms.len() - 1],
            pct(&grid, 0.5),
            rss[rss.len() / 2] as f64 / 1024.0,
            status
        );
        let mut entry = serde_json::json!({
            "median_ms": pct(&ms, 0.5), "p90_ms": pct(&ms, 0.9), "max_ms": ms[ms.len()-1],
            "host_grid_median_ms": pct(&grid, 0.5),
            "idle_rss_mib": rss[rss.len() / 2] as f64 / 1024.0,
        });
        if let Some(&(tokens, forwarded, refused)) = deltas.get(kind.name()) {
            entry["tokens_issued"] = tokens.into();
            entry["table_requests"] = forwarded.into();
            entry["refused"] = refused.into();
        }
        if *kind == Kind::FerryMi {
            let token: Vec<f64> = v
                .iter()
                .filter_map(|r| r.token_at)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect();
            let table: Vec<f64> = v
                .iter()
                .filter_map(|r| r.table_at)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect();
            if token.len() == v.len() && table.len() == v.len() {
                let (token, table) = (sorted(token), sorted(table));
                println!(
                    "          ferry-mi, medians from process start: token issued {:.2} ms, table answered {:.2} ms, first GET / answer {:.2} ms",
                    pct(&token, 0.5),
                    pct(&table, 0.5),
                    pct(&ms, 0.5)
                );
                entry["token_issued_median_ms"] = pct(&token, 0.5).into();
                entry["table_answered_median_ms"] = pct(&table, 0.5).into();
            } else {
                println!(
                    "          ferry-mi: {} of {} starts saw a token issued and {} a table answer before their first GET / answer",
                    token.len(),
                    v.len(),
                    table.len()
                );
            }
        }
        summary.insert(kind.key().to_string(), entry);
    }
    if let Some(b) = before {
        let a = after.unwrap_or(b);
        println!(
            "stand-ins over the measured runs: {} storage tokens issued, {} table requests forwarded to Azurite, {} refused (403); per setup: {}",
            a.0 - b.0,
            a.1 - b.1,
            a.2 - b.2,
            results
                .iter()
                .filter_map(|(k, _)| deltas.get(k.name()).map(|d| format!("{} {}/{}/{}", k.name(), d.0, d.1, d.2)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some((direct, via)) = hop {
        println!(
            "table create-or-check (409), 200 each, alternating, keep-alive: straight to Azurite {direct:.2} ms, through the gateway {via:.2} ms (median; the hop adds {:.2} ms)",
            via - direct
        );
        summary.insert(
            "hop".into(),
            serde_json::json!({"direct_ms": direct, "via_gateway_ms": via}),
        );
    }
    let med = |k: &str| summary[k]["median_ms"].as_f64().unwrap_or(f64::NAN);
    let p90 = |k: &str| summary[k]["p90_ms"].as_f64().unwrap_or(f64::NAN);
    let mut ratios = vec![("ratio_median".to_string(), med("ferry") / med("node"))];
    println!(
        "ratio ferry/node: median {:.3}, p90 {:.3}  (target: ferry <= 10 ms median and <= 0.2 x node)",
        ratios[0].1,
        p90("ferry") / p90("node")
    );
    for k in [Kind::FerryMi, Kind::FerryKey] {
        if summary.contains_key(k.key()) {
            let r = med(k.key()) / med("node");
            println!(
                "ratio {}/node: median {:.3}, p90 {:.3}; {}/ferry (memory ledger): median {:.3}",
                k.name(),
                r,
                p90(k.key()) / p90("node"),
                k.name(),
                med(k.key()) / med("ferry")
            );
            ratios.push((format!("ratio_median_{}", k.key()), r));
        }
    }
    for (k, r) in ratios {
        summary.insert(k, serde_json::json!(r));
    }
    summary.insert("load_before".into(), serde_json::json!(load_before.trim()));
    summary.insert("load_after".into(), serde_json::json!(load_after.trim()));
    println!("RESULT {}", serde_json::Value::Object(summary));
}
