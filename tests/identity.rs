//! ferry's identity layer against a local stand-in for the App Service / Functions managed
//! identity endpoint, over real HTTP on loopback:
//! `GET {IDENTITY_ENDPOINT}?resource=<resource>&api-version=2019-08-01[&client_id=<id>]`
//! with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`, answered with
//! `{"access_token","expires_on":"<epoch secs>","resource","token_type","client_id"}`.
//!
//! azure_identity 1.0 reads `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` from the process
//! environment only (its injectable `Env` is `cfg(test)`-private), and re-reads the header
//! on every request. So this binary sets both exactly once, to one shared endpoint, before
//! any credential exists, and never changes them; each test scripts its own `resource`
//! (its own scope) on that endpoint, so tests can run in parallel without racing.

use ferry::auth::{
    from_setting, AuthError, CachedTokens, ManagedIdentity, ManagedIdentityOptions, TokenProvider,
    ARM_SCOPE,
};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use time::OffsetDateTime;
use warp::http::StatusCode;
use warp::Filter;

const PLATFORM_HEADER: &str = "853b9a84-5bfa-4b22-a3f3-0b9a43d9ad8a";
const USER_ASSIGNED: &str = "5e29463d-71da-4fe0-8e69-999b57db23b0";
const SYSTEM_ASSIGNED: &str = "0d3c1a7e-1111-4222-8333-944455556666";

#[derive(Clone)]
enum Mode {
    /// Issue tokens valid for this many seconds.
    Issue { lifetime_secs: i64 },
    /// Answer 500 (the platform's token service is down).
    Fail500,
    /// Accept only this `X-IDENTITY-HEADER` value (the app holds a stale secret).
    RequireHeader(String),
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    identity_header: Option<String>,
}

#[derive(Default)]
struct State {
    /// Per resource: how to answer. Unknown resources get 400, like an unconfigured audience.
    scripts: Mutex<HashMap<String, Mode>>,
    requests: Mutex<Vec<Seen>>,
    issued: Mutex<u64>,
}

struct Endpoint {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Endpoint {
    fn script(&self, resource: &str, mode: Mode) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(resource.to_owned(), mode);
    }

    fn requests_for(&self, resource: &str) -> Vec<Seen> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.query.get("resource").map(String::as_str) == Some(resource))
            .cloned()
            .collect()
    }
}

fn answer(state: &State, seen: Seen) -> (StatusCode, serde_json::Value) {
    state.requests.lock().unwrap().push(seen.clone());
    if seen.query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported api-version"}),
        );
    }
    let Some(resource) = seen.query.get("resource").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "resource is required"}),
        );
    };
    let mode = state.scripts.lock().unwrap().get(&resource).cloned();
    let expected_header = match &mode {
        Some(Mode::RequireHeader(h)) => h.clone(),
        _ => PLATFORM_HEADER.to_owned(),
    };
    if seen.identity_header.as_deref() != Some(expected_header.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"statusCode": 401, "message": "Invalid X-IDENTITY-HEADER"}),
        );
    }
    let client_id = match seen.query.get("client_id") {
        None => SYSTEM_ASSIGNED.to_owned(),
        Some(id) if id.eq_ignore_ascii_case(USER_ASSIGNED) => id.clone(),
        Some(id) => {
            return (
                StatusCode::BAD_REQUEST,
                json!({"statusCode": 400, "message": format!("No identity with client id {id}")}),
            )
        }
    };
    match mode {
        Some(Mode::Issue { lifetime_secs }) => {
            let n = {
                let mut issued = state.issued.lock().unwrap();
                *issued += 1;
                *issued
            };
            let expires_on = OffsetDateTime::now_utc().unix_timestamp() + lifetime_secs;
            (
                StatusCode::OK,
                json!({
                    "access_token": format!("token-{n}-for-{client_id}"),
                    "expires_on": expires_on.to_string(),
                    "resource": resource,
                    "token_type": "Bearer",
                    "client_id": client_id,
                }),
            )
        }
        Some(Mode::Fail500) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"statusCode": 500, "message": "token service unavailable"}),
        ),
        Some(Mode::RequireHeader(_)) | None => (
            StatusCode::BAD_REQUEST,
            json!({"statusCode": 400, "message": format!("unknown resource {resource}")}),
        ),
    }
}

/// The one endpoint for this test binary; also sets `IDENTITY_ENDPOINT` / `IDENTITY_HEADER`.
fn endpoint() -> &'static Endpoint {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let state = Arc::new(State::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let server_state = Arc::clone(&state);
        // Own thread and runtime: each #[tokio::test] has a runtime that dies with it.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let route = warp::get()
                    .and(warp::path::full())
                    .and(warp::query::<HashMap<String, String>>())
                    .and(warp::header::optional::<String>("x-identity-header"))
                    .map(
                        move |path: warp::path::FullPath,
                              query: HashMap<String, String>,
                              identity_header: Option<String>| {
                            let seen = Seen {
                                path: path.as_str().to_owned(),
                                query,
                                identity_header,
                            };
                            let (status, body) = answer(&server_state, seen);
                            warp::reply::with_status(warp::reply::json(&body), status)
                        },
                    );
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                warp::serve(route).incoming(listener).run().await;
            });
        });
        // Set once, before any credential is built, and never changed (see module docs).
        std::env::set_var("IDENTITY_ENDPOINT", format!("http://{addr}/msi/token"));
        std::env::set_var("IDENTITY_HEADER", PLATFORM_HEADER);
        Endpoint { addr, state }
    })
}

fn no_retries(client_id: Option<&str>) -> ManagedIdentity {
    ManagedIdentity::with_options(ManagedIdentityOptions {
        client_id: client_id.map(str::to_owned),
        max_retries: 0,
    })
    .expect("managed identity")
}

#[tokio::test]
async fn system_assigned_token_over_plain_http_with_platform_query_and_header() {
    let ep = endpoint();
    let resource = "https://management.azure.com";
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    let before = OffsetDateTime::now_utc().unix_timestamp();

    let token = no_retries(None).token(ARM_SCOPE).await.expect("token");

    let seen = ep.requests_for(resource);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let req = &seen[0];
    assert_eq!(req.path, "/msi/token");
    // azure_identity turns `<resource>/.default` into `resource=<resource>`.
    assert_eq!(
        req.query.get("resource").map(String::as_str),
        Some(resource)
    );
    assert_eq!(
        req.query.get("api-version").map(String::as_str),
        Some("2019-08-01")
    );
    assert_eq!(
        req.query.get("client_id"),
        None,
        "system-assigned sends no id"
    );
    assert_eq!(req.identity_header.as_deref(), Some(PLATFORM_HEADER));
    assert!(token.secret.ends_with(&format!("-for-{SYSTEM_ASSIGNED}")));
    let expires = token.expires_on.unix_timestamp();
    assert!(
        expires >= before + 3600 && expires <= before + 3600 + 120,
        "{expires}"
    );
    assert!(!format!("{token:?}").contains(&token.secret));
    assert!(ep.addr.ip().is_loopback());
}

#[tokio::test]
async fn user_assigned_client_id_is_passed_through() {
    let ep = endpoint();
    let resource = "https://user-assigned.ferry.test";
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );

    let token = no_retries(Some(USER_ASSIGNED))
        .token(&format!("{resource}/.default"))
        .await
        .expect("token");

    let seen = ep.requests_for(resource);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].query.get("client_id").map(String::as_str),
        Some(USER_ASSIGNED)
    );
    assert!(token.secret.ends_with(&format!("-for-{USER_ASSIGNED}")));
}

#[tokio::test]
async fn identity_not_assigned_is_unavailable() {
    let ep = endpoint();
    let resource = "https://unassigned.ferry.test";
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    let stranger = "11111111-2222-3333-4444-555555555555";

    let err = no_retries(Some(stranger))
        .token(&format!("{resource}/.default"))
        .await
        .expect_err("unknown identity");

    assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 400"), "{msg}");
    assert!(msg.contains("not been assigned"), "{msg}");
    assert_eq!(ep.requests_for(resource).len(), 1, "400 is not retried");
}

#[tokio::test]
async fn from_setting_default_is_cached_managed_identity() {
    let ep = endpoint();
    let resource = "https://cached.ferry.test";
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    let scope = format!("{resource}/.default");

    let provider = from_setting("", None).expect("default credential");
    assert_eq!(provider.kind(), "managed-identity");
    let first = provider.token(&scope).await.expect("first");
    let second = provider.token(&scope).await.expect("second");

    assert_eq!(first.secret, second.secret);
    assert_eq!(ep.requests_for(resource).len(), 1);

    // Blank client id counts as none; a malformed one is refused up front.
    from_setting("managed-identity", Some("  ")).expect("blank client id");
    let err = from_setting("managed-identity", Some("not-a-guid"))
        .err()
        .expect("bad client id");
    assert!(err.to_string().contains("not a GUID"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callers_make_one_request() {
    let ep = endpoint();
    let resource = "https://concurrent.ferry.test";
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    let scope = format!("{resource}/.default");
    let provider = Arc::new(CachedTokens::new(Arc::new(no_retries(None))));

    let callers: Vec<_> = (0..20)
        .map(|_| {
            let provider = Arc::clone(&provider);
            let scope = scope.clone();
            tokio::spawn(async move { provider.token(&scope).await })
        })
        .collect();
    let mut secrets = Vec::new();
    for caller in callers {
        secrets.push(caller.await.expect("join").expect("token").secret);
    }

    assert_eq!(ep.requests_for(resource).len(), 1);
    assert!(secrets.iter().all(|s| s == &secrets[0]));
}

#[tokio::test]
async fn token_close_to_expiry_is_fetched_again() {
    let ep = endpoint();
    let resource = "https://short-lived.ferry.test";
    // Four minutes left: inside the five-minute margin from the start.
    ep.script(resource, Mode::Issue { lifetime_secs: 240 });
    let scope = format!("{resource}/.default");
    let provider = CachedTokens::new(Arc::new(no_retries(None)));

    let a = provider.token(&scope).await.expect("a");
    let b = provider.token(&scope).await.expect("b");
    assert_ne!(a.secret, b.secret);
    assert_eq!(ep.requests_for(resource).len(), 2);

    // A long-lived token is then kept.
    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    let c = provider.token(&scope).await.expect("c");
    let d = provider.token(&scope).await.expect("d");
    assert_eq!(c.secret, d.secret);
    assert_eq!(ep.requests_for(resource).len(), 3);
}

#[tokio::test]
async fn server_error_is_transient_retried_and_not_cached() {
    let ep = endpoint();
    let resource = "https://outage.ferry.test";
    ep.script(resource, Mode::Fail500);
    let scope = format!("{resource}/.default");
    let mi = ManagedIdentity::with_options(ManagedIdentityOptions {
        client_id: None,
        max_retries: 1,
    })
    .expect("managed identity");
    let provider = CachedTokens::new(Arc::new(mi));

    let err = provider.token(&scope).await.expect_err("outage");
    assert!(matches!(err, AuthError::Transient(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(msg.contains("token service unavailable"), "{msg}");
    assert_eq!(ep.requests_for(resource).len(), 2, "one retry configured");

    ep.script(
        resource,
        Mode::Issue {
            lifetime_secs: 3600,
        },
    );
    provider.token(&scope).await.expect("recovered");
    assert_eq!(
        ep.requests_for(resource).len(),
        3,
        "the error was not cached"
    );
}

#[tokio::test]
async fn wrong_identity_header_is_an_unavailable_error_without_secrets() {
    let ep = endpoint();
    let resource = "https://stale-header.ferry.test";
    ep.script(resource, Mode::RequireHeader("rotated-secret".into()));

    let err = no_retries(None)
        .token(&format!("{resource}/.default"))
        .await
        .expect_err("wrong header");

    let seen = ep.requests_for(resource);
    assert_eq!(seen.len(), 1, "401 is not retried");
    assert_eq!(seen[0].identity_header.as_deref(), Some(PLATFORM_HEADER));
    assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 401"), "{msg}");
    assert!(msg.contains("Invalid X-IDENTITY-HEADER"), "{msg}");
    assert!(msg.contains("ManagedIdentityCredential"), "{msg}");
    assert!(!msg.contains(PLATFORM_HEADER), "{msg}");
}
