//! Managed disks (`Microsoft.Compute/disks`) restored from disk restore points: the part of
//! the Disk RP a restore drill uses. A disk is created by a long-running PUT with
//! `creationData.createOption: "Restore"`, answers `Updating` until its restore time has
//! passed, then `Succeeded`; a DELETE is long-running too. Like Azure, a disk may be restored
//! from a copied disk restore point whose replication has not finished: the emulator allows it
//! and counts it (`unsafe_restores`), since ferry must never do it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};

use super::model::fmt_time;

pub(crate) const DISK_TYPE: &str = "Microsoft.Compute/disks";

/// How long a restore from a disk restore point takes before the disk is `Succeeded`: a fixed
/// part and a part per 128 GiB of disk size (whole minutes, so a demo tick sees the change).
pub(crate) fn restore_duration(size_gb: i32) -> Duration {
    Duration::minutes(2) + Duration::minutes(i64::from(size_gb.max(0)) / 128)
}

/// How long a disk's DELETE runs before the disk is gone.
pub(crate) const DISK_DELETE_DURATION: Duration = Duration::seconds(30);

/// Id of a managed disk, as given (case kept for the answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

impl DiskId {
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl std::fmt::Display for DiskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/disks/{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

/// One managed disk.
#[derive(Debug, Clone)]
pub(crate) struct ManagedDisk {
    pub id: DiskId,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub size_gb: i32,
    pub sku: String,
    /// `creationData.sourceResourceId` as the client sent it.
    pub source_resource_id: String,
    /// `uniqueId` of the source disk restore point's family (`creationData.sourceUniqueId`).
    pub source_unique_id: String,
    pub des: Option<String>,
    /// OS disks only.
    pub os_type: Option<String>,
    pub hyper_v_generation: Option<String>,
    pub unique_id: String,
    pub created: OffsetDateTime,
    pub ready_at: OffsetDateTime,
    /// The restore ends `Failed` at `ready_at` (fault injection).
    pub fails: bool,
    /// Set once a DELETE was accepted: when the disk is gone.
    pub deleting: Option<OffsetDateTime>,
}

/// What a disk operation (`…/locations/{l}/DiskOperations/{id}`) is about.
#[derive(Debug, Clone)]
pub(crate) enum DiskOpKind {
    Create { disk_key: String },
    Delete { done_at: OffsetDateTime },
}

#[derive(Debug, Clone)]
pub(crate) struct DiskOperation {
    pub subscription: String,
    pub region: String,
    pub kind: DiskOpKind,
    pub start: OffsetDateTime,
}

/// Every managed disk and disk operation, and what the demo reports about them.
#[derive(Debug, Default)]
pub(crate) struct Disks {
    pub disks: BTreeMap<String, ManagedDisk>,
    pub ops: BTreeMap<String, DiskOperation>,
}

impl Disks {
    /// Removes the disks whose delete completed by `now`.
    pub fn settle(&mut self, now: OffsetDateTime) {
        self.disks
            .retain(|_, d| d.deleting.is_none_or(|done| now < done));
    }

    /// Disks that exist at `now` (being deleted included: they still cost money).
    pub fn present(&self, now: OffsetDateTime) -> usize {
        self.disks
            .values()
            .filter(|d| d.deleting.is_none_or(|done| now < done))
            .count()
    }

    /// The value of tag `key` on each disk that exists at `now` (`None`: untagged).
    pub fn present_tags(&self, now: OffsetDateTime, key: &str) -> Vec<Option<String>> {
        self.disks
            .values()
            .filter(|d| d.deleting.is_none_or(|done| now < done))
            .map(|d| d.tags.get(key).cloned())
            .collect()
    }
}

impl ManagedDisk {
    pub fn provisioning_state(&self, now: OffsetDateTime) -> &'static str {
        match self.deleting {
            Some(_) => "Deleting",
            None if now >= self.ready_at && self.fails => "Failed",
            None if now >= self.ready_at => "Succeeded",
            None => "Updating",
        }
    }

    /// The disk as `Disks_Get` answers it (only properties the swagger defines).
    pub fn json(&self, now: OffsetDateTime) -> Value {
        let mut p = Map::new();
        if let Some(os) = &self.os_type {
            p.insert("osType".into(), json!(os));
        }
        if let Some(g) = &self.hyper_v_generation {
            p.insert("hyperVGeneration".into(), json!(g));
        }
        p.insert(
            "creationData".into(),
            json!({
                "createOption": "Restore",
                "sourceResourceId": self.source_resource_id,
                "sourceUniqueId": self.source_unique_id,
            }),
        );
        p.insert("diskSizeGB".into(), json!(self.size_gb));
        p.insert(
            "diskSizeBytes".into(),
            json!(i64::from(self.size_gb) * 1024 * 1024 * 1024),
        );
        p.insert("uniqueId".into(), json!(self.unique_id));
        let mut enc = json!({"type": match self.des {
            Some(_) => "EncryptionAtRestWithCustomerKey",
            None => "EncryptionAtRestWithPlatformKey",
        }});
        if let Some(d) = &self.des {
            enc["diskEncryptionSetId"] = json!(d);
        }
        p.insert("encryption".into(), enc);
        p.insert("networkAccessPolicy".into(), json!("AllowAll"));
        p.insert("publicNetworkAccess".into(), json!("Enabled"));
        p.insert("timeCreated".into(), json!(fmt_time(self.created)));
        p.insert(
            "provisioningState".into(),
            json!(self.provisioning_state(now)),
        );
        p.insert("diskState".into(), json!("Unattached"));
        let mut out = json!({
            "id": self.id.to_string(),
            "name": self.id.name,
            "type": DISK_TYPE,
            "location": self.location,
            "sku": {"name": self.sku, "tier": sku_tier(&self.sku)},
            "properties": Value::Object(p),
        });
        if !self.tags.is_empty() {
            out["tags"] = json!(self.tags);
        }
        out
    }
}

fn sku_tier(sku: &str) -> &'static str {
    if sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    }
}

/// A disk restore point id split into its restore point id text and disk restore point name
/// (`…/restorePoints/{rp}/diskRestorePoints/{name}`); None if it is not one.
pub(crate) fn split_disk_restore_point_id(id: &str) -> Option<(&str, &str)> {
    const SEG: &str = "/diskrestorepoints/";
    let lower = id.to_ascii_lowercase();
    let at = lower.rfind(SEG)?;
    let name = &id[at + SEG.len()..];
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((&id[..at], name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn disk() -> ManagedDisk {
        let t = datetime!(2026-11-01 00:00 UTC);
        ManagedDisk {
            id: DiskId {
                subscription: "s".into(),
                resource_group: "rg".into(),
                name: "d".into(),
            },
            location: "westus".into(),
            tags: BTreeMap::new(),
            size_gb: 128,
            sku: "Premium_LRS".into(),
            source_resource_id: "x".into(),
            source_unique_id: "u".into(),
            des: None,
            os_type: None,
            hyper_v_generation: None,
            unique_id: "id".into(),
            created: t,
            ready_at: t + restore_duration(128),
            fails: false,
            deleting: None,
        }
    }

    #[test]
    fn a_disk_is_updating_until_restored_then_deleting_then_gone() {
        let d = disk();
        let t = d.created;
        assert_eq!(d.provisioning_state(t), "Updating");
        assert_eq!(d.provisioning_state(t + Duration::minutes(3)), "Succeeded");
        // A restore the fault injection fails ends `Failed` at the same time.
        let failing = ManagedDisk {
            fails: true,
            ..d.clone()
        };
        assert_eq!(failing.provisioning_state(t), "Updating");
        assert_eq!(
            failing.provisioning_state(t + Duration::minutes(3)),
            "Failed"
        );
        let mut all = Disks::default();
        let mut gone = d.clone();
        gone.deleting = Some(t + Duration::minutes(4));
        assert_eq!(gone.provisioning_state(t), "Deleting");
        all.disks.insert("a".into(), d);
        all.disks.insert("b".into(), gone);
        assert_eq!(all.present(t), 2);
        all.settle(t + Duration::minutes(4));
        assert_eq!(all.present(t + Duration::minutes(4)), 1);
    }

    #[test]
    fn restore_time_grows_with_size() {
        assert_eq!(restore_duration(0), Duration::minutes(2));
        assert_eq!(restore_duration(1024), Duration::minutes(10));
    }

    #[test]
    fn disk_restore_point_ids_split() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d1";
        let (rp, name) = split_disk_restore_point_id(id).unwrap();
        assert!(rp.ends_with("/restorePoints/p"));
        assert_eq!(name, "d1");
        assert!(split_disk_restore_point_id("/subscriptions/s/x").is_none());
        assert!(split_disk_restore_point_id(&format!("{id}/more")).is_none());
        assert!(split_disk_restore_point_id(&format!("{id}/diskRestorePoints/")).is_none());
    }
}
