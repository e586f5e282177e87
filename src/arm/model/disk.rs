//! `Microsoft.Compute/disks` (Disk RP), the part a restore drill uses: a managed disk restored
//! from a disk restore point, its list page, and the PUT body that restores one. Shaped after
//! the official `Disk_Get` / `Disk_Create_*` examples and `disk.json` (2025-01-02).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use time::OffsetDateTime;

use super::common::Extra;
use super::disk_restore_point::DiskEncryption;

/// `Microsoft.Compute/disks`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Disk {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku: Option<DiskSku>,
    pub managed_by: Option<String>,
    pub properties: Option<DiskProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskSku {
    pub name: Option<String>,
    pub tier: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskProperties {
    pub os_type: Option<String>,
    pub hyper_v_generation: Option<String>,
    pub creation_data: Option<CreationData>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub disk_size_bytes: Option<i64>,
    pub unique_id: Option<String>,
    pub encryption: Option<DiskEncryption>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time_created: Option<OffsetDateTime>,
    pub provisioning_state: Option<String>,
    pub disk_state: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationData {
    pub create_option: Option<String>,
    pub source_resource_id: Option<String>,
    pub source_unique_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A page of `Disks_ListByResourceGroup`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskList {
    #[serde(default)]
    pub value: Vec<Disk>,
    pub next_link: Option<String>,
}

impl Disk {
    /// The PUT body that restores a disk from a disk restore point: in `location` (the disk
    /// restore point's region), tagged, encrypted with `disk_encryption_set` when given (a CMK
    /// source's mapped target set). Only writable properties: the swagger's models are closed.
    pub fn restore_request(
        location: &str,
        disk_restore_point_id: &str,
        tags: BTreeMap<String, String>,
        disk_encryption_set: Option<&str>,
    ) -> Disk {
        Disk {
            location: Some(location.to_string()),
            tags: Some(tags),
            properties: Some(DiskProperties {
                creation_data: Some(CreationData {
                    create_option: Some("Restore".into()),
                    source_resource_id: Some(disk_restore_point_id.to_string()),
                    ..Default::default()
                }),
                encryption: disk_encryption_set.map(|d| DiskEncryption {
                    disk_encryption_set_id: Some(d.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn provisioning_state(&self) -> Option<&str> {
        self.properties.as_ref()?.provisioning_state.as_deref()
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.as_ref()?.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn example(name: &str) -> Value {
        let p = format!(
            "{}/tests/fixtures/arm/disks/2025-01-02/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    /// The official examples' bodies decode, and encode back to the same JSON.
    #[test]
    fn official_examples_round_trip() {
        for (file, status) in [
            ("Disk_Get.json", "200"),
            ("Disk_Create_ByCopyingASnapshot.json", "200"),
            ("Disk_Create_ByCopyingASnapshot.json", "202"),
            ("Disk_Create_WithDiskEncryptionSet.json", "200"),
        ] {
            let body = example(file)["responses"][status]["body"].clone();
            let d: Disk = serde_json::from_value(body.clone()).unwrap();
            // Times go out in RFC 3339's `Z` form (the same instant as `+00:00`).
            let mut want = body.clone();
            if let Some(t) = want["properties"]["timeCreated"].as_str() {
                want["properties"]["timeCreated"] = json!(t.replace("+00:00", "Z"));
            }
            assert_eq!(serde_json::to_value(&d).unwrap(), want, "{file} {status}");
        }
        let get: Disk =
            serde_json::from_value(example("Disk_Get.json")["responses"]["200"]["body"].clone())
                .unwrap();
        let p = get.properties.as_ref().unwrap();
        assert_eq!(get.provisioning_state(), Some("Succeeded"));
        assert_eq!(p.disk_size_gb, Some(10));
        assert_eq!(get.tag("project"), Some("ManagedDisks"));
        assert_eq!(
            p.creation_data.as_ref().unwrap().create_option.as_deref(),
            Some("FromImage")
        );
        let cmk: Disk = serde_json::from_value(
            example("Disk_Create_WithDiskEncryptionSet.json")["parameters"]["disk"].clone(),
        )
        .unwrap();
        assert!(cmk
            .properties
            .unwrap()
            .encryption
            .unwrap()
            .disk_encryption_set_id
            .unwrap()
            .ends_with("/diskEncryptionSets/{existing-diskEncryptionSet-name}"));
    }

    /// The restore body has the shape of the examples' request (`location`, `properties.
    /// creationData`) with createOption `Restore`, and nothing read-only.
    #[test]
    fn restore_request_carries_only_writable_properties() {
        let tags = BTreeMap::from([("ferry-drill".to_string(), "d1".to_string())]);
        let plain = Disk::restore_request("westus2", "/subscriptions/s/x", tags.clone(), None);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"location": "westus2", "tags": {"ferry-drill": "d1"},
                "properties": {"creationData": {"createOption": "Restore", "sourceResourceId": "/subscriptions/s/x"}}})
        );
        let cmk = Disk::restore_request("westus2", "/x", tags, Some("/des"));
        assert_eq!(
            serde_json::to_value(&cmk).unwrap()["properties"]["encryption"],
            json!({"diskEncryptionSetId": "/des"})
        );
    }
}
