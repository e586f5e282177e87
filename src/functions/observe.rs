//! What the poller reports of each chain to the metrics on each tick: RPO (as the tick's
//! breach check judges it), the objective, and the backlog. Only when metrics are on; a
//! failed backlog query leaves the last value and never fails the poll.

use super::App;
use crate::ledger::records::{Chain, CopyState, COPY_PREFIX};
use crate::ledger::{query_all, Query, Value};
use crate::policy::Rule;
use crate::telemetry::{ChainDims, ChainSample};
use time::OffsetDateTime;

pub(super) async fn sample_chain(app: &App, chain: &Chain, rule: &Rule, now: OffsetDateTime) {
    if !app.telemetry.is_on() {
        return;
    }
    // As `rules::rpo` measures it for the breach check: from the newest restore point
    // copied, or from the chain's creation until a first copy completes.
    let age = now - chain.last_success_source_time.unwrap_or(chain.created_at);
    // An idle chain has nothing waiting (it goes idle only when no copy is pending), so
    // only chains with work pay for the query, and it returns only waiting rows.
    let backlog = if !chain.active && chain.in_flight.is_none() {
        Some(0)
    } else {
        let q = Query::partition(&chain.key)
            .row_prefix(COPY_PREFIX)
            .where_eq("State", Value::String(CopyState::Pending.as_str().into()));
        match query_all(app.ledger.as_ref(), &q).await {
            Ok(rows) => Some(rows.len() as u64),
            Err(e) => {
                tracing::debug!("chain {}: backlog not measured: {e}", chain.key);
                None
            }
        }
    };
    app.telemetry.chain_sample(
        ChainDims {
            source_collection: chain.source_collection.to_id_string(),
            target_region: chain.target_region.clone(),
        },
        &ChainSample {
            rpo_seconds: age.as_seconds_f64().max(0.0),
            objective_seconds: rule.rpo_objective.as_seconds_f64(),
            backlog,
        },
    );
}
