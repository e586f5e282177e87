//! The ARM REST client for the restore point surface.
//!
//! URLs are built only from the typed ids' `Display` (every segment validated in
//! [`crate::ids`]) joined onto the configured endpoint, with query parameters set through the
//! `url` crate. Links ARM hands back (`nextLink`, `Azure-AsyncOperation`) are followed only
//! when they point at the same origin as the endpoint, so the bearer token never leaves it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};
use url::Url;

use super::error::ArmError;
use super::model::{
    ArmErrorBody, CopyRequest, CreateCollectionRequest, DiskRestorePoint, DiskRestorePointList,
    OperationStatus, RestorePoint, RestorePointCollection, RestorePointOrigin,
    RestorePointProgress,
};
use super::ratelimit::{Budget, RateLimit, SubscriptionLimiter};
use crate::auth::{TokenProvider, ARM_SCOPE};
use crate::ids::{CollectionId, DiskRestorePointId, RestorePointId};

/// Public ARM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// Compute RP api-version for restore points and collections.
pub const DEFAULT_COMPUTE_API_VERSION: &str = "2025-11-01";
/// Disk RP api-version for disk restore points.
pub const DEFAULT_DISK_API_VERSION: &str = "2026-03-02";

const USER_AGENT: &str = concat!("restore-point-ferry/", env!("CARGO_PKG_VERSION"));
/// First retry delay; doubles per attempt up to `max_backoff`.
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// How often `wait_operation` polls when ARM gives no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// A list that keeps handing out `nextLink`s beyond this is treated as broken.
const MAX_PAGES: usize = 1000;
/// How much of a non-ARM error body is kept in messages.
const MAX_ERROR_BODY: usize = 512;

#[derive(Debug, Clone)]
pub struct ArmConfig {
    pub endpoint: Url,
    pub compute_api_version: String,
    pub disk_api_version: String,
    /// Attempts per call, including the first (429, 5xx and connection errors are retried).
    pub max_attempts: u32,
    /// Upper bound of one backoff sleep; a `Retry-After` longer than this ends the call with
    /// [`ArmError::Throttled`] so the caller can reschedule instead of blocking.
    pub max_backoff: Duration,
    pub read_limit: Option<RateLimit>,
    pub write_limit: Option<RateLimit>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for ArmConfig {
    fn default() -> Self {
        ArmConfig {
            endpoint: Url::parse(DEFAULT_ENDPOINT).expect("constant URL parses"),
            compute_api_version: DEFAULT_COMPUTE_API_VERSION.to_string(),
            disk_api_version: DEFAULT_DISK_API_VERSION.to_string(),
            max_attempts: 6,
            max_backoff: Duration::from_secs(60),
            read_limit: Some(RateLimit::ARM_READS),
            write_limit: Some(RateLimit::ARM_WRITES),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The answer to the PUT that starts a cross-region copy.
#[derive(Debug, Clone)]
pub struct StartedCopy {
    pub restore_point: RestorePoint,
    pub async_operation: Option<Url>,
    pub location: Option<Url>,
    pub status: u16,
}

/// The answer to a DELETE.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    /// ARM accepted the delete (200/202/204); a 202 carries the operation to poll.
    Done {
        status: u16,
        async_operation: Option<Url>,
        location: Option<Url>,
    },
    /// It was not there (404): deleting is done either way.
    AlreadyGone,
}

impl Deleted {
    /// The URL to poll, preferring `Azure-AsyncOperation` over `Location`.
    pub fn operation_url(&self) -> Option<&Url> {
        match self {
            Deleted::Done {
                async_operation,
                location,
                ..
            } => async_operation.as_ref().or(location.as_ref()),
            Deleted::AlreadyGone => None,
        }
    }
}

/// A final HTTP response (after retries).
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

pub struct ArmClient {
    http: reqwest::Client,
    config: ArmConfig,
    tokens: Arc<dyn TokenProvider>,
    limiter: SubscriptionLimiter,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("config", &self.config)
            .field("tokens", &self.tokens.kind())
            .finish()
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `{"error":{code,message,target}}` when ARM sent that shape, else the (truncated) body.
fn parse_error(status: u16, body: &[u8]) -> (String, String, Option<String>) {
    if let Ok(e) = serde_json::from_slice::<ArmErrorBody>(body) {
        if !e.error.code.is_empty() || !e.error.message.is_empty() {
            let code = if e.error.code.is_empty() {
                format!("HTTP{status}")
            } else {
                e.error.code
            };
            return (code, e.error.message, e.error.target);
        }
    }
    let code = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| r.replace(' ', ""))
        .unwrap_or_else(|| format!("HTTP{status}"));
    let text = String::from_utf8_lossy(body);
    let message = if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        truncate(text.trim(), MAX_ERROR_BODY)
    };
    (code, message, None)
}

fn api_error(raw: &Raw) -> ArmError {
    let (code, message, target) = parse_error(raw.status, &raw.body);
    ArmError::Api {
        status: raw.status,
        code,
        message,
        target,
    }
}

fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(body).map_err(|e| ArmError::Decode {
        what: what.to_string(),
        message: format!(
            "{e}; body starts {:?}",
            truncate(&String::from_utf8_lossy(body), 200)
        ),
    })
}

/// The subscription a URL path belongs to (for rate limiting), if it names one.
fn subscription_of(url: &Url) -> String {
    let mut segs = url.path_segments().into_iter().flatten();
    while let Some(s) = segs.next() {
        if s.eq_ignore_ascii_case("subscriptions") {
            return segs.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

impl ArmClient {
    pub fn new(config: ArmConfig, tokens: Arc<dyn TokenProvider>) -> Result<Self, ArmError> {
        let ep = &config.endpoint;
        // A bearer token may cross plain HTTP only on this machine (emulator, tests).
        crate::endpoint::require_secure("ARM endpoint", ep).map_err(ArmError::InvalidConfig)?;
        if ep.cannot_be_a_base() || ep.host().is_none() {
            return Err(ArmError::InvalidConfig(format!(
                "endpoint {ep} is not a base URL"
            )));
        }
        if ep.query().is_some() || ep.fragment().is_some() {
            return Err(ArmError::InvalidConfig(format!(
                "endpoint {ep} must not carry a query or fragment"
            )));
        }
        for (name, v) in [
            ("compute_api_version", &config.compute_api_version),
            ("disk_api_version", &config.disk_api_version),
        ] {
            let ok = v.len() >= 10
                && v.len() <= 32
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(ArmError::InvalidConfig(format!(
                    "{name} {v:?} is not an api-version like 2025-11-01"
                )));
            }
        }
        if config.max_attempts == 0 {
            return Err(ArmError::InvalidConfig(
                "max_attempts must be at least 1".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(ArmError::InvalidConfig("timeout must be positive".into()));
        }
        for l in config.read_limit.iter().chain(config.write_limit.iter()) {
            l.validate().map_err(ArmError::InvalidConfig)?;
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            // ARM links are absolute and followed explicitly; a redirect would carry the
            // token somewhere unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ArmError::InvalidConfig(format!("HTTP client: {e}")))?;
        let limiter = SubscriptionLimiter::new(config.read_limit, config.write_limit);
        Ok(ArmClient {
            http,
            config,
            tokens,
            limiter,
        })
    }

    pub fn config(&self) -> &ArmConfig {
        &self.config
    }

    /// `endpoint` + `path` (a typed id's Display) + `api-version` (+ `$expand`).
    fn url(&self, path: &str, api_version: &str, expand: Option<&str>) -> Url {
        let mut url = self.config.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            if let Some(e) = expand {
                q.append_pair("$expand", e);
            }
        }
        url
    }

    /// Checks a URL ARM handed back before our token is sent to it.
    fn check_link(&self, what: &str, url: &Url) -> Result<(), ArmError> {
        if same_origin(url, &self.config.endpoint) {
            Ok(())
        } else {
            Err(ArmError::Decode {
                what: what.to_string(),
                message: format!(
                    "refusing to follow {url}: not on the ARM endpoint {}",
                    self.config.endpoint
                ),
            })
        }
    }

    /// A header holding a URL, resolved against the endpoint.
    fn header_url(&self, headers: &HeaderMap, name: &str) -> Option<Url> {
        let v = headers.get(name)?.to_str().ok()?;
        match self.config.endpoint.join(v.trim()) {
            Ok(u) => Some(u),
            Err(e) => {
                warn!(header = name, error = %e, "ignoring unparsable URL header from ARM");
                None
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = BASE_BACKOFF
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.max_backoff);
        // Jitter in [50%, 100%] so many callers do not retry in lockstep.
        let factor: f64 = rand::rng().random_range(0.5..=1.0);
        exp.mul_f64(factor)
    }

    /// Sends one logical request, retrying 429, 5xx and connection failures. Returns the
    /// final response for every other status (the caller maps 404 and errors).
    async fn send(
        &self,
        op: &'static str,
        method: Method,
        url: &Url,
        budget: Budget,
        body: Option<Vec<u8>>,
    ) -> Result<Raw, ArmError> {
        let subscription = subscription_of(url);
        let max = self.config.max_attempts;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.limiter.acquire(&subscription, budget).await;
            let token = self.tokens.token(ARM_SCOPE).await?;
            let request_id = crate::ids::random_uuid();
            let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.secret))
                .map_err(|_| ArmError::InvalidConfig("token is not a valid header value".into()))?;
            auth.set_sensitive(true);
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, auth)
                .header("x-ms-client-request-id", request_id.to_string());
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            let started = std::time::Instant::now();
            let result = match req.send().await {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let headers = std::mem::take(resp.headers_mut());
                    resp.bytes().await.map(|body| Raw {
                        status,
                        headers,
                        body,
                    })
                }
                Err(e) => Err(e),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let raw = match result {
                Ok(raw) => raw,
                Err(e) => {
                    // reqwest errors name the URL but never headers, so no token leaks here.
                    let message = format!("{op}: {}", e.without_url());
                    debug!(op, method = %method, path = url.path(), attempt, elapsed_ms, %request_id, error = %message, "ARM request failed");
                    if attempt >= max {
                        return Err(ArmError::Unavailable {
                            status: None,
                            message,
                        });
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            debug!(op, method = %method, path = url.path(), status = raw.status, attempt, elapsed_ms, %request_id, "ARM request");
            let retry_after = parse_retry_after(&raw.headers);
            if raw.status == 429 {
                let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                if let Some(bucket) = self.limiter.bucket(&subscription, budget) {
                    bucket.penalize(wait);
                }
                if attempt >= max || wait > self.config.max_backoff {
                    return Err(ArmError::Throttled {
                        retry_after: wait,
                        attempts: attempt,
                    });
                }
                warn!(
                    op,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "ARM throttled the request; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if raw.status >= 500 {
                if attempt >= max {
                    let (code, message, _) = parse_error(raw.status, &raw.body);
                    return Err(ArmError::Unavailable {
                        status: Some(raw.status),
                        message: format!("{op}: {code}: {message} (after {attempt} attempts)"),
                    });
                }
                let wait = retry_after
                    .unwrap_or_else(|| self.backoff(attempt))
                    .min(self.config.max_backoff);
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(raw);
        }
    }

    fn body<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>, ArmError> {
        serde_json::to_vec(v).map_err(|e| ArmError::Decode {
            what: what.to_string(),
            message: format!("could not encode the request: {e}"),
        })
    }

    /// GET a restore point collection; `None` if it does not exist.
    pub async fn get_collection(
        &self,
        id: &CollectionId,
        expand_restore_points: bool,
    ) -> Result<Option<RestorePointCollection>, ArmError> {
        const OP: &str = "get restore point collection";
        let url = self.url(
            &id.to_id_string(),
            &self.config.compute_api_version,
            expand_restore_points.then_some("restorePoints"),
        );
        let raw = self.send(OP, Method::GET, &url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(OP, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    /// PUT a restore point collection in a target region whose source is `source`
    /// (the collection copies will come from).
    pub async fn create_collection(
        &self,
        id: &CollectionId,
        location: &str,
        source: &CollectionId,
        tags: BTreeMap<String, String>,
    ) -> Result<RestorePointCollection, ArmError> {
        const OP: &str = "create restore point collection";
        let url = self.url(&id.to_id_string(), &self.config.compute_api_version, None);
        let body = Self::body(
            OP,
            &CreateCollectionRequest::new(location, source.to_string(), tags),
        )?;
        let raw = self
            .send(OP, Method::PUT, &url, Budget::Write, Some(body))
            .await?;
        match raw.status {
            200 | 201 => decode(OP, &raw.body),
            _ => Err(api_error(&raw)),
        }
    }

    /// GET a restore point (with `$expand=instanceView` for replication progress).
    pub async fn get_restore_point(
        &self,
        id: &RestorePointId,
        expand_instance_view: bool,
    ) -> Result<Option<RestorePoint>, ArmError> {
        self.read_restore_point(id, expand_instance_view).await
    }

    /// GET a restore point for whether it is a copy and of what (ingest's read; `None` if it
    /// does not exist). The same request as [`Self::get_restore_point`] without the instance
    /// view, decoded into [`RestorePointOrigin`].
    pub async fn get_restore_point_origin(
        &self,
        id: &RestorePointId,
    ) -> Result<Option<RestorePointOrigin>, ArmError> {
        self.read_restore_point(id, false).await
    }

    /// GET a restore point with `$expand=instanceView` for its disks' replication progress
    /// only (the poller's and the readiness check's read; `None` if it does not exist). The
    /// same request as [`Self::get_restore_point`], decoded into [`RestorePointProgress`].
    pub async fn get_copy_progress(
        &self,
        id: &RestorePointId,
    ) -> Result<Option<RestorePointProgress>, ArmError> {
        self.read_restore_point(id, true).await
    }

    /// One restore point GET, decoded into whichever view of it the caller needs.
    async fn read_restore_point<T: DeserializeOwned>(
        &self,
        id: &RestorePointId,
        expand_instance_view: bool,
    ) -> Result<Option<T>, ArmError> {
        const OP: &str = "get restore point";
        let url = self.url(
            &id.to_id_string(),
            &self.config.compute_api_version,
            expand_instance_view.then_some("instanceView"),
        );
        let raw = self.send(OP, Method::GET, &url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(OP, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    /// PUT the target restore point that starts a cross-region copy.
    pub async fn start_copy(
        &self,
        target: &RestorePointId,
        body: &CopyRequest,
    ) -> Result<StartedCopy, ArmError> {
        const OP: &str = "start restore point copy";
        let url = self.url(
            &target.to_id_string(),
            &self.config.compute_api_version,
            None,
        );
        let bytes = Self::body(OP, body)?;
        let raw = self
            .send(OP, Method::PUT, &url, Budget::Write, Some(bytes))
            .await?;
        match raw.status {
            200..=202 => {
                // The copy has started even if ARM sent no body (a bare 202): report it
                // rather than fail, since a retry would be a second copy request.
                let restore_point = if raw.body.iter().all(u8::is_ascii_whitespace) {
                    RestorePoint {
                        id: Some(target.to_string()),
                        name: Some(target.name.clone()),
                        ..Default::default()
                    }
                } else {
                    decode(OP, &raw.body)?
                };
                Ok(StartedCopy {
                    restore_point,
                    async_operation: self.header_url(&raw.headers, "azure-asyncoperation"),
                    location: self.header_url(&raw.headers, "location"),
                    status: raw.status,
                })
            }
            _ => Err(api_error(&raw)),
        }
    }

    /// DELETE a restore point; a missing one counts as deleted.
    pub async fn delete_restore_point(&self, id: &RestorePointId) -> Result<Deleted, ArmError> {
        const OP: &str = "delete restore point";
        let url = self.url(&id.to_id_string(), &self.config.compute_api_version, None);
        let raw = self
            .send(OP, Method::DELETE, &url, Budget::Write, None)
            .await?;
        match raw.status {
            200 | 202 | 204 => Ok(Deleted::Done {
                status: raw.status,
                async_operation: self.header_url(&raw.headers, "azure-asyncoperation"),
                location: self.header_url(&raw.headers, "location"),
            }),
            404 => Ok(Deleted::AlreadyGone),
            _ => Err(api_error(&raw)),
        }
    }

    /// All disk restore points of a restore point, following `nextLink`.
    pub async fn list_disk_restore_points(
        &self,
        rp: &RestorePointId,
    ) -> Result<Vec<DiskRestorePoint>, ArmError> {
        const OP: &str = "list disk restore points";
        let mut url = self.url(
            &format!("{rp}/diskRestorePoints"),
            &self.config.disk_api_version,
            None,
        );
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let raw = self.send(OP, Method::GET, &url, Budget::Read, None).await?;
            if raw.status != 200 {
                return Err(api_error(&raw));
            }
            let page: DiskRestorePointList = decode(OP, &raw.body)?;
            out.extend(page.value);
            match page.next_link.as_deref().map(str::trim) {
                None | Some("") => return Ok(out),
                Some(link) => {
                    let next = self
                        .config
                        .endpoint
                        .join(link)
                        .map_err(|e| ArmError::Decode {
                            what: OP.to_string(),
                            message: format!("bad nextLink {link:?}: {e}"),
                        })?;
                    self.check_link(OP, &next)?;
                    if next == url {
                        return Err(ArmError::Decode {
                            what: OP.to_string(),
                            message: "nextLink points at the page just read".into(),
                        });
                    }
                    url = next;
                }
            }
        }
        Err(ArmError::Decode {
            what: OP.to_string(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// GET one disk restore point; `None` if it does not exist.
    pub async fn get_disk_restore_point(
        &self,
        id: &DiskRestorePointId,
    ) -> Result<Option<DiskRestorePoint>, ArmError> {
        const OP: &str = "get disk restore point";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        let raw = self.send(OP, Method::GET, &url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(OP, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    async fn operation_raw(
        &self,
        url: &Url,
    ) -> Result<(OperationStatus, Option<Duration>), ArmError> {
        const OP: &str = "get operation status";
        self.check_link(OP, url)?;
        let raw = self.send(OP, Method::GET, url, Budget::Read, None).await?;
        if raw.status != 200 {
            return Err(api_error(&raw));
        }
        let status = decode(OP, &raw.body)?;
        Ok((status, parse_retry_after(&raw.headers)))
    }

    /// GET an `Azure-AsyncOperation` URL once.
    pub async fn operation_status(&self, url: &Url) -> Result<OperationStatus, ArmError> {
        self.operation_raw(url).await.map(|(s, _)| s)
    }

    /// Polls an `Azure-AsyncOperation` URL until it reports a terminal state, honouring
    /// `Retry-After` between polls. After `max_wait` the last status seen is returned, terminal
    /// or not; the caller decides what an unfinished operation means.
    pub async fn wait_operation(
        &self,
        url: &Url,
        max_wait: Duration,
    ) -> Result<OperationStatus, ArmError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let (status, retry_after) = self.operation_raw(url).await?;
            if status.status.is_terminal() {
                return Ok(status);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(status);
            }
            let wait = retry_after
                .unwrap_or(DEFAULT_POLL)
                .clamp(Duration::from_millis(100), Duration::from_secs(600))
                .min(deadline - now);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DevToken;

    fn client(endpoint: &str) -> Result<ArmClient, ArmError> {
        ArmClient::new(
            ArmConfig {
                endpoint: Url::parse(endpoint).unwrap(),
                ..Default::default()
            },
            Arc::new(DevToken::new("t")),
        )
    }

    #[test]
    fn urls_come_from_typed_ids() {
        let c = client("https://management.azure.com").unwrap();
        let id: RestorePointId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/r".parse().unwrap();
        let u = c.url(&id.to_id_string(), "2025-11-01", Some("instanceView"));
        assert_eq!(u.path(), "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/r");
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            vec![
                ("api-version".into(), "2025-11-01".into()),
                ("$expand".into(), "instanceView".into())
            ]
        );
        // An endpoint with a base path keeps it.
        let c = client("http://127.0.0.1:8080/arm/").unwrap();
        let u = c.url(&id.to_id_string(), "2025-11-01", None);
        assert!(u.path().starts_with("/arm/subscriptions/s/"));
        assert_eq!(subscription_of(&u), "s");
    }

    #[test]
    fn endpoint_validation() {
        assert!(client("http://management.azure.com").is_err());
        assert!(client("http://localhost:1234").is_ok());
        assert!(client("https://management.azure.com/?x=1").is_err());
        let cfg = ArmConfig {
            compute_api_version: "2025-11-01&x=y".into(),
            ..Default::default()
        };
        assert!(ArmClient::new(cfg, Arc::new(DevToken::new("t"))).is_err());
        let cfg = ArmConfig {
            max_attempts: 0,
            ..Default::default()
        };
        assert!(matches!(
            ArmClient::new(cfg, Arc::new(DevToken::new("t"))),
            Err(ArmError::InvalidConfig(_))
        ));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let d = parse_retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn error_bodies() {
        let (c, m, t) = parse_error(
            409,
            br#"{"error":{"code":"Conflict","message":"busy","target":"x"}}"#,
        );
        assert_eq!(
            (c.as_str(), m.as_str(), t.as_deref()),
            ("Conflict", "busy", Some("x"))
        );
        let (c, m, _) = parse_error(400, b"<html>bad gateway</html>");
        assert_eq!(c, "BadRequest");
        assert!(m.contains("<html>"));
        let long = "x".repeat(5000);
        let (_, m, _) = parse_error(400, long.as_bytes());
        assert!(m.len() < 600);
    }

    #[test]
    fn links_must_stay_on_the_endpoint() {
        let c = client("https://management.azure.com").unwrap();
        assert!(c
            .check_link(
                "t",
                &Url::parse("https://management.azure.com/x?y=1").unwrap()
            )
            .is_ok());
        assert!(c
            .check_link("t", &Url::parse("https://evil.example/x").unwrap())
            .is_err());
        assert!(c
            .check_link("t", &Url::parse("http://management.azure.com/x").unwrap())
            .is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = client("https://management.azure.com").unwrap();
        assert!(c.backoff(1) <= BASE_BACKOFF && c.backoff(1) >= BASE_BACKOFF / 2);
        assert!(c.backoff(30) <= c.config.max_backoff);
        assert!(c.backoff(4) >= Duration::from_secs(2));
    }
}
