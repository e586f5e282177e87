//! The platform rules a cross-region copy PUT must satisfy. Each refusal carries the ARM
//! status and code the platform answers with and a stable rule key for the stats.

use serde_json::Value;
use time::OffsetDateTime;

use super::ids::{eq_ignore_case, RestorePointId};
use super::state::{copy_phase, provisioning_state, CollectionKind, Phase, RpKind, State};

/// Stable keys of the rules, as counted in `EmulatorStats::violations_by_rule`.
pub mod rule {
    pub const COPY_OF_COPY: &str = "copy_of_copy";
    pub const DUPLICATE_COPY: &str = "duplicate_copy";
    pub const NONSEQUENTIAL_COPY: &str = "nonsequential_copy";
    pub const CONCURRENT_COPY: &str = "concurrent_copy";
    pub const CONFIDENTIAL_VM: &str = "confidential_vm";
    pub const PRIVATE_LINK: &str = "private_link";
    pub const MISSING_TARGET_COLLECTION: &str = "missing_target_collection";
    pub const TARGET_COLLECTION_MISMATCH: &str = "target_collection_mismatch";
    pub const MISSING_CMK_MAPPING: &str = "missing_cmk_mapping";
    pub const SOURCE_NOT_READY: &str = "source_not_ready";
    pub const SAME_REGION: &str = "same_region";
    pub const COPY_RATE: &str = "copy_rate";
    /// A PUT of a restore point whose delete has not completed yet.
    pub const RESTORE_POINT_DELETING: &str = "restore_point_deleting";
}

/// A refused request.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The platform rule broken, if the client broke one.
    pub rule: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            rule: None,
            retry_after: None,
        }
    }

    pub(crate) fn rule(
        status: u16,
        code: &'static str,
        rule: &'static str,
        message: String,
    ) -> Self {
        Refusal {
            status,
            code,
            message,
            rule: Some(rule),
            retry_after: None,
        }
    }
}

/// A parsed copy PUT.
#[derive(Debug, Clone)]
pub(crate) struct CopyRequest {
    pub source: RestorePointId,
    /// Target disk encryption set per source disk (same order as the source's disks).
    pub target_des: Vec<Option<String>>,
}

/// Reads `properties.sourceMetadata.storageProfile.*.diskRestorePoint.encryption` of a copy
/// PUT: the target disk encryption set for each source disk. Data disks are matched by
/// `diskRestorePoint.sourceDiskRestorePoint.id`, then `lun`, then `name`.
pub(crate) fn target_des_from_body(
    body: &Value,
    source_disks: &[(Option<i32>, String, String)], // (lun, disk name, source disk rp id)
) -> Vec<Option<String>> {
    let sp = &body["properties"]["sourceMetadata"]["storageProfile"];
    let des_of = |d: &Value| {
        d["diskRestorePoint"]["encryption"]["diskEncryptionSet"]["id"]
            .as_str()
            .map(str::to_string)
    };
    let data = sp["dataDisks"].as_array().cloned().unwrap_or_default();
    source_disks
        .iter()
        .map(|(lun, name, drp)| match lun {
            None => des_of(&sp["osDisk"]),
            Some(lun) => data
                .iter()
                .find(|d| {
                    d["diskRestorePoint"]["sourceDiskRestorePoint"]["id"]
                        .as_str()
                        .is_some_and(|s| eq_ignore_case(s, drp))
                })
                .or_else(|| {
                    data.iter()
                        .find(|d| d["lun"].as_i64() == Some(i64::from(*lun)))
                })
                .or_else(|| {
                    data.iter().find(|d| {
                        d["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                })
                .and_then(des_of),
        })
        .collect()
}

/// Checks every platform rule for copying `req.source` into the collection `target_key`.
/// The target collection exists (checked by the caller).
pub(crate) fn check_copy(
    state: &mut State,
    target_key: &str,
    req: &CopyRequest,
    now: OffsetDateTime,
    copies_per_hour: u32,
) -> Result<(), Refusal> {
    let src_key = req.source.key();
    let src_coll_key = req.source.collection.key();
    let target = state
        .collections
        .get(target_key)
        .ok_or_else(|| Refusal::new(404, "ParentResourceNotFound", "target collection vanished"))?;
    let target_region = target.location.clone();
    let target_kind = target.kind.clone();
    let target_max = target.max_copied_source_created;
    let target_name = target.id.to_string();

    let Some(src_coll) = state.collections.get(&src_coll_key) else {
        return Err(Refusal::new(
            404,
            "ResourceNotFound",
            format!(
                "The source restore point collection '{}' was not found.",
                req.source.collection
            ),
        ));
    };
    let Some(src) = src_coll.rps.iter().find(|r| r.id.key() == src_key) else {
        return Err(Refusal::new(
            404,
            "ResourceNotFound",
            format!("The source restore point '{}' was not found.", req.source),
        ));
    };

    if let RpKind::Copy(cs) = &src.kind {
        return Err(Refusal::rule(
            400,
            "OperationNotAllowed",
            rule::COPY_OF_COPY,
            format!(
                "Copy of a copy is not supported: source restore point '{}' is itself a copy of '{}'.",
                req.source, cs.source_id
            ),
        ));
    }
    match &target_kind {
        CollectionKind::Target { source } if *source == src_coll_key => {}
        _ => {
            return Err(Refusal::rule(
                400,
                "InvalidParameter",
                rule::TARGET_COLLECTION_MISMATCH,
                format!(
                    "Target restore point collection '{target_name}' was not created for source collection '{}' (its properties.source.id must be that collection).",
                    req.source.collection
                ),
            ))
        }
    }
    if src_coll.location == target_region {
        return Err(Refusal::rule(
            400,
            "InvalidParameter",
            rule::SAME_REGION,
            format!(
                "Target collection is in '{target_region}', the region of the source restore point: a cross-region copy needs another region."
            ),
        ));
    }
    if src
        .meta
        .security_type
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("ConfidentialVM"))
    {
        return Err(Refusal::rule(
            400,
            "OperationNotAllowed",
            rule::CONFIDENTIAL_VM,
            format!(
                "Cross-region copy is not supported for confidential VMs: '{}' was taken from a ConfidentialVM.",
                req.source
            ),
        ));
    }
    if let Some(d) = src
        .disks
        .iter()
        .find(|d| d.private || d.disk_access_id.is_some())
    {
        return Err(Refusal::rule(
            400,
            "OperationNotAllowed",
            rule::PRIVATE_LINK,
            format!(
                "Cross-region copy is not supported with private links: disk restore point '{}' has networkAccessPolicy AllowPrivate / a diskAccessId.",
                d.name
            ),
        ));
    }
    if src.deleting.is_some() {
        // Not the client's fault: the delete may have begun after it last looked.
        return Err(Refusal::new(
            409,
            "Conflict",
            format!(
                "The source restore point '{}' is being deleted.",
                req.source
            ),
        ));
    }
    if provisioning_state(src, now) != "Succeeded" {
        return Err(Refusal::rule(
            409,
            "Conflict",
            rule::SOURCE_NOT_READY,
            format!(
                "Source restore point '{}' is not ready (provisioningState {}); copy it once it has Succeeded.",
                req.source,
                provisioning_state(src, now)
            ),
        ));
    }
    let src_created = src.time_created;
    let src_disks = src.disks.clone();

    if let Some((existing, _)) = state.copies_of(&target_region, &src_key).next() {
        return Err(Refusal::rule(
            409,
            "Conflict",
            rule::DUPLICATE_COPY,
            format!(
                "Restore point '{}' was already copied to region '{target_region}' as '{}': a restore point can be copied only once to a region.",
                req.source, existing.id
            ),
        ));
    }
    if let Some(max) = target_max {
        if src_created < max {
            return Err(Refusal::rule(
                400,
                "OperationNotAllowed",
                rule::NONSEQUENTIAL_COPY,
                format!(
                    "Nonsequential copy: a restore point created after '{}' (created {}) was already copied to '{target_name}'.",
                    req.source,
                    super::model::fmt_time(src_created)
                ),
            ));
        }
    }
    if let Some((busy, _)) = state
        .copies_from(&target_region, &src_coll_key)
        .find(|(rp, cs)| copy_phase(cs, &rp.disks, now) == Phase::InProgress)
    {
        return Err(Refusal::rule(
            409,
            "OperationNotAllowed",
            rule::CONCURRENT_COPY,
            format!(
                "Another copy from collection '{}' to region '{target_region}' is in progress ('{}'): only one copy at a time per source collection and target region.",
                req.source.collection, busy.id
            ),
        ));
    }
    for (d, des) in src_disks.iter().zip(&req.target_des) {
        if d.des.is_some() && des.is_none() {
            return Err(Refusal::rule(
                400,
                "InvalidParameter",
                rule::MISSING_CMK_MAPPING,
                format!(
                    "Disk restore point '{}' is encrypted with a customer-managed key: set properties.sourceMetadata.storageProfile.{}.diskRestorePoint.encryption.diskEncryptionSet.id to a disk encryption set in '{target_region}'.",
                    d.name,
                    if d.lun.is_none() { "osDisk" } else { "dataDisks[]" }
                ),
            ));
        }
    }
    let window = state
        .copy_windows
        .entry(target_key.to_string())
        .or_default();
    if let Err(wait) = window.check(now, copies_per_hour) {
        let mut r = Refusal::rule(
            429,
            "TooManyRequests",
            rule::COPY_RATE,
            format!(
                "At most {copies_per_hour} restore point copies per hour may be started into collection '{target_name}'. Retry after {wait} seconds."
            ),
        );
        r.retry_after = Some(wait);
        return Err(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn target_des_is_read_per_disk() {
        let disks = vec![
            (
                None,
                "os".to_string(),
                "/x/diskRestorePoints/os_1".to_string(),
            ),
            (
                Some(0),
                "d0".to_string(),
                "/x/diskRestorePoints/d0_1".to_string(),
            ),
            (
                Some(1),
                "d1".to_string(),
                "/x/diskRestorePoints/d1_1".to_string(),
            ),
            (
                Some(2),
                "d2".to_string(),
                "/x/diskRestorePoints/d2_1".to_string(),
            ),
        ];
        let enc = |d: &str| json!({"encryption": {"diskEncryptionSet": {"id": d}}});
        let mut by_source = enc("B");
        by_source["sourceDiskRestorePoint"] = json!({"id": "/X/diskRestorePoints/D1_1"});
        let body = json!({"properties": {"sourceMetadata": {"storageProfile": {
            "osDisk": {"diskRestorePoint": enc("A")},
            "dataDisks": [{"diskRestorePoint": by_source}, {"lun": 0, "diskRestorePoint": enc("C")}]
        }}}});
        assert_eq!(
            target_des_from_body(&body, &disks),
            vec![Some("A".into()), Some("C".into()), Some("B".into()), None]
        );
        assert_eq!(target_des_from_body(&json!({}), &disks), vec![None; 4]);
    }
}
