//! What tests and the demo read from a running host: its endpoint and config, collected
//! outputs, dead letters, sent and held messages, logs, warnings and totals.

use serde_json::Value;
use time::OffsetDateTime;
use url::Url;

use super::{lock, BrokerMessage, DeadLetter, FunctionDef, Host, HostJson, HostLog, HostStats};

impl Host {
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
}
