//! The REST sender: `POST {endpoint}/{entity}/messages`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER,
};
use url::Url;

use super::message::{validate_entity_name, OutgoingMessage, BATCH_CONTENT_TYPE};
use super::sas::sas_token;
use super::{BusError, MessageSender};
use crate::auth::{AuthError, TokenProvider, SERVICE_BUS_SCOPE};

/// How the sender authenticates.
#[derive(Clone)]
pub enum BusAuth {
    /// Entra ID bearer token for `https://servicebus.azure.net/.default`.
    Token(Arc<dyn TokenProvider>),
    /// Shared access key (from a connection string).
    Sas { key_name: String, key: String },
}

impl std::fmt::Debug for BusAuth {
    // Never print a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusAuth::Token(p) => write!(f, "BusAuth::Token({})", p.kind()),
            BusAuth::Sas { key_name, .. } => write!(f, "BusAuth::Sas({key_name}, <redacted>)"),
        }
    }
}

impl BusAuth {
    /// Parses `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`.
    /// `sb://` becomes `https://`, except for loopback hosts (local broker), which use `http://`.
    pub fn from_connection_string(cs: &str) -> Result<(Url, BusAuth), BusError> {
        let bad = |m: String| BusError::Config {
            queue: String::new(),
            status: 0,
            message: format!("Service Bus connection string: {m}"),
        };
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(bad(
                    "part without `=` (expected Key=Value pairs separated by `;`)".to_string(),
                ));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_string()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_string()),
                // Keys are base64 and may end in `=`: split_once kept them whole.
                "sharedaccesskey" => key = Some(v.trim().to_string()),
                "entitypath" | "usedevelopmentemulator" => {}
                other => return Err(bad(format!("unknown key `{other}`"))),
            }
        }
        let endpoint = endpoint.ok_or_else(|| bad("missing `Endpoint`".into()))?;
        let key_name = key_name.ok_or_else(|| bad("missing `SharedAccessKeyName`".into()))?;
        let key = key.ok_or_else(|| bad("missing `SharedAccessKey`".into()))?;
        let parsed =
            Url::parse(&endpoint).map_err(|e| bad(format!("`Endpoint` is not a URL: {e}")))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("`Endpoint` has no host".into()))?
            .to_string();
        let loopback = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
        let scheme = match parsed.scheme() {
            "sb" if loopback => "http",
            "sb" | "https" => "https",
            "http" if loopback => "http",
            other => return Err(bad(format!("`Endpoint` scheme `{other}` (expected sb://)"))),
        };
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let url = Url::parse(&format!("{scheme}://{host}{port}/"))
            .map_err(|e| bad(format!("`Endpoint`: {e}")))?;
        Ok((url, BusAuth::Sas { key_name, key }))
    }
}

/// Retries for transient failures (5xx, 429, connection errors).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base_delay: Duration,
    /// Cap on any single wait, including a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Service Bus sender over HTTPS (or HTTP to the local broker).
pub struct ServiceBusRest {
    client: reqwest::Client,
    endpoint: Url,
    auth: BusAuth,
    retry: RetryPolicy,
}

impl ServiceBusRest {
    pub fn new(endpoint: Url, auth: BusAuth) -> Result<Self, BusError> {
        let cfg = |m: String| BusError::Config {
            queue: String::new(),
            status: 0,
            message: m,
        };
        // Tokens and SAS signatures cross plain HTTP only to a local broker.
        crate::endpoint::require_secure("Service Bus endpoint", &endpoint).map_err(cfg)?;
        if endpoint.cannot_be_a_base() || endpoint.host_str().is_none() {
            return Err(cfg(format!(
                "Service Bus endpoint `{endpoint}` has no host"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // A redirect would carry the Authorization header somewhere unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| cfg(format!("HTTP client: {e}")))?;
        Ok(ServiceBusRest {
            client,
            endpoint,
            auth,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn entity_url(&self, queue: &str) -> Result<Url, BusError> {
        // `push` encodes `/`, `?` and `#` but silently drops `.` and `..`, which would send
        // to another entity; names are checked at start (config), and here again because
        // `send` takes any string.
        super::message::validate_entity_name(queue)?;
        let mut url = self.endpoint.clone();
        url.set_query(None);
        url.path_segments_mut()
            .map_err(|_| BusError::Config {
                queue: queue.to_string(),
                status: 0,
                message: "endpoint cannot take a path".into(),
            })?
            .pop_if_empty()
            // `push` percent-encodes the segment.
            .push(queue);
        Ok(url)
    }

    async fn auth_header(&self, queue: &str, entity_url: &Url) -> Result<String, BusError> {
        match &self.auth {
            BusAuth::Token(p) => match p.token(SERVICE_BUS_SCOPE).await {
                Ok(t) => Ok(format!("Bearer {}", t.secret)),
                Err(AuthError::Unavailable(m)) => Err(BusError::Config {
                    queue: queue.to_string(),
                    status: 0,
                    message: format!("no Service Bus token ({}): {m}", p.kind()),
                }),
                Err(AuthError::Transient(m)) => Err(BusError::Transient(format!(
                    "token request failed ({}): {m}",
                    p.kind()
                ))),
            },
            BusAuth::Sas { key_name, key } => {
                let expiry = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
                Ok(sas_token(entity_url.as_str(), key_name, key, expiry))
            }
        }
    }

    async fn send_once(
        &self,
        queue: &str,
        messages: &[OutgoingMessage],
    ) -> Result<(), (BusError, Option<Duration>)> {
        let entity = self.entity_url(queue).map_err(|e| (e, None))?;
        let mut url = entity.clone();
        url.path_segments_mut()
            .map_err(|_| (BusError::Transient("bad url".into()), None))?
            .push("messages");
        let auth = self
            .auth_header(queue, &entity)
            .await
            .map_err(|e| (e, None))?;
        let mut headers = HeaderMap::new();
        let hv = |s: &str, what: &str| {
            HeaderValue::from_str(s).map_err(|_| {
                (
                    BusError::Rejected {
                        status: 0,
                        message: format!("{what} cannot be sent as an HTTP header"),
                    },
                    None,
                )
            })
        };
        // The value is a secret: mark it so it is never printed by the HTTP stack.
        let mut auth_value = hv(&auth, "authorization")?;
        auth_value.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth_value);
        let body = if let [single] = messages {
            headers.insert(CONTENT_TYPE, hv(&single.content_type, "content type")?);
            headers.insert(
                HeaderName::from_static("brokerproperties"),
                hv(&single.broker_properties().to_string(), "BrokerProperties")?,
            );
            for (k, v) in &single.properties {
                // A property must not replace the request's own headers (auth above all).
                if [
                    "authorization",
                    "content-type",
                    "content-length",
                    "brokerproperties",
                    "host",
                ]
                .contains(&k.to_ascii_lowercase().as_str())
                {
                    return Err((
                        BusError::Rejected {
                            status: 0,
                            message: format!("property name `{k}` is reserved"),
                        },
                        None,
                    ));
                }
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    (
                        BusError::Rejected {
                            status: 0,
                            message: format!("property name `{k}` is not a valid header name"),
                        },
                        None,
                    )
                })?;
                // As in the official Send Message sample (`Priority: High`): the raw value.
                headers.insert(name, hv(v, k)?);
            }
            single.body.clone()
        } else {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(BATCH_CONTENT_TYPE));
            let batch: Vec<_> = messages.iter().map(OutgoingMessage::batch_entry).collect();
            serde_json::Value::Array(batch).to_string()
        };
        let resp = self
            .client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                (
                    BusError::Transient(format!("sending to `{queue}`: {}", without_url(&e))),
                    None,
                )
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let detail: String = text.trim().chars().take(300).collect();
        let q = queue.to_string();
        let err = match status {
            401 => BusError::Config {
                queue: q,
                status,
                message: format!("unauthorized: check the credential (token audience https://servicebus.azure.net, or the SAS key) {detail}"),
            },
            403 => BusError::Config {
                queue: q,
                status,
                message: format!("forbidden: check that the identity has the `Azure Service Bus Data Sender` role on this entity, and the entity's quota {detail}"),
            },
            404 | 410 => BusError::Config {
                queue: q,
                status,
                message: format!("no such queue or topic: check the entity name and namespace {detail}"),
            },
            400 | 413 => BusError::Rejected {
                status,
                message: format!("`{queue}`: {detail}"),
            },
            429 | 500..=599 => {
                return Err((
                    BusError::Transient(format!("`{queue}` answered HTTP {status}: {detail}")),
                    retry_after,
                ))
            }
            _ => BusError::Rejected {
                status,
                message: format!("`{queue}` answered HTTP {status}: {detail}"),
            },
        };
        Err((err, None))
    }
}

/// reqwest errors print the URL; ours holds no secrets, but keep messages short and stable.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<endpoint>");
    }
    s
}

#[async_trait::async_trait]
impl MessageSender for ServiceBusRest {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        validate_entity_name(queue)?;
        if messages.is_empty() {
            return Ok(());
        }
        let mut delay = self.retry.base_delay;
        let mut attempt = 1;
        loop {
            match self.send_once(queue, &messages).await {
                Ok(()) => return Ok(()),
                Err((BusError::Transient(m), retry_after)) if attempt < self.retry.attempts => {
                    let wait = retry_after.unwrap_or(delay).min(self.retry.max_delay);
                    tracing::warn!(queue, attempt, wait_ms = wait.as_millis() as u64, error = %m, "Service Bus send failed, retrying");
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_urls_keep_the_name_as_one_segment_and_refuse_dot_names() {
        let bus = ServiceBusRest::new(
            Url::parse("https://ns.servicebus.windows.net/").unwrap(),
            BusAuth::Sas {
                key_name: "k".into(),
                key: "c2VjcmV0".into(),
            },
        )
        .unwrap();
        let u = bus.entity_url("copy-requests").unwrap();
        assert_eq!(
            u.as_str(),
            "https://ns.servicebus.windows.net/copy-requests"
        );
        for bad in ["", ".", "..", "a/../b", "a//b", "a?b", "a#b"] {
            assert!(
                matches!(bus.entity_url(bad), Err(BusError::Config { .. })),
                "{bad:?}"
            );
        }
    }
}
