//! ferry's alerts in Azure Monitor's Common Alert Schema: what action groups send to
//! webhooks, Logic Apps and ITSM connectors, so a receiver built for Azure Monitor alerts
//! takes ferry's without a special case.
//!
//! - `essentials.alertId`: ferry's stable alert id; a `Resolved` carries its `Fired`'s.
//! - `alertRule`: ferry's alert kind (`RpoBreached`, `CopyFailed`, …).
//! - `severity`: [`severity`], Sev1 (DR at risk) to Sev3 (bad input).
//! - `signalType` `Log` (ferry decides from its own records, not from a platform metric);
//!   `monitoringService` `restore-point-ferry`.
//! - `alertTargetIDs`: the source VM and the source restore point collection (ARM ids).
//! - `alertContext`: the alert as ferry sends it to its alerts topic, unchanged.

use crate::alerts::{Alert, AlertKind};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

pub const SCHEMA_ID: &str = "azureMonitorCommonAlertSchema";
pub const MONITORING_SERVICE: &str = "restore-point-ferry";

/// Azure Monitor severity of each kind: Sev0 critical … Sev4 verbose.
pub fn severity(kind: AlertKind) -> &'static str {
    match kind {
        // The copy is not in the target region, or the objective is missed: DR at risk.
        AlertKind::CopyFailed
        | AlertKind::CopyExpired
        | AlertKind::RpoBreached
        // Every copy of the chain is refused until restore points are deleted.
        | AlertKind::RestorePointLimitReached => "Sev1",
        // Something an operator should look at before it becomes a miss.
        AlertKind::CopyRejected
        | AlertKind::CopyStalled
        | AlertKind::ExpiryApproaching
        | AlertKind::BaseRestorePointDeleted
        // A copy that did not restore in a drill: recovery is unproven, the copy still exists.
        | AlertKind::DrillFailed
        | AlertKind::RestorePointLimitApproaching => "Sev2",
        // ferry doing what its default promises (deleting beyond the cap): worth knowing.
        AlertKind::RetentionCapDeleting => "Sev3",
        // An input ferry could not read: dropped, nothing at risk yet.
        AlertKind::EventRejected => "Sev3",
    }
}

fn is_arm_id(s: &str) -> bool {
    s.to_ascii_lowercase().starts_with("/subscriptions/")
}

fn time_text(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The Common Alert Schema payload of `alert` (fired, or resolved when `resolved_at`).
pub fn payload(alert: &Alert) -> Value {
    let targets: Vec<&str> = [
        alert.source_vm.as_deref(),
        alert.source_collection.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| is_arm_id(s))
    .collect();
    let items: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.rsplit('/').next())
        .collect();
    let mut essentials = json!({
        "alertId": alert.id,
        "alertRule": alert.kind.as_str(),
        "severity": severity(alert.kind),
        "signalType": "Log",
        "monitorCondition": alert.monitor_condition(),
        "monitoringService": MONITORING_SERVICE,
        "alertTargetIDs": targets,
        "configurationItems": items,
        "originAlertId": alert.id,
        "firedDateTime": time_text(alert.raised_at),
        "description": alert.message,
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    });
    if let Some(r) = alert.resolved_at {
        essentials["resolvedDateTime"] = Value::String(time_text(r));
    }
    let context = serde_json::to_value(alert).unwrap_or(Value::Null);
    json!({
        "schemaId": SCHEMA_ID,
        "data": {
            "essentials": essentials,
            "alertContext": context,
            "customProperties": Value::Null,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn alert() -> Alert {
        let mut a = Alert::new(
            AlertKind::RpoBreached,
            "chain|2026-11-02T00:00:00Z",
            "RPO objective 24 h breached",
            datetime!(2026-11-02 00:10 UTC),
        );
        a.source_collection = Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc-vm1".into());
        a.source_vm = Some(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
                .into(),
        );
        a.target_region = Some("westus2".into());
        a
    }

    #[test]
    fn every_kind_has_a_severity_from_sev0_to_sev4() {
        for k in AlertKind::ALL {
            assert!(
                ["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"].contains(&severity(k)),
                "{k:?}"
            );
        }
    }

    #[test]
    fn fired_and_resolved_share_the_alert_id() {
        let a = alert();
        let f = payload(&a);
        let r = payload(&a.clone().resolved(datetime!(2026-11-02 05:00 UTC)));
        let (fe, re) = (&f["data"]["essentials"], &r["data"]["essentials"]);
        assert_eq!(f["schemaId"], SCHEMA_ID);
        assert_eq!(fe["alertId"], re["alertId"]);
        assert_eq!(fe["monitorCondition"], "Fired");
        assert_eq!(re["monitorCondition"], "Resolved");
        assert!(fe.get("resolvedDateTime").is_none());
        assert_eq!(re["resolvedDateTime"], "2026-11-02T05:00:00Z");
        assert_eq!(fe["firedDateTime"], "2026-11-02T00:10:00Z");
        assert_eq!(fe["alertRule"], "RpoBreached");
        assert_eq!(fe["severity"], "Sev1");
        assert_eq!(fe["alertTargetIDs"].as_array().unwrap().len(), 2);
        assert_eq!(fe["configurationItems"], json!(["vm1", "rpc-vm1"]));
        // ferry's own alert, as on the topic.
        assert_eq!(f["data"]["alertContext"], serde_json::to_value(&a).unwrap());
    }

    #[test]
    fn a_vm_given_by_name_only_is_not_a_target_id() {
        let mut a = alert();
        a.source_vm = Some("vm1".into());
        let p = payload(&a);
        assert_eq!(
            p["data"]["essentials"]["alertTargetIDs"],
            json!([a.source_collection.clone().unwrap()])
        );
    }
}
