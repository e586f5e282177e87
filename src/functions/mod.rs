//! The four functions, as plain async fns over typed inputs: [`ingest`], [`sequencer`],
//! [`poller`] and [`status`]. They share an [`App`] (ARM client, ledger, Service Bus sender,
//! policy) and return an [`Outcome`] (the alerts they sent, log lines for the host)
//! or an [`FnError`] when the host should retry.
//!
//! The custom-handler plumbing (payload decoding, HTTP) lives in [`crate::server`]; nothing
//! here knows about it, so the same code runs under the real host, the stand-in and tests.

pub mod alert_webhook;
mod base_lock;
mod chain;
pub mod drill;
pub mod drill_status;
pub mod ingest;
mod observe;
pub mod overview;
pub mod plan;
pub mod poller;
mod prune;
pub(crate) mod reads;
mod retry;
pub mod sequencer;
pub mod status;
mod upkeep;

use crate::alerts::Alert;
use crate::arm::{ArmClient, ArmError};
use crate::bus::{BusError, Outbox};
use crate::ledger::{Ledger, LedgerError};
use crate::permissions::ServiceBusEntity;
use crate::policy::Policy;
use crate::rules::CopyLimits;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::Duration;

/// Function names, as the folders under `functions/` name them.
pub const INGEST: &str = "ingest";
pub const INGEST_EVENTGRID: &str = "ingest-eventgrid";
pub const SEQUENCER: &str = "sequencer";
pub const POLLER: &str = "poller";
pub const STATUS: &str = "status";
pub const ALERT_WEBHOOK: &str = "alert-webhook";
pub const DRILL: &str = "drill";

/// What every function needs.
pub struct App {
    pub arm: ArmClient,
    pub ledger: Arc<dyn Ledger>,
    /// Sends to ferry's declared Service Bus entities only ([`crate::permissions`]): the
    /// copy queue, the alerts topic (see [`App::raise`]) and the events queue, where
    /// events wait when ARM is unavailable.
    pub bus: Outbox,
    pub policy: Policy,
    pub stall_after: Duration,
    pub expiry_warning: Duration,
    pub poll_concurrency: usize,
    /// Real time one poll sweep may take before it stops (see [`poller::poller`]).
    pub poll_budget: std::time::Duration,
    /// Metrics to Application Insights (off when no connection string is set).
    pub telemetry: crate::telemetry::Telemetry,
    /// Where `alert-webhook` sends alerts in the Common Alert Schema (`FERRY_ALERT_WEBHOOK`).
    pub alert_webhook: Option<Arc<crate::alert_webhook::AlertWebhook>>,
    /// What decides whether an invocation dies at a fail point (the simulator's soak;
    /// `None` in `serve`; absent from the deployable build). See [`crate::failpoint`].
    #[cfg(feature = "sim")]
    pub fail_points: Option<Arc<dyn crate::failpoint::Hook>>,
}

impl App {
    /// What `fail_point!(app, name)` is in the simulator build.
    #[cfg(feature = "sim")]
    pub(crate) fn fail_point(&self, name: &'static str) -> Result<(), FnError> {
        match &self.fail_points {
            Some(hook) if hook.fire(name) => Err(FnError::Crash(name)),
            _ => Ok(()),
        }
    }

    /// Sends alerts to the alerts topic now, each with its stable id as `MessageId`.
    ///
    /// Called *before* the ledger write that records an alert as sent. A crash between the
    /// two re-runs the decision, which raises the same alert (same id) again, and Service
    /// Bus duplicate detection drops the repeat. The other order, or handing alerts to the
    /// host's output binding after the write, loses the alert when the process dies in
    /// between: the ledger says it was sent, so nothing ever sends it (found by the soak).
    pub(crate) async fn raise(&self, alerts: &[Alert]) -> Result<(), FnError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let messages = alerts
            .iter()
            .map(|a| {
                let body = serde_json::to_string(a).map_err(|e| {
                    FnError::Other(format!("alert {} does not serialize: {e}", a.id))
                })?;
                let mut m = crate::bus::OutgoingMessage::json(a.message_id(), body);
                m.label = Some(a.kind.as_str().to_string());
                // Lets a subscription filter tell a resolution from an alert without
                // reading the body.
                m.properties
                    .insert("monitorCondition".into(), a.monitor_condition().into());
                Ok(m)
            })
            .collect::<Result<Vec<_>, FnError>>()?;
        self.bus
            .send(ServiceBusEntity::AlertsTopic, messages)
            .await?;
        Ok(())
    }

    /// Raises an alert that no ledger write records (bad input): send it, then note it.
    pub(crate) async fn alert_now(&self, out: &mut Outcome, alert: Alert) -> Result<(), FnError> {
        self.raise(std::slice::from_ref(&alert)).await?;
        out.alert(alert);
        Ok(())
    }

    fn limits(&self, rule: &crate::policy::Rule) -> CopyLimits {
        CopyLimits {
            max_duration: rule.max_copy_duration,
            stall_after: self.stall_after,
            expiry_warning: self.expiry_warning,
            restart_failed: rule.restart_failed,
            restart_stalled_after: rule.restart_stalled_after,
        }
    }
}

/// What a function did: the alerts it raised (already sent, see [`App::raise`]) and the
/// lines to log.
#[derive(Debug, Default)]
pub struct Outcome {
    pub alerts: Vec<Alert>,
    pub logs: Vec<String>,
}

impl Outcome {
    pub(crate) fn log(&mut self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        self.logs.push(line);
    }

    pub(crate) fn alert(&mut self, alert: Alert) {
        tracing::warn!(kind = alert.kind.as_str(), id = %alert.id, "{}", alert.message);
        self.logs.push(alert.log_line());
        self.alerts.push(alert);
    }

    pub(crate) fn merge(&mut self, other: Outcome) {
        self.alerts.extend(other.alerts);
        self.logs.extend(other.logs);
    }
}

/// A failure the host should retry (the message is redelivered, the event resent).
#[derive(Debug, thiserror::Error)]
pub enum FnError {
    #[error("ARM: {0}")]
    Arm(#[from] ArmError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("Service Bus: {0}")]
    Bus(#[from] BusError),
    #[error("lost the race for chain {0} too many times; will retry")]
    Contention(String),
    #[error("{0}")]
    Other(String),
    /// Injected at a fail point by the simulator's soak.
    #[cfg(feature = "sim")]
    #[error("injected crash at fail point {0}")]
    Crash(&'static str),
}

/// Why a copy request message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// A restore point event.
    #[default]
    Event,
    /// The source was not ready: look again.
    Recheck,
    /// ARM or the ledger was unavailable: try again later instead of burning deliveries.
    Retry,
}

/// The copy request message, ingest → copy queue → sequencer. One per source restore
/// point and target region, plus scheduled re-checks and retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyRequestMessage {
    pub source_restore_point: String,
    pub target_region: String,
    pub chain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default)]
    pub purpose: Purpose,
    #[serde(default)]
    pub attempt: u32,
    /// When the first attempt was made (bounds retries).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub first_attempt_at: Option<time::OffsetDateTime>,
}

/// How long ferry keeps retrying an input while Azure is unavailable before it gives up
/// with an alert.
pub const RETRY_HORIZON: Duration = Duration::days(2);

/// Delay before retry `attempt` (1, 2, 4 … minutes, capped at 30), at least `floor`.
pub fn retry_delay(attempt: u32, floor: Option<std::time::Duration>) -> Duration {
    let d = crate::rules::recheck_delay(attempt);
    match floor {
        Some(f) => d.max(Duration::try_from(f).unwrap_or(Duration::ZERO)),
        None => d,
    }
}

impl FnError {
    /// Worth retrying later (rather than a bug or a configuration problem).
    pub fn is_transient(&self) -> bool {
        match self {
            FnError::Arm(e) => e.is_transient(),
            FnError::Ledger(e) => e.is_transient(),
            FnError::Bus(BusError::Transient(_)) => true,
            FnError::Contention(_) => true,
            _ => false,
        }
    }

    /// The server's hint of when to come back, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            FnError::Arm(ArmError::Throttled { retry_after, .. }) => Some(*retry_after),
            _ => None,
        }
    }
}

impl CopyRequestMessage {
    /// The Service Bus message: session = chain (ordered, one consumer), MessageId stable
    /// per restore point, region and attempt so duplicate detection drops repeats.
    pub fn to_message(
        &self,
        scheduled: Option<time::OffsetDateTime>,
    ) -> crate::bus::OutgoingMessage {
        let id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!(
                "ferry-copy|{}|{}|{:?}|{}",
                self.source_restore_point.to_ascii_lowercase(),
                self.target_region,
                self.purpose,
                self.attempt
            )
            .as_bytes(),
        );
        let mut m = crate::bus::OutgoingMessage::json(
            id.to_string(),
            serde_json::to_string(self).unwrap_or_default(),
        )
        .with_session(self.chain.clone());
        m.scheduled_enqueue_time = scheduled;
        m.label = Some("copy-request".into());
        m
    }
}
