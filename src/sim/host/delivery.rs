//! `Host::run_until_idle`: passes over the Service Bus triggers and the due Event Grid
//! retries until a pass invokes nothing, and what they did ([`DeliveryReport`]).

use super::{FunctionDef, Host, HostError, TriggerKind};

/// Passes of `run_until_idle` before concluding the app never goes idle.
const MAX_PASSES: usize = 10_000;

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
    pub(super) fn add(&mut self, o: &DeliveryReport) {
        self.invocations += o.invocations;
        self.completed += o.completed;
        self.abandoned += o.abandoned;
        self.dead_lettered += o.dead_lettered;
        self.event_grid_batches += o.event_grid_batches;
    }
}

impl Host {
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
}
