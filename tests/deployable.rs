//! The deployable build has no simulator. `scripts/package` builds `ferry` with
//! `--no-default-features` (no `sim` feature); this test builds the same binary (debug, into
//! `target/deployable`, so it does not race the test run's own build directory) and checks
//! that it refuses `demo` and `emulate` with a clear message, that neither the fail points'
//! names nor the emulator's, host stand-in's or demo's strings are in it (while they are in
//! the default build, so the check cannot pass by looking for the wrong thing), and that
//! ferry depends on no HTTP server crate of its own there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(root());
    c
}

/// Builds the deployable binary once per test run.
fn deployable() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target_dir = root().join("target").join("deployable");
        let out = cargo()
            .args([
                "build",
                "--locked",
                "--no-default-features",
                "--bin",
                "ferry",
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            // No debug info: less to build and link, and nothing for the string check
            // to find but the code's own data.
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build --no-default-features --bin ferry failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir.join("debug").join("ferry")
    })
}

/// Strings only the simulator has: fail point names, emulator routes and messages, the host
/// stand-in's and the demo's.
fn simulator_strings() -> Vec<&'static str> {
    let mut v: Vec<&str> = ferry::failpoint::FAIL_POINTS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    v.extend([
        "_emulator/events",
        "_emulator/stats",
        "_emulator/outcomes",
        "(injected fault)",
        "ferry ARM emulator listening on",
        "not supported by the host stand-in",
        "injected_crashes",
    ]);
    v
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_deployable_build_refuses_demo_and_emulate() {
    let bin = deployable();
    for (args, command) in [
        (&["demo"][..], "demo"),
        (&["demo", "--vms", "300", "--faults", "heavy"][..], "demo"),
        (&["emulate", "--listen", "127.0.0.1:0"][..], "emulate"),
    ] {
        let out = Command::new(bin).args(args).output().expect("ferry runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "ferry {args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "ferry {command}: this build has no simulator; build with the default features \
                 (cargo run --release -- {command})"
            )),
            "ferry {args:?}: {stderr}"
        );
    }
    // The product's commands are there, the simulator's are not offered.
    let out = Command::new(bin)
        .arg("--help")
        .output()
        .expect("ferry runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "status", "readiness", "plan"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    for command in ["demo", "emulate"] {
        assert!(!help.contains(command), "{command} offered by:\n{help}");
    }
}

#[test]
fn the_deployable_build_has_no_fail_points_and_no_simulator_strings() {
    let deployable = std::fs::read(deployable()).expect("deployable binary");
    let full = std::fs::read(env!("CARGO_BIN_EXE_ferry")).expect("default binary");
    for s in simulator_strings() {
        assert!(
            contains(&full, s),
            "`{s}` is not in the default build either"
        );
        assert!(
            !contains(&deployable, s),
            "`{s}` is in the deployable build"
        );
    }
}

/// Every `fail_point!` in the sources is in `FAIL_POINTS` (which the string check uses),
/// and every entry there is used.
#[test]
fn fail_points_are_all_listed() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("src readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source readable");
                // Code lines only (the docs show the macro too).
                for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    let Some(i) = line.find("fail_point!(") else {
                        continue;
                    };
                    let rest = &line[i..];
                    let Some(q) = rest.find('"') else { continue };
                    let name = &rest[q + 1..];
                    found.push(name[..name.find('"').expect("closing quote")].to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("src"), &mut found);
    found.sort();
    let mut listed: Vec<String> = ferry::failpoint::FAIL_POINTS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    listed.sort();
    assert_eq!(found, listed);
}

/// ferry itself depends on no HTTP server crate, no progress bar and no seeded generator in
/// the deployable build: those are the simulator's. (hyper is still there, as the HTTP
/// engine of warp, ferry's server, and of reqwest, its client.)
#[test]
fn the_deployable_build_has_no_simulator_dependencies() {
    let tree = |features: &[&str]| {
        let out = cargo()
            .args(["tree", "--locked", "-e", "normal", "--depth", "1"])
            .args(["--prefix", "none", "--format", "{p}"])
            .args(features)
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let deployable = tree(&["--no-default-features"]);
    let full = tree(&[]);
    for name in [
        "hyper",
        "hyper-util",
        "tower-service",
        "indicatif",
        "rand_chacha",
    ] {
        assert!(full.iter().any(|d| d == name), "{name} not in {full:?}");
        assert!(
            !deployable.iter().any(|d| d == name),
            "{name} is a direct dependency of the deployable build: {deployable:?}"
        );
    }
    for name in ["warp", "reqwest", "tokio"] {
        assert!(deployable.iter().any(|d| d == name), "{name} missing");
    }
}
