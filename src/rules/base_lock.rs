//! Base protection (opt-in, `protectBase: true` on a rule): whether a chain's base restore
//! point still needs its `CanNotDelete` management lock, as a pure decision.
//!
//! The base is the chain's first copied source restore point (`Chain::base_restore_point`,
//! the one whose deletion the chain reports as `BaseRestorePointDeleted`): deleting it makes
//! the next copy full. A lock makes ARM refuse that delete (409 `ScopeLocked`) instead of
//! ferry only alerting it afterwards. The lock is PUT once per base; the chain row records
//! which base it locked, so a tick does not PUT it again.

use serde_json::Value;
use time::OffsetDateTime;

/// The name ferry gives its lock on a base restore point.
pub const LOCK_NAME: &str = "ferry-protect-base";
/// The lock's notes, for whoever finds it in the portal.
pub const LOCK_NOTES: &str = "Base of a restore-point-ferry copy chain: deleting it makes the next cross-region copy full. Set by ferry (protectBase).";

/// Parses a rule's `protectBase` (absent: off).
pub fn parse(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("protectBase: must be true or false".into()),
    }
}

/// The base restore point (its name) to lock now, if any: protection on, the chain has a
/// base, and that base is not the one already locked (names compare case-insensitively,
/// as ARM's do).
pub fn to_lock<'a>(protect: bool, base: Option<&'a str>, locked: Option<&str>) -> Option<&'a str> {
    let base = base.filter(|_| protect)?;
    match locked {
        Some(l) if l.eq_ignore_ascii_case(base) => None,
        _ => Some(base),
    }
}

/// After a failed lock attempt (`failed_at`), whether to try again: only once the chain
/// has succeeded since (so a missing permission costs one write per copy, not per tick).
pub fn retry_due(failed_at: Option<OffsetDateTime>, last_success: Option<OffsetDateTime>) -> bool {
    match failed_at {
        None => true,
        Some(f) => last_success.is_some_and(|s| s > f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_accepts_booleans_only() {
        assert_eq!(parse(None), Ok(false));
        assert_eq!(parse(Some(&json!(true))), Ok(true));
        assert_eq!(parse(Some(&json!(false))), Ok(false));
        assert!(parse(Some(&json!("yes")))
            .unwrap_err()
            .contains("protectBase"));
        assert!(parse(Some(&json!(1))).is_err());
    }

    #[test]
    fn a_failed_lock_waits_for_the_next_success() {
        use time::macros::datetime;
        let t = datetime!(2026-11-01 00:00 UTC);
        assert!(retry_due(None, None));
        assert!(!retry_due(Some(t), None));
        assert!(!retry_due(Some(t), Some(t)));
        assert!(!retry_due(Some(t), Some(t - time::Duration::hours(1))));
        assert!(retry_due(Some(t), Some(t + time::Duration::minutes(1))));
    }

    #[test]
    fn locks_each_base_once() {
        // Every combination of (protect, base, locked).
        let bases = [None, Some("rp1")];
        let locked = [None, Some("rp1"), Some("RP1"), Some("rp0")];
        for protect in [false, true] {
            for b in bases {
                for l in locked {
                    let got = to_lock(protect, b, l);
                    let want = match (protect, b, l) {
                        (false, _, _) | (_, None, _) => None,
                        (true, Some(_), Some(l)) if l.eq_ignore_ascii_case("rp1") => None,
                        (true, Some(b), _) => Some(b),
                    };
                    assert_eq!(got, want, "protect={protect} base={b:?} locked={l:?}");
                }
            }
        }
    }
}
