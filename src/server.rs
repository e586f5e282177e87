//! `ferry serve`: the custom handler's HTTP server. The Functions host probes `GET /` until
//! it answers, then POSTs each invocation to `/{FunctionName}`. Every answer is 2xx JSON
//! `{"Outputs","Logs","ReturnValue"}` except when the host should retry (a transient
//! failure): then 500, which fails the invocation so Service Bus redelivers / Event Grid
//! resends.

use crate::alerts::{Alert, AlertKind};
use crate::functions::{self, App, FnError, Outcome};
use crate::protocol::{Invocation, InvocationResponse};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use warp::http::StatusCode;
use warp::Filter;

/// Largest invocation body accepted (Service Bus Premium messages are up to 100 MB, but
/// ferry's inputs are events and small requests; anything this large is not ours).
pub const MAX_BODY: u64 = 4 * 1024 * 1024;

/// The warp filter serving the handler protocol.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let probe = warp::get()
        .and(warp::path::end())
        .map(|| json_reply(StatusCode::OK, &json!({"status": "ready"})));
    let invoke = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::header::optional::<String>(
            "x-azure-functions-invocationid",
        ))
        .and(limited_body(MAX_BODY))
        .and_then(
            move |name: String, id: Option<String>, body: bytes::Bytes| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(invoke(&app, &name, id.as_deref(), &body).await) }
            },
        );
    probe
        .or(invoke)
        .unify()
        .recover(|rej: warp::Rejection| async move {
            let (status, msg) = if rej.is_not_found() {
                (StatusCode::NOT_FOUND, "no such function".to_string())
            } else if rej.find::<BodyTooLarge>().is_some()
                || rej.find::<warp::reject::PayloadTooLarge>().is_some()
            {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("invocation body larger than {MAX_BODY} bytes"),
                )
            } else if let Some(BodyUnreadable(why)) = rej.find::<BodyUnreadable>() {
                (
                    StatusCode::BAD_REQUEST,
                    format!("could not read the body: {why}"),
                )
            } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
                (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "use POST /{function}".to_string(),
                )
            } else {
                (StatusCode::BAD_REQUEST, format!("{rej:?}"))
            };
            Ok::<_, Infallible>(json_reply(status, &json!({"error": msg})))
        })
        .unify()
}

/// The request body was larger than the limit.
#[derive(Debug)]
pub(crate) struct BodyTooLarge;

impl warp::reject::Reject for BodyTooLarge {}

/// The request body, at most `limit` bytes, with or without a `Content-Length`.
///
/// The Functions host sends invocations as `ObjectContent` (azure-functions-host,
/// `HttpScriptInvocationContextExtensions.ToHttpRequestMessage`), which has no length, so
/// they arrive chunked: `warp::body::content_length_limit` would refuse every one of them
/// (411). A declared length over the limit is refused before reading; an undeclared one is
/// read only until it passes the limit.
pub(crate) fn limited_body(
    limit: u64,
) -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |declared: Option<u64>, body| async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(warp::reject::custom(BodyTooLarge));
            }
            read_limited(body, limit).await.map_err(|e| match e {
                ReadError::TooLarge => warp::reject::custom(BodyTooLarge),
                ReadError::Transport(m) => warp::reject::custom(BodyUnreadable(m)),
            })
        })
}

/// The body could not be read (the client went away mid-request).
#[derive(Debug)]
pub(crate) struct BodyUnreadable(pub String);

impl warp::reject::Reject for BodyUnreadable {}

pub(crate) enum ReadError {
    TooLarge,
    Transport(String),
}

/// Collects a body stream, stopping as soon as it passes `limit` bytes.
pub(crate) async fn read_limited<S, B>(body: S, limit: u64) -> Result<bytes::Bytes, ReadError>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures::StreamExt;
    let mut body = std::pin::pin!(body);
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| ReadError::Transport(e.to_string()))?;
        if (out.len() + chunk.remaining()) as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

fn json_reply(status: StatusCode, body: &Value) -> warp::reply::Response {
    warp::reply::Reply::into_response(warp::reply::with_status(warp::reply::json(body), status))
}

/// A 200/500 answer whose body is already JSON text.
fn json_bytes_reply(status: StatusCode, body: Vec<u8>) -> warp::reply::Response {
    let mut resp = warp::reply::Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn respond(out: Outcome, http: Option<(u16, Value)>) -> warp::reply::Response {
    // Alerts are not outputs: ferry sent them itself before recording them (`App::raise`).
    let mut resp = InvocationResponse::new();
    for l in out.logs {
        resp = resp.log(l);
    }
    if let Some((status, body)) = http {
        resp = resp.http(status, body);
    }
    json_bytes_reply(StatusCode::OK, resp.to_vec())
}

fn retry(name: &str, e: &FnError) -> warp::reply::Response {
    tracing::warn!(function = name, "invocation failed, host will retry: {e}");
    let resp = InvocationResponse::new().log(format!("{name} failed (will be retried): {e}"));
    json_bytes_reply(StatusCode::INTERNAL_SERVER_ERROR, resp.to_vec())
}

async fn rejected(
    app: &App,
    name: &str,
    what: String,
    now: OffsetDateTime,
) -> Result<Outcome, FnError> {
    let mut out = Outcome::default();
    let mut a = Alert::new(
        AlertKind::EventRejected,
        &format!("{name}|{what}"),
        format!("{name}: input rejected: {what}"),
        now,
    );
    a.reason = Some(what);
    app.alert_now(&mut out, a).await?;
    Ok(out)
}

/// The host's clock (`Metadata.sys.UtcNow`) when it is a time ferry can compute with: in
/// UTC, inside Edm.DateTime's years with room for the days added when scheduling retries
/// (`now + delay` past year 9999 would panic). Otherwise this machine's clock.
fn host_now(inv: &Invocation) -> OffsetDateTime {
    match inv.utc_now() {
        None => OffsetDateTime::now_utc(),
        Some(t) => match t
            .checked_to_offset(time::UtcOffset::UTC)
            .filter(|u| (1601..=9998).contains(&u.year()))
        {
            Some(u) => u,
            None => {
                tracing::warn!("ignoring the host's UtcNow {t}: outside 1601..9998");
                OffsetDateTime::now_utc()
            }
        },
    }
}

/// Handles one invocation.
pub async fn invoke(
    app: &App,
    name: &str,
    invocation_id: Option<&str>,
    body: &[u8],
) -> warp::reply::Response {
    let span = tracing::info_span!(
        "invocation",
        function = name,
        id = invocation_id.unwrap_or("-")
    );
    let _enter = span.enter();
    // The host's clock: the stand-in runs it simulated, and every decision uses one "now".
    let parsed = Invocation::from_slice(body).map(|i| {
        let now = host_now(&i);
        (i, now)
    });
    drop(_enter);
    let (mut inv, now) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return match rejected(app, name, e.to_string(), OffsetDateTime::now_utc()).await {
                Ok(out) => respond(out, None),
                Err(e) => retry(name, &e),
            };
        }
    };
    // Each function's future is boxed: inline, every invocation's future would be as large
    // as the largest function's (the sequencer's), and the server moves it around whole.
    let result = match name {
        functions::INGEST | functions::INGEST_EVENTGRID => match inv.take_data_json("event") {
            Ok(v) => Box::pin(functions::ingest::ingest(app, &v, now))
                .await
                .map(|o| (o, None)),
            Err(e) => rejected(app, name, e.to_string(), now)
                .await
                .map(|o| (o, None)),
        },
        functions::SEQUENCER => match inv.data_json("request") {
            Ok(Value::String(s)) => Box::pin(functions::sequencer::sequencer(app, &s, now))
                .await
                .map(|o| (o, None)),
            Ok(v) => Box::pin(functions::sequencer::sequencer(app, &v.to_string(), now))
                .await
                .map(|o| (o, None)),
            Err(e) => match inv.data_text("request") {
                Ok(s) => Box::pin(functions::sequencer::sequencer(app, &s, now))
                    .await
                    .map(|o| (o, None)),
                Err(_) => rejected(app, name, e.to_string(), now)
                    .await
                    .map(|o| (o, None)),
            },
        },
        // The alert's JSON, however the host encoded it (object, or once or twice as text).
        functions::ALERT_WEBHOOK => match inv.data_json("alert") {
            Ok(v) => Box::pin(functions::alert_webhook::alert_webhook(app, &v.to_string()))
                .await
                .map(|o| (o, None)),
            Err(e) => rejected(app, name, e.to_string(), now)
                .await
                .map(|o| (o, None)),
        },
        functions::POLLER => Box::pin(functions::poller::poller(app, now))
            .await
            .map(|(o, _)| (o, None)),
        functions::DRILL => {
            // The host's "now", moving on with this machine's clock during the run. One step
            // per run: an invocation never waits for disks (see `DrillSettings::STEP`).
            let clock = functions::drill::HostClock::new(now);
            Box::pin(functions::drill::drill(
                app,
                &clock,
                &functions::drill::DrillSettings::STEP,
                None,
            ))
            .await
            .map(|r| (r.outcome, None))
        }
        functions::STATUS => match inv.http_request("req") {
            // The dashboard page is HTML, not a JSON view: answered here with its headers.
            Ok(req) if req.params.get("view").is_some_and(|v| v == "dashboard") => {
                let page = crate::dashboard::page();
                let resp = InvocationResponse::new().http_with_headers(
                    200,
                    Value::String(page.html.clone()),
                    &crate::dashboard::headers(),
                );
                return json_bytes_reply(StatusCode::OK, resp.to_vec());
            }
            Ok(req) => {
                let view = req.params.get("view").cloned().unwrap_or_default();
                let (status, body) =
                    Box::pin(functions::status::status(app, &view, &req.query, now)).await;
                Ok((Outcome::default(), Some((status, body))))
            }
            Err(e) => Ok((
                Outcome::default(),
                Some((
                    400,
                    json!({"error": {"code": "BadRequest", "message": e.to_string()}}),
                )),
            )),
        },
        other => {
            return json_reply(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no function named {other:?}")}),
            );
        }
    };
    // Fail point: after its ledger writes, before the host gets its answer, the host retries
    // an invocation whose work is done. Placed where alerts were raised, the invocations
    // that once carried them in the response (and lost them here).
    let result = match result {
        Ok(r) if !r.0.alerts.is_empty() => {
            crate::failpoint::fail_point!(app, "server.after-writes").map(|()| r)
        }
        other => other,
    };
    match result {
        Ok((out, http)) => respond(out, http),
        Err(e) => retry(name, &e),
    }
}

/// Serves on `addr` until `shutdown` resolves (SIGTERM from the host, Ctrl-C locally).
pub async fn serve(
    app: Arc<App>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let server = warp::serve(routes(app))
        .incoming(listener)
        .graceful(shutdown)
        .run();
    Ok((local, tokio::spawn(server)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn with_now(now: &str) -> Invocation {
        Invocation::from_value(json!({"Data": {}, "Metadata": {"sys": {"UtcNow": now}}}))
            .expect("valid invocation")
    }

    /// A host clock at the end of time made `now + retry delay` overflow (a panic) in the
    /// functions; it is not trusted past 9998.
    #[test]
    fn host_clock_is_used_only_when_it_can_be_computed_with() {
        let normal = host_now(&with_now("2026-11-01T00:00:00Z"));
        assert_eq!(normal, time::macros::datetime!(2026-11-01 00:00 UTC));
        let offset = host_now(&with_now("2026-11-01T01:00:00+01:00"));
        assert_eq!(offset.offset(), time::UtcOffset::UTC);
        assert_eq!(offset, normal);
        for extreme in [
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z",
        ] {
            let t = host_now(&with_now(extreme));
            assert!((2000..9000).contains(&t.year()), "{extreme} -> {t}");
            assert!(t.checked_add(time::Duration::days(30)).is_some());
        }
    }

    #[tokio::test]
    async fn bodies_are_read_only_up_to_the_limit() {
        let chunks = |n: usize| {
            stream::iter(
                (0..n).map(|_| Ok::<_, warp::Error>(bytes::Bytes::from_static(&[b'x'; 1024]))),
            )
        };
        let b = read_limited(chunks(4), 4096)
            .await
            .ok()
            .expect("at the limit");
        assert_eq!(b.len(), 4096);
        assert!(matches!(
            read_limited(chunks(5), 4096).await,
            Err(ReadError::TooLarge)
        ));
        // The reader stops at the first chunk past the limit, not at the end of the stream.
        let endless =
            stream::repeat_with(|| Ok::<_, warp::Error>(bytes::Bytes::from_static(&[b'x'; 1024])));
        assert!(matches!(
            read_limited(endless, 4096).await,
            Err(ReadError::TooLarge)
        ));
    }
}
