//! One invocation as the host runs it: post it, restart a dead worker, keep its logs, and
//! apply its output bindings (Service Bus sends, collected values), warning about handler bugs
//! the real host would hide.

use base64::Engine;
use serde_json::{Map, Value};

use super::invoke;
use super::servicebus::IncomingMessage;
use super::{lock, FunctionDef, Host, HostLog, InvocationOutcome, OutputKind};

/// The host decodes a string output that is valid base64 into bytes (unless
/// `dataType: binary`), which silently corrupts text that happens to be base64.
fn looks_like_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

impl Host {
    /// Invokes a function and applies its outputs; failures are counted, not retried here.
    pub(super) async fn invoke(&self, f: &FunctionDef, payload: &Value) -> InvocationOutcome {
        let base = self.handler_url();
        let mut o = invoke::post_invocation(
            &self.client,
            &base,
            &f.name,
            payload,
            self.host_json.function_timeout,
        )
        .await;
        lock(&self.stats).invocations += 1;
        if o.status.is_none() {
            // No answer at all: the worker may have died. Like the real host, bring it back
            // before dispatching anything else (its listeners pause while the worker
            // restarts), instead of burning every queued message's deliveries on a dead port.
            if let Err(e) = self.recover_handler().await {
                self.warn(format!("the handler could not be restarted: {e}"));
            }
        }
        if o.succeeded {
            {
                let mut logs = lock(&self.logs);
                for line in &o.logs {
                    tracing::info!(target: "ferry::sim::host::function", function = %f.name, invocation = %o.invocation_id, "{line}");
                    logs.push(HostLog {
                        function: f.name.clone(),
                        invocation_id: o.invocation_id.clone(),
                        line: line.clone(),
                    });
                }
            }
            if let Err(e) = self.apply_outputs(f, &o.outputs) {
                o.succeeded = false;
                o.error = Some(e);
            }
        }
        if !o.succeeded {
            lock(&self.stats).failures += 1;
            tracing::warn!(target: "ferry::sim::host", function = %f.name, invocation = %o.invocation_id,
                error = o.error.as_deref().unwrap_or(""), "invocation failed");
        }
        o
    }

    /// Sends Service Bus outputs and collects every output value, like the host's binders.
    fn apply_outputs(&self, f: &FunctionDef, outputs: &Map<String, Value>) -> Result<(), String> {
        for name in outputs.keys() {
            if !f.outputs.iter().any(|o| &o.name == name) {
                self.warn(format!(
                    "handler bug: function `{}` returned output `{name}`, which its function.json does not declare (the host drops it)",
                    f.name
                ));
            }
        }
        // Check everything first: a failing binding fails the invocation and nothing is sent.
        let mut sends: Vec<(String, Vec<IncomingMessage>)> = Vec::new();
        let mut collected: Vec<(String, Value)> = Vec::new();
        for ob in &f.outputs {
            let Some(v) = outputs.get(&ob.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let items: Vec<&Value> = match (&ob.kind, v) {
                (OutputKind::Http, _) => vec![v],
                (_, Value::Array(a)) => a.iter().collect(),
                _ => vec![v],
            };
            let binary = ob.data_type.as_deref() == Some("binary");
            let mut msgs = Vec::new();
            for item in items {
                if let (Value::String(s), false, false) =
                    (item, binary, matches!(ob.kind, OutputKind::Http))
                {
                    if looks_like_base64(s) {
                        self.warn(format!(
                            "handler bug: function `{}` output `{}` value {s:?} is valid base64; the real host would send the decoded bytes",
                            f.name, ob.name
                        ));
                    }
                }
                let decoded = match item {
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| item.clone()),
                    other => other.clone(),
                };
                collected.push((ob.name.clone(), decoded));
                if let OutputKind::ServiceBus { .. } = ob.kind {
                    let body = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    msgs.push(IncomingMessage {
                        body,
                        content_type: Some("application/json".into()),
                        ..Default::default()
                    });
                }
            }
            if let OutputKind::ServiceBus { entity, .. } = &ob.kind {
                if self.broker.is_session_entity(entity) {
                    return Err(format!(
                        "output binding `{}` cannot send to session-enabled entity `{entity}` (no SessionId)",
                        ob.name
                    ));
                }
                sends.push((entity.clone(), msgs));
            }
        }
        for (entity, msgs) in sends {
            if msgs.is_empty() {
                continue;
            }
            self.broker.send(&entity, msgs).map_err(|r| {
                format!("output to `{entity}` refused ({}): {}", r.status, r.detail)
            })?;
        }
        let mut out = lock(&self.outputs);
        let n = collected.len() as u64;
        for (k, v) in collected {
            out.entry(k).or_default().push(v);
        }
        lock(&self.stats).outputs += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_check() {
        assert!(looks_like_base64("aGVsbG8="));
        assert!(!looks_like_base64("{\"a\":1}"));
        assert!(!looks_like_base64(""));
    }
}
