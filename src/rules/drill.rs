//! Restore drills, decided: which chains are due, which copy a drill restores (the newest
//! ready one), what it checks on each restored disk, what counts as its leftovers, and the
//! restore-time figures. Pure: callers pass what the ledger and ARM said and the time.
//!
//! A drill proves a copy restores: one managed disk per disk restore point of the chain's
//! newest ready copy, in the target region's drill resource group, tagged with the drill id,
//! checked, timed (first PUT to last disk ready) and deleted.

use std::fmt;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::progress::{readiness, DiskProgress, Readiness};
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

/// The last drill of a chain, as the ledger recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastDrill {
    pub started: OffsetDateTime,
    /// `None` while it runs.
    pub succeeded: Option<bool>,
}

/// What the planner knows of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDrillView {
    pub chain: String,
    pub last: Option<LastDrill>,
    /// The chain has a copy to start or in flight that the copy pacing would send now: the
    /// copy comes first, the drill waits for the next run.
    pub copy_due: bool,
    pub has_ready_copy: bool,
}

/// Why a chain is not drilled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDue {
    /// No copy of the chain is ready (every disk at 100 % and succeeded): nothing to prove.
    NoReadyCopy,
    /// A drill of the chain is still running.
    Running,
    /// The chain's copy is due: copies come first.
    CopyFirst,
    /// Drilled within the period; next due then.
    DrilledRecently { next: OffsetDateTime },
}

/// Whether `chain` is due for a drill at `now`. A failed drill is retried at the next
/// period, like any other: a drill that keeps failing says so once per period, not once per
/// timer run.
pub fn due(
    chain: &ChainDrillView,
    policy: &DrillPolicy,
    now: OffsetDateTime,
) -> Result<(), NotDue> {
    if let Some(last) = chain.last {
        if last.succeeded.is_none() {
            return Err(NotDue::Running);
        }
    }
    if !chain.has_ready_copy {
        return Err(NotDue::NoReadyCopy);
    }
    if chain.copy_due {
        return Err(NotDue::CopyFirst);
    }
    match chain.last {
        Some(last) if now + DUE_EARLY < last.started + policy.every => {
            Err(NotDue::DrilledRecently {
                next: last.started + policy.every,
            })
        }
        _ => Ok(()),
    }
}

/// The chains (of one policy rule) to drill now: every due chain, or with `sample: N` as
/// many as the period has left (N less the drills started in the last period), never drilled
/// first, then the longest undrilled.
pub fn plan<'a>(
    chains: &'a [ChainDrillView],
    policy: &DrillPolicy,
    now: OffsetDateTime,
) -> Vec<&'a str> {
    let mut due_now: Vec<&ChainDrillView> = chains
        .iter()
        .filter(|c| due(c, policy, now).is_ok())
        .collect();
    due_now.sort_by_key(|c| (c.last.map(|l| l.started), c.chain.as_str()));
    let take = match policy.sample {
        Sample::All => due_now.len(),
        Sample::Count(n) => {
            let started_in_period = chains
                .iter()
                .filter(|c| {
                    c.last
                        .is_some_and(|l| now + DUE_EARLY - l.started < policy.every)
                })
                .count();
            (n as usize).saturating_sub(started_in_period)
        }
    };
    due_now
        .into_iter()
        .take(take)
        .map(|c| c.chain.as_str())
        .collect()
}

/// A copy a drill could restore: its id, its source restore point's creation time, and its
/// disks' last replication readings.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyCandidate<'a> {
    pub id: &'a str,
    pub source_created: OffsetDateTime,
    pub disks: &'a [DiskProgress],
}

/// The newest copy that is ready to restore (the readiness rule: every disk restore point at
/// 100 % and succeeded). A drill never restores from a copy still replicating: the platform
/// would let it, and the disk would be incomplete.
pub fn newest_ready<'a>(copies: &'a [CopyCandidate<'a>]) -> Option<&'a CopyCandidate<'a>> {
    copies
        .iter()
        .filter(|c| readiness(c.disks) == Readiness::Ready)
        .max_by_key(|c| c.source_created)
}

/// What a restored disk must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    pub disk_restore_point: &'a str,
    /// The target region.
    pub location: &'a str,
    /// The source disk's size.
    pub size_gb: Option<i64>,
    /// The target disk encryption set policy maps the source's to (CMK disks); `None` for
    /// platform-key disks.
    pub disk_encryption_set: Option<&'a str>,
}

/// What ARM said of the restored disk once its operation ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed<'a> {
    pub provisioning_state: Option<&'a str>,
    pub size_gb: Option<i64>,
    pub location: Option<&'a str>,
    pub disk_encryption_set: Option<&'a str>,
    pub source_resource_id: Option<&'a str>,
}

/// One thing wrong with a restored disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskProblem {
    NotSucceeded(String),
    Size {
        want: i64,
        got: Option<i64>,
    },
    Location {
        want: String,
        got: String,
    },
    Encryption {
        want: Option<String>,
        got: Option<String>,
    },
    Source {
        want: String,
        got: String,
    },
}

impl fmt::Display for DiskProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "platform key".into());
        match self {
            DiskProblem::NotSucceeded(s) => write!(f, "provisioning state {s}, not Succeeded"),
            DiskProblem::Size { want, got } => match got {
                Some(g) => write!(f, "size {g} GB, source disk {want} GB"),
                None => write!(f, "no size reported, source disk {want} GB"),
            },
            DiskProblem::Location { want, got } => {
                write!(f, "in region {got}, not the target region {want}")
            }
            DiskProblem::Encryption { want, got } => {
                write!(f, "encrypted with {}, not {}", opt(got), opt(want))
            }
            DiskProblem::Source { want, got } => {
                write!(f, "restored from {got}, not {want}")
            }
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    crate::ids::eq_ignore_case(a, b)
}

/// Everything that can be checked on a restored disk: provisioning succeeded, size equals
/// the source disk's, location is the target region, encryption is the mapped disk
/// encryption set for CMK disks (platform key otherwise), and `creationData.sourceResourceId`
/// is the disk restore point restored.
pub fn check_disk(want: &Expected<'_>, got: &Observed<'_>) -> Vec<DiskProblem> {
    let mut out = Vec::new();
    let state = got.provisioning_state.unwrap_or("(none)");
    if !state.eq_ignore_ascii_case("Succeeded") {
        out.push(DiskProblem::NotSucceeded(state.to_string()));
    }
    if let Some(size) = want.size_gb {
        if got.size_gb != Some(size) {
            out.push(DiskProblem::Size {
                want: size,
                got: got.size_gb,
            });
        }
    }
    let loc = got.location.unwrap_or("");
    if crate::ids::normalize_region(loc).as_deref() != Some(want.location) {
        out.push(DiskProblem::Location {
            want: want.location.to_string(),
            got: loc.to_string(),
        });
    }
    let enc_ok = match (want.disk_encryption_set, got.disk_encryption_set) {
        (None, None) => true,
        (Some(w), Some(g)) => same(w, g),
        _ => false,
    };
    if !enc_ok {
        out.push(DiskProblem::Encryption {
            want: want.disk_encryption_set.map(str::to_string),
            got: got.disk_encryption_set.map(str::to_string),
        });
    }
    let src = got.source_resource_id.unwrap_or("");
    if !same(src, want.disk_restore_point) {
        out.push(DiskProblem::Source {
            want: want.disk_restore_point.to_string(),
            got: src.to_string(),
        });
    }
    out
}

/// How the disks of a drill stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskWait {
    /// Still being restored.
    Pending,
    /// Its operation ended (succeeded or not; [`check_disk`] says which) at this time.
    Ended(OffsetDateTime),
    /// Gone: deleted by someone else, or never created.
    Missing,
}

/// Where a running drill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillStage {
    /// Some disk is still being restored, within the time limit.
    Waiting,
    /// Every disk ended; the restore time is first PUT to last disk ready.
    Restored { restore_time: Duration },
    /// A disk vanished, or the drill ran past [`DRILL_TIMEOUT`].
    Broken { missing: usize, timed_out: bool },
}

pub fn stage(first_put: OffsetDateTime, disks: &[DiskWait], now: OffsetDateTime) -> DrillStage {
    let missing = disks.iter().filter(|d| **d == DiskWait::Missing).count();
    let pending = disks.contains(&DiskWait::Pending);
    if missing > 0 || disks.is_empty() {
        return DrillStage::Broken {
            missing,
            timed_out: false,
        };
    }
    if pending {
        if now - first_put > DRILL_TIMEOUT {
            return DrillStage::Broken {
                missing: 0,
                timed_out: true,
            };
        }
        return DrillStage::Waiting;
    }
    let last = disks
        .iter()
        .filter_map(|d| match d {
            DiskWait::Ended(t) => Some(*t),
            _ => None,
        })
        .max()
        .unwrap_or(first_put);
    DrillStage::Restored {
        restore_time: (last - first_put).max(Duration::ZERO),
    }
}

/// When a disk was ready: its restore operation's `endTime` when ARM reported one that lies
/// between the drill's first PUT and the run that saw the disk ended (anything else is not
/// believable), else the time that run saw it (as fine as the timer's schedule).
pub fn ready_at(
    first_put: OffsetDateTime,
    operation_end: Option<OffsetDateTime>,
    seen_at: OffsetDateTime,
) -> OffsetDateTime {
    match operation_end {
        Some(end) if end >= first_put && end <= seen_at => end,
        _ => seen_at,
    }
}

/// How far ARM's clock may be behind the one a drill records its start with.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// When a drill's restore started: the earliest start ARM reported for its disks' restore
/// operations when that is believable (at most [`CLOCK_SKEW`] before the time the drill
/// recorded just before its first PUT; ARM's clock is then the one both ends come from),
/// else the recorded time.
pub fn restore_started(
    recorded: OffsetDateTime,
    operation_starts: &[OffsetDateTime],
) -> OffsetDateTime {
    operation_starts
        .iter()
        .copied()
        .filter(|s| *s >= recorded - CLOCK_SKEW)
        .min()
        .map_or(recorded, |s| s.min(recorded))
}

/// The name of a drill's disk for the `index`-th disk restore point: unique per drill, short
/// (ARM disk names are at most 80 characters), and recognisably ferry's.
pub fn disk_name(drill_id: &str, index: usize) -> String {
    let id: String = drill_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect();
    format!("ferry-drill-{id}-{index}")
}

/// The disks (name, value of the [`DRILL_TAG`] tag) of a drill resource group to delete
/// before a new drill: every disk of an earlier drill, that is, tagged with another drill id
/// than one still running. Disks without the tag are not ferry's and are left alone.
pub fn leftovers<'a>(disks: &'a [(String, Option<String>)], running: &[&str]) -> Vec<&'a str> {
    disks
        .iter()
        .filter(|(_, tag)| {
            tag.as_deref()
                .is_some_and(|t| !running.iter().any(|r| r.eq_ignore_ascii_case(t)))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Median and maximum of restore times (seconds), for status: `None` without drills.
pub fn restore_time_summary(seconds: &[f64]) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = seconds.iter().copied().filter(|s| s.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let p50 = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((p50, v[n - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-11-10 00:00 UTC);

    fn view(
        chain: &str,
        last: Option<(i64, Option<bool>)>,
        copy_due: bool,
        ready: bool,
    ) -> ChainDrillView {
        ChainDrillView {
            chain: chain.into(),
            last: last.map(|(days_ago, succeeded)| LastDrill {
                started: T - Duration::days(days_ago),
                succeeded,
            }),
            copy_due,
            has_ready_copy: ready,
        }
    }

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

    #[test]
    fn due_covers_every_case() {
        let p = DrillPolicy::default();
        // (last drill, copy due, ready copy) -> verdict
        let cases = [
            (None, false, true, Ok(())),
            (None, false, false, Err(NotDue::NoReadyCopy)),
            (None, true, true, Err(NotDue::CopyFirst)),
            (Some((1, None)), false, true, Err(NotDue::Running)),
            (Some((30, None)), true, false, Err(NotDue::Running)),
            (
                Some((1, Some(true))),
                false,
                true,
                Err(NotDue::DrilledRecently {
                    next: T + Duration::days(6),
                }),
            ),
            (
                Some((1, Some(false))),
                false,
                true,
                Err(NotDue::DrilledRecently {
                    next: T + Duration::days(6),
                }),
            ),
            (Some((7, Some(true))), false, true, Ok(())),
            (Some((8, Some(false))), false, true, Ok(())),
            (Some((8, Some(false))), true, true, Err(NotDue::CopyFirst)),
            (
                Some((8, Some(true))),
                false,
                false,
                Err(NotDue::NoReadyCopy),
            ),
        ];
        for (last, copy_due, ready, want) in cases {
            assert_eq!(
                due(&view("c", last, copy_due, ready), &p, T),
                want,
                "{last:?} {copy_due} {ready}"
            );
        }
    }

    #[test]
    fn plan_takes_all_due_or_a_sample_longest_undrilled_first() {
        let chains = vec![
            view("a", Some((10, Some(true))), false, true),
            view("b", None, false, true),
            view("c", Some((20, Some(false))), false, true),
            view("d", Some((2, Some(true))), false, true),
            view("e", None, true, true),
            view("f", None, false, false),
        ];
        let all = DrillPolicy::default();
        assert_eq!(plan(&chains, &all, T), vec!["b", "c", "a"]);
        let two = DrillPolicy {
            sample: Sample::Count(2),
            ..all.clone()
        };
        // One drill ("d") already started this period: one more.
        assert_eq!(plan(&chains, &two, T), vec!["b"]);
        let five = DrillPolicy {
            sample: Sample::Count(5),
            ..all.clone()
        };
        assert_eq!(plan(&chains, &five, T), vec!["b", "c", "a"]);
        assert!(plan(&[], &all, T).is_empty());
    }

    fn disks(readings: &[(f64, &str)]) -> Vec<DiskProgress> {
        readings
            .iter()
            .enumerate()
            .map(|(i, (p, c))| DiskProgress {
                disk: format!("d{i}"),
                percent: Some(*p),
                code: Some(format!("ReplicationState/{c}")),
            })
            .collect()
    }

    #[test]
    fn the_newest_ready_copy_is_restored_never_one_still_replicating() {
        let ready = disks(&[(100.0, "succeeded"), (100.0, "succeeded")]);
        let partial = disks(&[(100.0, "succeeded"), (40.0, "inProgress")]);
        let failed = disks(&[(0.0, "failed")]);
        let copies = [
            CopyCandidate {
                id: "old",
                source_created: T - Duration::days(3),
                disks: &ready,
            },
            CopyCandidate {
                id: "mid",
                source_created: T - Duration::days(2),
                disks: &ready,
            },
            CopyCandidate {
                id: "new",
                source_created: T - Duration::days(1),
                disks: &partial,
            },
            CopyCandidate {
                id: "bad",
                source_created: T,
                disks: &failed,
            },
            CopyCandidate {
                id: "none",
                source_created: T,
                disks: &[],
            },
        ];
        assert_eq!(newest_ready(&copies).map(|c| c.id), Some("mid"));
        assert_eq!(newest_ready(&copies[2..]), None);
        assert_eq!(newest_ready(&[]), None);
    }

    const DRP: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d";
    const DES: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des-w";

    fn good<'a>() -> Observed<'a> {
        Observed {
            provisioning_state: Some("Succeeded"),
            size_gb: Some(128),
            location: Some("westus2"),
            disk_encryption_set: Some(DES),
            source_resource_id: Some(DRP),
        }
    }

    #[test]
    fn a_restored_disk_is_checked_field_by_field() {
        let want = Expected {
            disk_restore_point: DRP,
            location: "westus2",
            size_gb: Some(128),
            disk_encryption_set: Some(DES),
        };
        assert_eq!(check_disk(&want, &good()), vec![]);
        // Case and display forms of ids and regions do not matter.
        let upper = DRP.to_ascii_uppercase();
        let relaxed = Observed {
            location: Some("West US 2"),
            source_resource_id: Some(&upper),
            ..good()
        };
        assert_eq!(check_disk(&want, &relaxed), vec![]);
        let cases: Vec<(Observed, DiskProblem)> = vec![
            (
                Observed {
                    provisioning_state: Some("Failed"),
                    ..good()
                },
                DiskProblem::NotSucceeded("Failed".into()),
            ),
            (
                Observed {
                    provisioning_state: None,
                    ..good()
                },
                DiskProblem::NotSucceeded("(none)".into()),
            ),
            (
                Observed {
                    size_gb: Some(64),
                    ..good()
                },
                DiskProblem::Size {
                    want: 128,
                    got: Some(64),
                },
            ),
            (
                Observed {
                    size_gb: None,
                    ..good()
                },
                DiskProblem::Size {
                    want: 128,
                    got: None,
                },
            ),
            (
                Observed {
                    location: Some("eastus"),
                    ..good()
                },
                DiskProblem::Location {
                    want: "westus2".into(),
                    got: "eastus".into(),
                },
            ),
            (
                Observed {
                    disk_encryption_set: None,
                    ..good()
                },
                DiskProblem::Encryption {
                    want: Some(DES.into()),
                    got: None,
                },
            ),
            (
                Observed {
                    disk_encryption_set: Some("/other"),
                    ..good()
                },
                DiskProblem::Encryption {
                    want: Some(DES.into()),
                    got: Some("/other".into()),
                },
            ),
            (
                Observed {
                    source_resource_id: Some("/x"),
                    ..good()
                },
                DiskProblem::Source {
                    want: DRP.into(),
                    got: "/x".into(),
                },
            ),
        ];
        for (obs, problem) in cases {
            let got = check_disk(&want, &obs);
            assert_eq!(got, vec![problem.clone()], "{obs:?}");
            assert!(!problem.to_string().is_empty());
        }
        // A platform-key disk must not come back CMK-encrypted; unknown size is not checked.
        let pmk = Expected {
            disk_encryption_set: None,
            size_gb: None,
            ..want
        };
        assert_eq!(
            check_disk(
                &pmk,
                &Observed {
                    size_gb: None,
                    disk_encryption_set: None,
                    ..good()
                }
            ),
            vec![]
        );
        assert_eq!(check_disk(&pmk, &good()).len(), 1);
        // Everything wrong at once: every problem is listed.
        assert_eq!(check_disk(&want, &Observed::default()).len(), 5);
    }

    #[test]
    fn a_drill_waits_then_is_timed_from_first_put_to_last_ready() {
        let t0 = T;
        let ended = |m: i64| DiskWait::Ended(t0 + Duration::minutes(m));
        assert_eq!(
            stage(
                t0,
                &[ended(3), DiskWait::Pending],
                t0 + Duration::minutes(5)
            ),
            DrillStage::Waiting
        );
        assert_eq!(
            stage(t0, &[ended(3), ended(7)], t0 + Duration::minutes(10)),
            DrillStage::Restored {
                restore_time: Duration::minutes(7)
            }
        );
        assert_eq!(
            stage(t0, &[ended(3), DiskWait::Missing], t0),
            DrillStage::Broken {
                missing: 1,
                timed_out: false
            }
        );
        assert_eq!(
            stage(t0, &[], t0),
            DrillStage::Broken {
                missing: 0,
                timed_out: false
            }
        );
        assert_eq!(
            stage(
                t0,
                &[DiskWait::Pending],
                t0 + DRILL_TIMEOUT + Duration::SECOND
            ),
            DrillStage::Broken {
                missing: 0,
                timed_out: true
            }
        );
        assert_eq!(
            stage(t0, &[DiskWait::Ended(t0 - Duration::SECOND)], t0),
            DrillStage::Restored {
                restore_time: Duration::ZERO
            }
        );
    }

    #[test]
    fn leftovers_are_earlier_drills_disks_only() {
        let disks = vec![
            ("old-0".to_string(), Some("d1".to_string())),
            ("run-0".to_string(), Some("D2".to_string())),
            ("theirs".to_string(), None),
        ];
        assert_eq!(leftovers(&disks, &["d2"]), vec!["old-0"]);
        assert_eq!(leftovers(&disks, &[]), vec!["old-0", "run-0"]);
    }

    #[test]
    fn disk_names_are_short_and_distinct() {
        let a = disk_name("0b7c-4d2e/../x", 0);
        assert_eq!(a, "ferry-drill-0b7c4d2ex-0");
        assert_ne!(disk_name("id", 0), disk_name("id", 1));
        assert!(disk_name(&"f".repeat(200), 99).len() <= 80);
    }

    #[test]
    fn restore_time_median_and_max() {
        assert_eq!(restore_time_summary(&[]), None);
        assert_eq!(restore_time_summary(&[5.0]), Some((5.0, 5.0)));
        assert_eq!(restore_time_summary(&[9.0, 1.0, 5.0]), Some((5.0, 9.0)));
        assert_eq!(
            restore_time_summary(&[4.0, 1.0, 2.0, 3.0]),
            Some((2.5, 4.0))
        );
        assert_eq!(restore_time_summary(&[f64::NAN, 2.0]), Some((2.0, 2.0)));
    }

    #[test]
    fn ready_at_is_the_operation_end_when_believable() {
        let put = datetime!(2026-11-10 03:00 UTC);
        let seen = datetime!(2026-11-10 03:10 UTC);
        let end = datetime!(2026-11-10 03:03:20 UTC);
        assert_eq!(ready_at(put, Some(end), seen), end);
        // Exactly at either bound still counts.
        assert_eq!(ready_at(put, Some(put), seen), put);
        assert_eq!(ready_at(put, Some(seen), seen), seen);
        // No endTime, one before the PUT, or one after the run saw it: the run's time.
        assert_eq!(ready_at(put, None, seen), seen);
        assert_eq!(ready_at(put, Some(put - Duration::seconds(1)), seen), seen);
        assert_eq!(ready_at(put, Some(seen + Duration::seconds(1)), seen), seen);
    }

    #[test]
    fn a_run_a_little_early_finds_the_drill_due() {
        let policy = DrillPolicy::from_json(&json!({"every": "P7D"})).unwrap();
        let last = datetime!(2026-11-01 03:00:00.004 UTC);
        let view = ChainDrillView {
            chain: "c".into(),
            last: Some(LastDrill {
                started: last,
                succeeded: Some(true),
            }),
            copy_due: false,
            has_ready_copy: true,
        };
        // The weekly run, a few milliseconds earlier in its second than the last one: due.
        assert_eq!(
            due(&view, &policy, datetime!(2026-11-08 03:00:00.001 UTC)),
            Ok(())
        );
        // Within the margin (an hour) before the period ends: due, so a copy's wait or the
        // timer's interval does not push the drill past the period.
        assert_eq!(due(&view, &policy, datetime!(2026-11-08 02:10 UTC)), Ok(()));
        // Earlier: not yet.
        assert!(due(&view, &policy, datetime!(2026-11-08 01:50 UTC)).is_err());
    }

    #[test]
    fn restore_started_prefers_arm_s_operation_start() {
        let rec = datetime!(2026-11-10 03:00:00.005 UTC);
        let op = datetime!(2026-11-10 03:00 UTC);
        assert_eq!(restore_started(rec, &[op, op + Duration::seconds(1)]), op);
        assert_eq!(restore_started(rec, &[]), rec);
        // A start long before the drill began is not this drill's: the recorded time.
        assert_eq!(restore_started(rec, &[rec - Duration::hours(1)]), rec);
        // A start after the recorded one (ARM's clock ahead): the recorded one.
        assert_eq!(restore_started(rec, &[rec + Duration::seconds(2)]), rec);
    }
}
