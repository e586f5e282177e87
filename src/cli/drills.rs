//! `ferry drills`: the restore drills the ledger records, the last one per chain and the
//! restore times (the `status/drills` view's JSON), as a table for a person.

use super::commands::{resolve_chain, run, Report};
use super::table::Table;
use super::{CliError, OutputArg};
use crate::functions::drill_status::summary;
use crate::functions::App;
use crate::ledger::drills::{all_drills, chain_drills};
use crate::ledger::records::{Chain, CHAIN_ROW};
use crate::ledger::{query_all, Query};
use serde_json::Value;
use std::collections::BTreeMap;

/// `ferry drills`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillsArgs {
    /// Only this chain: `<source collection name or id>:<target region>` or its key.
    #[arg(long)]
    pub chain: Option<String>,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputArg>,
}

/// Chain key → `<collection name>:<region>`, the name operators use.
async fn chain_names(app: &App) -> Result<BTreeMap<String, String>, CliError> {
    let rows = query_all(app.ledger.as_ref(), &Query::default().row_prefix(CHAIN_ROW))
        .await
        .map_err(|e| CliError::Failed(format!("reading the ledger (FERRY_LEDGER) failed: {e}")))?;
    Ok(rows
        .iter()
        .filter_map(|e| Chain::from_entity(e).ok())
        .map(|c| {
            let name = format!("{}:{}", c.source_collection.name, c.target_region);
            (c.key, name)
        })
        .collect())
}

/// `ferry drills [--chain]`.
pub async fn drills_report(app: &App, chain: Option<&str>) -> Result<Report, CliError> {
    let failed = |e| CliError::Failed(format!("reading the ledger (FERRY_LEDGER) failed: {e}"));
    let records = match chain {
        Some(arg) => {
            let key = resolve_chain(app, arg).await?;
            chain_drills(app.ledger.as_ref(), &key)
                .await
                .map_err(failed)?
        }
        None => all_drills(app.ledger.as_ref()).await.map_err(failed)?,
    };
    let json = summary(&records);
    let names = chain_names(app).await?;
    let mut t = Table::new(&[
        "Chain",
        "LastDrill",
        "Started",
        "Ended",
        "RestoreMin",
        "Disks",
        "Problems",
    ]);
    // Newest drill per chain: `summary` picked it; the rows follow its order (by key).
    for c in json["chains"].as_array().map_or(&[][..], Vec::as_slice) {
        let key = c["chain"].as_str().unwrap_or_default();
        let d = &c["lastDrill"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        t.row(vec![
            names.get(key).cloned().unwrap_or_else(|| key.to_string()),
            text(&d["state"]),
            text(&d["started"]),
            text(&d["ended"]),
            d["restoreSeconds"]
                .as_f64()
                .map(|s| format!("{:.1}", s / 60.0))
                .unwrap_or_default(),
            d["disks"].to_string(),
            d["problems"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
        ]);
    }
    let table = if t.is_empty() {
        "No restore drills in the ledger (policy `drill` turns them on).\n".to_string()
    } else {
        let minutes = |v: &Value| {
            v.as_f64()
                .map_or("-".to_string(), |s| format!("{:.1} min", s / 60.0))
        };
        format!(
            "{t}\n{} drills: {} succeeded, {} failed, {} running; restore time p50 {}, max {}\n",
            json["run"],
            json["succeeded"],
            json["failed"],
            json["running"],
            minutes(&json["restoreSecondsP50"]),
            minutes(&json["restoreSecondsMax"]),
        )
    };
    Ok(Report { json, table })
}

/// `ferry drills` from the command line.
pub async fn drills(args: DrillsArgs) -> std::process::ExitCode {
    let chain = args.chain.clone();
    run(args.output, async move |app: &App, _now| {
        drills_report(app, chain.as_deref()).await
    })
    .await
}
