//! Cross-region copies: the copy PUT checked against the platform's copy rules (refusals
//! counted as violations), and what the copy transfers (full or incremental, per disk).

use serde_json::Value;

use super::errors::{bad_request, parent_not_found};
use super::http::{Ctx, Reply};
use super::operations::begin_operation;
use super::restore_points::emit;
use crate::sim::emulator::counts;
use crate::sim::emulator::ids::{DiskEncryptionSetId, RestorePointId};
use crate::sim::emulator::model;
use crate::sim::emulator::rules::{self, check_copy, target_des_from_body, CopyRequest, Refusal};
use crate::sim::emulator::state::{
    transfer_time, CopyState, DiskCopy, DiskRp, OpKind, RestorePoint, RpKind, State, PROGRESS_STEP,
};

pub(super) fn record_violation(st: &mut State, r: &Refusal) {
    if let Some(rule) = r.rule {
        st.stats.rule_violations += 1;
        *st.stats
            .violations_by_rule
            .entry(rule.to_string())
            .or_default() += 1;
        if rule == rules::rule::DUPLICATE_COPY {
            st.stats.duplicate_copies += 1;
        }
    }
}

pub(super) fn put_copy(
    ctx: &Ctx<'_>,
    st: &mut State,
    id: RestorePointId,
    body: &Value,
    source: &str,
) -> Reply {
    let source: RestorePointId = match source.parse() {
        Ok(s) => s,
        Err(e) => {
            return bad_request(
                "InvalidParameter",
                format!("properties.sourceRestorePoint.id: {e}"),
            )
        }
    };
    let src_disks: Vec<(Option<i32>, String, String)> = st
        .find_rp(&source.key())
        .map(|rp| {
            rp.disks
                .iter()
                .map(|d| {
                    (
                        d.lun,
                        d.disk_name.clone(),
                        format!("{}/diskRestorePoints/{}", rp.id, d.name),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let req = CopyRequest {
        source: source.clone(),
        target_des: target_des_from_body(body, &src_disks),
    };
    for des in req.target_des.iter().flatten() {
        if let Err(e) = des.parse::<DiskEncryptionSetId>() {
            return bad_request(
                "InvalidParameter",
                format!("diskRestorePoint.encryption.diskEncryptionSet.id: {e}"),
            );
        }
    }
    let tkey = id.collection.key();
    let limit = ctx
        .emu
        .inner
        .cfg
        .limits
        .copies_per_hour_per_target_collection;
    if let Err(r) = check_copy(st, &tkey, &req, ctx.now, limit) {
        record_violation(st, &r);
        return r.into();
    }
    if let Err(r) = counts::check_copy_count(
        st,
        &tkey,
        ctx.emu.inner.cfg.limits.copies_per_target_collection,
    ) {
        return r.into();
    }
    let Some(src) = st.find_rp(&source.key()).cloned() else {
        return Reply::error(404, "ResourceNotFound", "source restore point vanished");
    };
    let Some(target) = st.collections.get(&tkey) else {
        return parent_not_found(&id.collection.name);
    };
    let src_coll_key = source.collection.key();
    let src_location = st
        .collections
        .get(&src_coll_key)
        .map(|c| c.location.clone())
        .unwrap_or_default();
    // Full copy for the first copy of the chain, or when the chain's base was deleted at the
    // source (or is being deleted); otherwise only the churn since the newest restore point
    // whose copy is still in the target collection. (A deleted attempt does not count: a
    // restarted copy transfers what the attempt it replaces did.)
    let base_alive = target
        .base_source
        .as_ref()
        .is_some_and(|b| st.find_rp(b).is_some_and(|r| r.deleting.is_none()));
    let previous = target
        .rps
        .iter()
        .filter(|r| r.deleting.is_none() && matches!(r.kind, RpKind::Copy(_)))
        .map(|r| r.time_created)
        .max();
    let full = previous.is_none() || !base_alive;
    let region = target.location.clone();
    let bandwidth = ctx.emu.inner.cfg.bandwidth_mbps;
    let mut disks = Vec::new();
    for (d, des) in src.disks.iter().zip(req.target_des.iter()) {
        let data_gb = match (previous, full) {
            (Some(prev_created), false) => {
                let days = (src.time_created - prev_created).as_seconds_f64().max(0.0) / 86_400.0;
                (d.churn_gb_per_day * days).min(d.used_gb)
            }
            _ => d.used_gb,
        };
        let suffix = st.uuid();
        disks.push(DiskRp {
            name: format!("{}_{suffix}", d.disk_name),
            source_resource_id: format!("{}/diskRestorePoints/{}", src.id, d.name),
            des: des.clone(),
            private: false,
            disk_access_id: None,
            copy: Some(DiskCopy {
                data_gb,
                duration: transfer_time(data_gb, bandwidth),
                source_disk_rp_id: format!("{}/diskRestorePoints/{}", src.id, d.name),
            }),
            ..d.clone()
        });
    }
    let longest = disks
        .iter()
        .filter_map(|d| d.copy.as_ref().map(|c| c.duration))
        .max()
        .unwrap_or(PROGRESS_STEP);
    let faults = &ctx.emu.inner.cfg.faults;
    let fate = st.draw_fate(
        &source.key(),
        longest,
        faults.copy_failure_rate,
        faults.copy_stall_rate,
    );
    let op_id = st.uuid();
    let rp = RestorePoint {
        id: id.clone(),
        time_created: src.time_created,
        consistency_mode: src.consistency_mode.clone(),
        exclude_disks: Vec::new(),
        instant_access_minutes: None,
        meta: src.meta.clone(),
        disks,
        kind: RpKind::Copy(CopyState {
            source_id: src.id.clone(),
            source_collection_key: src_coll_key,
            source_location: src_location,
            started: ctx.now,
            fate,
            full,
            finalized: None,
        }),
        deleting: None,
    };
    let out = model::restore_point_json(&rp, ctx.now, false);
    st.copy_created(&region, &rp);
    if let Some(t) = st.collections.get_mut(&tkey) {
        t.rps.push(rp);
        t.max_copied_source_created = Some(
            t.max_copied_source_created
                .map_or(src.time_created, |m| m.max(src.time_created)),
        );
        if full {
            t.base_source = Some(source.key());
        }
    }
    counts::note_target_size(st, &tkey);
    st.copy_windows.entry(tkey).or_default().record(ctx.now);
    st.stats.copies_started += 1;
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
