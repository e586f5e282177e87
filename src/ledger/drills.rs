//! Restore drill records: one row per drill in its chain's partition (`drill|<start>|<id>`,
//! so a chain's drills sort by start), and the query other parts of ferry need: which drills
//! are running and which copies they restore from ([`running_drill_copies`]), so that nothing
//! deletes a copy a drill is using.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::records::RecordError;
use super::{query_all, Entity, Ledger, LedgerError, Op, Query, Value};
use crate::ids::RestorePointId;

pub const DRILL_PREFIX: &str = "drill|";

/// How a drill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrillState {
    /// Disks are being restored (or their checks and deletes are still to do).
    Running,
    Succeeded,
    Failed,
}

impl DrillState {
    pub fn as_str(self) -> &'static str {
        match self {
            DrillState::Running => "Running",
            DrillState::Succeeded => "Succeeded",
            DrillState::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<DrillState> {
        [
            DrillState::Running,
            DrillState::Succeeded,
            DrillState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One disk a drill restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillDisk {
    /// The managed disk's name in the drill resource group.
    pub name: String,
    /// The copied disk restore point it is restored from.
    pub disk_restore_point: String,
    /// The source disk's size, when the copy reported it.
    pub size_gb: Option<i64>,
    /// The target disk encryption set (CMK disks).
    pub disk_encryption_set: Option<String>,
    /// The PUT's `Azure-AsyncOperation` URL: its `endTime` is when the disk was ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// ARM refused its PUT for now (throttled, unavailable): a later run PUTs it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub put_pending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrillRecord {
    pub chain: String,
    pub id: String,
    /// The copy restored from (a target restore point).
    pub copy: RestorePointId,
    pub target_region: String,
    /// `/subscriptions/{s}/resourceGroups/{rg}`: where the disks are.
    pub resource_group: String,
    /// When the first disk PUT was sent.
    pub started: OffsetDateTime,
    pub state: DrillState,
    pub disks: Vec<DrillDisk>,
    /// First PUT to last disk ready, once every disk was ready.
    pub restore_seconds: Option<f64>,
    /// What went wrong, one line each.
    pub problems: Vec<String>,
    pub ended: Option<OffsetDateTime>,
    /// The drill's disks were deleted (or found gone).
    pub cleaned: bool,
    /// A failed drill whose `DrillFailed` alert a later successful drill of the chain
    /// resolved (its `Resolved` was sent).
    pub resolved: bool,
    pub etag: Option<super::ETag>,
}

pub fn drill_row(started: OffsetDateTime, id: &str) -> String {
    let micros = (started.unix_timestamp_nanos() / 1000).max(0);
    format!("{DRILL_PREFIX}{micros:020}|{id}")
}

impl DrillRecord {
    pub fn row_key(&self) -> String {
        drill_row(self.started, &self.id)
    }

    pub fn to_entity(&self) -> Entity {
        let json = |v: &dyn erased::Json| Value::String(v.json());
        let mut e = Entity::new(&self.chain, self.row_key())
            .with("drillId", Value::String(self.id.clone()))
            .with("copy", Value::String(self.copy.to_string()))
            .with("targetRegion", Value::String(self.target_region.clone()))
            .with("resourceGroup", Value::String(self.resource_group.clone()))
            .with("started", Value::DateTime(self.started))
            .with("state", Value::String(self.state.as_str().into()))
            .with("disks", json(&self.disks))
            .with("problems", json(&self.problems))
            .with("cleaned", Value::Bool(self.cleaned))
            .with("resolved", Value::Bool(self.resolved));
        if let Some(s) = self.restore_seconds {
            e = e.with("restoreSeconds", Value::Double(s));
        }
        if let Some(t) = self.ended {
            e = e.with("ended", Value::DateTime(t));
        }
        e
    }

    pub fn from_entity(e: &Entity) -> Result<DrillRecord, RecordError> {
        let bad = |field: &str| RecordError {
            partition: e.partition_key.clone(),
            row: e.row_key.clone(),
            reason: format!("drill record: {field} missing or invalid"),
        };
        let s = |f: &str| e.str(f).map(str::to_string).ok_or_else(|| bad(f));
        Ok(DrillRecord {
            chain: e.partition_key.clone(),
            id: s("drillId")?,
            copy: s("copy")?.parse().map_err(|_| bad("copy"))?,
            target_region: s("targetRegion")?,
            resource_group: s("resourceGroup")?,
            started: e.time("started").ok_or_else(|| bad("started"))?,
            state: e
                .str("state")
                .and_then(DrillState::parse)
                .ok_or_else(|| bad("state"))?,
            disks: serde_json::from_str(e.str("disks").unwrap_or("[]"))
                .map_err(|_| bad("disks"))?,
            problems: serde_json::from_str(e.str("problems").unwrap_or("[]"))
                .map_err(|_| bad("problems"))?,
            restore_seconds: e.f64("restoreSeconds"),
            ended: e.time("ended"),
            cleaned: e.bool("cleaned").unwrap_or(false),
            resolved: e.bool("resolved").unwrap_or(false),
            etag: e.etag.clone(),
        })
    }
}

mod erased {
    /// JSON text of a serializable value (lists of plain structs never fail to serialize).
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_else(|_| "[]".into())
        }
    }
}

/// The drill records of one chain, oldest first.
pub async fn chain_drills(
    ledger: &dyn Ledger,
    chain: &str,
) -> Result<Vec<DrillRecord>, LedgerError> {
    let q = Query::partition(chain).row_prefix(DRILL_PREFIX);
    let rows = query_all(ledger, &q).await?;
    Ok(rows
        .iter()
        .filter_map(|e| DrillRecord::from_entity(e).ok())
        .collect())
}

/// Every drill record, of every chain, oldest first within a chain.
pub async fn all_drills(ledger: &dyn Ledger) -> Result<Vec<DrillRecord>, LedgerError> {
    let q = Query::default().row_prefix(DRILL_PREFIX);
    Ok(readable(&query_all(ledger, &q).await?))
}

/// What a drill run needs of the history, however long it grows: the drills started since
/// `since` (each chain's latest, when it is recent), and of any age the running ones, the
/// ended ones whose disks are not deleted yet, and the failed ones not resolved yet. Four
/// queries whose answers stay small, instead of reading back every drill ever recorded (a
/// 600-chain estate drilled weekly records 31,000 drills a year); the service still scans
/// the drill rows to filter them. Each record once, oldest first within a chain.
pub async fn drills_for_run(
    ledger: &dyn Ledger,
    since: OffsetDateTime,
) -> Result<Vec<DrillRecord>, LedgerError> {
    let recent = Query {
        row_key_from: Some(drill_row(since, "")),
        row_key_to: Some(format!("{DRILL_PREFIX}\u{10FFFF}")),
        ..Query::default()
    };
    let of_drills = || Query::default().row_prefix(DRILL_PREFIX);
    let queries = [
        recent,
        of_drills().where_eq("state", Value::String(DrillState::Running.as_str().into())),
        of_drills().where_eq("cleaned", Value::Bool(false)),
        of_drills()
            .where_eq("state", Value::String(DrillState::Failed.as_str().into()))
            .where_eq("resolved", Value::Bool(false)),
    ];
    let mut rows = std::collections::BTreeMap::new();
    for q in &queries {
        for e in query_all(ledger, q).await? {
            rows.insert((e.partition_key.clone(), e.row_key.clone()), e);
        }
    }
    Ok(readable(&rows.into_values().collect::<Vec<_>>()))
}

fn readable(rows: &[Entity]) -> Vec<DrillRecord> {
    rows.iter()
        .filter_map(|e| match DrillRecord::from_entity(e) {
            Ok(r) => Some(r),
            Err(err) => {
                tracing::warn!(error = %err, "skipping an unreadable drill record");
                None
            }
        })
        .collect()
}

/// The rows of the running drills, over every chain (one filtered query).
async fn running_rows(ledger: &dyn Ledger) -> Result<Vec<Entity>, LedgerError> {
    let q = Query::default()
        .row_prefix(DRILL_PREFIX)
        .where_eq("state", Value::String(DrillState::Running.as_str().into()));
    query_all(ledger, &q).await
}

/// The drills running now and the copy each restores from: a copy listed here must not be
/// deleted (target retention) until its drill ended.
pub async fn running_drill_copies(
    ledger: &dyn Ledger,
) -> Result<Vec<(String, RestorePointId)>, LedgerError> {
    Ok(running_rows(ledger)
        .await?
        .iter()
        .filter_map(|e| DrillRecord::from_entity(e).ok())
        .map(|r| (r.id, r.copy))
        .collect())
}

/// Writes a new drill record (fails if one with the same start and id exists).
pub async fn insert_drill(ledger: &dyn Ledger, r: &mut DrillRecord) -> Result<(), LedgerError> {
    let tags = ledger
        .batch(&r.chain, vec![Op::Insert(r.to_entity())])
        .await?;
    r.etag = tags.into_iter().next().flatten();
    Ok(())
}

/// Replaces a drill record read earlier (its ETag), or writes it when it has none; the record
/// takes the new ETag, ready for its next write.
pub async fn save_drill(ledger: &dyn Ledger, r: &mut DrillRecord) -> Result<(), LedgerError> {
    let op = match &r.etag {
        Some(t) => Op::Replace(r.to_entity(), t.clone()),
        None => Op::Upsert(r.to_entity()),
    };
    let tags = ledger.batch(&r.chain, vec![op]).await?;
    r.etag = tags.into_iter().next().flatten();
    Ok(())
}

/// The ids of the drills the ledger says are running, by each row's `drillId` alone: a
/// running record this version cannot fully read still owns its disks.
pub async fn running_drill_ids(
    ledger: &dyn Ledger,
) -> Result<std::collections::BTreeSet<String>, LedgerError> {
    Ok(running_rows(ledger)
        .await?
        .iter()
        .filter_map(|e| e.str("drillId").map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::memory::MemoryLedger;
    use time::macros::datetime;

    fn record(state: DrillState) -> DrillRecord {
        DrillRecord {
            chain: "c1".into(),
            id: "d1".into(),
            copy: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/t/restorePoints/rp1".parse().unwrap(),
            target_region: "westus2".into(),
            resource_group: "/subscriptions/s/resourceGroups/ferry-drill-westus2".into(),
            started: datetime!(2026-11-10 00:00 UTC),
            state,
            disks: vec![DrillDisk {
                name: "ferry-drill-d1-0".into(),
                disk_restore_point: "/x/diskRestorePoints/d".into(),
                size_gb: Some(64),
                disk_encryption_set: None,
                operation: Some("https://management.azure.com/subscriptions/s/providers/Microsoft.Compute/locations/westus2/DiskOperations/o1?api-version=2025-01-02".into()),
                put_pending: false,
            }],
            restore_seconds: Some(180.0),
            problems: vec!["disk x: size 1 GB".into()],
            ended: Some(datetime!(2026-11-10 00:05 UTC)),
            cleaned: true,
            resolved: false,
            etag: None,
        }
    }

    #[test]
    fn a_record_round_trips_through_an_entity() {
        let r = record(DrillState::Failed);
        let back = DrillRecord::from_entity(&r.to_entity()).unwrap();
        assert_eq!(back, r);
        let mut e = r.to_entity();
        e.properties.remove("copy");
        assert!(DrillRecord::from_entity(&e).is_err());
        assert!(drill_row(r.started, "a") < drill_row(r.started + time::Duration::SECOND, "0"));
    }

    #[tokio::test]
    async fn running_drills_and_their_copies_are_queried() {
        let ledger = MemoryLedger::new();
        ledger.ensure().await.unwrap();
        let mut running = record(DrillState::Running);
        insert_drill(&ledger, &mut running).await.unwrap();
        assert!(
            running.etag.is_some(),
            "an insert hands back the row's ETag"
        );
        let mut done = record(DrillState::Succeeded);
        done.id = "d0".into();
        done.started -= time::Duration::days(7);
        insert_drill(&ledger, &mut done).await.unwrap();
        let got = running_drill_copies(&ledger).await.unwrap();
        assert_eq!(got, vec![("d1".to_string(), running.copy.clone())]);
        assert_eq!(
            running_drill_ids(&ledger).await.unwrap(),
            ["d1".to_string()].into()
        );
        assert_eq!(all_drills(&ledger).await.unwrap().len(), 2);
        // The ETag a write hands back is good for the next write, and a stale one loses.
        let stale = running.etag.clone();
        running.problems.clear();
        save_drill(&ledger, &mut running).await.unwrap();
        assert_ne!(running.etag, stale);
        running.state = DrillState::Succeeded;
        save_drill(&ledger, &mut running).await.unwrap();
        let mut old = running.clone();
        old.etag = stale;
        assert!(save_drill(&ledger, &mut old).await.unwrap_err().is_race());
        assert!(running_drill_copies(&ledger).await.unwrap().is_empty());
        assert!(running_drill_ids(&ledger).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_run_reads_the_recent_drills_and_only_the_old_ones_still_open() {
        let ledger = MemoryLedger::new();
        ledger.ensure().await.unwrap();
        let since = datetime!(2026-11-09 00:00 UTC);
        let old = datetime!(2026-10-01 00:00 UTC);
        let put = |id: &str, started, state, cleaned, resolved| {
            let mut r = record(state);
            (r.id, r.started, r.cleaned, r.resolved) = (id.into(), started, cleaned, resolved);
            r
        };
        let records = vec![
            put("old-ok", old, DrillState::Succeeded, true, false),
            put("old-failed-resolved", old, DrillState::Failed, true, true),
            put("old-running", old, DrillState::Running, false, false),
            put("old-uncleaned", old, DrillState::Succeeded, false, false),
            put(
                "old-failed-open",
                old + time::Duration::DAY,
                DrillState::Failed,
                true,
                false,
            ),
            put(
                "recent-ok",
                since + time::Duration::HOUR,
                DrillState::Succeeded,
                true,
                false,
            ),
        ];
        for mut r in records {
            insert_drill(&ledger, &mut r).await.unwrap();
        }
        let got: Vec<String> = drills_for_run(&ledger, since)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            got,
            [
                "old-running",
                "old-uncleaned",
                "old-failed-open",
                "recent-ok"
            ]
        );
        assert_eq!(all_drills(&ledger).await.unwrap().len(), 6);
    }
}
