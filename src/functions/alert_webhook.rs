//! `alert-webhook`: triggered by the alerts topic's `webhook` subscription, sends each
//! alert (and each condition's end) to `FERRY_ALERT_WEBHOOK` in the Common Alert Schema.
//! See [`crate::alert_webhook`] for why delivery lives here and how it retries.

use super::{App, FnError, Outcome};
use crate::alert_webhook::DeliveryError;
use crate::alerts::Alert;

/// One message of the subscription: ferry's alert JSON, as on the topic.
pub async fn alert_webhook(app: &App, body: &str) -> Result<Outcome, FnError> {
    let mut out = Outcome::default();
    let Some(hook) = &app.alert_webhook else {
        out.log(format!(
            "{} is not set: alert not forwarded",
            crate::alert_webhook::SETTING
        ));
        return Ok(out);
    };
    // The body may arrive as the JSON text or as a JSON string holding it.
    let alert: Alert = match serde_json::from_str::<Alert>(body).or_else(|first| {
        serde_json::from_str::<String>(body)
            .map_err(|_| first)
            .and_then(|inner| serde_json::from_str::<Alert>(&inner))
    }) {
        Ok(a) => a,
        Err(e) => {
            // Not an alert: another producer on the topic. Resending cannot fix it.
            out.log(format!(
                "alert-webhook: message is not a ferry alert ({e}); skipped"
            ));
            return Ok(out);
        }
    };
    match hook.deliver(&alert).await {
        Ok(attempts) => {
            out.log(format!(
                "alert {} [{}] {} sent to {} ({attempts} attempt{})",
                alert.kind.as_str(),
                alert.id,
                alert.monitor_condition(),
                hook.url().redacted(),
                if attempts == 1 { "" } else { "s" }
            ));
            Ok(out)
        }
        Err(e @ DeliveryError::Refused { .. }) => {
            tracing::error!("{e}");
            out.log(format!("alert {} [{}]: {e}", alert.kind.as_str(), alert.id));
            Ok(out)
        }
        Err(e @ DeliveryError::Retryable { .. }) => Err(FnError::Other(e.to_string())),
    }
}
