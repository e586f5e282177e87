//! Target retention: which copies a chain's target collection keeps, as a pure decision.
//!
//! The platform allows at most 500 restore points per VM (and ferry holds the same count
//! for one target collection, which holds one VM's copies), so a chain copying hourly
//! reaches it in about three weeks. Each target has a `retention` policy
//! (`{"maxAge": "P30D", "maxCount": 200}`), the string `"none"`, or nothing, which applies
//! [`DEFAULT_CAP`]. Copies beyond it are deleted oldest first; never the copy in flight, the
//! newest ready copy, or a copy a restore is using.

use std::collections::BTreeSet;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The platform's count limit, as ferry holds it for one target collection.
pub const TARGET_LIMIT: u32 = 500;
/// Copies kept per target collection when no retention is configured: below
/// [`TARGET_LIMIT`] with room for copies in flight and restore points made by hand.
pub const DEFAULT_CAP: u32 = 400;
/// With retention off, a chain whose target holds this many copies is warned about once.
pub const APPROACHING_AT: u32 = 450;
/// At most this many deletions per chain per poller tick (ARM writes are paced with the
/// rest; a lowered `maxCount` drains over a few ticks instead of in one burst).
pub const DELETES_PER_TICK: usize = 3;

/// A target's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Nothing configured: keep at most [`DEFAULT_CAP`] copies, warning when it starts.
    #[default]
    DefaultCap,
    /// `"none"`: ferry deletes nothing (the chain will reach the platform's limit).
    Off,
    /// `{"maxAge": ..., "maxCount": ...}`; without `maxCount`, [`DEFAULT_CAP`] still holds.
    Keep {
        max_age: Option<Duration>,
        max_count: Option<u32>,
    },
}

impl Retention {
    /// The most copies kept (`None`: no cap), and whether it is the default cap.
    pub fn cap(self) -> Option<(u32, bool)> {
        match self {
            Retention::DefaultCap => Some((DEFAULT_CAP, true)),
            Retention::Off => None,
            Retention::Keep { max_count, .. } => {
                Some(max_count.map_or((DEFAULT_CAP, true), |m| (m, false)))
            }
        }
    }

    fn max_age(self) -> Option<Duration> {
        match self {
            Retention::Keep { max_age, .. } => max_age,
            _ => None,
        }
    }
}

/// Parses a target's `retention` (absent: [`Retention::DefaultCap`]); every problem named.
pub fn parse(v: Option<&Value>) -> Result<Retention, String> {
    let Some(v) = v else {
        return Ok(Retention::DefaultCap);
    };
    if let Some(s) = v.as_str() {
        return if s.eq_ignore_ascii_case("none") {
            Ok(Retention::Off)
        } else {
            Err(format!(
                "retention {s:?}: use \"none\" or an object {{\"maxAge\": \"P30D\", \"maxCount\": 200}}"
            ))
        };
    }
    let Some(o) = v.as_object() else {
        return Err("retention: must be \"none\" or an object with maxAge and/or maxCount".into());
    };
    if let Some(k) = o.keys().find(|k| *k != "maxAge" && *k != "maxCount") {
        return Err(format!(
            "retention: unknown field {k:?} (expected maxAge, maxCount)"
        ));
    }
    let max_age = match o.get("maxAge") {
        None => None,
        Some(Value::String(s)) => {
            let d =
                crate::policy::parse_duration(s).map_err(|e| format!("retention.maxAge: {e}"))?;
            if d < Duration::HOUR {
                return Err(format!("retention.maxAge {s:?}: must be at least PT1H"));
            }
            Some(d)
        }
        Some(_) => return Err("retention.maxAge: must be an ISO 8601 duration string".into()),
    };
    let max_count = match o.get("maxCount") {
        None => None,
        Some(n) => match n.as_u64() {
            Some(n) if (1..u64::from(TARGET_LIMIT)).contains(&n) => Some(n as u32),
            _ => {
                return Err(format!(
                    "retention.maxCount {n}: must be a whole number from 1 to {} (the platform allows {TARGET_LIMIT})",
                    TARGET_LIMIT - 1
                ))
            }
        },
    };
    if max_age.is_none() && max_count.is_none() {
        return Err("retention: give maxAge, maxCount or both (or \"none\")".into());
    }
    Ok(Retention::Keep { max_age, max_count })
}

/// One copy whose target restore point exists (not deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The copy's ledger row.
    pub row: String,
    /// The source restore point's creation time (the copy's age is measured from it).
    pub source_time: OffsetDateTime,
    /// The copy succeeded (ready to restore from); otherwise it is in flight.
    pub ready: bool,
}

/// What retention does now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Rows whose target restore points to delete now, oldest first.
    pub delete: Vec<String>,
    /// Some deletion is due to the default cap (not a configured retention): warn once.
    pub by_default_cap: bool,
    /// Copies the target holds after these deletions.
    pub held_after: u32,
    /// The copy retention would delete next (for status), if any.
    pub next: Option<String>,
    /// More is due now than this tick's budget allowed: look again next tick.
    pub more_now: bool,
    /// When the next copy ages out under `maxAge` (`None`: not by age).
    pub due_at: Option<OffsetDateTime>,
}

/// Decides which copies to delete now. `in_use` are rows a restore is using (never
/// deleted); `budget` caps the deletions. Oldest first; never a copy in flight, never the
/// newest ready copy.
pub fn decide(
    retention: Retention,
    held: &[Held],
    in_use: &BTreeSet<String>,
    now: OffsetDateTime,
    budget: usize,
) -> Decision {
    let mut sorted: Vec<&Held> = held.iter().collect();
    sorted.sort_by(|a, b| (a.source_time, &a.row).cmp(&(b.source_time, &b.row)));
    let newest_ready = sorted.iter().rev().find(|h| h.ready).map(|h| &h.row);
    let mut count = held.len() as u32;
    let mut d = Decision::default();
    let Some((cap, default_cap)) = retention.cap() else {
        d.held_after = count;
        return d;
    };
    let max_age = retention.max_age();
    let candidates = sorted
        .iter()
        .filter(|h| h.ready && Some(&h.row) != newest_ready && !in_use.contains(&h.row));
    for h in candidates {
        let over = count > cap;
        let old = max_age.is_some_and(|a| now - h.source_time > a);
        if !over && !old {
            // Younger ones follow: nothing more is due now.
            d.next = Some(h.row.clone());
            d.due_at = max_age.map(|a| h.source_time + a);
            break;
        }
        if d.delete.len() >= budget {
            d.more_now = true;
            d.next = Some(h.row.clone());
            break;
        }
        if over && !old && default_cap {
            d.by_default_cap = true;
        }
        d.delete.push(h.row.clone());
        count -= 1;
    }
    d.held_after = count;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    /// `n` ready copies an hour apart (row `rp-000` oldest), the last `in_flight` not ready.
    fn held(n: usize, in_flight: usize) -> Vec<Held> {
        (0..n)
            .map(|i| Held {
                row: format!("rp-{i:03}"),
                source_time: T0 + Duration::hours(i as i64),
                ready: i < n - in_flight,
            })
            .collect()
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn parses_every_form_and_names_each_problem() {
        assert_eq!(parse(None), Ok(Retention::DefaultCap));
        assert_eq!(parse(Some(&json!("none"))), Ok(Retention::Off));
        assert_eq!(
            parse(Some(&json!({"maxAge": "P30D", "maxCount": 200}))),
            Ok(Retention::Keep {
                max_age: Some(Duration::days(30)),
                max_count: Some(200)
            })
        );
        assert_eq!(
            parse(Some(&json!({"maxCount": 5}))),
            Ok(Retention::Keep {
                max_age: None,
                max_count: Some(5)
            })
        );
        for (bad, needle) in [
            (json!("forever"), "\"none\""),
            (json!(3), "object"),
            (json!({}), "give maxAge"),
            (json!({"maxCount": 500}), "1 to 499"),
            (json!({"maxCount": 0}), "1 to 499"),
            (json!({"maxCount": "9"}), "maxCount"),
            (json!({"maxAge": "P1Y"}), "maxAge"),
            (json!({"maxAge": "PT10M"}), "at least PT1H"),
            (json!({"maxAge": 30}), "duration string"),
            (json!({"keep": 3}), "unknown field \"keep\""),
        ] {
            let e = parse(Some(&bad)).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn off_deletes_nothing_however_many() {
        let d = decide(Retention::Off, &held(600, 1), &none(), T0, 3);
        assert!(d.delete.is_empty());
        assert_eq!(d.held_after, 600);
        assert_eq!(d.next, None);
    }

    #[test]
    fn default_cap_deletes_the_oldest_beyond_it_and_says_so() {
        let d = decide(Retention::DefaultCap, &held(401, 1), &none(), T0, 3);
        assert_eq!(d.delete, ["rp-000"]);
        assert!(d.by_default_cap);
        assert_eq!(d.held_after, 400);
        assert_eq!(d.next.as_deref(), Some("rp-001"));
        assert!(!d.more_now);
        // At the cap: nothing to do, but status can say what goes next.
        let d = decide(Retention::DefaultCap, &held(400, 1), &none(), T0, 3);
        assert!(d.delete.is_empty() && !d.by_default_cap);
        assert_eq!(d.next.as_deref(), Some("rp-000"));
    }

    #[test]
    fn the_budget_caps_a_tick_and_asks_for_more() {
        let r = Retention::Keep {
            max_age: None,
            max_count: Some(10),
        };
        let d = decide(r, &held(20, 0), &none(), T0, 3);
        assert_eq!(d.delete, ["rp-000", "rp-001", "rp-002"]);
        assert!(d.more_now);
        assert!(!d.by_default_cap, "a configured maxCount is no default cap");
        assert_eq!(d.held_after, 17);
    }

    #[test]
    fn max_age_deletes_what_is_older_and_says_when_the_next_is_due() {
        let r = Retention::Keep {
            max_age: Some(Duration::hours(10)),
            max_count: None,
        };
        let now = T0 + Duration::hours(12);
        // Copies at T0..T0+5h: those older than 10 h at T0+12h are rp-000 and rp-001.
        let d = decide(r, &held(6, 0), &none(), now, 10);
        assert_eq!(d.delete, ["rp-000", "rp-001"]);
        assert_eq!(d.next.as_deref(), Some("rp-002"));
        assert_eq!(d.due_at, Some(T0 + Duration::hours(12)));
        // maxAge alone still keeps the default cap.
        assert_eq!(r.cap(), Some((DEFAULT_CAP, true)));
    }

    #[test]
    fn never_the_newest_ready_copy_nor_one_in_flight_nor_one_in_use() {
        let r = Retention::Keep {
            max_age: Some(Duration::hours(1)),
            max_count: Some(1),
        };
        let now = T0 + Duration::days(30);
        // Everything is old and over count: only the protected copies stay.
        let h = held(5, 1); // rp-004 in flight, rp-003 newest ready
        let in_use: BTreeSet<String> = ["rp-001".to_string()].into();
        let d = decide(r, &h, &in_use, now, 10);
        assert_eq!(d.delete, ["rp-000", "rp-002"]);
        assert_eq!(d.held_after, 3);
        // A lone ready copy is never deleted, however old.
        let d = decide(r, &held(1, 0), &none(), now, 10);
        assert!(d.delete.is_empty());
        // Only copies in flight: nothing to delete.
        let d = decide(r, &held(3, 3), &none(), now, 10);
        assert!(d.delete.is_empty());
    }

    #[test]
    fn order_is_by_source_time_not_by_input_order() {
        let mut h = held(5, 0);
        h.reverse();
        let r = Retention::Keep {
            max_age: None,
            max_count: Some(3),
        };
        let d = decide(r, &h, &none(), T0, 10);
        assert_eq!(d.delete, ["rp-000", "rp-001"]);
    }

    #[test]
    fn a_zero_budget_deletes_nothing_but_asks_again() {
        let d = decide(Retention::DefaultCap, &held(402, 0), &none(), T0, 0);
        assert!(d.delete.is_empty());
        assert!(d.more_now);
        assert_eq!(d.held_after, 402);
    }
}
