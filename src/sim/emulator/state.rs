//! The emulator's in-memory world: VMs, restore point collections, restore points, disk
//! restore points, copies, async operations and the event feed. Time-based transitions are
//! computed lazily from the clock (`settle`), so a `ManualClock` jump is seen at once.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use time::{Duration, OffsetDateTime};

use super::ids::{CollectionId, RestorePointId, VmId};
use super::limits::{CopyWindow, TokenBucket};
use super::{CopyOutcome, EmulatorStats};

/// Progress of a cross-region copy is published in steps of this length.
pub(crate) const PROGRESS_STEP: Duration = Duration::minutes(10);
/// The platform terminates copies running longer than this.
pub(crate) const COPY_LIMIT: Duration = Duration::days(14);
/// How long a restore point's DELETE runs (a long-running operation, as in Azure) before
/// the restore point is gone. Short of a demo tick, so a delete is done by the next one.
pub(crate) const DELETE_DURATION: Duration = Duration::minutes(1);

#[derive(Debug, Clone)]
pub(crate) struct Disk {
    pub name: String,
    /// `None` for the OS disk.
    pub lun: Option<i32>,
    pub size_gb: i32,
    pub used_gb: f64,
    pub churn_gb_per_day: f64,
    pub managed_disk_id: String,
    pub storage_account_type: String,
    pub caching: String,
    pub des: Option<String>,
    pub private: bool,
    pub disk_access_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Vm {
    pub id: VmId,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub vm_uuid: String,
    pub vm_size: String,
    pub os_type: String,
    pub security_type: Option<String>,
    pub disks: Vec<Disk>,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) enum CollectionKind {
    /// Source is a VM (key of the VM).
    Local { vm: String },
    /// Cross-region target; source is a collection (its key).
    Target { source: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub id: CollectionId,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub source_id: String,
    pub source_location: String,
    pub uid: String,
    pub instant_access: Option<bool>,
    pub kind: CollectionKind,
    /// In creation order.
    pub rps: Vec<RestorePoint>,
    /// Newest source `timeCreated` ever copied into this collection (nonsequential rule).
    pub max_copied_source_created: Option<OffsetDateTime>,
    /// The source restore point whose copy was full: the base of the chain.
    pub base_source: Option<String>,
}

/// Snapshot of the VM taken when a local restore point is created.
#[derive(Debug, Clone)]
pub(crate) struct SourceMeta {
    pub vm_uuid: String,
    pub vm_size: String,
    pub os_type: String,
    pub location: String,
    pub security_type: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct DiskRp {
    pub name: String,
    pub disk_name: String,
    pub lun: Option<i32>,
    pub size_gb: i32,
    pub used_gb: f64,
    pub churn_gb_per_day: f64,
    pub managed_disk_id: String,
    pub storage_account_type: String,
    pub caching: String,
    /// Disk id (local) or source disk restore point id (copy).
    pub source_resource_id: String,
    /// DES of the source disk (as in sourceMetadata.managedDisk).
    pub source_des: Option<String>,
    /// DES that encrypts this disk restore point.
    pub des: Option<String>,
    pub private: bool,
    pub disk_access_id: Option<String>,
    pub family_id: String,
    pub source_unique_id: String,
    /// Copies only: data to transfer and how long it takes.
    pub copy: Option<DiskCopy>,
}

#[derive(Debug, Clone)]
pub(crate) struct DiskCopy {
    pub data_gb: f64,
    pub duration: Duration,
    pub source_disk_rp_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fate {
    Normal,
    FailAt(Duration),
    NeverProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    InProgress,
    Succeeded,
    Failed { terminated: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct CopyState {
    pub source_id: RestorePointId,
    pub source_collection_key: String,
    pub source_location: String,
    pub started: OffsetDateTime,
    pub fate: Fate,
    pub full: bool,
    /// Set once the copy reached a terminal phase (counted in stats once).
    pub finalized: Option<Phase>,
}

#[derive(Debug, Clone)]
pub(crate) enum RpKind {
    Local { settled_at: OffsetDateTime },
    Copy(CopyState),
}

#[derive(Debug, Clone)]
pub(crate) struct RestorePoint {
    pub id: RestorePointId,
    pub time_created: OffsetDateTime,
    pub consistency_mode: String,
    pub exclude_disks: Vec<String>,
    pub instant_access_minutes: Option<i32>,
    pub meta: SourceMeta,
    pub disks: Vec<DiskRp>,
    pub kind: RpKind,
    /// Set once a DELETE was accepted: the restore point answers `Deleting` until then.
    pub deleting: Option<Deletion>,
}

/// A restore point's delete under way.
#[derive(Debug, Clone)]
pub(crate) struct Deletion {
    pub op_id: String,
    pub done_at: OffsetDateTime,
    /// The Event Grid delete event, published when the delete completes.
    pub event: serde_json::Value,
}

#[derive(Debug, Clone)]
pub(crate) enum OpKind {
    CreateRp { rp_key: String },
    Delete { done_at: OffsetDateTime },
}

#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub id: String,
    pub subscription: String,
    pub region: String,
    pub kind: OpKind,
    pub start: OffsetDateTime,
}

pub(crate) struct State {
    pub vms: BTreeMap<String, Vm>,
    pub collections: BTreeMap<String, Collection>,
    pub ops: BTreeMap<String, Operation>,
    /// (sequence number, event); sequence numbers start at 1.
    pub events: Vec<(u64, serde_json::Value)>,
    pub next_seq: u64,
    pub drained: u64,
    pub stats: EmulatorStats,
    pub planned: BTreeMap<String, CopyOutcome>,
    pub rng_ids: ChaCha8Rng,
    pub rng_copies: ChaCha8Rng,
    pub rng_faults: ChaCha8Rng,
    /// Which disk restores fail: a stream of its own, so that drills do not change which
    /// copies fail.
    pub rng_restores: ChaCha8Rng,
    pub buckets: BTreeMap<(String, bool), TokenBucket>,
    pub copy_windows: BTreeMap<String, CopyWindow>,
    /// No copy can change phase before this time (from the last full scan in `settle`,
    /// lowered by each copy created since); `None` forces a scan. Without it every request walked every restore point.
    pub settle_due: Option<OffsetDateTime>,
    /// Every copy created, by (target region, source restore point key) and by (target
    /// region, source collection key), so the copy rules do not scan every collection on
    /// each copy PUT (which made a 50,000-copy estate's setup quadratic). Values are copy
    /// keys; a copy or collection deleted since leaves a stale key that the lookups skip,
    /// since they re-read the copy from `collections`.
    copies_by_source: HashMap<(String, String), Vec<String>>,
    copies_by_source_collection: HashMap<(String, String), Vec<String>>,
    /// Per source collection key, per target region: what has reached that region, kept as
    /// copies start and succeed so the demo can sample every chain at every tick cheaply.
    chain_marks: HashMap<String, BTreeMap<String, ChainMarks>>,
    /// Deletes under way: (when done, restore point key).
    deletes: Vec<(OffsetDateTime, String)>,
    /// Managed disks restored from disk restore points (restore drills).
    pub disks: super::disks::Disks,
    /// Management locks on restore points.
    pub locks: super::locks::Locks,
}

/// What of one source collection has reached one target region: the creation times of the
/// newest source restore points whose copy there started, and whose copy there succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChainMarks {
    pub newest_started: Option<OffsetDateTime>,
    pub newest_succeeded: Option<OffsetDateTime>,
}

fn later(a: Option<OffsetDateTime>, b: OffsetDateTime) -> Option<OffsetDateTime> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Source restore points (`rps`, in creation order) created after `newest_started`, or all
/// of them when no copy started: the chain's backlog. Restore points older than a started
/// copy can never be copied after it (the platform's order rule), so they do not count.
pub(crate) fn backlog(rps: &[RestorePoint], newest_started: Option<OffsetDateTime>) -> usize {
    match newest_started {
        None => rps.len(),
        Some(t) => rps.len() - rps.partition_point(|r| r.time_created <= t),
    }
}

impl State {
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        // Separate streams: fault rolls must not shift copy outcomes or ids.
        State {
            vms: BTreeMap::new(),
            collections: BTreeMap::new(),
            ops: BTreeMap::new(),
            events: Vec::new(),
            next_seq: 1,
            drained: 0,
            stats: EmulatorStats::default(),
            planned: BTreeMap::new(),
            rng_ids: ChaCha8Rng::seed_from_u64(seed),
            rng_copies: ChaCha8Rng::seed_from_u64(seed ^ 0x0005_eedc_0b1e_u64),
            rng_faults: ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_fa17_u64),
            rng_restores: ChaCha8Rng::seed_from_u64(seed ^ 0xd15c_d15c_u64),
            buckets: BTreeMap::new(),
            copy_windows: BTreeMap::new(),
            settle_due: None,
            copies_by_source: HashMap::new(),
            copies_by_source_collection: HashMap::new(),
            chain_marks: HashMap::new(),
            deletes: Vec::new(),
            disks: Default::default(),
            locks: Default::default(),
        }
    }

    /// A v4-shaped UUID from the seeded RNG (reproducible runs).
    pub fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng_ids.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    pub fn push_event(&mut self, ev: serde_json::Value) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push((seq, ev));
    }

    /// Draws the fate of a new copy: planned overrides first, then the configured rates.
    pub fn draw_fate(
        &mut self,
        source_key: &str,
        longest: Duration,
        failure_rate: f64,
        stall_rate: f64,
    ) -> Fate {
        let roll: f64 = self.rng_copies.random();
        let at: f64 = self.rng_copies.random_range(0.05..0.95);
        let fail_at = Duration::seconds_f64((longest.as_seconds_f64() * at).max(1.0));
        match self.planned.get(source_key) {
            Some(CopyOutcome::Fail) => Fate::FailAt(fail_at),
            Some(CopyOutcome::NeverProgress) => Fate::NeverProgress,
            Some(CopyOutcome::Normal) => Fate::Normal,
            None if roll < failure_rate => Fate::FailAt(fail_at),
            None if roll < failure_rate + stall_rate => Fate::NeverProgress,
            None => Fate::Normal,
        }
    }

    /// Completes the deletes due by `now`, then finalizes copies that reached a terminal
    /// phase by `now` (counted once in stats).
    pub fn settle(&mut self, now: OffsetDateTime) {
        self.finish_deletes(now);
        self.disks.settle(now);
        if self.settle_due.is_some_and(|due| now < due) {
            return;
        }
        let mut done = Vec::new();
        let mut landed = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for c in self.collections.values_mut() {
            for rp in &mut c.rps {
                if let RpKind::Copy(cs) = &mut rp.kind {
                    if cs.finalized.is_none() {
                        let p = copy_phase(cs, &rp.disks, now);
                        if p == Phase::InProgress {
                            let due = cs.started + phase_change_after(cs, &rp.disks);
                            next = Some(next.map_or(due, |n| n.min(due)));
                        } else {
                            cs.finalized = Some(p);
                            done.push(p);
                            if p == Phase::Succeeded {
                                landed.push((
                                    cs.source_collection_key.clone(),
                                    c.location.clone(),
                                    rp.time_created,
                                ));
                            }
                        }
                    }
                }
            }
        }
        // Nothing in progress: nothing to do until a copy is created (which lowers this).
        self.settle_due = Some(next.unwrap_or(now + COPY_LIMIT));
        for (source, region, created) in landed {
            let m = self.marks_mut(&source, &region);
            m.newest_succeeded = later(m.newest_succeeded, created);
        }
        for p in done {
            match p {
                Phase::Succeeded => self.stats.copies_succeeded += 1,
                Phase::Failed { terminated: true } => self.stats.copies_terminated += 1,
                Phase::Failed { terminated: false } => self.stats.copies_failed += 1,
                Phase::InProgress => {}
            }
        }
    }

    /// Accepts the DELETE of restore point `key` (not already being deleted): it answers
    /// `Deleting` until `now + DELETE_DURATION`, when it disappears and `event` is published.
    /// A copy still in progress that would have completed counts as a needless restart.
    /// False if there is no such restore point.
    pub fn begin_delete(
        &mut self,
        key: &str,
        op_id: String,
        event: serde_json::Value,
        now: OffsetDateTime,
    ) -> bool {
        let Some((ckey, _)) = key.rsplit_once("/restorepoints/") else {
            return false;
        };
        let Some(c) = self.collections.get_mut(ckey) else {
            return false;
        };
        let region = c.location.clone();
        let Some(rp) = c.rps.iter_mut().find(|r| r.id.key() == key) else {
            return false;
        };
        let done_at = now + DELETE_DURATION;
        rp.deleting = Some(Deletion {
            op_id,
            done_at,
            event,
        });
        let copy_of = match &rp.kind {
            RpKind::Copy(cs) => Some((
                cs.source_collection_key.clone(),
                would_complete(cs, &rp.disks, now),
            )),
            RpKind::Local { .. } => None,
        };
        self.deletes.push((done_at, key.to_string()));
        if let Some((source, needless)) = copy_of {
            if needless {
                self.stats.needless_restarts += 1;
            }
            // Being deleted, it no longer protects anything.
            self.recompute_marks(&source, &region, now);
        }
        true
    }

    /// Completes the deletes due by `now`: each restore point disappears and its Event Grid
    /// delete event is published.
    pub fn finish_deletes(&mut self, now: OffsetDateTime) {
        if !self.deletes.iter().any(|(at, _)| *at <= now) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deletes)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.deletes = later;
        for (_, key) in due {
            let Some((ckey, _)) = key.rsplit_once("/restorepoints/") else {
                continue;
            };
            let Some(c) = self.collections.get_mut(ckey) else {
                continue;
            };
            let Some(pos) = c.rps.iter().position(|r| {
                r.deleting.as_ref().is_some_and(|d| d.done_at <= now) && r.id.key() == key
            }) else {
                continue;
            };
            let rp = c.rps.remove(pos);
            let region = c.location.clone();
            // A copy gone is out of the copy indexes too: lookups skip stale keys anyway,
            // but a chain that keeps deleting old copies (retention) would otherwise make
            // each lookup walk every copy it ever made.
            if let RpKind::Copy(cs) = &rp.kind {
                for (map, source) in [
                    (&mut self.copies_by_source, cs.source_id.key()),
                    (
                        &mut self.copies_by_source_collection,
                        cs.source_collection_key.clone(),
                    ),
                ] {
                    if let Some(keys) = map.get_mut(&(region.clone(), source)) {
                        keys.retain(|k| *k != key);
                    }
                }
            }
            if let Some(d) = rp.deleting {
                self.push_event(d.event);
            }
        }
    }

    pub fn find_rp(&self, key: &str) -> Option<&RestorePoint> {
        let (ckey, _) = key.rsplit_once("/restorepoints/")?;
        self.collections
            .get(ckey)?
            .rps
            .iter()
            .find(|r| r.id.key() == key)
    }

    /// Records a copy just created in a collection of `region`: indexed for the copy rules
    /// (see `copies_by_source`), and `settle` looks again by the time it can first change
    /// phase. (Forcing a full settle scan after every new copy made large setups quadratic.)
    pub fn copy_created(&mut self, region: &str, copy: &RestorePoint) {
        let RpKind::Copy(cs) = &copy.kind else {
            return;
        };
        let due = cs.started + phase_change_after(cs, &copy.disks);
        self.settle_due = self.settle_due.map(|d| d.min(due));
        // A copy's restore point carries its source's creation time.
        let m = self.marks_mut(&cs.source_collection_key, region);
        m.newest_started = later(m.newest_started, copy.time_created);
        let key = copy.id.key();
        for (map, source) in [
            (&mut self.copies_by_source, cs.source_id.key()),
            (
                &mut self.copies_by_source_collection,
                cs.source_collection_key.clone(),
            ),
        ] {
            let keys = map.entry((region.to_string(), source)).or_default();
            if !keys.contains(&key) {
                keys.push(key.clone());
            }
        }
    }

    fn marks_mut(&mut self, source_key: &str, region: &str) -> &mut ChainMarks {
        self.chain_marks
            .entry(source_key.to_string())
            .or_default()
            .entry(region.to_string())
            .or_default()
    }

    /// What of the source collection `source_key` has reached `region` (see [`ChainMarks`]).
    pub fn chain_marks(&self, source_key: &str, region: &str) -> ChainMarks {
        self.chain_marks
            .get(source_key)
            .and_then(|m| m.get(region))
            .copied()
            .unwrap_or_default()
    }

    /// Recomputes the marks of (source collection, region) from the copies there that are
    /// not being deleted (after a delete or a collection's removal).
    pub fn recompute_marks(&mut self, source_key: &str, region: &str, now: OffsetDateTime) {
        let mut m = ChainMarks::default();
        for (rp, cs) in self.copies_from(region, source_key) {
            if rp.deleting.is_some() {
                continue;
            }
            m.newest_started = later(m.newest_started, rp.time_created);
            if copy_phase(cs, &rp.disks, now) == Phase::Succeeded {
                m.newest_succeeded = later(m.newest_succeeded, rp.time_created);
            }
        }
        *self.marks_mut(source_key, region) = m;
    }

    /// Live copies in collections of `region` whose source restore point is `source_key`.
    pub fn copies_of<'a>(
        &'a self,
        region: &'a str,
        source_key: &'a str,
    ) -> impl Iterator<Item = (&'a RestorePoint, &'a CopyState)> + 'a {
        self.indexed(&self.copies_by_source, region, source_key)
            .filter(move |(_, cs)| cs.source_id.key() == source_key)
    }

    /// Live copies in collections of `region` taken from the source collection `coll_key`.
    pub fn copies_from<'a>(
        &'a self,
        region: &'a str,
        coll_key: &'a str,
    ) -> impl Iterator<Item = (&'a RestorePoint, &'a CopyState)> + 'a {
        self.indexed(&self.copies_by_source_collection, region, coll_key)
            .filter(move |(_, cs)| cs.source_collection_key == coll_key)
    }

    /// The copies an index names for (region, source), re-read from `collections`: only
    /// those that still exist, are copies, and sit in a collection of `region`.
    fn indexed<'a>(
        &'a self,
        index: &'a HashMap<(String, String), Vec<String>>,
        region: &'a str,
        source: &str,
    ) -> impl Iterator<Item = (&'a RestorePoint, &'a CopyState)> + 'a {
        index
            .get(&(region.to_string(), source.to_string()))
            .into_iter()
            .flatten()
            .filter_map(move |key| {
                let (ckey, _) = key.rsplit_once("/restorepoints/")?;
                let c = self.collections.get(ckey)?;
                if c.location != region {
                    return None;
                }
                let rp = c.rps.iter().find(|r| r.id.key() == *key)?;
                match &rp.kind {
                    RpKind::Copy(cs) => Some((rp, cs)),
                    RpKind::Local { .. } => None,
                }
            })
    }
}

/// Time since `started` rounded down to the last published progress step.
pub(crate) fn visible_elapsed(started: OffsetDateTime, now: OffsetDateTime) -> Duration {
    if now <= started {
        return Duration::ZERO;
    }
    let step = PROGRESS_STEP.whole_seconds();
    let secs = (now - started).whole_seconds();
    Duration::seconds(secs / step * step)
}

fn longest(disks: &[DiskRp]) -> Duration {
    disks
        .iter()
        .filter_map(|d| d.copy.as_ref().map(|c| c.duration))
        .max()
        .unwrap_or(Duration::ZERO)
}

/// How long after its start a copy may first leave `InProgress` (the visible elapsed time
/// never exceeds the real one, so before this `copy_phase` cannot change).
fn phase_change_after(cs: &CopyState, disks: &[DiskRp]) -> Duration {
    match cs.fate {
        Fate::Normal => longest(disks).min(COPY_LIMIT),
        Fate::FailAt(t) => t.min(COPY_LIMIT),
        Fate::NeverProgress => COPY_LIMIT,
    }
}

/// Whether a copy still in progress at `now` would complete if left alone: its fate is
/// normal and its transfer fits the platform's time limit.
pub(crate) fn would_complete(cs: &CopyState, disks: &[DiskRp], now: OffsetDateTime) -> bool {
    cs.fate == Fate::Normal
        && longest(disks) <= COPY_LIMIT
        && copy_phase(cs, disks, now) == Phase::InProgress
}

/// The phase of a copy as the platform publishes it at `now`.
pub(crate) fn copy_phase(cs: &CopyState, disks: &[DiskRp], now: OffsetDateTime) -> Phase {
    if let Some(p) = cs.finalized {
        return p;
    }
    let v = visible_elapsed(cs.started, now);
    let total = longest(disks);
    match cs.fate {
        Fate::Normal if total <= COPY_LIMIT && v >= total => Phase::Succeeded,
        Fate::FailAt(t) if v >= t && t < COPY_LIMIT => Phase::Failed { terminated: false },
        _ if v >= COPY_LIMIT => Phase::Failed { terminated: true },
        _ => Phase::InProgress,
    }
}

/// One disk's published replication state: (state, percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiskPhase {
    InProgress(i32),
    Succeeded,
    Failed,
}

pub(crate) fn disk_phase(
    cs: &CopyState,
    disks: &[DiskRp],
    disk: &DiskRp,
    now: OffsetDateTime,
) -> DiskPhase {
    let dur = disk
        .copy
        .as_ref()
        .map(|c| c.duration)
        .unwrap_or(Duration::ZERO);
    let v = visible_elapsed(cs.started, now);
    match copy_phase(cs, disks, now) {
        Phase::Succeeded => DiskPhase::Succeeded,
        Phase::Failed { terminated } => {
            // A disk that had finished before the failure stays finished; the others
            // (always including the slowest) fail and, as on the platform, lose their last
            // percentage.
            let failed_at = match (terminated, cs.fate) {
                (false, Fate::FailAt(t)) => t,
                _ => COPY_LIMIT,
            };
            if cs.fate != Fate::NeverProgress && dur < failed_at {
                DiskPhase::Succeeded
            } else {
                DiskPhase::Failed
            }
        }
        Phase::InProgress => {
            if cs.fate == Fate::NeverProgress {
                DiskPhase::InProgress(0)
            } else if v >= dur {
                DiskPhase::Succeeded
            } else {
                let pct = (100.0 * v.as_seconds_f64() / dur.as_seconds_f64()).floor();
                DiskPhase::InProgress((pct as i32).clamp(0, 99))
            }
        }
    }
}

/// Provisioning state of a restore point at `now`.
pub(crate) fn provisioning_state(rp: &RestorePoint, now: OffsetDateTime) -> &'static str {
    if rp.deleting.is_some() {
        return "Deleting";
    }
    match &rp.kind {
        RpKind::Local { settled_at } => {
            if now >= *settled_at {
                "Succeeded"
            } else {
                "Creating"
            }
        }
        // `Succeeded` only means the copy started: it flips at the first progress step,
        // long before replication completes.
        RpKind::Copy(cs) => {
            if visible_elapsed(cs.started, now) >= PROGRESS_STEP {
                "Succeeded"
            } else {
                "Creating"
            }
        }
    }
}

/// Transfer time of `gb` gigabytes at `mbps` megabits per second (at least one second, so
/// a fresh copy always reads 0 % first).
pub(crate) fn transfer_time(gb: f64, mbps: f64) -> Duration {
    let mbps = if mbps.is_finite() && mbps > 0.0 {
        mbps
    } else {
        1.0
    };
    let secs = gb.max(0.0) * 8.0 * 1024.0 * 1024.0 * 1024.0 / (mbps * 1_000_000.0);
    Duration::seconds_f64(secs.clamp(1.0, 400.0 * 86_400.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn disk(dur_min: i64) -> DiskRp {
        DiskRp {
            name: "d".into(),
            disk_name: "d".into(),
            lun: None,
            size_gb: 128,
            used_gb: 100.0,
            churn_gb_per_day: 1.0,
            managed_disk_id: "x".into(),
            storage_account_type: "Premium_LRS".into(),
            caching: "ReadWrite".into(),
            source_resource_id: "x".into(),
            source_des: None,
            des: None,
            private: false,
            disk_access_id: None,
            family_id: "f".into(),
            source_unique_id: "u".into(),
            copy: Some(DiskCopy {
                data_gb: 1.0,
                duration: Duration::minutes(dur_min),
                source_disk_rp_id: "s".into(),
            }),
        }
    }

    fn copy(fate: Fate, t0: OffsetDateTime) -> CopyState {
        CopyState {
            source_id: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p".parse().unwrap(),
            source_collection_key: "c".into(),
            source_location: "eastus".into(),
            started: t0,
            fate,
            full: true,
            finalized: None,
        }
    }

    #[test]
    fn progress_moves_in_ten_minute_steps() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let disks = vec![disk(40)];
        let cs = copy(Fate::Normal, t0);
        let at = |m: i64| disk_phase(&cs, &disks, &disks[0], t0 + Duration::minutes(m));
        assert_eq!(at(0), DiskPhase::InProgress(0));
        assert_eq!(at(9), DiskPhase::InProgress(0));
        assert_eq!(at(10), DiskPhase::InProgress(25));
        assert_eq!(at(29), DiskPhase::InProgress(50));
        assert_eq!(at(40), DiskPhase::Succeeded);
    }

    #[test]
    fn low_churn_disk_shows_zero_then_hundred() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let disks = vec![disk(3)];
        let cs = copy(Fate::Normal, t0);
        assert_eq!(
            disk_phase(&cs, &disks, &disks[0], t0 + Duration::minutes(5)),
            DiskPhase::InProgress(0)
        );
        assert_eq!(
            disk_phase(&cs, &disks, &disks[0], t0 + Duration::minutes(10)),
            DiskPhase::Succeeded
        );
    }

    #[test]
    fn failure_and_termination() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let disks = vec![disk(100)];
        let cs = copy(Fate::FailAt(Duration::minutes(35)), t0);
        assert_eq!(
            copy_phase(&cs, &disks, t0 + Duration::minutes(30)),
            Phase::InProgress
        );
        assert_eq!(
            disk_phase(&cs, &disks, &disks[0], t0 + Duration::minutes(40)),
            DiskPhase::Failed
        );
        let stalled = copy(Fate::NeverProgress, t0);
        assert_eq!(
            copy_phase(&stalled, &disks, t0 + Duration::days(13)),
            Phase::InProgress
        );
        assert_eq!(
            copy_phase(&stalled, &disks, t0 + Duration::days(14)),
            Phase::Failed { terminated: true }
        );
    }

    fn local(name: &str, created: OffsetDateTime) -> RestorePoint {
        RestorePoint {
            id: format!("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/restorePointCollections/src/restorePoints/{name}").parse().unwrap(),
            time_created: created,
            consistency_mode: "CrashConsistent".into(),
            exclude_disks: Vec::new(),
            instant_access_minutes: None,
            meta: SourceMeta {
                vm_uuid: "u".into(),
                vm_size: "s".into(),
                os_type: "Linux".into(),
                location: "eastus".into(),
                security_type: None,
            },
            disks: Vec::new(),
            kind: RpKind::Local {
                settled_at: created,
            },
            deleting: None,
        }
    }

    #[test]
    fn backlog_counts_what_was_made_after_the_newest_started_copy() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let h = |n: i64| t0 + Duration::hours(n);
        let rps: Vec<_> = (0..4).map(|n| local(&format!("rp{n}"), h(n))).collect();
        assert_eq!(backlog(&rps, None), 4);
        assert_eq!(backlog(&[], None), 0);
        assert_eq!(backlog(&rps, Some(h(0))), 3);
        // Older ones skipped by a later copy are gone for good: not backlog.
        assert_eq!(backlog(&rps, Some(h(2))), 1);
        assert_eq!(backlog(&rps, Some(h(3))), 0);
        assert_eq!(backlog(&rps, Some(h(9))), 0);
    }

    #[test]
    fn chain_marks_follow_copies_starting_and_landing() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let mut st = State::new(1);
        let tgt = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/restorePointCollections/tgt";
        let mut cs = copy(Fate::Normal, t0);
        cs.source_collection_key = "src".into();
        let mut rp = local("rp1", t0 - Duration::hours(5));
        rp.id = format!("{tgt}/restorePoints/c1").parse().unwrap();
        rp.disks = vec![disk(40)];
        rp.kind = RpKind::Copy(cs);
        st.collections.insert(
            tgt.to_ascii_lowercase(),
            Collection {
                id: tgt.parse().unwrap(),
                location: "westus".into(),
                tags: BTreeMap::new(),
                source_id: "src".into(),
                source_location: "eastus".into(),
                uid: "x".into(),
                instant_access: None,
                kind: CollectionKind::Target {
                    source: "src".into(),
                },
                rps: Vec::new(),
                max_copied_source_created: None,
                base_source: None,
            },
        );
        st.settle(t0);
        st.copy_created("westus", &rp);
        st.collections
            .get_mut(&tgt.to_ascii_lowercase())
            .unwrap()
            .rps
            .push(rp);
        let started = ChainMarks {
            newest_started: Some(t0 - Duration::hours(5)),
            newest_succeeded: None,
        };
        assert_eq!(st.chain_marks("src", "westus"), started);
        assert_eq!(st.chain_marks("src", "centralus"), ChainMarks::default());
        st.settle(t0 + Duration::minutes(39));
        assert_eq!(st.chain_marks("src", "westus"), started);
        // Landed when the platform publishes it: at the 40-minute progress step.
        st.settle(t0 + Duration::minutes(40));
        assert_eq!(
            st.chain_marks("src", "westus").newest_succeeded,
            Some(t0 - Duration::hours(5))
        );
    }

    #[test]
    fn only_a_normal_copy_in_progress_within_the_limit_would_complete() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let disks = vec![disk(100)];
        let at = t0 + Duration::minutes(50);
        assert!(would_complete(&copy(Fate::Normal, t0), &disks, at));
        // Done already, planned to fail or to stall, or too slow for the limit: no.
        assert!(!would_complete(
            &copy(Fate::Normal, t0),
            &disks,
            t0 + Duration::minutes(100)
        ));
        assert!(!would_complete(
            &copy(Fate::FailAt(Duration::minutes(90)), t0),
            &disks,
            at
        ));
        assert!(!would_complete(&copy(Fate::NeverProgress, t0), &disks, at));
        let slow = vec![disk(15 * 24 * 60)];
        assert!(!would_complete(&copy(Fate::Normal, t0), &slow, at));
    }

    #[test]
    fn transfer_time_scales_with_bandwidth() {
        let a = transfer_time(100.0, 100.0);
        let b = transfer_time(100.0, 200.0);
        assert!(a > b);
        assert_eq!(transfer_time(0.0, 100.0), Duration::SECOND);
    }
}
