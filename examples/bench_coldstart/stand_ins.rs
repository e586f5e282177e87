//! The stand-ins the Azure-like setups start against: an App Service-style identity
//! endpoint and Table Storage's Entra front door (a gateway that accepts only the issued
//! bearer token and forwards to Azurite signed with the development key), what they saw, and
//! what the gateway hop costs.

use ferry::ledger::table::setting::{DEV_ACCOUNT, DEV_KEY};
use ferry::ledger::table::sign;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::Filter;

use super::{pct, sorted};

/// What the identity endpoint expects in `X-IDENTITY-HEADER` (the platform's secret).
pub(crate) const IDENTITY_SECRET: &str = "6f1c2f0e-bench-coldstart-identity-header";
/// The resource azure_identity asks for when ferry wants `STORAGE_SCOPE`.
const STORAGE_RESOURCE: &str = "https://storage.azure.com";

/// What the stand-ins saw, with when (for the per-start breakdown).
#[derive(Default)]
pub(crate) struct Seen {
    /// Tokens issued for the storage resource.
    pub(crate) tokens_issued: AtomicU64,
    /// Requests the gateway forwarded to Azurite (bearer token accepted).
    pub(crate) forwarded: AtomicU64,
    /// Requests the gateway refused (no or wrong bearer token).
    pub(crate) refused: AtomicU64,
    /// (event, when): "token" when the identity endpoint answered, "table" when the gateway
    /// had Azurite's answer to a forwarded request.
    events: Mutex<Vec<(&'static str, Instant)>>,
}

impl Seen {
    fn mark(&self, what: &'static str) {
        self.events.lock().unwrap().push((what, Instant::now()));
    }
    pub(crate) fn take_events(&self) -> Vec<(&'static str, Instant)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

pub(crate) struct StandIns {
    pub(crate) identity: SocketAddr,
    pub(crate) gateway: SocketAddr,
    pub(crate) seen: Arc<Seen>,
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .expect("valid response")
}

/// `GET /msi/token?resource=…&api-version=2019-08-01` with `X-IDENTITY-HEADER`, answered
/// the way App Service / Functions answers (tests/identity.rs has the same shape).
fn identity_answer(
    seen: &Seen,
    token: &str,
    query: &HashMap<String, String>,
    header: Option<&str>,
) -> Response<Vec<u8>> {
    if query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return json_reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "unsupported api-version"}),
        );
    }
    if header != Some(IDENTITY_SECRET) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"statusCode": 401, "message": "Invalid X-IDENTITY-HEADER"}),
        );
    }
    let resource = query.get("resource").map(String::as_str).unwrap_or("");
    if resource.trim_end_matches('/') != STORAGE_RESOURCE {
        return json_reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"statusCode": 400, "message": format!("no token for resource {resource:?} here")}),
        );
    }
    seen.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let expires_on = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let reply = json_reply(
        StatusCode::OK,
        serde_json::json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": "0d3c1a7e-1111-4222-8333-944455556666",
        }),
    );
    seen.mark("token");
    reply
}

/// Table Storage's Entra authentication, standing in front of Azurite: bearer `token` or
/// 403; then the same request, signed with the development account key, to Azurite.
#[allow(clippy::too_many_arguments)]
async fn gateway_answer(
    seen: Arc<Seen>,
    http: reqwest::Client,
    azurite: url::Url,
    token: Arc<String>,
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response<Vec<u8>>, std::convert::Infallible> {
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(token.as_str());
    if !authorised {
        seen.refused.fetch_add(1, Ordering::Relaxed);
        let mut r = json_reply(
            StatusCode::FORBIDDEN,
            serde_json::json!({"odata.error": {"code": "AuthenticationFailed", "message": {"lang": "en-US", "value": "Server failed to authenticate the request (bench gateway: bearer token missing or not the one the identity endpoint issued)."}}}),
        );
        r.headers_mut()
            .insert("x-ms-error-code", "AuthenticationFailed".parse().unwrap());
        return Ok(r);
    }
    let mut url = azurite.clone();
    url.set_path(&path);
    url.set_query(query.as_deref());
    let date = headers
        .get("x-ms-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| httpdate::fmt_http_date(std::time::SystemTime::now()));
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_KEY)
        .expect("the dev key is base64");
    let signed = sign::authorization(
        DEV_ACCOUNT,
        &key,
        method.as_str(),
        &content_type,
        &date,
        &url,
    );
    let mut rb = http.request(method, url);
    for (name, value) in headers.iter() {
        let n = name.as_str();
        if matches!(
            n,
            "authorization" | "host" | "content-length" | "connection" | "x-ms-date"
        ) {
            continue;
        }
        rb = rb.header(name, value);
    }
    rb = rb
        .header("x-ms-date", &date)
        .header("authorization", signed)
        .body(body);
    let reply = match rb.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let mut r = Response::builder().status(status);
            for (name, value) in headers.iter() {
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection" | "keep-alive"
                ) {
                    r = r.header(name, value);
                }
            }
            seen.forwarded.fetch_add(1, Ordering::Relaxed);
            r.body(body).expect("valid response")
        }
        Err(e) => json_reply(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({"error": format!("bench gateway: Azurite: {e}")}),
        ),
    };
    seen.mark("table");
    Ok(reply)
}

/// Starts the identity endpoint and the gateway (in front of `azurite`, the Azurite table
/// endpoint's origin) on their own thread and runtime.
pub(crate) fn start_stand_ins(azurite: url::Url, token: String) -> StandIns {
    let seen = Arc::new(Seen::default());
    let id_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let gw_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    id_listener.set_nonblocking(true).expect("nonblocking");
    gw_listener.set_nonblocking(true).expect("nonblocking");
    let identity = id_listener.local_addr().expect("addr");
    let gateway = gw_listener.local_addr().expect("addr");
    let s = Arc::clone(&seen);
    std::thread::Builder::new()
        .name("stand-ins".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let token = Arc::new(token);
                let (s1, t1) = (Arc::clone(&s), Arc::clone(&token));
                let id_route = warp::get()
                    .and(warp::path!("msi" / "token"))
                    .and(warp::query::<HashMap<String, String>>())
                    .and(warp::header::optional::<String>("x-identity-header"))
                    .map(move |q: HashMap<String, String>, h: Option<String>| {
                        identity_answer(&s1, &t1, &q, h.as_deref())
                    });
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .expect("client");
                let s2 = Arc::clone(&s);
                let gw_route = warp::method()
                    .and(warp::path::full())
                    .and(
                        warp::query::raw()
                            .map(Some)
                            .or(warp::any().map(|| None))
                            .unify(),
                    )
                    .and(warp::header::headers_cloned())
                    .and(warp::body::bytes())
                    .and_then(
                        move |method: Method,
                              path: warp::path::FullPath,
                              query: Option<String>,
                              headers: HeaderMap,
                              body: bytes::Bytes| {
                            gateway_answer(
                                Arc::clone(&s2),
                                http.clone(),
                                azurite.clone(),
                                Arc::clone(&token),
                                method,
                                path.as_str().to_string(),
                                query,
                                headers,
                                body,
                            )
                        },
                    );
                let id_l = tokio::net::TcpListener::from_std(id_listener).expect("listener");
                let gw_l = tokio::net::TcpListener::from_std(gw_listener).expect("listener");
                tokio::join!(
                    warp::serve(id_route).incoming(id_l).run(),
                    warp::serve(gw_route).incoming(gw_l).run()
                );
            });
        })
        .expect("stand-ins thread");
    StandIns {
        identity,
        gateway,
        seen,
    }
}

/// The gateway's refusal, checked once before measuring: a table request with no bearer
/// token and one with a token the identity endpoint did not issue must both get 403.
pub(crate) fn check_gateway_refuses(gateway: SocketAddr) -> Result<(), String> {
    for auth in ["", "Authorization: Bearer not-the-issued-token\r\n"] {
        let mut s = TcpStream::connect(gateway).map_err(|e| format!("gateway: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let body = r#"{"TableName":"refused"}"#;
        let req = format!(
            "POST /{DEV_ACCOUNT}/Tables HTTP/1.1\r\nHost: {gateway}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("gateway: {e}"))?;
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        if !text.starts_with("HTTP/1.1 403") {
            return Err(format!(
                "gateway answered {:?} to a request {}, not 403",
                text.lines().next().unwrap_or(""),
                if auth.is_empty() {
                    "without a token"
                } else {
                    "with a wrong token"
                }
            ));
        }
    }
    Ok(())
}

/// What the gateway adds per request: `n` table create-or-check requests (the table
/// exists: 409, as in a measured start) straight to Azurite with Shared Key, and `n`
/// through the gateway with the bearer token, alternating, from one keep-alive client each
/// (ferry's start opens a fresh connection; this measures the hop, not the connect).
/// Returns the median milliseconds (direct, via gateway).
pub(crate) fn hop_cost(
    azurite: &url::Url,
    gateway: SocketAddr,
    token: &str,
    n: usize,
) -> Result<(f64, f64), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DEV_KEY)
            .map_err(|e| e.to_string())?;
        let direct_url = url::Url::parse(&format!(
            "{}/Tables",
            azurite.as_str().trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())?;
        let gw_url = url::Url::parse(&format!("http://{gateway}/{DEV_ACCOUNT}/Tables"))
            .map_err(|e| e.to_string())?;
        let (c1, c2) = (reqwest::Client::new(), reqwest::Client::new());
        let body = r#"{"TableName":"coldstartmi"}"#;
        let send = |c: &reqwest::Client, url: &url::Url, bearer: bool| {
            let date = httpdate::fmt_http_date(std::time::SystemTime::now());
            let auth = if bearer {
                format!("Bearer {token}")
            } else {
                sign::authorization(DEV_ACCOUNT, &key, "POST", "application/json", &date, url)
            };
            c.post(url.clone())
                .header("x-ms-version", "2019-02-02")
                .header("x-ms-date", date)
                .header("DataServiceVersion", "3.0")
                .header("Accept", "application/json;odata=nometadata")
                .header("Content-Type", "application/json")
                .header("Prefer", "return-no-content")
                .header("Authorization", auth)
                .body(body)
                .send()
        };
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        for i in 0..n + 1 {
            for bearer in [false, true] {
                let (c, u) = if bearer {
                    (&c2, &gw_url)
                } else {
                    (&c1, &direct_url)
                };
                let t = Instant::now();
                let r = send(c, u, bearer).await.map_err(|e| e.to_string())?;
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if status != 409 && status != 204 {
                    return Err(format!(
                        "hop check: {} answered {status}",
                        if bearer { "gateway" } else { "Azurite" }
                    ));
                }
                // The first pair opens the connections.
                if i > 0 {
                    if bearer {
                        via.push(ms)
                    } else {
                        direct.push(ms)
                    }
                }
            }
        }
        let (direct, via) = (sorted(direct), sorted(via));
        Ok((pct(&direct, 0.5), pct(&via, 0.5)))
    })
}
