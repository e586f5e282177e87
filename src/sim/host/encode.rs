//! Host-side encoders: build invocation bodies exactly as the real Functions host does.
//!
//! Rules (azure-functions-host `ScriptInvocationContextExtensions`):
//! - `Metadata.<key>` for every binding-data entry except keys ending in `trigger` and
//!   null values; `Data.<binding>` for each input.
//! - Value encoding (`GetHttpScriptInvocationContextValue`): `DateTime` →
//!   `DateTime.Parse(v.ToString())`, serialized by Json.NET without zone and without
//!   sub-seconds; `DateTimeOffset` → same round trip, keeps the offset; anything
//!   `JObject.FromObject` accepts (POCOs, dictionaries, JObject) → an object; everything else
//!   (strings, numbers, booleans, arrays) → `JsonConvert.SerializeObject(v)`, i.e. a JSON
//!   string holding JSON: `"\"abc\""`, `"1"`, `"true"`.
//! - `sys` is a POCO (`MethodName`, `UtcNow` as a UTC `DateTime` inside an object, so it keeps
//!   `Z` and 7 fractional digits, `RandGuid`).
//! - HTTP (non-forwarded): `HttpRequestExtensions.GetRequestAsJObject` — `Url`, `Method`,
//!   `Query` (object of comma-joined values in current hosts; older hosts sent a JSON string),
//!   `Headers` (`JObject.FromObject(IHeaderDictionary)`: arrays of strings), `Params`, `Body`
//!   (string; absent when empty).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use time::macros::format_description;
use time::OffsetDateTime;

/// The broker-side facts about one delivered Service Bus message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredMessage {
    pub message_id: String,
    pub session_id: Option<String>,
    pub sequence_number: i64,
    pub enqueued_time: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub delivery_count: u32,
    pub content_type: Option<String>,
    pub lock_token: String,
    pub correlation_id: Option<String>,
    pub subject: Option<String>,
    pub application_properties: BTreeMap<String, String>,
    /// Namespace host name, shown in the opaque `Client` object.
    pub namespace: String,
}

/// `Metadata.sys`.
#[derive(Debug, Clone, PartialEq)]
pub struct SysData {
    pub method_name: String,
    pub utc_now: OffsetDateTime,
    pub rand_guid: String,
}

impl SysData {
    pub fn new(method_name: &str, utc_now: OffsetDateTime) -> Self {
        SysData {
            method_name: method_name.to_string(),
            utc_now,
            rand_guid: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn to_value(&self) -> Value {
        json!({
            "MethodName": self.method_name,
            "UtcNow": utc_now_text(self.utc_now),
            "RandGuid": self.rand_guid,
        })
    }
}

/// `JsonConvert.SerializeObject` of a scalar: a JSON string holding JSON.
pub fn serialized(v: &Value) -> Value {
    Value::String(v.to_string())
}

/// A `DateTime` after the host's culture round trip: no zone, no sub-seconds.
pub fn datetime_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

/// A `DateTimeOffset` after the round trip: no sub-seconds, offset kept.
pub fn datetime_offset_text(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    ))
    .unwrap_or_default()
}

/// A UTC `DateTime` inside an object (Json.NET round-trip format): 7 digits and `Z`.
fn utc_now_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
    ))
    .unwrap_or_default()
}

/// A Service Bus trigger invocation (extension 5.x binding data).
pub fn encode_service_bus(
    binding: &str,
    body: &str,
    msg: &DeliveredMessage,
    sys: &SysData,
) -> Value {
    let s = |x: &str| serialized(&Value::String(x.to_string()));
    let mut meta = Map::new();
    meta.insert(
        "DeliveryCount".into(),
        serialized(&json!(msg.delivery_count)),
    );
    meta.insert("LockToken".into(), s(&msg.lock_token));
    meta.insert("ExpiresAtUtc".into(), json!(datetime_text(msg.expires_at)));
    meta.insert(
        "ExpiresAt".into(),
        json!(datetime_offset_text(msg.expires_at)),
    );
    meta.insert(
        "EnqueuedTimeUtc".into(),
        json!(datetime_text(msg.enqueued_time)),
    );
    meta.insert(
        "EnqueuedTime".into(),
        json!(datetime_offset_text(msg.enqueued_time)),
    );
    meta.insert("MessageId".into(), s(&msg.message_id));
    if let Some(ct) = &msg.content_type {
        meta.insert("ContentType".into(), s(ct));
    }
    meta.insert(
        "SequenceNumber".into(),
        serialized(&json!(msg.sequence_number)),
    );
    if let Some(c) = &msg.correlation_id {
        meta.insert("CorrelationId".into(), s(c));
    }
    if let Some(l) = &msg.subject {
        meta.insert("Subject".into(), s(l));
        meta.insert("Label".into(), s(l));
    }
    if let Some(sid) = &msg.session_id {
        meta.insert("SessionId".into(), s(sid));
        meta.insert("SessionActions".into(), json!({}));
    }
    // A dictionary: JObject.FromObject succeeds, so it stays an object.
    let props: Map<String, Value> = msg
        .application_properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    meta.insert("ApplicationProperties".into(), Value::Object(props.clone()));
    meta.insert("UserProperties".into(), Value::Object(props));
    // Opaque SDK objects the host also puts in binding data; handlers must ignore them.
    meta.insert("MessageActions".into(), json!({}));
    meta.insert("ReceiveActions".into(), json!({}));
    meta.insert(
        "Client".into(),
        json!({"FullyQualifiedNamespace": msg.namespace, "IsClosed": false, "TransportType": 0,
               "Identifier": format!("{}-{}", msg.namespace, sys.rand_guid)}),
    );
    meta.insert("sys".into(), sys.to_value());
    let mut data = Map::new();
    // The trigger value is the body as a string → SerializeObject → JSON string holding JSON.
    data.insert(binding.into(), serialized(&Value::String(body.to_string())));
    json!({"Data": data, "Metadata": meta})
}

/// An Event Grid trigger invocation for one event.
pub fn encode_event_grid(binding: &str, event: &Value, sys: &SysData) -> Value {
    let mut meta = Map::new();
    if let Value::Object(top) = event {
        // Top-level properties of a JSON trigger value are promoted into binding data.
        for (k, v) in top {
            if v.is_null() || k.to_ascii_lowercase().ends_with("trigger") {
                continue;
            }
            let encoded = match v {
                Value::Object(_) => v.clone(),
                other => serialized(other),
            };
            meta.insert(k.clone(), encoded);
        }
    }
    meta.insert("sys".into(), sys.to_value());
    let mut data = Map::new();
    data.insert(binding.into(), event.clone());
    json!({"Data": data, "Metadata": meta})
}

/// A timer trigger invocation (`TimerInfo` is a POCO: an object; its dates are DateTimes
/// inside an object, written with an offset as in the docs' TimerInfo sample).
pub fn encode_timer(
    binding: &str,
    last: Option<OffsetDateTime>,
    next: OffsetDateTime,
    last_updated: OffsetDateTime,
    is_past_due: bool,
    sys: &SysData,
) -> Value {
    let status = match last {
        Some(last) => json!({
            "Last": datetime_offset_text(last),
            "Next": datetime_offset_text(next),
            "LastUpdated": datetime_offset_text(last_updated),
        }),
        None => Value::Null,
    };
    let mut data = Map::new();
    data.insert(
        binding.into(),
        json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": status, "IsPastDue": is_past_due}),
    );
    json!({"Data": data, "Metadata": {"sys": sys.to_value()}})
}

/// A non-forwarded HTTP trigger invocation.
#[allow(clippy::too_many_arguments)]
pub fn encode_http(
    binding: &str,
    method: &str,
    url: &str,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, Vec<String>>,
    params: &BTreeMap<String, String>,
    body: Option<&str>,
    sys: &SysData,
) -> Value {
    let mut req = Map::new();
    req.insert("Url".into(), json!(url));
    req.insert("Method".into(), json!(method.to_ascii_uppercase()));
    req.insert("Query".into(), json!(query));
    req.insert("Headers".into(), json!(headers));
    req.insert("Params".into(), json!(params));
    if let Some(b) = body.filter(|b| !b.is_empty()) {
        req.insert("Body".into(), json!(b));
    }
    // Binding data of an HTTP trigger: query and headers as dictionaries, route params as
    // strings; the request itself is skipped ("no metadata for httpTrigger").
    let mut meta = Map::new();
    meta.insert("Query".into(), json!(query));
    let flat_headers: BTreeMap<&String, String> =
        headers.iter().map(|(k, v)| (k, v.join(","))).collect();
    meta.insert("Headers".into(), json!(flat_headers));
    for (k, v) in params {
        meta.insert(k.clone(), serialized(&json!(v)));
    }
    meta.insert("sys".into(), sys.to_value());
    let mut data = Map::new();
    data.insert(binding.into(), Value::Object(req));
    json!({"Data": data, "Metadata": meta})
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn date_formats_match_the_host() {
        let t = datetime!(2023-10-12 20:13:49.123 UTC);
        assert_eq!(datetime_text(t), "2023-10-12T20:13:49");
        assert_eq!(datetime_offset_text(t), "2023-10-12T20:13:49+00:00");
        assert_eq!(utc_now_text(t), "2023-10-12T20:13:49.1230000Z");
    }

    #[test]
    fn scalars_are_serialized_strings() {
        assert_eq!(serialized(&json!("abc")), json!("\"abc\""));
        assert_eq!(serialized(&json!(1)), json!("1"));
    }
}
