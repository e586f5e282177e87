//! The REST send endpoint (`POST /{entity}/messages`): auth, size limit, single or batch
//! body, custom properties from headers, and Azure's XML error replies.

use bytes::Bytes;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

use super::decode::{apply_broker_properties, parse_batch};
use super::{Broker, IncomingMessage};
use crate::sim::host::wire::BATCH_CONTENT_TYPE;

/// Standard tier message size limit (batch included).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Starts the REST endpoint on 127.0.0.1:0. Returns the bound address.
pub async fn serve(
    broker: Arc<Broker>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let route = warp::post()
        .and(warp::path!(String / "messages"))
        .and(warp::header::headers_cloned())
        // Bounded while reading, so an oversized send is refused without buffering it all.
        .and(crate::server::limited_body(MAX_MESSAGE_BYTES as u64).map(Some).or(warp::any().map(|| None)).unify())
        .map(move |entity: String, headers: HeaderMap, body: Option<Bytes>| {
            let (status, detail) = match body {
                Some(body) => handle_send(&broker, &entity, &headers, &body),
                None => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The message is larger than the limit of {MAX_MESSAGE_BYTES} bytes, or its body could not be read."),
                ),
            };
            reply(status, detail)
        });
    let not_found = warp::any().map(|| {
        reply(
            StatusCode::NOT_FOUND,
            "Only POST /{entity}/messages is supported by the local broker".into(),
        )
    });
    tokio::spawn(
        warp::serve(route.or(not_found))
            .incoming(listener)
            .graceful(async {
                let _ = shutdown.await;
            })
            .run(),
    );
    Ok(addr)
}

fn reply(status: StatusCode, detail: String) -> warp::reply::Response {
    use warp::Reply;
    if status == StatusCode::CREATED {
        return warp::reply::with_status(warp::reply(), status).into_response();
    }
    // Azure answers errors with a small XML document.
    let xml = format!(
        "<Error><Code>{}</Code><Detail>{}</Detail></Error>",
        status.as_u16(),
        xml_escape(&detail)
    );
    let r = warp::reply::with_header(xml, "Content-Type", "application/xml; charset=utf-8");
    warp::reply::with_status(r, status).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Headers that are not custom message properties.
const NOT_PROPERTIES: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "brokerproperties",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "expect",
    "transfer-encoding",
    "date",
];

fn handle_send(
    broker: &Broker,
    entity: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, String) {
    let entity = percent_encoding::percent_decode_str(entity)
        .decode_utf8_lossy()
        .to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let auth_ok = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("SharedAccessSignature "))
        .is_some_and(|t| !t.trim().is_empty());
    if !auth_ok {
        return (
            StatusCode::UNAUTHORIZED,
            "MissingToken: The authorization header was not found or is not a Bearer or SharedAccessSignature token.".into(),
        );
    }
    if !broker.has_entity(&entity) {
        return (
            StatusCode::NOT_FOUND,
            format!("The messaging entity '{entity}' could not be found."),
        );
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The message size of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes.",
                body.len()
            ),
        );
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return (
            StatusCode::BAD_REQUEST,
            "The body is not UTF-8 text.".into(),
        );
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let messages = if content_type
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().starts_with(BATCH_CONTENT_TYPE))
    {
        match parse_batch(text) {
            Ok(ms) => ms,
            Err(e) => return (StatusCode::BAD_REQUEST, e),
        }
    } else {
        let mut m = IncomingMessage {
            body: text.to_string(),
            content_type,
            ..Default::default()
        };
        if let Some(bp) = headers.get("brokerproperties") {
            let parsed = bp
                .to_str()
                .map_err(|_| "BrokerProperties is not text".to_string())
                .and_then(|s| {
                    serde_json::from_str::<Value>(s)
                        .map_err(|e| format!("BrokerProperties is not JSON: {e}"))
                })
                .and_then(|v| apply_broker_properties(&mut m, &v));
            if let Err(e) = parsed {
                return (StatusCode::BAD_REQUEST, e);
            }
        }
        for (name, value) in headers {
            let n = name.as_str().to_ascii_lowercase();
            if NOT_PROPERTIES.contains(&n.as_str()) || n.starts_with("x-ms-") {
                continue;
            }
            if let Ok(v) = value.to_str() {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v);
                m.properties
                    .insert(name.as_str().to_string(), v.to_string());
            }
        }
        vec![m]
    };
    match broker.send(&entity, messages) {
        Ok(_) => (StatusCode::CREATED, String::new()),
        Err(r) => (
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
            r.detail,
        ),
    }
}
