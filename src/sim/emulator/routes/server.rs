//! The HTTP server: the warp filter that turns a request into a [`Req`], and the accept loop
//! with a per-connection kill switch so an injected fault can drop a connection unanswered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use warp::http::{HeaderMap, Method};
use warp::Filter;

use super::body::MAX_BODY;
use super::http::{Reply, Req};
use crate::sim::emulator::Emulator;

/// Per-connection switch used to drop a connection without answering (fault injection).
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(Arc<tokio::sync::Notify>);

/// The warp filter for the whole emulator.
pub(crate) fn filter(
    emu: Emulator,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    // Bounded while reading (None = over MAX_BODY), so a huge upload is never buffered.
    let body = warp::header::optional::<u64>("content-length")
        .or(warp::any().map(|| None))
        .unify()
        .and(warp::body::stream())
        .then(|declared: Option<u64>, body| async move {
            if declared.is_some_and(|n| n > MAX_BODY as u64) {
                return None;
            }
            match crate::server::read_limited(body, MAX_BODY as u64).await {
                Ok(b) => Some(b),
                Err(crate::server::ReadError::TooLarge) => None,
                // A client gone mid-body gets no useful answer anyway.
                Err(crate::server::ReadError::Transport(_)) => Some(Bytes::new()),
            }
        })
        .or(warp::any().map(|| Some(Bytes::new())))
        .unify();
    warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(body)
        .and(warp::ext::optional::<ConnKill>())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  raw_query: String,
                  headers: HeaderMap,
                  body: Option<Bytes>,
                  kill: Option<ConnKill>| {
                let emu = emu.clone();
                async move {
                    let Some(body) = body else {
                        return Reply::error(
                            413,
                            "RequestEntityTooLarge",
                            "The request body is larger than 4 MiB.",
                        )
                        .into_response();
                    };
                    let query = url::form_urlencoded::parse(raw_query.as_bytes())
                        .into_owned()
                        .collect();
                    let req = Req {
                        method,
                        path: path.as_str().to_string(),
                        query,
                        raw_query,
                        headers,
                        body,
                    };
                    emu.handle(req, kill).await.into_response()
                }
            },
        )
}

/// Serves `emu` on `addr` with a per-connection kill switch (for dropped-connection faults).
pub(crate) async fn serve(
    emu: Emulator,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let svc = warp::service(filter(emu));
    let handle = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "emulator accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                let kill = ConnKill(Arc::new(tokio::sync::Notify::new()));
                let k2 = kill.clone();
                let service = hyper::service::service_fn(
                    move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(k2.clone());
                        let mut s = svc.clone();
                        tower_service::Service::call(&mut s, req)
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                tokio::select! {
                    r = conn => if let Err(e) = r {
                        tracing::debug!(error = %e, "emulator connection ended with an error");
                    },
                    // Dropping the connection future closes the socket with no response.
                    _ = kill.0.notified() => {}
                }
            });
        }
    });
    Ok((bound, handle))
}

pub(super) async fn drop_connection(kill: Option<ConnKill>) -> Reply {
    match kill {
        Some(k) => {
            k.0.notify_one();
            // The connection task drops this future together with the socket.
            futures::future::pending::<()>().await;
            Reply::empty(503)
        }
        // Embedded without `serve`: no socket to close, so fail the request loudly instead.
        None => Reply::error(
            503,
            "ServiceUnavailable",
            "The connection was dropped (injected fault).",
        ),
    }
}
