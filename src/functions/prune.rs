//! Source pruning, run by the poller for a rule with `pruneSource`: once per source
//! collection (from the chain of the rule's first target) and only after a copy succeeded
//! since the last look. The decision is [`rules::pruning::decide`]; this gathers what it
//! needs — the copy records of every chain of the collection (the ledger) and, only when
//! the ledger shows something to prune, the source collection's restore points (one ARM
//! read, for the collection's real first restore point) — then deletes and records.

use std::collections::{BTreeMap, BTreeSet};

use super::chain::{self, commit, load_chain, replace_chain};
use super::{App, FnError, Outcome};
use crate::ledger::records::{chain_key, Chain, CopyState};
use crate::policy::Rule;
use crate::rules::pruning::{self, SourcePoint};
use time::OffsetDateTime;

/// Whether this chain prunes its source collection now (from the chain row alone).
pub(crate) fn due(chain: &Chain, rule: &Rule) -> bool {
    rule.prune_source.is_some()
        && rule
            .targets
            .first()
            .is_some_and(|t| t.region == chain.target_region)
        && chain
            .last_success_at
            .is_some_and(|t| chain.upkeep.pruned_at.is_none_or(|p| t > p))
}

/// Per source restore point (lower-cased name): its creation time, whether its copy
/// succeeded in every region, and whether a copy of it is under way somewhere.
type Seen = BTreeMap<String, (OffsetDateTime, usize, bool)>;

pub(crate) async fn run(
    app: &App,
    rule: &Rule,
    key: &str,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let Some(keep_latest) = rule.prune_source else {
        return Ok(());
    };
    let Some(mut chain) = load_chain(app, key).await? else {
        return Ok(());
    };
    let regions = rule.targets.len();
    let mut seen: Seen = BTreeMap::new();
    let mut bases = BTreeSet::new();
    for t in &rule.targets {
        let k = chain_key(&chain.source_collection, &t.region);
        let other = if k == chain.key {
            Some(chain.clone())
        } else {
            load_chain(app, &k).await?
        };
        if let Some(b) = other.and_then(|c| c.base_restore_point) {
            bases.insert(b.to_ascii_lowercase());
        }
        for c in chain::copies(app, &k, None).await? {
            let e = seen
                .entry(c.source_restore_point.name.to_ascii_lowercase())
                .or_insert((c.source_time, 0, false));
            match c.state {
                CopyState::Succeeded => e.1 += 1,
                CopyState::Pending
                | CopyState::Starting
                | CopyState::InFlight
                | CopyState::Restarting => e.2 = true,
                _ => {}
            }
        }
    }
    let point = |name: &str, created| {
        let s = seen.get(&name.to_ascii_lowercase());
        SourcePoint {
            name: name.to_string(),
            created,
            copied_everywhere: s.is_some_and(|s| s.1 >= regions),
            copy_in_progress: s.is_some_and(|s| s.2),
        }
    };
    // What the ledger alone allows; only then is the collection read.
    let known: Vec<SourcePoint> = seen.iter().map(|(n, s)| point(n, s.0)).collect();
    let mut delete = Vec::new();
    if !pruning::decide(&known, &bases, keep_latest, pruning::PRUNES_PER_TICK).is_empty() {
        if let Some(coll) = app
            .arm
            .get_collection(&chain.source_collection, true)
            .await?
        {
            let listed: Vec<SourcePoint> = coll
                .restore_points()
                .iter()
                .filter(|rp| !rp.is_copy())
                .filter(|rp| {
                    !rp.provisioning_state()
                        .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"))
                })
                .filter_map(|rp| Some(point(rp.name.as_deref()?, rp.time_created()?)))
                .collect();
            delete = pruning::decide(&listed, &bases, keep_latest, pruning::PRUNES_PER_TICK);
        }
    }
    let mut pruned = 0;
    for name in &delete {
        let id = chain.source_collection.restore_point(name);
        match app.arm.delete_restore_point(&id).await {
            Ok(_) => pruned += 1,
            Err(e) => {
                out.log(format!(
                    "pruning: {}; looked at again after the next copy",
                    crate::arm::locks::delete_failure(&id, &e)
                ));
                break;
            }
        }
    }
    // A full budget may leave more: look again next tick.
    if pruned < pruning::PRUNES_PER_TICK {
        chain.upkeep.pruned_at = Some(now);
    }
    chain.upkeep.pruned += pruned as u32;
    if commit(app, &chain, vec![replace_chain(&chain)?]).await? && pruned > 0 {
        out.log(format!(
            "pruned {pruned} source restore point(s) of {} (copied to every target)",
            chain.source_collection
        ));
    }
    Ok(())
}
