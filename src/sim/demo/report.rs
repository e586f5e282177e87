//! The demo's report: what the ledger, the emulator and the host saw at the end, checked
//! against the invariants (no rule broken, no copy twice, no alert twice, nothing lost,
//! nothing stuck), as JSON or as a table.

use super::rpo::{hours, nearest_rank, summarize, RpoSampler, RpoSummary};
use super::scenario::{rp_id, Scenario, RPO_OBJECTIVE_HOURS};
use super::{DemoArgs, DemoError, TARGET_REGIONS, TICK};
use crate::alerts::{Alert, AlertKind};
use crate::ledger::records::{Chain, CopyRecord, CopyState, CHAIN_ROW, COPY_PREFIX};
use crate::ledger::{query_all, Ledger, Query};
use crate::sim::emulator::Emulator;
use crate::sim::host::Host;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// Counts of copies by state.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct CopyCounts {
    pub succeeded: usize,
    pub failed: usize,
    pub expired: usize,
    pub rejected: usize,
    pub in_flight: usize,
    pub pending: usize,
    /// Never copied by policy: a newer restore point was copied instead (`catchUp`).
    pub superseded: usize,
    /// Copies that needed more than one attempt (failed or stalled, then made again),
    /// whatever their end.
    pub restarted: usize,
}

/// One chain's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub source_collection: String,
    pub target_region: String,
    pub copies: CopyCounts,
    /// The chain's RPO at the end as ferry's status function reports it.
    pub rpo_hours: Option<f64>,
    pub rpo_breached: bool,
    /// Every restore point rejected by a platform rule, no copy ever started: the chain
    /// cannot be protected and is kept out of the RPO figures.
    pub unprotectable: bool,
    /// The chain's own RPO over the run, from the emulator's ground truth at every tick
    /// (None for an unprotectable chain or one the demo did not sample).
    pub rpo_p95_hours: Option<f64>,
    pub rpo_max_hours: Option<f64>,
}

/// A copy still in flight past the platform's maximum duration, as the ledger has it.
#[derive(Debug, Clone, Serialize)]
pub struct StuckCopy {
    pub chain: String,
    pub copy: String,
    pub state: String,
    pub started_at: Option<String>,
    pub last_reading_at: Option<String>,
    pub readings: u32,
    pub last_status: Option<String>,
    /// The chain row's view: which copy it thinks is in flight, and whether the poller
    /// looks at it.
    pub chain_in_flight: Option<String>,
    pub chain_active: bool,
}

/// What `ferry demo --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub simulated_days: u32,
    pub vms: usize,
    pub seed: u64,
    pub faults: String,
    pub chains: usize,
    pub copies: CopyCounts,
    pub alerts: BTreeMap<String, usize>,
    /// Requests the emulator refused because ferry broke a platform rule (must be 0).
    pub rule_violations: u64,
    pub violations_by_rule: BTreeMap<String, u64>,
    /// Second copies of one source restore point into one region (must be 0).
    pub duplicate_copies: u64,
    /// Alerts that would reach an operator twice: counted from what ferry sent, before the
    /// stand-in's duplicate detection dropped anything — a repeat of an alert id after the
    /// detection window of its first send (must be 0).
    pub duplicate_alerts: usize,
    /// Repeats of an alert id inside the window (a crash between sending an alert and
    /// recording it): Service Bus duplicate detection drops them by design; shown, not an
    /// invariant.
    pub alert_resends: usize,
    /// Restore points in scope with no copy record for a target region, or whose record
    /// ended failed/expired/rejected without its alert recorded (must be 0; a copy ferry
    /// made itself is rejected quietly).
    pub lost_requests: usize,
    /// Alerts the ledger records as sent for a copy that never reached the alerts topic
    /// (must be 0: "rejected/failed/expired with an alert" must be true).
    pub missing_alerts: usize,
    /// Chains whose copy in flight is older than its maximum duration (must be 0).
    pub stuck_chains: usize,
    /// What each stuck copy looked like at the end (empty when `stuck_chains` is 0), so a
    /// failing soak names the chains to look at.
    pub stuck: Vec<StuckCopy>,
    pub restore_points_created: usize,
    /// RPO sampled at every poller tick for every chain of the policy (each VM's collection
    /// × each target region) from the emulator's ground truth: the age of the newest source
    /// restore point whose copy the emulator published as succeeded there, or before the
    /// first one, the age of the oldest restore point. Unprotectable chains left out.
    pub rpo: RpoSummary,
    /// The objective `rpo.over_objective_pct` is measured against (the policy's).
    pub rpo_objective_hours: i64,
    /// The most source restore points any protectable chain had waiting at a tick: created
    /// after the newest one whose copy started in the target region.
    pub backlog_max: usize,
    /// Copies ferry deleted while they were still in progress and would have completed (the
    /// emulator knows each copy's fate): restarts that were not needed (must be 0).
    pub needless_restarts: u64,
    /// Chains whose every restore point was rejected by a platform rule (as the
    /// confidential VM's): reported apart, out of the RPO figures.
    pub unprotectable_chains: usize,
    /// Messages and events given up on by the host, with why (must be none).
    pub dead_letters: BTreeMap<String, Vec<String>>,
    /// Where the handler ran: `in-process` or `process`.
    pub handler: String,
    /// Handler crashes and ledger races injected on ferry's side (in-process).
    pub injected_crashes: u64,
    /// Times the handler process was killed with SIGKILL and restarted (`--handler process`).
    pub handler_kills: u64,
    pub injected_conflicts: u64,
    pub arm: Value,
    pub host: Value,
    pub per_chain: Vec<ChainReport>,
    /// Requests the emulator refused for a platform count or frequency limit (restore
    /// points per VM, copies per target collection, collections per region, minimum interval).
    pub limit_refusals: u64,
    pub limit_refusals_by_limit: BTreeMap<String, u64>,
    /// The most restore points any target collection held during the run (emulator's count).
    pub target_restore_points_max: u64,
    /// Copies ferry deleted for retention (the ledger's records, marked deleted).
    pub deleted_by_retention: usize,
    /// Source restore points ferry deleted (the emulator's count of its DELETEs).
    pub pruned_source: u64,
    /// Base restore points ferry deleted (the emulator's count; must be 0).
    pub base_deleted: u64,
    /// Management locks on restore points at the end (`--protect-base`: one per base).
    pub base_locks: usize,
    /// Deletions of a base refused by its lock (409 ScopeLocked; the scenario's day-8 one).
    pub base_delete_refused: u64,
    /// Copies that succeeded on each simulated day (by ferry's record of the success).
    pub succeeded_per_day: Vec<usize>,
    pub invariants_held: bool,
    pub broken_invariants: Vec<String>,
    pub wall_seconds: f64,
    /// What the alert webhook received (Common Alert Schema), against the alerts topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<super::WebhookReport>,
    /// Restore drills (see `drills.rs`).
    pub drills: super::DrillsReport,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn build_report(
    args: &DemoArgs,
    sc: &Scenario,
    emu: &Emulator,
    host: &Host,
    chaos: &crate::sim::chaos::Chaos,
    queues: (String, String),
    alerts_topic: &str,
    ledger: &dyn Ledger,
    created: &[(usize, String)],
    sampler: &RpoSampler,
    status: &Value,
    now: OffsetDateTime,
    wall: std::time::Instant,
) -> Result<DemoReport, DemoError> {
    let q = Query {
        row_key_from: Some(CHAIN_ROW.into()),
        row_key_to: Some(format!("{CHAIN_ROW}\u{0}")),
        ..Query::default()
    };
    let chain_rows = query_all(ledger, &q)
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let mut copies_total = CopyCounts::default();
    let mut per_chain = Vec::new();
    // Per (source restore point, region): the copy record's state, and whether the alert
    // its end calls for is recorded (a terminal record without it is as lost as no record).
    let mut known: BTreeMap<(String, String), (CopyState, bool)> = BTreeMap::new();
    // Restore points ferry itself made: their quiet CopyOfCopy rejection needs no alert.
    let mut own_copies: BTreeSet<String> = BTreeSet::new();
    let mut stuck = 0;
    let mut stuck_list = Vec::new();
    // (source collection name, region) of the unprotectable chains, lower case.
    let mut unprotectable: BTreeSet<(String, String)> = BTreeSet::new();
    // (alert id, what it is about) of every alert the ledger says was sent for a copy.
    let mut recorded: Vec<(String, String)> = Vec::new();
    let mut deleted_by_retention = 0;
    let mut succeeded_per_day = vec![0usize; sc.days as usize];
    for row in &chain_rows {
        let chain = Chain::from_entity(row).map_err(|e| DemoError::Setup(e.to_string()))?;
        let rows = query_all(
            ledger,
            &Query::partition(&chain.key).row_prefix(COPY_PREFIX),
        )
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
        let mut counts = CopyCounts::default();
        let mut all_rejected = !rows.is_empty();
        for r in &rows {
            let c = CopyRecord::from_entity(r).map_err(|e| DemoError::Setup(e.to_string()))?;
            let alerted = match c.state {
                CopyState::Failed => c.alerts.contains(&AlertKind::CopyFailed),
                CopyState::Expired => c.alerts.contains(&AlertKind::CopyExpired),
                CopyState::Rejected => c.alerts.contains(&AlertKind::CopyRejected),
                _ => true,
            };
            known.insert(
                (c.source_restore_point.key(), chain.target_region.clone()),
                (c.state, alerted),
            );
            own_copies.insert(c.target_restore_point.key());
            if c.deleted_at.is_some() {
                deleted_by_retention += 1;
            }
            if let (CopyState::Succeeded, Some(end)) = (c.state, c.ended_at) {
                let day = (end - super::START).whole_days();
                if let Some(n) = usize::try_from(day)
                    .ok()
                    .and_then(|d| succeeded_per_day.get_mut(d))
                {
                    *n += 1;
                }
            }
            for kind in &c.alerts {
                recorded.push((
                    Alert::id_for(*kind, &format!("{}|{}", chain.key, c.row_key())),
                    format!(
                        "{} {} → {}",
                        kind.as_str(),
                        c.source_restore_point,
                        chain.target_region
                    ),
                ));
            }
            if !c.earlier_attempts.is_empty() {
                counts.restarted += 1;
            }
            if c.state != CopyState::Rejected
                || c.started_at.is_some()
                || !c.earlier_attempts.is_empty()
            {
                all_rejected = false;
            }
            match c.state {
                CopyState::Succeeded => counts.succeeded += 1,
                CopyState::Failed => counts.failed += 1,
                CopyState::Expired => counts.expired += 1,
                CopyState::Rejected => counts.rejected += 1,
                CopyState::Superseded => counts.superseded += 1,
                CopyState::InFlight | CopyState::Starting | CopyState::Restarting => {
                    counts.in_flight += 1;
                    if c.started_at
                        .is_some_and(|s| now - s > crate::rules::PLATFORM_MAX_COPY + TICK)
                    {
                        stuck += 1;
                        let fmt = |t: Option<OffsetDateTime>| {
                            t.and_then(|t| {
                                t.format(&time::format_description::well_known::Rfc3339)
                                    .ok()
                            })
                        };
                        stuck_list.push(StuckCopy {
                            chain: chain.key.clone(),
                            copy: c.row_key(),
                            state: format!("{:?}", c.state),
                            started_at: fmt(c.started_at),
                            last_reading_at: fmt(c.last_reading_at),
                            readings: c.readings,
                            last_status: c.last_status.clone(),
                            chain_in_flight: chain.in_flight.clone(),
                            chain_active: chain.active,
                        });
                    }
                }
                CopyState::Pending => counts.pending += 1,
            }
        }
        for (a, b) in [
            (&mut copies_total.succeeded, counts.succeeded),
            (&mut copies_total.failed, counts.failed),
            (&mut copies_total.expired, counts.expired),
            (&mut copies_total.rejected, counts.rejected),
            (&mut copies_total.in_flight, counts.in_flight),
            (&mut copies_total.pending, counts.pending),
            (&mut copies_total.superseded, counts.superseded),
            (&mut copies_total.restarted, counts.restarted),
        ] {
            *a += b;
        }
        let status_chain = status["chains"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["key"] == chain.key.as_str()));
        let samples = sampler
            .chain(&chain.source_collection.name, &chain.target_region)
            .filter(|_| !all_rejected)
            .map(|c| {
                let mut v = c.rpo_secs.clone();
                v.sort_unstable();
                v
            })
            .unwrap_or_default();
        if all_rejected {
            unprotectable.insert((
                chain.source_collection.name.to_ascii_lowercase(),
                chain.target_region.to_ascii_lowercase(),
            ));
        }
        per_chain.push(ChainReport {
            source_collection: chain.source_collection.name.clone(),
            target_region: chain.target_region.clone(),
            copies: counts,
            rpo_hours: status_chain.and_then(|c| c["rpo"]["currentHours"].as_f64()),
            rpo_breached: status_chain
                .and_then(|c| c["rpo"]["breached"].as_bool())
                .unwrap_or(false),
            unprotectable: all_rejected,
            rpo_p95_hours: nearest_rank(&samples, 95.0).map(hours),
            rpo_max_hours: samples.last().copied().map(hours),
        });
    }
    per_chain.sort_by(|a, b| {
        (&a.source_collection, &a.target_region).cmp(&(&b.source_collection, &b.target_region))
    });

    // RPO over every chain-tick of the chains that can be protected.
    let protectable = sampler.chains.iter().filter(|c| {
        !unprotectable.contains(&(
            c.collection.to_ascii_lowercase(),
            c.region.to_ascii_lowercase(),
        ))
    });
    let mut all_secs = Vec::new();
    let mut backlog_max = 0;
    for c in protectable {
        all_secs.extend_from_slice(&c.rpo_secs);
        backlog_max = backlog_max.max(c.backlog_max);
    }
    let objective = u32::try_from(RPO_OBJECTIVE_HOURS * 3600).unwrap_or(u32::MAX);
    let rpo = summarize(all_secs, objective);

    // Every restore point created in scope must have a record per target region (copied,
    // in flight, pending, or rejected/failed/expired with its alert recorded; only a copy
    // ferry made itself may be rejected quietly).
    let created_ids: Vec<String> = created.iter().map(|(i, n)| rp_id(*i, n)).collect();
    let lost_list = lost_requests(&created_ids, &known, &own_copies);
    let lost = lost_list.len();

    let mut alerts: BTreeMap<String, usize> = AlertKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), 0))
        .collect();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    // Alerts by kind: what the topic holds.
    for m in host.peek(alerts_topic) {
        let a: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
        // A condition's end (`resolvedAt`, same id as its alert) is not another alert.
        if a.get("resolvedAt").is_some() {
            continue;
        }
        if let Some(k) = a["kind"].as_str() {
            *alerts.entry(k.to_string()).or_default() += 1;
        }
        if let Some(id) = a["id"].as_str() {
            *ids.entry(id.to_string()).or_default() += 1;
        }
    }
    let (duplicate_alerts, alert_resends) =
        duplicate_sends(&host.sent(alerts_topic), host.duplicate_detection_window());
    let missing: Vec<&String> = recorded
        .iter()
        .filter(|(id, _)| !ids.contains_key(id))
        .map(|(_, what)| what)
        .collect();
    let stats = emu.stats();
    let host_stats = host.stats();

    let mut broken = Vec::new();
    if stats.rule_violations != 0 {
        broken.push(format!(
            "rule_violations = {} ({:?})",
            stats.rule_violations, stats.violations_by_rule
        ));
    }
    if stats.duplicate_copies != 0 {
        broken.push(format!("duplicate_copies = {}", stats.duplicate_copies));
    }
    if stats.needless_restarts != 0 {
        broken.push(format!("needless_restarts = {}", stats.needless_restarts));
    }
    if duplicate_alerts != 0 {
        broken.push(format!("duplicate_alerts = {duplicate_alerts}"));
    }
    if lost != 0 {
        broken.push(format!(
            "lost_requests = {lost}: {}",
            lost_list
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !missing.is_empty() {
        broken.push(format!(
            "missing_alerts = {}: {}",
            missing.len(),
            missing
                .iter()
                .take(5)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if stuck != 0 {
        broken.push(format!("stuck_chains = {stuck}"));
    }
    if stats.base_deleted_by_ferry != 0 {
        broken.push(format!(
            "base_deleted = {} (ferry deleted a collection's base restore point)",
            stats.base_deleted_by_ferry
        ));
    }
    let mut dead_letters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in [
        queues.0.clone(),
        queues.1.clone(),
        format!("eventgrid:{}", crate::functions::INGEST_EVENTGRID),
    ] {
        let d = host.dead_letters(&q);
        if !d.is_empty() {
            dead_letters.insert(
                q,
                d.iter()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            d.reason,
                            d.description.chars().take(300).collect::<String>()
                        )
                    })
                    .collect(),
            );
        }
    }
    let dead: usize = dead_letters.values().map(Vec::len).sum();
    if dead != 0 {
        broken.push(format!("dead_lettered_messages = {dead}"));
    }
    // The scenario plants each of these; a run that doesn't see them didn't test them.
    // (The failing and the never-progressing copies are planted on the first restore point
    // of days 3 and 2, which a longer --rp-interval moves later. The copy planted never to
    // progress is restarted as stalled, not left to expire: its restarts never progress
    // either, so it ends failed — checked below.)
    let planted_day = |d| sc.day_of_slot(sc.first_slot_of_day(d));
    for (kind, min_vms, min_days) in [
        (AlertKind::CopyRejected, 2, 0),
        (AlertKind::CopyFailed, 3, planted_day(3) + 1),
        (AlertKind::BaseRestorePointDeleted, 5, 9),
    ] {
        // Under --protect-base the base's deletion is refused: nothing to alert.
        let locked = kind == AlertKind::BaseRestorePointDeleted && args.protect_base;
        if !locked
            && sc.vms > min_vms
            && sc.days > min_days
            && alerts.get(kind.as_str()).copied().unwrap_or(0) == 0
        {
            broken.push(format!("expected at least one {} alert", kind.as_str()));
        }
    }
    if sc.vms > 4 && sc.days > planted_day(2) + 2 && copies_total.restarted == 0 {
        broken.push(
            "expected at least one restarted copy (the one planted never to progress)".into(),
        );
    }
    Ok(DemoReport {
        simulated_days: sc.days,
        vms: sc.vms,
        seed: args.seed,
        faults: args.faults.clone(),
        chains: chain_rows.len(),
        copies: copies_total,
        alerts,
        rule_violations: stats.rule_violations,
        violations_by_rule: stats.violations_by_rule.clone(),
        duplicate_copies: stats.duplicate_copies,
        duplicate_alerts,
        alert_resends,
        lost_requests: lost,
        missing_alerts: missing.len(),
        stuck_chains: stuck,
        stuck: stuck_list,
        restore_points_created: created.len(),
        rpo,
        rpo_objective_hours: RPO_OBJECTIVE_HOURS,
        backlog_max,
        needless_restarts: stats.needless_restarts,
        unprotectable_chains: unprotectable.len(),
        dead_letters,
        handler: match args.handler {
            super::HandlerMode::InProcess => "in-process".into(),
            super::HandlerMode::Process => "process".into(),
        },
        injected_crashes: chaos.crashes(),
        handler_kills: host_stats.handler_restarts,
        injected_conflicts: chaos.conflicts(),
        arm: serde_json::to_value(&stats).unwrap_or(Value::Null),
        host: serde_json::to_value(&host_stats).unwrap_or(Value::Null),
        per_chain,
        limit_refusals: stats.limit_refusals,
        limit_refusals_by_limit: stats.limit_refusals_by_limit.clone(),
        target_restore_points_max: stats.target_restore_points_max,
        deleted_by_retention,
        pruned_source: stats.source_deleted_by_ferry,
        base_deleted: stats.base_deleted_by_ferry,
        base_locks: 0,
        base_delete_refused: 0,
        succeeded_per_day,
        invariants_held: broken.is_empty(),
        broken_invariants: broken,
        webhook: None,
        wall_seconds: (wall.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        drills: super::DrillsReport::default(),
    })
}

pub(super) fn print_human(r: &DemoReport) {
    println!(
        "restore-point-ferry demo: {} VMs, {} simulated days, faults {}, seed {} ({} s)",
        r.vms, r.simulated_days, r.faults, r.seed, r.wall_seconds
    );
    println!();
    println!(
        "{:<22} {:<11} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9} {:>9} {:>9}",
        "chain",
        "region",
        "done",
        "fly",
        "fail",
        "exp",
        "rej",
        "pend",
        "supsd",
        "rstrt",
        "RPO (h)",
        "p95 (h)",
        "max (h)"
    );
    let h = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |h| format!("{h:.1}"));
    for c in &r.per_chain {
        let rpo = c
            .rpo_hours
            .map(|h| format!("{h:.1}{}", if c.rpo_breached { "!" } else { "" }))
            .unwrap_or_else(|| "-".into());
        let (p95, max) = if c.unprotectable {
            ("unprot.".to_string(), "-".to_string())
        } else {
            (h(c.rpo_p95_hours), h(c.rpo_max_hours))
        };
        println!(
            "{:<22} {:<11} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9} {:>9} {:>9}",
            c.source_collection,
            c.target_region,
            c.copies.succeeded,
            c.copies.in_flight,
            c.copies.failed,
            c.copies.expired,
            c.copies.rejected,
            c.copies.pending,
            c.copies.superseded,
            c.copies.restarted,
            rpo,
            p95,
            max
        );
    }
    println!();
    println!("copies: {} succeeded, {} in flight, {} pending, {} failed, {} expired, {} rejected ({} restore points created)", r.copies.succeeded, r.copies.in_flight, r.copies.pending, r.copies.failed, r.copies.expired, r.copies.rejected, r.restore_points_created);
    println!("limits: {} refusals {:?}; largest target collection {} restore points; {} copies deleted by retention; {} source restore points pruned; {} bases deleted by ferry", r.limit_refusals, r.limit_refusals_by_limit, r.target_restore_points_max, r.deleted_by_retention, r.pruned_source, r.base_deleted);
    println!(
        "        {} superseded by a newer restore point (catch-up), not lost; {} restarted (a failed or stalled copy deleted and made again)",
        r.copies.superseded, r.copies.restarted
    );
    println!(
        "RPO (the emulator's truth at every 10-minute tick, {} chain-ticks): p50 {} h, p95 {} h, max {} h; {} % of chain-ticks over the {} h objective; backlog up to {} restore points",
        r.rpo.chain_ticks,
        h(r.rpo.p50_hours),
        h(r.rpo.p95_hours),
        h(r.rpo.max_hours),
        r.rpo
            .over_objective_pct
            .map_or_else(|| "-".to_string(), |p| format!("{p:.1}")),
        r.rpo_objective_hours,
        r.backlog_max
    );
    if r.unprotectable_chains > 0 {
        println!(
            "        {} chains unprotectable (every restore point rejected by a platform rule), left out of the RPO figures",
            r.unprotectable_chains
        );
    }
    let alerts: Vec<String> = r
        .alerts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "alerts: {}",
        if alerts.is_empty() {
            "none".to_string()
        } else {
            alerts.join(", ")
        }
    );
    println!(
        "injected on ferry's side ({} handler): {} handler crashes, {} ledger write conflicts, {} handler processes killed",
        r.handler, r.injected_crashes, r.injected_conflicts, r.handler_kills
    );
    println!("ARM: {}", r.arm);
    println!("host: {}", r.host);
    super::drills::print_human(&r.drills);
    println!();
    if let Some(w) = &r.webhook {
        println!(
            "alert webhook (Common Alert Schema): {} received ({} Fired, {} Resolved), {} invalid, {} duplicates, {} missing; RPO breaches cleared {}, resolved exactly once {}",
            w.received, w.fired, w.resolved, w.invalid, w.duplicates, w.missing, w.rpo_breaches_cleared, w.rpo_resolved_once
        );
    }
    println!("invariants: rule_violations {}, duplicate_copies {}, duplicate_alerts {}, missing_alerts {}, lost_requests {}, stuck_chains {}, needless_restarts {} → {}", r.rule_violations, r.duplicate_copies, r.duplicate_alerts, r.missing_alerts, r.lost_requests, r.stuck_chains, r.needless_restarts, if r.invariants_held { "all held" } else { "BROKEN" });
    for b in &r.broken_invariants {
        println!("  broken: {b}");
    }
}

/// The created restore points × target regions with no copy record, or whose record ended
/// failed/expired/rejected without its alert (`known` maps (lower-cased restore point id,
/// region) to (state, alert recorded)); only a copy ferry made itself may end quietly.
fn lost_requests(
    created: &[String],
    known: &BTreeMap<(String, String), (CopyState, bool)>,
    own_copies: &BTreeSet<String>,
) -> Vec<String> {
    let mut lost = Vec::new();
    for id in created {
        let rp = id.to_ascii_lowercase();
        for region in TARGET_REGIONS {
            match known.get(&(rp.clone(), region.to_string())) {
                None => lost.push(format!("{id} → {region}")),
                Some((state, false)) if !own_copies.contains(&rp) => lost.push(format!(
                    "{id} → {region} ({} without its alert)",
                    state.as_str()
                )),
                Some(_) => {}
            }
        }
    }
    lost
}

/// (duplicates, absorbed resends) among the sends of each message id: a repeat within
/// `window` of the id's last accepted send is absorbed by duplicate detection (which keeps
/// the first send's time, as Service Bus does); any later repeat reaches subscribers again.
fn duplicate_sends(sent: &[(String, OffsetDateTime)], window: time::Duration) -> (usize, usize) {
    let mut first_kept: BTreeMap<&str, OffsetDateTime> = BTreeMap::new();
    let (mut duplicates, mut absorbed) = (0, 0);
    for (id, at) in sent {
        match first_kept.get(id.as_str()) {
            Some(kept) if *at < *kept + window => absorbed += 1,
            Some(_) => {
                duplicates += 1;
                first_kept.insert(id, *at);
            }
            None => {
                first_kept.insert(id, *at);
            }
        }
    }
    (duplicates, absorbed)
}

#[cfg(test)]
mod tests {
    use super::{duplicate_sends, lost_requests, CopyState, TARGET_REGIONS};
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn a_terminal_record_without_its_alert_is_lost() {
        let rp = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/rp1".to_string();
        let key = rp.to_ascii_lowercase();
        let with = |state, alerted| -> BTreeMap<(String, String), (CopyState, bool)> {
            TARGET_REGIONS
                .iter()
                .map(|r| ((key.clone(), r.to_string()), (state, alerted)))
                .collect()
        };
        let none = BTreeSet::new();
        let created = [rp.clone()];
        assert_eq!(
            lost_requests(&created, &BTreeMap::new(), &none).len(),
            TARGET_REGIONS.len()
        );
        assert!(lost_requests(&created, &with(CopyState::Succeeded, true), &none).is_empty());
        assert!(lost_requests(&created, &with(CopyState::Rejected, true), &none).is_empty());
        let lost = lost_requests(&created, &with(CopyState::Rejected, false), &none);
        assert_eq!(lost.len(), TARGET_REGIONS.len());
        assert!(lost[0].contains("Rejected without its alert"), "{lost:?}");
        assert_eq!(
            lost_requests(&created, &with(CopyState::Failed, false), &none).len(),
            TARGET_REGIONS.len()
        );
        // A copy ferry made itself, rejected quietly as a copy of a copy: not lost.
        let own = BTreeSet::from([key.clone()]);
        assert!(lost_requests(&created, &with(CopyState::Rejected, false), &own).is_empty());
    }
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn repeats_inside_the_window_are_absorbed_later_ones_are_duplicates() {
        let t = datetime!(2026-11-01 00:00 UTC);
        let w = Duration::minutes(10);
        let s = |id: &str, min: i64| (id.to_string(), t + Duration::minutes(min));
        assert_eq!(duplicate_sends(&[], w), (0, 0));
        assert_eq!(duplicate_sends(&[s("a", 0), s("b", 0)], w), (0, 0));
        assert_eq!(duplicate_sends(&[s("a", 0), s("a", 9)], w), (0, 1));
        assert_eq!(duplicate_sends(&[s("a", 0), s("a", 10)], w), (1, 0));
        // The window runs from the kept send, not from each repeat.
        assert_eq!(
            duplicate_sends(&[s("a", 0), s("a", 5), s("a", 9), s("a", 12)], w),
            (1, 2)
        );
    }
}
