//! The dashboard's data, `status/overview[?top=N&after=<chain key>]`: a page of chains as
//! `status/chains` gives them, each with its recent copies as timeline bars, plus the
//! alerts the ledger records (each copy keeps the kinds of alert it raised; each chain
//! keeps the RPO breach it is in). One ledger query per chain, like `status/chains`.
//!
//! The timeline and alert shapes are pure functions of ledger records ([`timeline`],
//! [`ledger_alerts`]), shared with the `ferry copies` and `ferry alerts` commands.

use super::chain::copies;
use super::{App, FnError};
use crate::alerts::AlertKind;
use crate::ledger::records::{Chain, CopyRecord, CopyState};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Copies per chain on the timeline: the newest ones (a daily chain's three weeks).
pub const TIMELINE_KEEP: usize = 30;

/// A time as the views write it (RFC 3339).
pub fn rfc3339(t: OffsetDateTime) -> Value {
    ts(Some(t))
}

fn ts(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// Alerts per page of the overview: the newest across its chains.
pub const ALERTS_KEEP: usize = 200;

/// A page of chains (as `status/chains` pages them), each with its timeline, and the
/// newest alerts of the page's chains.
pub(crate) async fn overview(
    app: &App,
    top: usize,
    after: Option<String>,
    now: OffsetDateTime,
) -> Result<(u16, Value), FnError> {
    let (rows, more) = super::status::chain_page(app, top, after).await?;
    let mut chains = Vec::with_capacity(rows.len());
    let mut alerts = Vec::new();
    let mut last = None;
    for e in &rows {
        let c = Chain::from_entity(e).map_err(|e| FnError::Other(e.to_string()))?;
        let cps = copies(app, &c.key, None).await?;
        let mut v = super::status::chain_json(app, &c, &cps, now);
        if let Some(cp) = c
            .in_flight
            .as_ref()
            .and_then(|row| cps.iter().find(|cp| &cp.row_key() == row))
        {
            v["inFlight"]["ageMinutes"] = json!(in_flight_age_minutes(cp, now));
        }
        v["sourceCollectionName"] = json!(c.source_collection.name);
        v["timeline"] = Value::Array(timeline(&cps, TIMELINE_KEEP));
        // The chain's newest restore drill (rows are named by start time, oldest first).
        v["lastDrill"] = crate::ledger::drills::chain_drills(app.ledger.as_ref(), &c.key)
            .await?
            .last()
            .map_or(Value::Null, last_drill_json);
        alerts.extend(ledger_alerts(&c, &cps));
        chains.push(v);
        last = Some(c.key);
    }
    alerts.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    alerts.truncate(ALERTS_KEEP);
    let next = if more { last } else { None };
    Ok((
        200,
        json!({"chains": chains, "alerts": alerts, "at": ts(Some(now)), "next": next}),
    ))
}

/// Every alert the ledger records at or after `since`, newest first, of one chain (by key)
/// or of all: what `ferry alerts` lists. One ledger query per chain.
pub async fn alerts_since(
    app: &App,
    since: OffsetDateTime,
    chain: Option<&str>,
) -> Result<Vec<Value>, FnError> {
    let chains = match chain {
        Some(key) => super::chain::load_chain(app, key)
            .await?
            .into_iter()
            .collect(),
        None => super::status::all_chains(app).await?,
    };
    let mut out = Vec::new();
    for c in &chains {
        let cps = copies(app, &c.key, None).await?;
        out.extend(ledger_alerts(c, &cps).into_iter().filter(|a| {
            a["at"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .is_some_and(|t| t >= since)
        }));
    }
    out.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    Ok(out)
}

/// Every chain in the ledger (one query over the chain rows).
pub async fn all_chains(app: &App) -> Result<Vec<Chain>, FnError> {
    super::status::all_chains(app).await
}

/// The newest `keep` copies of a chain as bars, oldest first: one bar per attempt (a
/// restarted copy's earlier attempts are bars of their own, outcome `restarted`), each from
/// request (or start) to end; a bar without `end` is still open.
pub fn timeline(copies: &[CopyRecord], keep: usize) -> Vec<Value> {
    let mut sorted: Vec<&CopyRecord> = copies.iter().collect();
    sorted.sort_by_key(|c| c.source_time);
    let skip = sorted.len().saturating_sub(keep);
    let mut bars = Vec::new();
    for c in sorted.into_iter().skip(skip) {
        let mut from = c.requested_at;
        for a in &c.earlier_attempts {
            bars.push(json!({
                "restorePoint": c.source_restore_point.name,
                "outcome": "restarted",
                "detail": a.outcome,
                "start": ts(Some(a.started_at.unwrap_or(from))),
                "end": ts(Some(a.ended_at)),
                "lastPercent": a.last_percent,
            }));
            from = a.ended_at;
        }
        bars.push(json!({
            "restorePoint": c.source_restore_point.name,
            "outcome": c.state.as_str(),
            "detail": c.reason,
            "start": ts(Some(from.min(c.started_at.unwrap_or(from)))),
            "end": ts(c.ended_at),
            "lastPercent": c.last_percent,
        }));
    }
    bars
}

/// When a copy's alert of `kind` was raised, as near as the ledger tells: alerts about an
/// end at the end, alerts about progress at the last reading.
fn alert_time(c: &CopyRecord, kind: AlertKind) -> OffsetDateTime {
    let reading = c.last_reading_at.or(c.started_at);
    match kind {
        AlertKind::CopyFailed | AlertKind::CopyExpired | AlertKind::CopyRejected => {
            c.ended_at.or(reading)
        }
        _ => reading.or(c.ended_at),
    }
    .unwrap_or(c.requested_at)
}

/// The alerts a chain's ledger records show, newest first: each copy's alert kinds, and
/// the RPO breach the chain is in (`rpo_alerted` holds when it began).
pub fn ledger_alerts(chain: &Chain, copies: &[CopyRecord]) -> Vec<Value> {
    let name = chain.source_collection.name.as_str();
    let region = chain.target_region.as_str();
    let mut out: Vec<(OffsetDateTime, Value)> = Vec::new();
    for c in copies {
        for kind in &c.alerts {
            let at = alert_time(c, *kind);
            let rp = &c.source_restore_point.name;
            let message = match &c.reason {
                Some(r) => format!("{} {rp} → {region}: {r}", kind.as_str()),
                None => format!("{} {rp} → {region}", kind.as_str()),
            };
            out.push((
                at,
                json!({
                    "kind": kind.as_str(),
                    "severity": kind.severity(),
                    "at": ts(Some(at)),
                    "chain": chain.key,
                    "sourceCollection": name,
                    "targetRegion": region,
                    "restorePoint": rp,
                    "message": message,
                }),
            ));
        }
    }
    if let Some(since) = chain
        .rpo_alerted
        .as_deref()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    {
        out.push((
            since,
            json!({
                "kind": AlertKind::RpoBreached.as_str(),
                "severity": AlertKind::RpoBreached.severity(),
                "at": ts(Some(since)),
                "chain": chain.key,
                "sourceCollection": name,
                "targetRegion": region,
                "restorePoint": Value::Null,
                "message": format!("RpoBreached {name} → {region}: no restore point newer than the objective in the target region"),
            }),
        ));
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0));
    out.into_iter().map(|(_, v)| v).collect()
}

/// The copy in flight's age and state, for the dashboard's "in flight" column.
pub fn in_flight_age_minutes(c: &CopyRecord, now: OffsetDateTime) -> Option<i64> {
    (!c.state.is_final() && c.state != CopyState::Pending)
        .then(|| (now - c.started_at.unwrap_or(c.requested_at)).whole_minutes())
}

/// What the dashboard's drill cell shows: `{outcome, at, restoreMinutes}`.
fn last_drill_json(d: &crate::ledger::drills::DrillRecord) -> Value {
    let at = d.ended.unwrap_or(d.started);
    json!({
        "outcome": d.state.as_str(),
        "at": at.format(&time::format_description::well_known::Rfc3339).ok(),
        "restoreMinutes": d.restore_seconds.map(|s| (s / 6.0).round() / 10.0),
        "problems": d.problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Attempt;
    use time::macros::datetime;
    use time::Duration;

    fn chain() -> Chain {
        let src: crate::ids::CollectionId = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc-a".parse().unwrap();
        let tgt: crate::ids::CollectionId = "/subscriptions/s1/resourceGroups/dr/providers/Microsoft.Compute/restorePointCollections/rpc-a-westus2".parse().unwrap();
        Chain {
            source_region: Some("eastus".into()),
            target_ready: true,
            ..Chain::new(src, "westus2", tgt, datetime!(2026-11-01 00:00 UTC))
        }
    }

    fn copy(c: &Chain, name: &str, day: i64) -> CopyRecord {
        let rp = c.source_collection.restore_point(name);
        let t = datetime!(2026-11-01 00:00 UTC) + Duration::days(day);
        CopyRecord::pending(c, &rp, t, t)
    }

    #[test]
    fn timeline_keeps_the_newest_and_splits_restarts() {
        let c = chain();
        let mut cs: Vec<CopyRecord> = (0..5).map(|d| copy(&c, &format!("rp{d}"), d)).collect();
        let t = cs[4].requested_at;
        cs[4].state = CopyState::Succeeded;
        cs[4].ended_at = Some(t + Duration::hours(5));
        cs[4].earlier_attempts.push(Attempt {
            started_at: Some(t),
            ended_at: t + Duration::hours(2),
            outcome: "failed".into(),
            last_reading_at: None,
            last_percent: Some(40.0),
            last_status: None,
        });
        let bars = timeline(&cs, 2);
        assert_eq!(bars.len(), 3, "{bars:?}");
        assert_eq!(bars[0]["restorePoint"], "rp3");
        assert_eq!(bars[0]["end"], Value::Null);
        assert_eq!(bars[1]["outcome"], "restarted");
        assert_eq!(bars[2]["outcome"], "Succeeded");
        assert_eq!(bars[2]["start"], "2026-11-05T02:00:00Z");
        assert_eq!(bars[2]["end"], "2026-11-05T05:00:00Z");
    }

    #[test]
    fn alerts_come_from_copies_and_the_rpo_breach_newest_first() {
        let mut c = chain();
        let mut a = copy(&c, "rp1", 1);
        a.state = CopyState::Failed;
        a.ended_at = Some(a.requested_at + Duration::hours(3));
        a.reason = Some("<b>x</b>".into());
        a.alerts.insert(AlertKind::CopyFailed);
        let b = copy(&c, "rp2", 2);
        c.rpo_alerted = Some("2026-11-04T00:00:00Z".into());
        let v = ledger_alerts(&c, &[a, b]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["kind"], "RpoBreached");
        assert_eq!(v[1]["kind"], "CopyFailed");
        assert_eq!(v[1]["at"], "2026-11-02T03:00:00Z");
        // Text stays text: escaping is the page's job, the data is carried as it is.
        assert!(v[1]["message"].as_str().unwrap().ends_with(": <b>x</b>"));
    }

    #[test]
    fn in_flight_age_only_for_open_started_copies() {
        let c = chain();
        let mut a = copy(&c, "rp1", 1);
        let now = a.requested_at + Duration::hours(2);
        assert_eq!(in_flight_age_minutes(&a, now), None);
        a.state = CopyState::InFlight;
        a.started_at = Some(a.requested_at + Duration::hours(1));
        assert_eq!(in_flight_age_minutes(&a, now), Some(60));
        a.state = CopyState::Succeeded;
        assert_eq!(in_flight_age_minutes(&a, now), None);
    }
}
