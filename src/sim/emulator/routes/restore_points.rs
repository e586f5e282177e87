//! Restore points: PUT (a local one, or a copy handed to [`super::copies`]), GET, DELETE, and
//! the Event Grid event each write or delete emits.

use serde_json::Value;
use time::OffsetDateTime;

use super::body::parse_body;
use super::copies::{put_copy, record_violation};
use super::errors::{bad_request, not_found, parent_not_found};
use super::http::{Ctx, Reply};
use super::operations::{begin_operation, op_headers};
use crate::sim::emulator::counts;
use crate::sim::emulator::ids::{eq_ignore_case, RestorePointId};
use crate::sim::emulator::model::{self, EventArgs};
use crate::sim::emulator::rules::{self, Refusal};
use crate::sim::emulator::state::{
    CollectionKind, DiskRp, OpKind, RestorePoint, RpKind, SourceMeta, State, DELETE_DURATION,
};

pub(super) fn emit(ctx: &Ctx<'_>, st: &mut State, id: &RestorePointId, write: bool) {
    let ev = event(ctx, st, id, write, ctx.now);
    st.push_event(ev);
}

/// The Event Grid event of this request on `id`, stamped `time`.
fn event(
    ctx: &Ctx<'_>,
    st: &mut State,
    id: &RestorePointId,
    write: bool,
    time: OffsetDateTime,
) -> Value {
    let ev_id = st.uuid();
    let uri = id.to_string();
    let url = ctx.req.url();
    model::event_json(&EventArgs {
        id: ev_id,
        correlation_id: ctx.correlation.clone(),
        subscription: &id.collection.subscription,
        resource_uri: &uri,
        write,
        method: ctx.req.method.as_str(),
        url: &url,
        time,
    })
}

pub(super) fn put_restore_point(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let source = body["properties"]["sourceRestorePoint"]["id"].as_str();
    let ckey = id.collection.key();
    let Some(coll) = st.collections.get(&ckey) else {
        if source.is_some() {
            let r = Refusal {
                status: 404,
                code: "ParentResourceNotFound",
                message: String::new(),
                rule: Some(rules::rule::MISSING_TARGET_COLLECTION),
                retry_after: None,
            };
            record_violation(st, &r);
            return Reply::error(
                404,
                "ParentResourceNotFound",
                &format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found: the target restore point collection must exist in the target region before a copy.",
                    id.collection.name
                ),
            );
        }
        return parent_not_found(&id.collection.name);
    };
    // Azure PUT semantics: re-PUT of an existing restore point returns it unchanged.
    if let Some(existing) = coll.rps.iter().find(|r| r.id.key() == id.key()) {
        if existing.deleting.is_some() {
            // Making it again must wait until the delete completed (a GET answers 404).
            let r = Refusal::rule(
                409,
                "Conflict",
                rules::rule::RESTORE_POINT_DELETING,
                format!(
                    "Restore point '{}' is being deleted; it can be created again once the delete has completed.",
                    id.name
                ),
            );
            record_violation(st, &r);
            return r.into();
        }
        let same = match (&existing.kind, source) {
            (RpKind::Copy(cs), Some(s)) => eq_ignore_case(&cs.source_id.to_string(), s),
            (RpKind::Local { .. }, None) => true,
            _ => false,
        };
        return if same {
            // 201, not 200: the swagger (and so the generated SDKs) accept only 201 for
            // RestorePoints_Create. Same resource, same operation: nothing new starts.
            let body = model::restore_point_json(existing, ctx.now, false);
            let key = id.key();
            let op = st
                .ops
                .values()
                .find(|o| matches!(&o.kind, OpKind::CreateRp { rp_key } if *rp_key == key));
            match op {
                Some(op) => op_headers(
                    ctx,
                    Reply::json(201, body),
                    &id.collection.subscription,
                    &coll.location,
                    &op.id,
                ),
                None => Reply::json(201, body),
            }
        } else {
            Reply::error(
                409,
                "Conflict",
                &format!(
                    "Restore point '{}' already exists with different properties; restore points cannot be changed.",
                    id.name
                ),
            )
        };
    }
    match source {
        Some(s) => put_copy(ctx, st, id, &body, s),
        None => put_local(ctx, st, id, &body),
    }
}

fn put_local(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId, body: &Value) -> Reply {
    let ckey = id.collection.key();
    let Some(coll) = st.collections.get(&ckey) else {
        return parent_not_found(&id.collection.name);
    };
    let CollectionKind::Local { vm } = &coll.kind else {
        return bad_request(
            "OperationNotAllowed",
            "Restore points in a cross-region target collection can only be created by copying (properties.sourceRestorePoint.id).",
        );
    };
    let Some(vm) = st.vms.get(vm).cloned() else {
        return Reply::error(
            404,
            "ResourceNotFound",
            "The source virtual machine of this restore point collection no longer exists.",
        );
    };
    let props = &body["properties"];
    let consistency = match props["consistencyMode"].as_str() {
        None => "ApplicationConsistent".to_string(),
        Some(m) if ["CrashConsistent", "FileSystemConsistent", "ApplicationConsistent"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(m)) => m.to_string(),
        Some(m) => return bad_request("InvalidParameter", format!("consistencyMode '{m}' is not one of CrashConsistent, FileSystemConsistent, ApplicationConsistent.")),
    };
    let mut exclude = Vec::new();
    if let Some(ex) = props["excludeDisks"].as_array() {
        for e in ex {
            let Some(did) = e["id"].as_str() else {
                return bad_request("InvalidParameter", "excludeDisks entries need an id.");
            };
            match vm
                .disks
                .iter()
                .find(|d| eq_ignore_case(&d.managed_disk_id, did))
            {
                None => {
                    return bad_request(
                        "InvalidParameter",
                        format!("excludeDisks: '{did}' is not a disk of the VM."),
                    )
                }
                Some(d) if d.lun.is_none() => {
                    return bad_request(
                        "InvalidParameter",
                        "The OS disk cannot be excluded from a restore point.",
                    )
                }
                Some(d) => exclude.push(d.managed_disk_id.clone()),
            }
        }
    }
    if let Err(r) = counts::check_local(
        st,
        &vm.id.key(),
        &consistency,
        ctx.now,
        ctx.emu.inner.cfg.limits.min_restore_point_interval,
    ) {
        return r.into();
    }
    let instant = props["instantAccessDurationMinutes"]
        .as_i64()
        .and_then(|m| i32::try_from(m).ok());
    let mut disks = Vec::new();
    for d in vm
        .disks
        .iter()
        .filter(|d| !exclude.contains(&d.managed_disk_id))
    {
        let suffix = st.uuid();
        let lower = d.managed_disk_id.to_ascii_lowercase();
        disks.push(DiskRp {
            name: format!("{}_{suffix}", d.name),
            disk_name: d.name.clone(),
            lun: d.lun,
            size_gb: d.size_gb,
            used_gb: d.used_gb,
            churn_gb_per_day: d.churn_gb_per_day,
            managed_disk_id: d.managed_disk_id.clone(),
            storage_account_type: d.storage_account_type.clone(),
            caching: d.caching.clone(),
            source_resource_id: d.managed_disk_id.clone(),
            source_des: d.des.clone(),
            des: d.des.clone(),
            private: d.private,
            disk_access_id: d.disk_access_id.clone(),
            family_id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("family:{lower}").as_bytes(),
            )
            .to_string(),
            source_unique_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, lower.as_bytes())
                .to_string(),
            copy: None,
        });
    }
    let op_id = st.uuid();
    let rp = RestorePoint {
        id: id.clone(),
        time_created: ctx.now,
        consistency_mode: consistency,
        exclude_disks: exclude,
        instant_access_minutes: instant,
        meta: SourceMeta {
            vm_uuid: vm.vm_uuid.clone(),
            vm_size: vm.vm_size.clone(),
            os_type: vm.os_type.clone(),
            location: vm.location.clone(),
            security_type: vm.security_type.clone(),
        },
        disks,
        kind: RpKind::Local {
            settled_at: ctx.now + ctx.emu.inner.cfg.restore_point_settle,
        },
        deleting: None,
    };
    let region = vm.location.clone();
    let out = model::restore_point_json(&rp, ctx.now, false);
    if let Some(c) = st.collections.get_mut(&ckey) {
        c.rps.push(rp);
    }
    emit(ctx, st, &id, true);
    begin_operation(
        ctx,
        st,
        op_id,
        (&id.collection.subscription, &region),
        OpKind::CreateRp { rp_key: id.key() },
        Reply::json(201, out),
    )
}

/// DELETE is a long-running operation, as in Azure: 202 with the operation's headers; the
/// restore point answers `Deleting` until it completes (`DELETE_DURATION`), then 404, and
/// the Event Grid delete event fires then. A repeat while it runs gets the same operation.
pub(super) fn delete_restore_point(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId) -> Reply {
    let key = id.key();
    let Some(c) = st.collections.get(&id.collection.key()) else {
        return parent_not_found(&id.collection.name);
    };
    let region = c.location.clone();
    let Some(rp) = c.rps.iter().find(|r| r.id.key() == key) else {
        return Reply::empty(204);
    };
    let sub = &id.collection.subscription;
    if let Some(d) = &rp.deleting {
        let op = d.op_id.clone();
        return op_headers(ctx, Reply::empty(202), sub, &region, &op);
    }
    if let Some(r) = super::locks::refuse_if_locked(st, &id.to_string()) {
        return r;
    }
    let op_id = st.uuid();
    let done_at = ctx.now + DELETE_DURATION;
    let ev = event(ctx, st, &id, false, done_at);
    counts::note_delete(st, &key, ctx.req.header("user-agent"));
    st.begin_delete(&key, op_id.clone(), ev, ctx.now);
    begin_operation(
        ctx,
        st,
        op_id,
        (sub, &region),
        OpKind::Delete { done_at },
        Reply::empty(202),
    )
}

pub(super) fn get_restore_point(ctx: &Ctx<'_>, st: &State, id: RestorePointId) -> Reply {
    let Some(c) = st.collections.get(&id.collection.key()) else {
        return parent_not_found(&id.collection.name);
    };
    let iv = ctx
        .req
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    match c.rps.iter().find(|r| r.id.key() == id.key()) {
        Some(rp) => Reply::json(200, model::restore_point_json(rp, ctx.now, iv)),
        None => not_found(
            &format!(
                "restorePointCollections/{}/restorePoints",
                id.collection.name
            ),
            &id.name,
            &id.collection.resource_group,
        ),
    }
}
