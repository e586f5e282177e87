//! One REST request to the table service: its URL, the Shared Key signature or bearer
//! token, the common headers, and retries of throttling, server errors and network failures.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::{sign, wire, TableAuth, TableLedger, API_VERSION};
use crate::auth::{AuthError, STORAGE_SCOPE};
use crate::ledger::LedgerError;

const ACCEPT_JSON: &str = "application/json;odata=minimalmetadata";

/// One REST request before authorisation.
pub(super) struct Request {
    pub(super) method: Method,
    /// Relative to the account endpoint: `Tables`, `ferry()`, `$batch`, …
    pub(super) path: String,
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Option<(String, Vec<u8>)>,
    /// Names the request in errors: `insert ferry/pk/rk`.
    pub(super) what: String,
}

pub(super) struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: bytes::Bytes,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl TableLedger {
    pub(super) fn url(
        &self,
        path: &str,
        query: &[(&'static str, String)],
    ) -> Result<Url, LedgerError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| LedgerError::Invalid(format!("bad request path {path:?}: {e}")))?;
        if !query.is_empty() {
            // Percent-encode strictly (spaces as %20, not +) as the service expects.
            let qs: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        k,
                        percent_encoding::utf8_percent_encode(v, wire::STRICT)
                    )
                })
                .collect();
            url.set_query(Some(&qs.join("&")));
        }
        Ok(url)
    }

    /// Sends a request, retrying throttling, server errors and network failures.
    pub(super) async fn send(&self, req: &Request) -> Result<Response, LedgerError> {
        let url = self.url(&req.path, &req.query)?;
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            let last = attempt >= self.retry.attempts;
            let outcome = self.send_once(req, &url).await;
            let why = match outcome {
                Ok(resp)
                    if resp.status == StatusCode::TOO_MANY_REQUESTS
                        || (resp.status.is_server_error()
                            && resp.status != StatusCode::NOT_IMPLEMENTED) =>
                {
                    if last {
                        return Ok(resp);
                    }
                    format!("HTTP {}", resp.status)
                }
                Ok(resp) => return Ok(resp),
                Err(e @ LedgerError::Unavailable(_)) if !last => e.to_string(),
                Err(e) => return Err(e),
            };
            tracing::debug!(what = %req.what, attempt, %why, "table request retried");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Request, url: &Url) -> Result<Response, LedgerError> {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let content_type = req.body.as_ref().map(|(ct, _)| ct.as_str()).unwrap_or("");
        let authorization = match &self.auth {
            TableAuth::SharedKey { account, key } => {
                sign::authorization(account, key, req.method.as_str(), content_type, &date, url)
            }
            TableAuth::Token(tokens) => {
                let token = tokens.token(STORAGE_SCOPE).await.map_err(|e| match e {
                    AuthError::Unavailable(m) => LedgerError::Auth(format!(
                        "no token for table {} ({}): {m}",
                        self.table_url,
                        tokens.kind()
                    )),
                    AuthError::Transient(m) => LedgerError::Unavailable(format!(
                        "token for table {} ({}) failed: {m}",
                        self.table_url,
                        tokens.kind()
                    )),
                })?;
                format!("Bearer {}", token.secret)
            }
        };
        let mut auth_value = HeaderValue::from_str(&authorization).map_err(|_| {
            LedgerError::Auth(format!(
                "credential for table {} is not a valid header value",
                self.table_url
            ))
        })?;
        auth_value.set_sensitive(true);
        let mut rb = self
            .http
            .request(req.method.clone(), url.clone())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-date", &date)
            .header("DataServiceVersion", "3.0")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header("Accept", ACCEPT_JSON)
            .header("Authorization", auth_value);
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if let Some((ct, body)) = &req.body {
            rb = rb.header("Content-Type", ct).body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| {
            LedgerError::Unavailable(format!("{} on {}: {}", req.what, self.table_url, e))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| {
            LedgerError::Unavailable(format!(
                "{} on {}: reading the response: {e}",
                req.what, self.table_url
            ))
        })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub(super) fn entity_url(&self, pk: &str, rk: &str) -> String {
        wire::entity_address(&self.table, pk, rk)
    }
}
