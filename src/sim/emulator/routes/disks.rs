//! Managed disks: PUT (restore from a disk restore point only), GET, DELETE, list by resource
//! group, and the Disk RP's operation status (`…/locations/{l}/DiskOperations/{id}`) behind the
//! `Azure-AsyncOperation` and `Location` headers its long-running writes answer with.

use serde_json::{json, Value};

use super::body::parse_tracked;
use super::errors::{bad_request, not_found};
use super::http::{Ctx, Reply};
use crate::sim::emulator::disks::{
    restore_duration, split_disk_restore_point_id, DiskId, DiskOpKind, DiskOperation, ManagedDisk,
    DISK_DELETE_DURATION,
};
use crate::sim::emulator::ids::RestorePointId;
use crate::sim::emulator::model::fmt_time;
use crate::sim::emulator::state::{disk_phase, DiskPhase, RpKind, State};

/// The headers of a Disk RP long-running operation: both point at `DiskOperations`, the
/// `Location` one with `monitor=true`, as Azure answers disk writes.
fn disk_op_headers(ctx: &Ctx<'_>, reply: Reply, sub: &str, region: &str, op: &str) -> Reply {
    let api = ctx.req.q("api-version").unwrap_or_default();
    let base = format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/DiskOperations/{op}",
        ctx.req.base()
    );
    reply
        .header("Azure-AsyncOperation", format!("{base}?api-version={api}"))
        .header("Location", format!("{base}?monitor=true&api-version={api}"))
}

fn begin(
    ctx: &Ctx<'_>,
    st: &mut State,
    (sub, region): (&str, &str),
    kind: DiskOpKind,
    reply: Reply,
) -> Reply {
    let op_id = st.uuid();
    st.disks.ops.insert(
        op_id.clone(),
        DiskOperation {
            subscription: sub.to_string(),
            region: region.to_string(),
            kind,
            start: ctx.now,
        },
    );
    disk_op_headers(ctx, reply, sub, region, &op_id)
}

fn disk_not_found(id: &DiskId) -> Reply {
    not_found("disks", &id.name, &id.resource_group)
}

/// What a restore reads from its source: the disk restore point, its region, and whether its
/// replication finished.
struct Source {
    region: String,
    size_gb: i32,
    des: Option<String>,
    unique_id: String,
    os_disk: bool,
    os_type: String,
    hyper_v_generation: &'static str,
    replicated: bool,
}

fn find_source(ctx: &Ctx<'_>, st: &State, source: &str) -> Result<Source, Reply> {
    let bad = || {
        bad_request(
            "InvalidParameter",
            format!("properties.creationData.sourceResourceId '{source}' is not a disk restore point id."),
        )
    };
    let (rp_text, name) = split_disk_restore_point_id(source).ok_or_else(bad)?;
    let rp_id: RestorePointId = rp_text.parse().map_err(|_| bad())?;
    let missing = || {
        Reply::error(
            404,
            "NotFound",
            &format!("The source disk restore point '{source}' was not found."),
        )
    };
    let coll = st
        .collections
        .get(&rp_id.collection.key())
        .ok_or_else(missing)?;
    let rp = coll
        .rps
        .iter()
        .find(|r| r.id.key() == rp_id.key() && r.deleting.is_none())
        .ok_or_else(missing)?;
    let d = rp
        .disks
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(missing)?;
    let replicated = match &rp.kind {
        RpKind::Local { .. } => true,
        RpKind::Copy(cs) => disk_phase(cs, &rp.disks, d, ctx.now) == DiskPhase::Succeeded,
    };
    Ok(Source {
        region: coll.location.clone(),
        size_gb: d.size_gb,
        des: d.des.clone(),
        unique_id: d.family_id.clone(),
        os_disk: d.lun.is_none(),
        os_type: rp.meta.os_type.clone(),
        hyper_v_generation: if rp.meta.security_type.is_some() {
            "V2"
        } else {
            "V1"
        },
        replicated,
    })
}

pub(super) fn put_disk(ctx: &Ctx<'_>, st: &mut State, id: DiskId) -> Reply {
    let (body, location, tags) = match parse_tracked(ctx.req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let cd = &body["properties"]["creationData"];
    let option = cd["createOption"].as_str().unwrap_or_default();
    if !option.eq_ignore_ascii_case("Restore") {
        return bad_request(
            "InvalidParameter",
            format!("properties.creationData.createOption '{option}': this emulator creates disks only with 'Restore' from a disk restore point."),
        );
    }
    let Some(source_id) = cd["sourceResourceId"].as_str() else {
        return bad_request(
            "InvalidParameter",
            "properties.creationData.sourceResourceId is required with createOption 'Restore'.",
        );
    };
    let key = id.key();
    if let Some(existing) = st.disks.disks.get(&key) {
        if existing.deleting.is_some() {
            return Reply::error(
                409,
                "OperationNotAllowed",
                &format!("Disk '{}' is being deleted.", id.name),
            );
        }
        if !existing.source_resource_id.eq_ignore_ascii_case(source_id) {
            return Reply::error(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'sourceResourceId' is not allowed.",
            );
        }
        // Re-PUT of the same disk: it is answered as it is.
        return Reply::json(200, existing.json(ctx.now));
    }
    let src = match find_source(ctx, st, source_id) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if src.region != location {
        return bad_request(
            "BadRequest",
            format!(
                "The disk must be in the region of its source disk restore point ('{}'), not '{location}'.",
                src.region
            ),
        );
    }
    let size_gb = match body["properties"]["diskSizeGB"].as_i64() {
        None => src.size_gb,
        Some(s) if s >= i64::from(src.size_gb) && s <= 32_767 => s as i32,
        Some(s) => {
            return bad_request(
                "BadRequest",
                format!(
                    "Disk size {s} GB is invalid: a restored disk is at least its source's {} GB.",
                    src.size_gb
                ),
            )
        }
    };
    let des = match &body["properties"]["encryption"]["diskEncryptionSetId"] {
        Value::String(d) => Some(d.clone()),
        _ => src.des.clone(),
    };
    if !src.replicated {
        // Azure restores it without a word; the copy behind it may be incomplete.
        st.stats.unsafe_restores += 1;
    }
    st.stats.disks_restored += 1;
    let unique_id = st.uuid();
    let rate = ctx.emu.inner.cfg.faults.restore_failure_rate;
    let fails = rate > 0.0 && rand::Rng::random_bool(&mut st.rng_restores, rate.min(1.0));
    let disk = ManagedDisk {
        id: id.clone(),
        location: location.clone(),
        tags,
        size_gb,
        sku: body["sku"]["name"]
            .as_str()
            .unwrap_or("Premium_LRS")
            .to_string(),
        source_resource_id: source_id.to_string(),
        source_unique_id: src.unique_id,
        des,
        os_type: src.os_disk.then_some(src.os_type),
        hyper_v_generation: src.os_disk.then(|| src.hyper_v_generation.to_string()),
        unique_id,
        created: ctx.now,
        ready_at: ctx.now + restore_duration(size_gb),
        fails,
        deleting: None,
    };
    let reply = Reply::json(202, disk.json(ctx.now));
    st.disks.disks.insert(key.clone(), disk);
    begin(
        ctx,
        st,
        (&id.subscription, &location),
        DiskOpKind::Create { disk_key: key },
        reply,
    )
}

pub(super) fn get_disk(ctx: &Ctx<'_>, st: &State, id: &DiskId) -> Reply {
    match st.disks.disks.get(&id.key()) {
        Some(d) => Reply::json(200, d.json(ctx.now)),
        None => disk_not_found(id),
    }
}

pub(super) fn delete_disk(ctx: &Ctx<'_>, st: &mut State, id: &DiskId) -> Reply {
    let Some(d) = st.disks.disks.get_mut(&id.key()) else {
        return Reply::empty(204);
    };
    let region = d.location.clone();
    let done_at = match d.deleting {
        Some(t) => t,
        None => {
            let t = ctx.now + DISK_DELETE_DURATION;
            d.deleting = Some(t);
            st.stats.disks_deleted += 1;
            t
        }
    };
    begin(
        ctx,
        st,
        (&id.subscription, &region),
        DiskOpKind::Delete { done_at },
        Reply::empty(202),
    )
}

pub(super) fn list_disks(ctx: &Ctx<'_>, st: &State, sub: &str, rg: &str) -> Reply {
    let value: Vec<Value> = st
        .disks
        .disks
        .values()
        .filter(|d| {
            d.id.subscription.eq_ignore_ascii_case(sub)
                && d.id.resource_group.eq_ignore_ascii_case(rg)
        })
        .map(|d| d.json(ctx.now))
        .collect();
    Reply::json(200, json!({ "value": value }))
}

pub(super) fn get_disk_operation(
    ctx: &Ctx<'_>,
    st: &State,
    sub: &str,
    region: &str,
    id: &str,
) -> Reply {
    let Some(op) = st
        .disks
        .ops
        .get(id)
        .filter(|o| o.subscription.eq_ignore_ascii_case(sub) && o.region == region)
    else {
        return Reply::error(404, "NotFound", &format!("Operation '{id}' was not found."));
    };
    // (status, end time, the disk when the operation produced one)
    let (status, end, disk) = match &op.kind {
        DiskOpKind::Delete { done_at } if ctx.now >= *done_at => {
            ("Succeeded", Some(*done_at), None)
        }
        DiskOpKind::Delete { .. } => ("InProgress", None, None),
        DiskOpKind::Create { disk_key } => match st.disks.disks.get(disk_key) {
            None => ("Canceled", Some(op.start), None),
            Some(d) if ctx.now >= d.ready_at && d.fails => ("Failed", Some(d.ready_at), Some(d)),
            Some(d) if ctx.now >= d.ready_at => ("Succeeded", Some(d.ready_at), Some(d)),
            Some(_) => ("InProgress", None, None),
        },
    };
    let monitor = ctx
        .req
        .q("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    if monitor {
        return match (status, disk) {
            ("InProgress", _) => Reply::empty(202).header("Location", ctx.req.url()),
            (_, Some(d)) => Reply::json(200, d.json(ctx.now)),
            _ => Reply::empty(200),
        };
    }
    let mut body = json!({"name": id, "status": status, "startTime": fmt_time(op.start)});
    if let Some(e) = end {
        body["endTime"] = json!(fmt_time(e));
    }
    if let Some(d) = disk.filter(|_| status == "Succeeded") {
        body["properties"] = json!({"output": d.json(ctx.now)});
    }
    if status == "Canceled" {
        body["error"] = json!({"code": "OperationCanceled", "message": "The disk was deleted before the operation completed."});
    }
    if status == "Failed" {
        body["error"] = json!({"code": "InternalDiskManagementError", "message": "An internal error occurred while restoring the disk (injected by the emulator)."});
    }
    Reply::json(200, body)
}
