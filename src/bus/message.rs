//! One outgoing message and its REST encoding (`BrokerProperties` header, batch JSON).

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

use super::BusError;

/// Default content type for our messages.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Content type of a batch send.
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub body: String,
    pub content_type: String,
    pub session_id: Option<String>,
    pub message_id: String,
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    pub label: Option<String>,
    pub correlation_id: Option<String>,
    pub time_to_live: Option<Duration>,
    pub properties: BTreeMap<String, String>,
}

impl OutgoingMessage {
    /// A JSON message with the given id; everything else unset.
    pub fn json(message_id: impl Into<String>, body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            content_type: JSON_CONTENT_TYPE.to_string(),
            session_id: None,
            message_id: message_id.into(),
            scheduled_enqueue_time: None,
            label: None,
            correlation_id: None,
            time_to_live: None,
            properties: BTreeMap::new(),
        }
    }

    pub fn with_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The `BrokerProperties` object (header for a single send, field in a batch).
    pub fn broker_properties(&self) -> Value {
        let mut m = Map::new();
        m.insert("MessageId".into(), Value::String(self.message_id.clone()));
        if let Some(s) = &self.session_id {
            m.insert("SessionId".into(), Value::String(s.clone()));
        }
        if let Some(t) = self.scheduled_enqueue_time {
            m.insert("ScheduledEnqueueTimeUtc".into(), Value::String(rfc1123(t)));
        }
        if let Some(l) = &self.label {
            m.insert("Label".into(), Value::String(l.clone()));
        }
        if let Some(c) = &self.correlation_id {
            m.insert("CorrelationId".into(), Value::String(c.clone()));
        }
        if let Some(ttl) = self.time_to_live {
            m.insert("TimeToLive".into(), Value::from(ttl.as_secs_f64()));
        }
        Value::Object(m)
    }

    /// One element of a batch body.
    pub fn batch_entry(&self) -> Value {
        let mut m = Map::new();
        m.insert("Body".into(), Value::String(self.body.clone()));
        m.insert("BrokerProperties".into(), self.broker_properties());
        if !self.properties.is_empty() {
            let props: Map<String, Value> = self
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            m.insert("UserProperties".into(), Value::Object(props));
        }
        Value::Object(m)
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`, the format Service Bus expects for dates.
pub fn rfc1123(t: OffsetDateTime) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Parses an RFC 1123 date as Service Bus accepts it.
pub fn parse_rfc1123(s: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(s.trim())
        .ok()
        .map(OffsetDateTime::from)
}

/// Entity names become one URL path segment: refuse anything that could escape it.
pub fn validate_entity_name(name: &str) -> Result<(), BusError> {
    let bad = |why: &str| BusError::Config {
        queue: name.to_string(),
        status: 0,
        message: format!("invalid queue or topic name: {why}"),
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 260 {
        return Err(bad("longer than 260 characters"));
    }
    if name.contains(['/', '?', '#', '\\']) {
        return Err(bad("contains `/`, `?`, `#` or `\\`"));
    }
    if name.contains("..") || name == "." {
        return Err(bad("contains `..`"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn broker_properties_carry_every_field() {
        let mut m = OutgoingMessage::json("m1", "{}").with_session("chain-1");
        m.scheduled_enqueue_time = Some(datetime!(1994-11-06 08:49:37 UTC));
        m.label = Some("copy".into());
        m.correlation_id = Some("c".into());
        m.time_to_live = Some(Duration::from_secs(90));
        assert_eq!(
            m.broker_properties(),
            json!({"MessageId": "m1", "SessionId": "chain-1",
                   "ScheduledEnqueueTimeUtc": "Sun, 06 Nov 1994 08:49:37 GMT",
                   "Label": "copy", "CorrelationId": "c", "TimeToLive": 90.0})
        );
        assert_eq!(
            parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
    }

    #[test]
    fn entity_names_are_checked() {
        assert!(validate_entity_name("copy-requests").is_ok());
        for bad in ["", "a/b", "a?b", "a#b", "..", "a..b", "a b"] {
            assert!(validate_entity_name(bad).is_err(), "{bad}");
        }
    }
}
