//! Alerts in the Common Alert Schema, on the wire: ferry's payloads against Microsoft's
//! sample (tests/fixtures/common-alert-schema), the `alert-webhook` function delivering to
//! a local receiver over loopback HTTP with retries, and the webhook URL's query string (a
//! secret) in no log line and no error.

mod common;

use ferry::alert_webhook::{AlertWebhook, Backoff, DeliveryError, WebhookUrl};
use ferry::alerts::{Alert, AlertKind};
use ferry::config::{Config, Mode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::Filter;

const SECRET: &str = "sig-SECRET-0123456789";

fn alert() -> Alert {
    let mut a = Alert::new(
        AlertKind::RpoBreached,
        "chain|2026-11-02T00:00:00Z",
        "RPO objective 24 h breached",
        time::macros::datetime!(2026-11-02 00:10 UTC),
    );
    a.source_collection = Some(common::collection("vm1"));
    a.source_vm = Some(format!(
        "{}/providers/Microsoft.Compute/virtualMachines/vm1",
        common::rg("rg-app")
    ));
    a
}

/// The JSON type of a value, as the schema check compares them.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn payloads_have_every_field_of_microsofts_sample() {
    let sample: Value = serde_json::from_str(include_str!(
        "fixtures/common-alert-schema/sample-alert-payload.docs.json"
    ))
    .unwrap();
    let a = alert();
    let resolved = ferry::common_alert_schema::payload(
        &a.clone()
            .resolved(time::macros::datetime!(2026-11-02 05:00 UTC)),
    );
    let fired = ferry::common_alert_schema::payload(&a);
    assert_eq!(resolved["schemaId"], sample["schemaId"]);
    let want = sample["data"]["essentials"].as_object().unwrap();
    for (k, v) in want {
        let got = &resolved["data"]["essentials"][k];
        assert_eq!(
            kind(got),
            kind(v),
            "essentials.{k}: {got} vs the sample's {v}"
        );
        if k != "resolvedDateTime" {
            assert_eq!(
                kind(&fired["data"]["essentials"][k]),
                kind(v),
                "fired essentials.{k}"
            );
        }
    }
    assert!(fired["data"]["essentials"]
        .get("resolvedDateTime")
        .is_none());
    for p in [&fired, &resolved] {
        assert!(p["data"]["alertContext"].is_object());
        // Times as the sample writes them: RFC 3339, UTC.
        let t = p["data"]["essentials"]["firedDateTime"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
        );
    }
    assert_eq!(
        fired["data"]["essentials"]["alertId"],
        resolved["data"]["essentials"]["alertId"]
    );
}

/// A receiver answering the given statuses in turn (then 202), recording what it got.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (g, c) = (got.clone(), calls.clone());
    let route = warp::post()
        .and(warp::path("hook"))
        .and(warp::body::json::<Value>())
        .map(move |body: Value| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(n).copied().unwrap_or(202);
            if status < 300 {
                g.lock().unwrap().push(body);
            }
            warp::reply::with_status(
                warp::reply(),
                warp::http::StatusCode::from_u16(status).unwrap(),
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}/hook?code={SECRET}"), got, calls)
}

fn quick() -> Backoff {
    Backoff {
        attempts: 3,
        first: Duration::from_millis(5),
        max: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_and_never_sees_a_duplicate() {
    let (url, got, calls) = receiver(vec![503, 500]).await;
    let hook = AlertWebhook::new(WebhookUrl::parse(&url).unwrap(), quick()).unwrap();
    assert_eq!(hook.deliver(&alert()).await, Ok(3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["schemaId"], "azureMonitorCommonAlertSchema");
    assert_eq!(got[0]["data"]["essentials"]["alertRule"], "RpoBreached");
}

#[tokio::test]
async fn errors_never_show_the_query_string() {
    // Still failing after the retries: the invocation fails (Service Bus redelivers).
    let (url, _, calls) = receiver(vec![503; 10]).await;
    let hook = AlertWebhook::new(WebhookUrl::parse(&url).unwrap(), quick()).unwrap();
    let e = hook.deliver(&alert()).await.unwrap_err();
    assert!(
        matches!(e, DeliveryError::Retryable { attempts: 3, .. }),
        "{e:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Refused for good: not retried.
    let (url2, _, calls2) = receiver(vec![400]).await;
    let hook2 = AlertWebhook::new(WebhookUrl::parse(&url2).unwrap(), quick()).unwrap();
    let e2 = hook2.deliver(&alert()).await.unwrap_err();
    assert!(matches!(e2, DeliveryError::Refused { .. }), "{e2:?}");
    assert_eq!(calls2.load(Ordering::SeqCst), 1);
    // Nobody listening: a connection error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hook3 = AlertWebhook::new(
        WebhookUrl::parse(&format!("http://{closed}/hook?code={SECRET}")).unwrap(),
        quick(),
    )
    .unwrap();
    let e3 = hook3.deliver(&alert()).await.unwrap_err();
    for text in [
        e.to_string(),
        format!("{e:?}"),
        e2.to_string(),
        e3.to_string(),
        format!("{e3:?}"),
        format!("{hook:?}"),
    ] {
        assert!(!text.contains(SECRET) && !text.contains("code="), "{text}");
        assert!(
            text.contains("/hook"),
            "the error still names the endpoint: {text}"
        );
    }
}

/// The function as the host runs it: the topic's JSON in, the webhook out; its log lines
/// and its error name the endpoint without the secret.
#[tokio::test]
async fn the_function_forwards_topic_messages_and_logs_no_secret() {
    let (url, got, _) = receiver(vec![]).await;
    let mut env = common::serve_env("http://127.0.0.1:9", &common::policy(), "memory");
    env.insert(
        "FERRY_SERVICEBUS_ENDPOINT".into(),
        "http://127.0.0.1:9".into(),
    );
    env.insert("FERRY_ALERT_WEBHOOK".into(), url);
    let config = Config::from_env(&env, Mode::Serve).unwrap();
    assert!(!format!("{config:?}").contains(SECRET));
    let app = ferry::bootstrap::build(&config).await.unwrap();
    let a = alert();
    let r = a
        .clone()
        .resolved(time::macros::datetime!(2026-11-02 05:00 UTC));
    for (msg, condition) in [(a.to_json(), "Fired"), (r.to_json(), "Resolved")] {
        let out = ferry::functions::alert_webhook::alert_webhook(&app, &msg)
            .await
            .unwrap();
        assert!(
            out.logs.iter().all(|l| !l.contains(SECRET)),
            "{:?}",
            out.logs
        );
        assert!(
            out.logs.iter().any(|l| l.contains(condition)),
            "{:?}",
            out.logs
        );
    }
    let got = got.lock().unwrap().clone();
    let conditions: Vec<&str> = got
        .iter()
        .map(|p| {
            p["data"]["essentials"]["monitorCondition"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(conditions, ["Fired", "Resolved"]);
    assert_eq!(
        got[0]["data"]["essentials"]["alertId"],
        got[1]["data"]["essentials"]["alertId"]
    );
    // Not an alert: skipped, not retried forever.
    let out = ferry::functions::alert_webhook::alert_webhook(&app, "{\"hello\":1}")
        .await
        .unwrap();
    assert!(out.logs[0].contains("not a ferry alert"));
}
