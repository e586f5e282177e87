//! Chain operations shared by the sequencer and the poller: advancing a chain (validate
//! the oldest pending copy, claim it, start it, adopt a copy a crashed instance already
//! started), over the chain repository.
//!
//! Every change to a chain goes through an ETag-conditional batch on its partition; losing a
//! race re-reads and decides again, so concurrent sequencer and poller instances can never
//! start two copies of one chain.
//!
//! - [`repo`]: load, commit (keeping ETags), constructors.
//! - [`source`]: a source restore point as the rules see it.
//! - `starting`: the I/O around `machine::start`.
//! - `discover`: restore points whose events were late or lost.

mod discover;
mod limits;
pub(crate) mod repo;
pub(crate) mod source;
mod starting;

pub(crate) use discover::{discover, discovery_floor};
pub(crate) use repo::{
    commit, copies, copy_row_of, ensure_chain, load_chain, load_copy, replace_chain, replace_copy,
    MAX_RACES,
};
pub(crate) use source::{is_own_copy, is_own_copy_of, source_facts};

use super::reads::Reads;
use super::{App, FnError, Outcome};
use crate::ledger::records::CopyState;
use crate::rules::{self, catch_up, NextStep, PendingCopy};
use starting::{resume_start, try_start};
use time::OffsetDateTime;

pub(crate) use crate::machine::{copy_alert, rejection_alert};

pub(super) enum Flow {
    /// Look at the chain again (a race was lost, or a copy was settled and the next may go).
    Again,
    Done,
}

/// Moves a chain forward as far as it can go now: settles pending copies that can never be
/// copied, and starts the one the catch-up policy picks if nothing is in flight.
pub(crate) async fn advance(
    app: &App,
    key: &str,
    reads: &mut Reads,
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
                    match resume_start(app, target, chain, copy, None, reads, now, out).await? {
                        Flow::Again => continue,
                        Flow::Done => return Ok(()),
                    }
                }
                // In flight, or its old target being deleted to restart it: the poller
                // watches it; only one copy at a time per chain.
                CopyState::InFlight | CopyState::Restarting => return Ok(()),
                // Settled with its target being deleted (expired, or stalled past its
                // restarts): the poller releases the chain once the target is gone.
                state if state.is_final() => return Ok(()),
                _ => {
                    chain.in_flight = None;
                    commit(app, &chain, vec![replace_chain(&chain)?]).await?;
                    continue;
                }
            }
        }
        let pending = copies(app, key, Some(CopyState::Pending)).await?;
        let waiting: Vec<PendingCopy> = pending
            .iter()
            .map(|c| PendingCopy {
                key: c.row_key(),
                time_created: c.source_time,
                not_before: c.not_before,
            })
            .collect();
        // Which one goes next is the catch-up policy's pick; when and whether it may start
        // (deferred, three per hour) is `next_step`'s.
        let pick = catch_up::pick(
            rule.catch_up,
            &catch_up::Backlog {
                pending: &waiting,
                newest_safe: chain.last_success_source_time,
                typical_copy: chain.history.typical_copy(),
                objective: rule.rpo_objective,
            },
            now,
        );
        let view = rules::ChainView {
            in_flight: None,
            pending: waiting
                .iter()
                .filter(|w| pick.as_ref().is_some_and(|p| p.key == w.key))
                .cloned()
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
                let skipped = pick.map(|p| p.supersedes).unwrap_or_default();
                let (mut chosen, mut supersede) = (None, Vec::new());
                for c in pending {
                    let k = c.row_key();
                    if k == row {
                        chosen = Some(c);
                    } else if skipped.contains(&k) {
                        supersede.push(c);
                    }
                }
                let Some(copy) = chosen else {
                    continue;
                };
                match try_start(app, rule, target, chain, copy, supersede, reads, now, out).await? {
                    Flow::Again => continue,
                    Flow::Done => return Ok(()),
                }
            }
        }
    }
    Err(FnError::Contention(key.to_string()))
}
