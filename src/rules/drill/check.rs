//! What a drill checks on each restored disk, when it is done, how long the restore took,
//! and what counts as an earlier drill's leftovers.

use std::fmt;

use time::{Duration, OffsetDateTime};

use super::DRILL_TIMEOUT;

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
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-11-10 00:00 UTC);

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
