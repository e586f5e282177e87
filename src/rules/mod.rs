//! The platform's rules, as pure functions.
//!
//! Nothing here does I/O or reads a clock: callers pass in what ARM and the ledger said and
//! the time, and get back a decision. That keeps every platform rule (docs/platform.md, each
//! with its Microsoft source) testable in isolation, and keeps the functions (ingest,
//! sequencer, poller) thin. The chain state machine built on them is `crate::machine`.
//!
//! - `eligibility`: whether a source restore point can be copied now, later or never.
//! - `order`: strictly oldest first, one at a time, three starts per hour, back-off.
//! - `progress`: what a progress reading means; readiness to restore.
//! - `rpo`: the recovery point objective.
//! - `drill`: restore drills: which chains are due, which copy, what to check, leftovers.

pub mod base_lock;
pub mod catch_up;
pub mod drill;
mod eligibility;
mod order;
mod progress;
pub mod pruning;
pub mod retention;
mod rpo;

pub use catch_up::CatchUp;
pub use eligibility::*;
pub use order::*;
pub use progress::*;
pub use rpo::*;

use time::Duration;

/// The longest a cross-region copy may run before the platform terminates it.
pub const PLATFORM_MAX_COPY: Duration = Duration::days(14);
/// Progress is published every 10 minutes; polling faster only burns ARM reads.
pub const POLL_INTERVAL: Duration = Duration::minutes(10);
/// Copy PUTs allowed per target collection per hour.
pub const COPIES_PER_HOUR: usize = 3;

#[cfg(test)]
mod tests {
    use super::progress::code_is;
    use super::*;
    use std::collections::BTreeMap;
    use time::macros::datetime;
    use time::OffsetDateTime;

    const T0: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    fn ok_facts() -> SourceFacts {
        SourceFacts {
            is_copy: false,
            security_type: Some("TrustedLaunch".into()),
            provisioning_state: Some("Succeeded".into()),
            consistency_mode: Some("ApplicationConsistent".into()),
            time_created: Some(T0),
            disks: vec![
                DiskFacts {
                    name: "os".into(),
                    network_access_policy: Some("AllowAll".into()),
                    ..Default::default()
                },
                DiskFacts {
                    name: "data".into(),
                    ..Default::default()
                },
            ],
        }
    }

    fn reject_code(e: Eligibility) -> &'static str {
        match e {
            Eligibility::Reject(r) => r.code(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn eligible_when_every_rule_passes() {
        let e = eligibility(&ok_facts(), &TargetRules::default(), None);
        assert_eq!(
            e,
            Eligibility::Eligible {
                time_created: T0,
                encryption: BTreeMap::new()
            }
        );
    }

    #[test]
    fn copy_of_copy_rejected_even_if_everything_else_fine() {
        let f = SourceFacts {
            is_copy: true,
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "CopyOfCopy"
        );
    }

    #[test]
    fn confidential_vm_rejected_in_all_spellings() {
        for st in [
            "ConfidentialVM",
            "confidentialvm",
            "ConfidentialVM_DiskEncryptedWithPlatformKey",
        ] {
            let f = SourceFacts {
                security_type: Some(st.into()),
                ..ok_facts()
            };
            assert_eq!(
                reject_code(eligibility(&f, &TargetRules::default(), None)),
                "ConfidentialVm",
                "{st}"
            );
        }
        let f = SourceFacts {
            security_type: Some("TrustedLaunch".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn private_link_rejected_by_policy_or_disk_access() {
        let mut f = ok_facts();
        f.disks[1].network_access_policy = Some("AllowPrivate".into());
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "PrivateLink"
        );
        let mut f = ok_facts();
        f.disks[0].disk_access_id = Some(
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/diskAccesses/a".into(),
        );
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "PrivateLink"
        );
        let mut f = ok_facts();
        f.disks[0].disk_access_id = Some(String::new());
        f.disks[0].network_access_policy = Some("DenyAll".into());
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn cmk_needs_a_mapping_and_maps_case_insensitively() {
        let mut f = ok_facts();
        f.disks[0].disk_encryption_set = Some(
            "/subscriptions/S/resourceGroups/R/providers/Microsoft.Compute/diskEncryptionSets/DES1"
                .into(),
        );
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "MissingDiskEncryptionSet"
        );
        let mut t = TargetRules::default();
        t.disk_encryption_sets.insert(
            "/subscriptions/s/resourcegroups/r/providers/microsoft.compute/diskencryptionsets/des1"
                .into(),
            "target-des".into(),
        );
        match eligibility(&f, &t, None) {
            Eligibility::Eligible { encryption, .. } => {
                assert_eq!(encryption.get("os").map(String::as_str), Some("target-des"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn consistency_minimum() {
        let t = TargetRules {
            min_consistency: Some(Consistency::ApplicationConsistent),
            ..Default::default()
        };
        let f = SourceFacts {
            consistency_mode: Some("CrashConsistent".into()),
            ..ok_facts()
        };
        assert_eq!(reject_code(eligibility(&f, &t, None)), "ConsistencyTooLow");
        let f = SourceFacts {
            consistency_mode: None,
            ..ok_facts()
        };
        assert_eq!(reject_code(eligibility(&f, &t, None)), "ConsistencyTooLow");
        let t = TargetRules {
            min_consistency: Some(Consistency::CrashConsistent),
            ..Default::default()
        };
        assert!(matches!(
            eligibility(&f, &t, None),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn watermark_orders_the_chain() {
        let f = ok_facts();
        assert_eq!(
            reject_code(eligibility(
                &f,
                &TargetRules::default(),
                Some(T0 + Duration::hours(1))
            )),
            "OutOfOrder"
        );
        // Equal creation time: the same instant is already covered.
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), Some(T0))),
            "OutOfOrder"
        );
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), Some(T0 - Duration::seconds(1))),
            Eligibility::Eligible { .. }
        ));
    }

    #[test]
    fn not_yet_provisioned_defers_but_failed_rejects() {
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
        let f = SourceFacts {
            provisioning_state: None,
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
        let f = SourceFacts {
            provisioning_state: Some("Failed".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "SourceFailed"
        );
        // A creating restore point of a confidential VM is rejected at once, not deferred.
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            security_type: Some("ConfidentialVM".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "ConfidentialVm"
        );
        // Creating and older than the watermark: will never be copyable, reject now.
        let f = SourceFacts {
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(
                &f,
                &TargetRules::default(),
                Some(T0 + Duration::hours(1))
            )),
            "OutOfOrder"
        );
    }

    #[test]
    fn missing_creation_time() {
        let f = SourceFacts {
            time_created: None,
            ..ok_facts()
        };
        assert_eq!(
            reject_code(eligibility(&f, &TargetRules::default(), None)),
            "NoCreationTime"
        );
        let f = SourceFacts {
            time_created: None,
            provisioning_state: Some("Creating".into()),
            ..ok_facts()
        };
        assert!(matches!(
            eligibility(&f, &TargetRules::default(), None),
            Eligibility::Defer(_)
        ));
    }

    #[test]
    fn every_reason_has_text_and_action() {
        let reasons = [
            RejectReason::CopyOfCopy,
            RejectReason::ConfidentialVm {
                security_type: "ConfidentialVM".into(),
            },
            RejectReason::PrivateLink { disk: "d".into() },
            RejectReason::MissingDiskEncryptionSet {
                disk: "d".into(),
                source_des: "x".into(),
            },
            RejectReason::ConsistencyTooLow {
                have: "CrashConsistent".into(),
                need: Consistency::ApplicationConsistent,
            },
            RejectReason::OutOfOrder {
                time_created: T0,
                watermark: T0,
            },
            RejectReason::SourceFailed {
                provisioning_state: "Failed".into(),
            },
            RejectReason::SourceMissing,
            RejectReason::NoCreationTime,
            RejectReason::TargetCollectionMissing {
                collection: "c".into(),
            },
            RejectReason::TargetCollectionForeign {
                collection: "c".into(),
                source: Some("s".into()),
                location: None,
            },
            RejectReason::SameRegion {
                region: "eastus".into(),
            },
            RejectReason::NeverReady {
                waited: Duration::days(1),
            },
        ];
        let mut codes = std::collections::BTreeSet::new();
        for r in reasons {
            assert!(!r.to_string().is_empty());
            assert!(!r.suggested_action().is_empty());
            assert!(codes.insert(r.code()), "duplicate code {}", r.code());
        }
    }

    #[test]
    fn recheck_backs_off_and_caps() {
        assert_eq!(recheck_delay(0), Duration::minutes(1));
        assert_eq!(recheck_delay(1), Duration::minutes(2));
        assert_eq!(recheck_delay(4), Duration::minutes(16));
        assert_eq!(recheck_delay(5), Duration::minutes(30));
        assert_eq!(recheck_delay(40), Duration::minutes(30));
    }

    #[test]
    fn copy_rate_allows_three_per_rolling_hour() {
        assert_eq!(copy_rate(&[], T0), Ok(()));
        let starts = [T0, T0 + Duration::minutes(10)];
        assert_eq!(copy_rate(&starts, T0 + Duration::minutes(20)), Ok(()));
        let starts = [T0, T0 + Duration::minutes(10), T0 + Duration::minutes(20)];
        assert_eq!(
            copy_rate(&starts, T0 + Duration::minutes(30)),
            Err(T0 + Duration::hours(1) + Duration::seconds(1))
        );
        assert_eq!(
            copy_rate(&starts, T0 + Duration::hours(1) + Duration::seconds(1)),
            Ok(())
        );
        // Old starts don't count.
        let starts = [
            T0 - Duration::hours(2),
            T0 - Duration::hours(3),
            T0 - Duration::hours(4),
        ];
        assert_eq!(copy_rate(&starts, T0), Ok(()));
        // Unsorted input works.
        let starts = [T0 + Duration::minutes(20), T0, T0 + Duration::minutes(10)];
        assert!(copy_rate(&starts, T0 + Duration::minutes(30)).is_err());
    }

    #[test]
    fn prune_keeps_last_hour() {
        let mut s = vec![
            T0 + Duration::minutes(50),
            T0 - Duration::hours(2),
            T0 + Duration::minutes(5),
        ];
        prune_starts(&mut s, T0 + Duration::minutes(61));
        assert_eq!(
            s,
            vec![T0 + Duration::minutes(5), T0 + Duration::minutes(50)]
        );
    }

    fn pending(key: &str, mins: i64) -> PendingCopy {
        PendingCopy {
            key: key.into(),
            time_created: T0 + Duration::minutes(mins),
            not_before: None,
        }
    }

    #[test]
    fn one_in_flight_per_chain() {
        let c = ChainView {
            in_flight: Some("a".into()),
            pending: vec![pending("b", 1)],
            recent_starts: vec![],
        };
        assert_eq!(
            next_step(&c, T0),
            NextStep::Busy {
                in_flight: "a".into()
            }
        );
    }

    #[test]
    fn idle_without_pending() {
        assert_eq!(next_step(&ChainView::default(), T0), NextStep::Idle);
    }

    #[test]
    fn oldest_pending_first_regardless_of_arrival_order() {
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("rp3", 30), pending("rp1", 10), pending("rp2", 20)],
            recent_starts: vec![],
        };
        assert_eq!(next_step(&c, T0), NextStep::Start { key: "rp1".into() });
        // Same creation time: deterministic by key.
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("b", 10), pending("a", 10)],
            recent_starts: vec![],
        };
        assert_eq!(next_step(&c, T0), NextStep::Start { key: "a".into() });
    }

    #[test]
    fn deferred_oldest_blocks_newer_ones() {
        // Starting a newer one first would make the older one uncopyable forever.
        let mut p1 = pending("rp1", 10);
        p1.not_before = Some(T0 + Duration::minutes(5));
        let c = ChainView {
            in_flight: None,
            pending: vec![p1, pending("rp2", 20)],
            recent_starts: vec![],
        };
        assert_eq!(
            next_step(&c, T0),
            NextStep::WaitUntil {
                at: T0 + Duration::minutes(5),
                key: "rp1".into()
            }
        );
        assert_eq!(
            next_step(&c, T0 + Duration::minutes(5)),
            NextStep::Start { key: "rp1".into() }
        );
    }

    #[test]
    fn copy_rate_paces_the_chain() {
        let starts = vec![T0, T0 + Duration::minutes(1), T0 + Duration::minutes(2)];
        let c = ChainView {
            in_flight: None,
            pending: vec![pending("rp4", 0)],
            recent_starts: starts,
        };
        assert_eq!(
            next_step(&c, T0 + Duration::minutes(3)),
            NextStep::WaitUntil {
                at: T0 + Duration::hours(1) + Duration::seconds(1),
                key: "rp4".into()
            }
        );
    }

    fn disk(p: Option<f64>, code: Option<&str>) -> DiskProgress {
        DiskProgress {
            disk: "d".into(),
            percent: p,
            code: code.map(String::from),
        }
    }

    #[test]
    fn status_codes_compare_ignoring_case() {
        let c = |s: &str| Some(s.to_string());
        assert!(code_is(&c("ReplicationState/succeeded"), "succeeded"));
        assert!(code_is(&c("replicationstate/SUCCEEDED"), "succeeded"));
        assert!(!code_is(&c("ReplicationState/succeeded/x"), "succeeded"));
        assert!(!code_is(&c("ReplicationStatesucceeded"), "succeeded"));
        assert!(!code_is(&c("ProvisioningState/succeeded"), "succeeded"));
        assert!(!code_is(&c("ReplicationState/failed"), "succeeded"));
        assert!(!code_is(&None, "failed"));
    }

    #[test]
    fn replication_state_needs_every_disk() {
        use ReplicationState::*;
        assert_eq!(replication_state(&[]), InProgress);
        assert_eq!(
            replication_state(&[disk(Some(100.0), Some("ReplicationState/succeeded"))]),
            Succeeded
        );
        assert_eq!(
            replication_state(&[
                disk(Some(100.0), Some("ReplicationState/succeeded")),
                disk(Some(40.0), Some("ReplicationState/inProgress"))
            ]),
            InProgress
        );
        // Succeeded code below 100 % is not done.
        assert_eq!(
            replication_state(&[disk(Some(99.0), Some("ReplicationState/succeeded"))]),
            InProgress
        );
        assert_eq!(replication_state(&[disk(Some(100.0), None)]), InProgress);
        assert_eq!(
            replication_state(&[
                disk(Some(100.0), Some("ReplicationState/succeeded")),
                disk(Some(0.0), Some("replicationstate/FAILED"))
            ]),
            Failed
        );
    }

    #[test]
    fn overall_percent_is_slowest_disk() {
        assert_eq!(overall_percent(&[]), None);
        assert_eq!(
            overall_percent(&[disk(Some(80.0), None), disk(Some(30.0), None)]),
            Some(30.0)
        );
        assert_eq!(
            overall_percent(&[disk(Some(80.0), None), disk(None, None)]),
            Some(0.0)
        );
    }

    /// Regression (arm_responses fuzz target): a NaN percentage with a succeeded code was
    /// Ready here but InProgress in `replication_state`.
    #[test]
    fn nan_percent_is_neither_ready_nor_succeeded() {
        let d = [disk(Some(f64::NAN), Some("ReplicationState/succeeded"))];
        assert!(matches!(readiness(&d), Readiness::NotReady { .. }));
        assert_eq!(replication_state(&d), ReplicationState::InProgress);
    }

    #[test]
    fn readiness_only_when_all_disks_done() {
        assert!(matches!(readiness(&[]), Readiness::NotReady { .. }));
        assert_eq!(
            readiness(&[disk(Some(100.0), Some("ReplicationState/succeeded"))]),
            Readiness::Ready
        );
        match readiness(&[
            disk(Some(100.0), Some("ReplicationState/succeeded")),
            disk(Some(60.0), Some("ReplicationState/inProgress")),
        ]) {
            Readiness::NotReady { reason } => assert!(reason.contains("60")),
            r => panic!("{r:?}"),
        }
        match readiness(&[disk(Some(0.0), Some("ReplicationState/failed"))]) {
            Readiness::NotReady { reason } => assert!(reason.contains("failed")),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            readiness(&[disk(None, Some("ReplicationState/succeeded"))]),
            Readiness::NotReady { .. }
        ));
    }

    fn flight(started_h: i64, progress_h: i64, pct: Option<f64>) -> InFlight {
        InFlight {
            started_at: T0 + Duration::hours(started_h),
            last_progress_at: T0 + Duration::hours(progress_h),
            last_percent: pct,
        }
    }

    #[test]
    fn assess_terminal_states_win() {
        let l = CopyLimits::default();
        let now = T0 + Duration::days(20);
        assert_eq!(
            assess(
                &flight(0, 0, None),
                ReplicationState::Succeeded,
                Some(100.0),
                now,
                &l
            ),
            Assessment::Succeeded
        );
        assert_eq!(
            assess(
                &flight(0, 0, None),
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(2),
                &l
            ),
            Assessment::Failed
        );
    }

    #[test]
    fn assess_expiry_from_our_start_time() {
        let l = CopyLimits::default();
        let c = flight(0, 0, Some(10.0));
        assert!(matches!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14) - Duration::minutes(10),
                &l
            ),
            Assessment::InProgress { .. }
        ));
        // The last poll before the deadline expires it: the next would be too late.
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14) - Duration::minutes(9),
                &l
            ),
            Assessment::Expired
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::days(14),
                &l
            ),
            Assessment::Expired
        );
        // Failed at the deadline = terminated by the platform = expired; earlier = failed.
        assert_eq!(
            assess(
                &c,
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(14),
                &l
            ),
            Assessment::Expired
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::Failed,
                Some(0.0),
                T0 + Duration::days(13),
                &l
            ),
            Assessment::Failed
        );
        // A policy maximum shorter than the platform's.
        let short = CopyLimits {
            max_duration: Duration::days(3),
            ..l
        };
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(50.0),
                T0 + Duration::days(3),
                &short
            ),
            Assessment::Expired
        );
        // A policy maximum longer than the platform's is capped.
        let long = CopyLimits {
            max_duration: Duration::days(30),
            ..l
        };
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(50.0),
                T0 + Duration::days(14),
                &long
            ),
            Assessment::Expired
        );
    }

    #[test]
    fn assess_expiry_warning_window() {
        let l = CopyLimits::default();
        let c = flight(0, 0, Some(10.0));
        let at = |d: Duration| assess(&c, ReplicationState::InProgress, Some(20.0), T0 + d, &l);
        assert!(matches!(
            at(Duration::days(11)),
            Assessment::InProgress {
                expiry_approaching: false,
                ..
            }
        ));
        assert!(matches!(
            at(Duration::days(12)),
            Assessment::InProgress {
                expiry_approaching: true,
                ..
            }
        ));
    }

    #[test]
    fn assess_stall_waits_long_enough() {
        let l = CopyLimits::default();
        // Low-churn disks show 0 for a while: not stalled after an hour.
        let c = flight(0, 0, Some(0.0));
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(0.0),
                T0 + Duration::hours(1),
                &l
            ),
            Assessment::InProgress {
                progressed: false,
                stalled: false,
                expiry_approaching: false
            }
        );
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(0.0),
                T0 + Duration::hours(6),
                &l
            ),
            Assessment::InProgress {
                progressed: false,
                stalled: true,
                expiry_approaching: false
            }
        );
        // Progress resets the stall clock.
        assert_eq!(
            assess(
                &c,
                ReplicationState::InProgress,
                Some(5.0),
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress {
                progressed: true,
                stalled: false,
                expiry_approaching: false
            }
        );
        // First reading ever with progress.
        assert!(matches!(
            assess(
                &flight(0, 0, None),
                ReplicationState::InProgress,
                Some(10.0),
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress {
                progressed: true,
                stalled: false,
                ..
            }
        ));
        // No reading at all for long: stalled.
        assert!(matches!(
            assess(
                &flight(0, 0, None),
                ReplicationState::InProgress,
                None,
                T0 + Duration::hours(7),
                &l
            ),
            Assessment::InProgress { stalled: true, .. }
        ));
    }

    #[test]
    fn rpo_measures_newest_copied_restore_point() {
        let obj = Duration::hours(36);
        let r = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(24),
            obj,
        );
        assert_eq!(
            r,
            Rpo {
                current: Some(Duration::hours(24)),
                breached: false,
                breached_since: None,
            }
        );
        let r = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(37),
            obj,
        );
        assert!(r.breached);
        assert_eq!(r.breached_since, Some(T0 + obj));
        // The same breach names the same instant on a later tick.
        let later = rpo(
            Some(T0),
            T0 - Duration::days(10),
            T0 + Duration::hours(50),
            obj,
        );
        assert_eq!(later.breached_since, r.breached_since);
        // Never copied: measured from when the chain was first seen.
        let r = rpo(None, T0, T0 + Duration::hours(30), obj);
        assert_eq!(
            r,
            Rpo {
                current: None,
                breached: false,
                breached_since: None,
            }
        );
        let never = rpo(None, T0, T0 + Duration::hours(37), obj);
        assert!(never.breached);
        assert_eq!(never.breached_since, Some(T0 + obj));
    }
    #[test]
    fn target_collection_must_be_the_chains_own() {
        let src = "/subscriptions/s/resourcegroups/rg-app/providers/microsoft.compute/restorepointcollections/rpc-vm1";
        let fits = |source: Option<&str>, loc: Option<&str>| {
            target_collection_fits("dr/rpc", source, loc, src, "westus2")
        };
        // Same source (ARM may answer in another case) and region: fits.
        let upper = src.replace("rg-app", "RG-APP");
        assert_eq!(fits(Some(&upper), Some("westus2")), Ok(()));
        assert_eq!(fits(Some(src), Some("West US 2")), Ok(()));
        // Another resource group's collection of the same name: foreign.
        let other = src.replace("rg-app", "rg-other");
        let e = fits(Some(&other), Some("westus2")).unwrap_err();
        assert_eq!(e.code(), "TargetCollectionForeign");
        assert!(e.to_string().contains("rg-other"), "{e}");
        // A plain collection (no source) or one in another region: foreign too.
        assert!(fits(None, Some("westus2")).is_err());
        assert!(fits(Some(src), Some("eastus")).is_err());
        assert!(fits(Some(src), None).is_err());
        // A prefix is not a match.
        assert!(fits(Some(&format!("{src}2")), Some("westus2")).is_err());
    }
}
