//! The namespace's entities and their messages: queues and topics declared by name, sends
//! with duplicate detection and scheduling, peek-lock delivery (FIFO, sessions with one
//! consumer each), abandon and dead-lettering, and the counters the host reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use time::OffsetDateTime;

use crate::clock::SharedClock;

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
    /// A topic's subscriptions (their entity keys): each gets a copy of every message.
    subscriptions: Vec<String>,
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
                subscriptions: Vec::new(),
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

    /// Declares a topic's subscription (and the topic): an entity at
    /// [`super::subscription_path`] that receives a copy of every message the topic accepts
    /// from then on, and is received from like a queue.
    pub fn declare_subscription(&self, topic: &str, subscription: &str) -> Result<(), String> {
        self.declare(topic, true, false)?;
        let path = super::subscription_path(topic, subscription);
        self.declare(&path, false, false)?;
        let mut es = lock(&self.entities);
        let key = path.to_ascii_lowercase();
        let t = es
            .get_mut(&topic.to_ascii_lowercase())
            .expect("declared above");
        if !t.subscriptions.contains(&key) {
            t.subscriptions.push(key);
        }
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
        // A topic hands each accepted message to each of its subscriptions.
        let fresh: Vec<BrokerMessage> = e.messages[e.messages.len() - enqueued..].to_vec();
        for sub in e.subscriptions.clone() {
            if let Some(s) = es.get_mut(&sub) {
                for m in &fresh {
                    let mut copy = m.clone();
                    copy.sequence_number = s.next_seq;
                    s.next_seq += 1;
                    copy.lock_token = uuid::Uuid::new_v4().to_string();
                    s.messages.push(copy);
                }
            }
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
                subscriptions: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;
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
