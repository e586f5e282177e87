//! `ferry status`, `ferry copies`, `ferry alerts`: the status function's views (the same
//! JSON), and tables of them for a person.

use super::chain_name::{self, ChainRef};
use super::table::Table;
use super::{print, CliError, Output, OutputArg};
use crate::functions::status::status as view;
use crate::functions::{overview, App};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// `ferry status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// One chain, with every copy: `<source collection name or id>:<target region>`
    /// (e.g. rpc-app01:westus2) or its key; default: every chain.
    #[arg(long)]
    pub chain: Option<String>,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputArg>,
}

/// `ferry copies`.
#[derive(Debug, Clone, clap::Args)]
pub struct CopiesArgs {
    /// The chain: `<source collection name or id>:<target region>` or its key.
    #[arg(long)]
    pub chain: String,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputArg>,
}

/// `ferry alerts`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertsArgs {
    /// How far back, as an ISO 8601 duration (PT6H, P1D, P7D).
    #[arg(long, default_value = "P1D")]
    pub since: String,
    /// Only this chain's alerts: `<source collection name or id>:<target region>` or its key.
    #[arg(long)]
    pub chain: Option<String>,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputArg>,
}

/// What a command shows: its JSON and the table made of it.
#[derive(Debug)]
pub struct Report {
    pub json: Value,
    pub table: String,
}

/// The chain key `arg` names (a lookup over the chain rows only for a name).
pub async fn resolve_chain(app: &App, arg: &str) -> Result<String, CliError> {
    match chain_name::parse(arg).map_err(CliError::Usage)? {
        ChainRef::Key(k) => Ok(k),
        ChainRef::Named { collection, region } => {
            let chains = overview::all_chains(app).await?;
            chain_name::pick(&chains, &collection, &region)
                .map(|c| c.key.clone())
                .map_err(CliError::Usage)
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn hours(v: &Value) -> String {
    v.as_f64().map(|h| format!("{h:.1} h")).unwrap_or_default()
}

fn last_segment(v: &Value) -> String {
    s(v).rsplit('/').next().unwrap_or_default().to_string()
}

/// `<collection name>:<region>`: what `--chain` accepts back.
fn chain_label(c: &Value) -> String {
    format!(
        "{}:{}",
        last_segment(&c["sourceCollection"]),
        s(&c["targetRegion"])
    )
}

fn in_flight(c: &Value) -> String {
    let f = &c["inFlight"];
    if f.is_null() {
        return String::new();
    }
    let pct = f["lastPercent"]
        .as_f64()
        .map(|p| format!("{p:.0} %"))
        .unwrap_or_else(|| "no reading".into());
    let read = match s(&f["lastReadingAt"]) {
        r if r.is_empty() => String::new(),
        r => format!(" at {r}"),
    };
    format!("{} {pct}{read}", last_segment(&f["sourceRestorePoint"]))
}

fn answer(status: u16, body: Value, what: &str) -> Result<Value, CliError> {
    match status {
        200 => Ok(body),
        404 | 400 => Err(CliError::Usage(format!(
            "{what}: {}",
            s(&body["error"]["message"])
        ))),
        _ => Err(CliError::Failed(format!(
            "{what}: {}",
            s(&body["error"]["message"])
        ))),
    }
}

/// Every chain, page by page, as `status/chains` gives them.
async fn every_chain(app: &App, now: OffsetDateTime) -> Result<Value, CliError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q: BTreeMap<String, String> = [("top".to_string(), "1000".to_string())].into();
        if let Some(a) = &after {
            q.insert("after".into(), a.clone());
        }
        let (code, body) = view(app, "chains", &q, now).await;
        let mut body = answer(code, body, "reading the chains")?;
        if let Some(page) = body["chains"].as_array_mut() {
            all.append(page);
        }
        match body["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    Ok(json!({"chains": all, "at": crate::functions::overview::rfc3339(now)}))
}

fn chains_table(chains: &[Value]) -> String {
    let mut rows: Vec<&Value> = chains.iter().collect();
    // Behind first, worst first: what needs a person is at the top.
    rows.sort_by(|a, b| {
        let key = |c: &Value| {
            (
                c["rpo"]["breached"].as_bool() != Some(true),
                -(c["rpo"]["currentHours"].as_f64().unwrap_or(f64::MAX) * 100.0) as i64,
                chain_label(c),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut t = Table::new(&[
        "Chain",
        "Rpo",
        "Objective",
        "Behind",
        "InFlight",
        "LastCopyCompleted",
        "Succeeded",
        "Failed",
        "Restarted",
    ]);
    for c in rows {
        let rpo = match hours(&c["rpo"]["currentHours"]) {
            h if h.is_empty() && !c["rpo"].is_null() => "no copy yet".to_string(),
            h => h,
        };
        t.row(vec![
            chain_label(c),
            rpo,
            hours(&c["rpo"]["objectiveHours"]),
            match c["rpo"]["breached"].as_bool() {
                Some(true) => "BEHIND".into(),
                Some(false) => "no".into(),
                None => "?".into(),
            },
            in_flight(c),
            s(&c["lastSuccess"]["completedAt"]),
            s(&c["copies"]["Succeeded"]),
            s(&c["copies"]["Failed"]),
            s(&c["restartedCopies"]),
        ]);
    }
    if t.is_empty() {
        "No chains in the ledger yet.\n".into()
    } else {
        t.to_string()
    }
}

fn copies_table(copies: &[Value]) -> String {
    let mut t = Table::new(&[
        "RestorePoint",
        "State",
        "Requested",
        "Started",
        "Ended",
        "LastPercent",
        "Attempts",
        "Reason",
    ]);
    for c in copies {
        t.row(vec![
            last_segment(&c["sourceRestorePoint"]),
            s(&c["state"]),
            s(&c["requestedAt"]),
            s(&c["startedAt"]),
            s(&c["endedAt"]),
            s(&c["lastPercent"]),
            (c["earlierAttempts"].as_array().map_or(0, Vec::len) + 1).to_string(),
            s(&c["reason"]),
        ]);
    }
    if t.is_empty() {
        "No copies yet.\n".into()
    } else {
        t.to_string()
    }
}

fn chain_detail(c: &Value) -> String {
    let mut t = Table::new(&["Property", "Value"]);
    let rpo = format!(
        "{} (objective {}){}",
        hours(&c["rpo"]["currentHours"]),
        hours(&c["rpo"]["objectiveHours"]),
        if c["rpo"]["breached"] == true {
            ", BEHIND"
        } else {
            ""
        }
    );
    for (k, v) in [
        ("Chain", chain_label(c)),
        ("Key", s(&c["key"])),
        ("SourceCollection", s(&c["sourceCollection"])),
        ("SourceVm", s(&c["sourceVm"])),
        ("TargetCollection", s(&c["targetCollection"])),
        ("Rpo", rpo),
        ("InFlight", in_flight(c)),
        ("LastCopy", s(&c["lastSuccess"]["restorePoint"])),
        ("LastCopyCompleted", s(&c["lastSuccess"]["completedAt"])),
    ] {
        t.row(vec![k.to_string(), v]);
    }
    t.to_string()
}

/// `ferry status [--chain]`.
pub async fn status_report(
    app: &App,
    chain: Option<&str>,
    now: OffsetDateTime,
) -> Result<Report, CliError> {
    match chain {
        None => {
            let all = every_chain(app, now).await?;
            let table = chains_table(all["chains"].as_array().map_or(&[], Vec::as_slice));
            Ok(Report { json: all, table })
        }
        Some(arg) => {
            let c = one_chain(app, arg, now).await?;
            let copies = c["copyRecords"].as_array().map_or(&[][..], Vec::as_slice);
            let table = format!("{}\n{}", chain_detail(&c), copies_table(copies));
            Ok(Report { json: c, table })
        }
    }
}

async fn one_chain(app: &App, arg: &str, now: OffsetDateTime) -> Result<Value, CliError> {
    let key = resolve_chain(app, arg).await?;
    let (code, body) = view(app, "chain", &[("key".to_string(), key)].into(), now).await;
    answer(code, body, &format!("--chain {arg}"))
}

/// `ferry copies --chain`.
pub async fn copies_report(
    app: &App,
    chain: &str,
    now: OffsetDateTime,
) -> Result<Report, CliError> {
    let c = one_chain(app, chain, now).await?;
    let copies = c["copyRecords"].clone();
    let table = copies_table(copies.as_array().map_or(&[][..], Vec::as_slice));
    Ok(Report {
        json: copies,
        table,
    })
}

/// `ferry alerts [--since] [--chain]`.
pub async fn alerts_report(
    app: &App,
    since: &str,
    chain: Option<&str>,
    now: OffsetDateTime,
) -> Result<Report, CliError> {
    let window = crate::policy::parse_duration(since)
        .ok()
        .filter(|d| d.is_positive())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--since {since:?}: expected a positive ISO 8601 duration such as PT6H, P1D or P7D"
            ))
        })?;
    let key = match chain {
        Some(arg) => Some(resolve_chain(app, arg).await?),
        None => None,
    };
    let alerts = overview::alerts_since(app, now - window, key.as_deref()).await?;
    let mut t = Table::new(&["Raised", "Severity", "Kind", "Chain", "Message"]);
    for a in &alerts {
        t.row(vec![
            s(&a["at"]),
            s(&a["severity"]),
            s(&a["kind"]),
            format!("{}:{}", s(&a["sourceCollection"]), s(&a["targetRegion"])),
            s(&a["message"]),
        ]);
    }
    let table = if t.is_empty() {
        format!(
            "No alerts in the ledger since {}.\n",
            overview::rfc3339(now - window).as_str().unwrap_or_default()
        )
    } else {
        t.to_string()
    };
    Ok(Report {
        json: Value::Array(alerts),
        table,
    })
}

pub(super) async fn run(
    output: Option<OutputArg>,
    report: impl AsyncFnOnce(&App, OffsetDateTime) -> Result<Report, CliError>,
) -> std::process::ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let result = async {
        let app = super::ledger_app(&env).await?;
        report(&app, OffsetDateTime::now_utc()).await
    }
    .await;
    match result {
        Ok(r) => {
            print(Output::resolve(output), &r.json, || r.table);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            e.exit_code()
        }
    }
}

/// `ferry status` from the command line.
pub async fn status(args: StatusArgs) -> std::process::ExitCode {
    let chain = args.chain.clone();
    run(args.output, async move |app: &App, now| {
        status_report(app, chain.as_deref(), now).await
    })
    .await
}

/// `ferry copies` from the command line.
pub async fn copies(args: CopiesArgs) -> std::process::ExitCode {
    let chain = args.chain.clone();
    run(args.output, async move |app: &App, now| {
        copies_report(app, &chain, now).await
    })
    .await
}

/// `ferry alerts` from the command line.
pub async fn alerts(args: AlertsArgs) -> std::process::ExitCode {
    let (since, chain) = (args.since.clone(), args.chain.clone());
    run(args.output, async move |app: &App, now| {
        alerts_report(app, &since, chain.as_deref(), now).await
    })
    .await
}
