//! The demo's alert webhook: a local endpoint in place of an action group or Logic App,
//! receiving what `alert-webhook` sends (`FERRY_ALERT_WEBHOOK`), and the report on it.
//! It judges the payloads with its own reading of the Common Alert Schema (the fields of
//! Microsoft's sample payload), not with the product's builder.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use warp::Filter;

/// The secret the demo's webhook URL carries in its query string, as a Logic App's `sig`.
pub(super) const SECRET: &str = "demo-webhook-secret";

#[derive(Clone, Default)]
pub(super) struct Capture {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Capture {
    /// Serves `POST /alerts?sig=…` on loopback; answers 202 with the right secret, 401
    /// without it.
    pub(super) async fn start() -> std::io::Result<(Capture, String)> {
        let cap = Capture::default();
        let store = cap.bodies.clone();
        let route = warp::post()
            .and(warp::path("alerts"))
            .and(warp::path::end())
            .and(warp::query::<BTreeMap<String, String>>())
            .and(warp::body::json::<Value>())
            .map(move |q: BTreeMap<String, String>, body: Value| {
                if q.get("sig").map(String::as_str) != Some(SECRET) {
                    return warp::http::StatusCode::UNAUTHORIZED;
                }
                store.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                warp::http::StatusCode::ACCEPTED
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Ok((cap, format!("http://{addr}/alerts?sig={SECRET}")))
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What the webhook received, against what the alerts topic carried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookReport {
    pub received: usize,
    /// Payloads that are not a Common Alert Schema alert (must be 0).
    pub invalid: usize,
    pub fired: usize,
    pub resolved: usize,
    /// The same (alertId, monitorCondition) received more than once (must be 0).
    pub duplicates: usize,
    /// Alerts or resolutions on the topic that never reached the webhook (must be 0).
    pub missing: usize,
    /// RPO breaches that ended (the ledger no longer holds them open).
    pub rpo_breaches_cleared: usize,
    /// Of those, each followed by exactly one `Resolved` with its alert id (must equal
    /// `rpo_breaches_cleared` unless the handler process was killed, see `broken`).
    pub rpo_resolved_once: usize,
    /// Of those, each followed by at least one `Resolved` (must equal
    /// `rpo_breaches_cleared`).
    pub rpo_resolved: usize,
    /// A `Resolved` without a `Fired` before it (must be 0).
    pub resolved_without_fired: usize,
}

impl WebhookReport {
    /// The webhook's invariants. Delivery to an HTTP receiver is at least once: a handler
    /// process killed between its POST and completing the message gets the message again
    /// (`killed`), so duplicates are then allowed (receivers dedupe by alert id and
    /// condition); otherwise every alert and resolution arrives exactly once.
    pub(super) fn broken(&self, killed: bool) -> Vec<String> {
        let mut b = Vec::new();
        for (what, n) in [
            ("webhook.invalid", self.invalid),
            (
                "webhook.duplicates",
                if killed { 0 } else { self.duplicates },
            ),
            ("webhook.missing", self.missing),
            (
                "webhook.resolved_without_fired",
                self.resolved_without_fired,
            ),
        ] {
            if n != 0 {
                b.push(format!("{what} = {n}"));
            }
        }
        if self.rpo_resolved != self.rpo_breaches_cleared {
            b.push(format!(
                "webhook: {} RPO breaches cleared, {} resolved",
                self.rpo_breaches_cleared, self.rpo_resolved
            ));
        }
        if !killed && self.rpo_resolved_once != self.rpo_breaches_cleared {
            b.push(format!(
                "webhook: {} RPO breaches cleared, {} resolved exactly once",
                self.rpo_breaches_cleared, self.rpo_resolved_once
            ));
        }
        b
    }
}

/// Whether `p` is a Common Alert Schema alert as Microsoft's sample shows one.
fn valid(p: &Value) -> bool {
    let e = &p["data"]["essentials"];
    let s = |k: &str| e[k].as_str().is_some();
    let condition = e["monitorCondition"].as_str().unwrap_or_default();
    p["schemaId"] == "azureMonitorCommonAlertSchema"
        && [
            "alertId",
            "alertRule",
            "severity",
            "signalType",
            "monitoringService",
            "originAlertId",
            "firedDateTime",
            "description",
            "essentialsVersion",
            "alertContextVersion",
        ]
        .iter()
        .all(|k| s(k))
        && e["alertTargetIDs"].is_array()
        && e["configurationItems"].is_array()
        && ["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]
            .contains(&e["severity"].as_str().unwrap_or_default())
        && match condition {
            "Fired" => e.get("resolvedDateTime").is_none(),
            "Resolved" => s("resolvedDateTime"),
            _ => false,
        }
        && p["data"]["alertContext"].is_object()
}

/// `topic` = the alerts topic's messages (JSON bodies); `open_rpo` = the RPO breach alert
/// ids the ledger still holds open at the end.
pub(super) fn report(cap: &Capture, topic: &[Value], open_rpo: &BTreeSet<String>) -> WebhookReport {
    let bodies = cap.bodies();
    let mut r = WebhookReport {
        received: bodies.len(),
        ..WebhookReport::default()
    };
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut fired_before: BTreeSet<String> = BTreeSet::new();
    let mut rpo_resolutions: BTreeMap<String, usize> = BTreeMap::new();
    for p in &bodies {
        if !valid(p) {
            r.invalid += 1;
            continue;
        }
        let e = &p["data"]["essentials"];
        let id = e["alertId"].as_str().unwrap_or_default().to_string();
        let condition = e["monitorCondition"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *seen.entry((id.clone(), condition.clone())).or_default() += 1;
        if condition == "Fired" {
            r.fired += 1;
            fired_before.insert(id);
        } else {
            r.resolved += 1;
            if !fired_before.contains(&id) {
                r.resolved_without_fired += 1;
            }
            if e["alertRule"] == "RpoBreached" {
                *rpo_resolutions.entry(id).or_default() += 1;
            }
        }
    }
    r.duplicates = seen.values().map(|n| n - 1).sum();
    let mut rpo_fired: BTreeSet<String> = BTreeSet::new();
    for a in topic {
        let Some(id) = a["id"].as_str() else { continue };
        let condition = if a.get("resolvedAt").is_some() {
            "Resolved"
        } else {
            "Fired"
        };
        if !seen.contains_key(&(id.to_string(), condition.to_string())) {
            r.missing += 1;
        }
        if a["kind"] == "RpoBreached" && condition == "Fired" {
            rpo_fired.insert(id.to_string());
        }
    }
    let cleared: Vec<&String> = rpo_fired
        .iter()
        .filter(|id| !open_rpo.contains(*id))
        .collect();
    r.rpo_breaches_cleared = cleared.len();
    r.rpo_resolved_once = cleared
        .iter()
        .filter(|id| rpo_resolutions.get(**id) == Some(&1))
        .count();
    r.rpo_resolved = cleared
        .iter()
        .filter(|id| rpo_resolutions.contains_key(**id))
        .count();
    r
}
