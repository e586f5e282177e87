//! `ferry`: the restore-point-ferry binary. See `ferry --help`.

use clap::{Parser, Subcommand};
use ferry::config::{Config, LogFormat, Mode};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

// mimalloc instead of the C library's allocator: a poll sweep spent ~27 % of its CPU in
// glibc's malloc/free (perf, docs/performance.md), and the static musl build Azure runs has
// a slower allocator still.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Copies Azure VM restore points to other regions, in order, and tells the truth about every copy."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run as the Azure Functions custom handler (what host.json starts).
    Serve {
        /// Port to listen on (default: $FUNCTIONS_CUSTOMHANDLER_PORT, then 8080).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run the whole pipeline on the built-in ARM emulator and Functions host stand-in.
    #[cfg(feature = "sim")]
    Demo(ferry::sim::demo::DemoArgs),
    /// Chains with their RPO against the objective and the copy in flight (the status
    /// function's JSON, or a table). Needs only FERRY_LEDGER and a credential.
    Status(ferry::cli::StatusArgs),
    /// One chain's copies, oldest first. Needs only FERRY_LEDGER and a credential.
    Copies(ferry::cli::CopiesArgs),
    /// The alerts the ledger records, newest first. Needs only FERRY_LEDGER and a credential.
    Alerts(ferry::cli::AlertsArgs),
    /// The restore drills the ledger records: the last per chain and restore times. Needs
    /// only FERRY_LEDGER and a credential.
    Drills(ferry::cli::DrillsArgs),
    /// Whether a copied restore point can be restored from now (every disk at 100 % and
    /// succeeded), with its lineage.
    Readiness {
        /// Target restore point id.
        restore_point: String,
    },
    /// What the pipeline would do with the estate as it is (read through ARM): for each
    /// collection in scope the rule and chains, target collections to create, missing key
    /// mappings, rejections, and what onboarding copies first. Needs FERRY_POLICY.
    Plan(ferry::cli::plan::PlanArgs),
    /// What ferry's identity must be allowed to do: every Service Bus entity it sends to or
    /// is triggered by, its ledger table, and the ARM actions on the source and target
    /// sides, each with the reason. Needs no settings and no network.
    Permissions {
        /// text | json
        #[arg(long, default_value = "text")]
        output: String,
    },
    /// Every metric and dimension name ferry sends to Application Insights, as JSON (what
    /// the Workbook and the alert rules may use). Needs no settings and no network.
    Metrics,
    /// Run the restore drills due now (as the `drill` timer does) and wait for them: the
    /// chains' newest ready copies restored to disks in the drill resource group, checked,
    /// timed and deleted. Needs the same settings as `serve`.
    Drill {
        /// Only these chains (keys, as `ferry status` shows them); repeatable.
        #[arg(long)]
        chain: Vec<String>,
    },
    /// Run the ARM emulator as a standalone server.
    #[cfg(feature = "sim")]
    Emulate(ferry::sim::emulator::EmulateArgs),
    /// The simulator's commands, refused: the deployable build has no simulator.
    #[cfg(not(feature = "sim"))]
    #[command(name = "demo", hide = true)]
    NoDemo(NoSimulator),
    #[cfg(not(feature = "sim"))]
    #[command(name = "emulate", hide = true)]
    NoEmulate(NoSimulator),
}

/// Whatever `demo` or `emulate` were given, in a build without them.
#[cfg(not(feature = "sim"))]
#[derive(clap::Args)]
struct NoSimulator {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

#[cfg(not(feature = "sim"))]
fn no_simulator(command: &str) -> ExitCode {
    eprintln!(
        "ferry {command}: this build has no simulator; build with the default features \
         (cargo run --release -- {command})"
    );
    ExitCode::from(2)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve(config: Config, port: Option<u16>) -> ExitCode {
    init_tracing(config.log_format);
    let port = port
        .or_else(|| {
            std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .or_else(|| {
            std::env::var("FUNCTIONS_HTTPWORKER_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(8080);
    let app = match ferry::bootstrap::build(&config).await {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ferry serve: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    match ferry::server::serve(app, addr, shutdown_signal()).await {
        Ok((local, handle)) => {
            tracing::info!(%local, "ferry custom handler listening");
            let _ = handle.await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferry serve: cannot listen on {addr}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Operator commands read the same settings as `serve` (the Service Bus endpoint is not
/// used but must be valid).
async fn operator(view: &str, query: std::collections::BTreeMap<String, String>) -> ExitCode {
    let mut env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    env.entry("FERRY_SERVICEBUS_ENDPOINT".into())
        .or_insert_with(|| "https://unused.servicebus.windows.net".into());
    let config = match Config::from_env(&env, Mode::Serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(LogFormat::Text);
    let app = match ferry::bootstrap::build(&config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let (status, mut body) = ferry::functions::status::status(&app, view, &query, now).await;
    // `ferry status` shows every chain: follow the pages.
    let mut status = status;
    while status == 200 && view == "chains" {
        let Some(after) = body["next"].as_str().map(str::to_string) else {
            break;
        };
        let q = [("after".to_string(), after)].into();
        let (s, more) = ferry::functions::status::status(&app, view, &q, now).await;
        status = s;
        if let (Some(all), Some(page)) = (body["chains"].as_array_mut(), more["chains"].as_array())
        {
            all.extend(page.iter().cloned());
        }
        body["next"] = more["next"].clone();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
    if status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `ferry drill`: the drill function run by hand, its result as JSON.
async fn drill(chains: Vec<String>) -> ExitCode {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let config = match Config::from_env(&env, Mode::Serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferry drill: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(LogFormat::Text);
    let app = match ferry::bootstrap::build(&config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ferry drill: {e}");
            return ExitCode::from(2);
        }
    };
    let only: std::collections::BTreeSet<String> = chains.into_iter().collect();
    let settings = ferry::functions::drill::DrillSettings::default();
    let run = ferry::functions::drill::drill(
        &app,
        &ferry::clock::SystemClock,
        &settings,
        (!only.is_empty()).then_some(&only),
    )
    .await;
    match run {
        Ok(r) => {
            let drills = |v: &[ferry::ledger::drills::DrillRecord]| {
                v.iter()
                    .map(|d| {
                        serde_json::json!({"drill": d.id, "chain": d.chain, "copy": d.copy.to_string(),
                            "restoreSeconds": d.restore_seconds, "problems": d.problems})
                    })
                    .collect::<Vec<_>>()
            };
            let out = serde_json::json!({
                "started": r.started,
                "succeeded": drills(&r.succeeded),
                "failed": drills(&r.failed),
                "stillRunning": r.still_running,
                "leftoverDisksDeleted": r.leftovers_deleted,
                "skipped": r.skipped,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            if r.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ferry drill: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    // serve reads its settings before the runtime exists: the runtime's size is one of them.
    let serve_args = match cli.command {
        Command::Serve { port } => match Config::from_process_env(Mode::Serve) {
            Ok(config) => {
                runtime.worker_threads(config.worker_threads);
                Some((config, port))
            }
            Err(e) => {
                eprintln!("ferry serve: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let runtime = match runtime.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve_args {
        Some((config, port)) => runtime.block_on(serve(config, port)),
        None => runtime.block_on(run(cli.command)),
    }
}

/// Every command but serve, on the default runtime.
async fn run(command: Command) -> ExitCode {
    match command {
        Command::Serve { .. } => ExitCode::from(2), // handled by main
        #[cfg(feature = "sim")]
        Command::Demo(args) => ferry::sim::demo::run_cli(args).await,
        Command::Status(args) => ferry::cli::status(args).await,
        Command::Copies(args) => ferry::cli::copies(args).await,
        Command::Alerts(args) => ferry::cli::alerts(args).await,
        Command::Drills(args) => ferry::cli::drills(args).await,
        Command::Readiness { restore_point } => {
            operator(
                "readiness",
                [("restorePoint".to_string(), restore_point)].into(),
            )
            .await
        }
        Command::Metrics => {
            println!(
                "{}",
                serde_json::to_string_pretty(&ferry::telemetry::names::catalogue_json())
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Plan(args) => ferry::cli::plan::run(args).await,
        Command::Drill { chain } => drill(chain).await,
        Command::Permissions { output } => match output.as_str() {
            "json" => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&ferry::permissions::report()).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            "text" => {
                print!("{}", ferry::permissions::report_text());
                ExitCode::SUCCESS
            }
            other => {
                eprintln!("ferry permissions: --output must be text or json, not {other:?}");
                ExitCode::from(2)
            }
        },
        #[cfg(feature = "sim")]
        Command::Emulate(args) => {
            init_tracing(LogFormat::Text);
            ferry::sim::emulator::run_cli(args).await
        }
        #[cfg(not(feature = "sim"))]
        Command::NoDemo(_) => no_simulator("demo"),
        #[cfg(not(feature = "sim"))]
        Command::NoEmulate(_) => no_simulator("emulate"),
    }
}
