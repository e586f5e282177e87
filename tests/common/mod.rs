//! Shared pieces of the end-to-end tests: a simulated world on the ARM emulator, an ARM
//! proxy that can be made to fail, the Azurite ledger setting, and (`oav`) the recording of ARM
//! traffic checked against the official swagger.
#![allow(dead_code)]

pub mod oav;

use ferry::clock::{ManualClock, SharedClock};
use ferry::sim::emulator::{Emulator, EmulatorConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use time::macros::datetime;
use time::OffsetDateTime;
use warp::Filter;

pub const SUB: &str = "00000000-0000-0000-0000-0000000000e2";
pub const TOKEN: &str = "test-token";
pub const T0: OffsetDateTime = datetime!(2026-11-02 00:00 UTC);

pub fn rg(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute")
}

pub fn collection(vm: &str) -> String {
    format!("{}/restorePointCollections/rpc-{vm}", rg("rg-app"))
}

pub fn rp(vm: &str, name: &str) -> String {
    format!("{}/restorePoints/{name}", collection(vm))
}

pub fn target_rp(vm: &str, region: &str, name: &str) -> String {
    format!(
        "{}/restorePointCollections/rg-app-rpc-{vm}-{region}/restorePoints/{name}",
        rg("rg-dr")
    )
}

pub fn policy() -> String {
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
        "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}, {"region": "centralus", "resourceGroup": "rg-dr"}],
    }]})
    .to_string()
}

/// True on a CI machine: `CI` is set to anything but empty, `0` or `false` (GitHub Actions and
/// most CI systems set `CI=true`; `.ci/run` sets it too).
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    })
}

/// Whether the explicit skip variable `var` (`FERRY_SKIP_AZURITE`, `FERRY_SKIP_OAV`) is set to
/// anything but empty or `0`. On CI it is refused with a panic: there every test must run, and a
/// skipped test would otherwise be counted as passed.
pub fn explicit_skip(var: &str) -> bool {
    let set = std::env::var(var).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0");
    assert!(
        !(set && on_ci()),
        "{var} is set, but so is CI: on CI no test may be skipped (a skipped Rust test is \
         reported as passed); unset {var}"
    );
    set
}

/// The Azurite table endpoint from `scripts/test`; a test needing it fails loudly without it,
/// unless `FERRY_SKIP_AZURITE=1` skips it explicitly (refused on CI).
pub fn azurite_ledger(table: &str) -> Option<String> {
    match std::env::var("FERRY_TEST_AZURITE_TABLE") {
        Ok(endpoint) if !endpoint.trim().is_empty() => Some(format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};TableEndpoint={};Table={table}",
            ferry::ledger::table::setting::DEV_KEY,
            endpoint.trim()
        )),
        _ if explicit_skip("FERRY_SKIP_AZURITE") => {
            eprintln!("FERRY_SKIP_AZURITE is set: this Azurite test is skipped");
            None
        }
        _ => panic!("FERRY_TEST_AZURITE_TABLE is not set: run the tests with scripts/test (it starts Azurite), or set FERRY_SKIP_AZURITE=1 (refused on CI) to skip"),
    }
}

pub fn unique_table(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
        .chars()
        .take(40)
        .collect()
}

/// An emulator on a manual clock, serving on loopback.
pub struct World {
    pub clock: ManualClock,
    pub emu: Emulator,
    pub url: String,
    http: reqwest::Client,
}

impl World {
    pub async fn new(bandwidth_mbps: f64) -> World {
        Self::with_config(|cfg| cfg.bandwidth_mbps = bandwidth_mbps).await
    }

    /// An emulator configured by `configure` (limits, faults, bandwidth...).
    pub async fn with_config(configure: impl FnOnce(&mut EmulatorConfig)) -> World {
        let clock = ManualClock::new(T0);
        let shared: SharedClock = Arc::new(clock.clone());
        let mut cfg = EmulatorConfig::new(shared);
        cfg.seed = 1;
        configure(&mut cfg);
        // These tests make restore points minutes apart to spend little simulated time.
        cfg.limits.min_restore_point_interval = false;
        let emu = Emulator::new(cfg);
        let (addr, _task) = emu.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        World {
            clock,
            emu,
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn arm(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}?api-version=2025-11-01", self.url);
        let mut req = self.http.request(method, url).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.arm(reqwest::Method::PUT, path, Some(body)).await;
        assert!((200..300).contains(&status), "PUT {path}: {status} {v}");
        v
    }

    /// A VM with an OS and a data disk, and its restore point collection.
    pub async fn vm(&self, name: &str) {
        self.put(
            &format!("{}/virtualMachines/{name}", rg("rg-app")),
            json!({"location": "eastus", "properties": {"storageProfile": {
                "osDisk": {"name": format!("{name}-os"), "diskSizeGB": 64},
                "dataDisks": [{"lun": 0, "name": format!("{name}-data"), "diskSizeGB": 128}]}},
                "tags": {"ferry-emulator:usedPercent": "50"}}),
        )
        .await;
        self.put(&collection(name), json!({"location": "eastus", "properties": {"source": {"id": format!("{}/virtualMachines/{name}", rg("rg-app"))}}})).await;
    }

    pub async fn restore_point(&self, vm: &str, name: &str) {
        self.put(&rp(vm, name), json!({"properties": {}})).await;
    }
}

/// A loopback proxy in front of ARM that can be told to fail (503 with an ARM error body),
/// for every request or only for PUTs.
pub struct ArmProxy {
    pub url: String,
    /// Every request that reached the proxy: (method, path without query, query).
    pub log: Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    pub down: Arc<AtomicBool>,
    pub fail_puts: Arc<AtomicBool>,
    /// Every request whose path contains this text is answered 503.
    pub fail_path: Arc<std::sync::Mutex<Option<String>>>,
    pub refused: Arc<AtomicU64>,
}

impl ArmProxy {
    pub async fn start(upstream: String) -> ArmProxy {
        let down = Arc::new(AtomicBool::new(false));
        let fail_puts = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let fail_path = Arc::new(std::sync::Mutex::new(None::<String>));
        let client = reqwest::Client::new();
        let (d, f, r, l, fp) = (
            down.clone(),
            fail_puts.clone(),
            refused.clone(),
            log.clone(),
            fail_path.clone(),
        );
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(move |method: warp::http::Method, path: warp::path::FullPath, query: String, headers: warp::http::HeaderMap, body: bytes::Bytes| {
                let (client, upstream, d, f, r) = (client.clone(), upstream.clone(), d.clone(), f.clone(), r.clone());
                l.lock().unwrap().push((method.to_string(), path.as_str().to_string(), query.clone()));
                let path_fails = fp.lock().unwrap().as_deref().is_some_and(|p| path.as_str().contains(p));
                async move {
                    if path_fails || d.load(Ordering::SeqCst) || (method == warp::http::Method::PUT && f.load(Ordering::SeqCst)) {
                        r.fetch_add(1, Ordering::SeqCst);
                        let body = json!({"error": {"code": "ServiceUnavailable", "message": "injected by the test proxy"}});
                        return warp::http::Response::builder().status(503).header("content-type", "application/json").body(body.to_string()).unwrap();
                    }
                    let url = if query.is_empty() { format!("{upstream}{}", path.as_str()) } else { format!("{upstream}{}?{query}", path.as_str()) };
                    let mut req = client.request(reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(), url).body(body.to_vec());
                    for (k, v) in headers.iter() {
                        if k == "host" || k == "content-length" {
                            continue;
                        }
                        req = req.header(k.as_str(), v.as_bytes());
                    }
                    match req.send().await {
                        Ok(resp) => {
                            let mut b = warp::http::Response::builder().status(resp.status().as_u16());
                            for (k, v) in resp.headers() {
                                if k != "content-length" && k != "transfer-encoding" {
                                    b = b.header(k.as_str(), v.as_bytes());
                                }
                            }
                            let text = resp.text().await.unwrap_or_default();
                            b.body(text).unwrap()
                        }
                        Err(e) => warp::http::Response::builder().status(502).body(e.to_string()).unwrap(),
                    }
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        ArmProxy {
            url: format!("http://{addr}"),
            log,
            down,
            fail_puts,
            fail_path,
            refused,
        }
    }
}

/// The queue and topic names the host stand-in and the handler share.
pub fn host_settings() -> std::collections::BTreeMap<String, String> {
    [
        ("FERRY_COPY_QUEUE", "copy-requests"),
        ("FERRY_EVENTS_QUEUE", "restore-point-events"),
        ("FERRY_ALERTS_TOPIC", "alerts"),
        ("FERRY_DRILL_SCHEDULE", "0 0 3 * * 0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `ferry serve`'s settings against the ARM endpoint `arm`, with `policy` and `ledger`
/// (client-side pacing off: the emulator enforces ARM's limits on its own clock).
pub fn serve_env(
    arm: &str,
    policy: &str,
    ledger: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut env = host_settings();
    for (k, v) in [
        ("FERRY_ARM_ENDPOINT", arm),
        ("FERRY_POLICY", policy),
        ("FERRY_LEDGER", ledger),
        ("FERRY_CREDENTIAL", &format!("dev-token:{TOKEN}")),
        ("FERRY_ARM_READ_RATE", "off"),
        ("FERRY_ARM_WRITE_RATE", "off"),
        ("FERRY_LOG", "warn"),
    ] {
        env.insert(k.into(), v.to_string());
    }
    env
}

/// The host stand-in spawning `ferry serve` with `env` itself (it sets
/// FERRY_SERVICEBUS_ENDPOINT), with the alerts topic declared.
pub async fn start_serve_host(
    world: &World,
    env: std::collections::BTreeMap<String, String>,
) -> ferry::sim::host::Host {
    use ferry::sim::host::{HandlerTarget, Host, HostConfig};
    let target = HandlerTarget::Process {
        exe: env!("CARGO_BIN_EXE_ferry").into(),
        args: vec!["serve".into()],
        env,
    };
    let mut cfg = HostConfig::new(
        env!("CARGO_MANIFEST_DIR"),
        target,
        Arc::new(world.clock.clone()),
    );
    cfg.settings = host_settings();
    let host = Host::start(cfg)
        .await
        .expect("the host stand-in starts the handler");
    host.declare_topic("alerts").unwrap();
    host
}

/// An `App` like `serve` builds it, against `arm_url` with client pacing off (the emulator
/// enforces ARM's limits on its own clock) and at most `max_attempts` tries per request, a
/// memory ledger, `policy`, and a Service Bus stand-in on the world's clock (the copy queue
/// and the alerts topic). Tests set the poll fields they care about.
pub async fn app_on(
    world: &World,
    arm_url: &str,
    max_attempts: u32,
    policy: Value,
) -> ferry::functions::App {
    use ferry::bus::{BusAuth, Outbox, ServiceBusRest};
    use ferry::sim::host::servicebus::Broker;
    let clock: SharedClock = Arc::new(world.clock.clone());
    let broker = Arc::new(Broker::new(clock, time::Duration::minutes(10)));
    broker.declare("copy-requests", false, true).unwrap();
    broker.declare("alerts", true, false).unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    std::mem::forget(stop); // the broker lives as long as the test
    let bus_addr = ferry::sim::host::servicebus::serve(broker, rx)
        .await
        .unwrap();
    let tokens: Arc<dyn ferry::auth::TokenProvider> = Arc::new(ferry::auth::DevToken::new(TOKEN));
    ferry::functions::App {
        arm: ferry::arm::ArmClient::new(
            ferry::arm::ArmConfig {
                endpoint: format!("{arm_url}/").parse().unwrap(),
                read_limit: None,
                write_limit: None,
                // Retry-After is in simulated seconds: give up at once and let ferry decide.
                max_backoff: std::time::Duration::from_millis(1),
                max_attempts,
                ..ferry::arm::ArmConfig::default()
            },
            tokens.clone(),
        )
        .unwrap(),
        ledger: Arc::new(ferry::ledger::memory::MemoryLedger::new()),
        bus: Outbox::new(
            Arc::new(
                ServiceBusRest::new(
                    format!("http://{bus_addr}").parse().unwrap(),
                    BusAuth::Token(tokens),
                )
                .unwrap(),
            ),
            ferry::permissions::EntityNames::defaults(),
        ),
        policy: ferry::policy::Policy::parse(&policy.to_string()).unwrap(),
        stall_after: time::Duration::hours(6),
        expiry_warning: time::Duration::days(2),
        poll_concurrency: 2,
        poll_budget: std::time::Duration::from_secs(60),
        telemetry: Default::default(),
        alert_webhook: None,
        fail_points: None,
    }
}
