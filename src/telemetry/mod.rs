//! Metrics to Application Insights: RPO, objective and backlog per chain, copies by
//! outcome, copy duration, drill restore time (names in [`names`]).
//!
//! The OpenTelemetry SDK aggregates; `opentelemetry-application-insights` turns each export
//! into `Microsoft.ApplicationInsights.Metric` envelopes; [`client::EntraClient`] posts them
//! with a Microsoft Entra token. Telemetry never blocks or fails ferry's work: recording is
//! an in-memory update, exports run on the SDK's own thread, and an export that fails is
//! retried by the exporter for a while and then dropped (logged), never surfaced to a
//! function.
//!
//! Where the numbers come from:
//! - per-chain gauges (RPO, objective, backlog): the poller, once per chain per tick
//!   ([`Telemetry::chain_sample`]); each export reports the latest value of every chain;
//! - copies and durations: [`tap::MeteredLedger`], which sees every copy row's state change
//!   as the ledger commits it;
//! - drill restore time: [`Telemetry::drill_restore_time`], for the drills to call.
//!
//! Dimensions: the chain's source collection (ARM id) and target region, plus the outcome
//! on `ferry_copies`. Nothing finer (no restore point, no VM, no copy id): the number of
//! time series stays (chains × 7 outcomes) + (chains × 4), bounded by the estate, not by
//! how long ferry runs.

pub mod client;
pub mod connection;
pub mod names;
pub mod tap;

use crate::auth::TokenProvider;
use connection::ConnectionString;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _, ObservableGauge};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How often metrics are exported (besides the poller's flush after each sweep).
pub const EXPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The cloud role name of ferry's telemetry (`service.name`).
pub const SERVICE_NAME: &str = "restore-point-ferry";

/// A chain's metric identity: its dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainDims {
    pub source_collection: String,
    pub target_region: String,
}

impl ChainDims {
    fn attributes(&self) -> Vec<KeyValue> {
        vec![
            KeyValue::new(names::DIM_SOURCE_COLLECTION, self.source_collection.clone()),
            KeyValue::new(names::DIM_TARGET_REGION, self.target_region.clone()),
        ]
    }
}

/// What the poller measured of one chain on one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSample {
    /// Age of the newest restore point safely in the target region (or, before a first
    /// copy, of the chain itself: what the breach is judged on), seconds.
    pub rpo_seconds: f64,
    pub objective_seconds: f64,
    /// `None`: not known this tick (the ledger query failed); the last value stays.
    pub backlog: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Gauges {
    rpo: f64,
    objective: f64,
    backlog: u64,
}

struct Inner {
    provider: SdkMeterProvider,
    copies: Counter<u64>,
    copy_duration: Histogram<f64>,
    drill_restore: Histogram<f64>,
    chains: Arc<Mutex<BTreeMap<ChainDims, Gauges>>>,
    _gauges: Vec<ObservableGauge<f64>>,
}

/// ferry's metrics, or nothing when `APPLICATIONINSIGHTS_CONNECTION_STRING` is unset.
/// Cheap to clone; every method is a no-op when off.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<Inner>>);

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Telemetry(on)"
        } else {
            "Telemetry(off)"
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Telemetry {
    pub fn off() -> Telemetry {
        Telemetry(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Metrics to the Application Insights component named by `conn`, authenticated with
    /// `tokens`. Must run on ferry's tokio runtime.
    pub fn application_insights(
        conn: &ConnectionString,
        tokens: Arc<dyn TokenProvider>,
        interval: std::time::Duration,
    ) -> Result<Telemetry, String> {
        let client = client::EntraClient::new(conn.ingestion_endpoint.clone(), tokens)
            .map_err(|e| format!("{}: {e}", connection::SETTING))?;
        let exporter = opentelemetry_application_insights::Exporter::new_from_connection_string(
            conn.for_exporter(),
            client,
        )
        .map_err(|e| format!("{}: {e}", connection::SETTING))?
        .with_retry_notify(|e, wait| {
            tracing::warn!("telemetry export failed ({e}); retrying in {wait:?}");
        });
        let reader = PeriodicReader::builder(exporter)
            .with_interval(interval)
            .build();
        // Only the service's name as resource (Application Insights' cloud role); the SDK's
        // default resource would add its own version attributes to every data point.
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(SERVICE_NAME)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .build();
        Ok(Telemetry::with_provider(provider))
    }

    fn with_provider(provider: SdkMeterProvider) -> Telemetry {
        let meter = provider.meter("restore-point-ferry");
        let chains: Arc<Mutex<BTreeMap<ChainDims, Gauges>>> = Arc::default();
        let gauge = |name: &'static str, pick: fn(&Gauges) -> f64| {
            let chains = chains.clone();
            meter
                .f64_observable_gauge(name)
                .with_callback(move |obs| {
                    for (dims, g) in lock(&chains).iter() {
                        obs.observe(pick(g), &dims.attributes());
                    }
                })
                .build()
        };
        let gauges = vec![
            gauge(names::RPO, |g| g.rpo),
            gauge(names::RPO_OBJECTIVE, |g| g.objective),
            gauge(names::BACKLOG, |g| g.backlog as f64),
        ];
        // Buckets from ten minutes (one poll) to the platform's two weeks.
        let minutes = [
            10.0, 30.0, 60.0, 180.0, 360.0, 720.0, 1440.0, 2880.0, 10080.0, 20160.0,
        ];
        let bounds: Vec<f64> = minutes.iter().map(|m| m * 60.0).collect();
        Telemetry(Some(Arc::new(Inner {
            copies: meter.u64_counter(names::COPIES).build(),
            copy_duration: meter
                .f64_histogram(names::COPY_DURATION)
                .with_unit("s")
                .with_boundaries(bounds.clone())
                .build(),
            drill_restore: meter
                .f64_histogram(names::DRILL_RESTORE_TIME)
                .with_unit("s")
                .with_boundaries(bounds)
                .build(),
            chains,
            _gauges: gauges,
            provider,
        })))
    }

    /// The poller's reading of one chain this tick.
    pub fn chain_sample(&self, dims: ChainDims, s: &ChainSample) {
        let Some(i) = &self.0 else { return };
        let mut chains = lock(&i.chains);
        let g = chains.entry(dims).or_default();
        g.rpo = s.rpo_seconds;
        g.objective = s.objective_seconds;
        if let Some(b) = s.backlog {
            g.backlog = b;
        }
    }

    /// A copy started or settled (`outcome` is one of [`names::OUTCOMES`]).
    pub fn copy_outcome(&self, dims: &ChainDims, outcome: &'static str) {
        let Some(i) = &self.0 else { return };
        let mut a = dims.attributes();
        a.push(KeyValue::new(names::DIM_OUTCOME, outcome));
        i.copies.add(1, &a);
    }

    /// A successful copy's duration (ferry's claim to success).
    pub fn copy_duration(&self, dims: &ChainDims, d: time::Duration) {
        let Some(i) = &self.0 else { return };
        i.copy_duration
            .record(d.as_seconds_f64().max(0.0), &dims.attributes());
    }

    /// The hook for restore drills: a drill's time from the disk request to a usable disk.
    pub fn drill_restore_time(&self, dims: &ChainDims, d: time::Duration) {
        let Some(i) = &self.0 else { return };
        i.drill_restore
            .record(d.as_seconds_f64().max(0.0), &dims.attributes());
    }

    /// Exports now, in the background (after a poller sweep: one export per tick carries
    /// every chain's gauges). Never waits for the upload.
    pub fn flush_in_background(&self) {
        if let Some(i) = &self.0 {
            let i = i.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = i.provider.force_flush() {
                    tracing::warn!("telemetry flush failed: {e}");
                }
            });
        }
    }

    /// Exports now and waits for it (the demo, between simulated ticks; shutdown).
    pub async fn flush(&self) -> Result<(), String> {
        let Some(i) = &self.0 else { return Ok(()) };
        let i = i.clone();
        tokio::task::spawn_blocking(move || i.provider.force_flush())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}
