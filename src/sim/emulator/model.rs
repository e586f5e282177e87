//! JSON bodies, built field by field after the official examples and restricted to the
//! properties the swagger defines (its models are closed: `oav validate-traffic` rejects
//! anything else).

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::state::{
    copy_phase, disk_phase, provisioning_state, Collection, DiskPhase, DiskRp, Phase, RestorePoint,
    RpKind, Vm,
};

pub(crate) const RP_TYPE: &str = "Microsoft.Compute/restorePointCollections/restorePoints";
pub(crate) const DRP_TYPE: &str =
    "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints";

/// RFC 3339 in UTC with at most microseconds (a simulated clock yields nanoseconds, which
/// some SDK date parsers reject).
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// ARM error body.
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn tags_json(tags: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn des_ref(id: &Option<String>) -> Option<Value> {
    id.as_ref().map(|d| json!({"id": d}))
}

pub(crate) fn vm_json(vm: &Vm) -> Value {
    let disk = |d: &super::state::Disk| {
        let mut managed =
            json!({"id": d.managed_disk_id, "storageAccountType": d.storage_account_type});
        if let Some(des) = des_ref(&d.des) {
            managed["diskEncryptionSet"] = des;
        }
        let mut o = json!({
            "name": d.name,
            "createOption": "Attach",
            "caching": d.caching,
            "diskSizeGB": d.size_gb,
            "managedDisk": managed,
        });
        match d.lun {
            Some(lun) => o["lun"] = json!(lun),
            None => o["osType"] = json!(vm.os_type),
        }
        o
    };
    let os = vm.disks.iter().find(|d| d.lun.is_none());
    let data: Vec<Value> = vm
        .disks
        .iter()
        .filter(|d| d.lun.is_some())
        .map(disk)
        .collect();
    let mut storage = json!({"dataDisks": data});
    if let Some(os) = os {
        storage["osDisk"] = disk(os);
    }
    let mut props = json!({
        "vmId": vm.vm_uuid,
        "hardwareProfile": {"vmSize": vm.vm_size},
        "storageProfile": storage,
        "provisioningState": "Succeeded",
        "timeCreated": fmt_time(vm.created),
    });
    if let Some(st) = &vm.security_type {
        props["securityProfile"] = security_profile(st);
    }
    json!({
        "id": vm.id.to_string(),
        "name": vm.id.name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": vm.location,
        "tags": tags_json(&vm.tags),
        "properties": props,
    })
}

fn security_profile(security_type: &str) -> Value {
    json!({
        "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true},
        "securityType": security_type,
    })
}

pub(crate) fn collection_json(c: &Collection, now: OffsetDateTime, expand: bool) -> Value {
    let mut props = json!({
        "source": {"id": c.source_id, "location": c.source_location},
        "restorePointCollectionId": c.uid,
        "provisioningState": "Succeeded",
    });
    if let Some(ia) = c.instant_access {
        props["instantAccess"] = json!(ia);
    }
    if expand {
        props["restorePoints"] = Value::Array(
            c.rps
                .iter()
                .map(|rp| restore_point_json(rp, now, false))
                .collect(),
        );
    }
    let mut o = json!({
        "name": c.id.name,
        "id": c.id.to_string(),
        "type": "Microsoft.Compute/restorePointCollections",
        "location": c.location,
        "properties": props,
    });
    if !c.tags.is_empty() {
        o["tags"] = tags_json(&c.tags);
    }
    o
}

fn encryption_type(des: &Option<String>) -> &'static str {
    if des.is_some() {
        "EncryptionAtRestWithCustomerKey"
    } else {
        "EncryptionAtRestWithPlatformKey"
    }
}

fn source_disk_json(rp: &RestorePoint, d: &DiskRp) -> Value {
    let mut managed =
        json!({"id": d.managed_disk_id, "storageAccountType": d.storage_account_type});
    if let Some(des) = des_ref(&d.source_des) {
        managed["diskEncryptionSet"] = des;
    }
    let mut drp = json!({"id": format!("{}/diskRestorePoints/{}", rp.id, d.name)});
    if let Some(c) = &d.copy {
        drp["sourceDiskRestorePoint"] = json!({"id": c.source_disk_rp_id});
    }
    if let Some(des) = des_ref(&d.des) {
        drp["encryption"] = json!({"diskEncryptionSet": des, "type": encryption_type(&d.des)});
    }
    let mut o = json!({
        "name": d.disk_name,
        "caching": d.caching,
        "diskSizeGB": d.size_gb,
        "managedDisk": managed,
        "diskRestorePoint": drp,
    });
    match d.lun {
        Some(lun) => o["lun"] = json!(lun),
        None => o["osType"] = json!(rp.meta.os_type),
    }
    o
}

fn source_metadata_json(rp: &RestorePoint) -> Value {
    let os = rp.disks.iter().find(|d| d.lun.is_none());
    let data: Vec<Value> = rp
        .disks
        .iter()
        .filter(|d| d.lun.is_some())
        .map(|d| source_disk_json(rp, d))
        .collect();
    let mut storage = json!({"dataDisks": data});
    if let Some(os) = os {
        storage["osDisk"] = source_disk_json(rp, os);
    }
    let mut m = json!({
        "vmId": rp.meta.vm_uuid,
        "hardwareProfile": {"vmSize": rp.meta.vm_size},
        "storageProfile": storage,
        "location": rp.meta.location,
    });
    if let Some(st) = &rp.meta.security_type {
        m["securityProfile"] = security_profile(st);
    }
    m
}

fn status(code_state: &str, level: &str, display: &str) -> Value {
    json!({"code": format!("ReplicationState/{code_state}"), "level": level, "displayStatus": display})
}

fn replication_status(p: DiskPhase) -> (Value, i32) {
    match p {
        DiskPhase::InProgress(pct) => (status("inProgress", "Info", "In progress"), pct),
        DiskPhase::Succeeded => (status("succeeded", "Info", "Succeeded"), 100),
        // The platform gives no error details and hides the last percentage.
        DiskPhase::Failed => (status("failed", "Error", "Failed"), 0),
    }
}

pub(crate) fn restore_point_json(
    rp: &RestorePoint,
    now: OffsetDateTime,
    instance_view: bool,
) -> Value {
    let mut props = Map::new();
    if !rp.exclude_disks.is_empty() {
        props.insert(
            "excludeDisks".into(),
            Value::Array(rp.exclude_disks.iter().map(|d| json!({"id": d})).collect()),
        );
    }
    if let RpKind::Copy(cs) = &rp.kind {
        props.insert(
            "sourceRestorePoint".into(),
            json!({"id": cs.source_id.to_string()}),
        );
    }
    props.insert("sourceMetadata".into(), source_metadata_json(rp));
    props.insert(
        "provisioningState".into(),
        json!(provisioning_state(rp, now)),
    );
    props.insert("consistencyMode".into(), json!(rp.consistency_mode));
    props.insert("timeCreated".into(), json!(fmt_time(rp.time_created)));
    if let Some(m) = rp.instant_access_minutes {
        props.insert("instantAccessDurationMinutes".into(), json!(m));
    }
    if instance_view {
        props.insert("instanceView".into(), instance_view_json(rp, now));
    }
    json!({
        "name": rp.id.name,
        "id": rp.id.to_string(),
        "type": RP_TYPE,
        "properties": Value::Object(props),
    })
}

fn instance_view_json(rp: &RestorePoint, now: OffsetDateTime) -> Value {
    match &rp.kind {
        RpKind::Copy(cs) => {
            let disks: Vec<Value> = rp
                .disks
                .iter()
                .map(|d| {
                    let (st, pct) = replication_status(disk_phase(cs, &rp.disks, d, now));
                    json!({
                        "id": format!("{}/diskRestorePoints/{}", rp.id, d.name),
                        "replicationStatus": {"status": st, "completionPercent": pct},
                    })
                })
                .collect();
            let overall = match copy_phase(cs, &rp.disks, now) {
                Phase::InProgress => status("inProgress", "Info", "In progress"),
                Phase::Succeeded => status("succeeded", "Info", "Succeeded"),
                Phase::Failed { .. } => status("failed", "Error", "Failed"),
            };
            json!({"diskRestorePoints": disks, "statuses": [overall]})
        }
        RpKind::Local { .. } => {
            let disks: Vec<Value> = rp
                .disks
                .iter()
                .map(|d| json!({"id": format!("{}/diskRestorePoints/{}", rp.id, d.name)}))
                .collect();
            let ps = provisioning_state(rp, now);
            json!({
                "diskRestorePoints": disks,
                "statuses": [{
                    "code": format!("ProvisioningState/{}", ps.to_ascii_lowercase()),
                    "level": "Info",
                    "displayStatus": ps,
                }],
            })
        }
    }
}

pub(crate) fn disk_restore_point_json(rp: &RestorePoint, d: &DiskRp, now: OffsetDateTime) -> Value {
    let mut p = Map::new();
    p.insert("timeCreated".into(), json!(fmt_time(rp.time_created)));
    p.insert("sourceResourceId".into(), json!(d.source_resource_id));
    if d.lun.is_none() {
        p.insert("osType".into(), json!(rp.meta.os_type));
        let gen = if rp.meta.security_type.is_some() {
            "V2"
        } else {
            "V1"
        };
        p.insert("hyperVGeneration".into(), json!(gen));
    }
    p.insert("familyId".into(), json!(d.family_id));
    p.insert("sourceUniqueId".into(), json!(d.source_unique_id));
    let mut enc = json!({"type": encryption_type(&d.des)});
    if let Some(des) = &d.des {
        enc["diskEncryptionSetId"] = json!(des);
    }
    p.insert("encryption".into(), enc);
    if d.private {
        p.insert("networkAccessPolicy".into(), json!("AllowPrivate"));
        p.insert("publicNetworkAccess".into(), json!("Disabled"));
        if let Some(da) = &d.disk_access_id {
            p.insert("diskAccessId".into(), json!(da));
        }
    } else {
        p.insert("networkAccessPolicy".into(), json!("AllowAll"));
        p.insert("publicNetworkAccess".into(), json!("Enabled"));
    }
    if d.lun.is_none() {
        match rp.meta.security_type.as_deref() {
            Some(st) if st.eq_ignore_ascii_case("ConfidentialVM") => {
                p.insert(
                    "securityProfile".into(),
                    json!({"securityType": "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey"}),
                );
            }
            Some(st) if st.eq_ignore_ascii_case("TrustedLaunch") => {
                p.insert(
                    "securityProfile".into(),
                    json!({"securityType": "TrustedLaunch"}),
                );
            }
            _ => {}
        }
    }
    if let RpKind::Copy(cs) = &rp.kind {
        let (state, pct) = match disk_phase(cs, &rp.disks, d, now) {
            DiskPhase::InProgress(p) => ("InProgress", p),
            DiskPhase::Succeeded => ("Succeeded", 100),
            DiskPhase::Failed => ("Failed", 0),
        };
        p.insert("replicationState".into(), json!(state));
        p.insert("completionPercent".into(), json!(pct));
        p.insert("sourceResourceLocation".into(), json!(cs.source_location));
    }
    json!({
        "id": format!("{}/diskRestorePoints/{}", rp.id, d.name),
        "name": d.name,
        "type": DRP_TYPE,
        "properties": Value::Object(p),
    })
}

/// Parameters of one Event Grid event.
pub(crate) struct EventArgs<'a> {
    pub id: String,
    pub correlation_id: String,
    pub subscription: &'a str,
    pub resource_uri: &'a str,
    pub write: bool,
    pub method: &'a str,
    pub url: &'a str,
    pub time: OffsetDateTime,
}

pub(crate) const TENANT_ID: &str = "00000000-0000-0000-0000-0000000e1a70";

/// `Microsoft.Resources.ResourceWriteSuccess` / `ResourceDeleteSuccess` in the Event Grid schema.
pub(crate) fn event_json(a: &EventArgs<'_>) -> Value {
    let action = if a.write {
        "Microsoft.Compute/restorePointCollections/restorePoints/write"
    } else {
        "Microsoft.Compute/restorePointCollections/restorePoints/delete"
    };
    json!({
        "subject": a.resource_uri,
        "eventType": if a.write { "Microsoft.Resources.ResourceWriteSuccess" } else { "Microsoft.Resources.ResourceDeleteSuccess" },
        "eventTime": fmt_time(a.time),
        "id": a.id,
        "data": {
            "authorization": {
                "scope": a.resource_uri,
                "action": action,
                "evidence": {"role": "Contributor"},
            },
            "correlationId": a.correlation_id,
            "httpRequest": {
                "clientRequestId": a.correlation_id,
                "clientIpAddress": "127.0.0.1",
                "method": a.method,
                "url": a.url,
            },
            "resourceProvider": "Microsoft.Compute",
            "resourceUri": a.resource_uri,
            "operationName": action,
            "status": "Succeeded",
            "subscriptionId": a.subscription,
            "tenantId": TENANT_ID,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": format!("/subscriptions/{}", a.subscription),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_utc_rfc3339_with_microseconds_at_most() {
        assert_eq!(
            fmt_time(datetime!(2026-11-01 00:00 UTC)),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            fmt_time(datetime!(2026-11-01 02:00:00.123456789 +02:00)),
            "2026-11-01T00:00:00.123456Z"
        );
    }

    #[test]
    fn events_follow_the_event_grid_schema() {
        let e = event_json(&EventArgs {
            id: "id1".into(),
            correlation_id: "c1".into(),
            subscription: "s",
            resource_uri: "/subscriptions/s/x",
            write: false,
            method: "DELETE",
            url: "http://h/subscriptions/s/x",
            time: datetime!(2026-11-01 00:00 UTC),
        });
        assert_eq!(e["eventType"], "Microsoft.Resources.ResourceDeleteSuccess");
        assert_eq!(e["topic"], "/subscriptions/s");
        assert_eq!(e["data"]["authorization"]["scope"], "/subscriptions/s/x");
        assert!(e["data"].get("claims").is_none());
        let mut keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "data",
                "dataVersion",
                "eventTime",
                "eventType",
                "id",
                "metadataVersion",
                "subject",
                "topic"
            ]
        );
    }
}
