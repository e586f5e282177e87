//! `Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints` (Disk RP): the
//! disk restore point, its list page, and the SAS answer of `beginGetAccess`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use time::OffsetDateTime;

use super::common::{compact_number, lenient_number, Extra};

/// `Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskRestorePoint {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub properties: Option<DiskRestorePointProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointProperties {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time_created: Option<OffsetDateTime>,
    pub source_resource_id: Option<String>,
    pub os_type: Option<String>,
    pub hyper_v_generation: Option<String>,
    pub family_id: Option<String>,
    pub source_unique_id: Option<String>,
    /// `AllowAll`, `AllowPrivate` (private links: not copyable), `DenyAll`.
    pub network_access_policy: Option<String>,
    pub disk_access_id: Option<String>,
    pub public_network_access: Option<String>,
    pub replication_state: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_number",
        serialize_with = "compact_number"
    )]
    pub completion_percent: Option<f64>,
    pub source_resource_location: Option<String>,
    pub encryption: Option<DiskEncryption>,
    pub security_profile: Option<DiskSecurityProfile>,
    pub logical_sector_size: Option<i64>,
    pub snapshot_access_state: Option<String>,
    pub supports_hibernation: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskEncryption {
    pub disk_encryption_set_id: Option<String>,
    #[serde(rename = "type")]
    pub encryption_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskSecurityProfile {
    pub security_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl DiskRestorePoint {
    /// Whether the disk restore point is reachable only over a private link (not copyable).
    pub fn uses_private_link(&self) -> bool {
        self.properties.as_ref().is_some_and(|p| {
            p.disk_access_id.as_deref().is_some_and(|s| !s.is_empty())
                || p.network_access_policy
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case("AllowPrivate"))
        })
    }

    pub fn completion_percent(&self) -> Option<f64> {
        self.properties.as_ref()?.completion_percent
    }

    pub fn replication_state(&self) -> Option<&str> {
        self.properties.as_ref()?.replication_state.as_deref()
    }
}

/// One page of `GET .../diskRestorePoints`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointList {
    pub value: Vec<DiskRestorePoint>,
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Answer of a disk restore point's `beginGetAccess`: a read SAS for the snapshot. The SAS is
/// a credential, so `Debug` hides it.
#[skip_serializing_none]
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccessUri {
    #[serde(rename = "accessSAS")]
    pub access_sas: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl std::fmt::Debug for AccessUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessUri")
            .field(
                "access_sas",
                &self.access_sas.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_link_detection() {
        let d: DiskRestorePoint = serde_json::from_value(json!({
            "properties": {"networkAccessPolicy": "AllowPrivate"}
        }))
        .unwrap();
        assert!(d.uses_private_link());
        let d: DiskRestorePoint = serde_json::from_value(json!({
            "properties": {"networkAccessPolicy": "AllowAll"}
        }))
        .unwrap();
        assert!(!d.uses_private_link());
    }
}
