//! How the ARM client sends a request: URLs are built only from the typed ids' `Display`
//! (every segment validated in [`crate::ids`]) joined onto the configured endpoint, with query
//! parameters set through the `url` crate; links ARM hands back (`nextLink`,
//! `Azure-AsyncOperation`) are followed only when they point at the same origin as the
//! endpoint, so the bearer token never leaves it. Each request is paced per subscription
//! ([`super::ratelimit`]), 429, 5xx and connection failures are retried with jittered
//! backoff or after ARM's `Retry-After`, and ARM's error bodies become [`ArmError`]s.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};
use url::Url;

use super::client::{ArmClient, Deleted, Started};
use super::error::ArmError;
use super::model::ArmErrorBody;
use super::ratelimit::Budget;
use crate::auth::ARM_SCOPE;

/// First retry delay; doubles per attempt up to `max_backoff`.
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// How much of a non-ARM error body is kept in messages.
const MAX_ERROR_BODY: usize = 512;

/// A final HTTP response (after retries).
pub(super) struct Raw {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
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

pub(super) fn api_error(raw: &Raw) -> ArmError {
    let (code, message, target) = parse_error(raw.status, &raw.body);
    ArmError::Api {
        status: raw.status,
        code,
        message,
        target,
    }
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ArmError> {
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
    /// `endpoint` + `path` (a typed id's Display) + `api-version` (+ `$expand`).
    pub(super) fn url(&self, path: &str, api_version: &str, expand: Option<&str>) -> Url {
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
    pub(super) fn check_link(&self, what: &str, url: &Url) -> Result<(), ArmError> {
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
    pub(super) fn header_url(&self, headers: &HeaderMap, name: &str) -> Option<Url> {
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
    pub(super) async fn send(
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

    pub(super) fn body<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>, ArmError> {
        serde_json::to_vec(v).map_err(|e| ArmError::Decode {
            what: what.to_string(),
            message: format!("could not encode the request: {e}"),
        })
    }

    /// GET one resource; `None` when ARM says it does not exist (404).
    pub(super) async fn get_if_exists<T: DeserializeOwned>(
        &self,
        op: &'static str,
        url: &Url,
    ) -> Result<Option<T>, ArmError> {
        let raw = self.send(op, Method::GET, url, Budget::Read, None).await?;
        match raw.status {
            200 => decode(op, &raw.body).map(Some),
            404 => Ok(None),
            _ => Err(api_error(&raw)),
        }
    }

    /// A long-running PUT. A bare 2xx without a body has started the write all the same (a
    /// retry would be a second write), so it answers `named()`, the resource as only named.
    pub(super) async fn put_long_running<T: DeserializeOwned>(
        &self,
        op: &'static str,
        url: &Url,
        body: Vec<u8>,
        named: impl FnOnce() -> T,
    ) -> Result<Started<T>, ArmError> {
        let raw = self
            .send(op, Method::PUT, url, Budget::Write, Some(body))
            .await?;
        match raw.status {
            200..=202 => Ok(Started {
                resource: if raw.body.iter().all(u8::is_ascii_whitespace) {
                    named()
                } else {
                    decode(op, &raw.body)?
                },
                async_operation: self.header_url(&raw.headers, "azure-asyncoperation"),
                location: self.header_url(&raw.headers, "location"),
                status: raw.status,
            }),
            _ => Err(api_error(&raw)),
        }
    }

    /// A long-running DELETE; a missing resource counts as deleted.
    pub(super) async fn delete_long_running(
        &self,
        op: &'static str,
        url: &Url,
    ) -> Result<Deleted, ArmError> {
        let raw = self
            .send(op, Method::DELETE, url, Budget::Write, None)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::client::tests::client;
    use crate::ids::RestorePointId;

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
