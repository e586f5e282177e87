//! `ferry`: the restore-point-ferry binary. See `ferry --help`.

use clap::{Parser, Subcommand};
use ferry::config::{Config, LogFormat, Mode};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

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
    Demo(ferry::demo::DemoArgs),
    /// Run the ARM emulator as a standalone server.
    Emulate {
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: SocketAddr,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// none | default | heavy
        #[arg(long, default_value = "none")]
        faults: String,
    },
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

async fn serve(port: Option<u16>) -> ExitCode {
    let config = match Config::from_process_env(Mode::Serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferry serve: {e}");
            return ExitCode::from(2);
        }
    };
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { port } => serve(port).await,
        Command::Demo(args) => ferry::demo::run_cli(args).await,
        Command::Emulate {
            listen,
            time_scale,
            seed,
            faults,
        } => {
            init_tracing(LogFormat::Text);
            let faults = match ferry::emulator::FaultConfig::preset(&faults) {
                Some(f) => f,
                None => {
                    eprintln!("ferry emulate: --faults must be none, default or heavy");
                    return ExitCode::from(2);
                }
            };
            match ferry::emulator::run_standalone(listen, time_scale, seed, faults).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ferry emulate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
