//! The sequencer: one copy request at a time per chain (Service Bus session). Records the
//! request in the ledger, then advances the chain — which starts the oldest pending copy if
//! none is in flight.

use super::chain::{
    self, advance, ensure_chain, is_own_copy, load_copy, rejection_alert, replace_chain,
    source_facts,
};
use super::reads::Reads;
use super::retry::{self, Retry};
use super::{App, CopyRequestMessage, FnError, Outcome};
use crate::alerts::{Alert, AlertKind};
use crate::ids::{normalize_region, RestorePointId};
use crate::ledger::records::{chain_key, CopyRecord, CopyState};
use crate::ledger::{LedgerError, Op};
use crate::machine::start;
use crate::rules::{self, CatchUp, Eligibility, RejectReason};
use time::OffsetDateTime;

/// Handles one copy request message body (JSON text).
pub async fn sequencer(app: &App, body: &str, now: OffsetDateTime) -> Result<Outcome, FnError> {
    let mut out = Outcome::default();
    let (msg, source, region) = match parse(body) {
        Ok(m) => m,
        Err(reason) => {
            let mut a = Alert::new(
                AlertKind::EventRejected,
                &format!(
                    "copy-request|{}",
                    body.chars().take(200).collect::<String>()
                ),
                format!("copy request rejected: {reason}"),
                now,
            );
            a.reason = Some(reason);
            app.alert_now(&mut out, a).await?;
            return Ok(out);
        }
    };
    match handle(app, &source, &region, now, &mut out).await {
        Ok(()) => Ok(out),
        Err(e) if e.is_transient() => {
            retry_later(app, msg, &e, now, &mut out).await?;
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// ARM or the ledger is unavailable: this request goes back to the copy queue, later (see
/// `retry`).
async fn retry_later(
    app: &App,
    msg: CopyRequestMessage,
    e: &FnError,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let first = msg.first_attempt_at.unwrap_or(now);
    let r = Retry {
        entity: super::ServiceBusEntity::CopyQueue,
        first,
        attempt: msg.attempt,
        what: format!(
            "copying {} to {}",
            msg.source_restore_point, msg.target_region
        ),
        subject: format!(
            "copy-request-gave-up|{}|{}",
            msg.source_restore_point, msg.target_region
        ),
    };
    let (source, region) = (msg.source_restore_point.clone(), msg.target_region.clone());
    let build = |attempt: u32, at: OffsetDateTime| {
        let retry = CopyRequestMessage {
            purpose: super::Purpose::Retry,
            attempt,
            first_attempt_at: Some(first),
            ..msg
        };
        Ok(retry.to_message(Some(at)))
    };
    let annotate = |a: &mut crate::alerts::Alert| {
        a.source_restore_point = Some(source);
        a.target_region = Some(region);
    };
    retry::retry_later(app, r, e, now, out, build, annotate).await
}

async fn handle(
    app: &App,
    source: &RestorePointId,
    region: &str,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let Some((rule, target)) = app.policy.find_target(&source.collection, region) else {
        out.log(format!(
            "{source} → {region}: no policy rule covers this any more; dropping the request"
        ));
        return Ok(());
    };
    // One sequencer message is one decision: ARM resources read for recording the request
    // serve the start that follows.
    let mut reads = Reads::default();
    let Some(chain) = ensure_chain(app, &source.collection, target, &mut reads, now).await? else {
        out.log(format!(
            "{source}: the source collection no longer exists; dropping the request"
        ));
        return Ok(());
    };
    let key = chain.key.clone();
    let row = chain::copy_row_of(source);
    if load_copy(app, &key, &row).await?.is_none() {
        record(app, rule, target, chain, source, &mut reads, now, out).await?;
        crate::failpoint::fail_point!(app, "sequencer.after-record")?;
    }
    advance(app, &key, &mut reads, now, out).await
}

/// Validates and decodes the message body.
fn parse(body: &str) -> Result<(CopyRequestMessage, RestorePointId, String), String> {
    let msg: CopyRequestMessage =
        serde_json::from_str(body).map_err(|e| format!("not a copy request ({e})"))?;
    let source: RestorePointId = msg
        .source_restore_point
        .parse()
        .map_err(|e: crate::ids::IdError| e.to_string())?;
    let region = normalize_region(&msg.target_region)
        .ok_or_else(|| format!("targetRegion {:?} is not a region name", msg.target_region))?;
    if msg.chain != chain_key(&source.collection, &region) {
        return Err(format!(
            "chain {:?} does not match the restore point's collection and region",
            msg.chain
        ));
    }
    Ok((msg, source, region))
}

/// First sight of a source restore point in a chain: inspect it and record it as pending,
/// or as rejected with an alert if it can never be copied.
#[allow(clippy::too_many_arguments)]
async fn record(
    app: &App,
    rule: &crate::policy::Rule,
    target: &crate::policy::Target,
    chain: crate::ledger::records::Chain,
    source: &RestorePointId,
    reads: &mut Reads,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let inspected = reads.source(app, source).await?;
    let (facts, own_copy) = match &inspected {
        Some((rp, disks)) => (source_facts(rp, disks), is_own_copy(app, source, rp)),
        None => (Default::default(), false),
    };
    let decision = if inspected.is_none() {
        Eligibility::Reject(RejectReason::SourceMissing)
    } else {
        rules::eligibility(&facts, &target.rules(rule), chain.watermark)
    };
    let copy = CopyRecord::pending(&chain, source, facts.time_created.unwrap_or(now), now);
    let mut chain = chain;
    match &decision {
        Eligibility::Reject(RejectReason::OutOfOrder { .. }) if rule.catch_up != CatchUp::All => {
            // Older than a restore point the catch-up policy already chose to copy: skipped
            // by design, not lost (and not news: no alert).
            let by = start::newer_than(&chain);
            let (_, copy) = start::superseded(&chain, &copy, &by, now);
            match app
                .ledger
                .batch(&chain.key, vec![Op::Insert(copy.to_entity())])
                .await
            {
                Ok(_) => out.log(format!(
                    "{source}: superseded by {by} (catch-up {})",
                    rule.catch_up.as_str()
                )),
                Err(LedgerError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Eligibility::Reject(reason) => {
            // Recorded as rejected straight away (the chain never held it).
            let (_, mut copy) = start::settled(
                &chain,
                &copy,
                CopyState::Rejected,
                reason.code().to_string(),
                now,
            );
            let quiet = start::quiet(reason, own_copy);
            let alert = (!quiet).then(|| {
                copy.alerts.insert(AlertKind::CopyRejected);
                rejection_alert(&chain, &copy, reason, now)
            });
            app.raise(alert.as_slice()).await?;
            match app
                .ledger
                .batch(&chain.key, vec![Op::Insert(copy.to_entity())])
                .await
            {
                Ok(_) => match alert {
                    Some(a) => out.alert(a),
                    None => out.log(format!("{source}: {reason} (a copy ferry made)")),
                },
                Err(LedgerError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Eligibility::Defer(_) | Eligibility::Eligible { .. } => {
            // Pending; whether it may start (and its readiness) is decided when its turn
            // comes, against the source as it is then.
            chain.active = true;
            match app
                .ledger
                .batch(
                    &chain.key,
                    vec![replace_chain(&chain)?, Op::Insert(copy.to_entity())],
                )
                .await
            {
                Ok(_) => out.log(format!(
                    "{source} → {}: recorded, pending",
                    chain.target_region
                )),
                Err(e) if e.is_race() => {
                    // Someone changed the chain or recorded this copy first: retry on fresh state.
                    return Err(FnError::Contention(chain.key));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc1/restorePoints/rp1";

    #[test]
    fn bad_messages_are_named() {
        assert!(parse("not json")
            .unwrap_err()
            .contains("not a copy request"));
        assert!(
            parse(r#"{"sourceRestorePoint":"x","targetRegion":"westus2","chain":"c"}"#)
                .unwrap_err()
                .contains("restore point")
        );
        let rp: RestorePointId = RP.parse().unwrap();
        let chain = chain_key(&rp.collection, "westus2");
        let ok = format!(
            r#"{{"sourceRestorePoint":"{RP}","targetRegion":"westus2","chain":"{chain}"}}"#
        );
        assert_eq!(parse(&ok).unwrap().2, "westus2");
        let wrong_chain = format!(
            r#"{{"sourceRestorePoint":"{RP}","targetRegion":"eastus2","chain":"{chain}"}}"#
        );
        assert!(parse(&wrong_chain).unwrap_err().contains("does not match"));
        let extra = format!(
            r#"{{"sourceRestorePoint":"{RP}","targetRegion":"westus2","chain":"{chain}","evil":1}}"#
        );
        assert!(parse(&extra).is_err());
    }
}
