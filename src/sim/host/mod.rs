//! A local stand-in for the Azure Functions host, used by `ferry demo` and the integration
//! tests. It reads the app's own `host.json` and `functions/*/function.json`, starts (or
//! connects to) the custom handler, runs a local Service Bus namespace, and drives the
//! handler exactly as the real host does: same invocation payloads (see [`encode`]), same
//! success rule (2xx + `application/json`), peek-lock delivery with abandon/redelivery and
//! dead-lettering, session FIFO with one consumer per session, Event Grid batch redelivery,
//! timers that are not retried, and non-forwarded HTTP requests.

pub mod config;
pub mod cron;
pub mod encode;
pub mod invoke;
pub mod servicebus;
pub mod wire;

pub use config::{FunctionDef, HostJson, OutputBinding, OutputKind, Trigger, TriggerKind};
pub use invoke::InvocationOutcome;
pub use servicebus::{BrokerMessage, DeadLetter};

use base64::Engine;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use url::Url;

use crate::clock::SharedClock;
use encode::{DeliveredMessage, SysData};
use invoke::{HandlerProc, SpawnSpec};
use servicebus::{Broker, IncomingMessage};

/// Passes of `run_until_idle` before concluding the app never goes idle.
const MAX_PASSES: usize = 10_000;
/// Readiness probe limit (host code: 30 s).
const PROBE_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum HostError {
    /// host.json / function.json / settings problem.
    #[error("configuration: {0}")]
    Config(String),
    /// The handler could not be started or did not become ready.
    #[error("handler: {0}")]
    Handler(String),
    #[error("no function `{0}` with a matching trigger")]
    UnknownFunction(String),
    /// Something could not be delivered into the local namespace.
    #[error("delivery: {0}")]
    Delivery(String),
    #[error("not idle: {0}")]
    NotIdle(String),
}

/// Where the handler is.
#[derive(Debug, Clone)]
pub enum HandlerTarget {
    /// Already running (e.g. in-process); only probed.
    Url(Url),
    /// Spawned with `FUNCTIONS_CUSTOMHANDLER_PORT`; an empty `exe` means host.json's
    /// `defaultExecutablePath` + `arguments`.
    Process {
        exe: PathBuf,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

#[derive(Clone)]
pub struct HostConfig {
    /// Directory holding host.json and functions/.
    pub app_root: PathBuf,
    pub handler: HandlerTarget,
    /// App settings: `%NAME%` expressions, and env of a spawned handler.
    pub settings: BTreeMap<String, String>,
    pub clock: SharedClock,
    /// Queue setting: deliveries before dead-lettering (Azure default 10).
    pub max_delivery_count: u32,
    /// Queue setting: duplicate detection history (Azure default 10 minutes).
    pub duplicate_detection_window: time::Duration,
    /// Queue setting: peek-lock duration (Azure default 1 minute). The host renews the lock
    /// up to `maxAutoLockRenewalDuration`; an invocation running past both loses the lock
    /// and the message is delivered again even if the function succeeded.
    pub lock_duration: time::Duration,
    /// Event Grid: delivery attempts per batch before dead-lettering (Azure default 30).
    pub event_grid_max_attempts: u32,
    /// Deliver one message at a time (one session, one queue after another) instead of up to
    /// `maxConcurrentSessions` at once: the real host is concurrent, but a reproducible run
    /// (same seed → same outcome) needs a fixed order.
    pub sequential: bool,
}

impl HostConfig {
    /// Azure's defaults for everything but the app, handler and clock.
    pub fn new(app_root: impl Into<PathBuf>, handler: HandlerTarget, clock: SharedClock) -> Self {
        HostConfig {
            app_root: app_root.into(),
            handler,
            settings: BTreeMap::new(),
            clock,
            max_delivery_count: 10,
            duplicate_detection_window: time::Duration::minutes(10),
            lock_duration: time::Duration::minutes(1),
            event_grid_max_attempts: 30,
            sequential: false,
        }
    }
}

/// How `publish_events` delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDelivery {
    /// Push to every function with an `eventGridTrigger`.
    EventGridTrigger,
    /// An Event Grid subscription with a Service Bus queue endpoint.
    Queue(String),
}

/// What one `run_until_idle` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub invocations: u64,
    pub completed: u64,
    pub abandoned: u64,
    pub dead_lettered: u64,
    pub event_grid_batches: u64,
}

impl DeliveryReport {
    fn add(&mut self, o: &DeliveryReport) {
        self.invocations += o.invocations;
        self.completed += o.completed;
        self.abandoned += o.abandoned;
        self.dead_lettered += o.dead_lettered;
        self.event_grid_batches += o.event_grid_batches;
    }
}

/// Totals since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    pub invocations: u64,
    pub failures: u64,
    /// Service Bus messages and Event Grid batches delivered again after a failure.
    pub redeliveries: u64,
    pub dead_lettered: u64,
    pub duplicates_dropped: u64,
    /// Messages accepted by the local namespace (REST, output bindings, Event Grid).
    pub messages_sent: u64,
    pub messages_expired: u64,
    /// Output binding values collected.
    pub outputs: u64,
    pub handler_restarts: u64,
}

/// One `Logs` line from a handler response.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLog {
    pub function: String,
    pub invocation_id: String,
    pub line: String,
}

#[derive(Debug, Clone, Default)]
struct TimerState {
    last: Option<OffsetDateTime>,
    expected_next: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
struct PendingBatch {
    function: String,
    events: Vec<Value>,
    attempts: u32,
    due: OffsetDateTime,
}

pub struct Host {
    config: HostConfig,
    host_json: HostJson,
    functions: Vec<FunctionDef>,
    broker: Arc<Broker>,
    sb_endpoint: Url,
    client: reqwest::Client,
    handler: tokio::sync::Mutex<HandlerProc>,
    handler_base: Mutex<Url>,
    spawn_spec: Option<SpawnSpec>,
    outputs: Mutex<BTreeMap<String, Vec<Value>>>,
    logs: Mutex<Vec<HostLog>>,
    warnings: Mutex<Vec<String>>,
    stats: Mutex<HostStats>,
    timers: Mutex<HashMap<String, TimerState>>,
    eg_pending: Mutex<Vec<PendingBatch>>,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Event Grid's retry schedule: 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, then 3 h.
fn event_grid_delay(failed_attempts: u32) -> time::Duration {
    match failed_attempts {
        0 | 1 => time::Duration::seconds(10),
        2 => time::Duration::seconds(30),
        3 => time::Duration::minutes(1),
        4 => time::Duration::minutes(5),
        5 => time::Duration::minutes(10),
        6 => time::Duration::minutes(30),
        7 => time::Duration::hours(1),
        _ => time::Duration::hours(3),
    }
}

/// The host decodes a string output that is valid base64 into bytes (unless
/// `dataType: binary`), which silently corrupts text that happens to be base64.
fn looks_like_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

impl Host {
    pub async fn start(config: HostConfig) -> Result<Host, HostError> {
        let host_json = config::read_host_json(&config.app_root, &config.settings)?;
        let functions = config::read_functions(&config.app_root, &config.settings)?;
        let broker = Arc::new(Broker::new(
            config.clock.clone(),
            config.duplicate_detection_window,
        ));
        for f in &functions {
            if let TriggerKind::ServiceBus { queue, sessions } = &f.trigger.kind {
                broker
                    .declare(queue, false, *sessions)
                    .map_err(|m| HostError::Config(format!("function `{}`: {m}", f.name)))?;
            }
        }
        for f in &functions {
            for o in &f.outputs {
                if let OutputKind::ServiceBus { entity, is_topic } = &o.kind {
                    broker
                        .declare(entity, *is_topic, false)
                        .map_err(|m| HostError::Config(format!("function `{}`: {m}", f.name)))?;
                }
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let addr = servicebus::serve(broker.clone(), rx).await.map_err(|e| {
            HostError::Config(format!("cannot start the local Service Bus endpoint: {e}"))
        })?;
        let sb_endpoint =
            Url::parse(&format!("http://{addr}/")).map_err(|e| HostError::Config(e.to_string()))?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| HostError::Handler(format!("HTTP client: {e}")))?;
        let (spawn_spec, mut proc_) = match &config.handler {
            HandlerTarget::Url(u) => (
                None,
                HandlerProc {
                    base: u.clone(),
                    child: None,
                },
            ),
            HandlerTarget::Process { exe, args, env } => {
                let working_dir = match &host_json.working_directory {
                    Some(w) => config.app_root.join(w),
                    None => config.app_root.clone(),
                };
                let (exe, args) = if exe.as_os_str().is_empty() {
                    let e = host_json.executable.clone().ok_or_else(|| {
                        HostError::Config(
                            "host.json has no customHandler.description.defaultExecutablePath"
                                .into(),
                        )
                    })?;
                    (
                        invoke::resolve_exe(&e, &working_dir, &config.app_root),
                        host_json.arguments.clone(),
                    )
                } else {
                    (exe.clone(), args.clone())
                };
                let mut env_all = config.settings.clone();
                env_all.extend(env.clone());
                // The handler must send copy requests to this namespace.
                env_all
                    .entry("FERRY_SERVICEBUS_ENDPOINT".into())
                    .or_insert_with(|| sb_endpoint.to_string());
                let spec = SpawnSpec {
                    exe,
                    args,
                    env: env_all,
                    working_dir,
                    app_root: config.app_root.clone(),
                };
                let p = invoke::spawn(&spec)?;
                (Some(spec), p)
            }
        };
        if let Err(e) = invoke::probe(&client, &mut proc_, PROBE_LIMIT).await {
            invoke::kill(&mut proc_).await;
            let _ = tx.send(());
            return Err(e);
        }
        let base = proc_.base.clone();
        let host = Host {
            config,
            host_json,
            functions,
            broker,
            sb_endpoint,
            client,
            handler: tokio::sync::Mutex::new(proc_),
            handler_base: Mutex::new(base),
            spawn_spec,
            outputs: Mutex::new(BTreeMap::new()),
            logs: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            stats: Mutex::new(HostStats::default()),
            timers: Mutex::new(HashMap::new()),
            eg_pending: Mutex::new(Vec::new()),
            shutdown: Mutex::new(Some(tx)),
        };
        let startup: Vec<String> = host
            .functions
            .iter()
            .filter(|f| {
                matches!(
                    f.trigger.kind,
                    TriggerKind::Timer {
                        run_on_startup: true,
                        ..
                    }
                )
            })
            .map(|f| f.name.clone())
            .collect();
        for name in startup {
            host.fire_timer(&name).await?;
        }
        Ok(host)
    }

    /// What `FERRY_SERVICEBUS_ENDPOINT` should point at.
    pub fn service_bus_endpoint(&self) -> Url {
        self.sb_endpoint.clone()
    }

    pub fn functions(&self) -> &[FunctionDef] {
        &self.functions
    }

    pub fn host_json(&self) -> &HostJson {
        &self.host_json
    }

    /// The handler's current base URL.
    pub fn handler_url(&self) -> Url {
        lock(&self.handler_base).clone()
    }

    fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    fn warn(&self, w: String) {
        tracing::warn!(target: "ferry::sim::host", "{w}");
        lock(&self.warnings).push(w);
    }

    /// Invokes a function and applies its outputs; failures are counted, not retried here.
    async fn invoke(&self, f: &FunctionDef, payload: &Value) -> InvocationOutcome {
        let base = self.handler_url();
        let mut o = invoke::post_invocation(
            &self.client,
            &base,
            &f.name,
            payload,
            self.host_json.function_timeout,
        )
        .await;
        lock(&self.stats).invocations += 1;
        if o.status.is_none() {
            // No answer at all: the worker may have died. Like the real host, bring it back
            // before dispatching anything else (its listeners pause while the worker
            // restarts), instead of burning every queued message's deliveries on a dead port.
            if let Err(e) = self.recover_handler().await {
                self.warn(format!("the handler could not be restarted: {e}"));
            }
        }
        if o.succeeded {
            {
                let mut logs = lock(&self.logs);
                for line in &o.logs {
                    tracing::info!(target: "ferry::sim::host::function", function = %f.name, invocation = %o.invocation_id, "{line}");
                    logs.push(HostLog {
                        function: f.name.clone(),
                        invocation_id: o.invocation_id.clone(),
                        line: line.clone(),
                    });
                }
            }
            if let Err(e) = self.apply_outputs(f, &o.outputs) {
                o.succeeded = false;
                o.error = Some(e);
            }
        }
        if !o.succeeded {
            lock(&self.stats).failures += 1;
            tracing::warn!(target: "ferry::sim::host", function = %f.name, invocation = %o.invocation_id,
                error = o.error.as_deref().unwrap_or(""), "invocation failed");
        }
        o
    }

    /// Sends Service Bus outputs and collects every output value, like the host's binders.
    fn apply_outputs(&self, f: &FunctionDef, outputs: &Map<String, Value>) -> Result<(), String> {
        for name in outputs.keys() {
            if !f.outputs.iter().any(|o| &o.name == name) {
                self.warn(format!(
                    "handler bug: function `{}` returned output `{name}`, which its function.json does not declare (the host drops it)",
                    f.name
                ));
            }
        }
        // Check everything first: a failing binding fails the invocation and nothing is sent.
        let mut sends: Vec<(String, Vec<IncomingMessage>)> = Vec::new();
        let mut collected: Vec<(String, Value)> = Vec::new();
        for ob in &f.outputs {
            let Some(v) = outputs.get(&ob.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let items: Vec<&Value> = match (&ob.kind, v) {
                (OutputKind::Http, _) => vec![v],
                (_, Value::Array(a)) => a.iter().collect(),
                _ => vec![v],
            };
            let binary = ob.data_type.as_deref() == Some("binary");
            let mut msgs = Vec::new();
            for item in items {
                if let (Value::String(s), false, false) =
                    (item, binary, matches!(ob.kind, OutputKind::Http))
                {
                    if looks_like_base64(s) {
                        self.warn(format!(
                            "handler bug: function `{}` output `{}` value {s:?} is valid base64; the real host would send the decoded bytes",
                            f.name, ob.name
                        ));
                    }
                }
                let decoded = match item {
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| item.clone()),
                    other => other.clone(),
                };
                collected.push((ob.name.clone(), decoded));
                if let OutputKind::ServiceBus { .. } = ob.kind {
                    let body = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    msgs.push(IncomingMessage {
                        body,
                        content_type: Some("application/json".into()),
                        ..Default::default()
                    });
                }
            }
            if let OutputKind::ServiceBus { entity, .. } = &ob.kind {
                if self.broker.is_session_entity(entity) {
                    return Err(format!(
                        "output binding `{}` cannot send to session-enabled entity `{entity}` (no SessionId)",
                        ob.name
                    ));
                }
                sends.push((entity.clone(), msgs));
            }
        }
        for (entity, msgs) in sends {
            if msgs.is_empty() {
                continue;
            }
            self.broker.send(&entity, msgs).map_err(|r| {
                format!("output to `{entity}` refused ({}): {}", r.status, r.detail)
            })?;
        }
        let mut out = lock(&self.outputs);
        let n = collected.len() as u64;
        for (k, v) in collected {
            out.entry(k).or_default().push(v);
        }
        lock(&self.stats).outputs += n;
        Ok(())
    }

    fn delivered(&self, m: &BrokerMessage) -> DeliveredMessage {
        DeliveredMessage {
            message_id: m.message_id.clone(),
            session_id: m.session_id.clone(),
            sequence_number: m.sequence_number,
            enqueued_time: m.enqueued_time,
            // A message without TTL never expires: .NET shows DateTime.MaxValue.
            expires_at: m
                .expires_at
                .unwrap_or(time::macros::datetime!(9999-12-31 23:59:59 UTC)),
            delivery_count: m.delivery_count,
            content_type: m.content_type.clone(),
            lock_token: m.lock_token.clone(),
            correlation_id: m.correlation_id.clone(),
            subject: m.label.clone(),
            application_properties: m.properties.clone(),
            namespace: self
                .sb_endpoint
                .host_str()
                .unwrap_or("127.0.0.1")
                .to_string(),
        }
    }

    async fn deliver_message(
        &self,
        f: &FunctionDef,
        queue: &str,
        m: BrokerMessage,
    ) -> DeliveryReport {
        let mut r = DeliveryReport {
            invocations: 1,
            ..Default::default()
        };
        if m.delivery_count > 1 {
            lock(&self.stats).redeliveries += 1;
        }
        let sys = SysData::new(&f.name, self.config.clock.now());
        let payload =
            encode::encode_service_bus(&f.trigger.binding, &m.body, &self.delivered(&m), &sys);
        let started = std::time::Instant::now();
        let o = self.invoke(f, &payload).await;
        let renew_limit = self
            .host_json
            .max_auto_lock_renewal
            .max(Duration::try_from(self.config.lock_duration).unwrap_or_default());
        let lock_lost = started.elapsed() > renew_limit;
        if o.succeeded && !lock_lost {
            self.broker.complete(queue, &m.lock_token);
            r.completed = 1;
        } else {
            let why = if lock_lost {
                "message lock lost: the invocation outlived maxAutoLockRenewalDuration".to_string()
            } else {
                o.error.clone().unwrap_or_default()
            };
            if self
                .broker
                .abandon(queue, &m.lock_token, self.config.max_delivery_count, &why)
            {
                r.dead_lettered = 1;
                tracing::warn!(target: "ferry::sim::host", queue, message_id = %m.message_id, "dead-lettered after {} deliveries", m.delivery_count);
            } else {
                r.abandoned = 1;
            }
        }
        r
    }

    async fn drain_queue(&self, f: &FunctionDef) -> DeliveryReport {
        let mut total = DeliveryReport::default();
        let TriggerKind::ServiceBus { queue, sessions } = &f.trigger.kind else {
            return total;
        };
        if !*sessions {
            while let Some(m) = self.broker.lock_next(queue) {
                total.add(&self.deliver_message(f, queue, m).await);
            }
            return total;
        }
        let workers = if self.config.sequential {
            1
        } else {
            self.host_json.max_concurrent_sessions.max(1)
        };
        let results = futures::future::join_all((0..workers).map(|_| async {
            let mut r = DeliveryReport::default();
            while let Some(sid) = self.broker.accept_session(queue) {
                while let Some(m) = self.broker.lock_next_in_session(queue, &sid) {
                    r.add(&self.deliver_message(f, queue, m).await);
                }
                self.broker.release_session(queue, &sid);
            }
            r
        }))
        .await;
        for r in results {
            total.add(&r);
        }
        total
    }

    /// Delivers every due message and due Event Grid retry until nothing is due.
    pub async fn run_until_idle(&self) -> Result<DeliveryReport, HostError> {
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_PASSES {
            let mut pass = self.redeliver_event_grid().await;
            let sb: Vec<&FunctionDef> = self
                .functions
                .iter()
                .filter(|f| matches!(f.trigger.kind, TriggerKind::ServiceBus { .. }))
                .collect();
            if self.config.sequential {
                for f in sb {
                    pass.add(&self.drain_queue(f).await);
                }
            } else {
                for r in
                    futures::future::join_all(sb.into_iter().map(|f| self.drain_queue(f))).await
                {
                    pass.add(&r);
                }
            }
            let did = pass.invocations;
            report.add(&pass);
            if did == 0 {
                return Ok(report);
            }
        }
        Err(HostError::NotIdle(format!(
            "still delivering after {MAX_PASSES} passes ({} invocations): the functions keep producing work",
            report.invocations
        )))
    }

    async fn deliver_event_batch(&self, f: &FunctionDef, events: &[Value]) -> (bool, u64, String) {
        let mut ok = true;
        let mut last_error = String::new();
        for ev in events {
            let sys = SysData::new(&f.name, self.config.clock.now());
            let payload = encode::encode_event_grid(&f.trigger.binding, ev, &sys);
            let o = self.invoke(f, &payload).await;
            if !o.succeeded {
                ok = false;
                last_error = o.error.unwrap_or_default();
            }
        }
        (ok, events.len() as u64, last_error)
    }

    fn after_batch_failure(
        &self,
        function: &str,
        events: Vec<Value>,
        attempts: u32,
        error: &str,
    ) -> bool {
        let now = self.config.clock.now();
        if attempts >= self.config.event_grid_max_attempts {
            for ev in events {
                let msg = BrokerMessage::detached(
                    ev.get("id").and_then(Value::as_str).unwrap_or(""),
                    ev.to_string(),
                    now,
                    attempts,
                );
                self.broker.add_dead_letter(
                    &format!("eventgrid:{function}"),
                    DeadLetter {
                        message: msg,
                        reason: "MaxDeliveryAttemptsExceeded".into(),
                        description: error.to_string(),
                        at: now,
                    },
                );
            }
            return true;
        }
        lock(&self.eg_pending).push(PendingBatch {
            function: function.to_string(),
            events,
            attempts,
            due: now + event_grid_delay(attempts),
        });
        false
    }

    async fn redeliver_event_grid(&self) -> DeliveryReport {
        let mut r = DeliveryReport::default();
        let now = self.config.clock.now();
        let due: Vec<PendingBatch> = {
            let mut p = lock(&self.eg_pending);
            let (due, later): (Vec<_>, Vec<_>) = p.drain(..).partition(|b| b.due <= now);
            *p = later;
            due
        };
        for b in due {
            let Some(f) = self.function(&b.function).cloned() else {
                continue;
            };
            lock(&self.stats).redeliveries += 1;
            let (ok, n, err) = self.deliver_event_batch(&f, &b.events).await;
            r.invocations += n;
            r.event_grid_batches += 1;
            if ok {
                r.completed += n;
            } else if self.after_batch_failure(&b.function, b.events, b.attempts + 1, &err) {
                r.dead_lettered += n;
            } else {
                r.abandoned += n;
            }
        }
        r
    }

    /// Publishes resource events, either to `eventGridTrigger` functions (one invocation per
    /// event; a failed batch is redelivered whole later) or into a Service Bus queue.
    pub async fn publish_events(
        &self,
        events: Vec<Value>,
        via: EventDelivery,
    ) -> Result<(), HostError> {
        match via {
            EventDelivery::Queue(queue) => {
                if self.broker.is_session_entity(&queue) {
                    return Err(HostError::Delivery(format!(
                        "queue `{queue}` needs sessions; an Event Grid subscription here sets none"
                    )));
                }
                let msgs = events
                    .iter()
                    .map(|ev| IncomingMessage {
                        body: ev.to_string(),
                        content_type: Some("application/json".into()),
                        message_id: ev.get("id").and_then(Value::as_str).map(str::to_string),
                        ..Default::default()
                    })
                    .collect();
                self.broker.send(&queue, msgs).map_err(|r| {
                    HostError::Delivery(format!("queue `{queue}`: {} {}", r.status, r.detail))
                })?;
                Ok(())
            }
            EventDelivery::EventGridTrigger => {
                let targets: Vec<FunctionDef> = self
                    .functions
                    .iter()
                    .filter(|f| f.trigger.kind == TriggerKind::EventGrid)
                    .cloned()
                    .collect();
                if targets.is_empty() {
                    return Err(HostError::UnknownFunction("<any eventGridTrigger>".into()));
                }
                for f in targets {
                    let (ok, _, err) = self.deliver_event_batch(&f, &events).await;
                    if !ok {
                        self.after_batch_failure(&f.name, events.clone(), 1, &err);
                    }
                }
                Ok(())
            }
        }
    }

    /// Fires a timer function now (by the host clock). Failures are not retried.
    pub async fn fire_timer(&self, function: &str) -> Result<InvocationOutcome, HostError> {
        let f = self
            .function(function)
            .filter(|f| matches!(f.trigger.kind, TriggerKind::Timer { .. }))
            .ok_or_else(|| HostError::UnknownFunction(function.to_string()))?
            .clone();
        let TriggerKind::Timer { schedule, .. } = &f.trigger.kind else {
            return Err(HostError::UnknownFunction(function.to_string()));
        };
        let now = self.config.clock.now();
        let next = schedule.next_after(now).ok_or_else(|| {
            HostError::Config(format!(
                "schedule `{}` of `{}` never fires",
                schedule.as_str(),
                f.name
            ))
        })?;
        let state = lock(&self.timers).get(&f.name).cloned().unwrap_or_default();
        let is_past_due = state.expected_next.is_some_and(|n| now > n);
        let sys = SysData::new(&f.name, now);
        let payload =
            encode::encode_timer(&f.trigger.binding, state.last, next, now, is_past_due, &sys);
        let o = self.invoke(&f, &payload).await;
        // The schedule monitor records the run whatever its outcome.
        lock(&self.timers).insert(
            f.name.clone(),
            TimerState {
                last: Some(now),
                expected_next: Some(next),
            },
        );
        Ok(o)
    }

    /// Calls an HTTP-triggered function (non-forwarded). Returns the `res` output's status and
    /// body; a failed invocation is a 500, like the host's.
    pub async fn call_http(
        &self,
        function: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<(u16, Value), HostError> {
        let f = self
            .function(function)
            .filter(|f| matches!(f.trigger.kind, TriggerKind::Http { .. }))
            .ok_or_else(|| HostError::UnknownFunction(function.to_string()))?
            .clone();
        let TriggerKind::Http { methods, route } = &f.trigger.kind else {
            return Err(HostError::UnknownFunction(function.to_string()));
        };
        let method = method.to_ascii_uppercase();
        let (path, query_text) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut path = path.trim_start_matches('/').to_string();
        let prefix = &self.host_json.route_prefix;
        if !prefix.is_empty() {
            if let Some(rest) = path.strip_prefix(&format!("{prefix}/")) {
                path = rest.to_string();
            }
        }
        let Some(params) = match_route(route, &path) else {
            return Ok((404, Value::Null));
        };
        if !methods.is_empty() && !methods.contains(&method) {
            return Ok((404, Value::Null));
        }
        let mut query = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(query_text.as_bytes()) {
            query
                .entry(k.to_string())
                .and_modify(|x: &mut String| {
                    x.push(',');
                    x.push_str(&v)
                })
                .or_insert_with(|| v.to_string());
        }
        let mut hmap: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            hmap.entry(k.to_string()).or_default().push(v.to_string());
        }
        hmap.entry("Host".into())
            .or_insert_with(|| vec!["localhost:7071".into()]);
        let prefix_part = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        let q = if query_text.is_empty() {
            String::new()
        } else {
            format!("?{query_text}")
        };
        let url = format!("http://localhost:7071{prefix_part}/{path}{q}");
        let sys = SysData::new(&f.name, self.config.clock.now());
        let payload = encode::encode_http(
            &f.trigger.binding,
            &method,
            &url,
            &query,
            &hmap,
            &params,
            body,
            &sys,
        );
        let o = self.invoke(&f, &payload).await;
        if !o.succeeded {
            return Ok((500, Value::Null));
        }
        let http_out = f
            .outputs
            .iter()
            .find(|ob| ob.kind == OutputKind::Http)
            .and_then(|ob| o.outputs.get(&ob.name))
            .cloned();
        let Some(res) = http_out else {
            return Ok((204, Value::Null));
        };
        let Value::Object(res) = res else {
            self.warn(format!(
                "handler bug: `{}` http output is not an object",
                f.name
            ));
            return Ok((500, Value::Null));
        };
        let status = match res.get("statusCode").or_else(|| res.get("status")) {
            None | Some(Value::Null) => 200,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(500),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(500),
            Some(_) => 500,
        };
        let body = match res.get("body") {
            None => Value::Null,
            Some(Value::String(s)) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
            }
            Some(other) => other.clone(),
        };
        Ok((status, body))
    }

    /// Collected output values of a binding since the last call (arrays flattened).
    pub fn take_outputs(&self, binding: &str) -> Vec<Value> {
        lock(&self.outputs).remove(binding).unwrap_or_default()
    }

    /// Dead letters of a queue; Event Grid ones under `eventgrid:<function>`.
    pub fn dead_letters(&self, queue: &str) -> Vec<DeadLetter> {
        self.broker.dead_letters(queue)
    }

    /// Every (message id, time) the handler got accepted by `entity`, before duplicate
    /// detection dropped any.
    pub fn sent(&self, entity: &str) -> Vec<(String, OffsetDateTime)> {
        self.broker.sent(entity)
    }

    /// The duplicate detection window of the stand-in's Service Bus.
    pub fn duplicate_detection_window(&self) -> time::Duration {
        self.config.duplicate_detection_window
    }

    /// Messages an entity holds now (a topic keeps everything sent to it).
    pub fn peek(&self, entity: &str) -> Vec<BrokerMessage> {
        self.broker.peek(entity)
    }

    pub fn logs(&self) -> Vec<HostLog> {
        lock(&self.logs).clone()
    }

    /// Handler bugs the real host would hide (base64 outputs, undeclared outputs, …).
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    pub fn stats(&self) -> HostStats {
        let mut s = lock(&self.stats).clone();
        let c = self.broker.counters();
        s.dead_lettered = c.dead_lettered;
        s.duplicates_dropped = c.duplicates_dropped;
        s.messages_sent = c.accepted;
        s.messages_expired = c.expired;
        s
    }

    /// Waits for a restart in progress, and restarts a spawned handler that has exited.
    async fn recover_handler(&self) -> Result<(), HostError> {
        let Some(spec) = &self.spawn_spec else {
            return Ok(());
        };
        let mut h = self.handler.lock().await;
        let exited = match h.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Err(e)) => Some(e.to_string()),
            None => Some("no process".into()),
            Some(Ok(None)) => None,
        };
        let Some(why) = exited else {
            return Ok(());
        };
        tracing::warn!(target: "ferry::sim::host", "handler process exited ({why}); restarting it");
        invoke::kill(&mut h).await;
        *h = invoke::spawn(spec)?;
        invoke::probe(&self.client, &mut h, PROBE_LIMIT).await?;
        *lock(&self.handler_base) = h.base.clone();
        lock(&self.stats).handler_restarts += 1;
        Ok(())
    }

    /// Creates a topic no binding names (in Azure the infrastructure creates it): ferry sends
    /// its alerts to its topic itself, over the REST API.
    pub fn declare_topic(&self, name: &str) -> Result<(), HostError> {
        self.broker
            .declare(name, true, false)
            .map_err(|m| HostError::Config(format!("topic `{name}`: {m}")))
    }

    /// Kills a spawned handler with SIGKILL and starts it again (new port), then re-probes.
    pub async fn restart_handler(&self) -> Result<(), HostError> {
        let Some(spec) = &self.spawn_spec else {
            return Err(HostError::Handler(
                "the handler was given by URL; only a spawned handler can be restarted".into(),
            ));
        };
        let mut h = self.handler.lock().await;
        invoke::kill(&mut h).await;
        *h = invoke::spawn(spec)?;
        invoke::probe(&self.client, &mut h, PROBE_LIMIT).await?;
        *lock(&self.handler_base) = h.base.clone();
        lock(&self.stats).handler_restarts += 1;
        Ok(())
    }

    pub async fn shutdown(self) {
        let mut h = self.handler.lock().await;
        invoke::kill(&mut h).await;
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
    }
}

/// Matches an ASP.NET-style route template (`status/{view?}`, `items/{id:int}`).
fn match_route(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let p: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut params = BTreeMap::new();
    for (i, seg) in t.iter().enumerate() {
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let optional = inner.ends_with('?');
            let inner = inner.trim_end_matches('?');
            let (name, constraint) = inner.split_once(':').unwrap_or((inner, ""));
            let name = name.trim_start_matches('*');
            match p.get(i) {
                Some(v) => {
                    let v = percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .to_string();
                    let ok = match constraint {
                        "int" | "long" => v.parse::<i64>().is_ok(),
                        "alpha" => v.chars().all(|c| c.is_ascii_alphabetic()),
                        "guid" => uuid::Uuid::parse_str(&v).is_ok(),
                        _ => true,
                    };
                    if !ok {
                        return None;
                    }
                    params.insert(name.to_string(), v);
                }
                None if optional => {}
                None => return None,
            }
        } else if !p.get(i).is_some_and(|x| x.eq_ignore_ascii_case(seg)) {
            return None;
        }
    }
    if p.len() > t.len() {
        return None;
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes() {
        let m = match_route("status/{view?}", "status/chains").unwrap();
        assert_eq!(m.get("view").map(String::as_str), Some("chains"));
        assert!(match_route("status/{view?}", "status").unwrap().is_empty());
        assert!(match_route("status/{view?}", "other").is_none());
        assert!(match_route("status/{view?}", "status/a/b").is_none());
        assert!(match_route("items/{id:int}", "items/x").is_none());
        assert_eq!(
            json!(match_route("items/{id:int}", "items/5")),
            json!({"id": "5"})
        );
    }

    #[test]
    fn base64_check() {
        assert!(looks_like_base64("aGVsbG8="));
        assert!(!looks_like_base64("{\"a\":1}"));
        assert!(!looks_like_base64(""));
    }
}
