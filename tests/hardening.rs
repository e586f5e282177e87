//! Input hardening of the handler: body limits (with and without a Content-Length, as the
//! real host sends chunked bodies), the status API's parameter validation, and the status
//! function's key requirement.

use ferry::arm::{ArmClient, ArmConfig};
use ferry::auth::DevToken;
use ferry::bus::{BusError, MessageSender, Outbox, OutgoingMessage};
use ferry::functions::App;
use ferry::ledger::memory::MemoryLedger;
use ferry::permissions::EntityNames;
use ferry::policy::Policy;
use ferry::server::{self, MAX_BODY};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Records what would have been sent to Service Bus.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, OutgoingMessage)>>,
}

#[async_trait::async_trait]
impl MessageSender for Recorder {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        let mut sent = self.sent.lock().unwrap();
        sent.extend(messages.into_iter().map(|m| (queue.to_string(), m)));
        Ok(())
    }
}

fn app() -> Arc<App> {
    // Nothing in these tests reaches ARM; port 9 (discard) would refuse if it did.
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: "http://127.0.0.1:9".parse().unwrap(),
            ..ArmConfig::default()
        },
        Arc::new(DevToken::new("test")),
    )
    .unwrap();
    let policy = Policy::parse(
        r#"{"rules":[{"scope":"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-app","targets":[{"region":"westus2"}]}]}"#,
    )
    .unwrap();
    Arc::new(App {
        arm,
        ledger: Arc::new(MemoryLedger::new()),
        bus: Outbox::new(Arc::new(Recorder::default()), EntityNames::defaults()),
        policy,
        stall_after: time::Duration::hours(6),
        expiry_warning: time::Duration::days(2),
        poll_concurrency: 4,
        poll_budget: std::time::Duration::from_secs(480),
        #[cfg(feature = "sim")]
        telemetry: Default::default(),
        alert_webhook: None,
        fail_points: None,
    })
}

/// A non-forwarded httpTrigger invocation of `status/{view}` with `query`.
fn status_invocation(view: &str, query: Value) -> Vec<u8> {
    json!({
        "Data": {"req": {
            "Url": format!("https://ferry.azurewebsites.net/api/status/{view}"),
            "Method": "GET",
            "Query": query,
            "Headers": {"Accept": ["application/json"]},
            "Params": {"view": view},
        }},
        "Metadata": {"sys": {"MethodName": "status", "UtcNow": "2026-11-02T00:00:00Z"}},
    })
    .to_string()
    .into_bytes()
}

async fn call_status(app: &Arc<App>, view: &str, query: Value) -> (u16, Value) {
    let resp = warp::test::request()
        .method("POST")
        .path("/status")
        .body(status_invocation(view, query))
        .reply(&server::routes(app.clone()))
        .await;
    assert_eq!(resp.status(), 200, "the invocation itself succeeds");
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    let res = &v["Outputs"]["res"];
    (
        res["statusCode"].as_u64().unwrap() as u16,
        res["body"].clone(),
    )
}

const RP: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/rpc-vm1-westus2/restorePoints/rp-20261101";

#[tokio::test]
async fn status_rejects_unknown_views_parameters_and_malformed_ids() {
    let app = app();
    // A good request first, so the 400s below are about the input.
    let (status, body) = call_status(&app, "chains", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call_status(&app, "readiness", json!({ "restorePoint": RP })).await;
    assert_ne!(status, 400);

    let cases = [
        ("secrets", json!({}), "unknown view"),
        ("chains", json!({"key": "x"}), "unknown query parameter"),
        (
            "chain",
            json!({"key": "k", "restorePoint": RP}),
            "unknown query parameter",
        ),
        ("chain", json!({"key": "not-a-uuid"}), "UUID"),
        ("chain", json!({}), "UUID"),
        ("readiness", json!({}), "needs ?restorePoint"),
        (
            "readiness",
            json!({"restorePoint": format!("{RP}/../../x")}),
            "not a valid",
        ),
        (
            "readiness",
            json!({"restorePoint": format!("{RP}?api-version=1")}),
            "not a valid",
        ),
        (
            "lineage",
            json!({"restorePoint": RP.replace("rp-20261101", "a%2Fb")}),
            "not a valid",
        ),
        (
            "lineage",
            json!({"restorePoint": "https://evil.example/x"}),
            "not a valid",
        ),
    ];
    for (view, query, want) in cases {
        let (status, body) = call_status(&app, view, query.clone()).await;
        assert_eq!(status, 400, "{view} {query}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{view} {query}: {msg}");
        assert_eq!(body["error"]["code"], "BadRequest");
    }
}

#[tokio::test]
async fn status_function_needs_the_function_key() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/status/function.json"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let trigger = v["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "httpTrigger")
        .expect("status has an httpTrigger");
    assert_eq!(trigger["authLevel"], "function");
    assert_eq!(trigger["methods"], json!(["get"]));
    // No other function is reachable over HTTP at all.
    for entry in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions"))
            .unwrap()
    {
        let path = entry.unwrap().path().join("function.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for b in v["bindings"].as_array().unwrap() {
            if b["type"] == "httpTrigger" {
                assert_ne!(b["authLevel"], "anonymous", "{}", path.display());
                assert!(path.ends_with("status/function.json"), "{}", path.display());
            }
        }
    }
}

#[tokio::test]
async fn oversized_invocation_is_413() {
    let app = app();
    let routes = server::routes(app.clone());
    let big = vec![b' '; 5 * 1024 * 1024];
    let resp = warp::test::request()
        .method("POST")
        .path("/ingest")
        .body(&big)
        .reply(&routes)
        .await;
    assert_eq!(resp.status(), 413);
    let v: Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(v["error"].as_str().unwrap().contains(&MAX_BODY.to_string()));
    // Exactly at the limit is read (and then refused as not JSON, but not as too large).
    let at_limit = vec![b' '; MAX_BODY as usize];
    let resp = warp::test::request()
        .method("POST")
        .path("/ingest")
        .body(&at_limit)
        .reply(&routes)
        .await;
    assert_eq!(resp.status(), 200);
}

async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn chunked_invocations_are_served_and_a_huge_one_does_not_stop_the_server() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr, handle) = server::serve(app(), "127.0.0.1:0".parse().unwrap(), async {
        let _ = rx.await;
    })
    .await
    .unwrap();

    // The real host sends invocations chunked, with no Content-Length.
    let body = status_invocation("chains", json!({}));
    let mut req = format!(
        "POST /status HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let resp = raw_http(addr, &req).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"statusCode\":200"), "{resp}");

    // A declared 5 MiB body is refused before any of it is read.
    let resp = raw_http(
        addr,
        format!(
            "POST /ingest HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            5 * 1024 * 1024
        )
        .as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

    // And the server still answers.
    let resp = raw_http(
        addr,
        b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let _ = tx.send(());
    handle.await.unwrap();
}

/// A loopback server that answers every request with a 307 to `to`, and one that counts
/// what reaches it: a client that followed the redirect would hand its Authorization
/// header to whatever the redirect names.
async fn redirect_trap() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use warp::Filter;
    let reached = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = reached.clone();
    let sink = warp::any().map(move || {
        r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        "{}"
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = l.local_addr().unwrap();
    tokio::spawn(warp::serve(sink).incoming(l).run());
    let to = format!("http://{sink_addr}/stolen");
    let redirect = warp::any().map(move || {
        warp::http::Response::builder()
            .status(307)
            .header("location", to.clone())
            .body(String::new())
            .unwrap()
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(warp::serve(redirect).incoming(l).run());
    (format!("http://{addr}"), reached)
}

#[tokio::test]
async fn table_and_service_bus_clients_do_not_follow_redirects() {
    use ferry::bus::{BusAuth, RetryPolicy as BusRetry, ServiceBusRest};
    use ferry::ledger::table::{TableAuth, TableLedger};
    use ferry::ledger::Ledger;
    let (url, reached) = redirect_trap().await;

    let table = TableLedger::new(
        format!("{url}/devstoreaccount1/ferry").parse().unwrap(),
        TableAuth::Token(Arc::new(DevToken::new("storage-token"))),
    )
    .unwrap();
    assert!(table.ensure().await.is_err(), "a 307 is not success");

    let bus = ServiceBusRest::new(
        url.parse().unwrap(),
        BusAuth::Token(Arc::new(DevToken::new("bus-token"))),
    )
    .unwrap()
    .with_retry(BusRetry {
        attempts: 1,
        ..BusRetry::default()
    });
    let sent = bus
        .send("copy-requests", vec![OutgoingMessage::json("m1", "{}")])
        .await;
    assert!(sent.is_err(), "a 307 is not success");
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a client followed the redirect with its token"
    );
}

#[test]
fn demo_args_debug_redacts_the_ledger_key() {
    let key = "c2VjcmV0LWFjY291bnQta2V5LXZhbHVl";
    let args = ferry::sim::demo::DemoArgs {
        ledger: Some(format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};TableEndpoint=http://127.0.0.1:10002/devstoreaccount1"
        )),
        ..ferry::sim::demo::DemoArgs::default()
    };
    let text = format!("{args:?}");
    assert!(!text.contains(key), "{text}");
    assert!(text.contains("127.0.0.1:10002"), "{text}");
}
