//! The `drill` function (timer, `%FERRY_DRILL_SCHEDULE%`) and `ferry drill`: restore drills.
//!
//! One run: (1) delete the disks of ended drills whose deletes ARM refused ([`cleanup`]);
//! (2) plan, per policy rule with `drill`, the chains due ([`rules::drill::plan`]); (3) in each
//! drill resource group a drill starts in, delete earlier drills' leftovers (by tag); (4) for
//! each chain due, read its newest succeeded copy once (`$expand=instanceView`) and drill it
//! only if the readiness rule says it is ready: record it, restore one disk per disk restore
//! point, tagged with the drill id ([`start`]); (5) advance every running drill: read its
//! disks (paced like every other ARM call), and once they ended, check them, record the result
//! and the restore time (first PUT to last disk ready), delete the disks, and raise one
//! `DrillFailed` alert per failed drill ([`step`]); (6) send the `Resolved` of each failure
//! a later drill of its chain proved over ([`resolve`]).
//!
//! One chain's trouble (ARM or the ledger refusing for now) skips that chain for the run and
//! holds up no other: every start is safe beside any other, because a leftover cleanup reads
//! the running drills again before it deletes anything.
//!
//! Copies come first: a chain whose copy is waiting to be claimed is not drilled in that run
//! (`copy_due`), and a drill's writes go through the same client pacing as the copies'.

mod cleanup;
mod resolve;
mod start;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use time::OffsetDateTime;

use super::{App, FnError, Outcome};
use crate::clock::Clock;
use crate::ledger::drills::{drills_for_run, DrillRecord, DrillState};
use crate::ledger::records::Chain;
use crate::rules::drill::{self as rules, ChainDrillView, LastDrill};

/// How a run waits for its drills' disks.
#[derive(Debug, Clone, Copy)]
pub struct DrillSettings {
    /// Real time between two reads of a drill's disks.
    pub poll_every: StdDuration,
    /// Real time one run waits for disks before it leaves the drills running for the next run.
    pub wait_budget: StdDuration,
}

impl DrillSettings {
    /// What the timer-triggered function uses: one step per run, never waiting. A drill is a
    /// state machine across runs (leftovers deleted and disks PUT in one run; disks read, and
    /// once ready checked and deleted, in a later one), so an invocation stays far inside the
    /// Functions timeout and the restore time still comes from ARM's own operation end time.
    pub const STEP: DrillSettings = DrillSettings {
        poll_every: StdDuration::from_secs(15),
        wait_budget: StdDuration::ZERO,
    };
}

impl Default for DrillSettings {
    fn default() -> Self {
        DrillSettings {
            poll_every: StdDuration::from_secs(15),
            wait_budget: StdDuration::from_secs(8 * 60),
        }
    }
}

/// The host's time at the invocation, moving on with this machine's clock: what a drill
/// measures restore times with when the host invokes it.
#[derive(Debug, Clone, Copy)]
pub struct HostClock {
    at: OffsetDateTime,
    since: std::time::Instant,
}

impl HostClock {
    pub fn new(at: OffsetDateTime) -> Self {
        HostClock {
            at,
            since: std::time::Instant::now(),
        }
    }
}

impl Clock for HostClock {
    fn now(&self) -> OffsetDateTime {
        let elapsed =
            time::Duration::try_from(self.since.elapsed()).unwrap_or(time::Duration::ZERO);
        self.at.saturating_add(elapsed)
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct DrillRun {
    pub started: Vec<String>,
    pub succeeded: Vec<DrillRecord>,
    pub failed: Vec<DrillRecord>,
    pub still_running: usize,
    pub leftovers_deleted: usize,
    /// Chains planned but not drilled, and why.
    pub skipped: BTreeMap<String, String>,
    pub outcome: Outcome,
}

/// Runs the drills due (of `only` chains, by key, when given) and advances every running one.
pub async fn drill(
    app: &App,
    clock: &dyn Clock,
    settings: &DrillSettings,
    only: Option<&BTreeSet<String>>,
) -> Result<DrillRun, FnError> {
    let now = clock.now();
    let mut run = DrillRun::default();
    let everies = app
        .policy
        .rules
        .iter()
        .filter_map(|r| r.drill.as_ref().map(|d| d.every));
    let since = now - rules::history_needed(everies);
    let drills = drills_for_run(app.ledger.as_ref(), since).await?;
    cleanup::clean_up(app, &drills).await?;
    let mut latest: BTreeMap<String, DrillRecord> = BTreeMap::new();
    let mut ended: Vec<DrillRecord> = Vec::new();
    for d in drills {
        if d.state != DrillState::Running {
            ended.push(d.clone());
        }
        let newer = latest
            .get(&d.chain)
            .is_none_or(|l| (l.started, &l.id) < (d.started, &d.id));
        if newer {
            latest.insert(d.chain.clone(), d);
        }
    }
    let chains = super::status::all_chains(app).await?;
    let planned = plan(app, &chains, &latest, only, now);
    for key in planned.over_budget {
        run.skipped.insert(
            key,
            format!(
                "due; this run's {} drill starts in its subscription are taken (ARM's write budget is shared with the copies): the next run",
                rules::MAX_STARTS_PER_RUN
            ),
        );
    }
    let planned = planned.go;
    let mut running: Vec<DrillRecord> = latest
        .into_values()
        .filter(|d| d.state == DrillState::Running)
        .collect();
    let running_ids: BTreeSet<String> = running.iter().map(|d| d.id.clone()).collect();
    // Leftovers first, once per drill resource group a drill may start in: before any start
    // of this run, so no disk this run creates is listed.
    let groups: BTreeSet<_> = planned
        .iter()
        .map(|(c, p)| start::drill_resource_group(c, p))
        .collect();
    for rg in &groups {
        if let Err(e) = cleanup::delete_leftovers(app, rg, &running_ids, &mut run).await {
            // Hygiene only: the next run that starts a drill here tries again.
            run.outcome.log(format!(
                "leftover disks in {rg} not cleaned up this run: {e}"
            ));
        }
    }
    for (chain, policy) in planned {
        match start::start(app, clock, chain, policy, &mut run).await {
            Ok(Ok(rec)) => {
                run.started.push(rec.id.clone());
                running.push(rec);
            }
            Ok(Err(why)) => {
                run.skipped.insert(chain.key.clone(), why);
            }
            // ARM or the ledger refusing for now: this chain waits for the next run. A drill
            // recorded before the trouble is in the ledger as running, and the next run goes
            // on with it.
            Err(e) => {
                run.skipped
                    .insert(chain.key.clone(), format!("not started this run: {e}"));
            }
        }
    }
    step::wait(app, clock, settings, running, &mut run).await?;
    // A success (this run's or an earlier one's) closes the chain's earlier failures.
    ended.extend(run.succeeded.iter().chain(&run.failed).cloned());
    resolve::resolve_failures(app, &ended, clock.now(), &mut run).await;
    // RTO evidence as a metric too: each drill that ended well this run, by its chain.
    for rec in &run.succeeded {
        let (Some(chain), Some(secs)) = (
            chains.iter().find(|c| c.key == rec.chain),
            rec.restore_seconds,
        ) else {
            continue;
        };
        let dims = crate::telemetry::ChainDims {
            source_collection: chain.source_collection.to_string(),
            target_region: chain.target_region.clone(),
        };
        app.telemetry
            .drill_restore_time(&dims, time::Duration::seconds_f64(secs));
    }
    Ok(run)
}

/// What a run starts: the chains due, each with its rule's drill policy, within the write
/// budget; and the chains due that wait for the next run.
struct Planned<'a> {
    go: Vec<(&'a Chain, &'a rules::DrillPolicy)>,
    over_budget: Vec<String>,
}

/// The chains to drill now: per policy rule with `drill`, [`rules::plan`] over its chains'
/// views, then [`rules::within_budget`] per target subscription.
fn plan<'a>(
    app: &'a App,
    chains: &'a [Chain],
    latest: &BTreeMap<String, DrillRecord>,
    only: Option<&BTreeSet<String>>,
    now: OffsetDateTime,
) -> Planned<'a> {
    let mut groups: BTreeMap<usize, Vec<ChainDrillView>> = BTreeMap::new();
    let mut by_key: BTreeMap<&str, &Chain> = BTreeMap::new();
    for c in chains {
        if only.is_some_and(|o| !o.contains(&c.key)) {
            continue;
        }
        let Some((rule, _)) = app
            .policy
            .find_target(&c.source_collection, &c.target_region)
        else {
            continue;
        };
        if rule.drill.is_none() {
            continue;
        }
        let Some(idx) = app.policy.rules.iter().position(|r| std::ptr::eq(r, rule)) else {
            continue;
        };
        let last = latest.get(&c.key).map(|d| LastDrill {
            started: d.started,
            succeeded: match d.state {
                DrillState::Running => None,
                s => Some(s == DrillState::Succeeded),
            },
        });
        groups.entry(idx).or_default().push(ChainDrillView {
            chain: c.key.clone(),
            last,
            copy_due: c.active && c.in_flight.is_none(),
            has_ready_copy: c.last_success_restore_point.is_some(),
        });
        by_key.insert(&c.key, c);
    }
    let mut due = Vec::new();
    for (idx, views) in &groups {
        let Some(policy) = app.policy.rules[*idx].drill.as_ref() else {
            continue;
        };
        for key in rules::plan(views, policy, now) {
            if let Some(chain) = by_key.get(key) {
                due.push((*chain, policy));
            }
        }
    }
    // Within the run's share of each subscription's ARM write budget.
    let starts: Vec<rules::Start> = due
        .iter()
        .map(|(c, _)| rules::Start {
            chain: &c.key,
            subscription: &c.target_collection.subscription,
            last_started: latest.get(&c.key).map(|d| d.started),
        })
        .collect();
    let chosen: BTreeSet<&str> = rules::within_budget(starts, rules::MAX_STARTS_PER_RUN)
        .into_iter()
        .collect();
    let (go, wait): (Vec<_>, Vec<_>) = due
        .into_iter()
        .partition(|(c, _)| chosen.contains(c.key.as_str()));
    Planned {
        go,
        over_budget: wait.into_iter().map(|(c, _)| c.key.clone()).collect(),
    }
}
