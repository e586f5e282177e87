//! What operators are told. Alerts go to the alerts topic (output binding) and to the logs.
//! Each alert has a stable `id` derived from what it is about, so the same alert raised twice
//! (a redelivered message, a second poller) can be recognised downstream.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    CopyFailed,
    CopyExpired,
    CopyRejected,
    CopyStalled,
    ExpiryApproaching,
    RpoBreached,
    BaseRestorePointDeleted,
    EventRejected,
    /// A restore drill could not restore, or restored wrongly, a chain's copy.
    DrillFailed,
    /// A chain's target nears the platform's restore point count limit and nothing prunes it.
    RestorePointLimitApproaching,
    /// A copy was refused for a platform count or frequency limit.
    RestorePointLimitReached,
    /// The default retention cap (no retention configured) started deleting old copies.
    RetentionCapDeleting,
}

impl AlertKind {
    pub const ALL: [AlertKind; 12] = [
        AlertKind::CopyFailed,
        AlertKind::CopyExpired,
        AlertKind::CopyRejected,
        AlertKind::CopyStalled,
        AlertKind::ExpiryApproaching,
        AlertKind::RpoBreached,
        AlertKind::BaseRestorePointDeleted,
        AlertKind::EventRejected,
        AlertKind::DrillFailed,
        AlertKind::RestorePointLimitApproaching,
        AlertKind::RestorePointLimitReached,
        AlertKind::RetentionCapDeleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::CopyFailed => "CopyFailed",
            AlertKind::CopyExpired => "CopyExpired",
            AlertKind::CopyRejected => "CopyRejected",
            AlertKind::CopyStalled => "CopyStalled",
            AlertKind::ExpiryApproaching => "ExpiryApproaching",
            AlertKind::RpoBreached => "RpoBreached",
            AlertKind::BaseRestorePointDeleted => "BaseRestorePointDeleted",
            AlertKind::EventRejected => "EventRejected",
            AlertKind::DrillFailed => "DrillFailed",
            AlertKind::RestorePointLimitApproaching => "RestorePointLimitApproaching",
            AlertKind::RestorePointLimitReached => "RestorePointLimitReached",
            AlertKind::RetentionCapDeleting => "RetentionCapDeleting",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn severity(self) -> Severity {
        match self {
            AlertKind::CopyFailed
            | AlertKind::CopyExpired
            | AlertKind::RpoBreached
            | AlertKind::DrillFailed => Severity::Error,
            AlertKind::CopyRejected
            | AlertKind::BaseRestorePointDeleted
            | AlertKind::EventRejected => Severity::Warning,
            AlertKind::CopyStalled | AlertKind::ExpiryApproaching => Severity::Warning,
            AlertKind::RestorePointLimitReached => Severity::Error,
            AlertKind::RestorePointLimitApproaching | AlertKind::RetentionCapDeleting => {
                Severity::Warning
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    Error,
    Warning,
}

/// The last progress reading ferry saw (the platform hides it on failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastReading {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub percent: Option<f64>,
    pub status: Option<String>,
}

/// One ended attempt of a copy that was restarted: how it ended and the last reading ferry
/// took of it (the platform keeps neither once the target is deleted). Kept in the copy's
/// ledger record and carried by its final alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: OffsetDateTime,
    /// `failed` (the platform said so) or `stalled` (no progress for longer than plausible).
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_reading_at: Option<OffsetDateTime>,
    pub last_percent: Option<f64>,
    pub last_status: Option<String>,
}

/// Read back by the alert webhook function from the alerts topic, so every optional field
/// has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Stable identity: the same condition on the same subject gives the same id.
    pub id: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_collection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_restore_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_restore_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_vm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_reading: Option<LastReading>,
    /// Earlier attempts of a copy that was restarted, each with its last reading.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub earlier_attempts: Vec<Attempt>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    pub suggested_action: String,
    /// Set on the one message that says the condition ended (a breach caught up, a stall
    /// moving again): same `id` as the alert that fired. Absent on every fired alert, so
    /// their JSON is as it always was.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option",
        default
    )]
    pub resolved_at: Option<OffsetDateTime>,
}

impl Alert {
    /// A new alert; `subject` is what it is about (a copy, a chain episode, an event id)
    /// and fixes the alert's id.
    /// The stable id of the alert of `kind` about `subject`: the same condition raised twice
    /// has the same id, so consumers (and Service Bus duplicate detection) can drop repeats.
    pub fn id_for(kind: AlertKind, subject: &str) -> String {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!(
                "ferry-alert|{}|{}",
                kind.as_str(),
                subject.to_ascii_lowercase()
            )
            .as_bytes(),
        )
        .to_string()
    }

    pub fn new(
        kind: AlertKind,
        subject: &str,
        message: impl Into<String>,
        now: OffsetDateTime,
    ) -> Alert {
        Alert {
            id: Alert::id_for(kind, subject),
            kind,
            severity: kind.severity(),
            message: message.into(),
            chain: None,
            source_collection: None,
            target_region: None,
            source_restore_point: None,
            target_restore_point: None,
            source_vm: None,
            reason: None,
            last_reading: None,
            earlier_attempts: Vec::new(),
            started_at: None,
            raised_at: now,
            suggested_action: default_action(kind).to_string(),
            resolved_at: None,
        }
    }

    /// The message that closes this alert's condition: same id, `resolved_at` set.
    pub fn resolved(mut self, at: OffsetDateTime) -> Self {
        self.resolved_at = Some(at);
        self.suggested_action = "The condition has ended; nothing to do.".into();
        self
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// `Fired` or `Resolved`, as the Common Alert Schema's `monitorCondition` says it.
    pub fn monitor_condition(&self) -> &'static str {
        if self.is_resolved() {
            "Resolved"
        } else {
            "Fired"
        }
    }

    /// The Service Bus `MessageId` (duplicate detection): the alert's id, and for its
    /// resolution the id with `-resolved`, so the two are never taken for each other.
    pub fn message_id(&self) -> String {
        if self.is_resolved() {
            format!("{}-resolved", self.id)
        } else {
            self.id.clone()
        }
    }

    pub fn action(mut self, a: impl Into<String>) -> Self {
        self.suggested_action = a.into();
        self
    }

    /// JSON text for the output binding. JSON text is safe from the host's base64 trap
    /// (a string output that happens to be valid base64 is decoded to bytes).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"kind\":\"{}\"}}", self.kind.as_str()))
    }

    /// One log line.
    pub fn log_line(&self) -> String {
        format!(
            "alert {} [{}]: {}",
            self.kind.as_str(),
            self.id,
            self.message
        )
    }
}

fn default_action(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::CopyFailed => "Check the source restore point and the target region's health; ferry moves on to the next restore point. The platform gives no error details: the last reading in this alert is the best evidence.",
        AlertKind::CopyExpired => "The copy ran past its maximum duration; ferry deleted the target restore point and moved on. Check inter-region bandwidth and disk churn.",
        AlertKind::CopyRejected => "See the reason: this restore point will not be copied.",
        AlertKind::CopyStalled => "No progress for a long time. Watch the next readings; if it stays stuck it will expire.",
        AlertKind::ExpiryApproaching => "The copy will be terminated soon. Consider whether the chain's RPO needs another plan.",
        AlertKind::RpoBreached => "The newest restore point safely in the target region is older than the RPO objective. Check the chain's copies and the source's restore point schedule.",
        AlertKind::BaseRestorePointDeleted => "The chain's base (full) restore point was deleted: the next copy will be a full copy and slow. Keep the first restore point of each collection.",
        AlertKind::EventRejected => "An input could not be understood and was dropped; see the reason. Check the Event Grid subscription and the message producer.",
        AlertKind::DrillFailed => "A restore drill of this chain's newest ready copy failed; see the reason. The copy may not restore: check the target region's disk restore points and the drill resource group. ferry deleted the drill's disks and drills the chain again next period.",
        AlertKind::RestorePointLimitApproaching => "The target collection nears the platform's 500 restore points and nothing deletes old copies: configure the target's retention (e.g. {\"maxAge\": \"P30D\"}) or delete old copies, or copies will be refused.",
        AlertKind::RestorePointLimitReached => "The platform refused a copy for its restore point count limit: until old restore points are deleted (configure the target's retention, or delete them), this chain's copies fail and its RPO grows.",
        AlertKind::RetentionCapDeleting => "No retention is configured for this target, so ferry keeps at most its default cap of copies and now deletes the oldest. Configure the target's retention to choose what is kept.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_kind_and_subject() {
        let t = time::macros::datetime!(2026-11-01 00:00 UTC);
        let a = Alert::new(AlertKind::CopyFailed, "chain/rp1", "x", t);
        let b = Alert::new(
            AlertKind::CopyFailed,
            "CHAIN/RP1",
            "y",
            t + time::Duration::hours(1),
        );
        let c = Alert::new(AlertKind::CopyExpired, "chain/rp1", "x", t);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn json_names_kind_and_drops_empty_fields() {
        let t = time::macros::datetime!(2026-11-01 00:00 UTC);
        let mut a = Alert::new(AlertKind::CopyRejected, "s", "m", t);
        a.reason = Some("CopyOfCopy".into());
        let v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        assert_eq!(v["kind"], "CopyRejected");
        assert_eq!(v["severity"], "Warning");
        assert_eq!(v["reason"], "CopyOfCopy");
        assert_eq!(v["raisedAt"], "2026-11-01T00:00:00Z");
        assert!(v.get("targetRestorePoint").is_none());
        assert!(!v["suggestedAction"].as_str().unwrap().is_empty());
    }

    #[test]
    fn a_resolution_keeps_the_id_and_reads_back() {
        let t = time::macros::datetime!(2026-11-01 00:00 UTC);
        let a = Alert::new(AlertKind::RpoBreached, "chain|since", "m", t);
        let fired_json = a.to_json();
        assert!(!fired_json.contains("resolvedAt"), "{fired_json}");
        let r = a.clone().resolved(t + time::Duration::hours(3));
        assert_eq!(r.id, a.id);
        assert_ne!(r.message_id(), a.message_id());
        assert_eq!(
            (a.monitor_condition(), r.monitor_condition()),
            ("Fired", "Resolved")
        );
        let back: Alert = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
        let back: Alert = serde_json::from_str(&fired_json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn kinds_round_trip() {
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
        }
    }
}
