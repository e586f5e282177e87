//! The operator commands as an operator runs them: the `ferry` binary with nothing but
//! `FERRY_LEDGER` and a credential in its environment (no policy, no Service Bus), reading
//! a ledger that `ferry demo` filled on Azurite; chains named `<collection>:<region>`;
//! `--output table|json`; errors that name the argument or setting at fault.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

/// `ferry <args>` with an environment of exactly `env` (plus PATH).
fn ferry(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
    c.args(args).env_clear();
    if let Ok(p) = std::env::var("PATH") {
        c.env("PATH", p);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("ferry runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn errors_name_the_setting_or_argument() {
    let o = ferry(&["status"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("FERRY_LEDGER: missing"),
        "{}",
        text(&o.stderr)
    );

    let mem = [
        ("FERRY_LEDGER", "memory"),
        ("FERRY_CREDENTIAL", "dev-token:x"),
    ];
    let o = ferry(&["alerts", "--since", "1d"], &mem);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--since \"1d\""),
        "{}",
        text(&o.stderr)
    );

    let o = ferry(&["copies", "--chain", "rpc-app01"], &mem);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--chain \"rpc-app01\""),
        "{}",
        text(&o.stderr)
    );

    let o = ferry(&["copies", "--chain", "rpc-app01:westus2"], &mem);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no chain copies a source collection named \"rpc-app01\""),
        "{}",
        text(&o.stderr)
    );

    let o = ferry(&["status", "--output", "yaml"], &mem);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--output"), "{}", text(&o.stderr));

    let o = ferry(
        &["status"],
        &[
            ("FERRY_LEDGER", "memory"),
            ("FERRY_CREDENTIAL", "password:x"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("FERRY_CREDENTIAL"),
        "{}",
        text(&o.stderr)
    );

    // An empty ledger: JSON when piped (stdout is not a terminal), a sentence as a table.
    let o = ferry(&["status"], &mem);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chains"], serde_json::json!([]));
    let o = ferry(&["status", "-o", "table"], &mem);
    assert_eq!(text(&o.stdout), "No chains in the ledger yet.\n");
}

#[test]
fn ledger_commands_need_only_the_ledger_and_a_credential() {
    let Some(ledger) = common::azurite_ledger(&common::unique_table("clidemo")) else {
        return;
    };
    // The demo fills the ledger (with its own policy, RPO objective 36 h).
    let o = ferry(
        &[
            "demo",
            "--vms",
            "6",
            "--days",
            "4",
            "--no-progress",
            "--json",
        ],
        &[("FERRY_LEDGER", &ledger)],
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert!(
        o.status.success(),
        "demo: {:?}\nbroken: {}\n{}",
        o.status,
        report["broken_invariants"],
        text(&o.stderr)
    );
    let only = [
        ("FERRY_LEDGER", ledger.as_str()),
        ("FERRY_CREDENTIAL", "dev-token:x"),
    ];

    let o = ferry(&["status", "--output", "json"], &only);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let chains = v["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 12, "6 VMs into 2 regions");
    // The objective comes from the ledger: no policy here.
    assert!(
        chains.iter().all(|c| c["rpo"]["objectiveHours"] == 36.0),
        "{v:#}"
    );
    // The confidential VM's chains never copy: behind.
    let vm02 = chains
        .iter()
        .find(|c| {
            c["sourceCollection"]
                .as_str()
                .unwrap()
                .ends_with("/rpc-vm-02")
        })
        .unwrap();
    assert_eq!(vm02["rpo"]["breached"], true);

    let o = ferry(&["status", "-o", "table"], &only);
    let table = text(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("Chain") && lines[0].contains("Rpo") && lines[0].contains("Behind"),
        "{table}"
    );
    assert!(lines[1].starts_with("-----"), "{table}");
    assert_eq!(lines.len(), 2 + 12, "{table}");
    assert!(lines[2].contains("BEHIND"), "behind first: {table}");
    assert!(table.contains("rpc-vm-03:westus2"), "{table}");

    // A chain by name, by collection id and by key: the same chain.
    let o = ferry(
        &["copies", "--chain", "rpc-vm-03:westus2", "-o", "json"],
        &only,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let copies: Value = serde_json::from_slice(&o.stdout).unwrap();
    let states: Vec<&str> = copies
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"Succeeded") && states.contains(&"Failed"),
        "{states:?}"
    );
    let key = chains
        .iter()
        .find(|c| {
            c["sourceCollection"]
                .as_str()
                .unwrap()
                .ends_with("/rpc-vm-03")
                && c["targetRegion"] == "westus2"
        })
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let id = format!(
        "{}:westus2",
        vm02["sourceCollection"]
            .as_str()
            .unwrap()
            .replace("rpc-vm-02", "rpc-vm-03")
    );
    for name in [key.as_str(), id.as_str()] {
        let o = ferry(&["copies", "--chain", name, "-o", "json"], &only);
        assert_eq!(
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
            copies,
            "{name}"
        );
    }
    let o = ferry(
        &["status", "--chain", "RPC-VM-03:WestUS2", "-o", "table"],
        &only,
    );
    let t = text(&o.stdout);
    assert!(
        t.contains("Key                ") && t.contains(&key) && t.contains("RestorePoint"),
        "{t}"
    );

    // The demo's clock starts on 2026-11-01: a window reaching back before it holds every
    // alert; the failed copy of rpc-vm-03 is one.
    let o = ferry(
        &[
            "alerts",
            "--since",
            "P3650D",
            "--chain",
            "rpc-vm-03:westus2",
            "-o",
            "json",
        ],
        &only,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let alerts: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kinds: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"CopyFailed"), "{alerts:#}");
    assert!(alerts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["targetRegion"] == "westus2"));
    let o = ferry(&["alerts", "--since", "P3650D", "-o", "table"], &only);
    let t = text(&o.stdout);
    assert!(
        t.starts_with("Raised") && t.contains("CopyRejected") && t.contains("rpc-vm-02:centralus"),
        "{t}"
    );

    // The demo drills every chain with a ready copy daily: the ledger shows them by name.
    let o = ferry(
        &["drills", "--chain", "rpc-vm-03:westus2", "-o", "json"],
        &only,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let drills: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(drills["succeeded"].as_u64().unwrap() >= 1, "{drills:#}");
    assert_eq!(drills["chains"].as_array().unwrap().len(), 1, "{drills:#}");
    assert_eq!(drills["chains"][0]["chain"], key.as_str());
    let o = ferry(&["drills", "-o", "table"], &only);
    let t = text(&o.stdout);
    assert!(
        t.starts_with("Chain") && t.contains("rpc-vm-03:westus2") && t.contains("Succeeded"),
        "{t}"
    );
    // The confidential VM never has a ready copy: never drilled.
    assert!(!t.contains("rpc-vm-02:"), "{t}");
}
