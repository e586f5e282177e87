//! ARM traffic checked against the official swagger with Microsoft's `oav validate-traffic`:
//! [`Traffic`] writes request/response pairs in oav's traffic-file format,
//! [`RecordingProxy`] records whatever a client exchanges with the emulator through it, and
//! [`Traffic::assert_valid`] runs `node_modules/.bin/oav` (installed by `npm ci` from
//! package-lock.json; `scripts/test` does that) against the swagger vendored in
//! `tests/fixtures/swagger/` (copied from Azure/azure-rest-api-specs; see its SOURCES.md) and
//! fails on any error, any traffic that matches no operation, or a difference from the
//! expected set of covered operations.
//!
//! oav's traps, handled here (see `tests/fixtures/swagger/README.md`): the HTML report is off
//! (`--report ""`), traffic matching no operation passes silently (its stdout line is
//! checked), `statusCode` is a string, and the report lives outside the traffic folder. A
//! runtime exception (a malformed file stops the rest) is not in the JSON report's `errors`
//! but makes oav exit 1, so the exit status is checked too.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use warp::Filter;

/// The swagger folder, relative to the repository root: the files vendored from
/// Azure/azure-rest-api-specs, in that repository's own layout so their relative `$ref`s
/// resolve. Nothing outside the repository is read.
pub const SWAGGER_DIR: &str =
    "tests/fixtures/swagger/specification/compute/resource-manager/Microsoft.Compute";

/// Operation-status URLs (`…/locations/{l}/operations/{id}`, and the Disk RP's
/// `…/locations/{l}/DiskOperations/{id}`) are in none of the copied swagger
/// files, so oav could only call them undefined. Requests to them are left out of the traffic
/// and listed in [`Traffic::left_out`] so a test can say exactly what was not validated.
pub fn described_by_copied_swagger(path: &str) -> bool {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    !(segs.len() == 8
        && segs[4] == "locations"
        && (segs[6] == "operations" || segs[6] == "diskoperations"))
}

/// One HTTP exchange as it went over the wire.
pub struct Exchange {
    pub method: String,
    /// Absolute URL with its query, as the client sent it.
    pub url: String,
    pub request_headers: BTreeMap<String, String>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_headers: BTreeMap<String, String>,
    pub response_body: Vec<u8>,
}

/// `None` for an empty body; an error for one that is not JSON (ARM bodies always are).
fn body_json(what: &str, bytes: &[u8]) -> Result<Option<Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        format!(
            "{what} is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    })
}

impl Exchange {
    /// The traffic file: `{"liveRequest": {url, method, headers, body}, "liveResponse":
    /// {statusCode (a string), headers, body}}`.
    pub fn to_oav(&self) -> Result<Value, String> {
        let mut req = json!({
            "url": self.url,
            "method": self.method,
            "headers": self.request_headers,
        });
        if let Some(b) = body_json(
            &format!("request body of {} {}", self.method, self.url),
            &self.request_body,
        )? {
            req["body"] = b;
        }
        let mut resp = json!({
            "statusCode": self.status.to_string(),
            "headers": self.response_headers,
        });
        if let Some(b) = body_json(
            &format!("response body of {} {}", self.method, self.url),
            &self.response_body,
        )? {
            resp["body"] = b;
        }
        Ok(json!({"liveRequest": req, "liveResponse": resp}))
    }
}

/// Traffic files in a temporary folder (kept, and named, when validation fails).
pub struct Traffic {
    root: Mutex<Option<tempfile::TempDir>>,
    root_path: PathBuf,
    files: Mutex<Vec<String>>,
    left_out: Mutex<Vec<String>>,
    /// Exchanges that could not be written as traffic (a body that is not JSON, no answer).
    unrecordable: Mutex<Vec<String>>,
}

/// What oav said.
#[derive(Debug)]
pub struct OavOutcome {
    pub report: Value,
    /// operationId → spec file name, for every operation that had traffic and passed.
    pub passed: BTreeMap<String, String>,
    /// oav exits 1 on any error or runtime exception (a runtime exception is not in the
    /// report's `errors`, only in the log).
    pub exit_ok: bool,
    pub stdout: String,
    pub log: String,
    pub elapsed: Duration,
}

impl Default for Traffic {
    fn default() -> Self {
        Self::new()
    }
}

impl Traffic {
    pub fn new() -> Traffic {
        let root = tempfile::Builder::new()
            .prefix("ferry-oav-")
            .tempdir()
            .unwrap();
        let root_path = root.path().to_path_buf();
        std::fs::create_dir(root_path.join("traffic")).unwrap();
        Traffic {
            root: Mutex::new(Some(root)),
            root_path,
            files: Mutex::new(Vec::new()),
            left_out: Mutex::new(Vec::new()),
            unrecordable: Mutex::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.root_path.join("traffic")
    }

    /// Writes one exchange as the next traffic file, or notes it in [`Self::left_out`] when
    /// no copied swagger file describes its path.
    pub fn record(&self, ex: &Exchange) {
        let path = url::Url::parse(&ex.url)
            .unwrap_or_else(|e| panic!("recorded URL {:?}: {e}", ex.url))
            .path()
            .to_string();
        if !described_by_copied_swagger(&path) {
            self.left_out
                .lock()
                .unwrap()
                .push(format!("{} {}", ex.method, ex.url));
            return;
        }
        let doc = match ex.to_oav() {
            Ok(doc) => doc,
            Err(e) => return self.unrecordable.lock().unwrap().push(e),
        };
        let mut files = self.files.lock().unwrap();
        let name = format!("{:04}.json", files.len() + 1);
        std::fs::write(
            self.dir().join(&name),
            serde_json::to_vec_pretty(&doc).unwrap(),
        )
        .unwrap();
        files.push(format!("{name}: {} {} -> {}", ex.method, ex.url, ex.status));
    }

    /// `METHOD URL -> status` of every traffic file written, in order.
    pub fn files(&self) -> Vec<String> {
        self.files.lock().unwrap().clone()
    }

    /// `METHOD URL` of every exchange left out of validation.
    pub fn left_out(&self) -> Vec<String> {
        self.left_out.lock().unwrap().clone()
    }

    /// Keeps the folder after the test (for a failure message).
    fn keep(&self) -> PathBuf {
        if let Some(d) = self.root.lock().unwrap().take() {
            let _ = d.keep();
        }
        self.root_path.clone()
    }

    /// Runs oav on the traffic and asserts: exit status 0, no errors, no failed operation, no
    /// traffic that matched no operation, no spec that failed to load, and exactly `expected`
    /// operationIds covered (and passed). Returns `None` (after saying so) only when oav is
    /// not installed and `FERRY_SKIP_OAV` is set outside CI (on CI that variable is refused).
    pub async fn assert_valid(&self, expected: &[&str]) -> Option<OavOutcome> {
        let unrecordable = self.unrecordable.lock().unwrap().clone();
        assert!(
            unrecordable.is_empty(),
            "exchanges that are not valid ARM traffic:\n  {}",
            unrecordable.join("\n  ")
        );
        let outcome = self.run_oav().await?;
        let mut problems = Vec::new();
        let report = &outcome.report;
        // The same error from several traffic files is listed once, with a count.
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for e in report["errors"].as_array().into_iter().flatten() {
            let line = format!(
                "{} {} ({}): {} at {}",
                e["operationId"].as_str().unwrap_or("?"),
                e["errorCode"].as_str().unwrap_or("?"),
                e["issueSource"].as_str().unwrap_or("?"),
                e["errorMessage"].as_str().unwrap_or("?"),
                e["schemaPathWithPosition"].as_str().unwrap_or("?"),
            );
            *errors.entry(line).or_default() += 1;
        }
        for (line, n) in &errors {
            problems.push(if *n > 1 {
                format!("{line} (x{n})")
            } else {
                line.clone()
            });
        }
        if !outcome.exit_ok {
            problems.push(
                "oav exited with status 1 (an error above, or a runtime exception: see the log below)"
                    .to_string(),
            );
        }
        if report["failedOperations"] != json!(0) {
            problems.push(format!(
                "failedOperations is {} (passed: {:?})",
                report["failedOperations"], outcome.passed
            ));
        }
        for line in outcome.stdout.lines() {
            if line.contains("Undefined operation") || line.contains("Exception when loading spec")
            {
                problems.push(line.to_string());
            }
        }
        let passed: BTreeSet<&str> = outcome.passed.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = expected.iter().copied().collect();
        if passed != want {
            problems.push(format!(
                "operations covered and passed differ from the expected ones: missing {:?}, unexpected {:?}",
                want.difference(&passed).collect::<Vec<_>>(),
                passed.difference(&want).collect::<Vec<_>>()
            ));
        }
        if report["coveredOperations"].as_u64() != Some(expected.len() as u64) {
            problems.push(format!(
                "coveredOperations is {}, expected {}",
                report["coveredOperations"],
                expected.len()
            ));
        }
        if !problems.is_empty() {
            let kept = self.keep();
            panic!(
                "oav validate-traffic found {} problem(s) in {} traffic file(s):\n  {}\n\
                 traffic, report (oav.json) and log (oav.log) kept in {}\nstdout:\n{}\nlog:\n{}\nfiles:\n  {}",
                problems.len(),
                self.files().len(),
                problems.join("\n  "),
                kept.display(),
                outcome.stdout,
                if errors.is_empty() {
                    tail(&outcome.log, 6000)
                } else {
                    "(see oav.log)"
                },
                self.files().join("\n  ")
            );
        }
        let kept = if std::env::var_os("FERRY_OAV_KEEP").is_some() {
            format!(" (kept in {})", self.keep().display())
        } else {
            String::new()
        };
        eprintln!(
            "oav validate-traffic: {} traffic files, {} operations passed, in {:.1} s{kept}",
            self.files().len(),
            outcome.passed.len(),
            outcome.elapsed.as_secs_f64()
        );
        Some(outcome)
    }

    async fn run_oav(&self) -> Option<OavOutcome> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let oav = repo.join("node_modules/.bin/oav");
        let spec = repo.join(SWAGGER_DIR);
        assert!(
            spec.is_dir(),
            "the vendored swagger is missing from the repository: {}",
            spec.display()
        );
        if !oav.exists() {
            let why = format!(
                "{} is not installed: run `npm ci` in the repository (scripts/test does it; \
                 package.json pins oav)",
                oav.display()
            );
            if super::explicit_skip("FERRY_SKIP_OAV") {
                eprintln!("FERRY_SKIP_OAV is set: skipping the swagger validation ({why})");
                return None;
            }
            panic!("{why}; or set FERRY_SKIP_OAV=1 (refused on CI) to skip the swagger validation");
        }
        assert!(
            !self.files().is_empty(),
            "no traffic was recorded for oav to validate"
        );
        let report_path = self.root_path.join("oav.json");
        let log_path = self.root_path.join("oav.log");
        let started = std::time::Instant::now();
        let run = tokio::process::Command::new(&oav)
            .arg("validate-traffic")
            .arg(self.dir())
            .arg(&spec)
            .args(["--report", "", "-l", "off", "--jsonReport"])
            .arg(&report_path)
            .arg("-f")
            .arg(&log_path)
            .current_dir(&self.root_path)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(600), run)
            .await
            .expect("oav validate-traffic did not finish within 10 minutes")
            .unwrap_or_else(|e| panic!("running {}: {e}", oav.display()));
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let text = match std::fs::read_to_string(&report_path) {
            Ok(t) => t,
            Err(e) => {
                let kept = self.keep();
                panic!(
                    "oav validate-traffic ({}) wrote no JSON report ({e}); kept in {}\n\
                     stdout:\n{stdout}\nstderr:\n{stderr}\nlog:\n{log}",
                    out.status,
                    kept.display()
                )
            }
        };
        let report: Value = serde_json::from_str(&text).unwrap();
        let mut passed = BTreeMap::new();
        for entry in report["passedOperationsList"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let spec = entry["spec"].as_str().unwrap_or("?");
            let file = Path::new(spec)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            for id in entry["operationIds"].as_array().into_iter().flatten() {
                passed.insert(id.as_str().unwrap().to_string(), file.clone());
            }
        }
        Some(OavOutcome {
            report,
            passed,
            exit_ok: out.status.success(),
            stdout: format!("{stdout}{stderr}"),
            log,
            elapsed,
        })
    }
}

fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn headers_map(headers: &warp::http::HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in headers {
        if let Ok(v) = v.to_str() {
            out.insert(k.as_str().to_string(), v.to_string());
        }
    }
    out
}

/// A loopback HTTP proxy in front of the emulator that forwards every request unchanged (Host
/// included) and records each request/response pair into a [`Traffic`].
pub struct RecordingProxy {
    pub url: String,
    pub traffic: Arc<Traffic>,
}

impl RecordingProxy {
    pub async fn start(upstream: String, traffic: Arc<Traffic>) -> RecordingProxy {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let t = traffic.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers: warp::http::HeaderMap,
                      body: bytes::Bytes| {
                    let (client, upstream, t) = (client.clone(), upstream.clone(), t.clone());
                    async move {
                        let path_q = if query.is_empty() {
                            path.as_str().to_string()
                        } else {
                            format!("{}?{query}", path.as_str())
                        };
                        let host = headers
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("127.0.0.1")
                            .to_string();
                        let mut req = client
                            .request(
                                reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
                                format!("{upstream}{path_q}"),
                            )
                            .body(body.to_vec());
                        // Host is passed on so the URLs the emulator hands out (operation
                        // status, nextLink) point back at the proxy.
                        for (k, v) in headers.iter() {
                            if k != "content-length" {
                                req = req.header(k.as_str(), v.as_bytes());
                            }
                        }
                        let resp = match req.send().await {
                            Ok(resp) => resp,
                            Err(e) => {
                                t.unrecordable.lock().unwrap().push(format!(
                                    "{method} {path_q}: no answer from the emulator: {e}"
                                ));
                                return warp::http::Response::builder()
                                    .status(502)
                                    .body(Vec::new())
                                    .unwrap();
                            }
                        };
                        let status = resp.status().as_u16();
                        let resp_headers = resp.headers().clone();
                        let resp_body = resp.bytes().await.unwrap();
                        t.record(&Exchange {
                            method: method.as_str().to_string(),
                            url: format!("http://{host}{path_q}"),
                            request_headers: headers_map(&headers),
                            request_body: body.to_vec(),
                            status,
                            response_headers: headers_map(&resp_headers),
                            response_body: resp_body.to_vec(),
                        });
                        let mut b = warp::http::Response::builder().status(status);
                        for (k, v) in resp_headers.iter() {
                            if k != "content-length" && k != "transfer-encoding" {
                                b = b.header(k.as_str(), v.as_bytes());
                            }
                        }
                        b.body(resp_body.to_vec()).unwrap()
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        RecordingProxy {
            url: format!("http://{addr}"),
            traffic,
        }
    }
}
