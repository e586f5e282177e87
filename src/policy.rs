//! The copy policy (`FERRY_POLICY`): which source collections are copied to which regions,
//! and how. Parsed and validated once at start; every problem is reported, not just the first.
//!
//! ```json
//! {"rules":[{"scope":"/subscriptions/…/resourceGroups/rg-app",
//!            "tag":{"name":"dr","value":"copy"},
//!            "targets":[{"region":"westus2","resourceGroup":"rg-dr",
//!                        "collectionName":"{resourceGroup}-{source}-{region}",
//!                        "diskEncryptionSets":{"<source DES id>":"<target DES id>"}}],
//!            "createTargetCollections":true,"maxCopyDuration":"P14D",
//!            "rpoObjective":"PT36H","minConsistency":"CrashConsistent",
//!            "catchUp":"auto","restartFailed":2,"restartStalledAfter":"PT6H",
//!            "onboarding":"latest"}]}
//! ```

use crate::ids::{normalize_region, valid_segment, CollectionId, DiskEncryptionSetId};
use crate::rules::{CatchUp, Consistency, TargetRules, PLATFORM_MAX_COPY};
use serde::Deserialize;
use std::collections::BTreeMap;
use time::Duration;

/// Default RPO objective: daily restore points plus a half-day of copy time.
pub const DEFAULT_RPO: Duration = Duration::hours(36);
/// Includes the source's resource group: with one DR resource group for a whole
/// subscription, `rg-app/rpc-vm1` and `rg-other/rpc-vm1` must not share a target.
pub const DEFAULT_COLLECTION_NAME: &str = "{resourceGroup}-{source}-{region}";
/// Azure's limit on a restore point collection's name.
pub const MAX_COLLECTION_NAME: usize = 80;
/// Restarts of a failed or stalled copy before it is given up (`restartFailed`).
pub const DEFAULT_RESTART_FAILED: u32 = 2;
/// The least time without progress before a copy counts as stalled and is restarted
/// (`restartStalledAfter`); a chain whose copies are slower waits longer (see
/// `rules::stall_limit`).
pub const DEFAULT_RESTART_STALLED_AFTER: Duration = Duration::hours(6);
/// Upper bound on `restartFailed`: each restart deletes and copies again, and a copy that
/// fails this often needs a person.
pub const MAX_RESTART_FAILED: u32 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Lower-cased ARM id prefix of the source collections this rule covers.
    pub scope: String,
    pub tag: Option<(String, String)>,
    pub targets: Vec<Target>,
    pub create_target_collections: bool,
    pub max_copy_duration: Duration,
    pub rpo_objective: Duration,
    pub min_consistency: Consistency,
    /// Which waiting restore point a free chain copies next.
    pub catch_up: CatchUp,
    /// How often a failed or stalled copy is deleted and made again before it is given up.
    pub restart_failed: u32,
    /// The least time without progress before a copy counts as stalled.
    pub restart_stalled_after: Duration,
    /// What a chain copies of the restore points that existed when ferry first met it.
    pub onboarding: Onboarding,
    /// Restore drills of this rule's chains (`drill`); none when absent.
    pub drill: Option<crate::rules::drill::DrillPolicy>,
    /// `pruneSource.keepLatest`: delete source restore points copied to every target,
    /// keeping this many newest (and always the base); `None`: never (see `rules::pruning`).
    pub prune_source: Option<u32>,
    /// `protectBase`: a `CanNotDelete` lock on each chain's base (see `rules::base_lock`).
    pub protect_base: bool,
}

/// `onboarding`: what a new chain does with the restore points its collection already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Onboarding {
    /// Also copy the newest of them, however old (coverage from day one); the older ones
    /// are history, not backlog.
    #[default]
    Latest,
    /// Only those of the last day (whose events may be late), like any new chain.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub region: String,
    pub resource_group: Option<String>,
    pub collection_name: String,
    /// Lower-cased source DES id → target DES id.
    pub disk_encryption_sets: BTreeMap<String, String>,
    /// Which copies the target collection keeps (`retention`; see `rules::retention`).
    pub retention: crate::rules::retention::Retention,
}

/// Everything wrong with a policy document, one line per problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("FERRY_POLICY is invalid:\n  - {}", .0.join("\n  - "))]
pub struct PolicyError(pub Vec<String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    scope: String,
    tag: Option<RawTag>,
    targets: Vec<RawTarget>,
    create_target_collections: Option<bool>,
    max_copy_duration: Option<String>,
    rpo_objective: Option<String>,
    min_consistency: Option<String>,
    catch_up: Option<String>,
    restart_failed: Option<u32>,
    restart_stalled_after: Option<String>,
    onboarding: Option<String>,
    drill: Option<serde_json::Value>,
    prune_source: Option<serde_json::Value>,
    protect_base: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTarget {
    region: String,
    resource_group: Option<String>,
    collection_name: Option<String>,
    disk_encryption_sets: Option<BTreeMap<String, String>>,
    retention: Option<serde_json::Value>,
}

/// Parses an ISO 8601 duration of days, hours, minutes, seconds or weeks (`P14D`, `PT36H`).
/// Years and months are refused: their length is ambiguous.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let charset_ok = t.starts_with('P')
        && t.len() > 1
        && t[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || "YMWDTHS.".contains(c));
    let parsed = if charset_ok {
        iso8601::duration(t).ok()
    } else {
        None
    };
    match parsed {
        Some(iso8601::Duration::Weeks(w)) => Ok(Duration::weeks(w as i64)),
        Some(iso8601::Duration::YMDHMS {
            year: 0,
            month: 0,
            day,
            hour,
            minute,
            second,
            millisecond,
        }) => {
            let d = Duration::days(day as i64)
                + Duration::hours(hour as i64)
                + Duration::minutes(minute as i64)
                + Duration::seconds(second as i64)
                + Duration::milliseconds(millisecond as i64);
            // The parser accepts trailing garbage; make sure the text said what we read.
            if d.is_zero() && t.chars().any(|c| c.is_ascii_digit() && c != '0') {
                return Err(format!("{s:?} is not an ISO 8601 duration"));
            }
            Ok(d)
        }
        Some(_) => Err(format!(
            "{s:?}: years and months are ambiguous; use days (P30D)"
        )),
        None => Err(format!(
            "{s:?} is not an ISO 8601 duration such as P14D or PT36H"
        )),
    }
}

impl Policy {
    /// Parses the policy JSON text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = serde_json::from_str(text)
            .map_err(|e| PolicyError(vec![format!("not valid policy JSON: {e}")]))?;
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        if raw.rules.is_empty() {
            problems.push("rules: at least one rule is needed".to_string());
        }
        for (i, r) in raw.rules.into_iter().enumerate() {
            let at = format!("rules[{i}]");
            let scope = r.scope.trim().trim_end_matches('/').to_ascii_lowercase();
            if !scope.starts_with("/subscriptions/")
                || scope.split('/').skip(1).any(|s| !valid_segment(s))
            {
                problems.push(format!("{at}.scope: {:?} is not an ARM id prefix like /subscriptions/<id>[/resourceGroups/<rg>]", r.scope));
            }
            let mut dur = |field: &str, v: Option<String>, default: Duration| match v {
                None => default,
                Some(s) => match parse_duration(&s) {
                    Ok(d) if d.is_positive() => d,
                    Ok(_) => {
                        problems.push(format!("{at}.{field}: must be positive"));
                        default
                    }
                    Err(e) => {
                        problems.push(format!("{at}.{field}: {e}"));
                        default
                    }
                },
            };
            let max_copy_duration = dur("maxCopyDuration", r.max_copy_duration, PLATFORM_MAX_COPY);
            let rpo_objective = dur("rpoObjective", r.rpo_objective, DEFAULT_RPO);
            let restart_stalled_after = dur(
                "restartStalledAfter",
                r.restart_stalled_after,
                DEFAULT_RESTART_STALLED_AFTER,
            );
            if restart_stalled_after < crate::rules::POLL_INTERVAL * 3 {
                problems.push(format!("{at}.restartStalledAfter: at least PT30M (progress is published only every 10 minutes)"));
            }
            let catch_up = match r.catch_up {
                None => CatchUp::default(),
                Some(s) => CatchUp::parse(&s).unwrap_or_else(|| {
                    problems.push(format!("{at}.catchUp: {s:?} is not all, latest or auto"));
                    CatchUp::default()
                }),
            };
            let onboarding = match r.onboarding.as_deref().map(str::to_ascii_lowercase) {
                None => Onboarding::default(),
                Some(o) if o == "latest" => Onboarding::Latest,
                Some(o) if o == "none" => Onboarding::None,
                Some(o) => {
                    problems.push(format!("{at}.onboarding: {o:?} is not latest or none"));
                    Onboarding::default()
                }
            };
            let restart_failed = r.restart_failed.unwrap_or(DEFAULT_RESTART_FAILED);
            if restart_failed > MAX_RESTART_FAILED {
                problems.push(format!("{at}.restartFailed: at most {MAX_RESTART_FAILED}"));
            }
            if max_copy_duration > PLATFORM_MAX_COPY {
                problems.push(format!("{at}.maxCopyDuration: at most P14D (the platform terminates copies after two weeks)"));
            }
            let min_consistency = match r.min_consistency {
                None => Consistency::CrashConsistent,
                Some(s) => Consistency::parse(&s).unwrap_or_else(|| {
                    problems.push(format!("{at}.minConsistency: {s:?} is not CrashConsistent, FileSystemConsistent or ApplicationConsistent"));
                    Consistency::CrashConsistent
                }),
            };
            if r.targets.is_empty() {
                problems.push(format!("{at}.targets: at least one target is needed"));
            }
            let mut targets = Vec::new();
            let mut regions = std::collections::BTreeSet::new();
            for (j, t) in r.targets.into_iter().enumerate() {
                let tat = format!("{at}.targets[{j}]");
                let Some(region) = normalize_region(&t.region) else {
                    problems.push(format!(
                        "{tat}.region: {:?} is not an Azure region name",
                        t.region
                    ));
                    continue;
                };
                if !regions.insert(region.clone()) {
                    problems.push(format!("{tat}.region: {region} appears twice in one rule"));
                }
                if let Some(rg) = &t.resource_group {
                    if !valid_segment(rg) {
                        problems.push(format!(
                            "{tat}.resourceGroup: {rg:?} is not a valid resource group name"
                        ));
                    }
                }
                let collection_name = t
                    .collection_name
                    .unwrap_or_else(|| DEFAULT_COLLECTION_NAME.to_string());
                let probe = expand_name(&collection_name, "source", &region, "rg");
                if !valid_segment(&probe) {
                    problems.push(format!("{tat}.collectionName: {collection_name:?} does not make a valid collection name (placeholders: {{source}}, {{region}}, {{resourceGroup}})"));
                }
                let mut des = BTreeMap::new();
                for (src, dst) in t.disk_encryption_sets.unwrap_or_default() {
                    if src.parse::<DiskEncryptionSetId>().is_err() {
                        problems.push(format!(
                            "{tat}.diskEncryptionSets: key {src:?} is not a disk encryption set id"
                        ));
                    }
                    if dst.parse::<DiskEncryptionSetId>().is_err() {
                        problems.push(format!("{tat}.diskEncryptionSets: value {dst:?} is not a disk encryption set id"));
                    }
                    des.insert(src.to_ascii_lowercase(), dst);
                }
                let retention = crate::rules::retention::parse(t.retention.as_ref())
                    .unwrap_or_else(|e| {
                        problems.push(format!("{tat}.{e}"));
                        Default::default()
                    });
                targets.push(Target {
                    region,
                    resource_group: t.resource_group,
                    collection_name,
                    disk_encryption_sets: des,
                    retention,
                });
            }
            let tag = r.tag.map(|t| (t.name, t.value));
            if let Some((n, _)) = &tag {
                if n.is_empty() {
                    problems.push(format!("{at}.tag.name: must not be empty"));
                }
            }
            let drill = r.drill.as_ref().and_then(|v| {
                crate::rules::drill::DrillPolicy::from_json(v)
                    .map_err(|e| problems.extend(e.into_iter().map(|m| format!("{at}.{m}"))))
                    .ok()
            });
            let prune_source = crate::rules::pruning::parse(r.prune_source.as_ref())
                .unwrap_or_else(|e| {
                    problems.push(format!("{at}.{e}"));
                    None
                });
            let protect_base = crate::rules::base_lock::parse(r.protect_base.as_ref())
                .unwrap_or_else(|e| {
                    problems.push(format!("{at}.{e}"));
                    false
                });
            rules.push(Rule {
                protect_base,
                prune_source,
                scope,
                tag,
                targets,
                create_target_collections: r.create_target_collections.unwrap_or(true),
                max_copy_duration,
                rpo_objective,
                min_consistency,
                catch_up,
                restart_failed,
                restart_stalled_after,
                onboarding,
                drill,
            });
        }
        if problems.is_empty() {
            problems.extend(collisions(&rules));
        }
        if problems.is_empty() {
            Ok(Policy { rules })
        } else {
            Err(PolicyError(problems))
        }
    }

    /// Rules whose scope covers the collection (tags not yet considered), in order.
    pub fn candidates<'a>(
        &'a self,
        collection: &CollectionId,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let key = collection.key();
        self.rules.iter().filter(move |r| in_scope(&r.scope, &key))
    }

    /// The first rule that covers the collection, given its tags (`None` = tags unknown:
    /// only rules without a tag condition match).
    pub fn rule_for(
        &self,
        collection: &CollectionId,
        tags: Option<&BTreeMap<String, String>>,
    ) -> Option<&Rule> {
        self.candidates(collection).find(|r| match (&r.tag, tags) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((n, v)), Some(tags)) => tags
                .iter()
                .any(|(k, val)| k.eq_ignore_ascii_case(n) && val == v),
        })
    }

    /// Whether any candidate rule needs the collection's tags to decide.
    pub fn needs_tags(&self, collection: &CollectionId) -> bool {
        self.candidates(collection).any(|r| r.tag.is_some())
    }

    /// The rule and target that cover `collection` → `region`, ignoring tags.
    pub fn find_target<'a>(
        &'a self,
        collection: &CollectionId,
        region: &str,
    ) -> Option<(&'a Rule, &'a Target)> {
        self.candidates(collection)
            .flat_map(|r| r.targets.iter().map(move |t| (r, t)))
            .find(|(_, t)| t.region == region)
    }
}

fn in_scope(scope: &str, key: &str) -> bool {
    key == scope || (key.starts_with(scope) && key.as_bytes().get(scope.len()) == Some(&b'/'))
}

fn expand_name(template: &str, source: &str, region: &str, rg: &str) -> String {
    template
        .replace("{source}", source)
        .replace("{region}", region)
        .replace("{resourceGroup}", rg)
}

/// Whether a scope (lower-cased) is confined to one resource group or less.
fn scope_in_one_resource_group(scope: &str) -> bool {
    scope.split('/').nth(3) == Some("resourcegroups") && scope.split('/').nth(4).is_some()
}

/// Templates that can map two different source collections to one target collection.
/// Structural only: two sources of one rule must differ in what the template keeps, and two
/// rules sending to the same fixed resource group and region must use one template that
/// keeps the resource group. What structure cannot see (`a-b` + `c` vs `a` + `b-c`) the
/// runtime check of an existing collection's `source.id` catches.
fn collisions(rules: &[Rule]) -> Vec<String> {
    let mut problems = Vec::new();
    let has = |t: &Target, p: &str| t.collection_name.contains(p);
    for (i, r) in rules.iter().enumerate() {
        for (j, t) in r.targets.iter().enumerate() {
            let at = format!("rules[{i}].targets[{j}].collectionName");
            if !has(t, "{source}") {
                problems.push(format!("{at}: {:?} has no {{source}}: every collection in the scope would share one target collection", t.collection_name));
            }
            if r.targets.len() > 1 && !has(t, "{region}") {
                problems.push(format!("{at}: {:?} has no {{region}} but the rule copies to {} regions: their chains would share one target collection", t.collection_name, r.targets.len()));
            }
            if t.resource_group.is_some()
                && !has(t, "{resourceGroup}")
                && !scope_in_one_resource_group(&r.scope)
            {
                problems.push(format!("{at}: {:?} has no {{resourceGroup}} but sends a scope of several resource groups to one resource group: rg-a/x and rg-b/x would share a target collection", t.collection_name));
            }
        }
    }
    // Across rules: same fixed resource group and region.
    for (i, a) in rules.iter().enumerate() {
        for (k, b) in rules.iter().enumerate().skip(i + 1) {
            for ta in &a.targets {
                for tb in &b.targets {
                    let same_place = ta.region == tb.region
                        && matches!((&ta.resource_group, &tb.resource_group), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y));
                    let safe = ta.collection_name == tb.collection_name
                        && has(ta, "{resourceGroup}")
                        && has(ta, "{source}");
                    if same_place && !safe && a.scope != b.scope {
                        problems.push(format!("rules[{i}] and rules[{k}] both copy to resource group {} in {} with templates {:?} and {:?} that can name two sources alike: use one template with {{resourceGroup}} and {{source}}", ta.resource_group.as_deref().unwrap_or_default(), ta.region, ta.collection_name, tb.collection_name));
                    }
                }
            }
        }
    }
    problems
}

/// Fits an expanded name into Azure's 80 characters: a longer one keeps its first 71
/// characters and ends in 8 hex digits of a hash of the source collection id and region,
/// so two long names that share a prefix still differ.
fn fit_name(name: String, source: &CollectionId, region: &str) -> String {
    if name.len() <= MAX_COLLECTION_NAME {
        return name;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}|{region}", source.key()).as_bytes());
    let mut cut = MAX_COLLECTION_NAME - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = name[..cut].trim_end_matches(['-', '.', '_']);
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{hex}")
}

impl Target {
    /// The target collection for a source collection: same subscription, the target's
    /// resource group (default: the source's), the expanded name template.
    pub fn collection_for(&self, source: &CollectionId) -> Result<CollectionId, String> {
        let name = fit_name(
            expand_name(
                &self.collection_name,
                &source.name,
                &self.region,
                &source.resource_group,
            ),
            source,
            &self.region,
        );
        if !valid_segment(&name) {
            return Err(format!(
                "collection name {name:?} from template {:?} is not valid",
                self.collection_name
            ));
        }
        Ok(CollectionId {
            subscription: source.subscription.clone(),
            resource_group: self
                .resource_group
                .clone()
                .unwrap_or_else(|| source.resource_group.clone()),
            name,
        })
    }

    pub fn rules(&self, rule: &Rule) -> TargetRules {
        TargetRules {
            disk_encryption_sets: self.disk_encryption_sets.clone(),
            min_consistency: Some(rule.min_consistency),
            catch_up: rule.catch_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";

    fn coll(rg: &str, name: &str) -> CollectionId {
        format!(
            "{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}"
        )
        .parse()
        .unwrap()
    }

    #[test]
    fn catch_up_and_restarts() {
        let text = |extra: &str| {
            format!(
                r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2"}}]{extra}}}]}}"#
            )
        };
        let p = Policy::parse(&text("")).unwrap();
        let r = &p.rules[0];
        assert_eq!(r.catch_up, CatchUp::Auto);
        assert_eq!(r.restart_failed, DEFAULT_RESTART_FAILED);
        assert_eq!(r.restart_stalled_after, DEFAULT_RESTART_STALLED_AFTER);
        let p = Policy::parse(&text(
            r#","catchUp":"all","restartFailed":0,"restartStalledAfter":"PT2H""#,
        ))
        .unwrap();
        let r = &p.rules[0];
        assert_eq!(
            (r.catch_up, r.restart_failed, r.restart_stalled_after),
            (CatchUp::All, 0, Duration::hours(2))
        );
        let e = Policy::parse(&text(
            r#","catchUp":"newest","restartFailed":11,"restartStalledAfter":"PT10M""#,
        ))
        .unwrap_err();
        let all = e.to_string();
        assert!(
            all.contains("catchUp: \"newest\" is not all, latest or auto"),
            "{all}"
        );
        assert!(all.contains("restartFailed: at most 10"), "{all}");
        assert!(all.contains("restartStalledAfter: at least PT30M"), "{all}");
        assert!(Policy::parse(&text(r#","restartFailed":-1"#)).is_err());
        // Restore drills: off unless asked for; every problem named under the rule.
        assert_eq!(Policy::parse(&text("")).unwrap().rules[0].drill, None);
        let d = Policy::parse(&text(r#","drill":{"every":"P1D","sample":2}"#)).unwrap();
        let d = d.rules[0].drill.clone().unwrap();
        assert_eq!(
            (d.every, d.sample),
            (Duration::days(1), crate::rules::drill::Sample::Count(2))
        );
        let e = Policy::parse(&text(r#","drill":{"every":"PT5M"}"#)).unwrap_err();
        assert!(
            e.to_string()
                .contains("rules[0].drill.every: at least PT1H"),
            "{e}"
        );
        assert_eq!(
            Policy::parse(&text("")).unwrap().rules[0].onboarding,
            Onboarding::Latest
        );
        assert_eq!(
            Policy::parse(&text(r#","onboarding":"None""#))
                .unwrap()
                .rules[0]
                .onboarding,
            Onboarding::None
        );
        assert!(Policy::parse(&text(r#","onboarding":"all""#))
            .unwrap_err()
            .to_string()
            .contains("onboarding: \"all\" is not latest or none"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("P14D"), Ok(Duration::days(14)));
        assert_eq!(parse_duration("PT36H"), Ok(Duration::hours(36)));
        assert_eq!(
            parse_duration("P1DT12H30M"),
            Ok(Duration::hours(36) + Duration::minutes(30))
        );
        assert_eq!(parse_duration("P2W"), Ok(Duration::weeks(2)));
        assert!(parse_duration("P1M").is_err());
        assert!(parse_duration("14 days").is_err());
        assert!(parse_duration("P").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn full_policy_parses_with_defaults() {
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}/resourceGroups/RG-App/","targets":[{{"region":"West US 2"}}]}}]}}"#)).unwrap();
        let r = &p.rules[0];
        assert_eq!(
            r.scope,
            format!("{SUB}/resourcegroups/rg-app").to_ascii_lowercase()
        );
        assert!(r.create_target_collections);
        assert_eq!(r.max_copy_duration, Duration::days(14));
        assert_eq!(r.rpo_objective, DEFAULT_RPO);
        assert_eq!(r.min_consistency, Consistency::CrashConsistent);
        assert_eq!(r.targets[0].region, "westus2");
        let t = r.targets[0]
            .collection_for(&coll("rg-app", "rpc-vm1"))
            .unwrap();
        assert_eq!(t.name, "rg-app-rpc-vm1-westus2");
        assert_eq!(t.resource_group, "rg-app");
    }

    #[test]
    fn every_problem_is_reported() {
        let e = Policy::parse(r#"{"rules":[{"scope":"rg-app","targets":[{"region":"west-us!"},{"region":"eastus","collectionName":"a/b"}],"maxCopyDuration":"P30D","rpoObjective":"soon","minConsistency":"Perfect"}]}"#).unwrap_err();
        let text = e.to_string();
        for want in [
            "scope",
            "region",
            "collectionName",
            "maxCopyDuration",
            "rpoObjective",
            "minConsistency",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        assert!(Policy::parse("{}")
            .unwrap_err()
            .to_string()
            .contains("rules"));
        assert!(Policy::parse(r#"{"rules":[],"extra":1}"#).is_err());
        assert!(Policy::parse(r#"{"rules":[]}"#)
            .unwrap_err()
            .to_string()
            .contains("at least one rule"));
    }

    #[test]
    fn scope_matching_respects_segment_boundaries() {
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}/resourceGroups/rg-app","targets":[{{"region":"westus2"}}]}}]}}"#)).unwrap();
        assert!(p.rule_for(&coll("rg-app", "x"), None).is_some());
        assert!(p.rule_for(&coll("RG-APP", "x"), None).is_some());
        assert!(p.rule_for(&coll("rg-app2", "x"), None).is_none());
        assert!(p.rule_for(&coll("other", "x"), None).is_none());
    }

    #[test]
    fn tag_rules_need_tags_and_first_match_wins() {
        let p = Policy::parse(&format!(r#"{{"rules":[
            {{"scope":"{SUB}","tag":{{"name":"dr","value":"gold"}},"targets":[{{"region":"westus2"}},{{"region":"eastus2"}}]}},
            {{"scope":"{SUB}","targets":[{{"region":"westus2"}}]}}]}}"#)).unwrap();
        let c = coll("rg", "x");
        assert!(p.needs_tags(&c));
        assert_eq!(p.rule_for(&c, None).unwrap().targets.len(), 1);
        let tags = BTreeMap::from([("DR".to_string(), "gold".to_string())]);
        assert_eq!(p.rule_for(&c, Some(&tags)).unwrap().targets.len(), 2);
        let tags = BTreeMap::from([("dr".to_string(), "silver".to_string())]);
        assert_eq!(p.rule_for(&c, Some(&tags)).unwrap().targets.len(), 1);
    }

    #[test]
    fn des_mapping_is_case_insensitive_and_validated() {
        let src = format!(
            "{SUB}/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/DES-East"
        );
        let dst = format!(
            "{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/diskEncryptionSets/des-west"
        );
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2","diskEncryptionSets":{{"{src}":"{dst}"}}}}]}}]}}"#)).unwrap();
        let t = &p.rules[0].targets[0];
        assert_eq!(
            t.disk_encryption_sets.get(&src.to_ascii_lowercase()),
            Some(&dst)
        );
        let bad = Policy::parse(&format!(
            r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2","diskEncryptionSets":{{"nope":"{dst}"}}}}]}}]}}"#
        ));
        assert!(bad.unwrap_err().to_string().contains("diskEncryptionSets"));
    }

    #[test]
    fn custom_collection_names() {
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2","resourceGroup":"rg-dr","collectionName":"dr-{{resourceGroup}}-{{source}}"}}]}}]}}"#)).unwrap();
        let t = p.rules[0].targets[0]
            .collection_for(&coll("rg-app", "rpc1"))
            .unwrap();
        assert_eq!(
            (t.resource_group.as_str(), t.name.as_str()),
            ("rg-dr", "dr-rg-app-rpc1")
        );
    }
    #[test]
    fn default_template_keeps_same_named_sources_apart() {
        // One DR resource group for a whole subscription: the reported collision.
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2","resourceGroup":"rg-dr"}}]}}]}}"#)).unwrap();
        let t = &p.rules[0].targets[0];
        let a = t.collection_for(&coll("rg-app", "rpc-vm1")).unwrap();
        let b = t.collection_for(&coll("rg-other", "rpc-vm1")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.name, "rg-app-rpc-vm1-westus2");
    }

    #[test]
    fn long_names_fit_in_80_characters_and_stay_distinct() {
        let p = Policy::parse(&format!(r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"australiasoutheast","resourceGroup":"rg-dr"}}]}}]}}"#)).unwrap();
        let t = &p.rules[0].targets[0];
        let rg = "rg-".to_string() + &"x".repeat(60);
        let a = t.collection_for(&coll(&rg, &"vm".repeat(20))).unwrap();
        let b = t
            .collection_for(&coll(&rg, &("vm".repeat(19) + "vn")))
            .unwrap();
        for n in [&a.name, &b.name] {
            assert!(n.len() <= MAX_COLLECTION_NAME, "{n} is {} long", n.len());
            assert!(valid_segment(n));
        }
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("rg-xxx"));
        // Stable: the same source always gets the same name.
        assert_eq!(a, t.collection_for(&coll(&rg, &"vm".repeat(20))).unwrap());
    }

    #[test]
    fn templates_that_can_collide_are_refused_at_start() {
        let parse = |targets: &str, scope: &str| {
            Policy::parse(&format!(
                r#"{{"rules":[{{"scope":"{scope}","targets":[{targets}]}}]}}"#
            ))
        };
        let sub = SUB;
        let rg = format!("{SUB}/resourceGroups/rg-app");
        // The old default, subscription-wide, one DR resource group: refused.
        let e = parse(
            r#"{"region":"westus2","resourceGroup":"rg-dr","collectionName":"{source}-{region}"}"#,
            sub,
        )
        .unwrap_err();
        assert!(e.to_string().contains("{resourceGroup}"), "{e}");
        // ... but fine when the scope is one resource group, or the target stays in the
        // source's own resource group.
        assert!(parse(
            r#"{"region":"westus2","resourceGroup":"rg-dr","collectionName":"{source}-{region}"}"#,
            &rg
        )
        .is_ok());
        assert!(parse(
            r#"{"region":"westus2","collectionName":"{source}-{region}"}"#,
            sub
        )
        .is_ok());
        // No {source}: everything shares one collection.
        assert!(parse(
            r#"{"region":"westus2","collectionName":"dr-{region}"}"#,
            &rg
        )
        .unwrap_err()
        .to_string()
        .contains("{source}"));
        // No {region} with two regions.
        assert!(parse(
            r#"{"region":"westus2","collectionName":"{source}"},{"region":"eastus","collectionName":"{source}"}"#,
            &rg
        )
        .unwrap_err()
        .to_string()
        .contains("{region}"));
        // Two rules into one resource group with different templates.
        let two = Policy::parse(&format!(
            r#"{{"rules":[
            {{"scope":"{SUB}/resourceGroups/rg-a","targets":[{{"region":"westus2","resourceGroup":"rg-dr","collectionName":"{{source}}-{{region}}"}}]}},
            {{"scope":"{SUB}/resourceGroups/rg-b","targets":[{{"region":"westus2","resourceGroup":"rg-dr","collectionName":"{{source}}-{{region}}"}}]}}]}}"#
        ));
        assert!(two
            .unwrap_err()
            .to_string()
            .contains("rules[0] and rules[1]"));
        let same = Policy::parse(&format!(
            r#"{{"rules":[
            {{"scope":"{SUB}/resourceGroups/rg-a","targets":[{{"region":"westus2","resourceGroup":"rg-dr"}}]}},
            {{"scope":"{SUB}/resourceGroups/rg-b","targets":[{{"region":"westus2","resourceGroup":"rg-dr"}}]}}]}}"#
        ));
        assert!(same.is_ok(), "{same:?}");
    }
}
