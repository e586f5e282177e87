//! The Service Bus REST sender against a local warp endpoint that checks what Azure checks.

use bytes::Bytes;
use ferry::auth::DevToken;
use ferry::bus::sas::verify_sas;
use ferry::bus::{BusAuth, BusError, MessageSender, OutgoingMessage, RetryPolicy, ServiceBusRest};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::macros::datetime;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

#[derive(Debug, Clone)]
struct Seen {
    queue: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Endpoint {
    seen: Mutex<Vec<Seen>>,
    hits: Mutex<HashMap<String, u32>>,
}

async fn start(ep: Arc<Endpoint>) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let route = warp::post()
        .and(warp::path!(String / "messages"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |queue: String, headers: HeaderMap, body: Bytes| {
            let queue = percent_encoding::percent_decode_str(&queue)
                .decode_utf8_lossy()
                .to_string();
            let n = {
                let mut hits = ep.hits.lock().unwrap();
                let n = hits.entry(queue.clone()).or_default();
                *n += 1;
                *n
            };
            ep.seen.lock().unwrap().push(Seen {
                queue: queue.clone(),
                headers: headers.clone(),
                body: String::from_utf8_lossy(&body).to_string(),
            });
            let status = match queue.as_str() {
                "unauth" => StatusCode::UNAUTHORIZED,
                "forbidden" => StatusCode::FORBIDDEN,
                "gone" => StatusCode::GONE,
                "toolarge" => StatusCode::PAYLOAD_TOO_LARGE,
                "down" => StatusCode::INTERNAL_SERVER_ERROR,
                "flaky" if n <= 2 => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::CREATED,
            };
            warp::reply::with_status(
                format!(
                    "<Error><Code>{}</Code><Detail>detail for {queue}</Detail></Error>",
                    status.as_u16()
                ),
                status,
            )
        });
    tokio::spawn(warp::serve(route).incoming(listener).run());
    url::Url::parse(&format!("http://{addr}")).unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn message(id: &str) -> OutgoingMessage {
    let mut m = OutgoingMessage::json(id, format!("{{\"id\":\"{id}\"}}")).with_session("chain-1");
    m.scheduled_enqueue_time = Some(datetime!(2026-11-01 10:00 UTC));
    m.label = Some("copy".into());
    m.correlation_id = Some("corr".into());
    m.time_to_live = Some(Duration::from_secs(3600));
    m.properties.insert("Priority".into(), "High".into());
    m
}

#[tokio::test]
async fn single_message_with_bearer_token() {
    let ep = Arc::new(Endpoint::default());
    let url = start(ep.clone()).await;
    let sender =
        ServiceBusRest::new(url, BusAuth::Token(Arc::new(DevToken::new("tok-123")))).unwrap();
    sender
        .send("copy-requests", vec![message("m1")])
        .await
        .unwrap();
    let seen = ep.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.queue, "copy-requests");
    assert_eq!(s.headers["authorization"], "Bearer tok-123");
    assert_eq!(s.headers["content-type"], "application/json");
    assert_eq!(s.headers["priority"], "High");
    let bp: Value = serde_json::from_str(s.headers["brokerproperties"].to_str().unwrap()).unwrap();
    assert_eq!(
        bp,
        json!({"MessageId": "m1", "SessionId": "chain-1",
               "ScheduledEnqueueTimeUtc": "Sun, 01 Nov 2026 10:00:00 GMT",
               "Label": "copy", "CorrelationId": "corr", "TimeToLive": 3600.0})
    );
    assert_eq!(s.body, r#"{"id":"m1"}"#);
}

#[tokio::test]
async fn batch_with_sas_from_connection_string() {
    let ep = Arc::new(Endpoint::default());
    let url = start(ep.clone()).await;
    let cs = format!(
        "Endpoint=sb://127.0.0.1:{}/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0a2V5PQ==",
        url.port().unwrap()
    );
    let (endpoint, auth) = BusAuth::from_connection_string(&cs).unwrap();
    assert_eq!(endpoint.scheme(), "http", "loopback stays plain HTTP");
    assert!(
        !format!("{auth:?}").contains("c2VjcmV0"),
        "Debug must not show the key"
    );
    let sender = ServiceBusRest::new(endpoint, auth).unwrap();
    sender
        .send("queue with space", vec![message("a"), message("b")])
        .await
        .unwrap_err();
    sender
        .send("batch", vec![message("a"), message("b")])
        .await
        .unwrap();
    let seen = ep.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "an invalid name never reaches the wire");
    let s = &seen[0];
    assert_eq!(
        s.headers["content-type"],
        "application/vnd.microsoft.servicebus.json"
    );
    let auth = s.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("SharedAccessSignature sr=http%3A%2F%2F127.0.0.1"),
        "{auth}"
    );
    assert!(auth.contains("&skn=send"));
    assert!(
        verify_sas(auth, "c2VjcmV0a2V5PQ=="),
        "signature checks out with the key"
    );
    let body: Value = serde_json::from_str(&s.body).unwrap();
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["Body"], json!(r#"{"id":"a"}"#));
    assert_eq!(items[1]["BrokerProperties"]["MessageId"], json!("b"));
    assert_eq!(items[1]["BrokerProperties"]["SessionId"], json!("chain-1"));
    assert_eq!(items[0]["UserProperties"], json!({"Priority": "High"}));
}

#[tokio::test]
async fn error_mapping_and_retries() {
    let ep = Arc::new(Endpoint::default());
    let url = start(ep.clone()).await;
    let sender = ServiceBusRest::new(url, BusAuth::Token(Arc::new(DevToken::new("t"))))
        .unwrap()
        .with_retry(fast());
    for (q, status) in [("unauth", 401), ("forbidden", 403), ("gone", 410)] {
        match sender.send(q, vec![message("x")]).await {
            Err(BusError::Config {
                queue,
                status: s,
                message,
            }) => {
                assert_eq!((queue.as_str(), s), (q, status));
                assert!(message.contains("check"), "{message}");
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    assert!(matches!(
        sender.send("toolarge", vec![message("x")]).await,
        Err(BusError::Rejected { status: 413, .. })
    ));
    // Two 500s then 201: retried inside send.
    sender.send("flaky", vec![message("x")]).await.unwrap();
    assert!(matches!(
        sender.send("down", vec![message("x")]).await,
        Err(BusError::Transient(_))
    ));
    let hits = ep.hits.lock().unwrap().clone();
    assert_eq!(hits["flaky"], 3);
    assert_eq!(hits["down"], 3, "attempts are bounded");
    assert_eq!(hits["unauth"], 1, "config errors are not retried");
    assert_eq!(hits["toolarge"], 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let sender = ServiceBusRest::new(url, BusAuth::Token(Arc::new(DevToken::new("t"))))
        .unwrap()
        .with_retry(fast());
    assert!(matches!(
        sender.send("q", vec![message("x")]).await,
        Err(BusError::Transient(_))
    ));
    assert!(BusAuth::from_connection_string("Endpoint=sb://x/;SharedAccessKeyName=a").is_err());
    assert!(ServiceBusRest::new(
        url::Url::parse("ftp://x").unwrap(),
        BusAuth::Token(Arc::new(DevToken::new("t")))
    )
    .is_err());
}
