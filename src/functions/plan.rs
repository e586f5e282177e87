//! `ferry plan <scope>`: what the pipeline would do with the estate as it is, read from ARM
//! with the product's own rules: for each restore point collection in scope, the rule and
//! chains it gets, the target collections (found, to create, or in the way), and the
//! verdict of [`crate::rules::eligibility`] on the restore point onboarding would copy
//! first (confidential VMs, private-link disks and missing key mappings are rejected there).
//!
//! ARM reads, counted in the answer: one per page of the scope's collection list (50 a
//! page), one list per target resource group, and, per collection a rule covers, its GET
//! with `$expand=restorePoints` plus, when onboarding would copy something, that restore
//! point's GET and its disk restore point list (the same reads the sequencer makes).

use super::chain::{discovery_floor, source_facts};
use super::reads::Reads;
use super::{App, FnError};
use crate::arm::model::RestorePointCollection;
use crate::ids::CollectionId;
use crate::policy::{Onboarding, Rule};
use crate::rules::{self, CatchUp, Eligibility};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What `ferry plan` was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Subscription(String),
    ResourceGroup(String, String),
    Collection(CollectionId),
}

impl Scope {
    /// `/subscriptions/{id}`, `/subscriptions/{id}/resourceGroups/{rg}`, or a restore point
    /// collection id.
    pub fn parse(s: &str) -> Result<Scope, String> {
        let s = s.trim().trim_end_matches('/');
        if let Ok(c) = s.parse::<CollectionId>() {
            return Ok(Scope::Collection(c));
        }
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| crate::ids::valid_segment(p);
        match parts.as_slice() {
            ["", sub, id] if sub.eq_ignore_ascii_case("subscriptions") && ok(id) => {
                Ok(Scope::Subscription(id.to_string()))
            }
            ["", sub, id, rgs, rg]
                if sub.eq_ignore_ascii_case("subscriptions")
                    && rgs.eq_ignore_ascii_case("resourceGroups")
                    && ok(id)
                    && ok(rg) =>
            {
                Ok(Scope::ResourceGroup(id.to_string(), rg.to_string()))
            }
            _ => Err(format!(
                "scope {s:?}: expected /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name> or a restore point collection id"
            )),
        }
    }

    fn path(&self) -> String {
        match self {
            Scope::Subscription(s) => format!("/subscriptions/{s}"),
            Scope::ResourceGroup(s, rg) => format!("/subscriptions/{s}/resourceGroups/{rg}"),
            Scope::Collection(c) => c.to_id_string(),
        }
    }
}

/// Progress while listing: (collections listed, collections examined, of how many).
pub trait PlanProgress {
    fn listed(&self, n: usize);
    fn examined(&self, done: usize, of: usize);
}

/// The plan, as JSON. `arm_reads` in it counts every ARM request made.
pub async fn plan(
    app: &App,
    scope: &Scope,
    now: OffsetDateTime,
    progress: &dyn PlanProgress,
) -> Result<Value, FnError> {
    let mut reads_n = 0usize;
    let mut reads = Reads::default();
    // 1. The collections in scope.
    let listed: Vec<RestorePointCollection> = match scope {
        Scope::Collection(c) => {
            reads_n += 1;
            let got = reads.collection(app, c).await?;
            got.into_iter().collect()
        }
        _ => {
            let mut pages = 0;
            let all = app
                .arm
                .list_collections(&scope.path(), |n| {
                    pages += 1;
                    progress.listed(n);
                })
                .await?;
            reads_n += pages;
            all
        }
    };
    // Copies made by ferry (or by hand) are collections too: only sources are planned.
    let mut sources: Vec<(CollectionId, RestorePointCollection)> = listed
        .into_iter()
        .filter_map(|c| {
            let id = c.id.as_deref()?.parse::<CollectionId>().ok()?;
            let from_vm = c
                .source_id()
                .is_some_and(|s| s.to_ascii_lowercase().contains("/virtualmachines/"));
            from_vm.then_some((id, c))
        })
        .collect();
    sources.sort_by_key(|(id, _)| id.key());

    // 2. Which rule covers each, and the target resource groups to look in.
    let covered: Vec<(usize, &Rule)> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, (id, c))| {
            let tags = c.tags.clone().unwrap_or_default();
            app.policy.rule_for(id, Some(&tags)).map(|r| (i, r))
        })
        .collect();
    let mut target_groups: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, rule) in &covered {
        for t in &rule.targets {
            if let Ok(tc) = t.collection_for(&sources[*i].0) {
                target_groups.insert((
                    tc.subscription.to_ascii_lowercase(),
                    tc.resource_group.to_ascii_lowercase(),
                ));
            }
        }
    }
    // 3. What already exists on the target side: one list per target resource group.
    let mut existing: BTreeMap<String, RestorePointCollection> = BTreeMap::new();
    for (sub, rg) in &target_groups {
        let mut pages = 0;
        let found = app
            .arm
            .list_collections(&format!("/subscriptions/{sub}/resourceGroups/{rg}"), |_| {
                pages += 1
            })
            .await?;
        reads_n += pages.max(1);
        for c in found {
            if let Some(id) = c.id.as_deref() {
                existing.insert(id.to_ascii_lowercase(), c);
            }
        }
    }

    // 4. Per collection: its chains and what onboarding would copy first.
    let mut out = Vec::new();
    let rule_of: BTreeMap<usize, &Rule> = covered.iter().copied().collect();
    let total = covered.len();
    let mut done = 0;
    for (i, (id, listed)) in sources.iter().enumerate() {
        let Some(rule) = rule_of.get(&i) else {
            out.push(json!({
                "collection": id.to_string(),
                "name": id.name,
                "location": listed.location,
                "rule": Value::Null,
                "chains": [],
                "note": "no rule of the policy covers it: its restore points are not copied",
            }));
            continue;
        };
        let before = reads_n;
        let full = if matches!(scope, Scope::Collection(_)) {
            Some(listed.clone())
        } else {
            reads_n += 1;
            reads.collection(app, id).await?
        };
        let rps: Vec<_> = full
            .as_ref()
            .map(|c| c.restore_points().to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter(|rp| !rp.is_copy())
            .collect();
        // A chain created now: what discovery would count as its backlog.
        let floor = discovery_floor(
            None,
            now,
            rule.onboarding,
            rps.iter().filter_map(|rp| rp.time_created()),
        );
        let mut backlog: Vec<(OffsetDateTime, String)> = rps
            .iter()
            .filter_map(|rp| Some((rp.time_created()?, rp.name.clone()?)))
            .filter(|(t, _)| *t > floor)
            .collect();
        backlog.sort();
        // In order (`all`) the oldest goes first; `latest` skips to the newest; `auto`
        // starts in order and skips only when the backlog would miss the objective.
        let first = match rule.catch_up {
            CatchUp::Latest => backlog.last(),
            CatchUp::All | CatchUp::Auto => backlog.first(),
        }
        .cloned();
        let facts = match &first {
            Some((_, name)) => {
                let rp_id = id.restore_point(name);
                reads_n += 1;
                match reads.source(app, &rp_id).await? {
                    Some((rp, disks)) => {
                        reads_n += usize::from(!rp.is_copy());
                        Some(source_facts(&rp, &disks))
                    }
                    None => None,
                }
            }
            None => None,
        };
        let chains: Vec<Value> = rule
            .targets
            .iter()
            .map(|t| {
                let target = t.collection_for(id);
                let target_state = match &target {
                    Err(e) => json!({"state": "invalid", "detail": e}),
                    Ok(tc) => match existing.get(&tc.key()) {
                        Some(c) => match rules::target_collection_fits(
                            &tc.to_string(),
                            c.source_id(),
                            c.location.as_deref(),
                            &id.key(),
                            &t.region,
                        ) {
                            Ok(()) => json!({"state": "exists"}),
                            Err(r) => json!({"state": "conflict", "detail": r.to_string()}),
                        },
                        None if rule.create_target_collections => json!({"state": "create"}),
                        None => json!({"state": "missing", "detail": "createTargetCollections is off: copies are rejected (TargetCollectionMissing) until it is created"}),
                    },
                };
                let verdict = match (&first, &facts) {
                    (None, _) => json!({"verdict": "nothing yet", "detail": match rule.onboarding {
                        Onboarding::Latest => "the collection has no restore point: the next one made is the first copy",
                        Onboarding::None => "onboarding: none: only restore points made from now on (and in the last day) are copied",
                    }}),
                    (Some((_, name)), None) => json!({"restorePoint": name, "verdict": "gone", "detail": "it was deleted while the plan was read"}),
                    (Some((t0, name)), Some(f)) => match rules::eligibility(f, &t.rules(rule), None) {
                        Eligibility::Eligible { encryption, .. } => json!({
                            "restorePoint": name, "timeCreated": t0.format(&Rfc3339).ok(),
                            "verdict": "copy", "encryption": encryption,
                        }),
                        Eligibility::Defer(d) => json!({"restorePoint": name, "verdict": "wait", "detail": d.to_string()}),
                        Eligibility::Reject(r) => json!({
                            "restorePoint": name, "verdict": "reject", "code": r.code(), "detail": r.to_string(),
                        }),
                    },
                };
                json!({
                    "targetRegion": t.region,
                    "chain": crate::ledger::records::chain_key(id, &t.region),
                    "targetCollection": target.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                    "target": target_state,
                    "firstCopy": verdict,
                })
            })
            .collect();
        out.push(json!({
            "collection": id.to_string(),
            "name": id.name,
            "location": listed.location,
            "sourceVm": listed.source_id(),
            "rule": {"scope": rule.scope, "tag": rule.tag.as_ref().map(|(n, v)| json!({"name": n, "value": v})),
                     "catchUp": rule.catch_up.as_str(), "onboarding": format!("{:?}", rule.onboarding).to_ascii_lowercase(),
                     "rpoObjectiveHours": rule.rpo_objective.whole_hours()},
            "backlog": backlog.len(),
            "chains": chains,
            "armReads": reads_n - before,
        }));
        done += 1;
        progress.examined(done, total);
    }
    Ok(summarize(scope, out, reads_n))
}

/// The plan with its totals: what will be created, what is missing, what is rejected.
fn summarize(scope: &Scope, collections: Vec<Value>, reads: usize) -> Value {
    let mut create = Vec::new();
    let mut missing_keys = Vec::new();
    let mut rejected = Vec::new();
    let mut chains = 0;
    for c in &collections {
        for ch in c["chains"].as_array().into_iter().flatten() {
            chains += 1;
            if ch["target"]["state"] == "create" {
                create.push(ch["targetCollection"].clone());
            }
            if ch["firstCopy"]["verdict"] == "reject" {
                let item = json!({"collection": c["collection"], "targetRegion": ch["targetRegion"],
                                  "code": ch["firstCopy"]["code"], "detail": ch["firstCopy"]["detail"]});
                if ch["firstCopy"]["code"] == "MissingDiskEncryptionSet" {
                    missing_keys.push(item);
                } else {
                    rejected.push(item);
                }
            }
        }
    }
    json!({
        "scope": scope.path(),
        "collections": collections.len(),
        "covered": collections.iter().filter(|c| !c["rule"].is_null()).count(),
        "chains": chains,
        "targetCollectionsToCreate": create,
        "missingKeyMappings": missing_keys,
        "rejected": rejected,
        "armReads": reads,
        "plan": collections,
    })
}
