//! The body of the PUT that starts a cross-region copy of a restore point, with the
//! customer-managed-key mapping of its disks.

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::common::{Extra, ResourceRef};
use super::restore_point::{
    RestorePoint, RestorePointEncryption, ENCRYPTION_CUSTOMER_KEY,
    ENCRYPTION_PLATFORM_AND_CUSTOMER_KEYS,
};
use crate::ids::{DiskEncryptionSetId, DiskRestorePointId, RestorePointId};

/// Body of the PUT that starts a cross-region copy into a target collection:
/// `{"properties":{"sourceRestorePoint":{"id": <source restore point>}}}`
/// (example `RestorePoint_Copy_BetweenRegions.json`).
///
/// Customer-managed keys: a source encrypted with CMK must be encrypted with CMK in the target
/// region, with a disk encryption set *of the target region*. The restore point model has
/// exactly one writable place for that: per disk,
/// `properties.sourceMetadata.storageProfile.{osDisk | dataDisks[]}.diskRestorePoint` =
/// `{"sourceDiskRestorePoint":{"id": <source disk restore point>},
///   "encryption":{"diskEncryptionSet":{"id": <target DES>},"type": ...}}`.
/// Source: swagger `restorePoint.json` (2025-04-01): `DiskRestorePointAttributes` has
/// writable `encryption` (`RestorePointEncryption`: `diskEncryptionSet`, `type`) and
/// `sourceDiskRestorePoint`, while its `id` and the disks' `name`/`lun`/`caching` are
/// `readOnly`, so a disk in a request is identified by `sourceDiskRestorePoint`; the ARM
/// template reference for `restorePointCollections/restorePoints` (learn.microsoft.com)
/// lists the same writable shape. Nothing read-only is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyRequest {
    pub properties: CopyRequestProperties,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyRequestProperties {
    pub source_restore_point: ResourceRef,
    pub source_metadata: Option<CopySourceMetadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopySourceMetadata {
    pub storage_profile: CopyStorageProfile,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyStorageProfile {
    pub os_disk: Option<CopyDisk>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_disks: Vec<CopyDisk>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyDisk {
    pub disk_restore_point: CopyDiskRestorePoint,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyDiskRestorePoint {
    pub source_disk_restore_point: ResourceRef,
    pub encryption: RestorePointEncryption,
}

/// A CMK-encrypted source disk with no target-region disk encryption set to copy it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyEncryptionError {
    #[error("disk {disk} is encrypted with disk encryption set {source_des} but no target-region disk encryption set is mapped for it")]
    MissingMapping { disk: String, source_des: String },
    #[error("disk {disk} is encrypted with a customer-managed key but the source restore point does not name its disk encryption set")]
    UnknownSourceDes { disk: String },
    #[error("disk {disk} has no disk restore point id in the source restore point")]
    NoDiskRestorePoint { disk: String },
}

impl CopyRequest {
    /// A plain copy (platform-managed keys): only `sourceRestorePoint`.
    pub fn new(source: &RestorePointId) -> Self {
        CopyRequest {
            properties: CopyRequestProperties {
                source_restore_point: ResourceRef::new(source.to_string()),
                source_metadata: None,
            },
        }
    }

    fn disk_entry(
        source_disk_restore_point: &DiskRestorePointId,
        target_des: &DiskEncryptionSetId,
        encryption_type: Option<&str>,
    ) -> CopyDisk {
        CopyDisk {
            disk_restore_point: CopyDiskRestorePoint {
                source_disk_restore_point: ResourceRef::new(source_disk_restore_point.to_string()),
                encryption: RestorePointEncryption {
                    disk_encryption_set: Some(ResourceRef::new(target_des.to_string())),
                    encryption_type: Some(
                        encryption_type
                            .unwrap_or(ENCRYPTION_CUSTOMER_KEY)
                            .to_string(),
                    ),
                    extra: Extra::new(),
                },
            },
        }
    }

    fn storage_mut(&mut self) -> &mut CopyStorageProfile {
        &mut self
            .properties
            .source_metadata
            .get_or_insert_with(|| CopySourceMetadata {
                storage_profile: CopyStorageProfile::default(),
            })
            .storage_profile
    }

    /// Encrypt the copy of the OS disk with `target_des` (a DES in the target region).
    pub fn with_os_disk_encryption(
        mut self,
        source_disk_restore_point: &DiskRestorePointId,
        target_des: &DiskEncryptionSetId,
        encryption_type: Option<&str>,
    ) -> Self {
        self.storage_mut().os_disk = Some(Self::disk_entry(
            source_disk_restore_point,
            target_des,
            encryption_type,
        ));
        self
    }

    /// Encrypt the copy of one data disk with `target_des` (a DES in the target region).
    pub fn with_data_disk_encryption(
        mut self,
        source_disk_restore_point: &DiskRestorePointId,
        target_des: &DiskEncryptionSetId,
        encryption_type: Option<&str>,
    ) -> Self {
        self.storage_mut().data_disks.push(Self::disk_entry(
            source_disk_restore_point,
            target_des,
            encryption_type,
        ));
        self
    }

    /// The copy request for `source`, with a target DES for every CMK-encrypted disk, chosen
    /// by `target_des_for(source DES)`. Disks with platform keys get no entry. Fails naming
    /// the disk when a CMK disk cannot be mapped.
    pub fn for_source(
        source_id: &RestorePointId,
        source: &RestorePoint,
        mut target_des_for: impl FnMut(&str) -> Option<DiskEncryptionSetId>,
    ) -> Result<Self, CopyEncryptionError> {
        let mut req = CopyRequest::new(source_id);
        for disk in source.disks() {
            if !disk.is_customer_key() {
                continue;
            }
            let label = disk
                .name
                .map(str::to_string)
                .or_else(|| disk.lun.map(|l| format!("lun {l}")))
                .unwrap_or_else(|| if disk.is_os { "os disk" } else { "data disk" }.to_string());
            let source_des = disk.disk_encryption_set_id.ok_or_else(|| {
                CopyEncryptionError::UnknownSourceDes {
                    disk: label.clone(),
                }
            })?;
            let target =
                target_des_for(source_des).ok_or_else(|| CopyEncryptionError::MissingMapping {
                    disk: label.clone(),
                    source_des: source_des.to_string(),
                })?;
            let drp: DiskRestorePointId =
                disk.disk_restore_point_id
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| CopyEncryptionError::NoDiskRestorePoint {
                        disk: label.clone(),
                    })?;
            // Keep double encryption if the source had it; otherwise plain CMK.
            let ty = disk
                .encryption_type
                .filter(|t| t.eq_ignore_ascii_case(ENCRYPTION_PLATFORM_AND_CUSTOMER_KEYS));
            req = if disk.is_os {
                req.with_os_disk_encryption(&drp, &target, ty)
            } else {
                req.with_data_disk_encryption(&drp, &target, ty)
            };
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::super::restore_point::tests::{cmk_source, SRC};
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_copy_request_is_minimal() {
        let id: RestorePointId = SRC.parse().unwrap();
        let v = serde_json::to_value(CopyRequest::new(&id)).unwrap();
        assert_eq!(v, json!({"properties":{"sourceRestorePoint":{"id": SRC}}}));
    }

    #[test]
    fn cmk_copy_request_maps_each_cmk_disk() {
        let id: RestorePointId = SRC.parse().unwrap();
        let src = cmk_source();
        let target: DiskEncryptionSetId =
            "/subscriptions/s1/resourceGroups/rg-dr/providers/Microsoft.Compute/diskEncryptionSets/des-west"
                .parse()
                .unwrap();
        let req = CopyRequest::for_source(&id, &src, |_| Some(target.clone())).unwrap();
        let v = serde_json::to_value(&req).unwrap();
        let sp = &v["properties"]["sourceMetadata"]["storageProfile"];
        assert_eq!(
            sp["osDisk"]["diskRestorePoint"]["sourceDiskRestorePoint"]["id"],
            json!(format!("{SRC}/diskRestorePoints/os_1"))
        );
        assert_eq!(
            sp["osDisk"]["diskRestorePoint"]["encryption"],
            json!({"diskEncryptionSet": {"id": target.to_string()}, "type": "EncryptionAtRestWithCustomerKey"})
        );
        // d0 has platform keys: no entry; d1 keeps double encryption.
        let data = sp["dataDisks"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(
            data[0]["diskRestorePoint"]["encryption"]["type"],
            json!("EncryptionAtRestWithPlatformAndCustomerKeys")
        );
        // Nothing read-only (ids of the target disk restore points, names, luns) is sent.
        let text = v.to_string();
        assert!(!text.contains("\"name\"") && !text.contains("\"lun\""));
        assert_eq!(v["properties"]["sourceRestorePoint"]["id"], json!(SRC));
    }

    #[test]
    fn cmk_copy_request_fails_without_mapping() {
        let id: RestorePointId = SRC.parse().unwrap();
        let err = CopyRequest::for_source(&id, &cmk_source(), |_| None).unwrap_err();
        assert!(
            matches!(err, CopyEncryptionError::MissingMapping { ref disk, .. } if disk == "os")
        );
        assert!(err.to_string().contains("des-east"));
    }
}
