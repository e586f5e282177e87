//! `{restore point}/providers/Microsoft.Authorization/locks/{name}`: PUT, GET and DELETE of a
//! management lock (api-version 2016-09-01, as in the management-locks REST reference), and
//! the 409 `ScopeLocked` a delete under a lock gets.

use serde_json::{json, Value};

use super::body::parse_body;
use super::errors::{bad_request, not_found, parent_not_found};
use super::http::{Ctx, Reply};
use crate::sim::emulator::ids::RestorePointId;
use crate::sim::emulator::locks::{scope_locked_message, Lock, LEVELS};
use crate::sim::emulator::state::State;

/// Api-versions of `Microsoft.Authorization/locks` accepted.
pub const LOCK_API_VERSIONS: &[&str] = &["2016-09-01", "2020-05-01"];

fn lock_json(l: &Lock) -> Value {
    let mut props = json!({"level": l.level});
    if let Some(n) = &l.notes {
        props["notes"] = json!(n);
    }
    json!({"id": l.id, "type": "Microsoft.Authorization/locks", "name": l.name,
        "properties": props})
}

fn scope_exists(st: &State, scope: &RestorePointId) -> Result<(), Reply> {
    let Some(c) = st.collections.get(&scope.collection.key()) else {
        return Err(parent_not_found(&scope.collection.name));
    };
    let key = scope.key();
    if c.rps
        .iter()
        .any(|r| r.id.key() == key && r.deleting.is_none())
    {
        Ok(())
    } else {
        Err(not_found(
            &format!(
                "restorePointCollections/{}/restorePoints",
                scope.collection.name
            ),
            &scope.name,
            &scope.collection.resource_group,
        ))
    }
}

pub(super) fn put_lock(
    ctx: &Ctx<'_>,
    st: &mut State,
    scope: RestorePointId,
    name: String,
) -> Reply {
    if let Err(r) = scope_exists(st, &scope) {
        return r;
    }
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let level = body["properties"]["level"].as_str().unwrap_or_default();
    if !LEVELS.contains(&level) {
        return bad_request(
            "LockLevelInvalid",
            format!(
                "The lock level '{level}' is invalid. Valid lock levels are: {}.",
                LEVELS.join(", ")
            ),
        );
    }
    let notes = body["properties"]["notes"].as_str().map(str::to_string);
    let lock = Lock {
        id: format!("{scope}/providers/Microsoft.Authorization/locks/{name}"),
        name,
        level: level.to_string(),
        notes,
    };
    let out = lock_json(&lock);
    let created = st.locks.put(&scope.key(), lock);
    Reply::json(if created { 201 } else { 200 }, out)
}

pub(super) fn get_lock(st: &State, scope: &RestorePointId, name: &str) -> Reply {
    match st.locks.get(&scope.key(), name) {
        Some(l) => Reply::json(200, lock_json(l)),
        None => Reply::error(
            404,
            "LockNotFound",
            &format!("The lock '{name}' could not be found."),
        ),
    }
}

pub(super) fn delete_lock(st: &mut State, scope: &RestorePointId, name: &str) -> Reply {
    if st.locks.delete(&scope.key(), name) {
        Reply::empty(200)
    } else {
        Reply::empty(204)
    }
}

/// The 409 a DELETE of `scope` (a restore point or a collection) gets while a lock on it or
/// below it exists; `None` when nothing forbids the delete.
pub(super) fn refuse_if_locked(st: &State, scope: &str) -> Option<Reply> {
    let lock = st.locks.blocking_delete(&scope.to_ascii_lowercase())?;
    let lock_scope = lock
        .id
        .rsplit_once("/providers/Microsoft.Authorization/locks/")
        .map_or(lock.id.as_str(), |(s, _)| s);
    Some(Reply::error(
        409,
        "ScopeLocked",
        &scope_locked_message(scope, lock_scope),
    ))
}
