//! A REST send's content as messages: the batch format's entries (`Body`,
//! `BrokerProperties`, `UserProperties`) and the `BrokerProperties` JSON of either form.

use serde_json::Value;

use super::IncomingMessage;
use crate::sim::host::config::parse_timespan;
use crate::sim::host::wire::parse_rfc1123;

pub(super) fn parse_batch(text: &str) -> Result<Vec<IncomingMessage>, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("batch body is not JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("batch body must be a JSON array".into());
    };
    if items.is_empty() {
        return Err("batch is empty".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item
                .as_object()
                .ok_or_else(|| format!("batch entry {i} is not an object"))?;
            let body = match obj.get("Body") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => return Err(format!("batch entry {i} has no Body")),
                Some(other) => other.to_string(),
            };
            let mut m = IncomingMessage {
                body,
                ..Default::default()
            };
            if let Some(bp) = obj.get("BrokerProperties") {
                apply_broker_properties(&mut m, bp).map_err(|e| format!("batch entry {i}: {e}"))?;
            }
            if let Some(up) = obj.get("UserProperties") {
                let up = up
                    .as_object()
                    .ok_or_else(|| format!("batch entry {i}: UserProperties must be an object"))?;
                for (k, v) in up {
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    m.properties.insert(k.clone(), text);
                }
            }
            Ok(m)
        })
        .collect()
}

pub(super) fn apply_broker_properties(m: &mut IncomingMessage, v: &Value) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| "BrokerProperties must be a JSON object".to_string())?;
    let text = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "BrokerProperties.{k} must be a string, got {other}"
            )),
        }
    };
    m.message_id = text("MessageId")?;
    m.session_id = text("SessionId")?;
    m.label = text("Label")?;
    m.correlation_id = text("CorrelationId")?;
    if let (Some(sid), Some(pk)) = (&m.session_id, text("PartitionKey")?) {
        if *sid != pk {
            return Err("SessionId and PartitionKey must be equal when both are set".into());
        }
    }
    if let Some(s) = text("ScheduledEnqueueTimeUtc")? {
        m.scheduled_enqueue_time = Some(parse_rfc1123(&s).ok_or_else(|| {
            format!("BrokerProperties.ScheduledEnqueueTimeUtc `{s}` is not an RFC 1123 date")
        })?);
    }
    match obj.get("TimeToLive") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let secs = v.as_f64().filter(|s| *s > 0.0).ok_or_else(|| {
                format!("BrokerProperties.TimeToLive must be positive seconds, got {v}")
            })?;
            m.time_to_live = Some(time::Duration::seconds_f64(secs));
        }
    }
    if let Some(s) = text("TimeToLiveTimeSpan")? {
        let d = parse_timespan(&s).ok_or_else(|| {
            format!("BrokerProperties.TimeToLiveTimeSpan `{s}` is not a TimeSpan")
        })?;
        m.time_to_live = Some(time::Duration::try_from(d).map_err(|e| e.to_string())?);
    }
    Ok(())
}
