//! Recovery point objective: the age of the newest restore point safely in the target
//! region.

use time::{Duration, OffsetDateTime};

/// Recovery point objective status of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpo {
    /// Age of the newest restore point safely in the target region (`None`: none yet).
    pub current: Option<Duration>,
    pub breached: bool,
    /// When the breach began (the measured point plus the objective): the same instant on
    /// every tick of one breach, so it names the breach.
    pub breached_since: Option<OffsetDateTime>,
}

/// RPO = now − creation time of the newest source restore point whose copy completed.
/// Before any copy completes, the chain is measured from when it was first seen, so a
/// chain that never completes a copy still breaches.
pub fn rpo(
    newest_copied: Option<OffsetDateTime>,
    chain_since: OffsetDateTime,
    now: OffsetDateTime,
    objective: Duration,
) -> Rpo {
    let current = newest_copied.map(|t| now - t);
    let measured_from = newest_copied.unwrap_or(chain_since);
    let breached = now - measured_from > objective;
    Rpo {
        current,
        breached,
        breached_since: breached.then(|| measured_from + objective),
    }
}
