//! A copy the platform refused for one of its count or frequency limits (restore points
//! per VM or per collection): the copy fails with its alert, the chain records why, and
//! `RestorePointLimitReached` is raised once per chain until a copy succeeds again.

use super::starting::settle;
use super::{copy_alert, Flow};
use crate::alerts::AlertKind;
use crate::arm::ArmError;
use crate::functions::{App, FnError, Outcome};
use crate::ledger::records::{Chain, CopyRecord, CopyState};
use time::OffsetDateTime;

/// The platform's error code for a refused restore point operation; with a message about a
/// count or interval it is a limit, not a problem of this copy.
const LIMIT_CODE: &str = "VMRestorePointClientError";

/// Whether ARM refused a copy for a count limit.
pub(super) fn is_count_limit(e: &ArmError) -> bool {
    matches!(e, ArmError::Api { code, message, .. }
        if code.eq_ignore_ascii_case(LIMIT_CODE)
            && (message.contains("at most") || message.contains("maximum")))
}

pub(super) async fn refused_for_limit(
    app: &App,
    mut chain: Chain,
    copy: CopyRecord,
    e: ArmError,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<Flow, FnError> {
    let reason = format!("refused for the platform's restore point count limit: {e}");
    let mut alerts = vec![copy_alert(
        AlertKind::CopyFailed,
        &chain,
        &copy,
        format!(
            "copy of {} to {} could not start: {reason}",
            copy.source_restore_point.name, chain.target_region
        ),
        now,
    )];
    if chain.upkeep.limit_reached.is_none() {
        let mut a = crate::machine::chain_alert(
            AlertKind::RestorePointLimitReached,
            &format!("{}|{}", chain.key, copy.row_key()),
            &chain,
            format!(
                "{} → {}: the platform refused the copy of {} into {}: its restore point count limit is reached. Copies of this chain fail until old restore points are deleted.",
                chain.source_collection.name,
                chain.target_region,
                copy.source_restore_point.name,
                chain.target_collection.name
            ),
            now,
        );
        a.source_restore_point = Some(copy.source_restore_point.to_string());
        a.reason = Some(e.to_string());
        alerts.push(a);
    }
    chain.upkeep.limit_reached = Some(reason.clone());
    let mut copy = copy;
    copy.alerts.insert(AlertKind::CopyFailed);
    // Sent before the write that records them (see `App::raise`).
    app.raise(&alerts).await?;
    if settle(app, chain, copy, CopyState::Failed, reason, now).await? {
        for a in alerts {
            out.alert(a);
        }
    }
    Ok(Flow::Again)
}
