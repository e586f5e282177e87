//! Late and lost events: restore points in the source collection the ledger has not heard
//! of are recorded before a newer one starts (after it, they could never be copied).

use super::repo::{load_copy, replace_chain};
use crate::functions::reads::Reads;
use crate::functions::{App, FnError, Outcome};
use crate::ledger::records::{copy_row, Chain, CopyRecord};
use crate::ledger::Op;
use crate::policy::Onboarding;
use time::OffsetDateTime;

/// How far back before a chain's creation discovery looks for restore points whose events
/// may still be on their way (late events of the chain's first hours).
const DISCOVERY_HORIZON: time::Duration = time::Duration::days(1);

/// Where discovery starts looking: after the chain's watermark once it has one. Before
/// that, restore points made in the day before ferry first met the collection count as
/// backlog (their events may be late), and the policy's `onboarding: latest` adds the
/// newest restore point that existed then, however old (coverage from day one); `none`
/// leaves the collection's older past alone. Returns the creation time restore points must
/// be newer than.
pub(crate) fn discovery_floor(
    watermark: Option<OffsetDateTime>,
    chain_created: OffsetDateTime,
    onboarding: Onboarding,
    existing: impl Iterator<Item = OffsetDateTime>,
) -> OffsetDateTime {
    if let Some(w) = watermark {
        return w;
    }
    let recent = chain_created - DISCOVERY_HORIZON;
    match onboarding {
        Onboarding::None => recent,
        Onboarding::Latest => existing
            .filter(|t| *t <= chain_created)
            .max()
            .map_or(recent, |newest| {
                recent.min(newest - time::Duration::nanoseconds(1))
            }),
    }
}

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
    let onboarding = app
        .policy
        .find_target(&chain.source_collection, &chain.target_region)
        .map(|(r, _)| r.onboarding)
        .unwrap_or_default();
    let floor = discovery_floor(
        chain.watermark,
        chain.created_at,
        onboarding,
        coll.restore_points()
            .iter()
            .filter(|rp| !rp.is_copy())
            .filter_map(|rp| rp.time_created()),
    );
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
            found.push(CopyRecord::pending(chain, &id, t, now));
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const CREATED: OffsetDateTime = datetime!(2026-11-10 12:00 UTC);

    #[test]
    fn the_watermark_wins_once_there_is_one() {
        let w = CREATED - Duration::hours(3);
        for o in [Onboarding::Latest, Onboarding::None] {
            assert_eq!(discovery_floor(Some(w), CREATED, o, std::iter::empty()), w);
        }
    }

    #[test]
    fn onboarding_latest_adds_the_newest_that_existed_however_old() {
        let existing = [
            CREATED - Duration::days(5),
            CREATED - Duration::days(3),
            CREATED + Duration::hours(1), // made after ferry met the collection
        ];
        let floor = discovery_floor(None, CREATED, Onboarding::Latest, existing.into_iter());
        let taken: Vec<_> = existing.iter().filter(|t| **t > floor).collect();
        assert_eq!(
            taken,
            [
                &(CREATED - Duration::days(3)),
                &(CREATED + Duration::hours(1))
            ]
        );
        // Restore points of the last day are backlog anyway (their events may be late).
        let existing = [CREATED - Duration::hours(20), CREATED - Duration::hours(2)];
        let floor = discovery_floor(None, CREATED, Onboarding::Latest, existing.into_iter());
        assert_eq!(floor, CREATED - Duration::days(1));
        // An empty collection: the last day.
        assert_eq!(
            discovery_floor(None, CREATED, Onboarding::Latest, std::iter::empty()),
            CREATED - Duration::days(1)
        );
    }

    #[test]
    fn onboarding_none_takes_only_the_last_day() {
        let existing = [CREATED - Duration::days(3), CREATED - Duration::hours(2)];
        let floor = discovery_floor(None, CREATED, Onboarding::None, existing.into_iter());
        assert_eq!(floor, CREATED - Duration::days(1));
    }
}
