//! Restore point events from Event Grid, in the Event Grid schema or CloudEvents 1.0,
//! delivered by an `eventGridTrigger` or as Service Bus message bodies.
//!
//! Subscription-level resource events are many; only restore point writes and deletes
//! matter. Everything else is [`Parsed::Ignored`] quietly; malformed input is an error
//! naming what is wrong.

use crate::ids::RestorePointId;
use serde_json::Value;
use time::OffsetDateTime;

pub const WRITE_OPERATION: &str = "Microsoft.Compute/restorePointCollections/restorePoints/write";
pub const DELETE_OPERATION: &str = "Microsoft.Compute/restorePointCollections/restorePoints/delete";
pub const WRITE_SUCCESS: &str = "Microsoft.Resources.ResourceWriteSuccess";
pub const DELETE_SUCCESS: &str = "Microsoft.Resources.ResourceDeleteSuccess";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Write,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    EventGrid,
    CloudEvents,
}

/// A restore point was written or deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorePointEvent {
    pub id: String,
    pub kind: EventKind,
    pub restore_point: RestorePointId,
    pub time: Option<OffsetDateTime>,
    pub schema: Schema,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    RestorePoint(RestorePointEvent),
    /// Well-formed, but not something ferry acts on (with why, for debug logs).
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event{}: {reason}", .id.as_ref().map(|i| format!(" {i}")).unwrap_or_default())]
pub struct EventError {
    pub id: Option<String>,
    pub reason: String,
}

fn err(id: Option<&str>, reason: impl Into<String>) -> EventError {
    EventError {
        id: id.map(str::to_string),
        reason: reason.into(),
    }
}

/// Parses a payload that holds one event or an array of events.
pub fn parse_payload(v: &Value) -> Vec<Result<Parsed, EventError>> {
    match v {
        Value::Array(items) => items.iter().map(parse_event).collect(),
        other => vec![parse_event(other)],
    }
}

/// Parses one event in either schema.
pub fn parse_event(v: &Value) -> Result<Parsed, EventError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(None, format!("expected a JSON object, got {}", kind_of(v))))?;
    let id = obj.get("id").and_then(Value::as_str);
    let id = id.ok_or_else(|| err(None, "missing string field `id`"))?;
    let (schema, event_type, time) = if obj.contains_key("specversion") {
        let sv = obj.get("specversion").and_then(Value::as_str).unwrap_or("");
        if sv != "1.0" {
            return Err(err(
                Some(id),
                format!("unsupported CloudEvents specversion {sv:?}"),
            ));
        }
        (Schema::CloudEvents, obj.get("type"), obj.get("time"))
    } else if obj.contains_key("eventType") {
        (
            Schema::EventGrid,
            obj.get("eventType"),
            obj.get("eventTime"),
        )
    } else {
        return Err(err(
            Some(id),
            "neither an Event Grid event (eventType) nor a CloudEvent (specversion)",
        ));
    };
    let event_type = event_type
        .and_then(Value::as_str)
        .ok_or_else(|| err(Some(id), "missing string event type"))?;
    let kind = if event_type.eq_ignore_ascii_case(WRITE_SUCCESS) {
        EventKind::Write
    } else if event_type.eq_ignore_ascii_case(DELETE_SUCCESS) {
        EventKind::Delete
    } else {
        return Ok(Parsed::Ignored(format!("event type {event_type}")));
    };
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| err(Some(id), "missing object field `data`"))?;
    let op = data
        .get("operationName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let want = match kind {
        EventKind::Write => WRITE_OPERATION,
        EventKind::Delete => DELETE_OPERATION,
    };
    if !op.eq_ignore_ascii_case(want) {
        return Ok(Parsed::Ignored(format!("operation {op:?}")));
    }
    if let Some(status) = data.get("status").and_then(Value::as_str) {
        if !status.eq_ignore_ascii_case("Succeeded") {
            return Ok(Parsed::Ignored(format!("status {status}")));
        }
    }
    let uri = data
        .get("resourceUri")
        .and_then(Value::as_str)
        .or_else(|| obj.get("subject").and_then(Value::as_str))
        .ok_or_else(|| err(Some(id), "no data.resourceUri or subject"))?;
    let restore_point: RestorePointId = uri
        .parse()
        .map_err(|e: crate::ids::IdError| err(Some(id), e.to_string()))?;
    let time = match time.and_then(Value::as_str) {
        None => None,
        Some(t) => Some(
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|e| err(Some(id), format!("event time {t:?}: {e}")))?,
        ),
    };
    Ok(Parsed::RestorePoint(RestorePointEvent {
        id: id.to_string(),
        kind,
        restore_point,
        time,
        schema,
    }))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds an Event Grid-schema restore point event (used by tests and fixtures).
pub fn event_grid_event(
    id: &str,
    kind: EventKind,
    rp: &RestorePointId,
    time: OffsetDateTime,
) -> Value {
    let (ty, op, method) = match kind {
        EventKind::Write => (WRITE_SUCCESS, WRITE_OPERATION, "PUT"),
        EventKind::Delete => (DELETE_SUCCESS, DELETE_OPERATION, "DELETE"),
    };
    let t = time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "subject": rp.to_string(),
        "eventType": ty,
        "eventTime": t,
        "id": id,
        "data": {
            "resourceProvider": "Microsoft.Compute",
            "resourceUri": rp.to_string(),
            "operationName": op,
            "status": "Succeeded",
            "subscriptionId": rp.collection.subscription,
            "httpRequest": {"method": method},
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": format!("/subscriptions/{}", rp.collection.subscription),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1";

    /// The Microsoft docs sample (a storage account event), re-pointed at a restore point.
    fn docs_sample(file: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/events/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn as_restore_point(mut v: Value, op: &str) -> Value {
        let e = &mut v[0];
        e["subject"] = RP.into();
        e["data"]["resourceUri"] = RP.into();
        e["data"]["operationName"] = op.into();
        v
    }

    #[test]
    fn docs_samples_are_ignored_as_not_restore_points() {
        for f in [
            "eg-ResourceWriteSuccess.eventgrid-schema.docs.json",
            "eg-ResourceWriteSuccess.cloudevents-schema.docs.json",
            "eg-ResourceDeleteSuccess.eventgrid-schema.docs.json",
            "eg-ResourceDeleteSuccess.cloudevents-schema.docs.json",
        ] {
            let parsed = parse_payload(&docs_sample(f));
            assert_eq!(parsed.len(), 1);
            assert!(
                matches!(parsed[0], Ok(Parsed::Ignored(_))),
                "{f}: {:?}",
                parsed[0]
            );
        }
    }

    #[test]
    fn both_schemas_parse_restore_point_writes_and_deletes() {
        for (f, op, kind, schema) in [
            (
                "eg-ResourceWriteSuccess.eventgrid-schema.docs.json",
                WRITE_OPERATION,
                EventKind::Write,
                Schema::EventGrid,
            ),
            (
                "eg-ResourceWriteSuccess.cloudevents-schema.docs.json",
                WRITE_OPERATION,
                EventKind::Write,
                Schema::CloudEvents,
            ),
            (
                "eg-ResourceDeleteSuccess.eventgrid-schema.docs.json",
                DELETE_OPERATION,
                EventKind::Delete,
                Schema::EventGrid,
            ),
            (
                "eg-ResourceDeleteSuccess.cloudevents-schema.docs.json",
                DELETE_OPERATION,
                EventKind::Delete,
                Schema::CloudEvents,
            ),
        ] {
            let v = as_restore_point(docs_sample(f), op);
            match &parse_payload(&v)[0] {
                Ok(Parsed::RestorePoint(e)) => {
                    assert_eq!(e.kind, kind, "{f}");
                    assert_eq!(e.schema, schema, "{f}");
                    assert_eq!(e.restore_point.to_string(), RP);
                    assert!(e.time.is_some());
                }
                other => panic!("{f}: {other:?}"),
            }
        }
    }

    #[test]
    fn validation_event_is_ignored() {
        let v = docs_sample("eg-subscription-validation-event.docs.json");
        assert!(matches!(parse_payload(&v)[0], Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn malformed_events_name_the_problem() {
        let cases = [
            (serde_json::json!("text"), "expected a JSON object"),
            (serde_json::json!({"eventType": WRITE_SUCCESS}), "id"),
            (serde_json::json!({"id": "1"}), "neither"),
            (
                serde_json::json!({"id": "1", "eventType": WRITE_SUCCESS}),
                "data",
            ),
            (
                serde_json::json!({"id": "1", "specversion": "0.3", "type": WRITE_SUCCESS}),
                "specversion",
            ),
            (
                serde_json::json!({"id": "1", "eventType": WRITE_SUCCESS, "data": {"operationName": WRITE_OPERATION, "resourceUri": "/subscriptions/x/bad"}}),
                "restore point",
            ),
            (
                serde_json::json!({"id": "1", "eventType": WRITE_SUCCESS, "eventTime": "yesterday", "data": {"operationName": WRITE_OPERATION, "resourceUri": RP}}),
                "event time",
            ),
        ];
        for (v, want) in cases {
            let e = parse_event(&v).unwrap_err();
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
    }

    #[test]
    fn operation_must_match_event_type() {
        let v = serde_json::json!({"id": "1", "eventType": WRITE_SUCCESS, "data": {"operationName": DELETE_OPERATION, "resourceUri": RP}});
        assert!(matches!(parse_event(&v), Ok(Parsed::Ignored(_))));
        let v = serde_json::json!({"id": "1", "eventType": WRITE_SUCCESS, "data": {"operationName": "Microsoft.Compute/restorePointCollections/write", "resourceUri": RP}});
        assert!(matches!(parse_event(&v), Ok(Parsed::Ignored(_))));
    }

    #[test]
    fn builder_round_trips() {
        let rp: RestorePointId = RP.parse().unwrap();
        let t = time::macros::datetime!(2026-11-01 10:00 UTC);
        let v = event_grid_event("e1", EventKind::Delete, &rp, t);
        match parse_event(&v).unwrap() {
            Parsed::RestorePoint(e) => assert_eq!(
                (e.kind, e.restore_point, e.time),
                (EventKind::Delete, rp, Some(t))
            ),
            other => panic!("{other:?}"),
        }
    }
}
