//! Ingest: restore point events in → one copy request per target region out (to the
//! session-enabled copy queue, through the Service Bus REST API, because the output binding
//! cannot set SessionId). Deletes of a chain's base restore point raise an alert.

use super::chain::{commit, is_own_copy_of, load_chain, replace_chain};
use super::retry::{self, Retry};
use super::{App, CopyRequestMessage, FnError, Outcome};
use crate::alerts::{Alert, AlertKind};
use crate::events::{parse_payload, EventKind, Parsed, RestorePointEvent};
use crate::ledger::records::chain_key;
use crate::rules::RejectReason;
use serde_json::Value;
use time::OffsetDateTime;

/// An event put back on the events queue while ARM was unavailable.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryEnvelope {
    attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    first_attempt_at: OffsetDateTime,
    event: Value,
}

const ENVELOPE_KEY: &str = "ferryRetry";

/// Handles one event payload (an event, an array of events, or a retry envelope).
///
/// When ARM is unavailable, the event is put back on the events queue with a delay rather
/// than failing the invocation: Event Grid resends a whole batch when one event fails, and
/// Service Bus dead-letters after ten quick redeliveries, so either would turn a throttling
/// burst into lost events.
pub async fn ingest(app: &App, payload: &Value, now: OffsetDateTime) -> Result<Outcome, FnError> {
    let mut out = Outcome::default();
    let envelope;
    let (payload, attempt, first) = match payload.get(ENVELOPE_KEY) {
        Some(env) => match serde_json::from_value::<RetryEnvelope>(env.clone()) {
            Ok(e) => {
                envelope = e;
                (&envelope.event, envelope.attempt, envelope.first_attempt_at)
            }
            Err(e) => {
                let mut a = Alert::new(
                    AlertKind::EventRejected,
                    &format!(
                        "envelope|{}",
                        payload.to_string().chars().take(200).collect::<String>()
                    ),
                    format!("malformed retry envelope: {e}"),
                    now,
                );
                a.reason = Some(e.to_string());
                app.alert_now(&mut out, a).await?;
                return Ok(out);
            }
        },
        None => (payload, 0, now),
    };
    let raw_events: &[Value] = match payload {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    };
    for (raw, parsed) in raw_events.iter().zip(parse_payload(payload)) {
        let result = match parsed {
            Err(e) => {
                let subject =
                    e.id.clone()
                        .unwrap_or_else(|| raw.to_string().chars().take(200).collect());
                let mut a = Alert::new(
                    AlertKind::EventRejected,
                    &format!("event|{subject}"),
                    format!("event rejected: {e}"),
                    now,
                );
                a.reason = Some(e.reason.clone());
                app.alert_now(&mut out, a).await?;
                Ok(())
            }
            Ok(Parsed::Ignored(why)) => {
                tracing::debug!("ignored event: {why}");
                Ok(())
            }
            Ok(Parsed::RestorePoint(ev)) => match ev.kind {
                EventKind::Write => on_write(app, &ev, now, &mut out).await,
                EventKind::Delete => on_delete(app, &ev, now, &mut out).await,
            },
        };
        match result {
            Ok(()) => {}
            Err(e) if e.is_transient() => {
                retry_later(app, raw, attempt, first, &e, now, &mut out).await?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// ARM was unavailable for this event: back to the events queue, later (see `retry`).
async fn retry_later(
    app: &App,
    event: &Value,
    attempt: u32,
    first: OffsetDateTime,
    e: &FnError,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let r = Retry {
        entity: super::ServiceBusEntity::EventsQueue,
        first,
        attempt,
        what: format!("event {id}"),
        subject: format!("event-gave-up|{id}"),
    };
    let build = |next: u32, at: OffsetDateTime| {
        let body = serde_json::json!({ ENVELOPE_KEY: RetryEnvelope { attempt: next, first_attempt_at: first, event: event.clone() } });
        let message_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("ferry-event-retry|{id}|{next}").as_bytes(),
        );
        let mut m = crate::bus::OutgoingMessage::json(message_id.to_string(), body.to_string());
        m.scheduled_enqueue_time = Some(at);
        Ok(m)
    };
    retry::retry_later(app, r, e, now, out, build, |_| {}).await
}

async fn on_write(
    app: &App,
    ev: &RestorePointEvent,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let coll = &ev.restore_point.collection;
    if app.policy.candidates(coll).next().is_none() {
        tracing::debug!("{}: outside every policy scope", ev.restore_point);
        return Ok(());
    }
    let tags = if app.policy.needs_tags(coll) {
        match app.arm.get_collection(coll, false).await? {
            Some(c) => c.tags,
            None => {
                out.log(format!(
                    "{}: collection no longer exists; event dropped",
                    ev.restore_point
                ));
                return Ok(());
            }
        }
    } else {
        None
    };
    let Some(rule) = app.policy.rule_for(coll, tags.as_ref()) else {
        tracing::debug!(
            "{}: no rule matches the collection's tags",
            ev.restore_point
        );
        return Ok(());
    };
    // Copies land in collections that may be in scope too: never feed them back in.
    let Some(rp) = app.arm.get_restore_point_origin(&ev.restore_point).await? else {
        out.log(format!(
            "{}: restore point no longer exists; event dropped",
            ev.restore_point
        ));
        return Ok(());
    };
    if rp.is_copy() {
        if is_own_copy_of(app, &ev.restore_point, rp.source_restore_point_id()) {
            tracing::debug!("{}: a copy ferry made", ev.restore_point);
        } else {
            let reason = RejectReason::CopyOfCopy;
            let mut a = Alert::new(
                AlertKind::CopyRejected,
                &format!("copy-of-copy|{}", ev.restore_point),
                format!("{} will not be copied: {reason}", ev.restore_point),
                now,
            )
            .action(reason.suggested_action());
            a.reason = Some(reason.code().into());
            a.source_restore_point = Some(ev.restore_point.to_string());
            a.source_collection = Some(coll.to_string());
            app.alert_now(out, a).await?;
        }
        return Ok(());
    }
    let messages: Vec<_> = rule
        .targets
        .iter()
        .map(|t| {
            CopyRequestMessage {
                source_restore_point: ev.restore_point.to_string(),
                target_region: t.region.clone(),
                chain: chain_key(coll, &t.region),
                event_id: Some(ev.id.clone()),
                purpose: super::Purpose::Event,
                attempt: 0,
                first_attempt_at: None,
            }
            .to_message(None)
        })
        .collect();
    let n = messages.len();
    app.bus
        .send(super::ServiceBusEntity::CopyQueue, messages)
        .await?;
    crate::failpoint::fail_point!(app, "ingest.after-queue")?;
    out.log(format!("{}: {n} copy request(s) queued", ev.restore_point));
    Ok(())
}

async fn on_delete(
    app: &App,
    ev: &RestorePointEvent,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let coll = &ev.restore_point.collection;
    let regions: Vec<String> = app
        .policy
        .candidates(coll)
        .flat_map(|r| r.targets.iter().map(|t| t.region.clone()))
        .collect();
    // Confirmed with ARM at most once, and only if the restore point is some chain's base:
    // an event alone (which anyone with write access to the topic could forge) never makes
    // ferry forget a base.
    let mut confirmed = false;
    for region in regions {
        let key = chain_key(coll, &region);
        for _ in 0..super::chain::MAX_RACES {
            let Some(mut chain) = load_chain(app, &key).await? else {
                break;
            };
            let is_base = chain
                .base_restore_point
                .as_deref()
                .is_some_and(|b| b.eq_ignore_ascii_case(&ev.restore_point.name));
            if !is_base {
                break;
            }
            if !confirmed {
                if app
                    .arm
                    .get_restore_point_origin(&ev.restore_point)
                    .await?
                    .is_some()
                {
                    out.log(format!(
                        "delete event for {} ignored: ARM still has it (a forged or stale event)",
                        ev.restore_point
                    ));
                    return Ok(());
                }
                confirmed = true;
            }
            // The next copy will be a full copy and becomes the new base.
            chain.base_restore_point = None;
            let mut a = Alert::new(
                AlertKind::BaseRestorePointDeleted,
                &format!("{key}|{}", ev.restore_point.name),
                format!("base restore point {} of {} → {} was deleted: the next copy will be a full copy", ev.restore_point.name, coll.name, region),
                now,
            );
            a.chain = Some(key.clone());
            a.source_collection = Some(coll.to_string());
            a.target_region = Some(region.clone());
            a.source_restore_point = Some(ev.restore_point.to_string());
            a.source_vm = chain.source_vm.clone();
            // Sent before the write that forgets the base (see `App::raise`).
            app.raise(std::slice::from_ref(&a)).await?;
            if !commit(app, &chain, vec![replace_chain(&chain)?]).await? {
                continue;
            }
            out.alert(a);
            break;
        }
    }
    Ok(())
}
