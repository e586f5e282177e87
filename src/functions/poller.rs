//! The poller: every 10 minutes (the platform publishes progress no faster), reads every
//! chain's copy in flight, records the reading, and decides: succeeded → next copy; failed
//! → alert with our last reading; too old → expire, clean up, next; no progress → warn;
//! close to expiry → warn; newest completed copy older than the RPO → alert. Each alert is
//! sent once per copy and kind (once per breach for RPO).

use super::chain::{self, advance, load_copy, replace_chain, replace_copy, MAX_RACES};
use super::{App, FnError, Outcome};
use crate::ledger::records::{Chain, CopyRecord, CopyState, CHAIN_ROW};
use crate::ledger::{Continuation, Entity, Op, Query, Value};
use crate::machine::progress::{self, ReleaseStep, RestartStep, Seen};
use crate::policy::Rule;
use crate::rules::{self, DiskProgress};
use futures::StreamExt;
use time::OffsetDateTime;

/// What one sweep saw (also logged).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepStats {
    pub chains: usize,
    pub polled: usize,
    pub errors: usize,
    /// Why the sweep stopped before the last chain (`None`: it went all the way round).
    pub stopped: Option<String>,
    /// The chain the next sweep starts at.
    pub resume_at: Option<String>,
}

/// Where the sweep keeps its place between invocations: one row outside every chain's
/// partition (chain keys are UUIDs, so `~` sorts after all of them and never collides).
const SWEEP_PARTITION: &str = "~poller";
const SWEEP_ROW: &str = "sweep";

/// Chains in a row whose poll ended in ARM throttling (after the client's own retries)
/// before the sweep stops: ARM's read budget is spent, and polling on would only add
/// refused requests (a 429 storm) and push the budget's refill further out.
pub const THROTTLED_IN_A_ROW: usize = 5;

/// One timer invocation.
///
/// The sweep is fair under pressure: it starts where the previous one stopped (the first
/// chain it could not finish), wraps around the key space, and stops early when ARM keeps
/// throttling or its time budget ([`App::poll_budget`], well inside the function timeout)
/// runs out. Without that, a sweep that can never finish would always spend ARM's budget
/// on the same chains and never reach the rest, whose copies would then run to the
/// platform's two-week termination unwatched.
pub async fn poller(app: &App, now: OffsetDateTime) -> Result<(Outcome, SweepStats), FnError> {
    let control = SweepControl::new(std::time::Instant::now() + app.poll_budget);
    let resume = load_resume(app).await?;
    let mut stats = SweepStats::default();
    let mut out = Outcome::default();
    // Only the chain rows: the history (copies, readings) is never scanned.
    let chains = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let segments = match resume.as_deref() {
        Some(k) => vec![
            chains.clone().partitions(Some(k), None),
            chains.partitions(None, Some(k)),
        ],
        None => vec![chains],
    };
    let mut seq = 0u64;
    'segments: for q in &segments {
        // Page by page, results folded as they come: memory stays at one page of chain
        // rows (1,000) plus the copies being polled, however many chains there are.
        let mut next: Option<Continuation> = None;
        loop {
            let page = app.ledger.query(q, next.as_ref()).await?;
            let control = &control;
            let first = seq;
            seq += page.entities.len() as u64;
            futures::stream::iter(
                page.entities
                    .into_iter()
                    .zip(first..)
                    .map_while(|(e, n)| control.may_start(n, &e.partition_key).then_some((e, n)))
                    .map(|(e, n)| async move {
                        let mut o = Outcome::default();
                        let key = e.partition_key.clone();
                        let r = match Chain::from_entity(&e) {
                            Ok(c) => poll_chain(app, c, now, &mut o).await,
                            Err(err) => Err(FnError::Other(err.to_string())),
                        };
                        (n, key, r, o)
                    }),
            )
            .buffer_unordered(app.poll_concurrency.max(1))
            .for_each(|(n, key, r, o)| {
                out.merge(o);
                stats.chains += 1;
                match &r {
                    Ok(polled) => stats.polled += usize::from(*polled),
                    Err(e) => {
                        // One chain's trouble must not stop the sweep; the next tick retries
                        // it (first: the next sweep starts at the first chain that failed).
                        stats.errors += 1;
                        out.log(format!("chain {key}: {e}"));
                    }
                }
                control.finished(
                    n,
                    &key,
                    r.as_ref().err().is_some_and(is_throttled),
                    r.is_ok(),
                );
                futures::future::ready(())
            })
            .await;
            if control.stopped().is_some() {
                break 'segments;
            }
            match page.continuation {
                Some(c) => next = Some(c),
                None => break,
            }
        }
    }
    // One export per sweep carries every chain's gauges (in the background).
    app.telemetry.flush_in_background();
    stats.stopped = control.stopped();
    stats.resume_at = control.resume_at().or(resume.clone());
    if stats.resume_at != resume {
        if let Some(k) = &stats.resume_at {
            save_resume(app, k, now).await?;
        }
    }
    out.log(format!(
        "poll sweep: {} chains, {} copies polled, {} errors{}{}",
        stats.chains,
        stats.polled,
        stats.errors,
        stats
            .stopped
            .as_deref()
            .map(|s| format!("; stopped early: {s}"))
            .unwrap_or_default(),
        stats
            .resume_at
            .as_deref()
            .map(|k| format!("; next sweep starts at chain {k}"))
            .unwrap_or_default(),
    ));
    Ok((out, stats))
}

fn is_throttled(e: &FnError) -> bool {
    matches!(e, FnError::Arm(a) if a.status() == Some(429))
}

async fn load_resume(app: &App) -> Result<Option<String>, FnError> {
    Ok(app
        .ledger
        .get(SWEEP_PARTITION, SWEEP_ROW)
        .await?
        .and_then(|e| e.str("ResumeAt").map(str::to_string))
        .filter(|k| !k.is_empty()))
}

async fn save_resume(app: &App, key: &str, now: OffsetDateTime) -> Result<(), FnError> {
    // Unconditional: the timer runs one sweep at a time, and the newest place wins.
    let row = Entity::new(SWEEP_PARTITION, SWEEP_ROW)
        .with("ResumeAt", Value::String(key.to_string()))
        .with("At", Value::DateTime(now));
    app.ledger
        .batch(SWEEP_PARTITION, vec![Op::Upsert(row)])
        .await?;
    Ok(())
}

/// The sweep's decisions about itself, apart from any I/O: when to stop starting chains,
/// and where the next sweep should start. Chains are numbered in sweep order.
#[derive(Debug)]
struct SweepControl {
    deadline: std::time::Instant,
    state: std::sync::Mutex<ControlState>,
}

#[derive(Debug, Default)]
struct ControlState {
    stopped: Option<String>,
    throttled_streak: usize,
    /// The earliest chain (in sweep order) not finished: failed, or never started.
    resume: Option<(u64, String)>,
}

impl SweepControl {
    fn new(deadline: std::time::Instant) -> Self {
        SweepControl {
            deadline,
            state: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether chain `n` may be polled now; once the sweep stops, the first chain refused
    /// is where the next sweep starts.
    fn may_start(&self, n: u64, key: &str) -> bool {
        let mut s = self.lock();
        if s.stopped.is_none() && std::time::Instant::now() >= self.deadline {
            s.stopped = Some("time budget spent".into());
        }
        if s.stopped.is_some() {
            s.offer(n, key);
            return false;
        }
        true
    }

    fn finished(&self, n: u64, key: &str, throttled: bool, ok: bool) {
        let mut s = self.lock();
        if !ok {
            s.offer(n, key);
        }
        if throttled {
            s.throttled_streak += 1;
            if s.throttled_streak >= THROTTLED_IN_A_ROW && s.stopped.is_none() {
                s.stopped = Some(format!(
                    "ARM throttled {THROTTLED_IN_A_ROW} chains in a row"
                ));
            }
        } else {
            s.throttled_streak = 0;
        }
    }

    fn stopped(&self) -> Option<String> {
        self.lock().stopped.clone()
    }

    fn resume_at(&self) -> Option<String> {
        self.lock().resume.as_ref().map(|(_, k)| k.clone())
    }
}

impl ControlState {
    fn offer(&mut self, n: u64, key: &str) {
        if self.resume.as_ref().is_none_or(|(m, _)| n < *m) {
            self.resume = Some((n, key.to_string()));
        }
    }
}

/// Polls one chain; returns whether a copy was read from ARM.
///
/// The chain row from the sweep's page is used as read: every write below is conditional
/// on its ETag (and on the copy's), so a row that changed meanwhile only loses a race and
/// is read again; after its own writes the row is kept current from the new ETag.
async fn poll_chain(
    app: &App,
    mut chain: Chain,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<bool, FnError> {
    let covered = app
        .policy
        .find_target(&chain.source_collection, &chain.target_region);
    if let Some((rule, _)) = covered {
        super::observe::sample_chain(app, &chain, rule, now).await;
        check_rpo(app, rule, &mut chain, now, out).await?;
    }
    let mut polled = false;
    // Whether this sweep's own write just confirmed the copy still in flight: then the
    // chain has nothing to start and `advance` would only read the two rows again.
    let mut still_in_flight = false;
    if let (Some(row), Some((rule, _))) = (chain.in_flight.as_deref(), covered) {
        if let Some(copy) = load_copy(app, &chain.key, row).await? {
            if copy.state == CopyState::InFlight {
                polled = true;
                still_in_flight = Box::pin(check_copy(app, rule, &chain, copy, now, out)).await?;
            } else if copy.state == CopyState::Restarting || copy.state.is_final() {
                polled = true;
                still_in_flight = Box::pin(check_deleting(app, &chain, copy, now, out)).await?;
            }
        }
    }
    // What this chain's decisions read from ARM, each resource once.
    let mut reads = super::reads::Reads::default();
    // Lost or very late events: every few hours, each chain compares the source
    // collection with the ledger (one read, spread over ticks by chain).
    let mut active = chain.active || chain.in_flight.is_some();
    // (The calls below are boxed: inline, their state machines would make every chain's
    // future as large as the largest of them, copied whole into the sweep's task list.)
    if reconcile_due(&chain.key, now)
        && Box::pin(chain::discover(app, &chain, None, &mut reads, now, out)).await? > 0
    {
        active = true;
    }
    // Starts the next copy when one ended, resumes a claimed copy, releases stale claims.
    if active && !still_in_flight {
        Box::pin(advance(app, &chain.key, &mut reads, now, out)).await?;
    }
    // Target retention and the count limit's warning, only when the chain row says so.
    if let Some((rule, target)) = covered {
        if super::upkeep::due(&chain, target.retention, now) {
            Box::pin(super::upkeep::run(app, target, &chain.key, now, out)).await?;
        }
        // Source pruning (opt-in), once per source collection.
        if super::prune::due(&chain, rule) {
            Box::pin(super::prune::run(app, rule, &chain.key, now, out)).await?;
        }
        // Base protection (opt-in): lock the chain's base once.
        if super::base_lock::due(&chain, rule) {
            Box::pin(super::base_lock::run(app, rule, &chain.key, now, out)).await?;
        }
    }
    Ok(polled)
}

/// Writes a change of the chain row alone, ETag-conditional; on success `chain` carries the
/// new ETag. `Ok(false)` = lost a race (the row changed since it was read).
async fn commit_chain(app: &App, chain: &mut Chain) -> Result<bool, FnError> {
    let op = replace_chain(chain)?;
    match app.ledger.batch(&chain.key, vec![op]).await {
        Ok(etags) => {
            chain.etag = etags.into_iter().next().flatten();
            Ok(true)
        }
        Err(e) if e.is_race() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How often an idle chain is reconciled with its source collection.
pub const RECONCILE_EVERY: time::Duration = time::Duration::hours(6);

/// Whether this tick is the chain's turn to reconcile: each chain once per
/// [`RECONCILE_EVERY`], at a tick chosen by its key so the reads are spread out.
pub(crate) fn reconcile_due(key: &str, now: OffsetDateTime) -> bool {
    let slots = (RECONCILE_EVERY.whole_seconds() / rules::POLL_INTERVAL.whole_seconds()).max(1);
    let slot = now
        .unix_timestamp()
        .div_euclid(rules::POLL_INTERVAL.whole_seconds())
        .rem_euclid(slots);
    let mine = key
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % slots as u64;
    slot as u64 == mine
}

async fn check_rpo(
    app: &App,
    rule: &Rule,
    chain: &mut Chain,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    // The ledger keeps the objective for readers without the policy (`ferry status`):
    // written once per chain, and again when the policy changes it.
    if chain.rpo_objective != Some(rule.rpo_objective) {
        let mut c = chain.clone();
        c.rpo_objective = Some(rule.rpo_objective);
        if commit_chain(app, &mut c).await? {
            *chain = c;
        }
    }
    let rpo = rules::rpo(
        chain.last_success_source_time,
        chain.created_at,
        now,
        rule.rpo_objective,
    );
    // One alert per breach: `rpo_alerted` is set while a breach lasts and cleared when the
    // chain is back within its objective.
    match (rpo.breached, &chain.rpo_alerted) {
        (true, None) => {}
        (false, Some(_)) => {
            // The breach is over: its one `Resolved` (same alert id), sent before the
            // write that clears `rpo_alerted`, like every alert.
            let resolved = crate::machine::resolve::rpo_resolved(chain, &rpo, now);
            if let Some(r) = &resolved {
                app.raise(std::slice::from_ref(r)).await?;
            }
            let mut c = chain.clone();
            c.rpo_alerted = None;
            if commit_chain(app, &mut c).await? {
                if let Some(r) = resolved {
                    out.alert(r);
                }
                *chain = c;
                out.log(format!(
                    "chain {}: RPO back within {}",
                    chain.key,
                    crate::machine::fmt_hours(rule.rpo_objective)
                ));
            }
            return Ok(());
        }
        _ => return Ok(()),
    }
    // Named by when the breach began, not by this tick: a retry raises the same alert.
    let since = rpo
        .breached_since
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let age = rpo
        .current
        .map(|d| format!("{:.1} h", d.as_seconds_f64() / 3600.0))
        .unwrap_or_else(|| "no copy completed yet".into());
    let message = format!(
        "RPO objective {} breached for {} → {}: newest restore point in the target region: {age}",
        crate::machine::fmt_hours(rule.rpo_objective),
        chain.source_collection.name,
        chain.target_region
    );
    let a = crate::machine::resolve::rpo_alert(chain, &since, message, now);
    app.raise(std::slice::from_ref(&a)).await?;
    let mut c = chain.clone();
    c.rpo_alerted = Some(since);
    if !commit_chain(app, &mut c).await? {
        return Ok(()); // another instance handled it
    }
    *chain = c;
    out.alert(a);
    Ok(())
}

/// The disk progress of a restore point, from its instance view (the poller's read of a
/// copy in flight, and the readiness check's).
pub fn disk_progress(p: &crate::arm::model::RestorePointProgress) -> Vec<DiskProgress> {
    p.disks()
        .iter()
        .map(|d| {
            let r = d.replication_status.as_ref();
            DiskProgress::reading(
                d.id.as_deref(),
                r.and_then(|r| r.completion_percent),
                r.and_then(|r| r.status.as_ref())
                    .and_then(|s| s.code.as_deref()),
            )
        })
        .collect()
}

/// Reads one copy in flight and acts on what it shows. `held` is the chain row as the
/// caller read it, used for the first decision; after a lost race the row is read again.
/// Returns `true` when this call recorded a reading and the copy is still in flight.
async fn check_copy(
    app: &App,
    rule: &Rule,
    held: &Chain,
    first: CopyRecord,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<bool, FnError> {
    let key = held.key.as_str();
    let limits = app.limits(rule);
    // The one read of this copy per tick; a lost race decides again on the same reading.
    let disks = app
        .arm
        .get_copy_progress(&first.target_restore_point)
        .await?
        .map(|t| disk_progress(&t));
    let seen = match &disks {
        Some(d) => Seen::Disks(d),
        None => Seen::Gone,
    };
    let mut copy = first;
    let mut held = Some(held);
    for _ in 0..MAX_RACES {
        let chain = match held.take() {
            Some(c) => c.clone(),
            None => match chain::load_chain(app, key).await? {
                Some(c) => c,
                None => return Ok(false),
            },
        };
        let Some(d) = progress::after_reading(&chain, &copy, seen, &limits, now) else {
            return Ok(false); // settled by someone else meanwhile
        };
        if d.delete_target {
            // Clean up first: if ARM is unavailable the copy stays in flight and the next
            // tick tries again, rather than leaving an orphaned partial copy behind.
            app.arm
                .delete_restore_point(&d.copy.target_restore_point)
                .await?;
        }
        app.raise(&d.alerts).await?;
        crate::failpoint::fail_point!(app, "poller.after-read")?;
        let mut ops = Vec::with_capacity(3);
        if let Some(c) = &d.chain {
            ops.push(replace_chain(c)?);
        }
        if let Some(r) = &d.reading {
            ops.push(Op::Insert(r.to_entity()));
        }
        ops.push(replace_copy(&d.copy)?);
        match app.ledger.batch(key, ops).await {
            Ok(_) => {
                for a in d.alerts {
                    out.alert(a);
                }
                return Ok(d.reading.is_some() && d.copy.state == CopyState::InFlight);
            }
            Err(e) if e.is_race() => {
                copy = reload(app, key, &copy).await?;
                // Settled, or this tick's reading already recorded by another instance.
                if copy.state != CopyState::InFlight || copy.last_reading_at == Some(now) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(FnError::Contention(key.to_string()))
}

/// Looks at the target of a copy the chain holds while that target is deleted (one GET):
/// a restarting copy ([`progress::after_restart_check`]) or a settled one
/// ([`progress::after_release_check`]), and acts. Returns `true` while the chain stays held.
async fn check_deleting(
    app: &App,
    chain: &Chain,
    copy: CopyRecord,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<bool, FnError> {
    let exists = app
        .arm
        .get_restore_point(&copy.target_restore_point, false)
        .await?
        .is_some();
    let delete_again = || async {
        // Idempotent: a delete that was lost or refused is simply asked for again.
        app.arm
            .delete_restore_point(&copy.target_restore_point)
            .await
            .map(|_| true)
            .map_err(FnError::from)
    };
    if copy.state == CopyState::Restarting {
        return match progress::after_restart_check(chain, &copy, exists, now) {
            None => Ok(false),
            Some(RestartStep::DeleteAgain) => delete_again().await,
            Some(RestartStep::Requeued { chain, copy }) => {
                let ops = vec![replace_chain(&chain)?, replace_copy(&copy)?];
                if chain::commit(app, &chain, ops).await? {
                    out.log(format!(
                        "{}: old target deleted; copying again after {} (attempt {})",
                        copy.source_restore_point,
                        copy.not_before.map(|t| t.to_string()).unwrap_or_default(),
                        copy.earlier_attempts.len() + 1
                    ));
                }
                Ok(false)
            }
            Some(RestartStep::GiveUp { chain, copy, alert }) => {
                app.raise(std::slice::from_ref(&alert)).await?;
                let ops = vec![replace_chain(&chain)?, replace_copy(&copy)?];
                if chain::commit(app, &chain, ops).await? {
                    out.alert(*alert);
                }
                Ok(false)
            }
        };
    }
    match progress::after_release_check(chain, &copy, exists, now) {
        None => Ok(false),
        Some(ReleaseStep::DeleteAgain) => delete_again().await,
        Some(ReleaseStep::Release { chain, stuck }) => {
            if chain::commit(app, &chain, vec![replace_chain(&chain)?]).await? {
                out.log(format!(
                    "chain {}: target {} {}; the chain moves on",
                    chain.key,
                    copy.target_restore_point,
                    if stuck {
                        "still not deleted after six hours"
                    } else {
                        "deleted"
                    }
                ));
            }
            Ok(false)
        }
    }
}

async fn reload(app: &App, key: &str, copy: &CopyRecord) -> Result<CopyRecord, FnError> {
    load_copy(app, key, &copy.row_key())
        .await?
        .ok_or_else(|| FnError::Other(format!("copy {} vanished from the ledger", copy.row_key())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(3600)
    }

    #[test]
    fn a_clean_sweep_goes_all_the_way_and_keeps_no_place() {
        let c = SweepControl::new(later());
        for n in 0..10 {
            assert!(c.may_start(n, &format!("k{n}")));
            c.finished(n, &format!("k{n}"), false, true);
        }
        assert_eq!(c.stopped(), None);
        assert_eq!(c.resume_at(), None);
    }

    #[test]
    fn the_next_sweep_starts_at_the_first_chain_that_failed() {
        let c = SweepControl::new(later());
        for n in 0..6 {
            assert!(c.may_start(n, &format!("k{n}")));
        }
        // Completion order differs from sweep order (polls run concurrently).
        c.finished(4, "k4", false, false);
        c.finished(0, "k0", false, true);
        c.finished(2, "k2", false, false);
        c.finished(5, "k5", false, false);
        assert_eq!(c.resume_at().as_deref(), Some("k2"));
        assert_eq!(c.stopped(), None, "failures alone do not stop a sweep");
    }

    #[test]
    fn throttling_in_a_row_stops_the_sweep_and_the_first_unstarted_chain_is_next() {
        let c = SweepControl::new(later());
        // A throttled chain followed by a success resets the streak.
        c.finished(0, "k0", true, false);
        c.finished(1, "k1", false, true);
        for n in 2..2 + THROTTLED_IN_A_ROW as u64 - 1 {
            c.finished(n, &format!("k{n}"), true, false);
            assert_eq!(c.stopped(), None);
        }
        let last = 1 + THROTTLED_IN_A_ROW as u64;
        c.finished(last, &format!("k{last}"), true, false);
        assert!(c.stopped().unwrap().contains("throttled"));
        assert!(!c.may_start(last + 1, "later"));
        // k0 failed first: the next sweep starts there, not at the refused chain.
        assert_eq!(c.resume_at().as_deref(), Some("k0"));
    }

    #[test]
    fn a_spent_time_budget_stops_at_the_next_chain() {
        let c = SweepControl::new(std::time::Instant::now());
        assert!(!c.may_start(7, "k7"));
        assert!(!c.may_start(8, "k8"));
        assert_eq!(c.stopped().as_deref(), Some("time budget spent"));
        assert_eq!(c.resume_at().as_deref(), Some("k7"));
    }

    #[test]
    fn only_429_counts_as_throttling() {
        let throttled = FnError::Arm(crate::arm::ArmError::Throttled {
            retry_after: std::time::Duration::from_secs(1),
            attempts: 2,
        });
        let unavailable = FnError::Arm(crate::arm::ArmError::Unavailable {
            status: Some(503),
            message: "x".into(),
        });
        assert!(is_throttled(&throttled));
        assert!(!is_throttled(&unavailable));
        assert!(!is_throttled(&FnError::Contention("k".into())));
    }

    #[test]
    fn every_chain_reconciles_once_per_period() {
        let start = time::macros::datetime!(2026-11-01 00:00 UTC);
        for key in ["a", "0b6f1c2e-6b0e-5b0f-9d3e-2f1e0c9b8a7d", "zzz"] {
            let due = (0..72)
                .filter(|i| reconcile_due(key, start + rules::POLL_INTERVAL * *i))
                .count();
            assert_eq!(due, 2, "{key}: twice in 12 hours");
        }
    }
}
