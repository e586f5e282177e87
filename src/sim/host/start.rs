//! Starting the host: the handler's whereabouts and the host's settings, then `Host::start`
//! (read the app's config, declare its Service Bus entities, serve the local namespace,
//! start or probe the handler, fire `runOnStartup` timers).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use url::Url;

use super::handler::PROBE_LIMIT;
use super::invoke::{self, HandlerProc, SpawnSpec};
use super::servicebus::{self, Broker};
use super::{config, Host, HostError, HostStats, OutputKind, TriggerKind};
use crate::clock::SharedClock;

/// Where the handler is.
#[derive(Debug, Clone)]
pub enum HandlerTarget {
    /// Already running (e.g. in-process); only probed.
    Url(Url),
    /// Spawned with `FUNCTIONS_CUSTOMHANDLER_PORT`; an empty `exe` means host.json's
    /// `defaultExecutablePath` + `arguments`.
    Process {
        exe: PathBuf,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

#[derive(Clone)]
pub struct HostConfig {
    /// Directory holding host.json and functions/.
    pub app_root: PathBuf,
    pub handler: HandlerTarget,
    /// App settings: `%NAME%` expressions, and env of a spawned handler.
    pub settings: BTreeMap<String, String>,
    pub clock: SharedClock,
    /// Queue setting: deliveries before dead-lettering (Azure default 10).
    pub max_delivery_count: u32,
    /// Queue setting: duplicate detection history (Azure default 10 minutes).
    pub duplicate_detection_window: time::Duration,
    /// Queue setting: peek-lock duration (Azure default 1 minute). The host renews the lock
    /// up to `maxAutoLockRenewalDuration`; an invocation running past both loses the lock
    /// and the message is delivered again even if the function succeeded.
    pub lock_duration: time::Duration,
    /// Event Grid: delivery attempts per batch before dead-lettering (Azure default 30).
    pub event_grid_max_attempts: u32,
    /// Deliver one message at a time (one session, one queue after another) instead of up to
    /// `maxConcurrentSessions` at once: the real host is concurrent, but a reproducible run
    /// (same seed → same outcome) needs a fixed order.
    pub sequential: bool,
}

impl HostConfig {
    /// Azure's defaults for everything but the app, handler and clock.
    pub fn new(app_root: impl Into<PathBuf>, handler: HandlerTarget, clock: SharedClock) -> Self {
        HostConfig {
            app_root: app_root.into(),
            handler,
            settings: BTreeMap::new(),
            clock,
            max_delivery_count: 10,
            duplicate_detection_window: time::Duration::minutes(10),
            lock_duration: time::Duration::minutes(1),
            event_grid_max_attempts: 30,
            sequential: false,
        }
    }
}

impl Host {
    pub async fn start(config: HostConfig) -> Result<Host, HostError> {
        let host_json = config::read_host_json(&config.app_root, &config.settings)?;
        let functions = config::read_functions(&config.app_root, &config.settings)?;
        let broker = Arc::new(Broker::new(
            config.clock.clone(),
            config.duplicate_detection_window,
        ));
        for f in &functions {
            if let TriggerKind::ServiceBus { queue, sessions } = &f.trigger.kind {
                match servicebus::split_subscription_path(queue) {
                    Some((topic, sub)) => broker.declare_subscription(topic, sub),
                    None => broker.declare(queue, false, *sessions),
                }
                .map_err(|m| HostError::Config(format!("function `{}`: {m}", f.name)))?;
            }
        }
        for f in &functions {
            for o in &f.outputs {
                if let OutputKind::ServiceBus { entity, is_topic } = &o.kind {
                    broker
                        .declare(entity, *is_topic, false)
                        .map_err(|m| HostError::Config(format!("function `{}`: {m}", f.name)))?;
                }
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let addr = servicebus::serve(broker.clone(), rx).await.map_err(|e| {
            HostError::Config(format!("cannot start the local Service Bus endpoint: {e}"))
        })?;
        let sb_endpoint =
            Url::parse(&format!("http://{addr}/")).map_err(|e| HostError::Config(e.to_string()))?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| HostError::Handler(format!("HTTP client: {e}")))?;
        let (spawn_spec, mut proc_) = match &config.handler {
            HandlerTarget::Url(u) => (
                None,
                HandlerProc {
                    base: u.clone(),
                    child: None,
                },
            ),
            HandlerTarget::Process { exe, args, env } => {
                let working_dir = match &host_json.working_directory {
                    Some(w) => config.app_root.join(w),
                    None => config.app_root.clone(),
                };
                let (exe, args) = if exe.as_os_str().is_empty() {
                    let e = host_json.executable.clone().ok_or_else(|| {
                        HostError::Config(
                            "host.json has no customHandler.description.defaultExecutablePath"
                                .into(),
                        )
                    })?;
                    (
                        invoke::resolve_exe(&e, &working_dir, &config.app_root),
                        host_json.arguments.clone(),
                    )
                } else {
                    (exe.clone(), args.clone())
                };
                let mut env_all = config.settings.clone();
                env_all.extend(env.clone());
                // The handler must send copy requests to this namespace.
                env_all
                    .entry("FERRY_SERVICEBUS_ENDPOINT".into())
                    .or_insert_with(|| sb_endpoint.to_string());
                let spec = SpawnSpec {
                    exe,
                    args,
                    env: env_all,
                    working_dir,
                    app_root: config.app_root.clone(),
                };
                let p = invoke::spawn(&spec)?;
                (Some(spec), p)
            }
        };
        if let Err(e) = invoke::probe(&client, &mut proc_, PROBE_LIMIT).await {
            invoke::kill(&mut proc_).await;
            let _ = tx.send(());
            return Err(e);
        }
        let base = proc_.base.clone();
        let host = Host {
            config,
            host_json,
            functions,
            broker,
            sb_endpoint,
            client,
            handler: tokio::sync::Mutex::new(proc_),
            handler_base: Mutex::new(base),
            spawn_spec,
            outputs: Mutex::new(BTreeMap::new()),
            logs: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            stats: Mutex::new(HostStats::default()),
            timers: Mutex::new(HashMap::new()),
            eg_pending: Mutex::new(Vec::new()),
            shutdown: Mutex::new(Some(tx)),
        };
        let startup: Vec<String> = host
            .functions
            .iter()
            .filter(|f| {
                matches!(
                    f.trigger.kind,
                    TriggerKind::Timer {
                        run_on_startup: true,
                        ..
                    }
                )
            })
            .map(|f| f.name.clone())
            .collect();
        for name in startup {
            host.fire_timer(&name).await?;
        }
        Ok(host)
    }

    /// Creates a topic no binding names (in Azure the infrastructure creates it): ferry sends
    /// its alerts to its topic itself, over the REST API.
    pub fn declare_topic(&self, name: &str) -> Result<(), HostError> {
        self.broker
            .declare(name, true, false)
            .map_err(|m| HostError::Config(format!("topic `{name}`: {m}")))
    }
}
