//! Metrics on the wire: the demo's telemetry goes to a local endpoint shaped like
//! Application Insights' ingestion (`POST /v2/track`, a gzip JSON array of envelopes,
//! answered with `{itemsReceived, itemsAccepted, errors}`), over loopback HTTP. The test
//! reads the envelopes as Application Insights would: metric names, values, dimensions, the
//! bearer token on every request, and the RPO gauge for every chain on every tick.

use ferry::sim::demo::{run, DemoArgs};
use ferry::telemetry::names;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use warp::Filter;

/// One POST as received.
#[derive(Debug, Clone)]
struct Upload {
    authorization: Option<String>,
    envelopes: Vec<Value>,
}

/// A local stand-in for the ingestion endpoint: records what arrives, answers like the
/// service (200 with the item counts; 400 for a body that is not a gzip JSON array).
async fn capture() -> (String, Arc<Mutex<Vec<Upload>>>) {
    let got: Arc<Mutex<Vec<Upload>>> = Arc::default();
    let store = got.clone();
    let route = warp::post()
        .and(warp::path("v2").or(warp::path("v2.1")).unify())
        .and(warp::path("track"))
        .and(warp::path::end())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("content-encoding"))
        .and(warp::body::bytes())
        .map(
            move |auth: Option<String>, enc: Option<String>, body: bytes::Bytes| {
                let mut text = String::new();
                let ok = enc.as_deref() == Some("gzip")
                    && flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut text)
                        .is_ok();
                let parsed: Option<Vec<Value>> =
                    ok.then(|| serde_json::from_str(&text).ok()).flatten();
                match parsed {
                    Some(envelopes) => {
                        let n = envelopes.len();
                        store.lock().unwrap().push(Upload {
                            authorization: auth,
                            envelopes,
                        });
                        warp::reply::with_status(
                            warp::reply::json(
                                &json!({"itemsReceived": n, "itemsAccepted": n, "errors": []}),
                            ),
                            warp::http::StatusCode::OK,
                        )
                    }
                    None => warp::reply::with_status(
                        warp::reply::json(&json!({"error": "not a gzip JSON array"})),
                        warp::http::StatusCode::BAD_REQUEST,
                    ),
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), got)
}

const IKEY: &str = "00000000-0000-0000-0000-00000000a1a1";

/// The metric data points of an upload: (name, value, properties).
fn points(u: &Upload) -> Vec<(String, f64, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for e in &u.envelopes {
        assert_eq!(e["name"], "Microsoft.ApplicationInsights.Metric", "{e}");
        assert_eq!(e["iKey"], IKEY, "{e}");
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        let data = &e["data"];
        assert_eq!(data["baseType"], "MetricData", "{e}");
        let props: BTreeMap<String, String> = data["baseData"]["properties"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for m in data["baseData"]["metrics"].as_array().expect("metrics") {
            out.push((
                m["name"].as_str().expect("name").to_string(),
                m["value"].as_f64().expect("value"),
                props.clone(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reports_its_metrics_to_application_insights() {
    let (endpoint, got) = capture().await;
    let days = 6;
    let args = DemoArgs {
        vms: 6,
        days,
        faults: "none".into(),
        app_insights: Some(format!(
            "InstrumentationKey={IKEY};IngestionEndpoint={endpoint}/;LiveEndpoint=https://unused.example/"
        )),
        ..DemoArgs::default()
    };
    let r = run(&args, false).await.expect("demo runs");
    let uploads = got.lock().unwrap().clone();
    assert!(!uploads.is_empty(), "nothing arrived");

    // Entra authentication on every request (the demo's credential is a dev token).
    for u in &uploads {
        assert_eq!(u.authorization.as_deref(), Some("Bearer demo-token"));
    }

    let declared: BTreeSet<&str> = names::METRICS.iter().map(|m| m.name).collect();
    let mut copies: BTreeMap<String, f64> = BTreeMap::new();
    let mut durations = 0usize;
    let mut drill_restores = 0usize;
    let mut full_rpo_exports = 0usize;
    let mut chains_seen: BTreeSet<(String, String)> = BTreeSet::new();
    for u in &uploads {
        let pts = points(u);
        let mut rpo_chains = BTreeSet::new();
        for (name, value, props) in &pts {
            assert!(declared.contains(name.as_str()), "undeclared metric {name}");
            let chain = (
                props
                    .get(names::DIM_SOURCE_COLLECTION)
                    .cloned()
                    .unwrap_or_default(),
                props
                    .get(names::DIM_TARGET_REGION)
                    .cloned()
                    .unwrap_or_default(),
            );
            assert!(
                chain
                    .0
                    .contains("/providers/Microsoft.Compute/restorePointCollections/"),
                "{name}: sourceCollection {props:?}"
            );
            assert!(
                ["westus2", "centralus"].contains(&chain.1.as_str()),
                "{name}: targetRegion {props:?}"
            );
            // Only the declared dimensions (cardinality: nothing per restore point), and the
            // service's name (one value: the cloud role).
            assert_eq!(
                props.get("service.name").map(String::as_str),
                Some(ferry::telemetry::SERVICE_NAME)
            );
            for k in props.keys().filter(|k| *k != "service.name") {
                assert!(
                    [
                        names::DIM_SOURCE_COLLECTION,
                        names::DIM_TARGET_REGION,
                        names::DIM_OUTCOME
                    ]
                    .contains(&k.as_str()),
                    "{name}: unexpected dimension {k}"
                );
            }
            match name.as_str() {
                names::RPO => {
                    assert!(
                        *value >= 0.0 && *value < f64::from(days + 1) * 86400.0,
                        "{value}"
                    );
                    rpo_chains.insert(chain.clone());
                    chains_seen.insert(chain);
                }
                names::RPO_OBJECTIVE => {
                    assert_eq!(*value, f64::from(r.rpo_objective_hours as i32) * 3600.0)
                }
                names::BACKLOG => assert!(*value >= 0.0 && value.fract() == 0.0),
                names::COPIES => {
                    let o = props.get(names::DIM_OUTCOME).expect("outcome");
                    assert!(names::OUTCOMES.contains(&o.as_str()), "{o}");
                    *copies.entry(o.clone()).or_default() += value;
                }
                names::COPY_DURATION => {
                    assert!(*value > 0.0);
                    durations += 1;
                }
                // The demo drills every chain with a ready copy daily (restore time > 0).
                names::DRILL_RESTORE_TIME => {
                    assert!(*value > 0.0, "{value}");
                    drill_restores += 1;
                }
                other => panic!("{other} is not expected from the demo"),
            }
        }
        if rpo_chains.len() == r.chains {
            full_rpo_exports += 1;
        }
        // An export carries either every chain's RPO or none (before the first tick).
        assert!(
            rpo_chains.is_empty() || rpo_chains.len() == chains_seen.len(),
            "an export missed chains: {} of {}",
            rpo_chains.len(),
            chains_seen.len()
        );
    }
    assert_eq!(chains_seen.len(), r.chains);
    // The demo flushes after every tick; the chains exist from the first day on, so at
    // least every tick of the later days carries every chain's RPO.
    let ticks_after_day_one = (u64::from(days) - 1) * 144;
    assert!(
        full_rpo_exports as u64 >= ticks_after_day_one,
        "{full_rpo_exports} exports with every chain's RPO, {ticks_after_day_one} ticks"
    );
    println!(
        "uploads {}, exports with every chain's RPO {full_rpo_exports} (ticks after day one {ticks_after_day_one}), chains {}, copies {copies:?}, durations {durations}",
        uploads.len(),
        r.chains
    );
    // Copies by outcome match the ledger's final count.
    let n = |o: &str| copies.get(o).copied().unwrap_or(0.0) as usize;
    assert_eq!(
        n("succeeded"),
        r.copies.succeeded,
        "{copies:?} vs {:?}",
        r.copies
    );
    assert_eq!(n("failed"), r.copies.failed, "{copies:?} vs {:?}", r.copies);
    assert_eq!(
        n("rejected"),
        r.copies.rejected,
        "{copies:?} vs {:?}",
        r.copies
    );
    assert_eq!(
        n("expired"),
        r.copies.expired,
        "{copies:?} vs {:?}",
        r.copies
    );
    assert!(
        n("started") >= r.copies.succeeded + r.copies.failed,
        "{copies:?}"
    );
    assert!(durations > 0);
    assert!(
        drill_restores > 0,
        "no drill restore time reached Application Insights"
    );
}
