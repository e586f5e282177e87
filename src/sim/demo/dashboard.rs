//! `ferry demo --dashboard ADDR`: after the run, the dashboard is served at `http://ADDR/`
//! until Ctrl-C, so a newcomer can look at what the run did. The page and its data come
//! from the status function through the host stand-in, as in Azure (`/` is
//! `status/dashboard`, `/overview` is `status/overview`); this server only forwards.
//!
//! `--plant-hostile-chain` (hidden; for the browser test) first writes one chain into the
//! ledger whose texts carry HTML and script, as a hostile or broken ARM answer could (a
//! collection's `source.id`, a copy's failure text): the page must show them as text.

use super::DemoError;
use crate::ledger::records::{Chain, CopyRecord, CopyState};
use crate::ledger::{Ledger, Op};
use crate::sim::host::Host;
use std::net::SocketAddr;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::{mpsc, oneshot};
use warp::Filter;

/// What the planted chain's texts carry.
pub const HOSTILE_VM: &str = "<img src=x onerror=alert(1)>";
pub const HOSTILE_REASON: &str = "<script>alert(2)</script>";
const HOSTILE_COLLECTION: &str = "rpc-hostile'onmouseover=alert(3)'";

/// A request for the host stand-in: a path and query on the status function, and where to
/// send its (status, body).
type Forward = (String, oneshot::Sender<(u16, serde_json::Value)>);

/// Writes the hostile chain: one failed copy (in breach of any RPO objective) and one in
/// flight.
pub(super) async fn plant_hostile_chain(
    ledger: &Arc<dyn Ledger>,
    subscription: &str,
    now: OffsetDateTime,
) -> Result<(), DemoError> {
    let bad = |e: String| DemoError::Setup(format!("planting the hostile chain: {e}"));
    let source: crate::ids::CollectionId = format!(
        "/subscriptions/{subscription}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/{HOSTILE_COLLECTION}"
    )
    .parse()
    .map_err(|e: crate::ids::IdError| bad(e.to_string()))?;
    let target: crate::ids::CollectionId = format!(
        "/subscriptions/{subscription}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/rpc-hostile-westus2"
    )
    .parse()
    .map_err(|e: crate::ids::IdError| bad(e.to_string()))?;
    let created = now - Duration::days(3);
    let chain = Chain {
        source_region: Some("eastus".into()),
        source_vm: Some(HOSTILE_VM.into()),
        watermark: Some(created),
        target_ready: true,
        ..Chain::new(source.clone(), "westus2", target, created)
    };
    let mut copy = CopyRecord::pending(
        &chain,
        &source.restore_point("rp-hostile"),
        created,
        created,
    );
    copy.state = CopyState::Failed;
    copy.started_at = Some(created + Duration::minutes(10));
    copy.ended_at = Some(created + Duration::hours(5));
    copy.reason = Some(HOSTILE_REASON.into());
    copy.last_status = Some(HOSTILE_REASON.into());
    copy.last_percent = Some(12.0);
    copy.alerts.insert(crate::alerts::AlertKind::CopyFailed);
    // And a copy in flight: 40 % read half an hour ago, started three hours ago.
    let mut flying = CopyRecord::pending(
        &chain,
        &source.restore_point("rp-hostile-2"),
        now - Duration::hours(4),
        now - Duration::hours(4),
    );
    flying.state = CopyState::InFlight;
    flying.started_at = Some(now - Duration::hours(3));
    flying.last_reading_at = Some(now - Duration::minutes(30));
    flying.last_percent = Some(40.0);
    flying.readings = 1;
    let mut chain = chain;
    chain.in_flight = Some(flying.row_key());
    chain.active = true;
    ledger
        .batch(
            &chain.key,
            vec![
                Op::Insert(chain.to_entity()),
                Op::Insert(copy.to_entity()),
                Op::Insert(flying.to_entity()),
            ],
        )
        .await
        .map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// Serves the dashboard at `addr` until Ctrl-C (or SIGTERM), forwarding to the status
/// function through `host`. `ready` is called with the address once it listens.
pub(super) async fn serve(
    host: &Host,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), DemoError> {
    let (tx, mut rx) = mpsc::channel::<Forward>(64);
    let forward = move |path: String| {
        let tx = tx.clone();
        async move {
            let (reply_tx, reply_rx) = oneshot::channel();
            if tx.send((path, reply_tx)).await.is_err() {
                return (503, serde_json::Value::Null);
            }
            reply_rx.await.unwrap_or((503, serde_json::Value::Null))
        }
    };
    let page_fwd = forward.clone();
    let page = warp::get().and(warp::path::end()).then(move || {
        let forward = page_fwd.clone();
        async move {
            let (status, body) = forward("/api/status/dashboard".into()).await;
            let mut resp = warp::reply::Response::new(match body {
                serde_json::Value::String(html) if status == 200 => html.into(),
                other => format!("status function answered {status}: {other}").into(),
            });
            *resp.status_mut() = warp::http::StatusCode::from_u16(status)
                .unwrap_or(warp::http::StatusCode::BAD_GATEWAY);
            for (k, v) in crate::dashboard::headers() {
                if let Ok(v) = warp::http::HeaderValue::from_str(&v) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
    });
    let data = warp::get()
        .and(warp::path("overview"))
        .and(warp::path::end())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(move |q: String| {
            let forward = forward.clone();
            async move {
                let (status, body) = forward(format!("/api/status/overview?{q}")).await;
                warp::reply::with_status(
                    warp::reply::json(&body),
                    warp::http::StatusCode::from_u16(status)
                        .unwrap_or(warp::http::StatusCode::BAD_GATEWAY),
                )
            }
        });
    let routes = page
        .map(warp::Reply::into_response)
        .or(data.map(warp::Reply::into_response))
        .unify();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DemoError::Args(format!("--dashboard {addr}: cannot listen: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(
        warp::serve(routes)
            .incoming(listener)
            .graceful(async {
                let _ = stop_rx.await;
            })
            .run(),
    );
    ready(local);
    let stop = crate_shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            req = rx.recv() => match req {
                Some((path, reply)) => {
                    let answer = host
                        .call_http(crate::functions::STATUS, "GET", &path, &[], None)
                        .await
                        .unwrap_or((502, serde_json::Value::Null));
                    let _ = reply.send(answer);
                }
                None => break,
            },
        }
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn crate_shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
