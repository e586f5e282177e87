//! `Microsoft.Compute/restorePointCollections/restorePoints`: the restore point with its source
//! metadata and instance view, the flattened [`DiskRef`] the engine reads, and the slim
//! read-only views ([`RestorePointProgress`], [`RestorePointOrigin`]) decoded where only a
//! few fields matter.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use time::OffsetDateTime;

use super::common::{compact_number, lenient_number, Extra, ResourceRef};

/// `Microsoft.Compute/restorePointCollections/restorePoints`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RestorePoint {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub properties: Option<RestorePointProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointProperties {
    pub exclude_disks: Option<Vec<ResourceRef>>,
    pub source_metadata: Option<SourceMetadata>,
    pub provisioning_state: Option<String>,
    pub consistency_mode: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time_created: Option<OffsetDateTime>,
    pub source_restore_point: Option<ResourceRef>,
    pub instance_view: Option<RestorePointInstanceView>,
    pub instant_access_duration_minutes: Option<i64>,
    pub instant_access_status: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The VM as captured when the restore point was taken (a subset of the VM model; the
/// profiles ferry does not look into stay in `extra`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMetadata {
    pub vm_id: Option<String>,
    pub hardware_profile: Option<HardwareProfile>,
    pub storage_profile: Option<SourceStorageProfile>,
    pub security_profile: Option<SecurityProfile>,
    pub location: Option<String>,
    pub license_type: Option<String>,
    pub user_data: Option<String>,
    pub hyper_v_generation: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    pub vm_size: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfile {
    /// `TrustedLaunch`, `ConfidentialVM`, ... (absent for standard VMs).
    pub security_type: Option<String>,
    pub encryption_at_host: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStorageProfile {
    pub os_disk: Option<SourceDisk>,
    pub data_disks: Option<Vec<SourceDisk>>,
    pub disk_controller_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An OS or data disk of the source VM (RestorePointSourceVMOSDisk / ...DataDisk).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDisk {
    /// Data disks only.
    pub lun: Option<i32>,
    pub name: Option<String>,
    /// OS disk only.
    pub os_type: Option<String>,
    pub caching: Option<String>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub managed_disk: Option<ManagedDisk>,
    pub disk_restore_point: Option<DiskRestorePointAttributes>,
    pub write_accelerator_enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDisk {
    pub id: Option<String>,
    pub storage_account_type: Option<String>,
    pub disk_encryption_set: Option<ResourceRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `diskRestorePoint` of a source disk. `id` is read-only; `encryption` and
/// `sourceDiskRestorePoint` are writable (they are what a CMK copy sends).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointAttributes {
    pub id: Option<String>,
    pub encryption: Option<RestorePointEncryption>,
    pub source_disk_restore_point: Option<ResourceRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointEncryption {
    pub disk_encryption_set: Option<ResourceRef>,
    /// `EncryptionAtRestWithPlatformKey`, `EncryptionAtRestWithCustomerKey`,
    /// `EncryptionAtRestWithPlatformAndCustomerKeys`.
    #[serde(rename = "type")]
    pub encryption_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `EncryptionAtRestWithCustomerKey`: the default type for a CMK-encrypted copy.
pub const ENCRYPTION_CUSTOMER_KEY: &str = "EncryptionAtRestWithCustomerKey";
/// `EncryptionAtRestWithPlatformAndCustomerKeys`: double encryption, also customer-keyed.
pub const ENCRYPTION_PLATFORM_AND_CUSTOMER_KEYS: &str =
    "EncryptionAtRestWithPlatformAndCustomerKeys";

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointInstanceView {
    pub disk_restore_points: Option<Vec<DiskRestorePointInstanceView>>,
    pub statuses: Option<Vec<InstanceViewStatus>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointInstanceView {
    pub id: Option<String>,
    pub replication_status: Option<DiskRestorePointReplication>,
    pub snapshot_access_state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `replicationStatus` of a disk restore point in a restore point's instance view: the only
/// place a cross-region copy's completion shows (`provisioningState: Succeeded` on the
/// restore point only means the copy started).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRestorePointReplication {
    pub status: Option<InstanceViewStatus>,
    /// Swagger says int32; the docs' own sample shows a string, so both are accepted.
    #[serde(
        default,
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

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceViewStatus {
    pub code: Option<String>,
    pub level: Option<String>,
    pub display_status: Option<String>,
    pub message: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
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
    /// The source disk's size (`diskSizeGB`), when reported.
    pub disk_size_gb: Option<i64>,
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
            disk_size_gb: disk.disk_size_gb,
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::{json, Value};

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
                "../../../tests/fixtures/arm/RestorePoint_Get.json"
            )),
            body(include_str!(
                "../../../tests/fixtures/arm/RestorePoint_Get_WithInstanceView.json"
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
            "../../../tests/fixtures/arm/RestorePoint_Get_WithInstanceView.json"
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
        let nan = include_str!(
            "../../../fuzz/regressions/arm_responses/completion-percent-nan-string.json"
        );
        assert!(serde_json::from_str::<RestorePoint>(nan).is_err());
        assert!(serde_json::from_str::<RestorePointProgress>(nan).is_err());
    }

    pub(in crate::arm::model) const SRC: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src/restorePoints/rp1";

    pub(in crate::arm::model) fn cmk_source() -> RestorePoint {
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
}
