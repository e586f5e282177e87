//! Named fail points: the places where an invocation dying hurts most, where the simulator's
//! soak (`ferry demo --faults heavy`) kills invocations to prove that nothing is lost or
//! done twice.
//!
//! `fail_point!(app, "name")` is a `Result<(), FnError>`, used as `fail_point!(..)?`. With
//! the `sim` feature it asks the app's hook (`App::fail_points`, set only by the demo) and
//! is `Err(FnError::Crash(name))` when the hook fires. Without it (the deployable build) it
//! is `Ok(())`: no hook, no branch, and the names are not in the binary
//! (`tests/deployable.rs` checks).
//!
//! Why not the `fail` crate, whose pattern this follows: its probabilistic actions
//! (`"5%return"`) draw from an unseeded random number generator and its registry is global
//! to the process. The soak must give the same outcome for the same seed, and tests run
//! several demos in one process, each with its own seed; so the hook is per app and seeded
//! (`sim::chaos::Chaos`).

/// Every fail point: its name and the window it opens (what is done, what is not yet).
pub const FAIL_POINTS: &[(&str, &str)] = &[
    (
        "ingest.after-queue",
        "after queueing copy requests, before completing the event",
    ),
    (
        "sequencer.after-record",
        "after recording a request, before advancing the chain",
    ),
    ("chain.after-claim", "after the claim, before the copy PUT"),
    (
        "poller.after-read",
        "after reading progress, before recording it",
    ),
    (
        "server.after-writes",
        "after the ledger writes, before the host gets the outputs",
    ),
];

/// What decides whether an invocation dies at a fail point (the simulator implements it).
#[cfg(feature = "sim")]
pub trait Hook: Send + Sync {
    /// Whether the invocation dies at fail point `name`.
    fn fire(&self, name: &'static str) -> bool;
}

/// A fail point: `Err(FnError::Crash(name))` when the app's hook fires (simulator build).
#[cfg(feature = "sim")]
macro_rules! fail_point {
    ($app:expr, $name:literal) => {
        $app.fail_point($name)
    };
}

/// A fail point: nothing (deployable build).
#[cfg(not(feature = "sim"))]
macro_rules! fail_point {
    ($app:expr, $name:literal) => {
        ::core::result::Result::<(), $crate::functions::FnError>::Ok(())
    };
}

pub(crate) use fail_point;
