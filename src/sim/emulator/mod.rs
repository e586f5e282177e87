//! The ARM emulator: an in-process and standalone HTTP server that behaves like Azure
//! Resource Manager for the restore point surface (VMs, restore point collections, restore
//! points, disk restore points, async operations) and enforces the platform's cross-region
//! copy rules, limits and timings. See `docs/emulator.md`.
//!
//! - [`state`]: the in-memory world and the lazy, clock-driven copy simulation.
//! - [`rules`]: the copy rules, each refused with the ARM status/code and counted.
//! - [`limits`]: token buckets and the copies-per-hour window.
//! - [`faults`]: seeded HTTP-level fault injection.
//! - [`ids`]: ARM resource ids, parsed with the emulator's own code (not the product's).
//! - [`model`]: JSON bodies after the official examples and swagger.
//! - [`routes`]: paths, verbs, api-versions, auth, headers.

mod counts;
mod disks;
pub mod faults;
pub mod ids;
pub mod limits;
mod locks;
mod model;
mod routes;
pub mod rules;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::clock::{ScaledClock, SharedClock, SystemClock};
use ids::RestorePointId;

pub use faults::FaultConfig;
pub use limits::LimitConfig;
pub use routes::{COMPUTE_API_VERSIONS, DISK_API_VERSIONS};

/// How an emulator instance behaves.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub clock: SharedClock,
    /// Seed of every random choice (ids, faults, copy outcomes): same seed, same run.
    pub seed: u64,
    pub faults: FaultConfig,
    pub limits: LimitConfig,
    /// Inter-region copy bandwidth per disk, in megabits per second.
    pub bandwidth_mbps: f64,
    /// How long a new local restore point stays `Creating`.
    pub restore_point_settle: time::Duration,
}

impl EmulatorConfig {
    /// Defaults on the given clock.
    pub fn new(clock: SharedClock) -> Self {
        EmulatorConfig {
            clock,
            seed: 0,
            faults: FaultConfig::default(),
            limits: LimitConfig::default(),
            bandwidth_mbps: 200.0,
            restore_point_settle: time::Duration::minutes(5),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig::new(Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("now", &self.clock.now())
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .field("bandwidth_mbps", &self.bandwidth_mbps)
            .field("restore_point_settle", &self.restore_point_settle)
            .finish()
    }
}

/// Deterministic override of the fate of copies of one source restore point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CopyOutcome {
    Normal,
    Fail,
    NeverProgress,
}

/// Counters of what happened, for assertions and the demo's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatorStats {
    /// ARM requests received (control endpoints excluded).
    pub requests: u64,
    /// Requests refused because the client broke a platform rule.
    pub rule_violations: u64,
    pub violations_by_rule: BTreeMap<String, u64>,
    /// 429s from the subscription token buckets (not violations).
    pub throttled: u64,
    pub copies_started: u64,
    pub copies_succeeded: u64,
    pub copies_failed: u64,
    pub copies_terminated: u64,
    /// Attempts to copy one source restore point twice into one region (refused).
    pub duplicate_copies: u64,
    /// Requests hit by an injected fault.
    pub injected_faults: u64,
    /// DELETEs of a copy still in progress that would have completed (neither planned to
    /// fail nor to stall, and within the platform's time limit): a restart that was not
    /// needed (must be 0).
    pub needless_restarts: u64,
    /// Managed disks restored from a disk restore point (restore drills).
    #[serde(default)]
    pub disks_restored: u64,
    /// Disks whose DELETE was accepted.
    #[serde(default)]
    pub disks_deleted: u64,
    /// Disks restored from a copied disk restore point whose replication had not finished
    /// (Azure allows it; ferry must never do it: must be 0).
    #[serde(default)]
    pub unsafe_restores: u64,
    /// Requests refused for a count or frequency limit (restore points per VM, copies per
    /// target collection, collections per region, minimum interval): see `counts`.
    #[serde(default)]
    pub limit_refusals: u64,
    #[serde(default)]
    pub limit_refusals_by_limit: BTreeMap<String, u64>,
    /// The most restore points any cross-region target collection held.
    #[serde(default)]
    pub target_restore_points_max: u64,
    /// Source (local) restore points deleted by ferry (User-Agent `restore-point-ferry/…`).
    #[serde(default)]
    pub source_deleted_by_ferry: u64,
    /// Of those, the collection's base (oldest remaining) restore point (must be 0).
    #[serde(default)]
    pub base_deleted_by_ferry: u64,
}

/// The emulator's own view of one copy (for tests and the demo report).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyDetails {
    pub source: RestorePointId,
    /// When the copy started (the target shows the source's creation time instead).
    pub started: time::OffsetDateTime,
    /// Full copy (first of the chain, or the chain's base was deleted) or incremental.
    pub full: bool,
    /// Data transferred per disk, GB.
    pub data_gb: Vec<f64>,
    /// Transfer time of the slowest disk.
    pub duration: time::Duration,
}

/// One chain the demo measures: a source restore point collection and a target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRef {
    source_key: String,
    region: String,
}

impl ChainRef {
    /// `source_collection`: any restore point collection id's text. None if it is not one.
    pub fn new(source_collection: &impl std::fmt::Display, region: &str) -> Option<Self> {
        let id: ids::CollectionId = source_collection.to_string().parse().ok()?;
        Some(ChainRef {
            source_key: id.key(),
            region: region.to_string(),
        })
    }
}

/// The emulator's ground truth about one chain at one moment, from its own world (not from
/// what ferry records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainTruth {
    /// Creation time of the newest source restore point whose copy in the region has
    /// succeeded, as the platform publishes it.
    pub newest_copied: Option<time::OffsetDateTime>,
    /// Creation time of the source collection's oldest restore point.
    pub oldest: Option<time::OffsetDateTime>,
    /// Source restore points created after the newest one whose copy in the region started
    /// (whatever became of that copy).
    pub backlog: usize,
}

impl ChainTruth {
    /// The chain's recovery point objective as it stands at `now`: the age of its newest
    /// restore point safely in the region; before any copy succeeded, the age of its oldest
    /// restore point. None while the source has no restore point at all.
    pub fn rpo(&self, now: time::OffsetDateTime) -> Option<time::Duration> {
        self.newest_copied.or(self.oldest).map(|t| now - t)
    }
}

pub(crate) struct Inner {
    pub cfg: EmulatorConfig,
    pub state: Mutex<state::State>,
}

/// The emulator. Cheap to clone; clones share one world.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) inner: Arc<Inner>,
}

impl Emulator {
    pub fn new(mut config: EmulatorConfig) -> Self {
        config.faults = config.faults.sanitized();
        let st = state::State::new(config.seed);
        Emulator {
            inner: Arc::new(Inner {
                cfg: config,
                state: Mutex::new(st),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, state::State> {
        // A panic while holding the lock must not take the whole emulator down.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.inner.cfg.clock.now()
    }

    /// Binds `addr` (port 0 for an ephemeral port) and serves the emulator on it.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        routes::serve(self.clone(), addr).await
    }

    /// The warp filter answering every request (for embedding in another warp server;
    /// injected connection drops need [`Emulator::serve`], elsewhere they become 503s).
    pub fn routes(
        &self,
    ) -> impl warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
           + Clone
           + Send
           + Sync
           + 'static {
        routes::filter(self.clone())
    }

    /// Event Grid events produced since the previous drain, in order.
    pub fn drain_events(&self) -> Vec<serde_json::Value> {
        let now = self.now();
        let mut st = self.lock();
        // A delete's event fires when it completes.
        st.finish_deletes(now);
        let from = st.drained;
        let out: Vec<_> = st
            .events
            .iter()
            .filter(|(s, _)| *s > from)
            .map(|(_, e)| e.clone())
            .collect();
        st.drained = st.next_seq - 1;
        out
    }

    /// Events with a sequence number above `after` and the sequence to ask from next.
    pub fn events_after(&self, after: u64) -> (Vec<serde_json::Value>, u64) {
        let now = self.now();
        let mut st = self.lock();
        st.finish_deletes(now);
        let evs: Vec<_> = st
            .events
            .iter()
            .filter(|(s, _)| *s > after)
            .map(|(_, e)| e.clone())
            .collect();
        let next = st.next_seq.saturating_sub(1).max(after);
        (evs, next)
    }

    /// Managed disks that exist now (those being deleted included): a restore drill's
    /// leftovers, which must be 0 once drills are done.
    pub fn disks_present(&self) -> usize {
        let now = self.now();
        let mut st = self.lock();
        st.settle(now);
        st.disks.present(now)
    }

    /// The value of tag `key` on each managed disk present now (`None`: untagged).
    pub fn disk_tags(&self, key: &str) -> Vec<Option<String>> {
        let now = self.now();
        let mut st = self.lock();
        st.settle(now);
        st.disks.present_tags(now, key)
    }

    /// Management locks present now (on restore points).
    pub fn locks_present(&self) -> usize {
        self.lock().locks.count()
    }

    pub fn stats(&self) -> EmulatorStats {
        let now = self.now();
        let mut st = self.lock();
        st.settle(now);
        st.stats.clone()
    }

    /// Forces the fate of every later copy of `source_rp`.
    /// (`source_rp`: any restore point id's text, e.g. ferry's own id type.)
    pub fn plan_copy_outcome(&self, source_rp: &impl std::fmt::Display, outcome: CopyOutcome) {
        if let Ok(rp) = source_rp.to_string().parse::<RestorePointId>() {
            self.lock().planned.insert(rp.key(), outcome);
        }
    }

    /// What the emulator decided about the copy `target` (None if it is not a copy).
    pub fn copy_details(&self, target: &impl std::fmt::Display) -> Option<CopyDetails> {
        let target: RestorePointId = target.to_string().parse().ok()?;
        let st = self.lock();
        let rp = st.find_rp(&target.key())?;
        let state::RpKind::Copy(cs) = &rp.kind else {
            return None;
        };
        let disks: Vec<_> = rp.disks.iter().filter_map(|d| d.copy.as_ref()).collect();
        Some(CopyDetails {
            source: cs.source_id.clone(),
            started: cs.started,
            full: cs.full,
            data_gb: disks.iter().map(|c| c.data_gb).collect(),
            duration: disks
                .iter()
                .map(|c| c.duration)
                .max()
                .unwrap_or(time::Duration::ZERO),
        })
    }

    /// Ground truth for each of `chains`, in that order, at the emulator's now. Cheap: it
    /// reads marks kept as copies start and succeed, and one binary search per chain.
    pub fn rpo_snapshot(&self, chains: &[ChainRef]) -> Vec<ChainTruth> {
        let now = self.now();
        let mut st = self.lock();
        st.settle(now);
        chains
            .iter()
            .map(|c| {
                let marks = st.chain_marks(&c.source_key, &c.region);
                let rps = st
                    .collections
                    .get(&c.source_key)
                    .map(|coll| coll.rps.as_slice())
                    .unwrap_or_default();
                ChainTruth {
                    newest_copied: marks.newest_succeeded,
                    oldest: rps.first().map(|r| r.time_created),
                    backlog: state::backlog(rps, marks.newest_started),
                }
            })
            .collect()
    }

    /// Applies time-based transitions now (reads also do it lazily).
    pub fn advance(&self) {
        let now = self.now();
        self.lock().settle(now);
    }
}

/// Errors of the standalone emulator.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--time-scale must be a positive number, got {0}")]
    TimeScale(f64),
    #[error("emulator server stopped: {0}")]
    Stopped(String),
}

/// Starts the standalone emulator: simulated time runs `time_scale` times faster than real
/// time from now. Returns the emulator, the bound address and the server task.
pub async fn start_standalone(
    listen: SocketAddr,
    time_scale: f64,
    seed: u64,
    faults: FaultConfig,
) -> Result<(Emulator, SocketAddr, tokio::task::JoinHandle<()>), StandaloneError> {
    if !(time_scale.is_finite() && time_scale > 0.0) {
        return Err(StandaloneError::TimeScale(time_scale));
    }
    let clock = Arc::new(ScaledClock::new(
        time::OffsetDateTime::now_utc(),
        time_scale,
    ));
    let mut cfg = EmulatorConfig::new(clock);
    cfg.seed = seed;
    cfg.faults = faults;
    let emu = Emulator::new(cfg);
    let (addr, handle) = emu
        .serve(listen)
        .await
        .map_err(|source| StandaloneError::Bind {
            addr: listen,
            source,
        })?;
    Ok((emu, addr, handle))
}

/// `ferry emulate`: serves the emulator on `listen`, prints the bound address, runs until
/// Ctrl-C.
pub async fn run_standalone(
    listen: SocketAddr,
    time_scale: f64,
    seed: u64,
    faults: FaultConfig,
) -> Result<(), StandaloneError> {
    let (_emu, addr, handle) = start_standalone(listen, time_scale, seed, faults).await?;
    println!(
        "ferry ARM emulator listening on http://{addr} (time scale {time_scale}x, seed {seed})"
    );
    tokio::select! {
        r = handle => r.map_err(|e| StandaloneError::Stopped(e.to_string())),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Options of `ferry emulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulateArgs {
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// none | default | heavy
    #[arg(long, default_value = "none")]
    pub faults: String,
}

/// `ferry emulate` from the command line.
pub async fn run_cli(args: EmulateArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let Some(faults) = FaultConfig::preset(&args.faults) else {
        eprintln!("ferry emulate: --faults must be none, default or heavy");
        return ExitCode::from(2);
    };
    match run_standalone(args.listen, args.time_scale, args.seed, faults).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry emulate: {e}");
            ExitCode::FAILURE
        }
    }
}
