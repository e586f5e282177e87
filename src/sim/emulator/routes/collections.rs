//! Restore point collections: list (paged), PUT (local or cross-region copy target), PATCH,
//! GET and DELETE.

use serde_json::{json, Value};

use super::body::{parse_body, parse_tags, parse_tracked};
use super::errors::{bad_request, not_found};
use super::http::{Ctx, Reply};
use crate::sim::emulator::counts;
use crate::sim::emulator::ids::{eq_ignore_case, CollectionId, VmId};
use crate::sim::emulator::model;
use crate::sim::emulator::state::{Collection, CollectionKind, State};

const PAGE_SIZE: usize = 50;

pub(super) fn list_collections(ctx: &Ctx<'_>, st: &State, sub: &str, rg: Option<&str>) -> Reply {
    let skip = match ctx.req.q("$skiptoken").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("InvalidParameter", "The $skiptoken is invalid."),
    };
    let all: Vec<&Collection> = st
        .collections
        .values()
        .filter(|c| c.id.subscription.eq_ignore_ascii_case(sub))
        .filter(|c| rg.is_none_or(|rg| c.id.resource_group.eq_ignore_ascii_case(rg)))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(PAGE_SIZE)
        .map(|c| model::collection_json(c, ctx.now, false))
        .collect();
    let mut body = json!({"value": page});
    if skip + PAGE_SIZE < all.len() {
        let api = ctx.req.q("api-version").unwrap_or_default();
        body["nextLink"] = json!(format!(
            "{}{}?api-version={}&$skiptoken={}",
            ctx.req.base(),
            ctx.req.path,
            api,
            skip + PAGE_SIZE
        ));
    }
    Reply::json(200, body)
}

pub(super) fn put_collection(ctx: &Ctx<'_>, st: &mut State, id: CollectionId) -> Reply {
    let (body, location, tags) = match parse_tracked(ctx.req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(source_id) = body["properties"]["source"]["id"].as_str() else {
        return bad_request(
            "InvalidParameter",
            "properties.source.id is required: a virtual machine id, or a restore point collection id for a cross-region copy target.",
        );
    };
    let instant_access = body["properties"]["instantAccess"].as_bool();
    let (kind, source_location, source_display) = if let Ok(vm) = source_id.parse::<VmId>() {
        let Some(v) = st.vms.get(&vm.key()) else {
            return bad_request(
                "InvalidParameter",
                format!("Source virtual machine '{vm}' was not found."),
            );
        };
        if v.location != location {
            return bad_request(
                "InvalidParameter",
                format!("A restore point collection for a VM must be in the VM's region '{}', not '{location}'.", v.location),
            );
        }
        (
            CollectionKind::Local { vm: vm.key() },
            v.location.clone(),
            v.id.to_string(),
        )
    } else if let Ok(src) = source_id.parse::<CollectionId>() {
        let Some(s) = st.collections.get(&src.key()) else {
            return bad_request(
                "InvalidParameter",
                format!("Source restore point collection '{src}' was not found."),
            );
        };
        if matches!(s.kind, CollectionKind::Target { .. }) {
            return bad_request(
                "OperationNotAllowed",
                format!("'{src}' is itself a cross-region copy target: copy of a copy is not supported."),
            );
        }
        (
            CollectionKind::Target { source: src.key() },
            s.location.clone(),
            s.id.to_string(),
        )
    } else {
        return bad_request(
            "InvalidParameter",
            format!("properties.source.id '{source_id}' is neither a virtual machine nor a restore point collection id."),
        );
    };
    if let Some(c) = st.collections.get_mut(&id.key()) {
        if !eq_ignore_case(&c.source_id, &source_display) {
            return Reply::error(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'source.id' is not allowed.",
            );
        }
        if c.location != location {
            return Reply::error(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'location' is not allowed.",
            );
        }
        c.tags = tags;
        if instant_access.is_some() {
            c.instant_access = instant_access;
        }
        return Reply::json(200, model::collection_json(c, ctx.now, false));
    }
    if let Err(r) = counts::check_collection_count(st, &id.subscription, &location) {
        return r.into();
    }
    let uid = st.uuid();
    let c = Collection {
        id: id.clone(),
        location,
        tags,
        source_id: source_display,
        source_location,
        uid,
        instant_access,
        kind,
        rps: Vec::new(),
        max_copied_source_created: None,
        base_source: None,
    };
    let out = model::collection_json(&c, ctx.now, false);
    st.collections.insert(id.key(), c);
    Reply::json(201, out)
}

pub(super) fn patch_collection(ctx: &Ctx<'_>, st: &mut State, id: CollectionId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(c) = st.collections.get_mut(&id.key()) else {
        return not_found("restorePointCollections", &id.name, &id.resource_group);
    };
    if body.get("tags").is_some() {
        c.tags = tags;
    }
    if let Some(ia) = body["properties"]["instantAccess"].as_bool() {
        c.instant_access = Some(ia);
    }
    Reply::json(200, model::collection_json(c, ctx.now, false))
}

pub(super) fn get_collection(ctx: &Ctx<'_>, st: &State, id: CollectionId) -> Reply {
    let expand = ctx
        .req
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("restorePoints"));
    match st.collections.get(&id.key()) {
        Some(c) => Reply::json(200, model::collection_json(c, ctx.now, expand)),
        None => not_found("restorePointCollections", &id.name, &id.resource_group),
    }
}

pub(super) fn delete_collection(ctx: &Ctx<'_>, st: &mut State, id: CollectionId) -> Reply {
    // A lock on any of its restore points forbids deleting the collection too.
    if st.collections.contains_key(&id.key()) {
        if let Some(r) = super::locks::refuse_if_locked(st, &id.to_string()) {
            return r;
        }
    }
    match st.collections.remove(&id.key()) {
        Some(c) => {
            st.copy_windows.remove(&id.key());
            // Its copies no longer protect their source in this region.
            if let CollectionKind::Target { source } = &c.kind {
                st.recompute_marks(source, &c.location, ctx.now);
            }
            Reply::empty(200)
        }
        None => Reply::empty(204),
    }
}
