//! Event Grid: events published to `eventGridTrigger` functions or into a queue, failed
//! batches redelivered on Event Grid's schedule and dead-lettered after the last attempt.

use serde_json::Value;
use time::OffsetDateTime;

use super::encode::{self, SysData};
use super::servicebus::IncomingMessage;
use super::{
    lock, BrokerMessage, DeadLetter, DeliveryReport, FunctionDef, Host, HostError, TriggerKind,
};

/// How `publish_events` delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDelivery {
    /// Push to every function with an `eventGridTrigger`.
    EventGridTrigger,
    /// An Event Grid subscription with a Service Bus queue endpoint.
    Queue(String),
}

#[derive(Debug, Clone)]
pub(super) struct PendingBatch {
    function: String,
    events: Vec<Value>,
    attempts: u32,
    due: OffsetDateTime,
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

impl Host {
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

    pub(super) async fn redeliver_event_grid(&self) -> DeliveryReport {
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
}
