//! Wire protocol: host-side encoders round-trip through the handler-side decoders, and
//! payload fixtures (docs samples + hand-written host encodings) decode.

use ferry::protocol::{Invocation, InvocationResponse, ProtocolError};
use ferry::sim::host::encode::{
    encode_event_grid, encode_http, encode_service_bus, encode_timer, DeliveredMessage, SysData,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::macros::datetime;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/functions")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sys() -> SysData {
    SysData::new("fn", datetime!(2026-11-01 00:00:01.5 UTC))
}

fn delivered() -> DeliveredMessage {
    let mut props = BTreeMap::new();
    props.insert("kind".to_string(), "copy".to_string());
    DeliveredMessage {
        message_id: "m-1".into(),
        session_id: Some("chain-1".into()),
        sequence_number: 42,
        enqueued_time: datetime!(2023-10-12 20:13:49.987 UTC),
        expires_at: datetime!(2023-10-26 20:13:49 UTC),
        delivery_count: 3,
        content_type: Some("application/json".into()),
        lock_token: "lt".into(),
        correlation_id: None,
        subject: Some("copy".into()),
        application_properties: props,
        namespace: "127.0.0.1".into(),
    }
}

#[test]
fn service_bus_round_trip() {
    let body = r#"{"chain":"c1","n":1}"#;
    let wire = encode_service_bus("request", body, &delivered(), &sys()).to_string();
    // The wire shape is the host's: strings double-encoded, numbers as strings, no Z.
    let raw: Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(raw["Metadata"]["MessageId"], json!("\"m-1\""));
    assert_eq!(raw["Metadata"]["DeliveryCount"], json!("3"));
    assert_eq!(
        raw["Metadata"]["EnqueuedTimeUtc"],
        json!("2023-10-12T20:13:49")
    );
    assert_eq!(
        raw["Metadata"]["EnqueuedTime"],
        json!("2023-10-12T20:13:49+00:00")
    );
    assert!(raw["Data"]["request"].as_str().unwrap().starts_with("\"{"));
    assert!(raw["Metadata"].get("request").is_none());

    let inv = Invocation::from_slice(wire.as_bytes()).unwrap();
    assert_eq!(
        inv.data_json("request").unwrap(),
        json!({"chain": "c1", "n": 1})
    );
    assert_eq!(inv.data_text("request").unwrap(), body);
    assert_eq!(inv.meta_str("MessageId").as_deref(), Some("m-1"));
    assert_eq!(inv.meta_str("SessionId").as_deref(), Some("chain-1"));
    assert_eq!(inv.meta_str("Label").as_deref(), Some("copy"));
    assert_eq!(inv.meta_u64("DeliveryCount"), Some(3));
    assert_eq!(inv.meta_u64("SequenceNumber"), Some(42));
    assert_eq!(
        inv.meta_time("EnqueuedTimeUtc"),
        Some(datetime!(2023-10-12 20:13:49 UTC)),
        "sub-seconds are lost on the way, like in the host"
    );
    assert_eq!(
        inv.meta_time("ExpiresAt"),
        Some(datetime!(2023-10-26 20:13:49 UTC))
    );
    assert_eq!(
        inv.meta_object("ApplicationProperties").unwrap()["kind"],
        json!("copy")
    );
    assert_eq!(inv.utc_now(), Some(datetime!(2026-11-01 00:00:01.5 UTC)));
}

#[test]
fn plain_text_body_round_trip() {
    let wire = encode_service_bus("q", "just words", &delivered(), &sys());
    let inv = Invocation::from_value(wire).unwrap();
    assert_eq!(inv.data_text("q").unwrap(), "just words");
    assert!(matches!(
        inv.data_json("q"),
        Err(ProtocolError::BadBinding { .. })
    ));
}

#[test]
fn event_grid_round_trip() {
    let raw: Value = serde_json::from_slice(&fixture(
        "eg-ResourceWriteSuccess.eventgrid-schema.docs.json",
    ))
    .unwrap();
    let event = raw[0].clone();
    let wire = encode_event_grid("event", &event, &sys());
    assert_eq!(wire["Metadata"]["data"], event["data"]);
    assert_eq!(
        wire["Metadata"]["id"],
        json!(format!("\"{}\"", event["id"].as_str().unwrap()))
    );
    let inv = Invocation::from_value(wire).unwrap();
    assert_eq!(inv.data_json("event").unwrap(), event);
    assert_eq!(
        inv.meta_str("eventType").as_deref(),
        Some("Microsoft.Resources.ResourceWriteSuccess")
    );
    assert_eq!(
        inv.meta_object("data").unwrap()["status"],
        json!("Succeeded")
    );
}

#[test]
fn timer_round_trip() {
    let wire = encode_timer(
        "timer",
        Some(datetime!(2026-11-01 00:00 UTC)),
        datetime!(2026-11-01 00:20 UTC),
        datetime!(2026-11-01 00:10 UTC),
        true,
        &sys(),
    );
    let inv = Invocation::from_value(wire).unwrap();
    let t = inv.data_json("timer").unwrap();
    assert_eq!(t["IsPastDue"], json!(true));
    assert_eq!(
        t["ScheduleStatus"]["Next"],
        json!("2026-11-01T00:20:00+00:00")
    );
    assert_eq!(inv.metadata.len(), 1, "only sys");
    let first = encode_timer(
        "timer",
        None,
        datetime!(2026-11-01 00:20 UTC),
        datetime!(2026-11-01 00:10 UTC),
        false,
        &sys(),
    );
    assert_eq!(first["Data"]["timer"]["ScheduleStatus"], Value::Null);
}

#[test]
fn http_round_trip() {
    let mut q = BTreeMap::new();
    q.insert("region".to_string(), "westus,eastus".to_string());
    let mut h = BTreeMap::new();
    h.insert("Accept".to_string(), vec!["application/json".to_string()]);
    let mut p = BTreeMap::new();
    p.insert("view".to_string(), "chains".to_string());
    let wire = encode_http(
        "req",
        "get",
        "http://localhost:7071/api/status/chains?region=westus&region=eastus",
        &q,
        &h,
        &p,
        Some("{\"x\":1}"),
        &sys(),
    );
    let inv = Invocation::from_value(wire).unwrap();
    let r = inv.http_request("req").unwrap();
    assert_eq!(r.method, "GET");
    assert_eq!(r.query, q);
    assert_eq!(r.header("ACCEPT"), Some("application/json"));
    assert_eq!(r.params, p);
    assert_eq!(r.body.as_deref(), Some("{\"x\":1}"));
    assert_eq!(inv.meta_str("view").as_deref(), Some("chains"));
}

#[test]
fn fixtures_decode() {
    let inv = Invocation::from_slice(&fixture("sb-trigger.host.json")).unwrap();
    assert_eq!(inv.data_json("request").unwrap()["chain"], json!("c1"));
    assert_eq!(
        inv.meta_str("MessageId").as_deref(),
        Some("4e77a1f2-0c1e-4d5c-9b0e-1d6f2a6b3c4d")
    );
    assert_eq!(inv.meta_u64("DeliveryCount"), Some(1));
    assert_eq!(
        inv.meta_time("EnqueuedTimeUtc"),
        Some(datetime!(2023-10-12 20:13:49 UTC))
    );
    assert_eq!(inv.meta_str("SessionId").as_deref(), Some("chain-c1"));

    let inv = Invocation::from_slice(&fixture("sb-trigger-once-encoded.host.json")).unwrap();
    assert_eq!(inv.data_json("event").unwrap()["id"], json!("e1"));
    assert_eq!(inv.meta_u64("DeliveryCount"), Some(3));
    assert_eq!(inv.meta_str("MessageId").as_deref(), Some("e1"));
    assert_eq!(
        inv.meta_time("EnqueuedTimeUtc"),
        Some(datetime!(2023-10-12 20:13:49.5 UTC))
    );

    let inv = Invocation::from_slice(&fixture("eventgrid-trigger.host.json")).unwrap();
    assert_eq!(
        inv.data_json("event").unwrap()["eventType"],
        json!("Microsoft.Resources.ResourceWriteSuccess")
    );
    assert_eq!(
        inv.meta_time("eventTime"),
        Some(datetime!(2026-11-01 00:00:00.1234567 UTC))
    );

    let inv = Invocation::from_slice(&fixture("eventgrid-trigger-as-string.host.json")).unwrap();
    assert_eq!(inv.data_json("event").unwrap()["id"], json!("e2"));

    let inv = Invocation::from_slice(&fixture("timer.host.json")).unwrap();
    assert_eq!(inv.data_json("timer").unwrap()["IsPastDue"], json!(false));
    assert_eq!(
        inv.utc_now(),
        Some(datetime!(2026-11-01 00:10:00.0012345 UTC))
    );

    let inv = Invocation::from_slice(&fixture("http-query-string.host.json")).unwrap();
    let r = inv.http_request("req").unwrap();
    assert_eq!(r.query.get("region").map(String::as_str), Some("westus"));
    assert_eq!(r.params.get("view").map(String::as_str), Some("chains"));

    let inv = Invocation::from_slice(&fixture("ch-request-queue.docs.json")).unwrap();
    assert_eq!(
        inv.data_text("myQueueItem").unwrap(),
        "{ message: \"Message sent\" }"
    );
    assert_eq!(inv.meta_u64("DequeueCount"), Some(1));
    assert_eq!(
        inv.meta_time("InsertionTime"),
        Some(datetime!(2019-10-09 17:58:31 UTC))
    );
    assert!(inv.utc_now().is_some());

    // The docs' HTTP sample is a raw request: take the JSON body after the blank line.
    let text = String::from_utf8(fixture("ch-http-nonforwarded-request.docs.http")).unwrap();
    let body = &text[text.find("\n{").unwrap()..];
    let inv = Invocation::from_slice(body.as_bytes()).unwrap();
    let r = inv.http_request("req").unwrap();
    assert_eq!(r.method, "POST");
    assert!(r.query.is_empty());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body.as_deref(),
        Some("{\"id\":1005,\"quantity\":2,\"color\":\"black\"}")
    );
}

#[test]
fn docs_responses_parse_as_responses() {
    let r: InvocationResponse = serde_json::from_slice(&fixture("ch-response.docs.json")).unwrap();
    assert_eq!(r.logs, vec!["Log message 1", "Log message 2"]);
    assert_eq!(
        r.outputs["myQueueOutput"],
        json!(["queue message 1", "queue message 2"])
    );
    let ours = InvocationResponse::new()
        .output("alerts", json!([{"a": 1}]))
        .log("x")
        .to_json();
    let back: InvocationResponse = serde_json::from_value(ours.clone()).unwrap();
    assert_eq!(back.to_json(), ours);
}
