//! Starting the custom handler and calling it the way the host's `DefaultHttpWorkerService`
//! does: readiness probe on `GET /`, then `POST /{FunctionName}` per invocation.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

use super::HostError;

/// The host version we claim in headers.
pub const HOST_VERSION: &str = "4.1044.0";

/// A running handler.
pub(crate) struct HandlerProc {
    pub base: Url,
    pub child: Option<Child>,
}

/// How to start a handler process.
#[derive(Debug, Clone)]
pub(crate) struct SpawnSpec {
    pub exe: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: PathBuf,
    pub app_root: PathBuf,
}

fn free_port() -> Result<u16, HostError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| HostError::Handler(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| HostError::Handler(format!("no free port: {e}")))
}

pub(crate) fn spawn(spec: &SpawnSpec) -> Result<HandlerProc, HostError> {
    let port = free_port()?;
    let mut cmd = Command::new(&spec.exe);
    cmd.args(&spec.args)
        .current_dir(&spec.working_dir)
        .envs(&spec.env)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
        .env(
            "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
            uuid::Uuid::new_v4().to_string(),
        )
        .env("FUNCTIONS_APP_ROOT_PATH", &spec.app_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| HostError::Handler(format!("cannot start `{}`: {e}", spec.exe.display())))?;
    // The real host relays handler output into its own log.
    if let Some(out) = child.stdout.take() {
        tokio::spawn(relay(BufReader::new(out), "stdout"));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(relay(BufReader::new(err), "stderr"));
    }
    let base = Url::parse(&format!("http://127.0.0.1:{port}/"))
        .map_err(|e| HostError::Handler(e.to_string()))?;
    Ok(HandlerProc {
        base,
        child: Some(child),
    })
}

async fn relay<R: tokio::io::AsyncRead + Unpin>(r: BufReader<R>, stream: &'static str) {
    let mut lines = r.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "ferry::sim::host::handler", stream, "{line}");
    }
}

/// Probes `GET /` every 25 ms until any HTTP response, like the host (30 s limit).
pub(crate) async fn probe(
    client: &reqwest::Client,
    proc_: &mut HandlerProc,
    limit: Duration,
) -> Result<(), HostError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let attempt = client
            .get(proc_.base.clone())
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if attempt.is_ok() {
            return Ok(());
        }
        if let Some(child) = proc_.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HostError::Handler(format!(
                    "handler exited before answering the readiness probe ({status})"
                )));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HostError::Handler(format!(
                "handler at {} did not answer GET / within {} s",
                proc_.base,
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) async fn kill(proc_: &mut HandlerProc) {
    if let Some(mut child) = proc_.child.take() {
        // SIGKILL, like a crashed worker or a recycled instance.
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// What one invocation produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvocationOutcome {
    pub function: String,
    pub invocation_id: String,
    /// HTTP status from the handler (`None` on connection failure or timeout).
    pub status: Option<u16>,
    pub succeeded: bool,
    pub outputs: Map<String, Value>,
    pub logs: Vec<String>,
    pub return_value: Value,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

pub(crate) async fn post_invocation(
    client: &reqwest::Client,
    base: &Url,
    function: &str,
    payload: &Value,
    timeout: Duration,
) -> InvocationOutcome {
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let mut out = InvocationOutcome {
        function: function.to_string(),
        invocation_id: invocation_id.clone(),
        ..Default::default()
    };
    let url = match base.join(function) {
        Ok(u) => u,
        Err(e) => {
            out.error = Some(format!("bad function URL: {e}"));
            return out;
        }
    };
    let resp = client
        .post(url)
        .header("X-Azure-Functions-InvocationId", &invocation_id)
        .header("X-Azure-Functions-HostVersion", HOST_VERSION)
        .header("User-Agent", format!("Azure-Functions-Host/{HOST_VERSION}"))
        .header("Content-Type", "application/json")
        .timeout(timeout)
        .body(payload.to_string())
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            out.error = Some(format!(
                "Timeout value of {:?} exceeded by function '{function}'",
                timeout
            ));
            return out;
        }
        Err(e) => {
            out.error = Some(format!("handler unreachable: {e}"));
            return out;
        }
    };
    let status = resp.status().as_u16();
    out.status = Some(status);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = resp.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        out.error = Some(format!(
            "handler answered HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        ));
        return out;
    }
    if !content_type.starts_with("application/json") {
        out.error = Some(format!(
            "handler answered Content-Type `{content_type}`; the host requires application/json"
        ));
        return out;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            out.error = Some(format!("handler response is not JSON: {e}"));
            return out;
        }
    };
    let Value::Object(top) = v else {
        out.error = Some("handler response is not a JSON object".into());
        return out;
    };
    match top.get("Outputs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => out.outputs = m.clone(),
        Some(other) => {
            out.error = Some(format!("`Outputs` must be an object, got {other}"));
            return out;
        }
    }
    match top.get("Logs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            out.logs = a
                .iter()
                .map(|l| {
                    l.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| l.to_string())
                })
                .collect()
        }
        Some(other) => {
            out.error = Some(format!("`Logs` must be an array, got {other}"));
            return out;
        }
    }
    out.return_value = top.get("ReturnValue").cloned().unwrap_or(Value::Null);
    out.succeeded = true;
    out
}

/// Where the handler executable is: absolute, or relative to the working directory / app root.
pub(crate) fn resolve_exe(exe: &str, working_dir: &Path, app_root: &Path) -> PathBuf {
    let p = PathBuf::from(exe);
    if p.is_absolute() {
        return p;
    }
    for base in [working_dir, app_root] {
        let c = base.join(&p);
        if c.is_file() {
            return c;
        }
    }
    app_root.join(p)
}
