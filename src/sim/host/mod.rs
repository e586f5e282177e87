//! A local stand-in for the Azure Functions host, used by `ferry demo` and the integration
//! tests. It reads the app's own `host.json` and `functions/*/function.json`, starts (or
//! connects to) the custom handler, runs a local Service Bus namespace, and drives the
//! handler exactly as the real host does: same invocation payloads (see [`encode`]), same
//! success rule (2xx + `application/json`), peek-lock delivery with abandon/redelivery and
//! dead-lettering, session FIFO with one consumer per session, Event Grid batch redelivery,
//! timers that are not retried, and non-forwarded HTTP requests.
//!
//! - [`start`]: the host's settings and startup; [`handler`]: the handler process kept alive.
//! - [`invocation`]: one invocation and its output bindings.
//! - One module per trigger: [`servicebus_trigger`], [`eventgrid_trigger`],
//!   [`timer_trigger`], [`http_trigger`]; [`delivery`]: `run_until_idle` over them.
//! - [`inspect`]: what a test or the demo reads back.
//! - [`config`] (host.json, function.json), [`invoke`] (the handler process and the wire
//!   calls), [`encode`] (invocation payloads), [`servicebus`] (the local namespace),
//!   [`cron`], [`wire`].

pub mod config;
pub mod cron;
pub mod encode;
pub mod invoke;
pub mod servicebus;
pub mod wire;

mod delivery;
mod eventgrid_trigger;
mod handler;
mod http_trigger;
mod inspect;
mod invocation;
mod servicebus_trigger;
mod start;
mod timer_trigger;

pub use config::{FunctionDef, HostJson, OutputBinding, OutputKind, Trigger, TriggerKind};
pub use delivery::DeliveryReport;
pub use eventgrid_trigger::EventDelivery;
pub use invoke::InvocationOutcome;
pub use servicebus::{BrokerMessage, DeadLetter};
pub use start::{HandlerTarget, HostConfig};

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use url::Url;

use eventgrid_trigger::PendingBatch;
use invoke::{HandlerProc, SpawnSpec};
use servicebus::Broker;
use timer_trigger::TimerState;

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

impl Host {
    fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    fn warn(&self, w: String) {
        tracing::warn!(target: "ferry::sim::host", "{w}");
        lock(&self.warnings).push(w);
    }
}
