//! `ferry demo`: the whole pipeline, for real, on this machine. The ARM emulator, the
//! handler (`serve`'s server) and the Functions host stand-in run in one process and talk
//! over loopback HTTP exactly as they would in Azure; a simulated clock runs weeks of daily
//! restore points through them in seconds. The scenario includes what the platform throws
//! at a DR tool (see [`Scenario`]); the report says what happened, and the exit code says
//! whether every invariant held.

use crate::alerts::AlertKind;
use crate::auth::DevToken;
use crate::bus::{BusAuth, BusError, MessageSender, OutgoingMessage, ServiceBusRest};
use crate::clock::{Clock, ManualClock};
use crate::config::{Config, Mode};
use crate::emulator::{CopyOutcome, Emulator, EmulatorConfig, FaultConfig};
use crate::host::{EventDelivery, HandlerTarget, Host, HostConfig};
use crate::ids::RestorePointId;
use crate::ledger::records::{Chain, Copy, CopyState, CHAIN_ROW, COPY_PREFIX};
use crate::ledger::{query_all, Ledger, Query};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000fe77e";
const SOURCE_RG: &str = "rg-app";
const TARGET_RG: &str = "rg-dr";
const SOURCE_REGION: &str = "eastus";
const TARGET_REGIONS: [&str; 2] = ["westus2", "centralus"];
const TOKEN: &str = "demo-token";
const START: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);
const TICK: Duration = Duration::minutes(10);

/// Options of `ferry demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// Source VMs (the first six play special roles: CMK, confidential, failing copy,
    /// never-progressing copy, deleted base).
    #[arg(long, default_value_t = 8)]
    pub vms: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 20)]
    pub days: u32,
    /// Platform trouble: none | default | heavy.
    #[arg(long, default_value = "default")]
    pub faults: String,
    /// Seed of every random choice: same seed, same outcome.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Show a progress bar (default: when stderr is a terminal and not --json).
    #[arg(long)]
    pub no_progress: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            json: false,
            vms: 8,
            days: 20,
            faults: "default".into(),
            seed: 7,
            no_progress: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("bad option: {0}")]
    Args(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("the scenario could not drive the emulator: {0}")]
    Arm(String),
    #[error("host stand-in: {0}")]
    Host(String),
}

/// Counts of copies by state.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct CopyCounts {
    pub succeeded: usize,
    pub failed: usize,
    pub expired: usize,
    pub rejected: usize,
    pub in_flight: usize,
    pub pending: usize,
}

/// One chain's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub source_collection: String,
    pub target_region: String,
    pub copies: CopyCounts,
    pub rpo_hours: Option<f64>,
    pub rpo_breached: bool,
}

/// What `ferry demo --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub simulated_days: u32,
    pub vms: usize,
    pub seed: u64,
    pub faults: String,
    pub chains: usize,
    pub copies: CopyCounts,
    pub alerts: BTreeMap<String, usize>,
    /// Requests the emulator refused because ferry broke a platform rule (must be 0).
    pub rule_violations: u64,
    pub violations_by_rule: BTreeMap<String, u64>,
    /// Second copies of one source restore point into one region (must be 0).
    pub duplicate_copies: u64,
    /// Alerts with the same id sent more than once (must be 0).
    pub duplicate_alerts: usize,
    /// Restore points in scope with no copy record for a target region (must be 0).
    pub lost_requests: usize,
    /// Chains whose copy in flight is older than its maximum duration (must be 0).
    pub stuck_chains: usize,
    pub restore_points_created: usize,
    /// Messages and events given up on by the host, with why (must be none).
    pub dead_letters: BTreeMap<String, Vec<String>>,
    /// Handler crashes and ledger races injected on ferry's side.
    pub injected_crashes: u64,
    pub injected_conflicts: u64,
    pub arm: Value,
    pub host: Value,
    pub per_chain: Vec<ChainReport>,
    pub invariants_held: bool,
    pub broken_invariants: Vec<String>,
    pub wall_seconds: f64,
}

/// A sender whose endpoint is known only once the host stand-in is up (the host needs the
/// handler's address first, the handler needs the host's Service Bus endpoint).
#[derive(Default)]
struct LateSender(OnceLock<ServiceBusRest>);

#[async_trait::async_trait]
impl MessageSender for LateSender {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        match self.0.get() {
            Some(s) => s.send(queue, messages).await,
            None => Err(BusError::Transient(
                "Service Bus endpoint not ready yet".into(),
            )),
        }
    }
}

/// The roles VMs play, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    /// Disks encrypted with a customer-managed key (mapped per region in the policy).
    Cmk,
    /// A confidential VM: every restore point is rejected up front.
    Confidential,
    /// One copy fails part-way.
    FailingCopy,
    /// One copy never progresses and expires after 14 days.
    NeverProgresses,
    /// Its base restore point is deleted mid-run.
    BaseDeleted,
}

fn role(i: usize) -> Role {
    match i {
        1 => Role::Cmk,
        2 => Role::Confidential,
        3 => Role::FailingCopy,
        4 => Role::NeverProgresses,
        5 => Role::BaseDeleted,
        _ => Role::Plain,
    }
}

fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Compute")
}

fn vm_name(i: usize) -> String {
    format!("vm-{i:02}")
}

fn collection_id(i: usize) -> String {
    format!(
        "{}/restorePointCollections/rpc-{}",
        rg_path(SOURCE_RG),
        vm_name(i)
    )
}

fn rp_id(i: usize, name: &str) -> String {
    format!("{}/restorePoints/{name}", collection_id(i))
}

fn des_id(rg: &str, name: &str) -> String {
    format!("{}/diskEncryptionSets/{name}", rg_path(rg))
}

fn policy_json() -> String {
    let targets: Vec<Value> = TARGET_REGIONS
        .iter()
        .map(|r| json!({
            "region": r,
            "resourceGroup": TARGET_RG,
            "diskEncryptionSets": { des_id(SOURCE_RG, "des-app"): des_id(TARGET_RG, &format!("des-dr-{r}")) },
        }))
        .collect();
    json!({"rules": [{
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{SOURCE_RG}"),
        "targets": targets,
        "createTargetCollections": true,
        "maxCopyDuration": "P14D",
        "rpoObjective": "PT36H",
        "minConsistency": "CrashConsistent",
    }, {
        // DR collections live in their own resource group: copies made there must never be
        // fed back in (they would be copies of copies).
        "scope": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{TARGET_RG}"),
        "targets": [{"region": "northeurope"}],
    }]})
    .to_string()
}

/// Finds the app root (host.json and functions/): the working directory when run from a
/// checkout, else the crate's own directory.
fn app_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("host.json").is_file() && cwd.join("functions").is_dir() {
        cwd
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

/// The scenario's hands on ARM: what operators and Azure Backup would do (create VMs,
/// collections, restore points; delete one). It retries the emulator's injected faults like
/// any well-behaved client.
struct Operator {
    http: reqwest::Client,
    base: url::Url,
    /// While set, a 429 makes simulated time pass by its Retry-After (only before the
    /// scenario's clock starts ticking).
    waits_on: Option<ManualClock>,
}

impl Operator {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DemoError> {
        self.call_with(method, path, body, 40).await
    }

    async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        attempts: u32,
    ) -> Result<(u16, Value), DemoError> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| DemoError::Arm(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("api-version", "2025-11-01");
        let mut last = String::new();
        for attempt in 0..attempts {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(TOKEN);
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i64>().ok());
                    let v: Value = resp.json().await.unwrap_or(Value::Null);
                    if let (429, Some(secs), Some(clock)) = (status, retry_after, &self.waits_on) {
                        // Setting the world up: the operator waits as ARM asks, in simulated time.
                        clock.advance(Duration::seconds(secs.clamp(1, 60)));
                    }
                    if status == 429 || status >= 500 {
                        last = format!("HTTP {status}: {v}");
                    } else {
                        return Ok((status, v));
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(2 + u64::from(attempt))).await;
        }
        Err(DemoError::Arm(format!("{method} {path}: {last}")))
    }

    async fn put(&self, path: &str, body: Value) -> Result<Value, DemoError> {
        let (status, v) = self.call(reqwest::Method::PUT, path, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(DemoError::Arm(format!("PUT {path}: HTTP {status}: {v}")))
        }
    }
}

/// The simulated world's schedule.
struct Scenario {
    vms: usize,
    days: u32,
}

impl Scenario {
    /// Restore point name for a VM's daily restore point.
    fn rp_name(day: u32) -> String {
        format!("rp-{}", (START + Duration::days(i64::from(day))).date())
    }

    fn rp_time(i: usize, day: u32) -> OffsetDateTime {
        START
            + Duration::days(i64::from(day))
            + Duration::hours(1)
            + Duration::minutes(3 * i as i64)
    }
}

async fn setup_world(op: &Operator, sc: &Scenario) -> Result<(), DemoError> {
    for i in 0..sc.vms {
        let name = vm_name(i);
        let r = role(i);
        let des = (r == Role::Cmk).then(|| json!({"id": des_id(SOURCE_RG, "des-app")}));
        let mut os = json!({"name": format!("{name}-os"), "diskSizeGB": 128, "managedDisk": {"storageAccountType": "Premium_LRS"}});
        let mut data = json!({"lun": 0, "name": format!("{name}-data"), "diskSizeGB": 256 + 128 * (i % 3), "managedDisk": {"storageAccountType": "Premium_LRS"}});
        if let Some(d) = &des {
            os["managedDisk"]["diskEncryptionSet"] = d.clone();
            data["managedDisk"]["diskEncryptionSet"] = d.clone();
        }
        let mut props = json!({"storageProfile": {"osDisk": os, "dataDisks": [data]}});
        if r == Role::Confidential {
            props["securityProfile"] = json!({"securityType": "ConfidentialVM"});
        }
        let churn = if i % 2 == 0 { "4" } else { "0.2" };
        op.put(
            &format!("{}/virtualMachines/{name}", rg_path(SOURCE_RG)),
            json!({"location": SOURCE_REGION, "properties": props, "tags": {"ferry-emulator:churnGBPerDay": churn, "ferry-emulator:usedPercent": "40"}}),
        )
        .await?;
        op.put(&collection_id(i), json!({"location": SOURCE_REGION, "properties": {"source": {"id": format!("{}/virtualMachines/{name}", rg_path(SOURCE_RG))}}})).await?;
    }
    Ok(())
}

/// Runs the demo and returns its report.
pub async fn run(args: &DemoArgs, show_progress: bool) -> Result<DemoReport, DemoError> {
    let wall = std::time::Instant::now();
    let faults = FaultConfig::preset(&args.faults).ok_or_else(|| {
        DemoError::Args(format!(
            "--faults {:?}: use none, default or heavy",
            args.faults
        ))
    })?;
    if args.vms == 0 || args.days == 0 {
        return Err(DemoError::Args(
            "--vms and --days must be at least 1".into(),
        ));
    }
    let sc = Scenario {
        vms: args.vms,
        days: args.days,
    };
    let clock = ManualClock::new(START);
    let shared: crate::clock::SharedClock = Arc::new(clock.clone());

    // ARM emulator.
    let mut ecfg = EmulatorConfig::new(shared.clone());
    ecfg.seed = args.seed;
    // Added latency is real time, not simulated: it would only make the demo slower.
    ecfg.faults = FaultConfig {
        latency: None,
        ..faults
    };
    let emu = Emulator::new(ecfg);
    let (emu_addr, _emu_task) = emu
        .serve("127.0.0.1:0".parse().expect("literal"))
        .await
        .map_err(|e| DemoError::Setup(format!("emulator: {e}")))?;
    let arm_url = format!("http://{emu_addr}");

    // The handler, configured like `serve` from settings.
    let mut env: BTreeMap<String, String> = [
        ("FERRY_ARM_ENDPOINT", arm_url.clone()),
        (
            "FERRY_SERVICEBUS_ENDPOINT",
            "http://127.0.0.1:9".to_string(),
        ),
        ("FERRY_POLICY", policy_json()),
        ("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}")),
        // Real ARM limits are per real second; the emulator enforces them on its simulated
        // clock, so client-side pacing would only slow the demo down.
        ("FERRY_ARM_READ_RATE", "off".to_string()),
        ("FERRY_ARM_WRITE_RATE", "off".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Ok(l) = std::env::var("FERRY_LEDGER") {
        env.insert("FERRY_LEDGER".into(), l);
    }
    let config = Config::from_env(&env, Mode::Demo).map_err(|e| DemoError::Setup(e.to_string()))?;
    let tokens: Arc<dyn crate::auth::TokenProvider> = Arc::new(DevToken::new(TOKEN));
    let ledger = crate::bootstrap::ledger(&config, &tokens)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    // ferry's own trouble: crashes mid-invocation and lost ledger races.
    let (crash_rate, conflict_rate) = match args.faults.as_str() {
        "heavy" => (0.02, 0.05),
        "default" => (0.002, 0.01),
        _ => (0.0, 0.0),
    };
    let chaos = Arc::new(crate::chaos::Chaos::new(
        args.seed,
        crash_rate,
        conflict_rate,
    ));
    let report_ledger = ledger.clone();
    let ledger: Arc<dyn Ledger> =
        Arc::new(crate::chaos::ConflictingLedger::new(ledger, chaos.clone()));
    let mut app = crate::bootstrap::app(&config, tokens.clone(), ledger.clone())
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let late = Arc::new(LateSender::default());
    app.bus = late.clone();
    // One copy polled at a time: the emulator draws its random outcomes in request order, so
    // a fixed order makes a run reproducible.
    app.poll_concurrency = 1;
    app.chaos = Some(chaos.clone());
    app.arm = crate::arm::ArmClient::new(
        crate::arm::ArmConfig {
            endpoint: config.arm_endpoint.clone(),
            read_limit: None,
            write_limit: None,
            // Retry-After is in simulated seconds: a short real wait, then reschedule.
            max_backoff: std::time::Duration::from_millis(1),
            max_attempts: 4,
            ..crate::arm::ArmConfig::default()
        },
        tokens.clone(),
    )
    .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (handler_addr, handler_task) = crate::server::serve(
        Arc::new(app),
        "127.0.0.1:0".parse().expect("literal"),
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .map_err(|e| DemoError::Setup(format!("handler: {e}")))?;

    // The Functions host stand-in, reading the project's own host.json and function.json.
    let settings: BTreeMap<String, String> = [
        ("FERRY_COPY_QUEUE", config.copy_queue.clone()),
        ("FERRY_EVENTS_QUEUE", config.events_queue.clone()),
        ("FERRY_ALERTS_TOPIC", config.alerts_topic.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let handler_url = url::Url::parse(&format!("http://{handler_addr}/"))
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let mut hcfg = HostConfig::new(app_root(), HandlerTarget::Url(handler_url), shared.clone());
    hcfg.settings = settings;
    hcfg.sequential = true;
    let host = Host::start(hcfg)
        .await
        .map_err(|e| DemoError::Setup(format!("host stand-in: {e}")))?;
    let sender = ServiceBusRest::new(host.service_bus_endpoint(), BusAuth::Token(tokens.clone()))
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let _ = late.0.set(sender);

    let mut op = Operator {
        http: reqwest::Client::new(),
        base: url::Url::parse(&format!("{arm_url}/"))
            .map_err(|e| DemoError::Setup(e.to_string()))?,
        waits_on: Some(clock.clone()),
    };
    setup_world(&op, &sc).await?;
    op.waits_on = None;
    // Setting up a large estate takes simulated time (ARM's write limits); the scenario's
    // ticks start at the next 10-minute boundary after it.
    let begin_tick =
        ((clock.now() - START).whole_seconds() + TICK.whole_seconds() - 1) / TICK.whole_seconds();

    let total_ticks = i64::from(sc.days) * 144;
    let bar = if show_progress {
        let b = indicatif::ProgressBar::new(total_ticks as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} day {msg} [{bar:40}] {percent}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };

    let mut created: Vec<(usize, String)> = Vec::new();
    let mut held_back: Vec<(OffsetDateTime, Value)> = Vec::new();
    for tick in begin_tick..total_ticks {
        let now = START + TICK * tick as i32;
        clock.set(now);
        let day = (tick / 144) as u32;
        let window_end = now + TICK;
        // Scheduled world actions within this tick.
        for i in 0..sc.vms {
            let at = Scenario::rp_time(i, day);
            if at >= now && at < window_end {
                let name = Scenario::rp_name(day);
                if role(i) == Role::FailingCopy && day == 3 {
                    emu.plan_copy_outcome(
                        &rp_id(i, &name)
                            .parse::<RestorePointId>()
                            .map_err(|e| DemoError::Arm(e.to_string()))?,
                        CopyOutcome::Fail,
                    );
                }
                if role(i) == Role::NeverProgresses && day == 2 {
                    emu.plan_copy_outcome(
                        &rp_id(i, &name)
                            .parse::<RestorePointId>()
                            .map_err(|e| DemoError::Arm(e.to_string()))?,
                        CopyOutcome::NeverProgress,
                    );
                }
                op.put(&rp_id(i, &name), json!({"properties": {}})).await?;
                created.push((i, name.clone()));
            }
            // Day 7: an ad-hoc restore point ten minutes after vm-00's daily one; the two
            // events will arrive in reverse order.
            if i == 0 && day == 7 && at + TICK >= now && at + TICK < window_end {
                let extra = format!("{}-adhoc", Scenario::rp_name(day));
                op.put(&rp_id(i, &extra), json!({"properties": {}})).await?;
                created.push((i, extra));
            }
        }
        // Day 8, noon: someone deletes the base (first, full) restore point of vm-05.
        if sc.vms > 5 && now == START + Duration::days(8) + Duration::hours(12) {
            let _ = op
                .call(
                    reqwest::Method::DELETE,
                    &rp_id(5, &Scenario::rp_name(0)),
                    None,
                )
                .await?;
        }
        // Day 6: an operator copies a restore point by hand into northeurope, inside the
        // policy's scope: a copy, which must never be copied again.
        if now == START + Duration::days(6) + Duration::hours(6) {
            let manual = format!(
                "{}/restorePointCollections/rpc-vm-00-manual",
                rg_path(SOURCE_RG)
            );
            op.put(&manual, json!({"location": "northeurope", "properties": {"source": {"id": collection_id(0)}}})).await?;
            op.put(&format!("{manual}/restorePoints/{}", Scenario::rp_name(5)), json!({"properties": {"sourceRestorePoint": {"id": rp_id(0, &Scenario::rp_name(5))}}})).await?;
        }
        // Day 12: a burst of reads from another tool drains the subscription's ARM read
        // bucket; ferry must back off and catch up, not storm.
        if now == START + Duration::days(12) + Duration::hours(1) {
            // Until the bucket answers 429 a few times (bounded: a tick's budget is ~15,250).
            let mut throttled = 0;
            for _ in 0..20_000 {
                let (status, _) = op
                    .call_with(
                        reqwest::Method::GET,
                        &format!("{}/restorePointCollections", rg_path(SOURCE_RG)),
                        None,
                        1,
                    )
                    .await
                    .unwrap_or((429, Value::Null));
                if status == 429 {
                    throttled += 1;
                    if throttled >= 20 {
                        break;
                    }
                }
            }
        }

        // Events: what Event Grid delivers, with its real-world quirks.
        let mut events = emu.drain_events();
        if day == 5 || tick % 37 == 0 {
            let dup = events.clone();
            events.extend(dup); // at-least-once delivery: duplicates
        }
        // Day 7: vm-00's daily event arrives after the ad-hoc one made ten minutes later.
        // Day 9: vm-00's event is delayed by two days.
        let mut ready: Vec<Value> = Vec::new();
        for e in events {
            let is = |d: u32| {
                e["subject"].as_str().is_some_and(|s| {
                    s.ends_with(&format!("rpc-vm-00/restorePoints/{}", Scenario::rp_name(d)))
                })
            };
            if is(7) {
                held_back.push((now + TICK, e));
            } else if is(9) {
                held_back.push((now + Duration::days(2), e));
            } else {
                ready.push(e);
            }
        }
        held_back.retain(|(at, e)| {
            if *at <= now {
                ready.push(e.clone());
                false
            } else {
                true
            }
        });
        if !ready.is_empty() {
            // Both deliveries in use: Event Grid → Service Bus (recommended) on even days,
            // the eventGridTrigger on odd days.
            let via = if day.is_multiple_of(2) {
                EventDelivery::Queue(config.events_queue.clone())
            } else {
                EventDelivery::EventGridTrigger
            };
            host.publish_events(ready, via)
                .await
                .map_err(|e| DemoError::Host(e.to_string()))?;
        }
        host.run_until_idle()
            .await
            .map_err(|e| DemoError::Host(e.to_string()))?;
        host.fire_timer(crate::functions::POLLER)
            .await
            .map_err(|e| DemoError::Host(e.to_string()))?;
        host.run_until_idle()
            .await
            .map_err(|e| DemoError::Host(e.to_string()))?;
        if let Some(b) = &bar {
            b.set_position(tick as u64 + 1);
            b.set_message(format!("{}/{}", day + 1, sc.days));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    // The status function, through the host, as an operator's dashboard would call it.
    let (status, status_body) = host
        .call_http(
            crate::functions::STATUS,
            "GET",
            "/api/status/chains",
            &[],
            None,
        )
        .await
        .map_err(|e| DemoError::Host(e.to_string()))?;
    if status != 200 {
        return Err(DemoError::Host(format!(
            "status function answered {status}: {status_body}"
        )));
    }

    let report = build_report(
        args,
        &sc,
        &emu,
        &host,
        &chaos,
        (config.copy_queue.clone(), config.events_queue.clone()),
        report_ledger.as_ref(),
        &created,
        &status_body,
        clock.now(),
        wall,
    )
    .await?;
    let _ = stop_tx.send(());
    host.shutdown().await;
    let _ = handler_task.await;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn build_report(
    args: &DemoArgs,
    sc: &Scenario,
    emu: &Emulator,
    host: &Host,
    chaos: &crate::chaos::Chaos,
    queues: (String, String),
    ledger: &dyn Ledger,
    created: &[(usize, String)],
    status: &Value,
    now: OffsetDateTime,
    wall: std::time::Instant,
) -> Result<DemoReport, DemoError> {
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let chain_rows = query_all(ledger, &q)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let mut copies_total = CopyCounts::default();
    let mut per_chain = Vec::new();
    let mut known: BTreeSet<(String, String)> = BTreeSet::new();
    let mut stuck = 0;
    for row in &chain_rows {
        let chain = Chain::from_entity(row).map_err(|e| DemoError::Setup(e.to_string()))?;
        let rows = query_all(
            ledger,
            &Query::partition(&chain.key).row_prefix(COPY_PREFIX),
        )
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
        let mut counts = CopyCounts::default();
        for r in &rows {
            let c = Copy::from_entity(r).map_err(|e| DemoError::Setup(e.to_string()))?;
            known.insert((c.source_restore_point.key(), chain.target_region.clone()));
            match c.state {
                CopyState::Succeeded => counts.succeeded += 1,
                CopyState::Failed => counts.failed += 1,
                CopyState::Expired => counts.expired += 1,
                CopyState::Rejected => counts.rejected += 1,
                CopyState::InFlight | CopyState::Starting => {
                    counts.in_flight += 1;
                    if c.started_at
                        .is_some_and(|s| now - s > crate::rules::PLATFORM_MAX_COPY + TICK)
                    {
                        stuck += 1;
                    }
                }
                CopyState::Pending => counts.pending += 1,
            }
        }
        for (a, b) in [
            (&mut copies_total.succeeded, counts.succeeded),
            (&mut copies_total.failed, counts.failed),
            (&mut copies_total.expired, counts.expired),
            (&mut copies_total.rejected, counts.rejected),
            (&mut copies_total.in_flight, counts.in_flight),
            (&mut copies_total.pending, counts.pending),
        ] {
            *a += b;
        }
        let status_chain = status["chains"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["key"] == chain.key.as_str()));
        per_chain.push(ChainReport {
            source_collection: chain.source_collection.name.clone(),
            target_region: chain.target_region.clone(),
            copies: counts,
            rpo_hours: status_chain.and_then(|c| c["rpo"]["currentHours"].as_f64()),
            rpo_breached: status_chain
                .and_then(|c| c["rpo"]["breached"].as_bool())
                .unwrap_or(false),
        });
    }
    per_chain.sort_by(|a, b| {
        (&a.source_collection, &a.target_region).cmp(&(&b.source_collection, &b.target_region))
    });

    // Every restore point created in scope must have a record per target region (copied,
    // in flight, pending, or rejected/failed/expired with an alert).
    let mut lost_list = Vec::new();
    for (i, name) in created {
        let rp = rp_id(*i, name).to_ascii_lowercase();
        for region in TARGET_REGIONS {
            if !known.contains(&(rp.clone(), region.to_string())) {
                lost_list.push(format!("{} → {region}", rp_id(*i, name)));
            }
        }
    }
    let lost = lost_list.len();

    let mut alerts: BTreeMap<String, usize> = AlertKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for v in host.take_outputs("alerts") {
        let a: Value = match &v {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if let Some(k) = a["kind"].as_str() {
            *alerts.entry(k.to_string()).or_default() += 1;
        }
        if let Some(id) = a["id"].as_str() {
            *ids.entry(id.to_string()).or_default() += 1;
        }
    }
    let duplicate_alerts = ids.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    let stats = emu.stats();
    let host_stats = host.stats();

    let mut broken = Vec::new();
    if stats.rule_violations != 0 {
        broken.push(format!(
            "rule_violations = {} ({:?})",
            stats.rule_violations, stats.violations_by_rule
        ));
    }
    if stats.duplicate_copies != 0 {
        broken.push(format!("duplicate_copies = {}", stats.duplicate_copies));
    }
    if duplicate_alerts != 0 {
        broken.push(format!("duplicate_alerts = {duplicate_alerts}"));
    }
    if lost != 0 {
        broken.push(format!(
            "lost_requests = {lost}: {}",
            lost_list
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if stuck != 0 {
        broken.push(format!("stuck_chains = {stuck}"));
    }
    let mut dead_letters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in [
        queues.0.clone(),
        queues.1.clone(),
        format!("eventgrid:{}", crate::functions::INGEST_EVENTGRID),
    ] {
        let d = host.dead_letters(&q);
        if !d.is_empty() {
            dead_letters.insert(
                q,
                d.iter()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            d.reason,
                            d.description.chars().take(300).collect::<String>()
                        )
                    })
                    .collect(),
            );
        }
    }
    let dead: usize = dead_letters.values().map(Vec::len).sum();
    if dead != 0 {
        broken.push(format!("dead_lettered_messages = {dead}"));
    }
    // The scenario plants each of these; a run that doesn't see them didn't test them.
    for (kind, min_vms, min_days) in [
        (AlertKind::CopyRejected, 2, 0),
        (AlertKind::CopyFailed, 3, 4),
        (AlertKind::CopyExpired, 4, 17),
        (AlertKind::BaseRestorePointDeleted, 5, 9),
    ] {
        if sc.vms > min_vms
            && sc.days > min_days
            && alerts.get(kind.as_str()).copied().unwrap_or(0) == 0
        {
            broken.push(format!("expected at least one {} alert", kind.as_str()));
        }
    }
    Ok(DemoReport {
        simulated_days: sc.days,
        vms: sc.vms,
        seed: args.seed,
        faults: args.faults.clone(),
        chains: chain_rows.len(),
        copies: copies_total,
        alerts,
        rule_violations: stats.rule_violations,
        violations_by_rule: stats.violations_by_rule.clone(),
        duplicate_copies: stats.duplicate_copies,
        duplicate_alerts,
        lost_requests: lost,
        stuck_chains: stuck,
        restore_points_created: created.len(),
        dead_letters,
        injected_crashes: chaos.crashes(),
        injected_conflicts: chaos.conflicts(),
        arm: serde_json::to_value(&stats).unwrap_or(Value::Null),
        host: serde_json::to_value(&host_stats).unwrap_or(Value::Null),
        per_chain,
        invariants_held: broken.is_empty(),
        broken_invariants: broken,
        wall_seconds: (wall.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    })
}

fn print_human(r: &DemoReport) {
    println!(
        "restore-point-ferry demo: {} VMs, {} simulated days, faults {}, seed {} ({} s)",
        r.vms, r.simulated_days, r.faults, r.seed, r.wall_seconds
    );
    println!();
    println!(
        "{:<22} {:<11} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9}",
        "chain", "region", "done", "fly", "fail", "exp", "rej", "pend", "RPO (h)"
    );
    for c in &r.per_chain {
        let rpo = c
            .rpo_hours
            .map(|h| format!("{h:.1}{}", if c.rpo_breached { "!" } else { "" }))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<22} {:<11} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9}",
            c.source_collection,
            c.target_region,
            c.copies.succeeded,
            c.copies.in_flight,
            c.copies.failed,
            c.copies.expired,
            c.copies.rejected,
            c.copies.pending,
            rpo
        );
    }
    println!();
    println!("copies: {} succeeded, {} in flight, {} pending, {} failed, {} expired, {} rejected ({} restore points created)", r.copies.succeeded, r.copies.in_flight, r.copies.pending, r.copies.failed, r.copies.expired, r.copies.rejected, r.restore_points_created);
    let alerts: Vec<String> = r
        .alerts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "alerts: {}",
        if alerts.is_empty() {
            "none".to_string()
        } else {
            alerts.join(", ")
        }
    );
    println!(
        "injected on ferry's side: {} handler crashes, {} ledger write conflicts",
        r.injected_crashes, r.injected_conflicts
    );
    println!("ARM: {}", r.arm);
    println!("host: {}", r.host);
    println!();
    println!("invariants: rule_violations {}, duplicate_copies {}, duplicate_alerts {}, lost_requests {}, stuck_chains {} → {}", r.rule_violations, r.duplicate_copies, r.duplicate_alerts, r.lost_requests, r.stuck_chains, if r.invariants_held { "all held" } else { "BROKEN" });
    for b in &r.broken_invariants {
        println!("  broken: {b}");
    }
}

/// `ferry demo` from the command line.
pub async fn run_cli(args: DemoArgs) -> ExitCode {
    let show =
        !args.json && !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    match run(&args, show).await {
        Ok(r) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                print_human(&r);
            }
            if r.invariants_held {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ferry demo: {e}");
            ExitCode::from(2)
        }
    }
}
