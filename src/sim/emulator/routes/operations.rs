//! Long-running operations: the `Azure-AsyncOperation` and `Location` headers a write
//! answers with, and the operation status and monitor GETs behind them.

use serde_json::json;

use super::http::{Ctx, Reply};
use crate::sim::emulator::model;
use crate::sim::emulator::state::{
    provisioning_state, OpKind, Operation, RpKind, State, PROGRESS_STEP,
};

pub(super) fn op_headers(ctx: &Ctx<'_>, reply: Reply, sub: &str, region: &str, op: &str) -> Reply {
    let api = ctx.req.q("api-version").unwrap_or_default();
    let base = format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/operations/{op}",
        ctx.req.base()
    );
    reply
        .header("Azure-AsyncOperation", format!("{base}?api-version={api}"))
        .header("Location", format!("{base}?monitor=true&api-version={api}"))
        .header("Retry-After", "10")
}

/// Starts a long-running operation of `kind` (id `op_id`) and answers `reply` with the
/// headers that point at it.
pub(super) fn begin_operation(
    ctx: &Ctx<'_>,
    st: &mut State,
    op_id: String,
    (sub, region): (&str, &str),
    kind: OpKind,
    reply: Reply,
) -> Reply {
    let headers = op_headers(ctx, reply, sub, region, &op_id);
    st.ops.insert(
        op_id.clone(),
        Operation {
            id: op_id,
            subscription: sub.to_string(),
            region: region.to_string(),
            kind,
            start: ctx.now,
        },
    );
    headers
}

pub(super) fn get_operation(ctx: &Ctx<'_>, st: &State, sub: &str, region: &str, id: &str) -> Reply {
    let Some(op) = st
        .ops
        .get(id)
        .filter(|o| o.subscription.eq_ignore_ascii_case(sub) && o.region == region)
    else {
        return Reply::error(404, "NotFound", &format!("Operation '{id}' was not found."));
    };
    // (status, end time, resource)
    let (status, end, resource) = match &op.kind {
        OpKind::Delete { done_at } if ctx.now >= *done_at => ("Succeeded", Some(*done_at), None),
        OpKind::Delete { .. } => ("InProgress", None, None),
        OpKind::CreateRp { rp_key } => match st.find_rp(rp_key) {
            None => ("Canceled", Some(op.start), None),
            Some(rp) => {
                let end = match &rp.kind {
                    RpKind::Local { settled_at } => *settled_at,
                    RpKind::Copy(cs) => cs.started + PROGRESS_STEP,
                };
                if provisioning_state(rp, ctx.now) == "Succeeded" {
                    ("Succeeded", Some(end), Some(rp))
                } else {
                    ("InProgress", None, Some(rp))
                }
            }
        },
    };
    let monitor = ctx
        .req
        .q("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    if monitor {
        return match (status, resource) {
            ("InProgress", _) => Reply::empty(202)
                .header("Location", ctx.req.url())
                .header("Retry-After", "10"),
            (_, Some(rp)) => Reply::json(200, model::restore_point_json(rp, ctx.now, false)),
            _ => Reply::empty(204),
        };
    }
    let mut body = json!({"name": op.id, "status": status, "startTime": model::fmt_time(op.start)});
    if let Some(e) = end {
        body["endTime"] = json!(model::fmt_time(e));
    }
    if status == "Canceled" {
        body["error"] = json!({"code": "OperationCanceled", "message": "The resource was deleted before the operation completed."});
    }
    let mut reply = Reply::json(200, body);
    if status == "InProgress" {
        reply = reply.header("Retry-After", "10");
    }
    reply
}
