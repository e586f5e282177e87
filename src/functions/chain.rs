//! Chain operations shared by the sequencer and the poller: reading a source restore point
//! into rule facts, and advancing a chain (validate the oldest pending copy, claim it, start
//! it, adopt a copy a crashed instance already started).
//!
//! Every change to a chain goes through an ETag-conditional batch on its partition; losing a
//! race re-reads and decides again, so concurrent sequencer and poller instances can never
//! start two copies of one chain.

use super::{App, CopyRequestMessage, FnError, Outcome};
use crate::alerts::{Alert, AlertKind, LastReading};
use crate::arm::model::{DiskRestorePoint, RestorePoint};
use crate::arm::{ArmError, CopyRequest};
use crate::ids::{eq_ignore_case, DiskEncryptionSetId, RestorePointId};
use crate::ledger::records::{copy_row, Chain, Copy, CopyState, COPY_PREFIX};
use crate::ledger::{query_all, LedgerError, Op, Query, Value};
use crate::policy::{Rule, Target};
use crate::rules::{
    self, DiskFacts, Eligibility, NextStep, PendingCopy, RejectReason, SourceFacts,
};
use time::OffsetDateTime;

/// Attempts at one decision before giving up on a busy chain (the host retries later).
pub(crate) const MAX_RACES: usize = 8;

pub(crate) async fn load_chain(app: &App, key: &str) -> Result<Option<Chain>, FnError> {
    match app
        .ledger
        .get(key, crate::ledger::records::CHAIN_ROW)
        .await?
    {
        None => Ok(None),
        Some(e) => Chain::from_entity(&e)
            .map(Some)
            .map_err(|e| FnError::Other(e.to_string())),
    }
}

pub(crate) async fn load_copy(app: &App, key: &str, row: &str) -> Result<Option<Copy>, FnError> {
    match app.ledger.get(key, row).await? {
        None => Ok(None),
        Some(e) => Copy::from_entity(&e)
            .map(Some)
            .map_err(|e| FnError::Other(e.to_string())),
    }
}

pub(crate) async fn copies(
    app: &App,
    key: &str,
    state: Option<CopyState>,
) -> Result<Vec<Copy>, FnError> {
    let mut q = Query::partition(key).row_prefix(COPY_PREFIX);
    if let Some(s) = state {
        q = q.where_eq("State", Value::String(s.as_str().into()));
    }
    let rows = query_all(app.ledger.as_ref(), &q).await?;
    rows.iter()
        .map(|e| Copy::from_entity(e).map_err(|e| FnError::Other(e.to_string())))
        .collect()
}

/// Writes a chain and copies atomically; `Ok(false)` = lost a race (re-read and retry).
pub(crate) async fn commit(app: &App, chain: &Chain, ops: Vec<Op>) -> Result<bool, FnError> {
    match app.ledger.batch(&chain.key, ops).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_race() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn replace_chain(chain: &Chain) -> Result<Op, FnError> {
    let etag = chain
        .etag
        .clone()
        .ok_or_else(|| FnError::Other("chain without ETag".into()))?;
    Ok(Op::Replace(chain.to_entity(), etag))
}

pub(crate) fn replace_copy(copy: &Copy) -> Result<Op, FnError> {
    let etag = copy
        .etag
        .clone()
        .ok_or_else(|| FnError::Other("copy without ETag".into()))?;
    Ok(Op::Replace(copy.to_entity(), etag))
}

/// The source restore point and its disk restore points (`None` = gone).
pub(crate) async fn inspect_source(
    app: &App,
    id: &RestorePointId,
) -> Result<Option<(RestorePoint, Vec<DiskRestorePoint>)>, FnError> {
    let Some(rp) = app.arm.get_restore_point(id, false).await? else {
        return Ok(None);
    };
    // A copy is rejected from the restore point alone; don't spend reads on its disks.
    let disks = if rp.is_copy() {
        Vec::new()
    } else {
        app.arm.list_disk_restore_points(id).await?
    };
    Ok(Some((rp, disks)))
}

/// Reduces ARM's view of a source restore point to what the rules look at.
pub(crate) fn source_facts(rp: &RestorePoint, disk_rps: &[DiskRestorePoint]) -> SourceFacts {
    let mut disks: Vec<DiskFacts> = rp
        .disks()
        .map(|d| DiskFacts {
            name: d.name.map(str::to_string).unwrap_or_else(|| {
                if d.is_os {
                    "os disk".into()
                } else {
                    format!("lun {}", d.lun.unwrap_or(-1))
                }
            }),
            disk_encryption_set: d.disk_encryption_set_id.map(str::to_string),
            network_access_policy: None,
            disk_access_id: None,
        })
        .collect();
    for drp in disk_rps {
        let props = drp.properties.as_ref();
        let name = drp.name.clone().unwrap_or_default();
        let private_policy = props.and_then(|p| p.network_access_policy.clone());
        let access = props.and_then(|p| p.disk_access_id.clone());
        // Disk restore points are named `<disk name>_<guid>`.
        match disks.iter_mut().find(|d| {
            name.to_ascii_lowercase()
                .starts_with(&d.name.to_ascii_lowercase())
        }) {
            Some(d) => {
                d.network_access_policy = private_policy;
                d.disk_access_id = access;
            }
            None => disks.push(DiskFacts {
                name,
                network_access_policy: private_policy,
                disk_access_id: access,
                ..Default::default()
            }),
        }
    }
    SourceFacts {
        is_copy: rp.is_copy(),
        security_type: rp.security_type().map(str::to_string),
        provisioning_state: rp.provisioning_state().map(str::to_string),
        consistency_mode: rp
            .properties
            .as_ref()
            .and_then(|p| p.consistency_mode.clone()),
        time_created: rp.time_created(),
        disks,
    }
}

/// Whether `rp` (a copy) is one ferry made: its source's chain targets its collection.
pub(crate) fn is_own_copy(app: &App, rp_id: &RestorePointId, rp: &RestorePoint) -> bool {
    is_own_copy_of(app, rp_id, rp.source_restore_point_id())
}

/// [`is_own_copy`] given the copy's `sourceRestorePoint` id.
pub(crate) fn is_own_copy_of(app: &App, rp_id: &RestorePointId, source: Option<&str>) -> bool {
    let Some(src) = source.and_then(|s| s.parse::<RestorePointId>().ok()) else {
        return false;
    };
    app.policy
        .candidates(&src.collection)
        .flat_map(|r| r.targets.iter())
        .any(|t| {
            t.collection_for(&src.collection)
                .is_ok_and(|c| c.key() == rp_id.collection.key())
        })
}

pub(crate) fn copy_alert(
    kind: AlertKind,
    chain: &Chain,
    copy: &Copy,
    message: String,
    now: OffsetDateTime,
) -> Alert {
    let mut a = Alert::new(
        kind,
        &format!("{}|{}", chain.key, copy.row_key()),
        message,
        now,
    );
    a.chain = Some(chain.key.clone());
    a.source_collection = Some(chain.source_collection.to_string());
    a.target_region = Some(chain.target_region.clone());
    a.source_restore_point = Some(copy.source_restore_point.to_string());
    a.target_restore_point = Some(copy.target_restore_point.to_string());
    a.source_vm = copy.source_vm.clone().or_else(|| chain.source_vm.clone());
    a.started_at = copy.started_at;
    a.last_reading = copy.last_reading_at.map(|at| LastReading {
        at,
        percent: copy.last_percent,
        status: copy.last_status.clone(),
    });
    a
}

pub(crate) fn rejection_alert(
    chain: &Chain,
    copy: &Copy,
    reason: &RejectReason,
    now: OffsetDateTime,
) -> Alert {
    let mut a = copy_alert(
        AlertKind::CopyRejected,
        chain,
        copy,
        format!(
            "{} will not be copied to {}: {reason}",
            copy.source_restore_point.name, chain.target_region
        ),
        now,
    )
    .action(reason.suggested_action());
    a.reason = Some(reason.code().to_string());
    a
}

/// Whether to stay quiet about a rejection (a copy ferry itself made showing up as a
/// "new restore point" in scope is expected, not news).
fn quiet(reason: &RejectReason, own_copy: bool) -> bool {
    matches!(reason, RejectReason::CopyOfCopy) && own_copy
}

enum Flow {
    /// Look at the chain again (a race was lost, or a copy was settled and the next may go).
    Again,
    Done,
}

/// Moves a chain forward as far as it can go now: settles pending copies that can never be
/// copied, and starts the oldest eligible one if nothing is in flight.
pub(crate) async fn advance(
    app: &App,
    key: &str,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    for _ in 0..MAX_RACES * 4 {
        let Some(mut chain) = load_chain(app, key).await? else {
            return Ok(());
        };
        let Some((rule, target)) = app
            .policy
            .find_target(&chain.source_collection, &chain.target_region)
        else {
            out.log(format!(
                "chain {key}: no policy rule covers {} → {} any more; leaving it",
                chain.source_collection, chain.target_region
            ));
            return Ok(());
        };
        if let Some(row) = chain.in_flight.clone() {
            let Some(copy) = load_copy(app, key, &row).await? else {
                // The claim points nowhere (hand-edited ledger): release it.
                chain.in_flight = None;
                commit(app, &chain, vec![replace_chain(&chain)?]).await?;
                continue;
            };
            match copy.state {
                CopyState::Starting => {
                    match resume_start(app, target, chain, copy, now, out).await? {
                        Flow::Again => continue,
                        Flow::Done => return Ok(()),
                    }
                }
                // In flight: the poller watches it; only one copy at a time per chain.
                CopyState::InFlight => return Ok(()),
                _ => {
                    chain.in_flight = None;
                    commit(app, &chain, vec![replace_chain(&chain)?]).await?;
                    continue;
                }
            }
        }
        let pending = copies(app, key, Some(CopyState::Pending)).await?;
        let view = rules::ChainView {
            in_flight: None,
            pending: pending
                .iter()
                .map(|c| PendingCopy {
                    key: c.row_key(),
                    time_created: c.source_time,
                    not_before: c.not_before,
                })
                .collect(),
            recent_starts: chain.recent_starts.clone(),
        };
        match rules::next_step(&view, now) {
            NextStep::Idle | NextStep::Busy { .. } => {
                if chain.active {
                    chain.active = false;
                    if !commit(app, &chain, vec![replace_chain(&chain)?]).await? {
                        continue;
                    }
                }
                return Ok(());
            }
            NextStep::WaitUntil { .. } => {
                if !chain.active {
                    chain.active = true;
                    if !commit(app, &chain, vec![replace_chain(&chain)?]).await? {
                        continue;
                    }
                }
                return Ok(());
            }
            NextStep::Start { key: row } => {
                let Some(copy) = pending.into_iter().find(|c| c.row_key() == row) else {
                    continue;
                };
                match try_start(app, rule, target, chain, copy, now, out).await? {
                    Flow::Again => continue,
                    Flow::Done => return Ok(()),
                }
            }
        }
    }
    Err(FnError::Contention(key.to_string()))
}

/// Settles a copy in a final state, releasing the chain if it held it.
async fn settle(
    app: &App,
    mut chain: Chain,
    mut copy: Copy,
    state: CopyState,
    reason: String,
    now: OffsetDateTime,
) -> Result<bool, FnError> {
    copy.state = state;
    copy.reason = Some(reason);
    copy.ended_at = Some(now);
    copy.not_before = None;
    let mut ops = vec![replace_copy(&copy)?];
    if chain.in_flight.as_deref() == Some(copy.row_key().as_str()) {
        chain.in_flight = None;
        ops.insert(0, replace_chain(&chain)?);
    }
    commit(app, &chain, ops).await
}

async fn reject(
    app: &App,
    chain: Chain,
    copy: Copy,
    reason: RejectReason,
    own_copy: bool,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let alert = rejection_alert(&chain, &copy, &reason, now);
    let mut copy = copy;
    let quiet = quiet(&reason, own_copy);
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

/// Validates the chain's oldest pending copy against the source as it is now, then claims
/// and starts it.
async fn try_start(
    app: &App,
    rule: &Rule,
    target: &Target,
    mut chain: Chain,
    mut copy: Copy,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let Some((rp, disks)) = inspect_source(app, &copy.source_restore_point).await? else {
        return reject(
            app,
            chain,
            copy,
            RejectReason::SourceMissing,
            false,
            now,
            out,
        )
        .await;
    };
    let facts = source_facts(&rp, &disks);
    if let Some(t) = facts.time_created {
        if discover(
            app,
            &chain,
            Some((&copy.source_restore_point.name, t)),
            now,
            out,
        )
        .await?
            > 0
        {
            return Ok(Flow::Again);
        }
    }
    let time_created = match rules::eligibility(&facts, &target.rules(rule), chain.watermark) {
        Eligibility::Reject(r) => {
            let own = is_own_copy(app, &copy.source_restore_point, &rp);
            return reject(app, chain, copy, r, own, now, out).await;
        }
        Eligibility::Defer(d) => {
            if copy.defer_count >= rules::MAX_DEFERRALS {
                let waited = now - copy.requested_at;
                return reject(
                    app,
                    chain,
                    copy,
                    RejectReason::NeverReady { waited },
                    false,
                    now,
                    out,
                )
                .await;
            }
            let at = now + rules::recheck_delay(copy.defer_count);
            copy.defer_count += 1;
            copy.not_before = Some(at);
            if !chain.active {
                chain.active = true;
            }
            if !commit(
                app,
                &chain,
                vec![replace_chain(&chain)?, replace_copy(&copy)?],
            )
            .await?
            {
                return Ok(Flow::Again);
            }
            out.log(format!(
                "{}: {d}; checking again at {at}",
                copy.source_restore_point
            ));
            let msg = CopyRequestMessage {
                source_restore_point: copy.source_restore_point.to_string(),
                target_region: chain.target_region.clone(),
                chain: chain.key.clone(),
                event_id: None,
                purpose: super::Purpose::Recheck,
                attempt: copy.defer_count,
                first_attempt_at: Some(copy.requested_at),
            };
            app.bus
                .send(&app.copy_queue, vec![msg.to_message(Some(at))])
                .await?;
            return Ok(Flow::Done);
        }
        Eligibility::Eligible { time_created, .. } => time_created,
    };
    if !chain.target_ready {
        match ensure_target_collection(app, rule, &chain).await? {
            Ok(()) => chain.target_ready = true,
            Err(reason) => return reject(app, chain, copy, reason, false, now, out).await,
        }
    }
    // Claim: from here on the chain holds this copy, even across crashes.
    chain.in_flight = Some(copy.row_key());
    chain.watermark = Some(
        chain
            .watermark
            .map_or(time_created, |w| w.max(time_created)),
    );
    chain.recent_starts.push(now);
    rules::prune_starts(&mut chain.recent_starts, now);
    chain.active = true;
    if chain.base_restore_point.is_none() {
        chain.base_restore_point = Some(copy.source_restore_point.name.clone());
    }
    copy.state = CopyState::Starting;
    copy.started_at = Some(now);
    copy.last_progress_at = Some(now);
    copy.not_before = None;
    copy.source_vm = copy.source_vm.or_else(|| chain.source_vm.clone());
    let ops = vec![replace_chain(&chain)?, replace_copy(&copy)?];
    if !commit(app, &chain, ops).await? {
        return Ok(Flow::Again);
    }
    crate::failpoint::fail_point!(app, "chain.after-claim")?;
    // Re-read for fresh ETags.
    let (Some(chain), Some(copy)) = (
        load_chain(app, &chain.key).await?,
        load_copy(app, &chain.key, &copy.row_key()).await?,
    ) else {
        return Ok(Flow::Again);
    };
    resume_start(app, target, chain, copy, now, out).await
}

/// How far back before a chain's creation discovery looks: restore points older than
/// this when ferry first saw the collection are history, not backlog.
const DISCOVERY_HORIZON: time::Duration = time::Duration::days(1);

/// Looks in the source collection for restore points newer than the chain's watermark
/// (and older than `before`, the copy about to start, if given) that the ledger does not
/// know: their events are late or were lost. They are recorded as pending so they go first
/// instead of becoming uncopyable once a newer one starts. Returns how many were found.
pub(crate) async fn discover(
    app: &App,
    chain: &Chain,
    before: Option<(&str, OffsetDateTime)>,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<usize, FnError> {
    let Some(coll) = app
        .arm
        .get_collection(&chain.source_collection, true)
        .await?
    else {
        return Ok(0);
    };
    let floor = chain
        .watermark
        .unwrap_or(chain.created_at - DISCOVERY_HORIZON);
    let mut found = Vec::new();
    for rp in coll.restore_points() {
        let (Some(name), Some(t)) = (rp.name.as_deref(), rp.time_created()) else {
            continue;
        };
        if rp.is_copy() || t <= floor {
            continue;
        }
        if let Some((candidate, created)) = before {
            if t >= created || name.eq_ignore_ascii_case(candidate) {
                continue;
            }
        }
        let id = chain.source_collection.restore_point(name);
        if load_copy(app, &chain.key, &copy_row(name)).await?.is_none() {
            found.push(new_copy(chain, &id, t, now));
        }
    }
    if found.is_empty() {
        return Ok(0);
    }
    // Recorded together with a write of the chain row: a concurrent instance that read the
    // pending list before these rows existed then loses its claim (ETag) and looks again,
    // instead of starting a newer copy and making these uncopyable.
    found.truncate(99);
    let mut c = chain.clone();
    c.active = true;
    let mut ops = vec![replace_chain(&c)?];
    ops.extend(found.iter().map(|cp| Op::Insert(cp.to_entity())));
    match app.ledger.batch(&chain.key, ops).await {
        Ok(_) => {
            for cp in &found {
                out.log(format!(
                    "{} → {}: found in the collection without its event; recorded, pending",
                    cp.source_restore_point, chain.target_region
                ));
            }
            Ok(found.len())
        }
        // Someone else changed the chain or recorded one of these first: look again.
        Err(e) if e.is_race() => Ok(1),
        Err(e) => Err(e.into()),
    }
}

/// Sends the copy PUT for a claimed copy, or adopts the copy if a previous attempt (maybe a
/// crashed instance) already started it: target names are deterministic, so the target
/// restore point tells.
async fn resume_start(
    app: &App,
    target: &Target,
    chain: Chain,
    copy: Copy,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    if let Some(existing) = app
        .arm
        .get_restore_point(&copy.target_restore_point, false)
        .await?
    {
        return adopt_or_fail(app, chain, copy, &existing, now, out).await;
    }
    let Some((rp, _)) = inspect_source(app, &copy.source_restore_point).await? else {
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
    let request = CopyRequest::for_source(&copy.source_restore_point, &rp, |des| {
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
    copy: Copy,
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
    mut copy: Copy,
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
    copy: Copy,
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
    if app
        .arm
        .get_collection(&chain.target_collection, false)
        .await?
        .is_some()
    {
        return Ok(Ok(()));
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

/// Creates the chain row if it does not exist yet (first request for this source
/// collection → region), reading the source collection once for its region and VM.
pub(crate) async fn ensure_chain(
    app: &App,
    source: &crate::ids::CollectionId,
    target: &Target,
    now: OffsetDateTime,
) -> Result<Option<Chain>, FnError> {
    let key = crate::ledger::records::chain_key(source, &target.region);
    if let Some(c) = load_chain(app, &key).await? {
        return Ok(Some(c));
    }
    let Some(coll) = app.arm.get_collection(source, false).await? else {
        return Ok(None);
    };
    let target_collection = target.collection_for(source).map_err(FnError::Other)?;
    let chain = Chain {
        key: key.clone(),
        source_collection: source.clone(),
        source_region: coll
            .location
            .as_deref()
            .and_then(crate::ids::normalize_region),
        source_vm: coll.source_id().map(str::to_string),
        target_region: target.region.clone(),
        target_collection,
        created_at: now,
        in_flight: None,
        active: false,
        watermark: None,
        base_restore_point: None,
        last_success_source_time: None,
        last_success_restore_point: None,
        last_success_at: None,
        recent_starts: Vec::new(),
        rpo_alerted: None,
        target_ready: false,
        etag: None,
    };
    match app
        .ledger
        .batch(&key, vec![Op::Insert(chain.to_entity())])
        .await
    {
        Ok(_) | Err(LedgerError::Conflict(_)) => load_chain(app, &key).await,
        Err(e) => Err(e.into()),
    }
}

/// A new copy record for a source restore point in a chain.
pub(crate) fn new_copy(
    chain: &Chain,
    source: &RestorePointId,
    source_time: OffsetDateTime,
    now: OffsetDateTime,
) -> Copy {
    Copy {
        chain: chain.key.clone(),
        source_restore_point: source.clone(),
        source_vm: chain.source_vm.clone(),
        source_time,
        target_restore_point: chain.target_collection.restore_point(&source.name),
        state: CopyState::Pending,
        reason: None,
        requested_at: now,
        started_at: None,
        ended_at: None,
        not_before: None,
        defer_count: 0,
        last_reading_at: None,
        last_percent: None,
        last_status: None,
        last_progress_at: None,
        readings: 0,
        alerts: Default::default(),
        encryption: Default::default(),
        etag: None,
    }
}

pub(crate) fn copy_row_of(rp: &RestorePointId) -> String {
    copy_row(&rp.name)
}
