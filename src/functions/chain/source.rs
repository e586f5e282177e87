//! A source restore point as the rules see it, and whether a copy is one ferry made.

use super::super::App;
use crate::arm::model::{DiskRestorePoint, RestorePoint};
use crate::ids::RestorePointId;
use crate::rules::{DiskFacts, SourceFacts};

/// Reduces ARM's view of a source restore point to what the rules look at.
pub(crate) fn source_facts(rp: &RestorePoint, disk_rps: &[DiskRestorePoint]) -> SourceFacts {
    let mut disks: Vec<DiskFacts> = rp
        .disks()
        .map(|d| DiskFacts {
            name: d.name.map(str::to_string).unwrap_or_else(|| {
                if d.is_os {
                    "os disk".into()
                } else {
                    format!("lun {}", d.lun.unwrap_or(-1))
                }
            }),
            disk_encryption_set: d.disk_encryption_set_id.map(str::to_string),
            network_access_policy: None,
            disk_access_id: None,
        })
        .collect();
    for drp in disk_rps {
        let props = drp.properties.as_ref();
        let name = drp.name.clone().unwrap_or_default();
        let private_policy = props.and_then(|p| p.network_access_policy.clone());
        let access = props.and_then(|p| p.disk_access_id.clone());
        // Disk restore points are named `<disk name>_<guid>`.
        match disks.iter_mut().find(|d| {
            name.to_ascii_lowercase()
                .starts_with(&d.name.to_ascii_lowercase())
        }) {
            Some(d) => {
                d.network_access_policy = private_policy;
                d.disk_access_id = access;
            }
            None => disks.push(DiskFacts {
                name,
                network_access_policy: private_policy,
                disk_access_id: access,
                ..Default::default()
            }),
        }
    }
    SourceFacts {
        is_copy: rp.is_copy(),
        security_type: rp.security_type().map(str::to_string),
        provisioning_state: rp.provisioning_state().map(str::to_string),
        consistency_mode: rp
            .properties
            .as_ref()
            .and_then(|p| p.consistency_mode.clone()),
        time_created: rp.time_created(),
        disks,
    }
}

/// Whether `rp` (a copy) is one ferry made: its source's chain targets its collection.
pub(crate) fn is_own_copy(app: &App, rp_id: &RestorePointId, rp: &RestorePoint) -> bool {
    is_own_copy_of(app, rp_id, rp.source_restore_point_id())
}

/// [`is_own_copy`] given the copy's `sourceRestorePoint` id.
pub(crate) fn is_own_copy_of(app: &App, rp_id: &RestorePointId, source: Option<&str>) -> bool {
    let Some(src) = source.and_then(|s| s.parse::<RestorePointId>().ok()) else {
        return false;
    };
    app.policy
        .candidates(&src.collection)
        .flat_map(|r| r.targets.iter())
        .any(|t| {
            t.collection_for(&src.collection)
                .is_ok_and(|c| c.key() == rp_id.collection.key())
        })
}
