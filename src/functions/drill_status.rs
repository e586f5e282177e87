//! `status/drills`: the last restore drill of every drilled chain and the restore times
//! (median and maximum over succeeded drills), from the ledger only.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;

use super::{App, FnError};
use crate::ledger::drills::{all_drills, DrillRecord, DrillState};
use crate::rules::drill::restore_time_summary;

fn drill_json(d: &DrillRecord) -> Value {
    let t = |t: time::OffsetDateTime| t.format(&Rfc3339).ok();
    json!({
        "drill": d.id,
        "state": d.state.as_str(),
        "copy": d.copy.to_string(),
        "targetRegion": d.target_region,
        "started": t(d.started),
        "ended": d.ended.and_then(t),
        "restoreSeconds": d.restore_seconds,
        "disks": d.disks.len(),
        "problems": d.problems,
    })
}

/// The view's body.
pub fn summary(drills: &[DrillRecord]) -> Value {
    let mut last: BTreeMap<&str, &DrillRecord> = BTreeMap::new();
    for d in drills {
        let newer = last
            .get(d.chain.as_str())
            .is_none_or(|l| (l.started, &l.id) < (d.started, &d.id));
        if newer {
            last.insert(&d.chain, d);
        }
    }
    let times: Vec<f64> = drills
        .iter()
        .filter(|d| d.state == DrillState::Succeeded)
        .filter_map(|d| d.restore_seconds)
        .collect();
    let (p50, max) = restore_time_summary(&times).unzip();
    let count = |s: DrillState| drills.iter().filter(|d| d.state == s).count();
    json!({
        "run": drills.len(),
        "succeeded": count(DrillState::Succeeded),
        "failed": count(DrillState::Failed),
        "running": count(DrillState::Running),
        "restoreSecondsP50": p50,
        "restoreSecondsMax": max,
        "chains": last.iter().map(|(k, d)| json!({"chain": k, "lastDrill": drill_json(d)})).collect::<Vec<_>>(),
    })
}

pub async fn drills(app: &App) -> Result<(u16, Value), FnError> {
    let all = all_drills(app.ledger.as_ref()).await?;
    Ok((200, summary(&all)))
}
