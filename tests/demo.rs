//! `ferry demo` end to end: in-process, the invariants hold, the planted troubles are seen,
//! and the same seed gives the same outcome; with `ferry serve` as a child process on Table
//! Storage (Azurite), the invariants hold while the process is killed with SIGKILL again
//! and again.

mod common;

use ferry::sim::demo::{run, DemoArgs, DemoReport, HandlerMode};

/// The report's verdict, and each count behind it (so a verdict computed wrongly shows).
fn assert_every_invariant_held(r: &DemoReport) {
    assert!(r.invariants_held, "{:?}", r.broken_invariants);
    assert_eq!(
        (
            r.rule_violations,
            r.duplicate_copies,
            r.duplicate_alerts,
            r.missing_alerts,
            r.lost_requests,
            r.stuck_chains,
            r.needless_restarts
        ),
        (0, 0, 0, 0, 0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_holds_every_invariant_and_sees_every_planted_trouble() {
    let args = DemoArgs {
        vms: 6,
        days: 20,
        ..DemoArgs::default()
    };
    let r = run(&args, false).await.expect("demo runs");
    assert_every_invariant_held(&r);
    for kind in [
        "CopyRejected",
        "CopyFailed",
        "CopyExpired",
        "BaseRestorePointDeleted",
        "RpoBreached",
    ] {
        assert!(r.alerts[kind] > 0, "no {kind} alert: {:?}", r.alerts);
    }
    assert_eq!(r.chains, 12);
    assert!(r.copies.succeeded > 150, "{:?}", r.copies);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_outcome_under_heavy_faults() {
    let args = DemoArgs {
        vms: 4,
        days: 4,
        faults: "heavy".into(),
        seed: 11,
        ..DemoArgs::default()
    };
    let a = run(&args, false).await.expect("demo runs");
    let b = run(&args, false).await.expect("demo runs");
    assert!(a.invariants_held, "{:?}", a.broken_invariants);
    assert_eq!(a.copies, b.copies);
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(
        (a.injected_crashes, a.injected_conflicts),
        (b.injected_crashes, b.injected_conflicts)
    );
    assert_eq!(a.arm, b.arm);
    assert!(
        a.injected_crashes + a.injected_conflicts > 0,
        "heavy faults must inject trouble on ferry's side"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_handler_processes_lose_nothing() {
    let Some(ledger) = common::azurite_ledger(&common::unique_table("demokill")) else {
        return;
    };
    let args = DemoArgs {
        vms: 6,
        days: 8,
        faults: "heavy".into(),
        handler: HandlerMode::Process,
        ledger: Some(ledger),
        handler_exe: Some(env!("CARGO_BIN_EXE_ferry").into()),
        ..DemoArgs::default()
    };
    let r = run(&args, false).await.expect("demo runs");
    assert_every_invariant_held(&r);
    assert!(r.dead_letters.is_empty(), "{:?}", r.dead_letters);
    assert!(r.handler_kills > 0, "the handler was never killed");
    assert!(r.copies.succeeded > 0, "{:?}", r.copies);
}
