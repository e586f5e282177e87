//! Starting a chain's oldest pending copy: the I/O around [`start::decide`] — read the
//! source, discover older restore points, find or create the target collection, claim,
//! send the copy PUT (or adopt one an earlier attempt started) — and settling a copy that
//! ends before it starts (rejected, or failed to start).

use super::discover::discover;
use super::repo::{commit, commit_pair, replace_chain, replace_copy};
use super::source::{is_own_copy, source_facts};
use super::{copy_alert, rejection_alert, Flow};
use crate::alerts::AlertKind;
use crate::arm::model::RestorePoint;
use crate::arm::{ArmError, CopyRequest};
use crate::functions::reads::Reads;
use crate::functions::{App, CopyRequestMessage, FnError, Outcome};
use crate::ids::{eq_ignore_case, DiskEncryptionSetId};
use crate::ledger::records::{Chain, CopyRecord, CopyState};
use crate::machine::start::{self, Start};
use crate::policy::{Rule, Target};
use crate::rules::{self, RejectReason};
use time::OffsetDateTime;

/// Settles a copy in a final state ([`start::settled`]), releasing the chain if it held it.
pub(super) async fn settle(
    app: &App,
    chain: Chain,
    copy: CopyRecord,
    state: CopyState,
    reason: String,
    now: OffsetDateTime,
) -> Result<bool, FnError> {
    let (released, copy) = start::settled(&chain, &copy, state, reason, now);
    let mut ops = vec![replace_copy(&copy)?];
    if let Some(c) = &released {
        ops.insert(0, replace_chain(c)?);
    }
    commit(app, &chain, ops).await
}

/// Settles a copy that can never be made as rejected, with its alert (unless `quiet`).
async fn reject(
    app: &App,
    chain: Chain,
    copy: CopyRecord,
    reason: RejectReason,
    quiet: bool,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let alert = rejection_alert(&chain, &copy, &reason, now);
    let mut copy = copy;
    if !quiet {
        copy.alerts.insert(AlertKind::CopyRejected);
        app.raise(std::slice::from_ref(&alert)).await?;
    }
    if !settle(
        app,
        chain,
        copy,
        CopyState::Rejected,
        reason.code().to_string(),
        now,
    )
    .await?
    {
        return Ok(Flow::Again);
    }
    if quiet {
        out.log(format!(
            "{}: {reason}",
            alert.source_restore_point.unwrap_or_default()
        ));
    } else {
        out.alert(alert);
    }
    Ok(Flow::Again)
}

/// Validates the chain's next pending copy against the source as it is now, then claims
/// and starts it; `supersede` are the older waiting copies the catch-up policy skips for
/// it, settled in the claim's batch. The decision is [`start::decide`]; this reads, writes
/// and acts.
#[allow(clippy::too_many_arguments)]
pub(super) async fn try_start(
    app: &App,
    rule: &Rule,
    target: &Target,
    mut chain: Chain,
    copy: CopyRecord,
    supersede: Vec<CopyRecord>,
    reads: &mut Reads,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let read = reads.source(app, &copy.source_restore_point).await?;
    let facts = read.as_ref().map(|(rp, disks)| {
        (
            source_facts(rp, disks),
            is_own_copy(app, &copy.source_restore_point, rp),
        )
    });
    // Older restore points the ledger does not know (lost or late events) go first.
    if let Some(t) = facts.as_ref().and_then(|(f, _)| f.time_created) {
        let before = Some((copy.source_restore_point.name.as_str(), t));
        if discover(app, &chain, before, reads, now, out).await? > 0 {
            return Ok(Flow::Again);
        }
    }
    let source = match &facts {
        None => start::Source::Missing,
        Some((facts, own_copy)) => start::Source::Found {
            facts,
            own_copy: *own_copy,
        },
    };
    let rules = target.rules(rule);
    let mut decision = start::decide(&chain, &copy, source, &rules, now);
    if matches!(decision, Start::EnsureTarget) {
        match ensure_target_collection(app, rule, &chain).await? {
            Ok(()) => chain.target_ready = true,
            Err(reason) => return reject(app, chain, copy, reason, false, now, out).await,
        }
        decision = start::decide(&chain, &copy, source, &rules, now);
    }
    match decision {
        Start::Reject { reason, quiet } => reject(app, chain, copy, reason, quiet, now, out).await,
        Start::Supersede { by } => {
            let (released, copy) = start::superseded(&chain, &copy, &by, now);
            let mut ops = vec![replace_copy(&copy)?];
            if let Some(c) = &released {
                ops.insert(0, replace_chain(c)?);
            }
            if commit(app, &chain, ops).await? {
                out.log(format!(
                    "{}: superseded by {by} (catch-up {})",
                    copy.source_restore_point,
                    rule.catch_up.as_str()
                ));
            }
            Ok(Flow::Again)
        }
        Start::EnsureTarget => Err(FnError::Other(format!(
            "chain {}: target collection still not ready after it was found",
            chain.key
        ))),
        Start::Defer {
            chain,
            copy,
            at,
            why,
        } => {
            let ops = vec![replace_chain(&chain)?, replace_copy(&copy)?];
            if !commit(app, &chain, ops).await? {
                return Ok(Flow::Again);
            }
            out.log(format!(
                "{}: {why}; checking again at {at}",
                copy.source_restore_point
            ));
            let msg = CopyRequestMessage {
                source_restore_point: copy.source_restore_point.to_string(),
                target_region: chain.target_region.clone(),
                chain: chain.key.clone(),
                event_id: None,
                purpose: crate::functions::Purpose::Recheck,
                attempt: copy.defer_count,
                first_attempt_at: Some(copy.requested_at),
            };
            app.bus
                .send(
                    crate::functions::ServiceBusEntity::CopyQueue,
                    vec![msg.to_message(Some(at))],
                )
                .await?;
            Ok(Flow::Done)
        }
        Start::Claim {
            mut chain,
            mut copy,
        } => {
            // The skipped older copies settle with the claim that makes them uncopyable: in
            // its batch, or (more than a batch holds) in batches of their own just before.
            let name = copy.source_restore_point.name.clone();
            let mut skipped = supersede
                .iter()
                .map(|c| replace_copy(&start::superseded(&chain, c, &name, now).1))
                .collect::<Result<Vec<_>, _>>()?;
            let room = crate::ledger::memory::MAX_BATCH - 2;
            while skipped.len() > room {
                let rest = skipped.split_off(room);
                if !commit(app, &chain, std::mem::replace(&mut skipped, rest)).await? {
                    return Ok(Flow::Again);
                }
            }
            // The batch's ETags come back into the records: no re-read before the next write.
            if !commit_pair(app, &mut chain, &mut copy, skipped).await? {
                return Ok(Flow::Again);
            }
            if !supersede.is_empty() {
                out.log(format!(
                    "{}: copying the newest waiting restore point; {} older superseded (catch-up {})",
                    copy.source_restore_point,
                    supersede.len(),
                    rule.catch_up.as_str()
                ));
            }
            crate::failpoint::fail_point!(app, "chain.after-claim")?;
            let Some((rp, _)) = &read else {
                return Ok(Flow::Again); // unreachable: a claim needs the source's facts
            };
            // Claimed just now from Pending: no earlier attempt can have sent the PUT, so
            // there is nothing to adopt (a target made by someone else answers the PUT
            // with 409, handled there).
            resume_start(app, target, chain, copy, Some(rp), reads, now, out).await
        }
    }
}

/// Sends the copy PUT for a claimed copy. `fresh` is the source restore point when the
/// claim was made just now (the start's own reading); otherwise (a claim found in the
/// ledger: an earlier attempt, maybe a crashed instance) the copy is adopted if that
/// attempt already started it: target names are deterministic, so the target tells.
#[allow(clippy::too_many_arguments)]
pub(super) async fn resume_start(
    app: &App,
    target: &Target,
    chain: Chain,
    copy: CopyRecord,
    fresh: Option<&RestorePoint>,
    reads: &mut Reads,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let read;
    let rp = match fresh {
        Some(rp) => rp,
        None => {
            if let Some(existing) = app
                .arm
                .get_restore_point(&copy.target_restore_point, false)
                .await?
            {
                return adopt_or_fail(app, chain, copy, &existing, now, out).await;
            }
            let Some((rp, _)) = reads.source(app, &copy.source_restore_point).await? else {
                return fail_start(
                    app,
                    chain,
                    copy,
                    "the source restore point was deleted before the copy started".into(),
                    now,
                    out,
                )
                .await;
            };
            read = rp;
            &read
        }
    };
    let request = CopyRequest::for_source(&copy.source_restore_point, rp, |des| {
        target
            .disk_encryption_sets
            .get(&des.to_ascii_lowercase())
            .and_then(|t| t.parse::<DiskEncryptionSetId>().ok())
    });
    let request = match request {
        Ok(r) => r,
        Err(e) => return fail_start(app, chain, copy, e.to_string(), now, out).await,
    };
    match app
        .arm
        .start_copy(&copy.target_restore_point, &request)
        .await
    {
        Ok(_) => mark_in_flight(app, chain, copy, now, out, "started").await,
        Err(e) if e.is_transient() => {
            // Still claimed (Starting): the next sequencer message or poller tick resumes.
            out.log(format!(
                "{}: copy not started yet ({e}); will retry",
                copy.target_restore_point
            ));
            Ok(Flow::Done)
        }
        Err(e) if super::limits::is_count_limit(&e) => {
            super::limits::refused_for_limit(app, chain, copy, e, now, out).await
        }
        Err(ArmError::Api { status: 409, .. }) => {
            // Maybe started by a concurrent attempt after our GET: look again.
            match app
                .arm
                .get_restore_point(&copy.target_restore_point, false)
                .await?
            {
                Some(existing) => adopt_or_fail(app, chain, copy, &existing, now, out).await,
                None => {
                    fail_start(
                        app,
                        chain,
                        copy,
                        "ARM refused the copy with a conflict".into(),
                        now,
                        out,
                    )
                    .await
                }
            }
        }
        Err(e) => {
            fail_start(
                app,
                chain,
                copy,
                format!("ARM refused the copy: {e}"),
                now,
                out,
            )
            .await
        }
    }
}

async fn adopt_or_fail(
    app: &App,
    chain: Chain,
    copy: CopyRecord,
    existing: &RestorePoint,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let same = existing
        .source_restore_point_id()
        .is_some_and(|s| eq_ignore_case(s, &copy.source_restore_point.to_string()));
    if same {
        mark_in_flight(app, chain, copy, now, out, "adopted (already started)").await
    } else {
        let msg = format!(
            "target restore point {} already exists and is not a copy of {}",
            copy.target_restore_point, copy.source_restore_point
        );
        fail_start(app, chain, copy, msg, now, out).await
    }
}

async fn mark_in_flight(
    app: &App,
    mut chain: Chain,
    mut copy: CopyRecord,
    now: OffsetDateTime,
    out: &mut Outcome,
    how: &str,
) -> Result<Flow, FnError> {
    copy.state = CopyState::InFlight;
    let mut ops = vec![replace_copy(&copy)?];
    // The claim recorded its own time; a PUT sent later (after a retry or a crash) is the
    // start the platform counts against three per hour.
    if !chain.recent_starts.contains(&now) {
        chain.recent_starts.push(now);
        rules::prune_starts(&mut chain.recent_starts, now);
        ops.insert(0, replace_chain(&chain)?);
    }
    if !commit(app, &chain, ops).await? {
        return Ok(Flow::Again);
    }
    out.log(format!(
        "copy {} → {} {how}",
        copy.source_restore_point, copy.target_restore_point
    ));
    Ok(Flow::Done)
}

async fn fail_start(
    app: &App,
    chain: Chain,
    copy: CopyRecord,
    reason: String,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let alert = copy_alert(
        AlertKind::CopyFailed,
        &chain,
        &copy,
        format!(
            "copy of {} to {} could not start: {reason}",
            copy.source_restore_point.name, chain.target_region
        ),
        now,
    );
    let mut copy = copy;
    copy.alerts.insert(AlertKind::CopyFailed);
    app.raise(std::slice::from_ref(&alert)).await?;
    if settle(app, chain, copy, CopyState::Failed, reason, now).await? {
        out.alert(alert);
    }
    Ok(Flow::Again)
}

/// Finds the chain's target collection or creates it (policy permitting).
async fn ensure_target_collection(
    app: &App,
    rule: &Rule,
    chain: &Chain,
) -> Result<Result<(), RejectReason>, FnError> {
    if chain.source_region.as_deref().is_some_and(|r| {
        crate::ids::normalize_region(r).as_deref() == Some(chain.target_region.as_str())
    }) {
        return Ok(Err(RejectReason::SameRegion {
            region: chain.target_region.clone(),
        }));
    }
    if let Some(existing) = app
        .arm
        .get_collection(&chain.target_collection, false)
        .await?
    {
        // Never copy into a collection made for another source or region.
        return Ok(rules::target_collection_fits(
            &chain.target_collection.to_string(),
            existing.source_id(),
            existing.location.as_deref(),
            &chain.source_collection.key(),
            &chain.target_region,
        ));
    }
    if !rule.create_target_collections {
        return Ok(Err(RejectReason::TargetCollectionMissing {
            collection: chain.target_collection.to_string(),
        }));
    }
    let tags = [("managed-by".to_string(), "restore-point-ferry".to_string())].into();
    match app
        .arm
        .create_collection(
            &chain.target_collection,
            &chain.target_region,
            &chain.source_collection,
            tags,
        )
        .await
    {
        Ok(_) => Ok(Ok(())),
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => Err(FnError::Other(format!(
            "cannot create target collection {}: {e}",
            chain.target_collection
        ))),
    }
}
