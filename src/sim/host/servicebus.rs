//! A local Service Bus namespace: the REST send surface (single and batch), entities named in
//! the function.json bindings, sessions, scheduled messages, duplicate detection, peek-lock
//! delivery state and dead-letter queues.

use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

use super::wire::{parse_rfc1123, BATCH_CONTENT_TYPE};
use crate::clock::SharedClock;

/// Standard tier message size limit (batch included).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message held by the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerMessage {
    pub sequence_number: i64,
    pub message_id: String,
    pub session_id: Option<String>,
    pub body: String,
    pub content_type: Option<String>,
    pub label: Option<String>,
    pub correlation_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub enqueued_time: OffsetDateTime,
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    /// Deliveries so far (the next delivery reports this + 1).
    pub delivery_count: u32,
    pub lock_token: String,
    locked: bool,
}

impl BrokerMessage {
    /// A message that never sat in a queue (an Event Grid event being dead-lettered).
    pub fn detached(
        message_id: &str,
        body: String,
        at: OffsetDateTime,
        delivery_count: u32,
    ) -> Self {
        BrokerMessage {
            sequence_number: 0,
            message_id: message_id.to_string(),
            session_id: None,
            body,
            content_type: Some("application/json".into()),
            label: None,
            correlation_id: None,
            properties: BTreeMap::new(),
            enqueued_time: at,
            scheduled_enqueue_time: None,
            expires_at: None,
            delivery_count,
            lock_token: String::new(),
            locked: false,
        }
    }
}

/// A dead-lettered message (or Event Grid batch event).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub message: BrokerMessage,
    pub reason: String,
    pub description: String,
    pub at: OffsetDateTime,
}

/// A message as submitted (REST or output binding).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncomingMessage {
    pub body: String,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    pub session_id: Option<String>,
    pub label: Option<String>,
    pub correlation_id: Option<String>,
    pub scheduled_enqueue_time: Option<OffsetDateTime>,
    pub time_to_live: Option<time::Duration>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Entity {
    is_topic: bool,
    sessions: bool,
    messages: Vec<BrokerMessage>,
    dedupe: HashMap<String, OffsetDateTime>,
    dead_letters: Vec<DeadLetter>,
    locked_sessions: HashSet<String>,
    next_seq: i64,
}

/// Counters the broker keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerCounters {
    pub accepted: u64,
    pub duplicates_dropped: u64,
    pub expired: u64,
    pub dead_lettered: u64,
}

/// Why the broker refused a send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRefused {
    pub status: u16,
    pub detail: String,
}

pub struct Broker {
    entities: Mutex<BTreeMap<String, Entity>>,
    /// Every message id a sender got accepted, per entity, with when: what the sender did,
    /// before duplicate detection dropped anything (the soak checks ferry by this, not by
    /// what the broker kept).
    sent: Mutex<BTreeMap<String, Vec<(String, OffsetDateTime)>>>,
    counters: Mutex<BrokerCounters>,
    clock: SharedClock,
    dedupe_window: time::Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Broker {
    pub fn new(clock: SharedClock, dedupe_window: time::Duration) -> Self {
        Broker {
            entities: Mutex::new(BTreeMap::new()),
            sent: Mutex::new(BTreeMap::new()),
            counters: Mutex::new(BrokerCounters::default()),
            clock,
            dedupe_window,
        }
    }

    /// Declares a queue or topic (names are case-insensitive, as in Azure).
    pub fn declare(&self, name: &str, is_topic: bool, sessions: bool) -> Result<(), String> {
        let mut es = lock(&self.entities);
        let key = name.to_ascii_lowercase();
        if let Some(e) = es.get_mut(&key) {
            if e.is_topic != is_topic {
                return Err(format!("`{name}` is used both as a queue and as a topic"));
            }
            e.sessions |= sessions;
            return Ok(());
        }
        es.insert(
            key,
            Entity {
                is_topic,
                sessions,
                messages: Vec::new(),
                dedupe: HashMap::new(),
                dead_letters: Vec::new(),
                locked_sessions: HashSet::new(),
                next_seq: 1,
            },
        );
        Ok(())
    }

    pub fn has_entity(&self, name: &str) -> bool {
        lock(&self.entities).contains_key(&name.to_ascii_lowercase())
    }

    pub fn is_session_entity(&self, name: &str) -> bool {
        lock(&self.entities)
            .get(&name.to_ascii_lowercase())
            .is_some_and(|e| e.sessions)
    }

    /// Every (message id, time) a sender got accepted by `entity`, duplicates included.
    pub fn sent(&self, entity: &str) -> Vec<(String, OffsetDateTime)> {
        lock(&self.sent)
            .get(&entity.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    pub fn counters(&self) -> BrokerCounters {
        lock(&self.counters).clone()
    }

    /// Accepts messages all-or-nothing, like a REST (batch) send. Returns how many were
    /// enqueued (duplicates are dropped but still answered with success).
    pub fn send(&self, entity: &str, messages: Vec<IncomingMessage>) -> Result<usize, SendRefused> {
        let now = self.clock.now();
        let mut es = lock(&self.entities);
        let e = es.get_mut(&entity.to_ascii_lowercase()).ok_or_else(|| SendRefused {
            status: 404,
            detail: format!(
                "The messaging entity '{entity}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions."
            ),
        })?;
        for m in &messages {
            if e.sessions && m.session_id.as_deref().is_none_or(str::is_empty) {
                return Err(SendRefused {
                    status: 400,
                    detail: format!(
                        "The SessionId was not set on a message, and it cannot be sent to the entity '{entity}'. Entities that have session support enabled can only receive messages that have the SessionId set to a valid value."
                    ),
                });
            }
            if let Some(s) = &m.session_id {
                if s.len() > 128 {
                    return Err(SendRefused {
                        status: 400,
                        detail: "SessionId is longer than 128 characters".into(),
                    });
                }
            }
            if let Some(id) = &m.message_id {
                if id.len() > 128 {
                    return Err(SendRefused {
                        status: 400,
                        detail: "MessageId is longer than 128 characters".into(),
                    });
                }
            }
        }
        let ids: Vec<String> = messages
            .iter()
            .map(|m| m.message_id.clone().unwrap_or_default())
            .collect();
        lock(&self.sent)
            .entry(entity.to_ascii_lowercase())
            .or_default()
            .extend(ids.into_iter().map(|id| (id, now)));
        let window = self.dedupe_window;
        e.dedupe.retain(|_, at| *at + window > now);
        let mut enqueued = 0;
        let mut dups = 0;
        for m in messages {
            let id = m
                .message_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            if e.dedupe.contains_key(&id) {
                dups += 1;
                continue;
            }
            e.dedupe.insert(id.clone(), now);
            let seq = e.next_seq;
            e.next_seq += 1;
            let visible_at = m.scheduled_enqueue_time.filter(|t| *t > now);
            let enqueued_time = visible_at.unwrap_or(now);
            e.messages.push(BrokerMessage {
                sequence_number: seq,
                message_id: id,
                session_id: m.session_id,
                body: m.body,
                content_type: m.content_type,
                label: m.label,
                correlation_id: m.correlation_id,
                properties: m.properties,
                enqueued_time,
                scheduled_enqueue_time: visible_at,
                expires_at: m.time_to_live.map(|ttl| enqueued_time + ttl),
                delivery_count: 0,
                lock_token: uuid::Uuid::new_v4().to_string(),
                locked: false,
            });
            enqueued += 1;
        }
        let mut c = lock(&self.counters);
        c.accepted += enqueued as u64;
        c.duplicates_dropped += dups;
        Ok(enqueued)
    }

    fn drop_expired(&self, e: &mut Entity, now: OffsetDateTime) {
        let before = e.messages.len();
        e.messages
            .retain(|m| m.locked || m.expires_at.is_none_or(|x| x > now));
        let gone = (before - e.messages.len()) as u64;
        if gone > 0 {
            lock(&self.counters).expired += gone;
        }
    }

    fn visible(m: &BrokerMessage, now: OffsetDateTime) -> bool {
        !m.locked && m.scheduled_enqueue_time.is_none_or(|t| t <= now)
    }

    /// Peek-lock the first due message of a non-session queue (FIFO by sequence number).
    pub fn lock_next(&self, queue: &str) -> Option<BrokerMessage> {
        let now = self.clock.now();
        let mut es = lock(&self.entities);
        let e = es.get_mut(&queue.to_ascii_lowercase())?;
        self.drop_expired(e, now);
        // FIFO: nothing overtakes a locked head.
        if e.messages.iter().any(|m| m.locked) {
            return None;
        }
        let m = e
            .messages
            .iter_mut()
            .filter(|m| Self::visible(m, now))
            .min_by_key(|m| m.sequence_number)?;
        m.locked = true;
        m.delivery_count += 1;
        Some(m.clone())
    }

    /// Accepts the session with the oldest due message that no consumer holds.
    pub fn accept_session(&self, queue: &str) -> Option<String> {
        let now = self.clock.now();
        let mut es = lock(&self.entities);
        let e = es.get_mut(&queue.to_ascii_lowercase())?;
        self.drop_expired(e, now);
        let sid = e
            .messages
            .iter()
            .filter(|m| Self::visible(m, now))
            .filter_map(|m| m.session_id.as_ref().map(|s| (m.sequence_number, s)))
            .filter(|(_, s)| !e.locked_sessions.contains(*s))
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, s)| s.clone())?;
        e.locked_sessions.insert(sid.clone());
        Some(sid)
    }

    /// The next message of a held session, in order; a scheduled message that is not due
    /// yet does not block later due ones (it is not in the session until then).
    pub fn lock_next_in_session(&self, queue: &str, session: &str) -> Option<BrokerMessage> {
        let now = self.clock.now();
        let mut es = lock(&self.entities);
        let e = es.get_mut(&queue.to_ascii_lowercase())?;
        self.drop_expired(e, now);
        let m = e
            .messages
            .iter_mut()
            .filter(|m| m.session_id.as_deref() == Some(session) && Self::visible(m, now))
            .min_by_key(|m| m.sequence_number)?;
        m.locked = true;
        m.delivery_count += 1;
        Some(m.clone())
    }

    pub fn release_session(&self, queue: &str, session: &str) {
        if let Some(e) = lock(&self.entities).get_mut(&queue.to_ascii_lowercase()) {
            e.locked_sessions.remove(session);
        }
    }

    /// Success: the message is removed.
    pub fn complete(&self, queue: &str, lock_token: &str) {
        if let Some(e) = lock(&self.entities).get_mut(&queue.to_ascii_lowercase()) {
            e.messages.retain(|m| m.lock_token != lock_token);
        }
    }

    /// Failure: the message becomes available again, or is dead-lettered once it has been
    /// delivered `max_delivery_count` times. Returns true if dead-lettered.
    pub fn abandon(
        &self,
        queue: &str,
        lock_token: &str,
        max_delivery_count: u32,
        error: &str,
    ) -> bool {
        let now = self.clock.now();
        let mut es = lock(&self.entities);
        let Some(e) = es.get_mut(&queue.to_ascii_lowercase()) else {
            return false;
        };
        let Some(pos) = e.messages.iter().position(|m| m.lock_token == lock_token) else {
            return false;
        };
        if e.messages[pos].delivery_count >= max_delivery_count {
            let mut m = e.messages.remove(pos);
            m.locked = false;
            e.dead_letters.push(DeadLetter {
                message: m,
                reason: "MaxDeliveryCountExceeded".into(),
                description: format!(
                    "Message could not be consumed after {max_delivery_count} delivery attempts. Last error: {error}"
                ),
                at: now,
            });
            lock(&self.counters).dead_lettered += 1;
            return true;
        }
        let m = &mut e.messages[pos];
        m.locked = false;
        // A new lock token per delivery, as the broker issues.
        m.lock_token = uuid::Uuid::new_v4().to_string();
        false
    }

    /// Records a dead letter that did not come from this broker's queues (Event Grid).
    pub fn add_dead_letter(&self, entity: &str, d: DeadLetter) {
        let mut es = lock(&self.entities);
        let e = es
            .entry(entity.to_ascii_lowercase())
            .or_insert_with(|| Entity {
                is_topic: false,
                sessions: false,
                messages: Vec::new(),
                dedupe: HashMap::new(),
                dead_letters: Vec::new(),
                locked_sessions: HashSet::new(),
                next_seq: 1,
            });
        e.dead_letters.push(d);
        lock(&self.counters).dead_lettered += 1;
    }

    pub fn dead_letters(&self, entity: &str) -> Vec<DeadLetter> {
        lock(&self.entities)
            .get(&entity.to_ascii_lowercase())
            .map(|e| e.dead_letters.clone())
            .unwrap_or_default()
    }

    /// Messages currently held by an entity (topics keep everything sent to them).
    pub fn peek(&self, entity: &str) -> Vec<BrokerMessage> {
        lock(&self.entities)
            .get(&entity.to_ascii_lowercase())
            .map(|e| e.messages.clone())
            .unwrap_or_default()
    }

    /// True when any queue has a message due now.
    pub fn has_due(&self, queue: &str) -> bool {
        let now = self.clock.now();
        lock(&self.entities)
            .get(&queue.to_ascii_lowercase())
            .is_some_and(|e| {
                e.messages
                    .iter()
                    .any(|m| Self::visible(m, now) && m.expires_at.is_none_or(|x| x > now))
            })
    }
}

/// Starts the REST endpoint on 127.0.0.1:0. Returns the bound address.
pub async fn serve(
    broker: Arc<Broker>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let route = warp::post()
        .and(warp::path!(String / "messages"))
        .and(warp::header::headers_cloned())
        // Bounded while reading, so an oversized send is refused without buffering it all.
        .and(crate::server::limited_body(MAX_MESSAGE_BYTES as u64).map(Some).or(warp::any().map(|| None)).unify())
        .map(move |entity: String, headers: HeaderMap, body: Option<Bytes>| {
            let (status, detail) = match body {
                Some(body) => handle_send(&broker, &entity, &headers, &body),
                None => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The message is larger than the limit of {MAX_MESSAGE_BYTES} bytes, or its body could not be read."),
                ),
            };
            reply(status, detail)
        });
    let not_found = warp::any().map(|| {
        reply(
            StatusCode::NOT_FOUND,
            "Only POST /{entity}/messages is supported by the local broker".into(),
        )
    });
    tokio::spawn(
        warp::serve(route.or(not_found))
            .incoming(listener)
            .graceful(async {
                let _ = shutdown.await;
            })
            .run(),
    );
    Ok(addr)
}

fn reply(status: StatusCode, detail: String) -> warp::reply::Response {
    use warp::Reply;
    if status == StatusCode::CREATED {
        return warp::reply::with_status(warp::reply(), status).into_response();
    }
    // Azure answers errors with a small XML document.
    let xml = format!(
        "<Error><Code>{}</Code><Detail>{}</Detail></Error>",
        status.as_u16(),
        xml_escape(&detail)
    );
    let r = warp::reply::with_header(xml, "Content-Type", "application/xml; charset=utf-8");
    warp::reply::with_status(r, status).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Headers that are not custom message properties.
const NOT_PROPERTIES: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "brokerproperties",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "expect",
    "transfer-encoding",
    "date",
];

fn handle_send(
    broker: &Broker,
    entity: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, String) {
    let entity = percent_encoding::percent_decode_str(entity)
        .decode_utf8_lossy()
        .to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let auth_ok = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("SharedAccessSignature "))
        .is_some_and(|t| !t.trim().is_empty());
    if !auth_ok {
        return (
            StatusCode::UNAUTHORIZED,
            "MissingToken: The authorization header was not found or is not a Bearer or SharedAccessSignature token.".into(),
        );
    }
    if !broker.has_entity(&entity) {
        return (
            StatusCode::NOT_FOUND,
            format!("The messaging entity '{entity}' could not be found."),
        );
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The message size of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes.",
                body.len()
            ),
        );
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return (
            StatusCode::BAD_REQUEST,
            "The body is not UTF-8 text.".into(),
        );
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let messages = if content_type
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().starts_with(BATCH_CONTENT_TYPE))
    {
        match parse_batch(text) {
            Ok(ms) => ms,
            Err(e) => return (StatusCode::BAD_REQUEST, e),
        }
    } else {
        let mut m = IncomingMessage {
            body: text.to_string(),
            content_type,
            ..Default::default()
        };
        if let Some(bp) = headers.get("brokerproperties") {
            let parsed = bp
                .to_str()
                .map_err(|_| "BrokerProperties is not text".to_string())
                .and_then(|s| {
                    serde_json::from_str::<Value>(s)
                        .map_err(|e| format!("BrokerProperties is not JSON: {e}"))
                })
                .and_then(|v| apply_broker_properties(&mut m, &v));
            if let Err(e) = parsed {
                return (StatusCode::BAD_REQUEST, e);
            }
        }
        for (name, value) in headers {
            let n = name.as_str().to_ascii_lowercase();
            if NOT_PROPERTIES.contains(&n.as_str()) || n.starts_with("x-ms-") {
                continue;
            }
            if let Ok(v) = value.to_str() {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v);
                m.properties
                    .insert(name.as_str().to_string(), v.to_string());
            }
        }
        vec![m]
    };
    match broker.send(&entity, messages) {
        Ok(_) => (StatusCode::CREATED, String::new()),
        Err(r) => (
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
            r.detail,
        ),
    }
}

fn parse_batch(text: &str) -> Result<Vec<IncomingMessage>, String> {
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

fn apply_broker_properties(m: &mut IncomingMessage, v: &Value) -> Result<(), String> {
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
        let d = super::config::parse_timespan(&s).ok_or_else(|| {
            format!("BrokerProperties.TimeToLiveTimeSpan `{s}` is not a TimeSpan")
        })?;
        m.time_to_live = Some(time::Duration::try_from(d).map_err(|e| e.to_string())?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::macros::datetime;

    fn broker() -> (Broker, ManualClock) {
        let c = ManualClock::new(datetime!(2026-11-01 00:00 UTC));
        let b = Broker::new(Arc::new(c.clone()), time::Duration::minutes(10));
        b.declare("plain", false, false).unwrap();
        b.declare("sess", false, true).unwrap();
        (b, c)
    }

    fn msg(id: &str, session: Option<&str>) -> IncomingMessage {
        IncomingMessage {
            body: format!("{{\"id\":\"{id}\"}}"),
            message_id: Some(id.into()),
            session_id: session.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn sessions_required_and_dedupe_window() {
        let (b, c) = broker();
        assert_eq!(
            b.send("sess", vec![msg("a", None)]).unwrap_err().status,
            400
        );
        assert_eq!(
            b.send("nope", vec![msg("a", None)]).unwrap_err().status,
            404
        );
        assert_eq!(b.send("plain", vec![msg("a", None)]), Ok(1));
        assert_eq!(b.send("PLAIN", vec![msg("a", None)]), Ok(0));
        c.advance(time::Duration::minutes(11));
        assert_eq!(b.send("plain", vec![msg("a", None)]), Ok(1));
        assert_eq!(b.counters().duplicates_dropped, 1);
    }

    #[test]
    fn fifo_abandon_and_dead_letter() {
        let (b, _) = broker();
        b.send("plain", vec![msg("a", None), msg("b", None)])
            .unwrap();
        let m = b.lock_next("plain").unwrap();
        assert_eq!(m.message_id, "a");
        assert_eq!(m.delivery_count, 1);
        assert!(b.lock_next("plain").is_none(), "FIFO: b waits for a");
        assert!(!b.abandon("plain", &m.lock_token, 2, "boom"));
        let m = b.lock_next("plain").unwrap();
        assert_eq!((m.message_id.as_str(), m.delivery_count), ("a", 2));
        assert!(b.abandon("plain", &m.lock_token, 2, "boom"));
        assert_eq!(b.dead_letters("plain").len(), 1);
        let m = b.lock_next("plain").unwrap();
        assert_eq!(m.message_id, "b");
        b.complete("plain", &m.lock_token);
        assert!(!b.has_due("plain"));
    }

    #[test]
    fn scheduled_messages_wait_for_the_clock() {
        let (b, c) = broker();
        let mut m = msg("later", Some("s1"));
        m.scheduled_enqueue_time = Some(datetime!(2026-11-01 01:00 UTC));
        b.send("sess", vec![m]).unwrap();
        assert!(b.accept_session("sess").is_none());
        c.advance(time::Duration::hours(1));
        let s = b.accept_session("sess").unwrap();
        assert!(
            b.accept_session("sess").is_none(),
            "one consumer per session"
        );
        let m = b.lock_next_in_session("sess", &s).unwrap();
        assert_eq!(m.enqueued_time, datetime!(2026-11-01 01:00 UTC));
    }
}
