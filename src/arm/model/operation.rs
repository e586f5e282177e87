//! Long-running operations: the body of an `Azure-AsyncOperation` status URL.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_with::skip_serializing_none;
use time::OffsetDateTime;

use super::common::{compact_number, lenient_number, Extra};
use super::error_body::ArmErrorDetail;

/// State of a long-running operation (`Azure-AsyncOperation` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
    /// Anything else ARM may report; treated as not finished.
    Other(String),
}

impl OperationState {
    pub fn as_str(&self) -> &str {
        match self {
            OperationState::InProgress => "InProgress",
            OperationState::Succeeded => "Succeeded",
            OperationState::Failed => "Failed",
            OperationState::Canceled => "Canceled",
            OperationState::Other(s) => s,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            OperationState::Succeeded | OperationState::Failed | OperationState::Canceled
        )
    }
}

impl Serialize for OperationState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OperationState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.to_ascii_lowercase().as_str() {
            "inprogress" => OperationState::InProgress,
            "succeeded" => OperationState::Succeeded,
            "failed" => OperationState::Failed,
            "canceled" | "cancelled" => OperationState::Canceled,
            _ => OperationState::Other(s),
        })
    }
}

/// Body of an `Azure-AsyncOperation` status URL.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    pub name: Option<String>,
    pub status: OperationState,
    pub error: Option<ArmErrorDetail>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start_time: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end_time: Option<OffsetDateTime>,
    #[serde(
        default,
        deserialize_with = "lenient_number",
        serialize_with = "compact_number"
    )]
    pub percent_complete: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operation_status_states() {
        let s: OperationStatus = serde_json::from_value(json!({
            "name": "op", "status": "InProgress", "startTime": "2026-11-01T10:00:00.123+00:00"
        }))
        .unwrap();
        assert_eq!(s.status, OperationState::InProgress);
        assert!(!s.status.is_terminal());
        let f: OperationStatus = serde_json::from_value(json!({
            "status": "Failed", "error": {"code": "Boom", "message": "it broke"}
        }))
        .unwrap();
        assert!(f.status.is_terminal());
        assert_eq!(f.error.unwrap().code, "Boom");
        let o: OperationStatus = serde_json::from_value(json!({"status": "Deleting"})).unwrap();
        assert_eq!(o.status, OperationState::Other("Deleting".into()));
        assert!(serde_json::from_value::<OperationStatus>(json!({"name": "x"})).is_err());
    }
}
