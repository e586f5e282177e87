//! Restore drills, decided: which chains are due, which copy a drill restores (the newest
//! ready one), what it checks on each restored disk, what counts as its leftovers, and the
//! restore-time figures. Pure: callers pass what the ledger and ARM said and the time.
//!
//! A drill proves a copy restores: one managed disk per disk restore point of the chain's
//! newest ready copy, in the target region's drill resource group, tagged with the drill id,
//! checked, timed (first PUT to last disk ready) and deleted.

mod check;
mod plan;

pub use check::*;
pub use plan::*;

use serde_json::Value;
use time::Duration;

use crate::policy::parse_duration;
/// Drills run weekly unless policy says otherwise.
pub const DEFAULT_DRILL_EVERY: Duration = Duration::days(7);
/// The shortest drill period policy may ask for: a drill restores whole disks.
pub const MIN_DRILL_EVERY: Duration = Duration::hours(1);
/// The tag every drill disk carries; its value is the drill id.
pub const DRILL_TAG: &str = "ferry-drill";
/// A drill whose disks are not all ready after this long has failed (Azure restores a disk
/// from a disk restore point in minutes; hours mean something is wrong).
pub const DRILL_TIMEOUT: Duration = Duration::hours(6);
/// A drill due this soon counts as due now. A timer lands on its schedule give or take a
/// little, a run records its start a few milliseconds into the run, and a chain whose copy
/// is due waits for it (copies first) for a tick or more: without this margin the run one
/// period after the last drill would find it "not yet due", and each period would slip by
/// a timer interval (a week, with a weekly schedule) or by the copy's wait, past the period.
pub const DUE_EARLY: Duration = Duration::hours(1);

/// How many of a rule's chains are drilled per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    All,
    /// At most this many chains per period, the longest undrilled first.
    Count(u32),
}

/// The drill resource group's name unless policy names one: `{region}` is the target region.
pub const DEFAULT_DRILL_RESOURCE_GROUP: &str = "ferry-drill-{region}";

/// Policy `drill: {"every": "P7D", "sample": "all" | N, "resourceGroup": "ferry-drill-{region}"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillPolicy {
    pub every: Duration,
    pub sample: Sample,
    /// The drill resource group's name in each target subscription; `{region}` stands for
    /// the target region.
    pub resource_group: String,
}

impl Default for DrillPolicy {
    fn default() -> Self {
        DrillPolicy {
            every: DEFAULT_DRILL_EVERY,
            sample: Sample::All,
            resource_group: DEFAULT_DRILL_RESOURCE_GROUP.into(),
        }
    }
}

impl DrillPolicy {
    /// Reads a rule's `drill` object; every problem is one message naming the field.
    pub fn from_json(v: &Value) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(vec![
                "drill: must be an object like {\"every\": \"P7D\", \"sample\": \"all\"}".into(),
            ]);
        };
        for k in obj.keys() {
            if !["every", "sample", "resourceGroup"].contains(&k.as_str()) {
                problems.push(format!(
                    "drill.{k}: unknown field (every, sample, resourceGroup)"
                ));
            }
        }
        let mut p = DrillPolicy::default();
        match obj.get("every") {
            None => {}
            Some(Value::String(s)) => match parse_duration(s) {
                Ok(d) if d >= MIN_DRILL_EVERY => p.every = d,
                Ok(_) => problems.push("drill.every: at least PT1H".into()),
                Err(e) => problems.push(format!("drill.every: {e}")),
            },
            Some(_) => problems.push("drill.every: must be an ISO 8601 duration like P7D".into()),
        }
        match obj.get("sample") {
            None => {}
            Some(Value::String(s)) if s.eq_ignore_ascii_case("all") => p.sample = Sample::All,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n @ 1..=100_000) => p.sample = Sample::Count(n as u32),
                _ => problems.push("drill.sample: a whole number from 1, or \"all\"".into()),
            },
            Some(_) => problems.push("drill.sample: \"all\" or a whole number of chains".into()),
        }
        match obj.get("resourceGroup") {
            None => {}
            Some(Value::String(t)) if p_valid_rg(t) => p.resource_group = t.clone(),
            Some(_) => problems.push(
                "drill.resourceGroup: a resource group name (letters, digits, - _ . ( ), at most 90), {region} allowed".into(),
            ),
        }
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(problems)
        }
    }
}

fn p_valid_rg(template: &str) -> bool {
    let name = template.replace("{region}", "westus");
    !name.is_empty()
        && name.len() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
}

impl DrillPolicy {
    /// The drill resource group's name for a target region.
    pub fn resource_group_for(&self, region: &str) -> String {
        self.resource_group.replace("{region}", region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_reads_every_and_sample() {
        assert_eq!(
            DrillPolicy::from_json(&json!({})).unwrap(),
            DrillPolicy::default()
        );
        let p = DrillPolicy::from_json(&json!({"every": "P1D", "sample": 3})).unwrap();
        assert_eq!((p.every, p.sample), (Duration::days(1), Sample::Count(3)));
        assert_eq!(
            DrillPolicy::from_json(&json!({"sample": "ALL"}))
                .unwrap()
                .sample,
            Sample::All
        );
        for bad in [
            json!("P7D"),
            json!({"every": "P1M"}),
            json!({"every": "PT10M"}),
            json!({"every": 7}),
            json!({"sample": 0}),
            json!({"sample": -1}),
            json!({"sample": "some"}),
            json!({"often": "P7D"}),
            json!({"resourceGroup": "a/b"}),
            json!({"resourceGroup": 5}),
        ] {
            let e = DrillPolicy::from_json(&bad).unwrap_err();
            assert!(e.iter().all(|m| m.starts_with("drill")), "{bad}: {e:?}");
        }
        assert_eq!(
            DrillPolicy::from_json(&json!({"every": "x", "sample": "y", "z": 1}))
                .unwrap_err()
                .len(),
            3
        );
    }
}
