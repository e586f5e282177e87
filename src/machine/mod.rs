//! The chain state machine, as plain functions over the ledger's records: given a chain,
//! a copy and what ARM showed (and the policy's limits and the time, passed in), each
//! returns the new records, the alerts to send and the ARM action to take. No I/O and no
//! clock: the functions layer (`crate::functions`) loads, calls these, acts and writes.
//!
//! - [`progress`]: the decision after a progress reading of a copy in flight.
//! - [`start`]: the decision to start, defer, reject or claim a chain's oldest pending copy.
//! - the alerts a copy raises ([`copy_alert`], [`rejection_alert`]), worded once here.

pub mod progress;
pub mod resolve;
pub mod start;

use crate::alerts::{Alert, AlertKind, LastReading};
use crate::ledger::records::{Chain, CopyRecord};
use crate::rules::RejectReason;
use time::OffsetDateTime;

/// An alert about one copy, carrying its lineage and our last reading (the platform keeps
/// neither). Its id is stable per copy and kind, so a resend is deduplicated.
/// An alert about a chain as a whole (not one of its copies), named by `subject`, carrying
/// the chain's identity.
pub fn chain_alert(
    kind: AlertKind,
    subject: &str,
    chain: &Chain,
    message: String,
    now: OffsetDateTime,
) -> Alert {
    let mut a = Alert::new(kind, subject, message, now);
    a.chain = Some(chain.key.clone());
    a.source_collection = Some(chain.source_collection.to_string());
    a.target_region = Some(chain.target_region.clone());
    a.source_vm = chain.source_vm.clone();
    a
}

pub fn copy_alert(
    kind: AlertKind,
    chain: &Chain,
    copy: &CopyRecord,
    message: String,
    now: OffsetDateTime,
) -> Alert {
    let mut a = Alert::new(
        kind,
        &format!("{}|{}", chain.key, copy.row_key()),
        message,
        now,
    );
    a.chain = Some(chain.key.clone());
    a.source_collection = Some(chain.source_collection.to_string());
    a.target_region = Some(chain.target_region.clone());
    a.source_restore_point = Some(copy.source_restore_point.to_string());
    a.target_restore_point = Some(copy.target_restore_point.to_string());
    a.source_vm = copy.source_vm.clone().or_else(|| chain.source_vm.clone());
    a.started_at = copy.started_at;
    a.earlier_attempts = copy.earlier_attempts.clone();
    a.last_reading = copy.last_reading_at.map(|at| LastReading {
        at,
        percent: copy.last_percent,
        status: copy.last_status.clone(),
    });
    a
}

/// The alert for a copy that will never be made, with what an operator can do.
pub fn rejection_alert(
    chain: &Chain,
    copy: &CopyRecord,
    reason: &RejectReason,
    now: OffsetDateTime,
) -> Alert {
    let mut a = copy_alert(
        AlertKind::CopyRejected,
        chain,
        copy,
        format!(
            "{} will not be copied to {}: {reason}",
            copy.source_restore_point.name, chain.target_region
        ),
        now,
    )
    .action(reason.suggested_action());
    a.reason = Some(reason.code().to_string());
    a
}

/// Hours, rounded, for alert texts.
pub(crate) fn fmt_hours(d: time::Duration) -> String {
    format!("{:.0} h", d.as_seconds_f64() / 3600.0)
}
