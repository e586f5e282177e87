//! Disk restore points: list and GET under a restore point.

use serde_json::json;

use super::errors::{not_found, parent_not_found};
use super::http::{Ctx, Reply};
use crate::sim::emulator::ids::RestorePointId;
use crate::sim::emulator::model;
use crate::sim::emulator::state::{RestorePoint, State};

fn find_rp_reply<'a>(st: &'a State, id: &RestorePointId) -> Result<&'a RestorePoint, Reply> {
    let c = st
        .collections
        .get(&id.collection.key())
        .ok_or_else(|| parent_not_found(&id.collection.name))?;
    c.rps
        .iter()
        .find(|r| r.id.key() == id.key())
        .ok_or_else(|| {
            not_found(
                &format!(
                    "restorePointCollections/{}/restorePoints",
                    id.collection.name
                ),
                &id.name,
                &id.collection.resource_group,
            )
        })
}

pub(super) fn list_disk_restore_points(ctx: &Ctx<'_>, st: &State, id: &RestorePointId) -> Reply {
    match find_rp_reply(st, id) {
        Ok(rp) => Reply::json(
            200,
            json!({"value": rp.disks.iter().map(|d| model::disk_restore_point_json(rp, d, ctx.now)).collect::<Vec<_>>()}),
        ),
        Err(r) => r,
    }
}

pub(super) fn get_disk_restore_point(
    ctx: &Ctx<'_>,
    st: &State,
    id: &RestorePointId,
    name: &str,
) -> Reply {
    match find_rp_reply(st, id) {
        Ok(rp) => match rp.disks.iter().find(|d| d.name.eq_ignore_ascii_case(name)) {
            Some(d) => Reply::json(200, model::disk_restore_point_json(rp, d, ctx.now)),
            None => not_found(
                &format!(
                    "restorePointCollections/{}/restorePoints/{}/diskRestorePoints",
                    id.collection.name, id.name
                ),
                name,
                &id.collection.resource_group,
            ),
        },
        Err(r) => r,
    }
}
