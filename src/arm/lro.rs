//! Long-running operations: reading and polling the `Azure-AsyncOperation` URL ARM hands back
//! for a copy or a delete.

use std::time::Duration;

use reqwest::Method;
use url::Url;

use super::client::ArmClient;
use super::error::ArmError;
use super::model::OperationStatus;
use super::ratelimit::Budget;
use super::transport::{api_error, decode, parse_retry_after};

/// How often `wait_operation` polls when ARM gives no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(5);

impl ArmClient {
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
