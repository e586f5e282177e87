//! Catch-up: which waiting restore point a free chain copies next.
//!
//! The platform copies a chain's restore points strictly in creation order, so copying a
//! newer one makes every older waiting one uncopyable for good. Copying all of them keeps
//! every point in time but can leave the chain days behind when copies are slow or the
//! platform is in trouble; copying only the newest keeps the recovery point objective but
//! drops the points in between. The policy's `catchUp` chooses:
//!
//! - `all`: the oldest waiting restore point, always.
//! - `latest`: the newest; the older ones are superseded.
//! - `auto`: the oldest while copying them in order keeps the chain within its objective,
//!   else the newest (see [`pick`] for what "keeps" means).

use super::order::PendingCopy;
use super::POLL_INTERVAL;
use time::{Duration, OffsetDateTime};

/// The policy's catch-up mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    All,
    Latest,
    #[default]
    Auto,
}

impl CatchUp {
    pub fn parse(s: &str) -> Option<CatchUp> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Some(CatchUp::All),
            "latest" => Some(CatchUp::Latest),
            "auto" => Some(CatchUp::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::All => "all",
            CatchUp::Latest => "latest",
            CatchUp::Auto => "auto",
        }
    }
}

/// What a chain knows when it picks: its waiting restore points and its pace.
#[derive(Debug, Clone, Copy)]
pub struct Backlog<'a> {
    /// The waiting copies, in any order.
    pub pending: &'a [PendingCopy],
    /// Creation time of the newest source restore point whose copy succeeded.
    pub newest_safe: Option<OffsetDateTime>,
    /// How long this chain's copies typically take (median of its recent ones).
    pub typical_copy: Option<Duration>,
    /// The chain's recovery point objective.
    pub objective: Duration,
}

/// The copy to start next, and the waiting copies it supersedes (older ones, which can
/// never be copied after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub key: String,
    pub supersedes: Vec<String>,
}

/// The time a copy is assumed to take when planning: the chain's typical copy, but never
/// less than a poll interval (a copy's end is seen only at a poll) nor less than 20 minutes
/// (three copy starts per hour per target collection).
pub fn planned_copy_time(typical: Option<Duration>) -> Duration {
    typical
        .unwrap_or(POLL_INTERVAL)
        .max(POLL_INTERVAL)
        .max(Duration::minutes(20))
}

/// Whether copying the waiting restore points `oldest_first` in order, one every `d`
/// starting `now`, keeps the chain within `objective` all along.
///
/// In order, the k-th waiting restore point lands at `now + k·d`; just before it lands the
/// newest restore point safe in the target region is the (k−1)-th (the 0-th being
/// `newest_safe`, or, before the chain's first copy, the oldest waiting one itself). The
/// chain keeps its objective when every such moment is within it:
/// `now + k·d − created(k−1) ≤ objective` for k = 1..n.
pub fn in_order_keeps_objective(
    oldest_first: &[OffsetDateTime],
    newest_safe: Option<OffsetDateTime>,
    d: Duration,
    objective: Duration,
    now: OffsetDateTime,
) -> bool {
    let Some(first) = oldest_first.first() else {
        return true;
    };
    let mut previous = newest_safe.unwrap_or(*first);
    for (k, created) in oldest_first.iter().enumerate() {
        let lands = now + d * (k as i32 + 1);
        if lands - previous > objective {
            return false;
        }
        previous = *created;
    }
    true
}

/// Picks the copy a free chain starts next (`None`: nothing waits).
///
/// `auto` copies in order while [`in_order_keeps_objective`] holds, with the copy time from
/// [`planned_copy_time`]; once it does not, it skips to the newest waiting restore point:
/// the soonest the chain can be back within its objective. The estimate is made again at
/// every pick, so a chain whose copies speed up goes back to copying in order.
pub fn pick(mode: CatchUp, backlog: &Backlog<'_>, now: OffsetDateTime) -> Option<Pick> {
    let mut waiting: Vec<&PendingCopy> = backlog.pending.iter().collect();
    waiting.sort_by(|a, b| (a.time_created, &a.key).cmp(&(b.time_created, &b.key)));
    let (oldest, newest) = (*waiting.first()?, *waiting.last()?);
    let skip = match mode {
        CatchUp::All => false,
        CatchUp::Latest => true,
        CatchUp::Auto => {
            let times: Vec<OffsetDateTime> = waiting.iter().map(|p| p.time_created).collect();
            !in_order_keeps_objective(
                &times,
                backlog.newest_safe,
                planned_copy_time(backlog.typical_copy),
                backlog.objective,
                now,
            )
        }
    };
    Some(if skip {
        Pick {
            key: newest.key.clone(),
            supersedes: waiting[..waiting.len() - 1]
                .iter()
                .map(|p| p.key.clone())
                .collect(),
        }
    } else {
        Pick {
            key: oldest.key.clone(),
            supersedes: Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-10 12:00 UTC);

    fn waiting(hours_ago: &[i64]) -> Vec<PendingCopy> {
        hours_ago
            .iter()
            .map(|h| PendingCopy {
                key: format!("rp|{h}h"),
                time_created: NOW - Duration::hours(*h),
                not_before: None,
            })
            .collect()
    }

    fn backlog(p: &[PendingCopy], safe_hours_ago: Option<i64>, typical_h: i64) -> Backlog<'_> {
        Backlog {
            pending: p,
            newest_safe: safe_hours_ago.map(|h| NOW - Duration::hours(h)),
            typical_copy: Some(Duration::hours(typical_h)),
            objective: Duration::hours(36),
        }
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [CatchUp::All, CatchUp::Latest, CatchUp::Auto] {
            assert_eq!(CatchUp::parse(m.as_str()), Some(m));
        }
        assert_eq!(CatchUp::parse("LATEST"), Some(CatchUp::Latest));
        assert_eq!(CatchUp::parse("newest"), None);
        assert_eq!(CatchUp::default(), CatchUp::Auto);
    }

    #[test]
    fn nothing_waiting_picks_nothing() {
        for m in [CatchUp::All, CatchUp::Latest, CatchUp::Auto] {
            assert_eq!(pick(m, &backlog(&[], Some(10), 1), NOW), None);
        }
    }

    #[test]
    fn one_waiting_is_copied_whatever_the_mode() {
        let p = waiting(&[30]);
        for m in [CatchUp::All, CatchUp::Latest, CatchUp::Auto] {
            let got = pick(m, &backlog(&p, Some(100), 50), NOW).unwrap();
            assert_eq!((got.key.as_str(), got.supersedes.len()), ("rp|30h", 0));
        }
    }

    #[test]
    fn all_takes_the_oldest_and_latest_the_newest() {
        let p = waiting(&[2, 50, 26]); // any order
        let all = pick(CatchUp::All, &backlog(&p, Some(80), 1), NOW).unwrap();
        assert_eq!(all.key, "rp|50h");
        assert!(all.supersedes.is_empty());
        let latest = pick(CatchUp::Latest, &backlog(&p, Some(80), 1), NOW).unwrap();
        assert_eq!(latest.key, "rp|2h");
        assert_eq!(latest.supersedes, ["rp|50h", "rp|26h"], "oldest first");
    }

    #[test]
    fn auto_copies_in_order_while_the_objective_holds() {
        // Safe copy 20 h old, two waiting (14 h and 2 h old), copies take 2 h:
        // k=1 lands at +2 h: 22 h since the safe one; k=2 lands at +4 h: 18 h. Within 36 h.
        let p = waiting(&[14, 2]);
        let got = pick(CatchUp::Auto, &backlog(&p, Some(20), 2), NOW).unwrap();
        assert_eq!(got.key, "rp|14h");
        assert!(got.supersedes.is_empty());
    }

    #[test]
    fn auto_skips_when_in_order_would_breach() {
        // The same backlog with 10 h copies: k=2 lands at +20 h, 34 h after rp|14h; fine.
        // With 12 h copies: k=2 lands at +24 h, 38 h after rp|14h > 36 h: skip.
        let p = waiting(&[14, 2]);
        assert_eq!(
            pick(CatchUp::Auto, &backlog(&p, Some(20), 10), NOW)
                .unwrap()
                .key,
            "rp|14h"
        );
        let got = pick(CatchUp::Auto, &backlog(&p, Some(20), 12), NOW).unwrap();
        assert_eq!(got.key, "rp|2h");
        assert_eq!(got.supersedes, ["rp|14h"]);
    }

    #[test]
    fn auto_edges_are_inclusive() {
        // Exactly at the objective keeps order; a minute over skips.
        let times = [NOW - Duration::hours(10)];
        let d = Duration::hours(6);
        assert!(in_order_keeps_objective(
            &times,
            Some(NOW - Duration::hours(30)),
            d,
            Duration::hours(36),
            NOW
        ));
        assert!(!in_order_keeps_objective(
            &times,
            Some(NOW - Duration::hours(30) - Duration::minutes(1)),
            d,
            Duration::hours(36),
            NOW
        ));
    }

    #[test]
    fn auto_skips_at_once_when_already_behind() {
        // Already 40 h since the safe copy: in order cannot keep the objective, so the newest
        // of the waiting ones goes first.
        let p = waiting(&[39, 15]);
        let got = pick(CatchUp::Auto, &backlog(&p, Some(40), 1), NOW).unwrap();
        assert_eq!(got.key, "rp|15h");
    }

    #[test]
    fn before_the_first_copy_the_oldest_waiting_one_is_the_measure() {
        // No copy yet: the chain is as far behind as its oldest waiting restore point.
        let p = waiting(&[30, 6]);
        let fast = Backlog {
            typical_copy: None,
            newest_safe: None,
            ..backlog(&p, None, 0)
        };
        // k=1 lands at +20 min: 30 h 20 min; k=2 at +40 min, 30 h 40 min after rp|30h: keep.
        assert_eq!(pick(CatchUp::Auto, &fast, NOW).unwrap().key, "rp|30h");
        let p = waiting(&[36, 6]);
        let late = Backlog {
            typical_copy: None,
            newest_safe: None,
            ..backlog(&p, None, 0)
        };
        assert_eq!(pick(CatchUp::Auto, &late, NOW).unwrap().key, "rp|6h");
    }

    #[test]
    fn the_planned_copy_time_has_floors() {
        assert_eq!(planned_copy_time(None), Duration::minutes(20));
        assert_eq!(
            planned_copy_time(Some(Duration::minutes(3))),
            Duration::minutes(20)
        );
        assert_eq!(
            planned_copy_time(Some(Duration::hours(5))),
            Duration::hours(5)
        );
    }

    #[test]
    fn a_long_backlog_in_order_is_judged_at_every_landing() {
        // Ten waiting, 4 h apart (1 h … 37 h old), safe copy 37 h old, copies of 1 h: the
        // first landing is 38 h after the safe copy: skip to the newest.
        let hours: Vec<i64> = (0..10).map(|i| 1 + 4 * i).collect();
        let p = waiting(&hours);
        assert_eq!(
            pick(CatchUp::Auto, &backlog(&p, Some(37), 1), NOW)
                .unwrap()
                .key,
            "rp|1h"
        );
        // Four waiting (13, 9, 5, 1 h old), safe copy 17 h old: the landings are 18, 15, 12
        // and 9 h after the newest safe copy of their moment: in order.
        let p = waiting(&[13, 9, 5, 1]);
        assert_eq!(
            pick(CatchUp::Auto, &backlog(&p, Some(17), 1), NOW)
                .unwrap()
                .key,
            "rp|13h"
        );
    }
}
