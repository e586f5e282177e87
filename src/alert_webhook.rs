//! `FERRY_ALERT_WEBHOOK`: where each alert (and each condition's end) goes as a Common
//! Alert Schema payload ([`crate::common_alert_schema`]) — an action group's or Logic App's
//! HTTP endpoint, given as a Key Vault reference because its query string is a secret
//! (`sig=…`, `code=…`).
//!
//! Delivery runs in its own function (`alert-webhook`), triggered by the alerts topic's
//! `webhook` subscription: the copy path only sends to the topic, as it always did, and a
//! slow or failing receiver never holds up a copy. Inside one invocation a POST is tried a
//! few times with backoff (honouring `Retry-After`); if the receiver still fails, the
//! invocation fails and Service Bus redelivers the message later, up to the subscription's
//! delivery count, then dead-letters it (nothing is lost silently, nothing retries forever).
//! A receiver that refuses the payload for good (4xx other than 408/429) is logged and the
//! message completed: resending the same payload cannot help.
//!
//! The URL's query string never appears in a log line, an error or a `Debug` output: only
//! [`WebhookUrl::redacted`] is ever shown.

use crate::alerts::Alert;
use std::time::Duration;
use url::Url;

pub const SETTING: &str = "FERRY_ALERT_WEBHOOK";

/// The webhook's URL; shows itself without its query string.
#[derive(Clone, PartialEq)]
pub struct WebhookUrl(Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

impl WebhookUrl {
    /// Checks the setting: an absolute https URL (plain http only on loopback). The error
    /// never repeats the query string.
    pub fn parse(s: &str) -> Result<WebhookUrl, String> {
        let u = Url::parse(s.trim()).map_err(|e| {
            format!("{SETTING}: not a URL ({e}); expected https://host/path?secret")
        })?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(format!(
                "{SETTING}: credentials in the URL are not supported"
            ));
        }
        let shown = WebhookUrl(u.clone()).redacted();
        crate::endpoint::require_secure(SETTING, &u).map_err(|_| {
            format!("{SETTING}: {shown} must be https (plain http only on loopback)")
        })?;
        Ok(WebhookUrl(u))
    }

    /// Scheme, host, port and path; the query (a secret) and fragment replaced by `…`.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        let had_query = u.query().is_some();
        u.set_query(None);
        u.set_fragment(None);
        if had_query {
            format!("{u}?…")
        } else {
            u.to_string()
        }
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Still failing after the retries: fail the invocation, Service Bus redelivers.
    #[error(
        "alert webhook {url}: {detail} (after {attempts} attempts; Service Bus will redeliver)"
    )]
    Retryable {
        url: String,
        detail: String,
        attempts: u32,
    },
    /// The receiver refuses this payload for good.
    #[error("alert webhook {url} refused the payload: {detail}")]
    Refused { url: String, detail: String },
}

/// Retry schedule inside one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    /// The longest wait, `Retry-After` included (longer: leave it to redelivery).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 4,
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before attempt `n + 1` (n ≥ 1): doubling from `first`, or what the
    /// receiver asked for; `None` when that is longer than `max`.
    pub fn wait(&self, n: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let doubling = self.first.saturating_mul(1 << (n - 1).min(16));
        let w = retry_after.unwrap_or(doubling);
        (w <= self.max).then_some(w)
    }
}

/// Whether a status is worth trying again.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
}

pub struct AlertWebhook {
    url: WebhookUrl,
    http: reqwest::Client,
    backoff: Backoff,
}

impl std::fmt::Debug for AlertWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertWebhook")
            .field("url", &self.url)
            .finish()
    }
}

impl AlertWebhook {
    pub fn new(url: WebhookUrl, backoff: Backoff) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // A redirect could carry the payload elsewhere; an action group endpoint does
            // not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("{SETTING}: HTTP client: {e}"))?;
        Ok(AlertWebhook { url, http, backoff })
    }

    pub fn url(&self) -> &WebhookUrl {
        &self.url
    }

    /// POSTs the alert's Common Alert Schema payload; returns the attempts it took.
    pub async fn deliver(&self, alert: &Alert) -> Result<u32, DeliveryError> {
        let body = crate::common_alert_schema::payload(alert);
        let shown = self.url.redacted();
        let mut n = 0;
        loop {
            n += 1;
            let (detail, retry_after) = match self
                .http
                .post(self.url.url().clone())
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return Ok(n),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let detail = format!("HTTP {status}");
                    if !retryable_status(status) {
                        return Err(DeliveryError::Refused { url: shown, detail });
                    }
                    (detail, retry_after)
                }
                // `without_url`: reqwest's errors quote the whole URL, secret included.
                Err(e) => (e.without_url().to_string(), None),
            };
            let wait = (n < self.backoff.attempts)
                .then(|| self.backoff.wait(n, retry_after))
                .flatten();
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => {
                    return Err(DeliveryError::Retryable {
                        url: shown,
                        detail,
                        attempts: n,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_is_never_shown() {
        let u = WebhookUrl::parse("https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers&sv=1.0&sig=SECRETSIG").unwrap();
        assert_eq!(
            u.redacted(),
            "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?…"
        );
        assert!(!format!("{u:?}").contains("SECRETSIG"));
        let e = WebhookUrl::parse("http://hooks.example/x?code=SECRETCODE").unwrap_err();
        assert!(e.starts_with(SETTING) && !e.contains("SECRETCODE"), "{e}");
        assert!(WebhookUrl::parse("http://127.0.0.1:9/x?code=1").is_ok());
        let e = WebhookUrl::parse("not a url ?code=SECRETCODE").unwrap_err();
        assert!(!e.contains("SECRETCODE"), "{e}");
        let e = WebhookUrl::parse("https://user:pw@hooks.example/x").unwrap_err();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn backoff_doubles_and_gives_up_past_its_cap() {
        let b = Backoff::default();
        assert_eq!(b.wait(1, None), Some(Duration::from_secs(1)));
        assert_eq!(b.wait(2, None), Some(Duration::from_secs(2)));
        assert_eq!(b.wait(3, None), Some(Duration::from_secs(4)));
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(b.wait(1, Some(Duration::from_secs(600))), None);
        for s in [408, 429, 500, 502, 503] {
            assert!(retryable_status(s));
        }
        for s in [400, 401, 403, 404, 413] {
            assert!(!retryable_status(s));
        }
    }
}
