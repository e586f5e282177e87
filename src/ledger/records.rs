//! Typed ledger records and their Table Storage layout.
//!
//! One partition per chain (source collection → target region), keyed by a UUID derived
//! from the chain, so everything a decision needs is in one partition and can be changed
//! atomically with one entity group transaction:
//!
//! | RowKey                          | what                                         |
//! |---------------------------------|----------------------------------------------|
//! | `chain`                         | the chain's state ([`Chain`])                 |
//! | `rp|{source rp name}`           | one copy of one source restore point ([`CopyRecord`])|
//! | `reading|{rp name}|{time}`      | one progress reading ([`Reading`])            |
//!
//! Property names are PascalCase and typed (Edm.DateTime for times) so operators can read
//! the ledger in the portal or with the official SDKs.

use super::{ETag, Entity, Value};
use crate::alerts::AlertKind;
pub use crate::alerts::Attempt;
use crate::ids::{CollectionId, RestorePointId};
use crate::rules::DiskProgress;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

pub const CHAIN_ROW: &str = "chain";
pub const COPY_PREFIX: &str = "rp|";
pub const READING_PREFIX: &str = "reading|";

/// A stored record that cannot be read back (hand-edited, or from another version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger record {partition}/{row} is unreadable: {reason}")]
pub struct RecordError {
    pub partition: String,
    pub row: String,
    pub reason: String,
}

/// The partition key of a chain: stable, short (Service Bus session ids are ≤ 128
/// characters, ARM ids are longer) and free of characters Table Storage forbids.
pub fn chain_key(source: &CollectionId, target_region: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!(
            "ferry-chain|{}|{}",
            source.key(),
            target_region.to_ascii_lowercase()
        )
        .as_bytes(),
    )
    .to_string()
}

pub fn copy_row(source_rp_name: &str) -> String {
    let mut row = String::with_capacity(COPY_PREFIX.len() + source_rp_name.len());
    row.push_str(COPY_PREFIX);
    row.push_str(source_rp_name);
    row[COPY_PREFIX.len()..].make_ascii_lowercase();
    row
}

pub fn reading_row(source_rp_name: &str, at: OffsetDateTime) -> String {
    use std::fmt::Write;
    let micros = (at.unix_timestamp_nanos() / 1000).max(0);
    let mut row = String::with_capacity(READING_PREFIX.len() + source_rp_name.len() + 21);
    row.push_str(READING_PREFIX);
    row.push_str(source_rp_name);
    row[READING_PREFIX.len()..].make_ascii_lowercase();
    // Writing to a String cannot fail.
    let _ = write!(row, "|{micros:020}");
    row
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub key: String,
    pub source_collection: CollectionId,
    pub source_region: Option<String>,
    /// The VM the source collection belongs to (lineage: copies lose this link).
    pub source_vm: Option<String>,
    pub target_region: String,
    pub target_collection: CollectionId,
    pub created_at: OffsetDateTime,
    /// Row key of the copy being started or in flight.
    pub in_flight: Option<String>,
    /// In flight or pending work: the poller looks at this chain.
    pub active: bool,
    /// Creation time of the newest source restore point copied or started: anything older
    /// can never be copied (nonsequential copy).
    pub watermark: Option<OffsetDateTime>,
    /// The chain's first (full) restore point, whose deletion makes the next copy full.
    pub base_restore_point: Option<String>,
    pub last_success_source_time: Option<OffsetDateTime>,
    pub last_success_restore_point: Option<String>,
    pub last_success_at: Option<OffsetDateTime>,
    /// Copy PUT times within the last hour (3-per-hour limit).
    pub recent_starts: Vec<OffsetDateTime>,
    /// Set while an RPO breach lasts (when it was alerted), so it is alerted once.
    pub rpo_alerted: Option<String>,
    /// The target collection was found or created.
    pub target_ready: bool,
    /// What the chain's finished copies showed about its pace (catch-up and stall rules).
    pub history: ChainHistory,
    /// Retention and the platform's count limits (absent on older rows: defaults).
    pub upkeep: super::upkeep::Upkeep,
    pub etag: Option<ETag>,
    /// The RPO objective of the policy rule covering the chain, as last written (at
    /// creation, and by the poller when the policy changes it): lets the ledger alone say
    /// whether a chain is behind (`ferry status` without the policy). Absent in older rows.
    pub rpo_objective: Option<time::Duration>,
}

/// How long a chain's recent copies took, and the longest any of them went without a
/// visible step of progress: the chain's own measure of its disks' size over its bandwidth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainHistory {
    /// Durations (start to success) of the last [`ChainHistory::KEEP`] succeeded copies,
    /// oldest first, in whole minutes.
    pub copy_minutes: Vec<u32>,
    /// The longest stretch without visible progress in any succeeded copy, in minutes.
    pub slowest_gap_minutes: Option<u32>,
}

impl ChainHistory {
    pub const KEEP: usize = 5;

    /// Records a succeeded copy: its duration and its longest stretch without progress.
    pub fn record(&mut self, duration: time::Duration, longest_gap: time::Duration) {
        let minutes = |d: time::Duration| d.whole_minutes().clamp(0, u32::MAX as i64) as u32;
        self.copy_minutes.push(minutes(duration));
        if self.copy_minutes.len() > Self::KEEP {
            self.copy_minutes.remove(0);
        }
        let gap = minutes(longest_gap);
        self.slowest_gap_minutes = Some(self.slowest_gap_minutes.map_or(gap, |g| g.max(gap)));
    }

    /// The median of the recent copy durations (`None`: no copy succeeded yet).
    pub fn typical_copy(&self) -> Option<time::Duration> {
        let mut m = self.copy_minutes.clone();
        m.sort_unstable();
        m.get(m.len() / 2)
            .map(|v| time::Duration::minutes(i64::from(*v)))
    }

    /// The longest stretch without progress any succeeded copy went through.
    pub fn slowest_gap(&self) -> Option<time::Duration> {
        self.slowest_gap_minutes
            .map(|g| time::Duration::minutes(i64::from(g)))
    }

    fn to_text(&self) -> String {
        let d: Vec<String> = self.copy_minutes.iter().map(u32::to_string).collect();
        d.join(",")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CopyState {
    /// Recorded, waiting its turn (or for the source to be ready).
    Pending,
    /// Claimed: the copy PUT is being (or may have been) sent.
    Starting,
    InFlight,
    Succeeded,
    Failed,
    Expired,
    Rejected,
    /// A failed or stalled attempt's target is being deleted before the copy is made again
    /// (the chain still holds it: nothing newer may start meanwhile).
    Restarting,
    /// Never copied, by policy: a newer restore point of the chain was copied instead
    /// (`catchUp`), and this one can no longer be copied after it.
    Superseded,
}

impl CopyState {
    pub const ALL: [CopyState; 9] = [
        CopyState::Pending,
        CopyState::Starting,
        CopyState::InFlight,
        CopyState::Restarting,
        CopyState::Succeeded,
        CopyState::Failed,
        CopyState::Expired,
        CopyState::Rejected,
        CopyState::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Pending => "Pending",
            CopyState::Starting => "Starting",
            CopyState::InFlight => "InFlight",
            CopyState::Succeeded => "Succeeded",
            CopyState::Failed => "Failed",
            CopyState::Expired => "Expired",
            CopyState::Rejected => "Rejected",
            CopyState::Restarting => "Restarting",
            CopyState::Superseded => "Superseded",
        }
    }

    pub fn parse(s: &str) -> Option<CopyState> {
        CopyState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            CopyState::Succeeded
                | CopyState::Failed
                | CopyState::Expired
                | CopyState::Rejected
                | CopyState::Superseded
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopyRecord {
    pub chain: String,
    pub source_restore_point: RestorePointId,
    pub source_vm: Option<String>,
    pub source_time: OffsetDateTime,
    pub target_restore_point: RestorePointId,
    pub state: CopyState,
    /// Rejection code, failure or expiry text.
    pub reason: Option<String>,
    pub requested_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub not_before: Option<OffsetDateTime>,
    pub defer_count: u32,
    pub last_reading_at: Option<OffsetDateTime>,
    pub last_percent: Option<f64>,
    pub last_status: Option<String>,
    pub last_progress_at: Option<OffsetDateTime>,
    pub readings: u32,
    pub alerts: BTreeSet<AlertKind>,
    /// Alerts of this copy whose condition ended and whose `Resolved` was sent (a stall
    /// that moved again): once each. Absent in older rows: none.
    pub resolved: BTreeSet<AlertKind>,
    /// Disk name → target disk encryption set, for CMK disks.
    pub encryption: BTreeMap<String, String>,
    /// Earlier attempts of this copy that failed or stalled and were restarted, oldest first.
    pub earlier_attempts: Vec<Attempt>,
    /// The source restore point (name) copied instead of this one, when `Superseded`.
    pub superseded_by: Option<String>,
    /// The longest stretch of the current attempt without visible progress so far, in
    /// minutes (measured from its start and between readings that moved).
    pub longest_gap_minutes: u32,
    /// When ferry deleted the copy's target restore point for retention (absent on older
    /// rows: never). The record stays, with its lineage, forever.
    pub deleted_at: Option<OffsetDateTime>,
    /// Why it was deleted (`retention`, `default cap`).
    pub deleted_by: Option<String>,
    pub etag: Option<ETag>,
}

impl CopyRecord {
    /// A copy of `source` first recorded at `now`, waiting its turn in `chain`. Its target
    /// is the restore point of the same name in the chain's target collection: names are
    /// deterministic, so a crashed start can find (and adopt) what it already sent.
    pub fn pending(
        chain: &Chain,
        source: &RestorePointId,
        source_time: OffsetDateTime,
        now: OffsetDateTime,
    ) -> CopyRecord {
        CopyRecord {
            chain: chain.key.clone(),
            source_restore_point: source.clone(),
            source_vm: chain.source_vm.clone(),
            source_time,
            target_restore_point: chain.target_collection.restore_point(&source.name),
            state: CopyState::Pending,
            reason: None,
            requested_at: now,
            started_at: None,
            ended_at: None,
            not_before: None,
            defer_count: 0,
            last_reading_at: None,
            last_percent: None,
            last_status: None,
            last_progress_at: None,
            readings: 0,
            alerts: Default::default(),
            resolved: Default::default(),
            encryption: Default::default(),
            earlier_attempts: Vec::new(),
            superseded_by: None,
            longest_gap_minutes: 0,
            deleted_at: None,
            deleted_by: None,
            etag: None,
        }
    }

    pub fn row_key(&self) -> String {
        copy_row(&self.source_restore_point.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub chain: String,
    pub source_rp_name: String,
    pub at: OffsetDateTime,
    pub disks: Vec<DiskProgress>,
    pub percent: Option<f64>,
    pub state: String,
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn opt_time(e: &mut Entity, name: &str, v: Option<OffsetDateTime>) {
    if let Some(t) = v {
        e.properties.insert(name.into(), Value::DateTime(t));
    }
}

fn opt_str(e: &mut Entity, name: &str, v: &Option<String>) {
    if let Some(t) = v {
        e.properties.insert(name.into(), s(t));
    }
}

fn fmt_times(ts: &[OffsetDateTime]) -> String {
    ts.iter()
        .map(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

struct Reader<'a> {
    e: &'a Entity,
}

impl Reader<'_> {
    fn fail(&self, reason: String) -> RecordError {
        RecordError {
            partition: self.e.partition_key.clone(),
            row: self.e.row_key.clone(),
            reason,
        }
    }
    fn req_str(&self, name: &str) -> Result<String, RecordError> {
        self.e
            .str(name)
            .map(str::to_string)
            .ok_or_else(|| self.fail(format!("missing string {name}")))
    }
    fn req_time(&self, name: &str) -> Result<OffsetDateTime, RecordError> {
        self.e
            .time(name)
            .ok_or_else(|| self.fail(format!("missing time {name}")))
    }
    fn opt_str(&self, name: &str) -> Option<String> {
        self.e
            .str(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
    fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<T, RecordError>
    where
        T::Err: std::fmt::Display,
    {
        self.e
            .str(name)
            .ok_or_else(|| self.fail(format!("missing string {name}")))?
            .parse()
            .map_err(|e: T::Err| self.fail(format!("{name}: {e}")))
    }
    fn minutes(&self, name: &str) -> Result<Vec<u32>, RecordError> {
        let Some(text) = self.opt_str(name) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(|m| m.parse().map_err(|e| self.fail(format!("{name}: {e}"))))
            .collect()
    }
    fn times(&self, name: &str) -> Result<Vec<OffsetDateTime>, RecordError> {
        let Some(text) = self.opt_str(name) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| self.fail(format!("{name}: {e}")))
            })
            .collect()
    }
}

impl Chain {
    /// A chain as it is created: from `source_collection` to `target_collection` in
    /// `target_region`, keyed by [`chain_key`], with no copy, no history and nothing known of
    /// its source's region or VM yet.
    pub fn new(
        source_collection: CollectionId,
        target_region: &str,
        target_collection: CollectionId,
        created_at: OffsetDateTime,
    ) -> Chain {
        Chain {
            key: chain_key(&source_collection, target_region),
            source_collection,
            source_region: None,
            source_vm: None,
            target_region: target_region.to_string(),
            target_collection,
            created_at,
            in_flight: None,
            active: false,
            watermark: None,
            base_restore_point: None,
            last_success_source_time: None,
            last_success_restore_point: None,
            last_success_at: None,
            recent_starts: Vec::new(),
            rpo_alerted: None,
            target_ready: false,
            history: ChainHistory::default(),
            upkeep: Default::default(),
            etag: None,
            rpo_objective: None,
        }
    }

    pub fn to_entity(&self) -> Entity {
        let mut e = Entity::new(&self.key, CHAIN_ROW)
            .with(
                "SourceCollection",
                s(&self.source_collection.to_id_string()),
            )
            .with("TargetRegion", s(&self.target_region))
            .with(
                "TargetCollection",
                s(&self.target_collection.to_id_string()),
            )
            .with("CreatedAt", Value::DateTime(self.created_at))
            .with("InFlight", s(self.in_flight.as_deref().unwrap_or("")))
            .with("Active", Value::Bool(self.active))
            .with("RecentStarts", s(&fmt_times(&self.recent_starts)))
            .with("TargetReady", Value::Bool(self.target_ready))
            .with("RecentCopyMinutes", s(&self.history.to_text()));
        if let Some(g) = self.history.slowest_gap_minutes {
            e.properties
                .insert("SlowestGapMinutes".into(), Value::Int64(i64::from(g)));
        }
        opt_str(&mut e, "SourceRegion", &self.source_region);
        opt_str(&mut e, "SourceVm", &self.source_vm);
        opt_time(&mut e, "Watermark", self.watermark);
        opt_str(&mut e, "BaseRestorePoint", &self.base_restore_point);
        opt_time(
            &mut e,
            "LastSuccessSourceTime",
            self.last_success_source_time,
        );
        opt_str(
            &mut e,
            "LastSuccessRestorePoint",
            &self.last_success_restore_point,
        );
        opt_time(&mut e, "LastSuccessAt", self.last_success_at);
        opt_str(&mut e, "RpoAlerted", &self.rpo_alerted);
        if let Some(o) = self.rpo_objective {
            e.properties.insert(
                "RpoObjectiveMinutes".into(),
                Value::Int64(o.whole_minutes()),
            );
        }
        self.upkeep.write(&mut e);
        e
    }

    pub fn from_entity(e: &Entity) -> Result<Chain, RecordError> {
        let r = Reader { e };
        Ok(Chain {
            key: e.partition_key.clone(),
            source_collection: r.parse("SourceCollection")?,
            source_region: r.opt_str("SourceRegion"),
            source_vm: r.opt_str("SourceVm"),
            target_region: r.req_str("TargetRegion")?,
            target_collection: r.parse("TargetCollection")?,
            created_at: r.req_time("CreatedAt")?,
            in_flight: r.opt_str("InFlight"),
            active: e.bool("Active").unwrap_or(false),
            watermark: e.time("Watermark"),
            base_restore_point: r.opt_str("BaseRestorePoint"),
            last_success_source_time: e.time("LastSuccessSourceTime"),
            last_success_restore_point: r.opt_str("LastSuccessRestorePoint"),
            last_success_at: e.time("LastSuccessAt"),
            recent_starts: r.times("RecentStarts")?,
            rpo_alerted: r.opt_str("RpoAlerted"),
            target_ready: e.bool("TargetReady").unwrap_or(false),
            history: ChainHistory {
                copy_minutes: r.minutes("RecentCopyMinutes")?,
                slowest_gap_minutes: e
                    .i64("SlowestGapMinutes")
                    .map(|g| g.clamp(0, u32::MAX as i64) as u32),
            },
            upkeep: super::upkeep::Upkeep::read(e),
            etag: e.etag.clone(),
            rpo_objective: e
                .i64("RpoObjectiveMinutes")
                .filter(|m| *m > 0)
                .map(time::Duration::minutes),
        })
    }
}

impl CopyRecord {
    pub fn to_entity(&self) -> Entity {
        let alerts: Vec<&str> = self.alerts.iter().map(|k| k.as_str()).collect();
        let mut e = Entity::new(&self.chain, self.row_key())
            .with(
                "SourceRestorePoint",
                s(&self.source_restore_point.to_id_string()),
            )
            .with("SourceTime", Value::DateTime(self.source_time))
            .with(
                "TargetRestorePoint",
                s(&self.target_restore_point.to_id_string()),
            )
            .with("State", s(self.state.as_str()))
            .with("RequestedAt", Value::DateTime(self.requested_at))
            .with("DeferCount", Value::Int64(self.defer_count as i64))
            .with("Readings", Value::Int64(self.readings as i64))
            .with("AlertsSent", s(&alerts.join(",")));
        if !self.resolved.is_empty() {
            let r: Vec<&str> = self.resolved.iter().map(|k| k.as_str()).collect();
            e.properties
                .insert("AlertsResolved".into(), s(&r.join(",")));
        }
        opt_str(&mut e, "SourceVm", &self.source_vm);
        opt_str(&mut e, "Reason", &self.reason);
        opt_time(&mut e, "StartedAt", self.started_at);
        opt_time(&mut e, "EndedAt", self.ended_at);
        opt_time(&mut e, "NotBefore", self.not_before);
        opt_time(&mut e, "LastReadingAt", self.last_reading_at);
        if let Some(p) = self.last_percent {
            e.properties.insert("LastPercent".into(), Value::Double(p));
        }
        opt_str(&mut e, "LastStatus", &self.last_status);
        opt_time(&mut e, "LastProgressAt", self.last_progress_at);
        if !self.encryption.is_empty() {
            e.properties.insert(
                "Encryption".into(),
                s(&serde_json::to_string(&self.encryption).unwrap_or_default()),
            );
        }
        if !self.earlier_attempts.is_empty() {
            e.properties.insert(
                "EarlierAttempts".into(),
                s(&serde_json::to_string(&self.earlier_attempts).unwrap_or_default()),
            );
        }
        opt_str(&mut e, "SupersededBy", &self.superseded_by);
        opt_time(&mut e, "DeletedAt", self.deleted_at);
        opt_str(&mut e, "DeletedBy", &self.deleted_by);
        if self.longest_gap_minutes > 0 {
            e.properties.insert(
                "LongestGapMinutes".into(),
                Value::Int64(i64::from(self.longest_gap_minutes)),
            );
        }
        e
    }

    pub fn from_entity(e: &Entity) -> Result<CopyRecord, RecordError> {
        let r = Reader { e };
        let state_text = r.req_str("State")?;
        let state = CopyState::parse(&state_text)
            .ok_or_else(|| r.fail(format!("unknown State {state_text:?}")))?;
        let alerts = r
            .opt_str("AlertsSent")
            .map(|a| a.split(',').filter_map(AlertKind::parse).collect())
            .unwrap_or_default();
        let resolved = r
            .opt_str("AlertsResolved")
            .map(|a| a.split(',').filter_map(AlertKind::parse).collect())
            .unwrap_or_default();
        let encryption = match r.opt_str("Encryption") {
            None => BTreeMap::new(),
            Some(t) => serde_json::from_str(&t).map_err(|e| r.fail(format!("Encryption: {e}")))?,
        };
        let earlier_attempts = match r.opt_str("EarlierAttempts") {
            None => Vec::new(),
            Some(t) => {
                serde_json::from_str(&t).map_err(|e| r.fail(format!("EarlierAttempts: {e}")))?
            }
        };
        Ok(CopyRecord {
            chain: e.partition_key.clone(),
            source_restore_point: r.parse("SourceRestorePoint")?,
            source_vm: r.opt_str("SourceVm"),
            source_time: r.req_time("SourceTime")?,
            target_restore_point: r.parse("TargetRestorePoint")?,
            state,
            reason: r.opt_str("Reason"),
            requested_at: r.req_time("RequestedAt")?,
            started_at: e.time("StartedAt"),
            ended_at: e.time("EndedAt"),
            not_before: e.time("NotBefore"),
            defer_count: e.i64("DeferCount").unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            last_reading_at: e.time("LastReadingAt"),
            last_percent: e.f64("LastPercent"),
            last_status: r.opt_str("LastStatus"),
            last_progress_at: e.time("LastProgressAt"),
            readings: e.i64("Readings").unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            alerts,
            resolved,
            encryption,
            earlier_attempts,
            superseded_by: r.opt_str("SupersededBy"),
            longest_gap_minutes: e
                .i64("LongestGapMinutes")
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32,
            deleted_at: e.time("DeletedAt"),
            deleted_by: r.opt_str("DeletedBy"),
            etag: e.etag.clone(),
        })
    }
}

impl Reading {
    pub fn to_entity(&self) -> Entity {
        let mut e = Entity::new(&self.chain, reading_row(&self.source_rp_name, self.at))
            .with("At", Value::DateTime(self.at))
            .with("SourceRestorePointName", s(&self.source_rp_name))
            .with(
                "Disks",
                s(&serde_json::to_string(&self.disks).unwrap_or_default()),
            )
            .with("State", s(&self.state));
        if let Some(p) = self.percent {
            e.properties.insert("Percent".into(), Value::Double(p));
        }
        e
    }

    pub fn from_entity(e: &Entity) -> Result<Reading, RecordError> {
        let r = Reader { e };
        let disks = serde_json::from_str(&r.req_str("Disks")?)
            .map_err(|x| r.fail(format!("Disks: {x}")))?;
        Ok(Reading {
            chain: e.partition_key.clone(),
            source_rp_name: r.req_str("SourceRestorePointName")?,
            at: r.req_time("At")?,
            disks,
            percent: e.f64("Percent"),
            state: r.req_str("State")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SRC: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc1";

    fn chain() -> Chain {
        let src: CollectionId = SRC.parse().unwrap();
        Chain {
            key: chain_key(&src, "westus2"),
            target_collection: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc1-westus2".parse().unwrap(),
            source_collection: src,
            source_region: Some("eastus".into()),
            source_vm: Some("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1".into()),
            target_region: "westus2".into(),
            created_at: datetime!(2026-11-01 00:00 UTC),
            in_flight: Some(copy_row("rp1")),
            active: true,
            watermark: Some(datetime!(2026-11-01 01:00 UTC)),
            base_restore_point: Some("rp1".into()),
            last_success_source_time: None,
            last_success_restore_point: None,
            last_success_at: None,
            recent_starts: vec![datetime!(2026-11-01 01:00 UTC), datetime!(2026-11-01 01:30 UTC)],
            rpo_alerted: None,
            upkeep: Default::default(),
            target_ready: true,
            history: Default::default(),
            etag: None,
            rpo_objective: Some(time::Duration::hours(36)),
        }
    }

    #[test]
    fn chain_key_is_stable_and_case_insensitive() {
        let a: CollectionId = SRC.parse().unwrap();
        let b: CollectionId = SRC
            .to_uppercase()
            .replace("SUBSCRIPTIONS", "subscriptions")
            .replace("RESOURCEGROUPS", "resourceGroups")
            .replace("PROVIDERS", "providers")
            .parse()
            .unwrap();
        assert_eq!(chain_key(&a, "westus2"), chain_key(&b, "WestUS2"));
        assert_ne!(chain_key(&a, "westus2"), chain_key(&a, "eastus2"));
        assert!(chain_key(&a, "westus2").len() <= 128);
    }

    #[test]
    fn chain_round_trips() {
        let c = chain();
        assert_eq!(Chain::from_entity(&c.to_entity()).unwrap(), c);
        let mut c = c;
        for m in [30, 200, 45, 50, 61, 70] {
            c.history
                .record(time::Duration::minutes(m), time::Duration::minutes(m / 10));
        }
        assert_eq!(
            c.history.copy_minutes,
            [200, 45, 50, 61, 70],
            "the last five"
        );
        assert_eq!(c.history.slowest_gap_minutes, Some(20));
        assert_eq!(c.history.typical_copy(), Some(time::Duration::minutes(61)));
        assert_eq!(Chain::from_entity(&c.to_entity()).unwrap(), c);
        let mut e = c.to_entity();
        e.properties
            .insert("RecentCopyMinutes".into(), Value::String("12,x".into()));
        assert!(Chain::from_entity(&e)
            .unwrap_err()
            .reason
            .contains("RecentCopyMinutes"));
    }

    #[test]
    fn copy_round_trips() {
        let c = chain();
        let copy = CopyRecord {
            chain: c.key.clone(),
            source_restore_point: c.source_collection.restore_point("RP1"),
            source_vm: Some("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1".into()),
            source_time: datetime!(2026-11-01 01:00 UTC),
            target_restore_point: c.target_collection.restore_point("RP1"),
            state: CopyState::InFlight,
            reason: None,
            requested_at: datetime!(2026-11-01 01:05 UTC),
            started_at: Some(datetime!(2026-11-01 01:06 UTC)),
            ended_at: None,
            not_before: None,
            defer_count: 2,
            last_reading_at: Some(datetime!(2026-11-01 01:10 UTC)),
            last_percent: Some(37.5),
            last_status: Some("ReplicationState/inProgress".into()),
            last_progress_at: Some(datetime!(2026-11-01 01:10 UTC)),
            readings: 1,
            alerts: [AlertKind::CopyStalled].into(),
            resolved: [AlertKind::CopyStalled].into(),
            encryption: [("os".to_string(), "des".to_string())].into(),
            earlier_attempts: Vec::new(),
            superseded_by: None,
            longest_gap_minutes: 0,
            deleted_at: Some(datetime!(2026-11-30 01:10 UTC)),
            deleted_by: Some("retention".into()),
            etag: None,
        };
        assert_eq!(copy.row_key(), "rp|rp1");
        assert_eq!(CopyRecord::from_entity(&copy.to_entity()).unwrap(), copy);
        let mut copy = copy;
        copy.state = CopyState::Superseded;
        copy.superseded_by = Some("rp9".into());
        copy.longest_gap_minutes = 130;
        copy.earlier_attempts.push(Attempt {
            started_at: Some(datetime!(2026-11-01 01:00 UTC)),
            ended_at: datetime!(2026-11-01 07:00 UTC),
            outcome: "stalled".into(),
            last_reading_at: Some(datetime!(2026-11-01 06:50 UTC)),
            last_percent: Some(0.0),
            last_status: Some("os=0%/ReplicationState/inProgress".into()),
        });
        assert_eq!(CopyRecord::from_entity(&copy.to_entity()).unwrap(), copy);
    }

    #[test]
    fn row_keys() {
        assert_eq!(copy_row("RP-0001_ü"), "rp|rp-0001_ü");
        assert_eq!(
            reading_row("RP1", datetime!(1970-01-01 00:00:01.5 UTC)),
            "reading|rp1|00000000000001500000"
        );
        // Before 1970 clamps to zero rather than sorting before every other reading.
        assert_eq!(
            reading_row("a", datetime!(1969-12-31 23:59 UTC)),
            "reading|a|00000000000000000000"
        );
    }

    #[test]
    fn reading_rows_sort_by_time() {
        let a = reading_row("rp1", datetime!(2026-11-01 01:00 UTC));
        let b = reading_row("rp1", datetime!(2026-11-10 01:00 UTC));
        assert!(a < b);
        let r = Reading {
            chain: "c".into(),
            source_rp_name: "rp1".into(),
            at: datetime!(2026-11-01 01:00 UTC),
            disks: vec![DiskProgress {
                disk: "os".into(),
                percent: Some(10.0),
                code: Some("ReplicationState/inProgress".into()),
            }],
            percent: Some(10.0),
            state: "InProgress".into(),
        };
        assert_eq!(Reading::from_entity(&r.to_entity()).unwrap(), r);
    }

    #[test]
    fn unreadable_records_name_the_row() {
        let mut e = chain().to_entity();
        e.properties.remove("TargetRegion");
        let err = Chain::from_entity(&e).unwrap_err();
        assert!(err.to_string().contains("TargetRegion") && err.to_string().contains("chain"));
        let mut e = chain().to_entity();
        e.properties
            .insert("SourceCollection".into(), Value::String("garbage".into()));
        assert!(Chain::from_entity(&e).is_err());
    }
}
