//! The handler process as the host keeps it: its current URL, brought back after it died,
//! restarted on demand, killed at shutdown (the process itself: [`super::invoke`]).

use std::time::Duration;

use url::Url;

use super::invoke;
use super::{lock, Host, HostError};

/// Readiness probe limit (host code: 30 s).
pub(super) const PROBE_LIMIT: Duration = Duration::from_secs(30);

impl Host {
    /// The handler's current base URL.
    pub fn handler_url(&self) -> Url {
        lock(&self.handler_base).clone()
    }

    /// Waits for a restart in progress, and restarts a spawned handler that has exited.
    pub(super) async fn recover_handler(&self) -> Result<(), HostError> {
        let Some(spec) = &self.spawn_spec else {
            return Ok(());
        };
        let mut h = self.handler.lock().await;
        let exited = match h.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Err(e)) => Some(e.to_string()),
            None => Some("no process".into()),
            Some(Ok(None)) => None,
        };
        let Some(why) = exited else {
            return Ok(());
        };
        tracing::warn!(target: "ferry::sim::host", "handler process exited ({why}); restarting it");
        invoke::kill(&mut h).await;
        *h = invoke::spawn(spec)?;
        invoke::probe(&self.client, &mut h, PROBE_LIMIT).await?;
        *lock(&self.handler_base) = h.base.clone();
        lock(&self.stats).handler_restarts += 1;
        Ok(())
    }

    /// Kills a spawned handler with SIGKILL and starts it again (new port), then re-probes.
    pub async fn restart_handler(&self) -> Result<(), HostError> {
        let Some(spec) = &self.spawn_spec else {
            return Err(HostError::Handler(
                "the handler was given by URL; only a spawned handler can be restarted".into(),
            ));
        };
        let mut h = self.handler.lock().await;
        invoke::kill(&mut h).await;
        *h = invoke::spawn(spec)?;
        invoke::probe(&self.client, &mut h, PROBE_LIMIT).await?;
        *lock(&self.handler_base) = h.base.clone();
        lock(&self.stats).handler_restarts += 1;
        Ok(())
    }

    pub async fn shutdown(self) {
        let mut h = self.handler.lock().await;
        invoke::kill(&mut h).await;
        if let Some(tx) = lock(&self.shutdown).take() {
            let _ = tx.send(());
        }
    }
}
