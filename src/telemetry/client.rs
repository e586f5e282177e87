//! The exporter's HTTP client: ferry's reqwest with a Microsoft Entra bearer token.
//!
//! ferry's Application Insights component has local (instrumentation key) authentication
//! turned off, so every ingestion POST must carry a token for Azure Monitor. The exporter
//! has no hook for that, but it sends through `opentelemetry_http::HttpClient`, so this
//! client adds the header. It also sends to the endpoint ferry validated
//! ([`super::connection`]) rather than the URI the exporter built (which rewrites `http` to
//! `https`, breaking a loopback capture endpoint), keeping only the exporter's path
//! (`/v2/track`).
//!
//! The OpenTelemetry SDK exports from its own thread with a blocking executor; the request
//! runs as a task on ferry's tokio runtime, and that thread only waits for it.

use crate::auth::TokenProvider;
use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use std::sync::Arc;
use url::Url;

/// Scope for Azure Monitor ingestion (audience `https://monitor.azure.com/`).
pub const MONITOR_SCOPE: &str = "https://monitor.azure.com//.default";

pub struct EntraClient {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Arc<dyn TokenProvider>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for EntraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("credential", &self.tokens.kind())
            .finish()
    }
}

impl EntraClient {
    /// Must be called on ferry's tokio runtime (it keeps a handle to it).
    pub fn new(endpoint: Url, tokens: Arc<dyn TokenProvider>) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "telemetry needs a tokio runtime".to_string())?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(EntraClient {
            http,
            endpoint,
            tokens,
            runtime,
        })
    }

    /// The exporter's path on ferry's endpoint.
    fn target(&self, uri: &http::Uri) -> Result<Url, HttpError> {
        let path = uri.path().trim_start_matches('/');
        self.endpoint
            .join(path)
            .map_err(|e| format!("telemetry path {path:?}: {e}").into())
    }
}

#[async_trait::async_trait]
impl HttpClient for EntraClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = self.target(request.uri())?;
        let (parts, body) = request.into_parts();
        let http = self.http.clone();
        let tokens = self.tokens.clone();
        let task = async move {
            let token = tokens
                .token(MONITOR_SCOPE)
                .await
                .map_err(|e| format!("Azure Monitor token: {e}"))?;
            let mut req = http
                .request(parts.method, url)
                .bearer_auth(&token.secret)
                .body(body);
            for (name, value) in &parts.headers {
                req = req.header(name, value);
            }
            let resp = req
                .send()
                .await
                // Without the URL: nothing secret in it, but one line is enough.
                .map_err(|e| format!("telemetry upload: {}", e.without_url()))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| format!("telemetry upload: {}", e.without_url()))?;
            let mut out = Response::new(body);
            *out.status_mut() = status;
            Ok::<_, String>(out)
        };
        match self.runtime.spawn(task).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(format!("telemetry upload task: {e}").into()),
        }
    }
}
