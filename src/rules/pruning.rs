//! Source pruning (opt-in, `pruneSource: {"keepLatest": 3}` on a rule): which source
//! restore points ferry deletes once they are safely copied, as a pure decision.
//!
//! The platform lets the source side delete incremental restore points that were copied,
//! but the collection's first (full, base) restore point must stay: deleting it makes the
//! next copy full ([platform.md, rule 15]). Each source restore point also counts against
//! its VM's 500.

use std::collections::BTreeSet;

use serde_json::Value;
use time::OffsetDateTime;

/// Most `keepLatest` accepted (the platform's per-VM limit is 500).
pub const MAX_KEEP_LATEST: u32 = 400;
/// At most this many source deletions per collection per poller tick.
pub const PRUNES_PER_TICK: usize = 3;

/// Parses a rule's `pruneSource` (absent: `None`, ferry never deletes a source restore
/// point); returns `keepLatest`.
pub fn parse(v: Option<&Value>) -> Result<Option<u32>, String> {
    let Some(v) = v else {
        return Ok(None);
    };
    let Some(o) = v.as_object() else {
        return Err("pruneSource: must be an object such as {\"keepLatest\": 3}".into());
    };
    if let Some(k) = o.keys().find(|k| *k != "keepLatest") {
        return Err(format!(
            "pruneSource: unknown field {k:?} (expected keepLatest)"
        ));
    }
    match o.get("keepLatest").map(Value::as_u64) {
        None => Err("pruneSource.keepLatest: required (the newest restore points kept)".into()),
        Some(Some(n)) if (1..=u64::from(MAX_KEEP_LATEST)).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(format!(
            "pruneSource.keepLatest: must be a whole number from 1 to {MAX_KEEP_LATEST}"
        )),
    }
}

/// What ferry knows of one source restore point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePoint {
    /// Its name (lower case compares).
    pub name: String,
    pub created: OffsetDateTime,
    /// Its copy succeeded into every target region of the rule.
    pub copied_everywhere: bool,
    /// A copy of it is pending, starting, in flight or restarting in some chain.
    pub copy_in_progress: bool,
}

/// The source restore points to delete now, oldest first: never the collection's first
/// (oldest) restore point, never a chain's base (`bases`, lower-cased names), never one of
/// the newest `keep_latest`, never one not yet copied to every target or with a copy under
/// way; at most `budget`.
pub fn decide(
    points: &[SourcePoint],
    bases: &BTreeSet<String>,
    keep_latest: u32,
    budget: usize,
) -> Vec<String> {
    let mut sorted: Vec<&SourcePoint> = points.iter().collect();
    sorted.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let keep_from = sorted.len().saturating_sub(keep_latest as usize);
    sorted
        .iter()
        .enumerate()
        // The first is the collection's base; the newest `keep_latest` stay.
        .filter(|(i, _)| *i > 0 && *i < keep_from)
        .map(|(_, p)| *p)
        .filter(|p| p.copied_everywhere && !p.copy_in_progress)
        .filter(|p| !bases.contains(&p.name.to_ascii_lowercase()))
        .take(budget)
        .map(|p| p.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

    fn points(n: usize) -> Vec<SourcePoint> {
        (0..n)
            .map(|i| SourcePoint {
                name: format!("rp{i}"),
                created: datetime!(2026-11-01 00:00 UTC) + Duration::hours(i as i64),
                copied_everywhere: true,
                copy_in_progress: false,
            })
            .collect()
    }

    #[test]
    fn parses_keep_latest_and_names_each_problem() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some(&json!({"keepLatest": 3}))), Ok(Some(3)));
        for (bad, needle) in [
            (json!(3), "object"),
            (json!({}), "required"),
            (json!({"keepLatest": 0}), "1 to 400"),
            (json!({"keepLatest": 401}), "1 to 400"),
            (json!({"keepLatest": "3"}), "1 to 400"),
            (json!({"keep": 3}), "unknown field"),
        ] {
            let e = parse(Some(&bad)).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn deletes_copied_ones_oldest_first_but_never_the_first_nor_the_newest() {
        let d = decide(&points(8), &BTreeSet::new(), 3, 10);
        assert_eq!(d, ["rp1", "rp2", "rp3", "rp4"]);
        // Budget.
        assert_eq!(decide(&points(8), &BTreeSet::new(), 3, 2), ["rp1", "rp2"]);
        // Too few to prune anything.
        assert!(decide(&points(4), &BTreeSet::new(), 3, 10).is_empty());
        assert!(decide(&points(1), &BTreeSet::new(), 1, 10).is_empty());
    }

    #[test]
    fn never_a_chains_base_nor_one_not_copied_everywhere_nor_one_being_copied() {
        let mut p = points(8);
        p[1].copied_everywhere = false;
        p[2].copy_in_progress = true;
        let bases: BTreeSet<String> = ["rp3".to_string()].into();
        assert_eq!(decide(&p, &bases, 3, 10), ["rp4"]);
    }

    #[test]
    fn order_is_by_creation_not_by_input() {
        let mut p = points(6);
        p.reverse();
        assert_eq!(decide(&p, &BTreeSet::new(), 2, 10), ["rp1", "rp2", "rp3"]);
    }
}
