//! Status: what operators (and their dashboards) ask. Read-only.
//!
//! - `status` / `status/chains[?top=N&after=<chain key>]`: chains with counts, the copy in
//!   flight and RPO, a page at a time (default 100, at most 1,000); `next` names the `after`
//!   of the following page while there is one.
//! - `status/chain?key=<chain>`: one chain with every copy and its lineage.
//! - `status/readiness?restorePoint=<target restore point id>`: whether it can be restored
//!   from now (every disk restore point at 100 % and succeeded), with lineage. Only for
//!   copies ferry made: any other id is 404 without a call to ARM, so the API cannot be used
//!   to read arbitrary resources with ferry's identity.
//!
//! Errors from ARM or the ledger are logged, never echoed: their messages can carry the
//! identity's object id or resource names the caller may not see.
//! - `status/lineage?restorePoint=<target restore point id>`: target → source restore point
//!   → source VM, from the ledger (copies lose the link to the VM).
//! - `status/drills`: the last restore drill per chain, restore time p50 and max
//!   (`drill_status`).

use super::chain::{copies, load_chain};
use super::poller::disk_progress;
use super::{App, FnError};
use crate::ids::RestorePointId;
use crate::ledger::records::{Chain, CopyRecord, CopyState, CHAIN_ROW};
use crate::ledger::{query_all, Query, Value as LValue};
use crate::rules::{self, Readiness};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Answers a status request: (HTTP status, JSON body).
pub async fn status(
    app: &App,
    view: &str,
    query: &BTreeMap<String, String>,
    now: OffsetDateTime,
) -> (u16, Value) {
    let allowed: &[&str] = match view {
        "" | "chains" => &["top", "after"],
        "overview" => &["top", "after"],
        "chain" => &["key"],
        "readiness" | "lineage" => &["restorePoint"],
        "drills" => &[],
        other => {
            return bad(format!(
            "unknown view {other:?}; use chains, chain, readiness, lineage, drills, overview or dashboard"
        ))
        }
    };
    // `code` is the function key; the host consumes it, but it may be forwarded.
    if let Some(k) = query
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && k.as_str() != "code")
    {
        return bad(format!("unknown query parameter {k:?} for view {view:?}"));
    }
    let result = match view {
        "" | "chains" => match page(query) {
            Ok((top, after)) => chains(app, top, after, now).await,
            Err(e) => return bad(e),
        },
        "overview" => match page(query) {
            Ok((top, after)) => super::overview::overview(app, top, after, now).await,
            Err(e) => return bad(e),
        },
        "chain" => match query.get("key") {
            Some(k) if uuid::Uuid::parse_str(k).is_ok() => chain(app, k, now).await,
            _ => return bad("chain needs ?key=<chain key (a UUID)>".into()),
        },
        "drills" => super::drill_status::drills(app).await,
        _ => match query
            .get("restorePoint")
            .map(|s| s.parse::<RestorePointId>())
        {
            Some(Ok(rp)) if view == "readiness" => readiness(app, &rp).await,
            Some(Ok(rp)) => lineage(app, &rp).await,
            Some(Err(e)) => return bad(e.to_string()),
            None => {
                return bad(format!(
                    "{view} needs ?restorePoint=<target restore point id>"
                ))
            }
        },
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(view, error = %e, "status request failed");
            (
                503,
                json!({"error": {"code": "Unavailable", "message": "ARM or the ledger did not answer; the handler's log has the details"}}),
            )
        }
    }
}

/// Default and largest page of `status/chains` (each chain costs one ledger query).
pub const CHAINS_PAGE: usize = 100;
pub const CHAINS_PAGE_MAX: usize = 1000;

fn page(query: &BTreeMap<String, String>) -> Result<(usize, Option<String>), String> {
    let top = match query.get("top") {
        None => CHAINS_PAGE,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=CHAINS_PAGE_MAX).contains(&n) => n,
            _ => {
                return Err(format!(
                    "top must be a whole number from 1 to {CHAINS_PAGE_MAX}, got {t:?}"
                ))
            }
        },
    };
    let after = match query.get("after") {
        None => None,
        Some(a) if uuid::Uuid::parse_str(a).is_ok() => Some(a.to_ascii_lowercase()),
        Some(a) => return Err(format!("after must be a chain key (a UUID), got {a:?}")),
    };
    Ok((top, after))
}

fn bad(message: String) -> (u16, Value) {
    (
        400,
        json!({"error": {"code": "BadRequest", "message": message}}),
    )
}

fn ts(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn hours(d: time::Duration) -> f64 {
    (d.as_seconds_f64() / 36.0).round() / 100.0
}

pub(crate) async fn all_chains(app: &App) -> Result<Vec<Chain>, FnError> {
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let rows = query_all(app.ledger.as_ref(), &q).await?;
    rows.iter()
        .map(|e| Chain::from_entity(e).map_err(|e| FnError::Other(e.to_string())))
        .collect()
}

pub(crate) fn chain_json(
    app: &App,
    c: &Chain,
    copies: &[CopyRecord],
    now: OffsetDateTime,
) -> Value {
    let mut counts: BTreeMap<&str, usize> =
        CopyState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for cp in copies {
        *counts.entry(cp.state.as_str()).or_default() += 1;
    }
    let rule = app
        .policy
        .find_target(&c.source_collection, &c.target_region)
        .map(|(r, _)| r);
    // Without the policy (a ledger-only reader) the objective the ledger kept.
    let objective = rule.map(|r| r.rpo_objective).or(c.rpo_objective);
    let rpo = objective.map(|o| rules::rpo(c.last_success_source_time, c.created_at, now, o));
    let in_flight = c
        .in_flight
        .as_ref()
        .and_then(|row| copies.iter().find(|cp| &cp.row_key() == row));
    json!({
        "key": c.key,
        "sourceCollection": c.source_collection.to_string(),
        "sourceVm": c.source_vm,
        "sourceRegion": c.source_region,
        "targetRegion": c.target_region,
        "targetCollection": c.target_collection.to_string(),
        "baseRestorePoint": c.base_restore_point,
        "watermark": ts(c.watermark),
        "copies": counts,
        "inFlight": in_flight.map(|cp| json!({
            "sourceRestorePoint": cp.source_restore_point.to_string(),
            "targetRestorePoint": cp.target_restore_point.to_string(),
            "state": cp.state.as_str(),
            "startedAt": ts(cp.started_at),
            "lastPercent": cp.last_percent,
            "lastReadingAt": ts(cp.last_reading_at),
            "attempt": cp.earlier_attempts.len() + 1,
        })),
        // What `catchUp` and the restarts do, per chain: superseded restore points were
        // skipped by policy for a newer one, never lost.
        "catchUp": rule.map(|r| r.catch_up.as_str()),
        "restartedCopies": copies.iter().filter(|cp| !cp.earlier_attempts.is_empty()).count(),
        "typicalCopyMinutes": c.history.typical_copy().map(|d| d.whole_minutes()),
        "lastSuccess": {
            "restorePoint": c.last_success_restore_point,
            "sourceTimeCreated": ts(c.last_success_source_time),
            "completedAt": ts(c.last_success_at),
        },
        "rpo": rpo.map(|r| json!({
            "currentHours": r.current.map(hours),
            "objectiveHours": objective.map(hours),
            "breached": r.breached,
        })),
        // Target upkeep: what the target holds, what retention deletes next, and why
        // copies are refused when a platform limit is reached.
        "target": {
            "copiesHeld": copies.iter().filter(|cp| cp.deleted_at.is_none() && matches!(cp.state, CopyState::Succeeded | CopyState::InFlight | CopyState::Starting | CopyState::Restarting)).count(),
            "deletedByRetention": copies.iter().filter(|cp| cp.deleted_at.is_some()).count(),
            "nextDeletion": c.upkeep.next_deletion,
            "limitReached": c.upkeep.limit_reached,
        },
    })
}

fn copy_json(c: &CopyRecord) -> Value {
    json!({
        "sourceRestorePoint": c.source_restore_point.to_string(),
        "sourceVm": c.source_vm,
        "sourceTimeCreated": ts(Some(c.source_time)),
        "targetRestorePoint": c.target_restore_point.to_string(),
        "state": c.state.as_str(),
        "deletedAt": ts(c.deleted_at),
        "deletedBy": c.deleted_by,
        "reason": c.reason,
        "requestedAt": ts(Some(c.requested_at)),
        "startedAt": ts(c.started_at),
        "endedAt": ts(c.ended_at),
        "lastPercent": c.last_percent,
        "lastStatus": c.last_status,
        "lastReadingAt": ts(c.last_reading_at),
        "readings": c.readings,
        "alertsSent": c.alerts.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "supersededBy": c.superseded_by,
        "earlierAttempts": c.earlier_attempts,
    })
}

/// One page of chain rows, at most `top`, starting just after the chain key `after` (chain
/// rows sort by partition key, the chain key), and whether more follow.
pub(crate) async fn chain_page(
    app: &App,
    top: usize,
    after: Option<String>,
) -> Result<(Vec<crate::ledger::Entity>, bool), FnError> {
    let q = Query {
        partition_key_from: after.map(|a| format!("{a}\u{0}")),
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        top: Some((top + 1).min(CHAINS_PAGE_MAX) as u32),
        ..Query::default()
    };
    let mut rows = Vec::new();
    let mut next = None;
    loop {
        let page = app.ledger.query(&q, next.as_ref()).await?;
        rows.extend(page.entities);
        match page.continuation {
            Some(c) if rows.len() <= top => next = Some(c),
            _ => break,
        }
    }
    let more = rows.len() > top;
    rows.truncate(top);
    Ok((rows, more))
}

async fn chains(
    app: &App,
    top: usize,
    after: Option<String>,
    now: OffsetDateTime,
) -> Result<(u16, Value), FnError> {
    let (rows, more) = chain_page(app, top, after).await?;
    let mut out = Vec::new();
    let mut last = None;
    for e in &rows {
        let c = Chain::from_entity(e).map_err(|e| FnError::Other(e.to_string()))?;
        let cps = copies(app, &c.key, None).await?;
        out.push(chain_json(app, &c, &cps, now));
        last = Some(c.key);
    }
    let next = if more { last } else { None };
    Ok((
        200,
        json!({"chains": out, "at": ts(Some(now)), "next": next}),
    ))
}

async fn chain(app: &App, key: &str, now: OffsetDateTime) -> Result<(u16, Value), FnError> {
    let Some(c) = load_chain(app, key).await? else {
        return Ok((
            404,
            json!({"error": {"code": "NotFound", "message": format!("no chain {key}")}}),
        ));
    };
    let mut cps = copies(app, key, None).await?;
    cps.sort_by_key(|c| c.source_time);
    let mut v = chain_json(app, &c, &cps, now);
    v["copyRecords"] = Value::Array(cps.iter().map(copy_json).collect());
    Ok((200, v))
}

/// Finds the copy record of a target restore point via its chain (by target collection).
async fn find_copy(
    app: &App,
    target: &RestorePointId,
) -> Result<Option<(Chain, CopyRecord)>, FnError> {
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    }
    .where_eq(
        "TargetCollection",
        LValue::String(target.collection.to_string()),
    );
    let mut candidates: Vec<Chain> = query_all(app.ledger.as_ref(), &q)
        .await?
        .iter()
        .filter_map(|e| Chain::from_entity(e).ok())
        .collect();
    if candidates.is_empty() {
        // Ids are case-insensitive but stored as written: fall back to comparing keys.
        candidates = all_chains(app)
            .await?
            .into_iter()
            .filter(|c| c.target_collection.key() == target.collection.key())
            .collect();
    }
    for c in candidates {
        let row = crate::ledger::records::copy_row(&target.name);
        if let Some(cp) = super::chain::load_copy(app, &c.key, &row).await? {
            return Ok(Some((c, cp)));
        }
    }
    Ok(None)
}

fn not_a_copy(target: &RestorePointId) -> (u16, Value) {
    (
        404,
        json!({"error": {"code": "NotFound", "message": format!("{target} is not a copy ferry made")}}),
    )
}

async fn lineage(app: &App, target: &RestorePointId) -> Result<(u16, Value), FnError> {
    match find_copy(app, target).await? {
        None => Ok(not_a_copy(target)),
        Some((c, cp)) => Ok((
            200,
            json!({
                "targetRestorePoint": cp.target_restore_point.to_string(),
                "sourceRestorePoint": cp.source_restore_point.to_string(),
                "sourceVm": cp.source_vm.clone().or(c.source_vm.clone()),
                "sourceCollection": c.source_collection.to_string(),
                "chain": c.key,
                "copy": copy_json(&cp),
            }),
        )),
    }
}

async fn readiness(app: &App, target: &RestorePointId) -> Result<(u16, Value), FnError> {
    // The ledger first: ARM is asked only about copies ferry made.
    let Some(copy) = find_copy(app, target).await? else {
        return Ok(not_a_copy(target));
    };
    let Some(progress) = app.arm.get_copy_progress(target).await? else {
        return Ok((
            404,
            json!({"error": {"code": "NotFound", "message": format!("{target} no longer exists")}}),
        ));
    };
    let disks = disk_progress(&progress);
    let (ready, reason) = match rules::readiness(&disks) {
        Readiness::Ready => (true, None),
        Readiness::NotReady { reason } => (false, Some(reason)),
    };
    let (c, cp) = copy;
    let lineage = json!({
        "sourceRestorePoint": cp.source_restore_point.to_string(),
        "sourceVm": cp.source_vm.or(c.source_vm),
        "chain": c.key,
    });
    Ok((
        200,
        json!({
            "restorePoint": target.to_string(),
            "ready": ready,
            "reason": reason,
            "disks": disks,
            "lineage": lineage,
        }),
    ))
}
