//! The sequencer: one copy request at a time per chain (Service Bus session). Records the
//! request in the ledger, then advances the chain — which starts the oldest pending copy if
//! none is in flight.

use super::chain::{
    self, advance, ensure_chain, inspect_source, is_own_copy, load_copy, new_copy, rejection_alert,
    replace_chain, source_facts,
};
use super::{App, CopyRequestMessage, FnError, Outcome};
use crate::alerts::{Alert, AlertKind};
use crate::ids::{normalize_region, RestorePointId};
use crate::ledger::records::{chain_key, CopyState};
use crate::ledger::{LedgerError, Op};
use crate::rules::{self, Eligibility, RejectReason};
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

/// ARM or the ledger is unavailable: schedule this request again rather than fail the
/// delivery (ten quick redeliveries would dead-letter it during a throttling burst).
async fn retry_later(
    app: &App,
    msg: CopyRequestMessage,
    e: &FnError,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let first = msg.first_attempt_at.unwrap_or(now);
    if now - first > super::RETRY_HORIZON {
        let mut a = Alert::new(
            AlertKind::EventRejected,
            &format!(
                "copy-request-gave-up|{}|{}",
                msg.source_restore_point, msg.target_region
            ),
            format!(
                "gave up on copying {} to {} after retrying since {first}: {e}",
                msg.source_restore_point, msg.target_region
            ),
            now,
        );
        a.source_restore_point = Some(msg.source_restore_point.clone());
        a.target_region = Some(msg.target_region.clone());
        a.reason = Some(e.to_string());
        app.alert_now(out, a).await?;
        return Ok(());
    }
    let attempt = msg.attempt + 1;
    let at = now + super::retry_delay(attempt.saturating_sub(1), e.retry_after());
    let retry = CopyRequestMessage {
        purpose: super::Purpose::Retry,
        attempt,
        first_attempt_at: Some(first),
        ..msg
    };
    app.bus
        .send(&app.copy_queue, vec![retry.to_message(Some(at))])
        .await?;
    out.log(format!(
        "{} → {}: {e}; retrying at {at}",
        retry.source_restore_point, retry.target_region
    ));
    Ok(())
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
    let Some(chain) = ensure_chain(app, &source.collection, target, now).await? else {
        out.log(format!(
            "{source}: the source collection no longer exists; dropping the request"
        ));
        return Ok(());
    };
    let key = chain.key.clone();
    let row = chain::copy_row_of(source);
    if load_copy(app, &key, &row).await?.is_none() {
        record(app, rule, target, chain, source, now, out).await?;
        crate::failpoint::fail_point!(app, "sequencer.after-record")?;
    }
    advance(app, &key, now, out).await
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
async fn record(
    app: &App,
    rule: &crate::policy::Rule,
    target: &crate::policy::Target,
    chain: crate::ledger::records::Chain,
    source: &RestorePointId,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let inspected = inspect_source(app, source).await?;
    let (facts, own_copy) = match &inspected {
        Some((rp, disks)) => (source_facts(rp, disks), is_own_copy(app, source, rp)),
        None => (Default::default(), false),
    };
    let decision = if inspected.is_none() {
        Eligibility::Reject(RejectReason::SourceMissing)
    } else {
        rules::eligibility(&facts, &target.rules(rule), chain.watermark)
    };
    let mut copy = new_copy(&chain, source, facts.time_created.unwrap_or(now), now);
    let mut chain = chain;
    match &decision {
        Eligibility::Reject(reason) => {
            copy.state = CopyState::Rejected;
            copy.reason = Some(reason.code().to_string());
            copy.ended_at = Some(now);
            let quiet = matches!(reason, RejectReason::CopyOfCopy) && own_copy;
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
