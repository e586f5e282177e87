//! Ingest: restore point events in → one copy request per target region out (to the
//! session-enabled copy queue, through the Service Bus REST API, because the output binding
//! cannot set SessionId). Deletes of a chain's base restore point raise an alert.

use super::chain::{commit, is_own_copy, load_chain, replace_chain};
use super::{App, CopyRequestMessage, FnError, Outcome};
use crate::alerts::{Alert, AlertKind};
use crate::events::{parse_payload, EventKind, Parsed, RestorePointEvent};
use crate::ledger::records::chain_key;
use crate::rules::RejectReason;
use serde_json::Value;
use time::OffsetDateTime;

/// Handles one event payload (an event, or an array of events).
pub async fn ingest(app: &App, payload: &Value, now: OffsetDateTime) -> Result<Outcome, FnError> {
    let mut out = Outcome::default();
    for parsed in parse_payload(payload) {
        match parsed {
            Err(e) => {
                let subject = e.id.clone().unwrap_or_else(|| payload.to_string().chars().take(200).collect());
                let mut a = Alert::new(AlertKind::EventRejected, &format!("event|{subject}"), format!("event rejected: {e}"), now);
                a.reason = Some(e.reason.clone());
                out.alert(a);
            }
            Ok(Parsed::Ignored(why)) => tracing::debug!("ignored event: {why}"),
            Ok(Parsed::RestorePoint(ev)) => match ev.kind {
                EventKind::Write => on_write(app, &ev, now, &mut out).await?,
                EventKind::Delete => on_delete(app, &ev, now, &mut out).await?,
            },
        }
    }
    Ok(out)
}

async fn on_write(app: &App, ev: &RestorePointEvent, now: OffsetDateTime, out: &mut Outcome) -> Result<(), FnError> {
    let coll = &ev.restore_point.collection;
    if app.policy.candidates(coll).next().is_none() {
        tracing::debug!("{}: outside every policy scope", ev.restore_point);
        return Ok(());
    }
    let tags = if app.policy.needs_tags(coll) {
        match app.arm.get_collection(coll, false).await? {
            Some(c) => c.tags,
            None => {
                out.log(format!("{}: collection no longer exists; event dropped", ev.restore_point));
                return Ok(());
            }
        }
    } else {
        None
    };
    let Some(rule) = app.policy.rule_for(coll, tags.as_ref()) else {
        tracing::debug!("{}: no rule matches the collection's tags", ev.restore_point);
        return Ok(());
    };
    // Copies land in collections that may be in scope too: never feed them back in.
    let Some(rp) = app.arm.get_restore_point(&ev.restore_point, false).await? else {
        out.log(format!("{}: restore point no longer exists; event dropped", ev.restore_point));
        return Ok(());
    };
    if rp.is_copy() {
        if is_own_copy(app, &ev.restore_point, &rp) {
            tracing::debug!("{}: a copy ferry made", ev.restore_point);
        } else {
            let reason = RejectReason::CopyOfCopy;
            let mut a = Alert::new(AlertKind::CopyRejected, &format!("copy-of-copy|{}", ev.restore_point), format!("{} will not be copied: {reason}", ev.restore_point), now).action(reason.suggested_action());
            a.reason = Some(reason.code().into());
            a.source_restore_point = Some(ev.restore_point.to_string());
            a.source_collection = Some(coll.to_string());
            out.alert(a);
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
                attempt: 0,
            }
            .to_message(None)
        })
        .collect();
    let n = messages.len();
    app.bus.send(&app.copy_queue, messages).await?;
    out.log(format!("{}: {n} copy request(s) queued", ev.restore_point));
    Ok(())
}

async fn on_delete(app: &App, ev: &RestorePointEvent, now: OffsetDateTime, out: &mut Outcome) -> Result<(), FnError> {
    let coll = &ev.restore_point.collection;
    let regions: Vec<String> = app.policy.candidates(coll).flat_map(|r| r.targets.iter().map(|t| t.region.clone())).collect();
    for region in regions {
        let key = chain_key(coll, &region);
        for _ in 0..super::chain::MAX_RACES {
            let Some(mut chain) = load_chain(app, &key).await? else { break };
            let is_base = chain.base_restore_point.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(&ev.restore_point.name));
            if !is_base {
                break;
            }
            // The next copy will be a full copy and becomes the new base.
            chain.base_restore_point = None;
            if !commit(app, &chain, vec![replace_chain(&chain)?]).await? {
                continue;
            }
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
            out.alert(a);
            break;
        }
    }
    Ok(())
}
