//! The options of `ferry demo`: the scenario's size, its trouble, its policy and where the
//! handler runs.

use std::path::PathBuf;

/// Options of `ferry demo`.
#[derive(Clone, clap::Args)]
pub struct DemoArgs {
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
    /// Source VMs (the first six play special roles: CMK, confidential, failing copy,
    /// never-progressing copy, deleted base).
    #[arg(long, default_value_t = 8)]
    pub vms: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 20)]
    pub days: u32,
    /// Platform trouble: none | default | heavy.
    #[arg(long, default_value = "default")]
    pub faults: String,
    /// Seed of every random choice: same seed, same outcome.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the handler runs: `in-process` (reproducible; crashes are injected at the
    /// riskiest points) or `process` (`ferry serve` as a child of the host stand-in, killed
    /// with SIGKILL at random moments under --faults; needs FERRY_LEDGER on Table Storage).
    #[arg(long, value_enum, default_value_t = HandlerMode::InProcess)]
    pub handler: HandlerMode,
    /// The ledger setting (`FERRY_LEDGER` when unset). For tests, which cannot set the
    /// environment of a process whose other tests are running.
    #[arg(skip)]
    pub ledger: Option<String>,
    /// The `ferry` binary that `--handler process` starts (this executable when unset).
    #[arg(skip)]
    pub handler_exe: Option<PathBuf>,
    /// Show a progress bar (default: when stderr is a terminal and not --json).
    #[arg(long)]
    pub no_progress: bool,
    /// The policy's `catchUp` for the demo's chains: all | latest | auto (unset: the
    /// policy's default).
    #[arg(long)]
    pub catch_up: Option<String>,
    /// How often every VM makes a restore point (ISO 8601 duration, at least PT10M).
    #[arg(long, default_value = "P1D")]
    pub rp_interval: String,
    /// Inter-region copy bandwidth per disk in the emulator, megabits per second.
    #[arg(long, default_value_t = 200.0)]
    pub bandwidth_mbps: f64,
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` for the demo's metrics (the environment's
    /// when unset). For tests, like `ledger`.
    #[arg(skip)]
    pub app_insights: Option<String>,
    /// After the run, serve the dashboard at http://ADDR/ (e.g. 127.0.0.1:8080) until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub dashboard: Option<std::net::SocketAddr>,
    /// With --dashboard: first plant a chain whose texts carry HTML and script (the browser
    /// test checks they are shown as text).
    #[arg(long, hide = true)]
    pub plant_hostile_chain: bool,
    /// Every target's `retention` in the policy: a JSON policy such as
    /// '{"maxAge":"P30D","maxCount":200}', or `none` (no retention, not even the default
    /// cap). Unset: ferry's default cap.
    #[arg(long)]
    pub retention: Option<String>,
    /// The policy's source rule prunes copied source restore points
    /// (`pruneSource: {"keepLatest": 3}`).
    #[arg(long)]
    pub prune_source: bool,
    /// The policy's source rule locks each chain's base restore point (`protectBase: true`):
    /// the scenario's deletion of a base is then refused (409 ScopeLocked).
    #[arg(long)]
    pub protect_base: bool,
    /// No restore drills (the policy has no `drill`): a baseline to measure what drills cost
    /// the copies, side by side with the same seed.
    #[arg(long)]
    pub no_drills: bool,
}

/// The ledger setting can be a connection string with an account key: shown redacted.
impl std::fmt::Debug for DemoArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoArgs")
            .field("json", &self.json)
            .field("vms", &self.vms)
            .field("days", &self.days)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("handler", &self.handler)
            .field(
                "ledger",
                &self.ledger.as_deref().map(crate::config::redacted_ledger),
            )
            .field("handler_exe", &self.handler_exe)
            .field("no_progress", &self.no_progress)
            .field("catch_up", &self.catch_up)
            .field("rp_interval", &self.rp_interval)
            .field("bandwidth_mbps", &self.bandwidth_mbps)
            .field("app_insights", &self.app_insights.is_some())
            .field("dashboard", &self.dashboard)
            .field("plant_hostile_chain", &self.plant_hostile_chain)
            .field("retention", &self.retention)
            .field("prune_source", &self.prune_source)
            .field("protect_base", &self.protect_base)
            .field("no_drills", &self.no_drills)
            .finish()
    }
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            json: false,
            vms: 8,
            days: 20,
            faults: "default".into(),
            seed: 7,
            handler: HandlerMode::InProcess,
            ledger: None,
            handler_exe: None,
            no_progress: true,
            catch_up: None,
            rp_interval: "P1D".into(),
            bandwidth_mbps: 200.0,
            app_insights: None,
            dashboard: None,
            plant_hostile_chain: false,
            retention: None,
            prune_source: false,
            protect_base: false,
            no_drills: false,
        }
    }
}

/// Where `ferry demo` runs the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HandlerMode {
    InProcess,
    Process,
}
