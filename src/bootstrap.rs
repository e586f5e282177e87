//! Turns a validated [`Config`] into a running [`App`]: credentials, ARM client, ledger,
//! Service Bus sender. Fails with one clear message per problem, before serving anything.

use crate::arm::{ArmClient, ArmConfig, RateLimit};
use crate::auth::TokenProvider;
use crate::bus::{BusAuth, Outbox, ServiceBusRest};
use crate::config::{Config, LedgerSetting, Rate};
use crate::functions::App;
use crate::ledger::memory::MemoryLedger;
use crate::ledger::table::TableLedger;
use crate::ledger::Ledger;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("cannot start: {0}")]
pub struct StartupError(pub String);

fn rate(r: Option<Rate>) -> Option<RateLimit> {
    r.map(|r| RateLimit {
        burst: r.burst,
        per_second: r.per_second,
    })
}

/// The credential named by `FERRY_CREDENTIAL`.
pub fn credential(config: &Config) -> Result<Arc<dyn TokenProvider>, StartupError> {
    crate::auth::from_setting(
        &config.credential,
        config.managed_identity_client_id.as_deref(),
    )
    .map_err(|e| StartupError(format!("FERRY_CREDENTIAL: {e}")))
}

/// The ledger named by `FERRY_LEDGER`, created if missing.
pub async fn ledger(
    config: &Config,
    tokens: &Arc<dyn TokenProvider>,
) -> Result<Arc<dyn Ledger>, StartupError> {
    let ledger: Arc<dyn Ledger> = match &config.ledger {
        LedgerSetting::Memory => Arc::new(MemoryLedger::new()),
        LedgerSetting::Table(s) => Arc::new(
            TableLedger::from_setting(s, Some(tokens.clone()))
                .map_err(|e| StartupError(format!("FERRY_LEDGER: {e}")))?,
        ),
    };
    ledger.ensure().await.map_err(|e| {
        StartupError(format!(
            "FERRY_LEDGER: {} is not usable: {e}",
            ledger.describe()
        ))
    })?;
    Ok(ledger)
}

/// Builds the app from configuration and an already-built ledger.
pub fn app(
    config: &Config,
    tokens: Arc<dyn TokenProvider>,
    ledger: Arc<dyn Ledger>,
) -> Result<App, StartupError> {
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: config.arm_endpoint.clone(),
            compute_api_version: config.compute_api_version.clone(),
            disk_api_version: config.disk_api_version.clone(),
            read_limit: rate(config.arm_read_rate),
            write_limit: rate(config.arm_write_rate),
            max_backoff: config.arm_max_retry_wait.unsigned_abs(),
            ..ArmConfig::default()
        },
        tokens.clone(),
    )
    .map_err(|e| StartupError(format!("FERRY_ARM_ENDPOINT: {e}")))?;
    let bus = ServiceBusRest::new(
        config.servicebus_endpoint.clone(),
        BusAuth::Token(tokens.clone()),
    )
    .map_err(|e| StartupError(format!("FERRY_SERVICEBUS_ENDPOINT: {e}")))?;
    let telemetry = match &config.app_insights {
        None => crate::telemetry::Telemetry::off(),
        Some(c) => crate::telemetry::Telemetry::application_insights(
            c,
            tokens.clone(),
            crate::telemetry::EXPORT_INTERVAL,
        )
        .map_err(StartupError)?,
    };
    // Copies by outcome are counted as the ledger commits them (telemetry::tap).
    let ledger: Arc<dyn Ledger> = if telemetry.is_on() {
        Arc::new(crate::telemetry::tap::MeteredLedger::new(
            ledger,
            telemetry.clone(),
        ))
    } else {
        ledger
    };
    Ok(App {
        arm,
        ledger,
        bus: Outbox::new(
            Arc::new(bus),
            crate::permissions::EntityNames::from_config(config),
        ),
        policy: config.policy.clone(),
        stall_after: config.stall_after,
        expiry_warning: config.expiry_warning,
        poll_concurrency: config.poll_concurrency,
        poll_budget: config.poll_budget.unsigned_abs(),
        telemetry,
        alert_webhook: match &config.alert_webhook {
            None => None,
            Some(u) => Some(Arc::new(
                crate::alert_webhook::AlertWebhook::new(
                    u.clone(),
                    crate::alert_webhook::Backoff::default(),
                )
                .map_err(StartupError)?,
            )),
        },
        #[cfg(feature = "sim")]
        fail_points: None,
    })
}

/// Everything, from configuration.
pub async fn build(config: &Config) -> Result<App, StartupError> {
    let tokens = credential(config)?;
    let ledger = ledger(config, &tokens).await?;
    app(config, tokens, ledger)
}
