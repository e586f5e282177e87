//! The Azure Functions custom handler wire protocol, handler side.
//!
//! The host POSTs `{"Data": {...}, "Metadata": {...}}` to `/{FunctionName}` and expects
//! `{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}` back with a 2xx status and
//! `Content-Type: application/json`.
//!
//! The trap is the value encoding (azure-functions-host,
//! `ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue`): objects arrive as
//! JSON objects, but strings, numbers and booleans go through `JsonConvert.SerializeObject`
//! and arrive as *JSON strings holding JSON* (`"MessageId": "\"abc\""`, `"DeliveryCount": "1"`);
//! `DateTime` values lose their `Z` and sub-seconds; `DateTimeOffset` keeps its offset.
//! Every decoder here accepts all of those shapes (and the plain ones, which older hosts and
//! the docs samples show), so the handler does not care which host version talks to it.
//! The host-side encoders that produce these shapes live in the simulator
//! (`sim::host::encode`, not in the deployable build).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// How many layers of JSON-in-a-string we peel before giving up (the host adds at most two).
const MAX_STRING_LAYERS: usize = 3;

/// What was wrong with an invocation request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("invocation body is not JSON: {0}")]
    NotJson(String),
    #[error("invocation body must be a JSON object with `Data` and `Metadata` objects: {0}")]
    Shape(String),
    #[error("binding `{binding}` is missing from Data")]
    MissingBinding { binding: String },
    #[error("binding `{binding}`: {problem}")]
    BadBinding { binding: String, problem: String },
}

/// One invocation request as the host sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub data: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

/// A non-forwarded `httpTrigger` request (`Data.<name>`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRequestData {
    pub url: String,
    pub method: String,
    /// Query parameters; repeated keys arrive comma-joined (ASP.NET `StringValues.ToString()`).
    pub query: BTreeMap<String, String>,
    /// Header names as sent (ASP.NET keeps their case); every value list as the host sent it.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Route parameters (`status/{view?}` → `view`).
    pub params: BTreeMap<String, String>,
    /// The body as text; `None` when the request had none.
    pub body: Option<String>,
}

impl HttpRequestData {
    /// A header value, name compared case-insensitively (HTTP semantics).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

impl Invocation {
    pub fn from_slice(body: &[u8]) -> Result<Invocation, ProtocolError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
        Invocation::from_value(v)
    }

    pub fn from_value(v: Value) -> Result<Invocation, ProtocolError> {
        let Value::Object(mut top) = v else {
            return Err(ProtocolError::Shape(format!("got {}", kind_of(&v))));
        };
        let data = take_object(&mut top, "Data")?;
        // The docs sample shows `"Metadata": {}`; a missing one is treated the same way.
        let metadata = match top.remove("Metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(ProtocolError::Shape(format!(
                    "`Metadata` is {}, expected an object",
                    kind_of(&other)
                )))
            }
        };
        Ok(Invocation { data, metadata })
    }

    fn data_value(&self, name: &str) -> Result<&Value, ProtocolError> {
        match self.data.get(name) {
            None | Some(Value::Null) => Err(ProtocolError::MissingBinding {
                binding: name.to_string(),
            }),
            Some(v) => Ok(v),
        }
    }

    /// The binding's payload as JSON: an object (or array) as is, or a string holding JSON
    /// once or twice encoded.
    pub fn data_json(&self, name: &str) -> Result<Value, ProtocolError> {
        match self.data_value(name)? {
            Value::String(s) => decode_json_text(name, s),
            other => Ok(other.clone()),
        }
    }

    /// [`Self::data_json`], moving the payload out of the invocation instead of copying it
    /// (the binding is gone from `data` afterwards, whatever the outcome).
    pub fn take_data_json(&mut self, name: &str) -> Result<Value, ProtocolError> {
        match self.data.remove(name) {
            None | Some(Value::Null) => Err(ProtocolError::MissingBinding {
                binding: name.to_string(),
            }),
            Some(Value::String(s)) => decode_json_text(name, &s),
            Some(other) => Ok(other),
        }
    }

    /// The binding's payload as text: a JSON-encoded string is decoded once (the host's
    /// `SerializeObject` of a string); an object is serialized back to JSON text.
    pub fn data_text(&self, name: &str) -> Result<String, ProtocolError> {
        match self.data_value(name)? {
            Value::String(s) => Ok(unquote_once(s)),
            other => Ok(other.to_string()),
        }
    }

    /// A metadata value as a string, with the host's double encoding removed.
    pub fn meta_str(&self, key: &str) -> Option<String> {
        scalar_text(self.metadata.get(key)?)
    }

    /// A metadata value as an unsigned number (`"1"`, `"\"1\""` or `1`).
    pub fn meta_u64(&self, key: &str) -> Option<u64> {
        match self.metadata.get(key)? {
            Value::Number(n) => n.as_u64(),
            other => scalar_text(other)?.trim().parse().ok(),
        }
    }

    /// A metadata date: `DateTime` without zone (= UTC), RFC 3339 with `Z` or an offset.
    pub fn meta_time(&self, key: &str) -> Option<OffsetDateTime> {
        parse_host_time(&scalar_text(self.metadata.get(key)?)?)
    }

    /// A metadata value that is an object (`ApplicationProperties`), also when sent as JSON text.
    pub fn meta_object(&self, key: &str) -> Option<Map<String, Value>> {
        match self.metadata.get(key)? {
            Value::Object(m) => Some(m.clone()),
            Value::String(s) => match peel_json_string(s).ok()? {
                Value::Object(m) => Some(m),
                _ => None,
            },
            _ => None,
        }
    }

    /// `Metadata.sys.UtcNow`: the host's clock at invocation.
    pub fn utc_now(&self) -> Option<OffsetDateTime> {
        let utc_now = |sys: &Map<String, Value>| parse_host_time(&scalar_text(sys.get("UtcNow")?)?);
        match self.metadata.get("sys")? {
            Value::Object(m) => utc_now(m),
            Value::String(s) => match peel_json_string(s).ok()? {
                Value::Object(m) => utc_now(&m),
                _ => None,
            },
            _ => None,
        }
    }

    /// A non-forwarded `httpTrigger` request.
    pub fn http_request(&self, name: &str) -> Result<HttpRequestData, ProtocolError> {
        let bad = |problem: String| ProtocolError::BadBinding {
            binding: name.to_string(),
            problem,
        };
        let obj = match self.data_json(name)? {
            Value::Object(m) => m,
            other => {
                return Err(bad(format!(
                    "expected an HTTP request object, got {}",
                    kind_of(&other)
                )))
            }
        };
        let text = |key: &str| -> Result<String, ProtocolError> {
            match obj.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(bad(format!(
                    "`{key}` is {}, expected a string",
                    kind_of(other)
                ))),
                None => Err(bad(format!("`{key}` is missing"))),
            }
        };
        let url = text("Url")?;
        let method = text("Method")?.to_ascii_uppercase();
        let query = string_map(obj.get("Query")).map_err(|p| bad(format!("`Query` {p}")))?;
        let params = string_map(obj.get("Params")).map_err(|p| bad(format!("`Params` {p}")))?;
        let headers = header_map(obj.get("Headers")).map_err(|p| bad(format!("`Headers` {p}")))?;
        let body = match obj.get("Body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            // Older hosts parsed JSON bodies into objects.
            Some(other) => Some(other.to_string()),
        };
        Ok(HttpRequestData {
            url,
            method,
            query,
            headers,
            params,
            body,
        })
    }
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InvocationResponse {
    #[serde(rename = "Outputs", default)]
    pub outputs: Map<String, Value>,
    #[serde(rename = "Logs", default)]
    pub logs: Vec<String>,
    #[serde(rename = "ReturnValue", default)]
    pub return_value: Value,
}

impl InvocationResponse {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an output binding's value (an array sends several messages).
    pub fn output(mut self, name: impl Into<String>, value: Value) -> Self {
        self.outputs.insert(name.into(), value);
        self
    }

    /// Adds a line the host logs at Information level for this invocation.
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }

    /// Sets the `res` http output with a JSON body.
    pub fn http(mut self, status: u16, body: Value) -> Self {
        self.outputs.insert(
            "res".to_string(),
            serde_json::json!({
                "statusCode": status,
                "body": body,
                "headers": {"Content-Type": "application/json"},
            }),
        );
        self
    }

    /// An `http` output with a body that is not JSON (the dashboard's HTML) and the
    /// headers it needs.
    pub fn http_with_headers(
        mut self,
        status: u16,
        body: Value,
        headers: &[(&str, String)],
    ) -> Self {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        self.outputs.insert(
            "res".to_string(),
            serde_json::json!({"statusCode": status, "body": body, "headers": headers}),
        );
        self
    }

    pub fn to_json(&self) -> Value {
        // Serializing a struct of Maps/Vecs/Values cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The answer as JSON text (what goes on the wire; no intermediate `Value`).
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing a struct of Maps/Vecs/Values into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn take_object(
    top: &mut Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, ProtocolError> {
    match top.remove(key) {
        Some(Value::Object(m)) => Ok(m),
        None => Err(ProtocolError::Shape(format!("`{key}` is missing"))),
        Some(other) => Err(ProtocolError::Shape(format!(
            "`{key}` is {}, expected an object",
            kind_of(&other)
        ))),
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A binding's JSON text (once or twice encoded) as an object or array.
fn decode_json_text(binding: &str, s: &str) -> Result<Value, ProtocolError> {
    let peeled = peel_json_string(s).map_err(|problem| ProtocolError::BadBinding {
        binding: binding.to_string(),
        problem,
    })?;
    match peeled {
        Value::Object(_) | Value::Array(_) => Ok(peeled),
        other => Err(ProtocolError::BadBinding {
            binding: binding.to_string(),
            problem: format!(
                "expected a JSON object or array, got {} after decoding",
                kind_of(&other)
            ),
        }),
    }
}

/// Parses JSON text, and again while the result is a string holding JSON.
fn peel_json_string(s: &str) -> Result<Value, String> {
    let mut v: Value = serde_json::from_str(s).map_err(|e| format!("not JSON text: {e}"))?;
    for _ in 0..MAX_STRING_LAYERS {
        match v {
            Value::String(ref inner) => match serde_json::from_str::<Value>(inner) {
                Ok(next) => v = next,
                // A plain string inside: that is the payload.
                Err(_) => return Ok(v),
            },
            _ => return Ok(v),
        }
    }
    Ok(v)
}

/// `"\"abc\""` → `abc`; `abc` → `abc`. Only a JSON string literal is decoded.
fn unquote_once(s: &str) -> String {
    let t = s.trim();
    if t.starts_with('"') && t.ends_with('"') && t.len() >= 2 {
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(t) {
            return inner;
        }
    }
    s.to_string()
}

/// A scalar metadata value as text, double encoding removed (strings may be wrapped twice).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => {
            let mut out = unquote_once(s);
            // A second wrap happens when an already-serialized string is serialized again.
            let again = unquote_once(&out);
            if again != out {
                out = again;
            }
            Some(out)
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Dates as the host sends them: RFC 3339 (`Z` or offset), or a zone-less `DateTime`
/// (always UTC for the values the host sends) with or without fractional seconds.
pub fn parse_host_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let no_zone = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(s, no_zone) {
        return Some(t.assume_utc());
    }
    // An offset without fractional seconds, `2023-10-12T20:13:49+00:00`, is RFC 3339 already;
    // .NET can also produce `+0000`-less offsets with fractions of any length, covered above.
    None
}

fn object_or_json_text(v: &Value) -> Result<Option<Map<String, Value>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m.clone())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match peel_json_string(s)? {
            Value::Object(m) => Ok(Some(m)),
            other => Err(format!("holds {}, expected an object", kind_of(&other))),
        },
        other => Err(format!("is {}, expected an object", kind_of(other))),
    }
}

fn string_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Some(m) = v.map(object_or_json_text).transpose()?.flatten() else {
        return Ok(out);
    };
    for (k, v) in m {
        let text = match &v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(k, text);
    }
    Ok(out)
}

fn header_map(v: Option<&Value>) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out = BTreeMap::new();
    let Some(m) = v.map(object_or_json_text).transpose()?.flatten() else {
        return Ok(out);
    };
    for (k, v) in m {
        let values = match v {
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            Value::String(s) => vec![s],
            Value::Null => vec![],
            other => vec![other.to_string()],
        };
        out.insert(k, values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv(v: Value) -> Invocation {
        Invocation::from_value(v).expect("valid invocation")
    }

    #[test]
    fn rejects_bad_shapes_with_names() {
        assert!(matches!(
            Invocation::from_slice(b"nope"),
            Err(ProtocolError::NotJson(_))
        ));
        let e = Invocation::from_slice(b"[]").unwrap_err();
        assert!(e.to_string().contains("an array"), "{e}");
        let e = Invocation::from_slice(br#"{"Metadata":{}}"#).unwrap_err();
        assert!(e.to_string().contains("`Data` is missing"), "{e}");
        let e = Invocation::from_slice(br#"{"Data":{},"Metadata":3}"#).unwrap_err();
        assert!(e.to_string().contains("`Metadata` is a number"), "{e}");
    }

    #[test]
    fn data_json_accepts_every_encoding() {
        let obj = json!({"a": 1});
        let once = Value::String(obj.to_string());
        let twice = Value::String(serde_json::to_string(&obj.to_string()).unwrap());
        for v in [obj.clone(), once, twice] {
            let i = inv(json!({"Data": {"m": v}, "Metadata": {}}));
            assert_eq!(i.data_json("m").unwrap(), obj);
        }
        // Taking the payload gives the same value, and leaves the binding gone.
        for v in [obj.clone(), Value::String(obj.to_string())] {
            let mut i = inv(json!({"Data": {"m": v, "n": 1}, "Metadata": {}}));
            assert_eq!(i.take_data_json("m").unwrap(), obj);
            assert_eq!(
                i.take_data_json("m").unwrap_err(),
                ProtocolError::MissingBinding {
                    binding: "m".into()
                }
            );
            assert!(i.data.contains_key("n"));
        }
        let mut i = inv(json!({"Data": {"m": "plain words"}, "Metadata": {}}));
        assert!(matches!(
            i.take_data_json("m"),
            Err(ProtocolError::BadBinding { .. })
        ));
        let i = inv(json!({"Data": {"m": "plain words"}, "Metadata": {}}));
        let e = i.data_json("m").unwrap_err();
        assert!(e.to_string().contains("binding `m`"), "{e}");
        let e = i.data_json("missing").unwrap_err();
        assert_eq!(
            e,
            ProtocolError::MissingBinding {
                binding: "missing".into()
            }
        );
    }

    #[test]
    fn metadata_scalars_are_unwrapped() {
        let i = inv(json!({"Data": {}, "Metadata": {
            "MessageId": "\"abc\"",
            "Plain": "xyz",
            "Twice": serde_json::to_string("\"deep\"").unwrap(),
            "DeliveryCount": "3",
            "Quoted": "\"7\"",
            "Num": 9,
            "EnqueuedTimeUtc": "2023-10-12T20:13:49",
            "EnqueuedTime": "2023-10-12T20:13:49+02:00",
            "Frac": "2023-10-12T20:13:49.1234567",
            "sys": {"UtcNow": "2019-10-09T17:58:32.2205399Z"}
        }}));
        assert_eq!(i.meta_str("MessageId").as_deref(), Some("abc"));
        assert_eq!(i.meta_str("Plain").as_deref(), Some("xyz"));
        assert_eq!(i.meta_str("Twice").as_deref(), Some("deep"));
        assert_eq!(i.meta_u64("DeliveryCount"), Some(3));
        assert_eq!(i.meta_u64("Quoted"), Some(7));
        assert_eq!(i.meta_u64("Num"), Some(9));
        assert_eq!(i.meta_u64("MessageId"), None);
        assert_eq!(
            i.meta_time("EnqueuedTimeUtc"),
            Some(time::macros::datetime!(2023-10-12 20:13:49 UTC))
        );
        assert_eq!(
            i.meta_time("EnqueuedTime"),
            Some(time::macros::datetime!(2023-10-12 18:13:49 UTC))
        );
        assert!(i.meta_time("Frac").is_some());
        assert!(i.utc_now().is_some());
        assert_eq!(i.meta_str("absent"), None);
    }

    #[test]
    fn host_clock_from_an_object_or_json_text() {
        let t = Some(time::macros::datetime!(2019-10-09 17:58:32 UTC));
        let sys = json!({"UtcNow": "2019-10-09T17:58:32Z", "MethodName": "f"});
        let i = inv(json!({"Data": {}, "Metadata": {"sys": sys.clone()}}));
        assert_eq!(i.utc_now(), t);
        let i = inv(json!({"Data": {}, "Metadata": {"sys": sys.to_string()}}));
        assert_eq!(i.utc_now(), t);
        for bad in [
            json!(3),
            json!("\"not an object\""),
            json!({"UtcNow": "noon"}),
        ] {
            let i = inv(json!({"Data": {}, "Metadata": {"sys": bad}}));
            assert_eq!(i.utc_now(), None);
        }
    }

    #[test]
    fn http_request_query_as_string_or_object() {
        for q in [json!("{\"a\":\"1\"}"), json!({"a": "1"})] {
            let i = inv(json!({"Data": {"req": {
                "Url": "http://localhost:7071/api/status?a=1", "Method": "get",
                "Query": q, "Headers": {"Accept": ["application/json"]},
                "Params": {"view": "chains"}
            }}, "Metadata": {}}));
            let r = i.http_request("req").unwrap();
            assert_eq!(r.method, "GET");
            assert_eq!(r.query.get("a").map(String::as_str), Some("1"));
            assert_eq!(r.header("accept"), Some("application/json"));
            assert_eq!(r.params.get("view").map(String::as_str), Some("chains"));
            assert_eq!(r.body, None);
        }
        let i = inv(json!({"Data": {"req": {"Method": "GET"}}, "Metadata": {}}));
        let e = i.http_request("req").unwrap_err();
        assert!(e.to_string().contains("`Url` is missing"), "{e}");
    }

    #[test]
    fn http_output_with_headers_carries_them() {
        let r = InvocationResponse::new().http_with_headers(
            200,
            json!("<!doctype html>"),
            &[("Content-Type", "text/html".to_string())],
        );
        let v = r.to_json();
        assert_eq!(v["Outputs"]["res"]["body"], json!("<!doctype html>"));
        assert_eq!(
            v["Outputs"]["res"]["headers"],
            json!({"Content-Type": "text/html"})
        );
    }

    #[test]
    fn response_shape() {
        let r = InvocationResponse::new()
            .output("alerts", json!(["a"]))
            .log("hello")
            .http(202, json!({"ok": true}));
        let v = r.to_json();
        assert_eq!(v["Outputs"]["alerts"], json!(["a"]));
        assert_eq!(v["Logs"], json!(["hello"]));
        assert_eq!(v["ReturnValue"], Value::Null);
        assert_eq!(v["Outputs"]["res"]["statusCode"], json!(202));
        assert_eq!(
            v["Outputs"]["res"]["headers"]["Content-Type"],
            json!("application/json")
        );
        // The wire form is the same document.
        let wire: Value = serde_json::from_slice(&r.to_vec()).unwrap();
        assert_eq!(wire, v);
    }
}
