//! Serde types for the restore point surface of ARM (Compute api 2025-11-01, Disk RP 2026-03-02),
//! shaped after the official examples and swagger in Azure/azure-rest-api-specs (paths in
//! docs/platform.md, "Wire references").
//!
//! ARM adds properties over time, so nothing here denies unknown fields: every struct keeps
//! what it does not model in `extra`, which also makes a deserialize/serialize round trip
//! lossless (the emulator and the tests rely on that). Everything ARM may omit is an
//! `Option` and is left out when serializing, so request bodies carry only what we set.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids::{DiskEncryptionSetId, DiskRestorePointId, RestorePointId};

type Extra = Map<String, Value>;

/// `{"id": ...}`: ApiEntityReference / SubResource in the swagger.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceRef {
    pub fn new(id: impl Into<String>) -> Self {
        ResourceRef {
            id: Some(id.into()),
            extra: Extra::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Restore point collections

/// `Microsoft.Compute/restorePointCollections`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<RestorePointCollectionProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CollectionSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_collection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_points: Option<Vec<RestorePoint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_access: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The resource a collection was created from: a VM, or (for a copy target) the source
/// collection. `location` is read-only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CollectionSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl RestorePointCollection {
    pub fn provisioning_state(&self) -> Option<&str> {
        self.properties.as_ref()?.provisioning_state.as_deref()
    }

    /// `properties.source.id`: the VM, or the source collection of a copy target.
    pub fn source_id(&self) -> Option<&str> {
        self.properties.as_ref()?.source.as_ref()?.id.as_deref()
    }

    /// `properties.source.location`: where the source lives.
    pub fn source_location(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .source
            .as_ref()?
            .location
            .as_deref()
    }

    /// The restore points, present only when fetched with `$expand=restorePoints`.
    pub fn restore_points(&self) -> &[RestorePoint] {
        self.properties
            .as_ref()
            .and_then(|p| p.restore_points.as_deref())
            .unwrap_or(&[])
    }
}

/// Body of the PUT that creates a restore point collection in a target region for
/// cross-region copies: `{"location", "properties":{"source":{"id": <source collection>}},
/// "tags"}` (learn.microsoft.com, "Cross-region copy of VM restore points", and the example
/// `RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCollectionRequest {
    pub location: String,
    pub properties: CreateCollectionProperties,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCollectionProperties {
    pub source: ResourceRef,
}

impl CreateCollectionRequest {
    pub fn new(
        location: impl Into<String>,
        source_collection_id: impl Into<String>,
        tags: BTreeMap<String, String>,
    ) -> Self {
        CreateCollectionRequest {
            location: location.into(),
            properties: CreateCollectionProperties {
                source: ResourceRef::new(source_collection_id),
            },
            tags,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Restore points

/// `Microsoft.Compute/restorePointCollections/restorePoints`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RestorePoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<RestorePointProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_disks: Option<Vec<ResourceRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_metadata: Option<SourceMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency_mode: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub time_created: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_restore_point: Option<ResourceRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_view: Option<RestorePointInstanceView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_access_duration_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_access_status: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The VM as captured when the restore point was taken (a subset of the VM model; the
/// profiles ferry does not look into stay in `extra`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_profile: Option<HardwareProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<SourceStorageProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<SecurityProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyper_v_generation: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfile {
    /// `TrustedLaunch`, `ConfidentialVM`, ... (absent for standard VMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_at_host: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStorageProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_disk: Option<SourceDisk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_disks: Option<Vec<SourceDisk>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_controller_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An OS or data disk of the source VM (RestorePointSourceVMOSDisk / ...DataDisk).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDisk {
    /// Data disks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lun: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// OS disk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<String>,
    #[serde(
        rename = "diskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_size_gb: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_disk: Option<ManagedDisk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_restore_point: Option<DiskRestorePointAttributes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_accelerator_enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDisk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_set: Option<ResourceRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `diskRestorePoint` of a source disk. `id` is read-only; `encryption` and
/// `sourceDiskRestorePoint` are writable (they are what a CMK copy sends).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<RestorePointEncryption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_disk_restore_point: Option<ResourceRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointEncryption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_set: Option<ResourceRef>,
    /// `EncryptionAtRestWithPlatformKey`, `EncryptionAtRestWithCustomerKey`,
    /// `EncryptionAtRestWithPlatformAndCustomerKeys`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `EncryptionAtRestWithCustomerKey`: the default type for a CMK-encrypted copy.
pub const ENCRYPTION_CUSTOMER_KEY: &str = "EncryptionAtRestWithCustomerKey";
/// `EncryptionAtRestWithPlatformAndCustomerKeys`: double encryption, also customer-keyed.
pub const ENCRYPTION_PLATFORM_AND_CUSTOMER_KEYS: &str =
    "EncryptionAtRestWithPlatformAndCustomerKeys";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointInstanceView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_restore_points: Option<Vec<DiskRestorePointInstanceView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<InstanceViewStatus>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointInstanceView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<DiskRestorePointReplication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_access_state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `replicationStatus` of a disk restore point in a restore point's instance view: the only
/// place a cross-region copy's completion shows (`provisioningState: Succeeded` on the
/// restore point only means the copy started).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointReplication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InstanceViewStatus>,
    /// Swagger says int32; the docs' own sample shows a string, so both are accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_number",
        serialize_with = "compact_number"
    )]
    pub completion_percent: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl DiskRestorePointReplication {
    fn code(&self) -> Option<&str> {
        self.status.as_ref()?.code.as_deref()
    }

    /// `ReplicationState/succeeded` (compared ignoring case).
    pub fn is_succeeded(&self) -> bool {
        self.code()
            .is_some_and(|c| c.eq_ignore_ascii_case("ReplicationState/succeeded"))
    }

    /// `ReplicationState/failed` (compared ignoring case).
    pub fn is_failed(&self) -> bool {
        self.code()
            .is_some_and(|c| c.eq_ignore_ascii_case("ReplicationState/failed"))
    }

    /// Completion percentage, clamped to 0..=100 and rounded down.
    pub fn percent(&self) -> Option<u8> {
        self.completion_percent
            .filter(|p| p.is_finite())
            .map(|p| p.clamp(0.0, 100.0).floor() as u8)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceViewStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub time: Option<OffsetDateTime>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What the poller reads of a copy in flight: a restore point GET with
/// `$expand=instanceView`, decoded down to its disks' replication status and nothing else.
/// A sweep reads one per copy in flight; [`RestorePoint`] keeps every property it does not
/// model (`extra`, serde's `flatten`, which buffers the whole document first) and costs
/// several times more to decode. Read-only: nothing is re-serialized from it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct RestorePointProgress {
    #[serde(default)]
    pub properties: Option<ProgressProperties>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressProperties {
    #[serde(default)]
    pub instance_view: Option<ProgressInstanceView>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressInstanceView {
    #[serde(default)]
    pub disk_restore_points: Option<Vec<DiskReplicationView>>,
}

/// One entry of `instanceView.diskRestorePoints`, as [`DiskRestorePointInstanceView`] reads
/// it: id and replication status.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskReplicationView {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub replication_status: Option<ReplicationView>,
}

/// `replicationStatus`, as [`DiskRestorePointReplication`] reads it (same lenient percent).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationView {
    #[serde(default)]
    pub status: Option<StatusCode>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub completion_percent: Option<f64>,
}

/// The `code` of an instance view status.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct StatusCode {
    #[serde(default)]
    pub code: Option<String>,
}

impl RestorePointProgress {
    /// `instanceView.diskRestorePoints`.
    pub fn disks(&self) -> &[DiskReplicationView] {
        self.properties
            .as_ref()
            .and_then(|p| p.instance_view.as_ref())
            .and_then(|iv| iv.disk_restore_points.as_deref())
            .unwrap_or(&[])
    }
}

/// What ingest reads of a restore point: whether it is a copy, and of which restore point
/// (`properties.sourceRestorePoint.id`). The same GET as [`RestorePoint`], decoded without
/// the rest of the document (ingest reads one per restore point event).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct RestorePointOrigin {
    #[serde(default)]
    pub properties: Option<OriginProperties>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginProperties {
    #[serde(default)]
    pub source_restore_point: Option<IdRef>,
}

/// `{"id": ...}`, read-only (see [`ResourceRef`] for the full one).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct IdRef {
    #[serde(default)]
    pub id: Option<String>,
}

impl RestorePointOrigin {
    /// As [`RestorePoint::source_restore_point_id`].
    pub fn source_restore_point_id(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .source_restore_point
            .as_ref()?
            .id
            .as_deref()
    }

    /// As [`RestorePoint::is_copy`].
    pub fn is_copy(&self) -> bool {
        self.source_restore_point_id().is_some()
    }
}

/// One disk of a restore point, flattened for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskRef<'a> {
    pub is_os: bool,
    pub lun: Option<i32>,
    pub name: Option<&'a str>,
    pub managed_disk_id: Option<&'a str>,
    /// The disk restore point's own encryption set if reported, else the managed disk's.
    pub disk_encryption_set_id: Option<&'a str>,
    pub encryption_type: Option<&'a str>,
    pub disk_restore_point_id: Option<&'a str>,
}

impl<'a> DiskRef<'a> {
    fn from_disk(disk: &'a SourceDisk, is_os: bool) -> Self {
        let drp = disk.disk_restore_point.as_ref();
        let drp_enc = drp.and_then(|d| d.encryption.as_ref());
        let drp_des = drp_enc
            .and_then(|e| e.disk_encryption_set.as_ref())
            .and_then(|r| r.id.as_deref());
        let md = disk.managed_disk.as_ref();
        let md_des = md
            .and_then(|m| m.disk_encryption_set.as_ref())
            .and_then(|r| r.id.as_deref());
        DiskRef {
            is_os,
            lun: disk.lun,
            name: disk.name.as_deref(),
            managed_disk_id: md.and_then(|m| m.id.as_deref()),
            disk_encryption_set_id: drp_des.or(md_des),
            encryption_type: drp_enc.and_then(|e| e.encryption_type.as_deref()),
            disk_restore_point_id: drp.and_then(|d| d.id.as_deref()),
        }
    }

    /// Whether the disk is encrypted with a customer-managed key (a DES is named, or the
    /// type says so).
    pub fn is_customer_key(&self) -> bool {
        self.disk_encryption_set_id.is_some()
            || self.encryption_type.is_some_and(|t| {
                t.eq_ignore_ascii_case(ENCRYPTION_CUSTOMER_KEY)
                    || t.eq_ignore_ascii_case(ENCRYPTION_PLATFORM_AND_CUSTOMER_KEYS)
            })
    }
}

impl RestorePoint {
    fn props(&self) -> Option<&RestorePointProperties> {
        self.properties.as_ref()
    }

    /// True when this restore point is itself a cross-region copy (`sourceRestorePoint` set).
    /// Copies of copies are not supported by the platform.
    pub fn is_copy(&self) -> bool {
        self.source_restore_point_id().is_some()
    }

    pub fn source_restore_point_id(&self) -> Option<&str> {
        self.props()?.source_restore_point.as_ref()?.id.as_deref()
    }

    /// `sourceMetadata.securityProfile.securityType` (`ConfidentialVM` cannot be copied).
    pub fn security_type(&self) -> Option<&str> {
        self.props()?
            .source_metadata
            .as_ref()?
            .security_profile
            .as_ref()?
            .security_type
            .as_deref()
    }

    /// True for confidential VMs, which cross-region copy does not support.
    pub fn is_confidential_vm(&self) -> bool {
        self.security_type()
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("confidentialvm"))
    }

    pub fn time_created(&self) -> Option<OffsetDateTime> {
        self.props()?.time_created
    }

    pub fn provisioning_state(&self) -> Option<&str> {
        self.props()?.provisioning_state.as_deref()
    }

    /// `sourceMetadata.location`: the region of the VM the restore point was taken from.
    pub fn source_location(&self) -> Option<&str> {
        self.props()?.source_metadata.as_ref()?.location.as_deref()
    }

    pub fn vm_unique_id(&self) -> Option<&str> {
        self.props()?.source_metadata.as_ref()?.vm_id.as_deref()
    }

    fn storage(&self) -> Option<&SourceStorageProfile> {
        self.props()?
            .source_metadata
            .as_ref()?
            .storage_profile
            .as_ref()
    }

    /// The OS disk first, then the data disks, in ARM's order.
    pub fn disks(&self) -> impl Iterator<Item = DiskRef<'_>> + '_ {
        let storage = self.storage();
        let os = storage
            .and_then(|s| s.os_disk.as_ref())
            .map(|d| DiskRef::from_disk(d, true));
        let data = storage
            .and_then(|s| s.data_disks.as_deref())
            .unwrap_or(&[])
            .iter()
            .map(|d| DiskRef::from_disk(d, false));
        os.into_iter().chain(data)
    }

    /// `instanceView.diskRestorePoints` (present with `$expand=instanceView`).
    pub fn instance_view_disks(&self) -> &[DiskRestorePointInstanceView] {
        self.props()
            .and_then(|p| p.instance_view.as_ref())
            .and_then(|iv| iv.disk_restore_points.as_deref())
            .unwrap_or(&[])
    }

    /// `instanceView.statuses`.
    pub fn instance_view_statuses(&self) -> &[InstanceViewStatus] {
        self.props()
            .and_then(|p| p.instance_view.as_ref())
            .and_then(|iv| iv.statuses.as_deref())
            .unwrap_or(&[])
    }
}

// ---------------------------------------------------------------------------------------------
// Cross-region copy request

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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyRequestProperties {
    pub source_restore_point: ResourceRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_metadata: Option<CopySourceMetadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopySourceMetadata {
    pub storage_profile: CopyStorageProfile,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyStorageProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
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

// ---------------------------------------------------------------------------------------------
// Disk restore points (Disk RP)

/// `Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskRestorePoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<DiskRestorePointProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointProperties {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub time_created: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyper_v_generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_unique_id: Option<String>,
    /// `AllowAll`, `AllowPrivate` (private links: not copyable), `DenyAll`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_access_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_access_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_state: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_number",
        serialize_with = "compact_number"
    )]
    pub completion_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_resource_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<DiskEncryption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile: Option<DiskSecurityProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_sector_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_access_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_hibernation: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskEncryption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_encryption_set_id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskSecurityProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointList {
    pub value: Vec<DiskRestorePoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Answer of a disk restore point's `beginGetAccess`: a read SAS for the snapshot. The SAS is
/// a credential, so `Debug` hides it.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AccessUri {
    #[serde(rename = "accessSAS", default, skip_serializing_if = "Option::is_none")]
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

/// One page of a restore point collection list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionList {
    pub value: Vec<RestorePointCollection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------------------------------------
// Errors and long-running operations

/// ARM's error envelope: `{"error":{"code","message","target","details"}}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmErrorBody {
    pub error: ArmErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ArmErrorDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ArmErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ArmErrorBody {
            error: ArmErrorDetail {
                code: code.into(),
                message: message.into(),
                ..Default::default()
            },
        }
    }
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: OperationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ArmErrorDetail>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub start_time: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub end_time: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_number",
        serialize_with = "compact_number"
    )]
    pub percent_complete: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------------------------------------
// Number helpers

/// Accepts a JSON number or a numeric string (the docs' samples quote some numbers).
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(f64),
        Str(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Num(n)) => Ok(Some(n)),
        // Rust's parser also reads "NaN" and "inf"; no percentage is ever that, and a NaN
        // would read as "ready" to one rule and "in progress" to another.
        Some(N::Str(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a number: {s:?}"))),
    }
}

/// Whole numbers go out as integers (as ARM sends them), others as floats.
fn compact_number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => s.serialize_i64(*n as i64),
        Some(n) => s.serialize_f64(*n),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Found by the `arm_responses` fuzz target
    /// (fuzz/regressions/arm_responses/completion-percent-nan-string.json): `"NaN"` was read
    /// as a percentage, written back as `null`, and made `readiness` say Ready while
    /// `replication_state` said InProgress.
    #[test]
    fn non_finite_percent_strings_are_refused() {
        for bad in ["NaN", "inf", "-Infinity", "nan"] {
            let r = serde_json::from_value::<DiskRestorePointReplication>(
                json!({"status": {"code": "ReplicationState/succeeded"}, "completionPercent": bad}),
            );
            let e = r.unwrap_err().to_string();
            assert!(e.contains("not a number"), "{bad}: {e}");
        }
        let ok: DiskRestorePointReplication =
            serde_json::from_value(json!({"completionPercent": " 42.5 "})).unwrap();
        assert_eq!(ok.completion_percent, Some(42.5));
    }

    /// Ingest's slim decode sees the same copy link as the full model.
    #[test]
    fn origin_reads_what_the_full_model_reads() {
        let body = |file: &str| -> Value {
            let v: Value = serde_json::from_str(file).unwrap();
            v["responses"]["200"]["body"].clone()
        };
        let docs = [
            body(include_str!(
                "../../tests/fixtures/arm/RestorePoint_Get.json"
            )),
            body(include_str!(
                "../../tests/fixtures/arm/RestorePoint_Get_WithInstanceView.json"
            )),
            json!({"properties": {"sourceRestorePoint": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/r"}}}),
            json!({"properties": {"sourceRestorePoint": {}}}),
            json!({"properties": {"sourceRestorePoint": null}}),
            json!({}),
        ];
        let mut copies = 0;
        for doc in docs {
            let full: RestorePoint = serde_json::from_value(doc.clone()).unwrap();
            let slim: RestorePointOrigin = serde_json::from_value(doc.clone()).unwrap();
            assert_eq!(
                slim.source_restore_point_id(),
                full.source_restore_point_id(),
                "{doc}"
            );
            assert_eq!(slim.is_copy(), full.is_copy(), "{doc}");
            copies += usize::from(slim.is_copy());
        }
        assert_eq!(copies, 1);
        // A wrongly typed link is refused by both.
        let bad = json!({"properties": {"sourceRestorePoint": {"id": 7}}});
        assert!(serde_json::from_value::<RestorePoint>(bad.clone()).is_err());
        assert!(serde_json::from_value::<RestorePointOrigin>(bad).is_err());
    }

    /// The poller's slim decode reads the same disks, percentages and codes as the full
    /// model, from the official example and from the emulator-shaped documents.
    #[test]
    fn progress_reads_what_the_full_model_reads() {
        let example: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/arm/RestorePoint_Get_WithInstanceView.json"
        ))
        .unwrap();
        let docs = [
            example["responses"]["200"]["body"].clone(),
            json!({"properties": {"instanceView": {"diskRestorePoints": [
                {"id": "/x/diskRestorePoints/os_1", "replicationStatus": {"status": {"code": "ReplicationState/inProgress", "level": "Info"}, "completionPercent": "37"}},
                {"id": "/x/diskRestorePoints/data_1", "replicationStatus": {"completionPercent": 100}},
                {"replicationStatus": null},
                {"id": "/x/diskRestorePoints/data_2"}
            ], "statuses": []}, "timeCreated": "2026-11-01T00:00:00Z"}, "name": "rp"}),
            json!({"properties": {}}),
            json!({"name": "no properties"}),
        ];
        for (i, doc) in docs.into_iter().enumerate() {
            let full: RestorePoint = serde_json::from_value(doc.clone()).unwrap();
            let slim: RestorePointProgress = serde_json::from_value(doc.clone()).unwrap();
            let full_disks: Vec<_> = full
                .instance_view_disks()
                .iter()
                .map(|d| {
                    let r = d.replication_status.as_ref();
                    (
                        d.id.clone(),
                        r.and_then(|r| r.completion_percent),
                        r.and_then(|r| r.status.as_ref()?.code.clone()),
                    )
                })
                .collect();
            let slim_disks: Vec<_> = slim
                .disks()
                .iter()
                .map(|d| {
                    let r = d.replication_status.as_ref();
                    (
                        d.id.clone(),
                        r.and_then(|r| r.completion_percent),
                        r.and_then(|r| r.status.as_ref()?.code.clone()),
                    )
                })
                .collect();
            assert_eq!(slim_disks, full_disks, "{doc}");
            // The example and the hand-made document do list disks.
            assert_eq!(slim_disks.is_empty(), i >= 2, "{doc}");
        }
        // What the full model refuses in a percentage, the slim one refuses too.
        let nan =
            include_str!("../../fuzz/regressions/arm_responses/completion-percent-nan-string.json");
        assert!(serde_json::from_str::<RestorePoint>(nan).is_err());
        assert!(serde_json::from_str::<RestorePointProgress>(nan).is_err());
    }

    const SRC: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src/restorePoints/rp1";

    #[test]
    fn plain_copy_request_is_minimal() {
        let id: RestorePointId = SRC.parse().unwrap();
        let v = serde_json::to_value(CopyRequest::new(&id)).unwrap();
        assert_eq!(v, json!({"properties":{"sourceRestorePoint":{"id": SRC}}}));
    }

    fn cmk_source() -> RestorePoint {
        serde_json::from_value(json!({
            "id": SRC, "name": "rp1",
            "properties": {"sourceMetadata": {"storageProfile": {
                "osDisk": {"name": "os", "managedDisk": {"id": "/d/os", "diskEncryptionSet": {"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-east"}},
                           "diskRestorePoint": {"id": format!("{SRC}/diskRestorePoints/os_1")}},
                "dataDisks": [
                    {"lun": 0, "name": "d0", "managedDisk": {"id": "/d/d0"},
                     "diskRestorePoint": {"id": format!("{SRC}/diskRestorePoints/d0_1")}},
                    {"lun": 1, "name": "d1", "managedDisk": {"id": "/d/d1"},
                     "diskRestorePoint": {"id": format!("{SRC}/diskRestorePoints/d1_1"),
                        "encryption": {"type": "EncryptionAtRestWithPlatformAndCustomerKeys",
                                       "diskEncryptionSet": {"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-east2"}}}}
                ]}}}
        }))
        .unwrap()
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

    #[test]
    fn disks_lists_os_then_data() {
        let src = cmk_source();
        let disks: Vec<_> = src.disks().collect();
        assert_eq!(disks.len(), 3);
        assert!(disks[0].is_os && disks[0].name == Some("os"));
        assert!(disks[0]
            .disk_encryption_set_id
            .unwrap()
            .ends_with("des-east"));
        assert_eq!(disks[1].lun, Some(0));
        assert!(!disks[1].is_customer_key());
        assert!(disks[2]
            .disk_encryption_set_id
            .unwrap()
            .ends_with("des-east2"));
        assert!(!src.is_copy());
    }

    #[test]
    fn replication_helpers() {
        let r: DiskRestorePointReplication = serde_json::from_value(json!({
            "status": {"code": "ReplicationState/Succeeded"}, "completionPercent": "100"
        }))
        .unwrap();
        assert!(r.is_succeeded() && !r.is_failed());
        assert_eq!(r.percent(), Some(100));
        let f: DiskRestorePointReplication = serde_json::from_value(json!({
            "status": {"code": "replicationstate/failed", "time": "2026-01-01T00:00:00Z"}, "completionPercent": 250
        }))
        .unwrap();
        assert!(f.is_failed());
        assert_eq!(f.percent(), Some(100));
        assert!(serde_json::from_value::<DiskRestorePointReplication>(
            json!({"completionPercent": "lots"})
        )
        .is_err());
    }

    #[test]
    fn create_collection_request_shape() {
        let mut tags = BTreeMap::new();
        tags.insert("ferry".to_string(), "target".to_string());
        let v = serde_json::to_value(CreateCollectionRequest::new("westus2", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src", tags)).unwrap();
        assert_eq!(
            v,
            json!({"location": "westus2",
                   "properties": {"source": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src"}},
                   "tags": {"ferry": "target"}})
        );
    }

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
