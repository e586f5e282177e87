//! The decision to start a chain's next pending copy (the one `rules::catch_up` picked):
//! reject it (never copyable), supersede it (skipped by the catch-up policy), defer it (not
//! ready yet: look again later), make sure of the target collection first, or claim it —
//! and the record edits each implies. The functions layer reads the source restore
//! point (and, for a chain that has not yet found its target collection, that collection),
//! calls [`decide`], then writes and acts.

use crate::ledger::records::{Chain, CopyRecord, CopyState};
use crate::rules::{
    self, CatchUp, DeferReason, Eligibility, RejectReason, SourceFacts, TargetRules,
};
use time::OffsetDateTime;

/// What the start of a pending copy comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// It can never be copied: settle it as rejected ([`rejected`]). `quiet` when it is a
    /// copy ferry itself made (expected, not news): no alert.
    Reject { reason: RejectReason, quiet: bool },
    /// Older than a restore point already copied or copying, under a catch-up policy that
    /// skips by choice (`latest`, `auto`): settle it as [`superseded`], quietly.
    Supersede { by: String },
    /// Not ready yet: write these records and look again at `at` (a scheduled recheck).
    Defer {
        chain: Chain,
        copy: CopyRecord,
        at: OffsetDateTime,
        why: DeferReason,
    },
    /// Eligible, but the chain has not found its target collection yet: find (or create)
    /// and check it, then decide again with `target_ready` set.
    EnsureTarget,
    /// Eligible: write these records (the chain now holds the copy, even across a crash),
    /// then send the copy PUT.
    Claim { chain: Chain, copy: CopyRecord },
}

/// What ferry knows about the source restore point when its turn comes.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// ARM says it does not exist (any more).
    Missing,
    /// Its facts, and whether it is a copy ferry made itself.
    Found {
        facts: &'a SourceFacts,
        own_copy: bool,
    },
}

/// Decides the start of `copy`, the chain's oldest pending copy, at `now`.
pub fn decide(
    chain: &Chain,
    copy: &CopyRecord,
    source: Source<'_>,
    target: &TargetRules,
    now: OffsetDateTime,
) -> Start {
    let (facts, own_copy) = match source {
        Source::Missing => {
            return Start::Reject {
                reason: RejectReason::SourceMissing,
                quiet: false,
            }
        }
        Source::Found { facts, own_copy } => (facts, own_copy),
    };
    // A restarted copy is the one that set the watermark at its first claim: it may be made
    // again (its failed target was deleted first), so its own time does not count against it.
    let watermark = chain
        .watermark
        .filter(|w| copy.earlier_attempts.is_empty() || *w != copy.source_time);
    match rules::eligibility(facts, target, watermark) {
        Eligibility::Reject(RejectReason::OutOfOrder { .. }) if target.catch_up != CatchUp::All => {
            Start::Supersede {
                by: newer_than(chain),
            }
        }
        Eligibility::Reject(reason) => {
            let quiet = quiet(&reason, own_copy);
            Start::Reject { reason, quiet }
        }
        Eligibility::Defer(_) if copy.defer_count >= rules::MAX_DEFERRALS => Start::Reject {
            reason: RejectReason::NeverReady {
                waited: now - copy.requested_at,
            },
            quiet: false,
        },
        Eligibility::Defer(why) => {
            let at = now + rules::recheck_delay(copy.defer_count);
            let mut copy = copy.clone();
            copy.defer_count += 1;
            copy.not_before = Some(at);
            let mut chain = chain.clone();
            chain.active = true;
            Start::Defer {
                chain,
                copy,
                at,
                why,
            }
        }
        Eligibility::Eligible { .. } if !chain.target_ready => Start::EnsureTarget,
        Eligibility::Eligible { time_created, .. } => {
            let (chain, copy) = claimed(chain, copy, time_created, now);
            Start::Claim { chain, copy }
        }
    }
}

/// The restore point that makes an older one uncopyable, by name: the chain's copy in
/// flight, else its newest copied one.
pub fn newer_than(chain: &Chain) -> String {
    chain
        .in_flight
        .as_deref()
        .and_then(|row| row.strip_prefix(crate::ledger::records::COPY_PREFIX))
        .map(str::to_string)
        .or_else(|| chain.last_success_restore_point.clone())
        .unwrap_or_else(|| "a newer restore point".into())
}

/// A waiting copy skipped by the catch-up policy: `by` (a newer restore point of the chain)
/// is copied instead, after which this one can never be copied. Settled like any end
/// ([`settled`]): the chain row too when it held it.
pub fn superseded(
    chain: &Chain,
    copy: &CopyRecord,
    by: &str,
    now: OffsetDateTime,
) -> (Option<Chain>, CopyRecord) {
    let reason = format!(
        "superseded by {by}: the catch-up policy copied the newer restore point to keep the chain's recovery point objective; a restore point older than one copied can never be copied"
    );
    let (released, mut copy) = settled(chain, copy, CopyState::Superseded, reason, now);
    copy.superseded_by = Some(by.to_string());
    (released, copy)
}

/// Whether a rejection goes unannounced: only a copy ferry made itself, showing up as a
/// "new restore point" in scope, which is expected.
pub fn quiet(reason: &RejectReason, own_copy: bool) -> bool {
    matches!(reason, RejectReason::CopyOfCopy) && own_copy
}

/// The claim: the chain holds the copy (one at a time), its watermark moves to the copy's
/// creation time (nothing older can be copied after it), the start counts against the
/// three per hour, and the chain's first copy becomes its base.
fn claimed(
    chain: &Chain,
    copy: &CopyRecord,
    time_created: OffsetDateTime,
    now: OffsetDateTime,
) -> (Chain, CopyRecord) {
    let mut chain = chain.clone();
    let mut copy = copy.clone();
    chain.in_flight = Some(copy.row_key());
    chain.watermark = Some(
        chain
            .watermark
            .map_or(time_created, |w| w.max(time_created)),
    );
    chain.recent_starts.push(now);
    rules::prune_starts(&mut chain.recent_starts, now);
    chain.active = true;
    if chain.base_restore_point.is_none() {
        chain.base_restore_point = Some(copy.source_restore_point.name.clone());
    }
    copy.state = CopyState::Starting;
    copy.started_at = Some(now);
    copy.last_progress_at = Some(now);
    copy.not_before = None;
    copy.source_vm = copy.source_vm.or_else(|| chain.source_vm.clone());
    (chain, copy)
}

/// A copy settled in a final state (`state`, with `reason`): the copy record, and the chain
/// row when the chain held it (released). Used for rejections, failed starts and the rest.
pub fn settled(
    chain: &Chain,
    copy: &CopyRecord,
    state: CopyState,
    reason: String,
    now: OffsetDateTime,
) -> (Option<Chain>, CopyRecord) {
    let mut copy = copy.clone();
    copy.state = state;
    copy.reason = Some(reason);
    copy.ended_at = Some(now);
    copy.not_before = None;
    let chain = (chain.in_flight.as_deref() == Some(copy.row_key().as_str())).then(|| {
        let mut c = chain.clone();
        c.in_flight = None;
        c
    });
    (chain, copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CollectionId;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-11-02 00:00 UTC);
    const NOW: OffsetDateTime = datetime!(2026-11-02 06:00 UTC);

    fn coll(rg: &str, name: &str) -> CollectionId {
        format!("/subscriptions/s/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}")
            .parse()
            .unwrap()
    }

    /// An idle chain that has found its target, and its pending copy of `rp2` (created T0).
    fn pending() -> (Chain, CopyRecord) {
        let source = coll("rg-app", "rpc-vm1");
        let target = coll("rg-dr", "rg-app-rpc-vm1-westus2");
        let chain = Chain {
            key: "k".into(),
            source_collection: source.clone(),
            source_region: Some("eastus".into()),
            source_vm: Some("vm1".into()),
            target_region: "westus2".into(),
            target_collection: target.clone(),
            created_at: T0 - Duration::days(3),
            in_flight: None,
            active: true,
            watermark: Some(T0 - Duration::days(1)),
            base_restore_point: Some("rp1".into()),
            last_success_source_time: Some(T0 - Duration::days(1)),
            last_success_restore_point: Some("rp1".into()),
            last_success_at: Some(T0 - Duration::hours(20)),
            recent_starts: vec![NOW - Duration::minutes(90), NOW - Duration::minutes(30)],
            rpo_alerted: None,
            upkeep: Default::default(),
            target_ready: true,
            history: Default::default(),
            etag: None,
            rpo_objective: None,
        };
        let copy = CopyRecord::pending(&chain, &source.restore_point("rp2"), T0, T0);
        (chain, copy)
    }

    fn ready() -> SourceFacts {
        SourceFacts {
            provisioning_state: Some("Succeeded".into()),
            time_created: Some(T0),
            ..SourceFacts::default()
        }
    }

    fn found(facts: &SourceFacts) -> Source<'_> {
        Source::Found {
            facts,
            own_copy: false,
        }
    }

    fn decide_with(chain: &Chain, copy: &CopyRecord, facts: &SourceFacts) -> Start {
        decide(chain, copy, found(facts), &TargetRules::default(), NOW)
    }

    fn rejected_with(s: &Start) -> (&'static str, bool) {
        match s {
            Start::Reject { reason, quiet } => (reason.code(), *quiet),
            other => panic!("not a rejection: {other:?}"),
        }
    }

    #[test]
    fn a_missing_source_is_rejected_loudly() {
        let (chain, copy) = pending();
        let s = decide(&chain, &copy, Source::Missing, &TargetRules::default(), NOW);
        assert_eq!(rejected_with(&s), ("SourceMissing", false));
    }

    #[test]
    fn only_ferrys_own_copies_are_rejected_quietly() {
        let (chain, copy) = pending();
        let copy_of_copy = SourceFacts {
            is_copy: true,
            ..ready()
        };
        let s = decide(
            &chain,
            &copy,
            Source::Found {
                facts: &copy_of_copy,
                own_copy: true,
            },
            &TargetRules::default(),
            NOW,
        );
        assert_eq!(rejected_with(&s), ("CopyOfCopy", true));
        let s = decide_with(&chain, &copy, &copy_of_copy);
        assert_eq!(
            rejected_with(&s),
            ("CopyOfCopy", false),
            "a hand-made copy is news"
        );
        // Own or not, any other reason is announced.
        let confidential = SourceFacts {
            security_type: Some("ConfidentialVM".into()),
            ..ready()
        };
        let s = decide(
            &chain,
            &copy,
            Source::Found {
                facts: &confidential,
                own_copy: true,
            },
            &TargetRules::default(),
            NOW,
        );
        assert_eq!(rejected_with(&s), ("ConfidentialVm", false));
        assert!(quiet(&RejectReason::CopyOfCopy, true));
        assert!(!quiet(&RejectReason::SourceMissing, true));
    }

    #[test]
    fn older_than_the_watermark_is_out_of_order_or_superseded_by_choice() {
        let (mut chain, copy) = pending();
        chain.watermark = Some(T0);
        let all = TargetRules {
            catch_up: CatchUp::All,
            ..TargetRules::default()
        };
        let s = decide(&chain, &copy, found(&ready()), &all, NOW);
        assert_eq!(rejected_with(&s), ("OutOfOrder", false));
        // Under latest and auto, skipping older restore points is the policy's own choice.
        for mode in [CatchUp::Latest, CatchUp::Auto] {
            let t = TargetRules {
                catch_up: mode,
                ..TargetRules::default()
            };
            assert_eq!(
                decide(&chain, &copy, found(&ready()), &t, NOW),
                Start::Supersede { by: "rp1".into() },
                "{mode:?}: the newest copied one"
            );
            chain.in_flight = Some("rp|rp9".into());
            assert_eq!(
                decide(&chain, &copy, found(&ready()), &t, NOW),
                Start::Supersede { by: "rp9".into() },
                "{mode:?}: the one in flight"
            );
            chain.in_flight = None;
        }
    }

    #[test]
    fn a_restarted_copy_may_be_claimed_again_at_its_own_watermark() {
        let (mut chain, mut copy) = pending();
        // Its first attempt set the watermark to its own creation time.
        chain.watermark = Some(T0);
        copy.earlier_attempts.push(crate::alerts::Attempt {
            started_at: Some(T0),
            ended_at: NOW - Duration::hours(1),
            outcome: "failed".into(),
            last_reading_at: None,
            last_percent: Some(40.0),
            last_status: None,
        });
        let Start::Claim { chain: c, copy: cp } = decide_with(&chain, &copy, &ready()) else {
            panic!("not claimed")
        };
        assert_eq!(c.watermark, Some(T0));
        assert_eq!(cp.state, CopyState::Starting);
        assert_eq!(cp.earlier_attempts.len(), 1, "the history stays");
        // A newer restore point copied since: the restarted one is out of order after all.
        chain.watermark = Some(T0 + Duration::hours(1));
        let all = TargetRules {
            catch_up: CatchUp::All,
            ..TargetRules::default()
        };
        assert_eq!(
            rejected_with(&decide(&chain, &copy, found(&ready()), &all, NOW)),
            ("OutOfOrder", false)
        );
    }

    #[test]
    fn superseding_settles_the_copy_and_frees_the_chain_only_if_it_held_it() {
        let (mut chain, copy) = pending();
        let (released, c) = superseded(&chain, &copy, "rp7", NOW);
        assert!(released.is_none(), "the chain did not hold it");
        assert_eq!(c.state, CopyState::Superseded);
        assert_eq!(c.superseded_by.as_deref(), Some("rp7"));
        assert_eq!(c.ended_at, Some(NOW));
        assert!(c.reason.unwrap().contains("superseded by rp7"));
        assert!(c.alerts.is_empty(), "no alert: it is not lost");
        chain.in_flight = Some(copy.row_key());
        let (released, _) = superseded(&chain, &copy, "rp7", NOW);
        assert_eq!(released.unwrap().in_flight, None);
    }

    #[test]
    fn not_ready_is_deferred_with_a_growing_delay_then_given_up() {
        let (mut chain, copy) = pending();
        chain.active = false;
        let creating = SourceFacts {
            provisioning_state: Some("Creating".into()),
            time_created: None,
            ..ready()
        };
        let Start::Defer {
            chain: c,
            copy: cp,
            at,
            why,
        } = decide_with(&chain, &copy, &creating)
        else {
            panic!("not deferred")
        };
        assert_eq!(at, NOW + rules::recheck_delay(0));
        assert_eq!((cp.defer_count, cp.not_before), (1, Some(at)));
        assert_eq!(cp.state, CopyState::Pending);
        assert!(c.active, "a chain with work waiting is watched");
        assert!(why.to_string().contains("Creating"), "{why}");
        // The fifth deferral waits longer than the first.
        let mut later = copy.clone();
        later.defer_count = 4;
        let Start::Defer { at: at4, .. } = decide_with(&chain, &later, &creating) else {
            panic!("not deferred")
        };
        assert!(at4 - NOW > at - NOW);
        // After MAX_DEFERRALS it is given up, saying how long it waited.
        later.defer_count = rules::MAX_DEFERRALS;
        let s = decide_with(&chain, &later, &creating);
        match s {
            Start::Reject {
                reason: RejectReason::NeverReady { waited },
                quiet: false,
            } => assert_eq!(waited, NOW - T0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_eligible_copy_waits_for_the_target_collection() {
        let (mut chain, copy) = pending();
        chain.target_ready = false;
        assert_eq!(decide_with(&chain, &copy, &ready()), Start::EnsureTarget);
        // A rejection does not need the target.
        let failed = SourceFacts {
            provisioning_state: Some("Failed".into()),
            ..ready()
        };
        assert_eq!(
            rejected_with(&decide_with(&chain, &copy, &failed)),
            ("SourceFailed", false)
        );
    }

    #[test]
    fn the_claim_holds_the_chain_and_moves_its_watermark() {
        let (chain, copy) = pending();
        let Start::Claim { chain: c, copy: cp } = decide_with(&chain, &copy, &ready()) else {
            panic!("not claimed")
        };
        assert_eq!(c.in_flight, Some(copy.row_key()));
        assert_eq!(c.watermark, Some(T0));
        assert!(c.active);
        // The 90-minute-old start left the hour; this one counts.
        assert_eq!(c.recent_starts, vec![NOW - Duration::minutes(30), NOW]);
        assert_eq!(
            c.base_restore_point.as_deref(),
            Some("rp1"),
            "the base stays"
        );
        assert_eq!(cp.state, CopyState::Starting);
        assert_eq!((cp.started_at, cp.last_progress_at), (Some(NOW), Some(NOW)));
        assert_eq!(cp.not_before, None);
        assert_eq!(
            cp.source_vm.as_deref(),
            Some("vm1"),
            "lineage from the chain"
        );
    }

    #[test]
    fn a_chains_first_claim_makes_its_base() {
        let (mut chain, copy) = pending();
        chain.watermark = None;
        chain.base_restore_point = None;
        let Start::Claim { chain: c, .. } = decide_with(&chain, &copy, &ready()) else {
            panic!("not claimed")
        };
        assert_eq!(c.base_restore_point.as_deref(), Some("rp2"));
        assert_eq!(c.watermark, Some(T0));
    }

    #[test]
    fn settling_releases_the_chain_only_if_it_held_the_copy() {
        let (chain, copy) = pending();
        let (released, cp) = settled(&chain, &copy, CopyState::Rejected, "X".into(), NOW);
        assert!(released.is_none());
        assert_eq!(cp.state, CopyState::Rejected);
        assert_eq!((cp.reason.as_deref(), cp.ended_at), (Some("X"), Some(NOW)));
        let mut holding = chain.clone();
        holding.in_flight = Some(copy.row_key());
        let mut waiting = copy.clone();
        waiting.not_before = Some(NOW);
        let (released, cp) = settled(&holding, &waiting, CopyState::Failed, "Y".into(), NOW);
        assert_eq!(released.unwrap().in_flight, None);
        assert_eq!((cp.state, cp.not_before), (CopyState::Failed, None));
    }
}
