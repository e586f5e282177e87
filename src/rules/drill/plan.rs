//! Which chains a drill run starts, and which copy a drill restores.

use time::{Duration, OffsetDateTime};

use super::{DrillPolicy, Sample, DUE_EARLY};
use crate::rules::progress::{readiness, DiskProgress, Readiness};

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

/// How far back a drill run reads the drill history (besides the drills still open, of any
/// age): the longest period, so that each chain's last drill is known while it matters to
/// [`due`] and [`plan`], and a day to spare. A chain whose last drill is older is due anyway.
pub fn history_needed(everies: impl Iterator<Item = Duration>) -> Duration {
    everies.max().unwrap_or(super::DEFAULT_DRILL_EVERY) + DUE_EARLY + Duration::days(1)
}

/// At most this many drills start in one run in each target subscription. ARM's write
/// budget is a bucket of 200 that refills by 10 a second per subscription, shared with the
/// copies; a drill writes one PUT per disk (two for a typical VM), so 50 drills spend about
/// half the bucket and leave the rest, and the refill, to the copies. Chains over the cap are
/// due at the next run, and go first then (longest undrilled first).
pub const MAX_STARTS_PER_RUN: usize = 50;

/// A chain a run would drill: the subscription its drill writes in, and when its last drill
/// started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start<'a> {
    pub chain: &'a str,
    pub subscription: &'a str,
    pub last_started: Option<OffsetDateTime>,
}

/// The chains to start now out of those due: at most `max` per subscription (subscription ids
/// compared without case), never drilled first, then the longest undrilled.
pub fn within_budget<'a>(mut due: Vec<Start<'a>>, max: usize) -> Vec<&'a str> {
    due.sort_by_key(|s| (s.last_started, s.chain));
    let mut used: std::collections::BTreeMap<String, usize> = Default::default();
    due.into_iter()
        .filter(|s| {
            let n = used.entry(s.subscription.to_ascii_lowercase()).or_default();
            *n += 1;
            *n <= max
        })
        .map(|s| s.chain)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

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
    fn history_covers_the_longest_period() {
        let h = history_needed([Duration::days(1), Duration::days(7)].into_iter());
        assert_eq!(h, Duration::days(8) + DUE_EARLY);
        assert_eq!(
            history_needed(std::iter::empty()),
            super::super::DEFAULT_DRILL_EVERY + DUE_EARLY + Duration::days(1)
        );
        // Enough for `due`: every chain not yet due has its last drill inside the history, so
        // a chain whose last drill is older (unread) is due anyway.
        let every = Duration::days(7);
        let history = history_needed([every].into_iter());
        let policy = DrillPolicy {
            every,
            ..DrillPolicy::default()
        };
        let drilled = |started| ChainDrillView {
            chain: "c".into(),
            last: Some(LastDrill {
                started,
                succeeded: Some(true),
            }),
            copy_due: false,
            has_ready_copy: true,
        };
        let newest_due = T + DUE_EARLY - every;
        let oldest_not_due = newest_due + Duration::SECOND;
        assert!(due(&drilled(oldest_not_due), &policy, T).is_err());
        assert!(oldest_not_due > T - history);
        assert_eq!(due(&drilled(T - history), &policy, T), Ok(()));
    }

    #[test]
    fn a_run_starts_at_most_the_cap_per_subscription_longest_undrilled_first() {
        let at = |h: i64| Some(T - Duration::hours(h));
        let due = vec![
            Start {
                chain: "a",
                subscription: "S1",
                last_started: at(30),
            },
            Start {
                chain: "b",
                subscription: "s1",
                last_started: None,
            },
            Start {
                chain: "c",
                subscription: "s1",
                last_started: at(50),
            },
            Start {
                chain: "d",
                subscription: "s2",
                last_started: at(1),
            },
            Start {
                chain: "e",
                subscription: "s2",
                last_started: at(2),
            },
        ];
        // Never drilled first, then oldest; "S1" and "s1" share one budget.
        assert_eq!(within_budget(due.clone(), 2), vec!["b", "c", "e", "d"]);
        assert_eq!(within_budget(due.clone(), 1), vec!["b", "e"]);
        assert_eq!(within_budget(due.clone(), 0), Vec::<&str>::new());
        assert_eq!(within_budget(due, MAX_STARTS_PER_RUN).len(), 5);
        assert!(within_budget(Vec::new(), 3).is_empty());
    }
}
