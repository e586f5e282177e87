//! `ferry plan <scope>`: the live estate through ARM, and what the pipeline would do with
//! it ([`crate::functions::plan`]). Needs `FERRY_POLICY` and a credential
//! (`FERRY_CREDENTIAL=azure-cli` after `az login`); `FERRY_ARM_ENDPOINT` points it at the
//! emulator. Not the ledger: nothing is written, nothing is read from it.

use super::table::Table;
use super::{print, CliError, Output, OutputArg};
use crate::config::{Config, Mode};
use crate::functions::plan::{plan, PlanProgress, Scope};
use serde_json::Value;
use std::collections::BTreeMap;

/// `ferry plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name>, or one source restore
    /// point collection id.
    pub scope: String,
    /// table or json (default: a table on a terminal, JSON otherwise).
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputArg>,
}

/// A progress line on stderr, redrawn in place, only when stderr is a terminal (the
/// deployable build carries no progress-bar crate: this is all `plan` needs).
struct Bar {
    on: bool,
}

impl Bar {
    fn draw(&self, text: String) {
        if self.on {
            use std::io::Write;
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K{text}");
            let _ = e.flush();
        }
    }

    fn clear(&self) {
        self.draw(String::new());
    }
}

impl PlanProgress for Bar {
    fn listed(&self, n: usize) {
        self.draw(format!("listing restore point collections: {n}"));
    }
    fn examined(&self, done: usize, of: usize) {
        const WIDTH: usize = 30;
        let filled = (done * WIDTH).checked_div(of).unwrap_or(WIDTH);
        self.draw(format!(
            "reading covered collections [{}{}] {done}/{of}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled)
        ));
    }
}

/// The plan's JSON, from settings in `env`.
pub async fn plan_report(
    env: &BTreeMap<String, String>,
    scope: &str,
    progress: &dyn PlanProgress,
) -> Result<Value, CliError> {
    let scope = Scope::parse(scope).map_err(CliError::Usage)?;
    let mut env = env.clone();
    // Plan reads ARM only: the ledger and Service Bus settings are not used.
    env.insert("FERRY_LEDGER".into(), "memory".into());
    env.insert(
        "FERRY_SERVICEBUS_ENDPOINT".into(),
        "https://unused.servicebus.windows.net".into(),
    );
    env.remove("WEBSITE_INSTANCE_ID");
    let config = Config::from_env(&env, Mode::Serve).map_err(|e| CliError::Usage(e.to_string()))?;
    let app = crate::bootstrap::build(&config)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    plan(&app, &scope, time::OffsetDateTime::now_utc(), progress)
        .await
        .map_err(|e| CliError::Failed(format!("reading the estate from ARM failed: {e}")))
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn last(v: &Value) -> String {
    s(v).rsplit('/').next().unwrap_or_default().to_string()
}

/// The plan as tables: a row per chain (or per uncovered collection), then the totals.
pub fn plan_table(p: &Value) -> String {
    let mut t = Table::new(&[
        "Collection",
        "Rule",
        "Region",
        "TargetCollection",
        "Target",
        "FirstCopy",
        "Verdict",
    ]);
    for c in p["plan"].as_array().into_iter().flatten() {
        let rule = if c["rule"].is_null() {
            "none".to_string()
        } else {
            let tag = &c["rule"]["tag"];
            match tag.is_null() {
                true => last(&c["rule"]["scope"]),
                false => format!(
                    "{} [{}={}]",
                    last(&c["rule"]["scope"]),
                    s(&tag["name"]),
                    s(&tag["value"])
                ),
            }
        };
        let chains = c["chains"].as_array().cloned().unwrap_or_default();
        if chains.is_empty() {
            t.row(vec![
                s(&c["name"]),
                rule.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                "not copied".into(),
            ]);
        }
        for ch in chains {
            let f = &ch["firstCopy"];
            let verdict = match s(&f["verdict"]).as_str() {
                "reject" => format!("reject: {}", s(&f["detail"])),
                "copy" => "copy".into(),
                other => format!("{other}: {}", s(&f["detail"])),
            };
            t.row(vec![
                s(&c["name"]),
                rule.clone(),
                s(&ch["targetRegion"]),
                last(&ch["targetCollection"]),
                s(&ch["target"]["state"]),
                s(&f["restorePoint"]),
                verdict,
            ]);
        }
    }
    let n = |k: &str| p[k].as_array().map_or(0, Vec::len);
    format!(
        "{}\n{} collections in {}, {} covered by a rule, {} chains; {} target collections to create, \
         {} missing key mappings, {} first copies rejected; {} ARM reads.\n",
        if t.is_empty() { "No restore point collections in scope.\n".to_string() } else { t.to_string() },
        s(&p["collections"]),
        s(&p["scope"]),
        s(&p["covered"]),
        s(&p["chains"]),
        n("targetCollectionsToCreate"),
        n("missingKeyMappings"),
        n("rejected"),
        s(&p["armReads"]),
    )
}

/// `ferry plan` from the command line.
pub async fn run(args: PlanArgs) -> std::process::ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let bar = Bar {
        on: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let result = plan_report(&env, &args.scope, &bar).await;
    bar.clear();
    match result {
        Ok(p) => {
            print(Output::resolve(args.output), &p, || plan_table(&p));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferry plan: {e}");
            e.exit_code()
        }
    }
}
