//! Service Bus triggers: peek-lock delivery of a queue's messages (sessions one consumer
//! each, up to `maxConcurrentSessions`), complete on success, abandon or dead-letter on
//! failure or a lost lock.

use std::time::Duration;

use super::encode::{self, DeliveredMessage, SysData};
use super::{lock, BrokerMessage, DeliveryReport, FunctionDef, Host, TriggerKind};

impl Host {
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

    pub(super) async fn drain_queue(&self, f: &FunctionDef) -> DeliveryReport {
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
}
