//! Every metric and dimension name ferry emits, declared once. The Workbook and the alert
//! rule in `infra/` are checked against this list (`ferry metrics` prints it as JSON;
//! `tests/infra` compares), so a renamed metric cannot silently empty a chart.

use serde::Serialize;

/// The chain's source restore point collection (its ARM resource id).
pub const DIM_SOURCE_COLLECTION: &str = "sourceCollection";
/// The chain's target region.
pub const DIM_TARGET_REGION: &str = "targetRegion";
/// What happened to a copy (`ferry_copies` only): one of [`OUTCOMES`].
pub const DIM_OUTCOME: &str = "outcome";

/// Age of the newest restore point safely in the target region, per chain (gauge).
pub const RPO: &str = "ferry_rpo_seconds";
/// The chain's RPO objective from the policy (gauge), so charts and alerts compare per chain.
pub const RPO_OBJECTIVE: &str = "ferry_rpo_objective_seconds";
/// Restore points recorded and waiting to be copied, per chain (gauge).
pub const BACKLOG: &str = "ferry_backlog";
/// Copies by outcome (counter, dimension `outcome`).
pub const COPIES: &str = "ferry_copies";
/// From claim to success, per successful copy (histogram).
pub const COPY_DURATION: &str = "ferry_copy_duration_seconds";
/// A restore drill's time from request to a usable disk (histogram). Declared for the
/// drills (issue 14); recorded through `Telemetry::drill_restore_time`.
pub const DRILL_RESTORE_TIME: &str = "ferry_drill_restore_seconds";

/// Values of the `outcome` dimension of [`COPIES`]: a copy attempt started (claimed), and
/// each way a copy settles or is set aside.
pub const OUTCOMES: [&str; 7] = [
    "started",
    "succeeded",
    "failed",
    "restarted",
    "superseded",
    "expired",
    "rejected",
];

/// One metric as Application Insights shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MetricSpec {
    pub name: &'static str,
    pub kind: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static str],
    pub description: &'static str,
}

const CHAIN: &[&str] = &[DIM_SOURCE_COLLECTION, DIM_TARGET_REGION];
const CHAIN_OUTCOME: &[&str] = &[DIM_SOURCE_COLLECTION, DIM_TARGET_REGION, DIM_OUTCOME];

/// Every metric ferry emits.
pub const METRICS: [MetricSpec; 6] = [
    MetricSpec {
        name: RPO,
        kind: "gauge",
        unit: "s",
        dimensions: CHAIN,
        description: "Age of the newest restore point safely in the target region (measured from the chain's creation until a first copy completes), each poller tick.",
    },
    MetricSpec {
        name: RPO_OBJECTIVE,
        kind: "gauge",
        unit: "s",
        dimensions: CHAIN,
        description: "The chain's RPO objective (policy), reported beside the RPO.",
    },
    MetricSpec {
        name: BACKLOG,
        kind: "gauge",
        unit: "{restore point}",
        dimensions: CHAIN,
        description: "Restore points recorded and waiting their turn (Pending), not counting the copy in flight, each poller tick.",
    },
    MetricSpec {
        name: COPIES,
        kind: "counter",
        unit: "{copy}",
        dimensions: CHAIN_OUTCOME,
        description: "Copies started and settled, by outcome.",
    },
    MetricSpec {
        name: COPY_DURATION,
        kind: "histogram",
        unit: "s",
        dimensions: CHAIN,
        description: "Time from ferry's claim of a copy to its success.",
    },
    MetricSpec {
        name: DRILL_RESTORE_TIME,
        kind: "histogram",
        unit: "s",
        dimensions: CHAIN,
        description: "Restore drill: time from the disk request to a usable disk.",
    },
];

/// The catalogue as JSON (`ferry metrics`).
pub fn catalogue_json() -> serde_json::Value {
    serde_json::json!({
        "metrics": METRICS,
        "dimensions": [DIM_SOURCE_COLLECTION, DIM_TARGET_REGION, DIM_OUTCOME],
        "outcomes": OUTCOMES,
    })
}
