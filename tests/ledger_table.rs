//! The Table Storage ledger against Azurite (the conformance suite), Shared Key
//! signatures against known vectors, and bearer-token auth and error mapping against a
//! local warp endpoint.

use ferry::auth::{AccessToken, AuthError, DevToken, TokenProvider};
use ferry::ledger::memory::MemoryLedger;
use ferry::ledger::table::{sign, RetryPolicy, TableAuth, TableLedger};
use ferry::ledger::{Entity, Ledger, LedgerError, Op, Query, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::http::{HeaderMap, Response, StatusCode};
use warp::Filter;

#[path = "support/ledger_conformance/mod.rs"]
mod conformance;

/// The memory ledger (what `FERRY_LEDGER=memory`, the demo and the tests use) passes the
/// same suite as Table Storage.
#[tokio::test]
async fn memory_conformance() {
    conformance::run(&MemoryLedger::new()).await;
}

/// The Azurite table endpoint from `scripts/test`, or `None` when explicitly skipped with
/// `FERRY_SKIP_AZURITE=1` (refused on CI, where `CI` is set: a skipped test would count as
/// passed). The same rule as `explicit_skip` in tests/common/mod.rs, which this file does not
/// include.
fn azurite() -> Option<String> {
    let on_ci = std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    });
    let skip =
        std::env::var("FERRY_SKIP_AZURITE").is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0");
    match std::env::var("FERRY_TEST_AZURITE_TABLE") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().trim_end_matches('/').to_string()),
        _ if skip && on_ci => panic!(
            "FERRY_SKIP_AZURITE is set, but so is CI: on CI no test may be skipped; unset it"
        ),
        _ if skip => {
            eprintln!("FERRY_SKIP_AZURITE is set: the Azurite tests are skipped");
            None
        }
        _ => panic!(
            "FERRY_TEST_AZURITE_TABLE is not set: run the tests with `scripts/test` (it starts \
             Azurite), or set FERRY_SKIP_AZURITE=1 (refused on CI) to skip the Azurite tests"
        ),
    }
}

fn fresh_table() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

fn azurite_ledger(endpoint: &str, table: &str) -> TableLedger {
    let setting = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
         AccountKey={};TableEndpoint={endpoint};Table={table}",
        ferry::ledger::table::setting::DEV_KEY
    );
    TableLedger::from_setting(&setting, None).expect("connection string")
}

#[tokio::test]
async fn azurite_conformance() {
    let Some(endpoint) = azurite() else { return };
    let ledger = azurite_ledger(&endpoint, &fresh_table());
    conformance::run(&ledger).await;
}

#[tokio::test]
async fn azurite_entities_are_typed_for_other_readers() {
    let Some(endpoint) = azurite() else { return };
    let table = fresh_table();
    let ledger = azurite_ledger(&endpoint, &table);
    ledger.ensure().await.expect("ensure");
    let at = time::macros::datetime!(2026-05-06 07:08:09.1234567 UTC);
    let e = Entity::new("p", "r")
        .with("Count", Value::Int64(1 << 60))
        .with("At", Value::DateTime(at))
        .with("Ratio", Value::Double(2.0));
    ledger
        .batch("p", vec![Op::Insert(e)])
        .await
        .expect("insert");

    // Read it back with full metadata, as an SDK would, bypassing ferry's parser.
    let url = format!("{endpoint}/{table}(PartitionKey='p',RowKey='r')");
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let key = base64_decode(ferry::ledger::table::setting::DEV_KEY);
    let auth = sign::authorization(
        "devstoreaccount1",
        &key,
        "GET",
        "",
        &date,
        &url::Url::parse(&url).unwrap(),
    );
    let body: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .header("x-ms-date", &date)
        .header("x-ms-version", "2019-02-02")
        .header("Accept", "application/json;odata=fullmetadata")
        .header("Authorization", auth)
        .send()
        .await
        .expect("raw get")
        .error_for_status()
        .expect("raw get status")
        .json()
        .await
        .expect("raw get json");
    assert_eq!(body["Count@odata.type"], "Edm.Int64", "{body}");
    assert_eq!(body["Count"], (1i64 << 60).to_string());
    assert_eq!(body["At@odata.type"], "Edm.DateTime", "{body}");
    assert_eq!(body["At"], "2026-05-06T07:08:09.1234567Z");
    // 100 ns precision survives the round trip through ferry too.
    let got = ledger.get("p", "r").await.expect("get").expect("row");
    assert_eq!(got.time("At"), Some(at));
    assert_eq!(got.properties["Ratio"], Value::Double(2.0));
}

#[tokio::test]
async fn azurite_errors() {
    let Some(endpoint) = azurite() else { return };
    // A table that was never created.
    let ledger = azurite_ledger(&endpoint, &fresh_table());
    match ledger.query(&Query::partition("p"), None).await {
        Err(LedgerError::NotFound(m)) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("query on a missing table: {other:?}"),
    }
    // A wrong key is an Auth error naming the table and the auth kind, not the key.
    let table = fresh_table();
    let wrong = TableLedger::new(
        url::Url::parse(&format!("{endpoint}/{table}")).unwrap(),
        TableAuth::SharedKey {
            account: "devstoreaccount1".into(),
            key: b"not-the-key".to_vec(),
        },
    )
    .unwrap();
    match wrong.ensure().await {
        Err(LedgerError::Auth(m)) => {
            assert!(m.contains(&table), "{m}");
            assert!(m.contains("shared key"), "{m}");
            assert!(!m.contains("not-the-key"), "{m}");
        }
        other => panic!("wrong key: {other:?}"),
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

// Vectors computed with Azurite's own signer (node crypto HMAC), independently of ferry.
#[test]
fn shared_key_signatures_match_known_vectors() {
    let dev = base64_decode(ferry::ledger::table::setting::DEV_KEY);
    let url = url::Url::parse("http://127.0.0.1:10002/devstoreaccount1/ferry()?$top=5").unwrap();
    assert_eq!(
        sign::authorization(
            "devstoreaccount1",
            &dev,
            "GET",
            "",
            "Wed, 25 Nov 2026 15:41:08 GMT",
            &url
        ),
        "SharedKey devstoreaccount1:MuLBjHQz4JaUJ93ReGiOkzcmzhHRqflpoXQTg10ah/Q="
    );
    let key = base64_decode("c2VjcmV0LWtleS1mb3ItdGVzdHM=");
    let url = url::Url::parse("https://myaccount.table.core.windows.net/$batch").unwrap();
    assert_eq!(
        sign::authorization(
            "myaccount",
            &key,
            "POST",
            "multipart/mixed; boundary=batch_1",
            "Thu, 01 Jan 2026 00:00:00 GMT",
            &url
        ),
        "SharedKey myaccount:unrNmmEWxY209yYyZmWaMjS0dPoevgaNXdf6kb2OhmE="
    );
    let url = url::Url::parse(
        "https://myaccount.table.core.windows.net/ferry(PartitionKey=%27p%27,RowKey=%27r%27)",
    )
    .unwrap();
    assert_eq!(
        sign::string_to_sign(
            "PUT",
            "",
            "application/json",
            "Mon, 02 Feb 2026 10:20:30 GMT",
            &sign::canonicalized_resource("myaccount", &url)
        ),
        "PUT\n\napplication/json\nMon, 02 Feb 2026 10:20:30 GMT\n/myaccount/ferry(PartitionKey=%27p%27,RowKey=%27r%27)"
    );
    assert_eq!(
        sign::authorization(
            "myaccount",
            &key,
            "PUT",
            "application/json",
            "Mon, 02 Feb 2026 10:20:30 GMT",
            &url
        ),
        "SharedKey myaccount:P5jgns/ydUepIvWJOj4xQdVDuNDE9BoDTbUJOwIMsHQ="
    );
}

/// What the fake endpoint saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
}

/// A loopback endpoint answering every request with `respond(n)` for the n-th request.
async fn endpoint(
    respond: impl Fn(usize, &Seen) -> Response<String> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let respond = Arc::new(respond);
    let route = warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |m: warp::http::Method,
                  p: warp::path::FullPath,
                  h: HeaderMap,
                  _b: bytes::Bytes| {
                let s = Seen {
                    method: m.to_string(),
                    path: p.as_str().to_string(),
                    headers: h,
                };
                let mut log = log.lock().unwrap();
                log.push(s.clone());
                respond(log.len() - 1, &s)
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}/acct/ferry"), seen)
}

fn fast(l: TableLedger) -> TableLedger {
    l.with_retry(RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(5),
    })
}

#[tokio::test]
async fn token_auth_sends_bearer_and_version() {
    let (url, seen) = endpoint(|_, s| {
        if s.method == "GET" {
            Response::builder()
                .status(200)
                .header("ETag", "W/\"datetime'2026-01-01T00%3A00%3A00.0000000Z'\"")
                .header("Content-Type", "application/json;odata=minimalmetadata")
                .body(
                    r#"{"PartitionKey":"p","RowKey":"r","N@odata.type":"Edm.Int64","N":"7"}"#
                        .to_string(),
                )
                .unwrap()
        } else {
            Response::builder().status(204).body(String::new()).unwrap()
        }
    })
    .await;
    let ledger =
        fast(TableLedger::from_setting(&url, Some(Arc::new(DevToken::new("tok-123")))).unwrap());
    ledger.ensure().await.expect("ensure");
    let e = ledger.get("p", "r").await.expect("get").expect("row");
    assert_eq!(e.i64("N"), Some(7));
    assert_eq!(
        e.etag.unwrap().0,
        "W/\"datetime'2026-01-01T00%3A00%3A00.0000000Z'\""
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/acct/Tables");
    assert_eq!(seen[1].path, "/acct/ferry(PartitionKey='p',RowKey='r')");
    for s in &seen {
        assert_eq!(s.headers["authorization"], "Bearer tok-123");
        assert_eq!(s.headers["x-ms-version"], "2019-02-02");
        assert!(s.headers.contains_key("x-ms-date"));
        assert_eq!(s.headers["dataserviceversion"], "3.0");
        assert_eq!(s.headers["maxdataserviceversion"], "3.0;NetFx");
        assert_eq!(
            s.headers["accept"],
            "application/json;odata=minimalmetadata"
        );
    }
}

#[tokio::test]
async fn throttling_is_retried_then_unavailable() {
    let (url, seen) = endpoint(|n, _| {
        let status = if n < 2 { 503 } else { 429 };
        Response::builder()
            .status(status)
            .body(String::new())
            .unwrap()
    })
    .await;
    let ledger = fast(TableLedger::from_setting(&url, Some(Arc::new(DevToken::new("t")))).unwrap());
    match ledger.get("p", "r").await {
        Err(e @ LedgerError::Unavailable(_)) => assert!(e.is_transient()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts");

    // A transient failure followed by success is invisible to the caller.
    let (url, seen) = endpoint(|n, _| {
        let status = if n == 0 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        };
        Response::builder()
            .status(status)
            .header("ETag", "W/\"x\"")
            .body(String::new())
            .unwrap()
    })
    .await;
    let ledger = fast(TableLedger::from_setting(&url, Some(Arc::new(DevToken::new("t")))).unwrap());
    let etags = ledger
        .batch("p", vec![Op::Upsert(Entity::new("p", "r"))])
        .await
        .expect("upsert after one retry");
    assert_eq!(etags[0].as_ref().unwrap().0, "W/\"x\"");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // Bind and drop to get a loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ledger = fast(
        TableLedger::from_setting(
            &format!("http://127.0.0.1:{port}/acct/ferry"),
            Some(Arc::new(DevToken::new("t"))),
        )
        .unwrap(),
    );
    assert!(matches!(
        ledger.ensure().await,
        Err(LedgerError::Unavailable(_))
    ));
}

struct NoToken;

#[async_trait::async_trait]
impl TokenProvider for NoToken {
    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        Err(AuthError::Unavailable("no managed identity here".into()))
    }
    fn kind(&self) -> &'static str {
        "managed-identity"
    }
}

#[tokio::test]
async fn auth_failures_name_table_and_credential_kind() {
    let (url, _) = endpoint(|_, _| {
        Response::builder()
            .status(403)
            .header("x-ms-error-code", "AuthorizationPermissionMismatch")
            .body("<?xml version=\"1.0\"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized.\nRequestId:1</Message></Error>".to_string())
            .unwrap()
    })
    .await;
    let ledger = fast(
        TableLedger::from_setting(&url, Some(Arc::new(DevToken::new("secret-token")))).unwrap(),
    );
    match ledger.query(&Query::default(), None).await {
        Err(LedgerError::Auth(m)) => {
            assert!(m.contains(&url), "{m}");
            assert!(m.contains("bearer token (dev-token)"), "{m}");
            assert!(m.contains("AuthorizationPermissionMismatch"), "{m}");
            assert!(!m.contains("secret-token"), "{m}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let ledger = TableLedger::from_setting(&url, Some(Arc::new(NoToken))).unwrap();
    match ledger.ensure().await {
        Err(LedgerError::Auth(m)) => assert!(m.contains("managed-identity"), "{m}"),
        other => panic!("expected Auth, got {other:?}"),
    }
}
