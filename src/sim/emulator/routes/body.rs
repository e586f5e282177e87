//! Request bodies: size bound, JSON object, and the `tags` and `location` every PUT reads.

use std::collections::BTreeMap;

use serde_json::Value;

use super::errors::bad_request;
use super::http::{Reply, Req};
use crate::sim::emulator::ids::normalize_region;

pub(super) const MAX_BODY: usize = 4 * 1024 * 1024;

pub(super) fn parse_body(req: &Req) -> Result<Value, Reply> {
    if req.body.len() > MAX_BODY {
        return Err(Reply::error(
            413,
            "RequestEntityTooLarge",
            "The request body is larger than 4 MiB.",
        ));
    }
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
        bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(bad_request(
            "InvalidRequestContent",
            "The request content must be a JSON object.",
        ));
    }
    Ok(v)
}

pub(super) fn parse_tags(body: &Value) -> Result<BTreeMap<String, String>, Reply> {
    match &body["tags"] {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad_request(
                    "InvalidParameter",
                    format!("Tag '{k}' must have a string value."),
                )),
            })
            .collect(),
        _ => Err(bad_request(
            "InvalidParameter",
            "tags must be an object of strings.",
        )),
    }
}

pub(super) fn parse_location(body: &Value) -> Result<String, Reply> {
    let loc = body["location"].as_str().ok_or_else(|| {
        bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        )
    })?;
    normalize_region(loc).ok_or_else(|| {
        bad_request(
            "LocationNotAvailableForResourceType",
            format!("'{loc}' is not a valid Azure region name."),
        )
    })
}

/// The body of a PUT of a tracked resource (one with a location and tags): the JSON, its
/// location and its tags, or the reply refusing the first that is wrong.
pub(super) type TrackedBody = (Value, String, BTreeMap<String, String>);

pub(super) fn parse_tracked(req: &Req) -> Result<TrackedBody, Reply> {
    let body = parse_body(req)?;
    let location = parse_location(&body)?;
    let tags = parse_tags(&body)?;
    Ok((body, location, tags))
}
