//! `ferry demo`: the whole pipeline, for real, on this machine. The ARM emulator, the
//! handler (`serve`'s server) and the Functions host stand-in run in one process and talk
//! over loopback HTTP exactly as they would in Azure; a simulated clock runs weeks of daily
//! restore points through them in seconds. The scenario includes what the platform throws
//! at a DR tool (see [`Scenario`]); the report says what happened, and the exit code says
//! whether every invariant held.

mod args;
mod dashboard;
mod drills;
mod report;
mod rpo;
mod scenario;
mod webhook;

pub use args::{DemoArgs, HandlerMode};
pub use drills::{ChainDrills, DrillsReport};
pub use report::{ChainReport, CopyCounts, DemoReport, StuckCopy};
pub use rpo::RpoSummary;
pub use webhook::WebhookReport;

use crate::auth::DevToken;
use crate::bus::{BusAuth, BusError, MessageSender, OutgoingMessage, ServiceBusRest};
use crate::clock::{Clock, ManualClock};
use crate::config::{Config, Mode};
use crate::ledger::Ledger;
use crate::sim::emulator::{CopyOutcome, Emulator, EmulatorConfig, FaultConfig, LimitConfig};
use crate::sim::host::{EventDelivery, HandlerTarget, Host, HostConfig};
use report::{build_report, print_human};
use rpo::RpoSampler;
use scenario::{
    collection_id, collection_name, policy_json, rg_path, role, rp_id, setup_world, Operator, Role,
    Scenario,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
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
    let catch_up = match args.catch_up.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(c) if ["all", "latest", "auto"].contains(&c.as_str()) => Some(c),
        Some(c) => {
            return Err(DemoError::Args(format!(
                "--catch-up {c:?}: use all, latest or auto"
            )))
        }
    };
    let interval = crate::policy::parse_duration(&args.rp_interval)
        .map_err(|e| DemoError::Args(format!("--rp-interval: {e}")))?;
    // Whole seconds keep slot arithmetic exact. The platform makes a VM's restore points at
    // most hourly (crash-consistent), which the emulator enforces.
    if interval < scenario::MIN_RP_INTERVAL || interval.subsec_nanoseconds() != 0 {
        return Err(DemoError::Args(format!(
            "--rp-interval {}: must be at least PT1H (the platform's minimum between a VM's restore points) and whole seconds",
            args.rp_interval
        )));
    }
    let retention = scenario::retention_json(args.retention.as_deref())?;
    if !(args.bandwidth_mbps.is_finite() && args.bandwidth_mbps > 0.0) {
        return Err(DemoError::Args(format!(
            "--bandwidth-mbps {}: must be a positive number",
            args.bandwidth_mbps
        )));
    }
    let sc = Scenario {
        vms: args.vms,
        days: args.days,
        interval,
    };
    let clock = ManualClock::new(START);
    let shared: crate::clock::SharedClock = Arc::new(clock.clone());

    // ARM emulator.
    let mut ecfg = EmulatorConfig::new(shared.clone());
    ecfg.seed = args.seed;
    ecfg.bandwidth_mbps = args.bandwidth_mbps;
    // ARM's buckets refill per second of the emulator's clock, but the simulated clock jumps a
    // whole tick at a time and stands still while the tick's work runs. A bucket that holds
    // only the 250-request burst would give each 10-minute tick 250 reads, not the 15,250
    // (250 + 25/s × 600 s) real ARM grants over those ten minutes; so the buckets hold one
    // tick's budget. (tests/sweep.rs covers a budget too small for a sweep.)
    let tick_s = TICK.whole_seconds() as u32;
    ecfg.limits = LimitConfig {
        reads: Some((250 + 25 * tick_s, 25.0)),
        writes: Some((200 + 10 * tick_s, 10.0)),
        ..LimitConfig::default()
    };
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
        (
            "FERRY_POLICY",
            policy_json(
                catch_up.as_deref(),
                retention.as_ref(),
                args.prune_source,
                args.protect_base,
                !args.no_drills,
            ),
        ),
        ("FERRY_CREDENTIAL", format!("dev-token:{TOKEN}")),
        // Real ARM limits are per real second; the emulator enforces them on its simulated
        // clock, so client-side pacing would only slow the demo down.
        ("FERRY_ARM_READ_RATE", "off".to_string()),
        ("FERRY_ARM_WRITE_RATE", "off".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(l) = args
        .ledger
        .clone()
        .or_else(|| std::env::var("FERRY_LEDGER").ok())
    {
        env.insert("FERRY_LEDGER".into(), l);
    }
    // The alert webhook: a local endpoint standing in for an action group / Logic App.
    let (hook_capture, hook_url) = webhook::Capture::start()
        .await
        .map_err(|e| DemoError::Setup(format!("alert webhook endpoint: {e}")))?;
    env.insert(crate::alert_webhook::SETTING.into(), hook_url);
    if let Some(c) = args
        .app_insights
        .clone()
        .or_else(|| std::env::var(crate::telemetry::connection::SETTING).ok())
    {
        env.insert(crate::telemetry::connection::SETTING.into(), c);
    }
    let config = Config::from_env(&env, Mode::Demo).map_err(|e| DemoError::Setup(e.to_string()))?;
    let tokens: Arc<dyn crate::auth::TokenProvider> = Arc::new(DevToken::new(TOKEN));
    let ledger = crate::bootstrap::ledger(&config, &tokens)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    // ferry's own trouble: crashes mid-invocation and lost ledger races (in-process), or
    // SIGKILL of the handler process at random moments (`--handler process`).
    let (crash_rate, conflict_rate) = match (args.handler, args.faults.as_str()) {
        (HandlerMode::Process, _) => (0.0, 0.0),
        (_, "heavy") => (0.02, 0.05),
        (_, "default") => (0.002, 0.01),
        _ => (0.0, 0.0),
    };
    let chaos = Arc::new(crate::sim::chaos::Chaos::new(
        args.seed,
        crash_rate,
        conflict_rate,
    ));
    let report_ledger = ledger.clone();

    // The handler: `serve`'s server in this process, or `ferry serve` as a child process
    // that the host stand-in starts (and the soak kills).
    let mut in_process = None;
    let late = Arc::new(LateSender::default());
    // The in-process handler's metrics, flushed after every tick (simulated ticks come
    // faster than any export interval).
    let mut telemetry = crate::telemetry::Telemetry::off();
    let target = match args.handler {
        HandlerMode::InProcess => {
            let ledger: Arc<dyn Ledger> = Arc::new(crate::sim::chaos::ConflictingLedger::new(
                ledger,
                chaos.clone(),
            ));
            let mut app = crate::bootstrap::app(&config, tokens.clone(), ledger)
                .map_err(|e| DemoError::Setup(e.to_string()))?;
            app.bus = app.bus.with_sender(late.clone());
            // One copy polled at a time: the emulator draws its random outcomes in request
            // order, so a fixed order makes a run reproducible.
            app.poll_concurrency = 1;
            app.fail_points = Some(chaos.clone());
            telemetry = app.telemetry.clone();
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
            in_process = Some((stop_tx, handler_task));
            HandlerTarget::Url(
                url::Url::parse(&format!("http://{handler_addr}/"))
                    .map_err(|e| DemoError::Setup(e.to_string()))?,
            )
        }
        HandlerMode::Process => {
            if matches!(config.ledger, crate::config::LedgerSetting::Memory) {
                return Err(DemoError::Args(
                    "--handler process needs a durable ledger that outlives a killed process: set FERRY_LEDGER (e.g. UseDevelopmentStorage=true with Azurite running)".into(),
                ));
            }
            let exe = match &args.handler_exe {
                Some(p) => p.clone(),
                None => std::env::current_exe().map_err(|e| {
                    DemoError::Setup(format!("cannot find ferry's own binary: {e}"))
                })?,
            };
            let mut child = env.clone();
            // The host stand-in gives the child its own Service Bus namespace.
            child.remove("FERRY_SERVICEBUS_ENDPOINT");
            // Retry-After is in simulated seconds: never wait it out in real time.
            child.insert("FERRY_ARM_MAX_RETRY_WAIT".into(), "PT0S".into());
            child.insert("FERRY_POLL_CONCURRENCY".into(), "1".into());
            child.insert("FERRY_LOG_FORMAT".into(), "text".into());
            child
                .entry("RUST_LOG".into())
                .or_insert_with(|| "warn".into());
            HandlerTarget::Process {
                exe,
                args: vec!["serve".into()],
                env: child,
            }
        }
    };

    // The Functions host stand-in, reading the project's own host.json and function.json.
    let settings: BTreeMap<String, String> = [
        ("FERRY_COPY_QUEUE", config.copy_queue.clone()),
        ("FERRY_EVENTS_QUEUE", config.events_queue.clone()),
        ("FERRY_ALERTS_TOPIC", config.alerts_topic.clone()),
        // Compressed: every tick (deployed: weekly); the policy's `drill.every` is a day.
        ("FERRY_DRILL_SCHEDULE", drills::DRILL_SCHEDULE.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut hcfg = HostConfig::new(app_root(), target, shared.clone());
    hcfg.settings = settings;
    hcfg.sequential = true;
    // As infra/modules/servicebus.bicep sets the alerts topic's (the copy queue's is longer).
    hcfg.duplicate_detection_window = Duration::hours(1);
    let host = Host::start(hcfg)
        .await
        .map_err(|e| DemoError::Setup(format!("host stand-in: {e}")))?;
    host.declare_topic(&config.alerts_topic)
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

    // Every chain of the policy's source rule: each VM's collection into each target region.
    let mut sampler = RpoSampler::new((0..sc.vms).flat_map(|i| {
        TARGET_REGIONS
            .iter()
            .map(move |r| (collection_id(i), collection_name(i), r.to_string()))
    }));
    let mut created: Vec<(usize, String)> = Vec::new();
    let mut base_delete_refused: u64 = 0;
    let mut source_kept = scenario::SourceRetention::new(sc.vms);
    let mut held_back: Vec<(OffsetDateTime, Value)> = Vec::new();
    let vm00_rp = |day| {
        format!(
            "rpc-vm-00/restorePoints/{}",
            sc.rp_name(sc.first_slot_of_day(day))
        )
    };
    let (held_a_tick, held_two_days) = (vm00_rp(7), vm00_rp(9));
    let done = std::sync::atomic::AtomicBool::new(false);
    let ticks = async {
        let r: Result<(), DemoError> = async {
            for tick in begin_tick..total_ticks {
                let now = START + TICK * tick as i32;
                clock.set(now);
                let day = (tick / 144) as u32;
                let window_end = now + TICK;
                // Scheduled world actions within this tick.
                // No restore point in the run's last two hours: under heavy faults its event
                // or copy request may be rescheduled past the end (ARM unavailable), and the
                // report would call it lost when it is only late. (Daily restore points are
                // made before 16:00, so the default run is unaffected.)
                let last_rp_at = START + TICK * total_ticks as i32 - Duration::hours(2);
                for i in 0..sc.vms {
                    for k in sc
                        .slots_in(i, now, window_end)
                        .filter(|k| sc.rp_time(i, *k) < last_rp_at)
                    {
                        let name = sc.rp_name(k);
                        let planted = match role(i) {
                            Role::FailingCopy if k == sc.first_slot_of_day(3) => {
                                Some(CopyOutcome::Fail)
                            }
                            Role::NeverProgresses if k == sc.first_slot_of_day(2) => {
                                Some(CopyOutcome::NeverProgress)
                            }
                            _ => None,
                        };
                        if let Some(outcome) = planted {
                            emu.plan_copy_outcome(&rp_id(i, &name), outcome);
                        }
                        // The estate's own retention, as a real schedule has: it keeps each
                        // VM under the platform's 500 (never its first restore point).
                        // It stays on under --prune-source: ferry never prunes a VM whose
                        // copies cannot succeed (the confidential VM), which would otherwise
                        // reach the platform's 500 (a DELETE of what ferry pruned is a 204).
                        if let Some(oldest) = source_kept.make_room(i) {
                            op.call(reqwest::Method::DELETE, &rp_id(i, &oldest), None)
                                .await?;
                        }
                        op.put(&rp_id(i, &name), json!({"properties": {"consistencyMode": sc.consistency()}})).await?;
                        source_kept.made(i, k, &name);
                        created.push((i, name.clone()));
                    }
                    // Day 7: an ad-hoc restore point ten minutes after vm-00's (first) one of
                    // the day; the two events will arrive in reverse order.
                    let adhoc = sc.first_slot_of_day(7);
                    let adhoc_at = sc.rp_time(0, adhoc) + TICK;
                    if i == 0 && adhoc_at >= now && adhoc_at < window_end {
                        let extra = format!("{}-adhoc", sc.rp_name(adhoc));
                        // Of the other consistency than the schedule's: the platform's
                        // minimum interval holds between restore points of one kind.
                        op.put(&rp_id(i, &extra), json!({"properties": {"consistencyMode": sc.adhoc_consistency()}})).await?;
                        created.push((i, extra));
                    }
                }
                // Day 8, noon: someone deletes the base (first, full) restore point of vm-05.
                if sc.vms > 5 && now == START + Duration::days(8) + Duration::hours(12) {
                    let (status, body) = op
                        .call(reqwest::Method::DELETE, &rp_id(5, &sc.rp_name(0)), None)
                        .await?;
                    // Under --protect-base ferry has locked it: ARM refuses.
                    if status == 409 && body["error"]["code"] == "ScopeLocked" {
                        base_delete_refused += 1;
                    }
                }
                // Day 6: an operator copies a restore point by hand into northeurope, inside the
                // policy's scope: a copy, which must never be copied again.
                if now == START + Duration::days(6) + Duration::hours(6) {
                    let manual = format!(
                        "{}/restorePointCollections/rpc-vm-00-manual",
                        rg_path(SOURCE_RG)
                    );
                    op.put(&manual, json!({"location": "northeurope", "properties": {"source": {"id": collection_id(0)}}})).await?;
                    // Day 5's restore point; under --prune-source ferry has pruned it by
                    // now (short intervals), so vm-00's second newest instead (kept by
                    // keepLatest; the newest may not have settled yet).
                    let day5 = if args.prune_source {
                        created
                            .iter()
                            .rev()
                            .filter(|(i, _)| *i == 0)
                            .nth(1)
                            .map(|(_, n)| n.clone())
                            .unwrap_or_else(|| sc.rp_name(0))
                    } else {
                        sc.rp_name(sc.first_slot_of_day(5))
                    };
                    op.put(&format!("{manual}/restorePoints/{day5}"), json!({"properties": {"sourceRestorePoint": {"id": rp_id(0, &day5)}}})).await?;
                }
                // Day 12: a burst of reads from another tool drains the subscription's ARM read
                // bucket; ferry must back off and catch up, not storm.
                if now == START + Duration::days(12) + Duration::hours(1) {
                    // Until the bucket itself refuses (bounded: a tick's budget is ~15,250 reads).
                    op.drain_reads(&collection_id(0), 20_000).await;
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
                    let is = |subject: &str| e["subject"].as_str().is_some_and(|s| s.ends_with(subject));
                    if is(&held_a_tick) {
                        held_back.push((now + TICK, e));
                    } else if is(&held_two_days) {
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
                // Restore drills, on the timer's own schedule: each run advances running drills
                // one step and starts the due ones.
                if host
                    .timer_due(crate::functions::DRILL, now - TICK, now)
                    .map_err(|e| DemoError::Host(e.to_string()))?
                {
                    host.fire_timer(crate::functions::DRILL)
                        .await
                        .map_err(|e| DemoError::Host(e.to_string()))?;
                    host.run_until_idle()
                        .await
                        .map_err(|e| DemoError::Host(e.to_string()))?;
                }
                sampler.sample(&emu, now);
                if let Err(e) = telemetry.flush().await {
                    tracing::warn!("demo: telemetry flush: {e}");
                }
                if let Some(b) = &bar {
                    b.set_position(tick as u64 + 1);
                    b.set_message(format!("{}/{}", day + 1, sc.days));
                }
            }
            Ok(())
        }
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let (ticks, kills) = tokio::join!(ticks, kill_handler(&host, args, &done));
    ticks?;
    kills?;
    let scenario_end = clock.now();
    drills::wind_down(&host, &clock, &emu, scenario_end).await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    // The status function, through the host, as an operator's dashboard would call it:
    // page by page, following `next`.
    let mut chains_seen = Vec::new();
    let mut path = "/api/status/chains?top=250".to_string();
    loop {
        let (status, body) = host
            .call_http(crate::functions::STATUS, "GET", &path, &[], None)
            .await
            .map_err(|e| DemoError::Host(e.to_string()))?;
        if status != 200 {
            return Err(DemoError::Host(format!(
                "status function answered {status}: {body}"
            )));
        }
        chains_seen.extend(body["chains"].as_array().cloned().unwrap_or_default());
        match body["next"].as_str() {
            Some(after) => path = format!("/api/status/chains?top=250&after={after}"),
            None => break,
        }
    }
    let status_body = serde_json::json!({ "chains": chains_seen });

    let drills_report = drills::build(report_ledger.as_ref(), &emu, scenario_end).await?;
    let mut report = build_report(
        args,
        &sc,
        &emu,
        &host,
        &chaos,
        (config.copy_queue.clone(), config.events_queue.clone()),
        &config.alerts_topic,
        report_ledger.as_ref(),
        &created,
        &sampler,
        &status_body,
        scenario_end,
        wall,
    )
    .await?;
    let topic: Vec<Value> = host
        .peek(&config.alerts_topic)
        .iter()
        .filter_map(|m| serde_json::from_str(&m.body).ok())
        .collect();
    let open_rpo = open_rpo_alerts(report_ledger.as_ref()).await?;
    let hook = webhook::report(&hook_capture, &topic, &open_rpo);
    report
        .broken_invariants
        .extend(hook.broken(report.handler_kills > 0));
    report.webhook = Some(hook);
    report.base_locks = emu.locks_present();
    report.base_delete_refused = base_delete_refused;
    if args.protect_base && sc.vms > 5 && sc.days > 9 && base_delete_refused == 0 {
        report
            .broken_invariants
            .push("--protect-base: the scenario's deletion of a base was not refused".into());
    }
    report
        .broken_invariants
        .extend(drills::broken(&drills_report));
    report.invariants_held = report.broken_invariants.is_empty();
    report.drills = drills_report;
    if let Some(addr) = args.dashboard {
        if args.plant_hostile_chain {
            dashboard::plant_hostile_chain(&report_ledger, SUBSCRIPTION, clock.now()).await?;
        }
        dashboard::serve(&host, addr, |local| {
            print_report(args, &report);
            eprintln!("ferry demo: dashboard at http://{local}/ (Ctrl-C to stop)");
        })
        .await?;
    }
    host.shutdown().await;
    if let Some((stop_tx, handler_task)) = in_process {
        let _ = stop_tx.send(());
        let _ = handler_task.await;
    }
    Ok(report)
}

/// The RPO breach alerts the ledger still holds open at the end (a chain's `rpo_alerted`).
async fn open_rpo_alerts(
    ledger: &dyn Ledger,
) -> Result<std::collections::BTreeSet<String>, DemoError> {
    let q = crate::ledger::Query {
        row_key_from: Some(crate::ledger::records::CHAIN_ROW.into()),
        row_key_to: Some(format!("{}\u{0}", crate::ledger::records::CHAIN_ROW)),
        ..Default::default()
    };
    let rows = crate::ledger::query_all(ledger, &q)
        .await
        .map_err(|e| DemoError::Setup(format!("reading the ledger: {e}")))?;
    Ok(rows
        .iter()
        .filter_map(|e| crate::ledger::records::Chain::from_entity(e).ok())
        .filter_map(|c| {
            let since = c.rpo_alerted.as_deref()?;
            Some(crate::alerts::Alert::id_for(
                crate::alerts::AlertKind::RpoBreached,
                &crate::machine::resolve::rpo_subject(&c.key, since),
            ))
        })
        .collect())
}

/// Under `--handler process` and faults, kills the handler process (SIGKILL) at random
/// moments, seeded, until `done`; the host stand-in starts it again as the real host
/// restarts a dead worker. Whatever invocation was running dies with it.
async fn kill_handler(
    host: &Host,
    args: &DemoArgs,
    done: &std::sync::atomic::AtomicBool,
) -> Result<(), DemoError> {
    use rand::{Rng, SeedableRng};
    let mean = match (args.handler, args.faults.as_str()) {
        (HandlerMode::Process, "heavy") => std::time::Duration::from_millis(700),
        (HandlerMode::Process, "default") => std::time::Duration::from_secs(5),
        _ => return Ok(()),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ 0x6b11_0ff5);
    loop {
        let deadline = std::time::Instant::now() + mean.mul_f64(rng.random_range(0.0..2.0));
        while std::time::Instant::now() < deadline {
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if done.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        host.restart_handler()
            .await
            .map_err(|e| DemoError::Host(format!("restarting the killed handler: {e}")))?;
    }
}

fn print_report(args: &DemoArgs, r: &DemoReport) {
    if args.json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    } else {
        print_human(r);
    }
}

/// `ferry demo` from the command line.
pub async fn run_cli(args: DemoArgs) -> ExitCode {
    let show =
        !args.json && !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    match run(&args, show).await {
        Ok(r) => {
            // With --dashboard the report was printed before the dashboard was served.
            if args.dashboard.is_none() {
                print_report(&args, &r);
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
