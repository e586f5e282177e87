//! Late and lost events: restore points in the source collection the ledger has not heard
//! of are recorded before a newer one starts (after it, they could never be copied).

use super::repo::{load_copy, new_copy, replace_chain};
use crate::functions::reads::Reads;
use crate::functions::{App, FnError, Outcome};
use crate::ledger::records::{copy_row, Chain};
use crate::ledger::Op;
use time::OffsetDateTime;

/// How far back before a chain's creation discovery looks: restore points older than
/// this when ferry first saw the collection are history, not backlog.
const DISCOVERY_HORIZON: time::Duration = time::Duration::days(1);

/// Looks in the source collection for restore points newer than the chain's watermark
/// (and older than `before`, the copy about to start, if given) that the ledger does not
/// know: their events are late or were lost. They are recorded as pending so they go first
/// instead of becoming uncopyable once a newer one starts. Returns how many were found.
pub(crate) async fn discover(
    app: &App,
    chain: &Chain,
    before: Option<(&str, OffsetDateTime)>,
    reads: &mut Reads,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<usize, FnError> {
    let Some(coll) = reads.collection(app, &chain.source_collection).await? else {
        return Ok(0);
    };
    let floor = chain
        .watermark
        .unwrap_or(chain.created_at - DISCOVERY_HORIZON);
    let mut found = Vec::new();
    for rp in coll.restore_points() {
        let (Some(name), Some(t)) = (rp.name.as_deref(), rp.time_created()) else {
            continue;
        };
        if rp.is_copy() || t <= floor {
            continue;
        }
        if let Some((candidate, created)) = before {
            if t >= created || name.eq_ignore_ascii_case(candidate) {
                continue;
            }
        }
        let id = chain.source_collection.restore_point(name);
        if load_copy(app, &chain.key, &copy_row(name)).await?.is_none() {
            found.push(new_copy(chain, &id, t, now));
        }
    }
    if found.is_empty() {
        return Ok(0);
    }
    // Recorded together with a write of the chain row: a concurrent instance that read the
    // pending list before these rows existed then loses its claim (ETag) and looks again,
    // instead of starting a newer copy and making these uncopyable.
    found.truncate(99);
    let mut c = chain.clone();
    c.active = true;
    let mut ops = vec![replace_chain(&c)?];
    ops.extend(found.iter().map(|cp| Op::Insert(cp.to_entity())));
    match app.ledger.batch(&chain.key, ops).await {
        Ok(_) => {
            for cp in &found {
                out.log(format!(
                    "{} → {}: found in the collection without its event; recorded, pending",
                    cp.source_restore_point, chain.target_region
                ));
            }
            Ok(found.len())
        }
        // Someone else changed the chain or recorded one of these first: look again.
        Err(e) if e.is_race() => Ok(1),
        Err(e) => Err(e.into()),
    }
}
