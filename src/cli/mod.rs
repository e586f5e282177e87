//! The operator commands that read like `az`: `ferry status`, `ferry copies`, `ferry
//! alerts` (and `ferry plan`, [`plan`]), each with `--output table|json` (a table on a
//! terminal, JSON otherwise), chains named `<source collection name or id>:<region>`.
//!
//! The ledger commands need only `FERRY_LEDGER` and a credential (`FERRY_CREDENTIAL`,
//! e.g. `azure-cli` at a laptop): the ledger keeps what they show, including each chain's
//! RPO objective. `FERRY_POLICY`, when set, is used (and must be valid).
//!
//! `ferry drills` shows the restore drills the ledger records ([`drills`]).

pub mod chain_name;
mod commands;
pub mod drills;
pub mod plan;
pub mod table;

pub use commands::{alerts, copies, status, AlertsArgs, CopiesArgs, StatusArgs};
pub use drills::{drills, DrillsArgs};

use crate::config::{Config, Mode};
use crate::functions::App;
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// `--output`: as `az` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
}

/// How a command prints: a table for a person at a terminal, JSON for a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

impl Output {
    pub fn resolve(arg: Option<OutputArg>) -> Output {
        match arg {
            Some(OutputArg::Table) => Output::Table,
            Some(OutputArg::Json) => Output::Json,
            None if std::io::stdout().is_terminal() => Output::Table,
            None => Output::Json,
        }
    }
}

/// What went wrong, naming the argument or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad argument or setting (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The ledger or ARM did not answer as needed (exit status 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> std::process::ExitCode {
        match self {
            CliError::Usage(_) => std::process::ExitCode::from(2),
            CliError::Failed(_) => std::process::ExitCode::FAILURE,
        }
    }
}

impl From<crate::functions::FnError> for CliError {
    fn from(e: crate::functions::FnError) -> Self {
        CliError::Failed(format!("reading the ledger (FERRY_LEDGER) failed: {e}"))
    }
}

/// A policy that parses and covers nothing: stands in for `FERRY_POLICY` when a ledger
/// command runs without it (and is replaced by an empty policy before use).
const NO_POLICY: &str = r#"{"rules":[{"scope":"/subscriptions/00000000-0000-0000-0000-000000000000","targets":[{"region":"westus2","resourceGroup":"unused"}]}]}"#;

/// The app a ledger command reads through, from `env`: `FERRY_LEDGER` and the credential
/// are what matter; settings for other parts (Service Bus, the policy) are not required.
pub async fn ledger_app(env: &BTreeMap<String, String>) -> Result<App, CliError> {
    let mut env = env.clone();
    if env.get("FERRY_LEDGER").is_none_or(|v| v.trim().is_empty()) {
        return Err(CliError::Usage(
            "FERRY_LEDGER: missing: set it to the ledger's Table endpoint \
             (https://<account>.table.core.windows.net/<table>) or connection string; \
             FERRY_CREDENTIAL=azure-cli signs in as your Azure CLI user"
                .into(),
        ));
    }
    env.entry("FERRY_SERVICEBUS_ENDPOINT".into())
        .or_insert_with(|| "https://unused.servicebus.windows.net".into());
    let has_policy = env.contains_key("FERRY_POLICY");
    if !has_policy {
        env.insert("FERRY_POLICY".into(), NO_POLICY.into());
    }
    let config = Config::from_env(&env, Mode::Serve).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut app = crate::bootstrap::build(&config)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if !has_policy {
        app.policy = crate::policy::Policy { rules: Vec::new() };
    }
    Ok(app)
}

/// Prints `json` as JSON, or the table `table` makes of it. A closed pipe (`| head`) ends
/// the output quietly.
pub(crate) fn print(output: Output, json: &serde_json::Value, table: impl FnOnce() -> String) {
    use std::io::Write;
    let text = match output {
        Output::Json => serde_json::to_string_pretty(json).unwrap_or_default() + "\n",
        Output::Table => table(),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
