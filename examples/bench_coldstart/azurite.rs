//! The Azurite table endpoint the table setups use: the given one, or one started with
//! `scripts/azurite.sh` and stopped when the benchmark ends.

use std::process::{Command, Stdio};

/// Azurite started by this benchmark (`scripts/azurite.sh`), stopped when dropped.
pub(crate) struct OwnAzurite(pub(crate) Option<u32>);

impl Drop for OwnAzurite {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// The Azurite table endpoint (`http://127.0.0.1:<port>/devstoreaccount1`): the given one,
/// or one started now.
pub(crate) fn azurite() -> Result<(url::Url, OwnAzurite), String> {
    if let Ok(u) = std::env::var("FERRY_TEST_AZURITE_TABLE") {
        let u = url::Url::parse(&u).map_err(|e| format!("FERRY_TEST_AZURITE_TABLE: {e}"))?;
        return Ok((u, OwnAzurite(None)));
    }
    let log = std::env::temp_dir().join(format!(
        "bench_coldstart-azurite-{}.log",
        std::process::id()
    ));
    let out = Command::new("scripts/azurite.sh")
        .arg(&log)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            format!("scripts/azurite.sh: {e} (run from the repository root, or set BENCH_TABLE=0)")
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_string)
    };
    let pid = field("AZURITE_PID=").and_then(|p| p.parse().ok());
    let own = OwnAzurite(pid);
    let table = field("FERRY_TEST_AZURITE_TABLE=")
        .ok_or_else(|| format!("scripts/azurite.sh printed no endpoint ({}); set BENCH_TABLE=0 to skip the table setups", out.status))?;
    let u = url::Url::parse(&table).map_err(|e| format!("azurite endpoint {table}: {e}"))?;
    Ok((u, own))
}
