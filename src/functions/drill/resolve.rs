//! Closing `DrillFailed` alerts: once a later drill of the chain succeeds, the failure's one
//! `Resolved` (same alert id) is sent and the failed drill is marked, after the send, like
//! every alert ([`crate::machine::resolve::drill_failures_resolved`] decides which).

use time::OffsetDateTime;

use super::{DrillRun, FnError};
use crate::functions::App;
use crate::ledger::drills::{save_drill, DrillRecord};
use crate::machine::resolve::drill_failures_resolved;

/// Resolves every failure a later success of its chain proved over. `drills` are the ended
/// drills as the run knows them (read at its start, and those it ended). A send or mark that
/// fails is left to the next run, which decides again from the ledger.
pub(super) async fn resolve_failures(
    app: &App,
    drills: &[DrillRecord],
    now: OffsetDateTime,
    run: &mut DrillRun,
) {
    for (failed, alert) in drill_failures_resolved(drills, now) {
        if let Err(e) = app.raise(std::slice::from_ref(&alert)).await {
            run.outcome.log(format!(
                "drill {}: resolving its failure alert failed ({e}); a later run resolves it",
                failed.id
            ));
            continue;
        }
        if let Err(e) = mark_resolved(app, failed).await {
            run.outcome.log(format!(
                "drill {}: marking its failure resolved failed ({e}); a later run sends the same Resolved again",
                failed.id
            ));
        }
        run.outcome.alerts.push(alert);
    }
}

/// Marks a failed drill resolved; on a lost race, re-reads it and marks the current row.
async fn mark_resolved(app: &App, failed: &DrillRecord) -> Result<(), FnError> {
    let mut rec = failed.clone();
    rec.resolved = true;
    match save_drill(app.ledger.as_ref(), &mut rec).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_race() => {
            let Some(current) = app.ledger.get(&rec.chain, &rec.row_key()).await? else {
                return Err(e.into());
            };
            let mut current =
                DrillRecord::from_entity(&current).map_err(|e| FnError::Other(e.to_string()))?;
            if !current.resolved {
                current.resolved = true;
                save_drill(app.ledger.as_ref(), &mut current).await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
