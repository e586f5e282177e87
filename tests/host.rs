//! The Functions host stand-in driving a real HTTP handler over loopback, with the project's
//! own host.json and function.json files.

use bytes::Bytes;
use ferry::auth::DevToken;
use ferry::bus::{BusAuth, BusError, MessageSender, OutgoingMessage, ServiceBusRest};
use ferry::clock::ManualClock;
use ferry::protocol::{Invocation, InvocationResponse};
use ferry::sim::host::{EventDelivery, HandlerTarget, Host, HostConfig, TriggerKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use time::macros::datetime;
use warp::http::HeaderMap;
use warp::Filter;

type Behaviour = dyn Fn(&str, &Invocation) -> (u16, Value) + Send + Sync;

#[derive(Clone)]
struct Call {
    function: String,
    headers: HeaderMap,
    body: Value,
}

struct TestHandler {
    probes: AtomicU32,
    calls: Mutex<Vec<Call>>,
    behaviour: Box<Behaviour>,
    in_flight: Mutex<HashMap<String, u32>>,
    max_in_flight: Mutex<HashMap<String, u32>>,
}

impl TestHandler {
    fn calls_to(&self, f: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.function == f)
            .cloned()
            .collect()
    }
}

async fn start_handler(
    behaviour: impl Fn(&str, &Invocation) -> (u16, Value) + Send + Sync + 'static,
) -> (Arc<TestHandler>, url::Url) {
    let h = Arc::new(TestHandler {
        probes: AtomicU32::new(0),
        calls: Mutex::new(Vec::new()),
        behaviour: Box::new(behaviour),
        in_flight: Mutex::new(HashMap::new()),
        max_in_flight: Mutex::new(HashMap::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hp = h.clone();
    let probe = warp::get().and(warp::path::end()).map(move || {
        hp.probes.fetch_add(1, Ordering::SeqCst);
        "ready"
    });
    let hi = h.clone();
    let invoke = warp::post()
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(move |function: String, headers: HeaderMap, body: Bytes| {
            let h = hi.clone();
            async move {
                let inv = Invocation::from_slice(&body).expect("host sends a valid invocation");
                let raw: Value = serde_json::from_slice(&body).unwrap();
                h.calls.lock().unwrap().push(Call {
                    function: function.clone(),
                    headers,
                    body: raw,
                });
                // Track concurrency per session to prove one consumer per session.
                let session = inv.meta_str("SessionId");
                if let Some(s) = &session {
                    let mut f = h.in_flight.lock().unwrap();
                    let n = f.entry(s.clone()).or_default();
                    *n += 1;
                    let mut m = h.max_in_flight.lock().unwrap();
                    let mx = m.entry(s.clone()).or_default();
                    *mx = (*mx).max(*n);
                }
                if session.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
                }
                let (status, reply) = (h.behaviour)(&function, &inv);
                if let Some(s) = &session {
                    *h.in_flight.lock().unwrap().entry(s.clone()).or_default() -= 1;
                }
                warp::reply::with_status(
                    warp::reply::json(&reply),
                    warp::http::StatusCode::from_u16(status).unwrap(),
                )
            }
        });
    tokio::spawn(warp::serve(probe.or(invoke)).incoming(listener).run());
    (h, url::Url::parse(&format!("http://{addr}/")).unwrap())
}

/// ferry's own host.json and function.json files, plus an `alerts` Service Bus output
/// binding on every non-HTTP function, so the host's output binders are exercised (ferry
/// itself sends its alerts over REST and declares no output binding).
fn app_root() -> std::path::PathBuf {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let project = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = tempfile::tempdir().unwrap().keep();
        std::fs::copy(project.join("host.json"), root.join("host.json")).unwrap();
        for f in [
            "ingest",
            "ingest-eventgrid",
            "sequencer",
            "poller",
            "status",
        ] {
            let dir = root.join("functions").join(f);
            std::fs::create_dir_all(&dir).unwrap();
            let text =
                std::fs::read_to_string(project.join("functions").join(f).join("function.json"))
                    .unwrap();
            let mut def: Value = serde_json::from_str(&text).unwrap();
            if f != "status" {
                def["bindings"].as_array_mut().unwrap().push(json!({
                    "type": "serviceBus", "direction": "out", "name": "alerts",
                    "topicName": "%FERRY_ALERTS_TOPIC%", "connection": "ServiceBusConnection"}));
            }
            std::fs::write(dir.join("function.json"), def.to_string()).unwrap();
        }
        root
    })
    .clone()
}

fn settings() -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    s.insert("FERRY_EVENTS_QUEUE".into(), "events".into());
    s.insert("FERRY_COPY_QUEUE".into(), "copies".into());
    s.insert("FERRY_ALERTS_TOPIC".into(), "alerts".into());
    s.insert("FERRY_DRILL_SCHEDULE".into(), "0 0 3 * * 0".into());
    s
}

fn config(handler: HandlerTarget, clock: &ManualClock) -> HostConfig {
    let mut c = HostConfig::new(app_root(), handler, Arc::new(clock.clone()));
    c.settings = settings();
    c
}

fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-01 00:00 UTC))
}

fn ok(v: InvocationResponse) -> (u16, Value) {
    (200, v.to_json())
}

fn sender(host: &Host) -> ServiceBusRest {
    ServiceBusRest::new(
        host.service_bus_endpoint(),
        BusAuth::Token(Arc::new(DevToken::new("dev"))),
    )
    .unwrap()
}

#[tokio::test]
async fn probes_encodes_every_trigger_and_collects_outputs() {
    let (h, url) = start_handler(|f, inv| match f {
        "ingest" => {
            let ev = inv.data_json("event").unwrap();
            ok(InvocationResponse::new()
                .output(
                    "alerts",
                    json!([{"from": ev["id"]}, "{\"kind\":\"text-json\"}"]),
                )
                .log(format!("ingested {}", ev["id"])))
        }
        "ingest-eventgrid" => {
            let ev = inv.data_json("event").unwrap();
            ok(InvocationResponse::new().output("alerts", json!({"eg": ev["id"]})))
        }
        "poller" => {
            let t = inv.data_json("timer").unwrap();
            ok(InvocationResponse::new().output("alerts", json!({"status": t["ScheduleStatus"]})))
        }
        "status" => {
            let r = inv.http_request("req").unwrap();
            ok(InvocationResponse::new().http(
                200,
                json!({"view": r.params.get("view"), "q": r.query.get("x")}),
            ))
        }
        _ => (404, json!({})),
    })
    .await;
    let clock = clock();
    let host = Host::start(config(HandlerTarget::Url(url), &clock))
        .await
        .unwrap();
    assert!(
        h.probes.load(Ordering::SeqCst) >= 1,
        "readiness probe hit GET /"
    );
    let names: Vec<&str> = host.functions().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ingest",
            "ingest-eventgrid",
            "poller",
            "sequencer",
            "status"
        ]
    );
    assert!(host.functions().iter().any(|f| f.trigger.kind
        == TriggerKind::ServiceBus {
            queue: "copies".into(),
            sessions: true
        }));

    // Service Bus trigger.
    sender(&host)
        .send(
            "events",
            vec![OutgoingMessage::json("ev-1", r#"{"id":"ev-1"}"#)],
        )
        .await
        .unwrap();
    let report = host.run_until_idle().await.unwrap();
    assert_eq!((report.invocations, report.completed), (1, 1));
    let call = &h.calls_to("ingest")[0];
    assert!(call.headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("Azure-Functions-Host/4"));
    assert!(call.headers.contains_key("x-azure-functions-invocationid"));
    assert!(call.headers.contains_key("x-azure-functions-hostversion"));
    // Exactly the host's encoding on the wire.
    assert_eq!(
        call.body["Data"]["event"],
        json!("\"{\\\"id\\\":\\\"ev-1\\\"}\"")
    );
    assert_eq!(call.body["Metadata"]["MessageId"], json!("\"ev-1\""));
    assert_eq!(call.body["Metadata"]["DeliveryCount"], json!("1"));
    assert_eq!(
        call.body["Metadata"]["EnqueuedTimeUtc"],
        json!("2026-11-01T00:00:00")
    );
    assert_eq!(call.body["Metadata"]["sys"]["MethodName"], json!("ingest"));
    let alerts = host.take_outputs("alerts");
    assert_eq!(
        alerts,
        vec![json!({"from": "ev-1"}), json!({"kind": "text-json"})]
    );
    assert_eq!(
        host.peek("alerts").len(),
        2,
        "output binding sent both to the topic"
    );
    assert_eq!(host.logs()[0].line, "ingested \"ev-1\"");
    assert!(host.take_outputs("alerts").is_empty(), "take drains");

    // Event Grid trigger: the event arrives as an object.
    let ev = json!({"id": "eg-1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "subject": "/s", "data": {"status": "Succeeded"}});
    host.publish_events(vec![ev.clone()], EventDelivery::EventGridTrigger)
        .await
        .unwrap();
    let call = &h.calls_to("ingest-eventgrid")[0];
    assert_eq!(call.body["Data"]["event"], ev);
    assert_eq!(call.body["Metadata"]["data"], ev["data"]);
    assert_eq!(host.take_outputs("alerts"), vec![json!({"eg": "eg-1"})]);

    // Event Grid → queue subscription: MessageId = event id.
    host.publish_events(vec![ev.clone()], EventDelivery::Queue("events".into()))
        .await
        .unwrap();
    host.run_until_idle().await.unwrap();
    assert_eq!(
        h.calls_to("ingest")[1].body["Metadata"]["MessageId"],
        json!("\"eg-1\"")
    );
    host.take_outputs("alerts");

    // Timer: first run has no status, the next one does.
    let o = host.fire_timer("poller").await.unwrap();
    assert!(o.succeeded);
    clock.advance(time::Duration::minutes(10));
    host.fire_timer("poller").await.unwrap();
    let statuses = host.take_outputs("alerts");
    assert_eq!(statuses[0], json!({"status": null}));
    assert_eq!(
        statuses[1]["status"]["Last"],
        json!("2026-11-01T00:00:00+00:00")
    );
    assert_eq!(
        statuses[1]["status"]["Next"],
        json!("2026-11-01T00:20:00+00:00")
    );

    // HTTP, non-forwarded, through the route template.
    let (status, body) = host
        .call_http(
            "status",
            "GET",
            "/api/status/chains?x=1",
            &[("Accept", "application/json")],
            None,
        )
        .await
        .unwrap();
    assert_eq!((status, body), (200, json!({"view": "chains", "q": "1"})));
    let call = &h.calls_to("status")[0];
    assert_eq!(
        call.body["Data"]["req"]["Headers"]["Accept"],
        json!(["application/json"])
    );
    let (status, _) = host
        .call_http("status", "POST", "/api/status", &[], None)
        .await
        .unwrap();
    assert_eq!(status, 404, "methods are enforced");
    assert!(host.warnings().is_empty(), "{:?}", host.warnings());
    host.shutdown().await;
}

#[tokio::test]
async fn sessions_are_fifo_with_one_consumer_each() {
    let order: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
    let o2 = order.clone();
    let (h, url) = start_handler(move |_, inv| {
        let sid = inv.meta_str("SessionId").unwrap();
        let body = inv.data_json("request").unwrap();
        o2.lock()
            .unwrap()
            .entry(sid)
            .or_default()
            .push(body["n"].as_u64().unwrap());
        ok(InvocationResponse::new())
    })
    .await;
    let clock = clock();
    let host = Host::start(config(HandlerTarget::Url(url), &clock))
        .await
        .unwrap();
    let mut batch = Vec::new();
    for n in 0..6u64 {
        for s in ["chain-a", "chain-b", "chain-c"] {
            batch.push(
                OutgoingMessage::json(format!("{s}-{n}"), json!({"n": n}).to_string())
                    .with_session(s),
            );
        }
    }
    sender(&host).send("copies", batch).await.unwrap();
    // No SessionId on a session queue: 400, like Azure.
    let err = sender(&host)
        .send("copies", vec![OutgoingMessage::json("x", "{}")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, BusError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    let report = host.run_until_idle().await.unwrap();
    assert_eq!(report.completed, 18);
    for (sid, seen) in order.lock().unwrap().iter() {
        assert_eq!(seen, &vec![0, 1, 2, 3, 4, 5], "{sid} in order");
    }
    for (sid, n) in h.max_in_flight.lock().unwrap().iter() {
        assert_eq!(*n, 1, "{sid} had {n} consumers at once");
    }
    host.shutdown().await;
}

#[tokio::test]
async fn redelivery_dead_letter_duplicates_and_schedule() {
    let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let a2 = attempts.clone();
    let (h, url) = start_handler(move |f, inv| {
        if f == "poller" {
            return (500, json!({}));
        }
        let id = inv.meta_str("MessageId").unwrap();
        let n = {
            let mut a = a2.lock().unwrap();
            let n = a.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        match (id.as_str(), n) {
            ("bad", _) | ("flaky", 1) => (500, json!({"error": "boom"})),
            _ => ok(InvocationResponse::new()),
        }
    })
    .await;
    let clock = clock();
    let mut cfg = config(HandlerTarget::Url(url), &clock);
    cfg.max_delivery_count = 3;
    let host = Host::start(cfg).await.unwrap();
    let s = sender(&host);
    s.send(
        "events",
        vec![
            OutgoingMessage::json("bad", "{}"),
            OutgoingMessage::json("flaky", "{}"),
        ],
    )
    .await
    .unwrap();
    // Same MessageId within the window: accepted (201) and dropped.
    s.send("events", vec![OutgoingMessage::json("flaky", "{}")])
        .await
        .unwrap();
    let mut later = OutgoingMessage::json("later", "{}");
    later.scheduled_enqueue_time = Some(clock_now(&clock) + time::Duration::hours(1));
    s.send("events", vec![later]).await.unwrap();

    let r = host.run_until_idle().await.unwrap();
    assert_eq!(r.dead_lettered, 1);
    let dl = host.dead_letters("events");
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].message.message_id, "bad");
    assert_eq!(dl[0].message.delivery_count, 3);
    assert_eq!(dl[0].reason, "MaxDeliveryCountExceeded");
    let counts: Vec<Value> = h
        .calls_to("ingest")
        .iter()
        .filter(|c| c.body["Metadata"]["MessageId"] == json!("\"flaky\""))
        .map(|c| c.body["Metadata"]["DeliveryCount"].clone())
        .collect();
    assert_eq!(
        counts,
        vec![json!("1"), json!("2")],
        "abandon → DeliveryCount+1"
    );
    assert!(
        !attempts.lock().unwrap().contains_key("later"),
        "scheduled message waits"
    );
    let st = host.stats();
    assert_eq!(st.duplicates_dropped, 1);
    assert_eq!(st.redeliveries, 3, "bad twice, flaky once");
    assert_eq!(st.dead_lettered, 1);

    clock.advance(time::Duration::hours(1));
    host.run_until_idle().await.unwrap();
    assert_eq!(attempts.lock().unwrap().get("later"), Some(&1));

    // A failed timer run is not retried.
    let o = host.fire_timer("poller").await.unwrap();
    assert!(!o.succeeded && o.status == Some(500));
    host.run_until_idle().await.unwrap();
    assert_eq!(h.calls_to("poller").len(), 1);

    // The namespace answers like Azure: unknown entity 404, missing auth 401.
    assert!(matches!(
        s.send("nope", vec![OutgoingMessage::json("x", "{}")]).await,
        Err(BusError::Config { status: 404, .. })
    ));
    let resp = reqwest::Client::new()
        .post(host.service_bus_endpoint().join("events/messages").unwrap())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    host.shutdown().await;
}

fn clock_now(c: &ManualClock) -> time::OffsetDateTime {
    use ferry::clock::Clock;
    c.now()
}

#[tokio::test]
async fn event_grid_batch_is_redelivered_whole() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let (_h, url) = start_handler(move |_, inv| {
        let id = inv.data_json("event").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let first_time_e2 = id == "e2" && !s2.lock().unwrap().contains(&id);
        s2.lock().unwrap().push(id);
        if first_time_e2 {
            (500, json!({}))
        } else {
            ok(InvocationResponse::new())
        }
    })
    .await;
    let clock = clock();
    let host = Host::start(config(HandlerTarget::Url(url), &clock))
        .await
        .unwrap();
    let events: Vec<Value> = ["e1", "e2", "e3"]
        .iter()
        .map(|i| json!({"id": i, "data": {}}))
        .collect();
    host.publish_events(events, EventDelivery::EventGridTrigger)
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["e1", "e2", "e3"]);
    host.run_until_idle().await.unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "Event Grid waits before retrying"
    );
    clock.advance(time::Duration::seconds(10));
    let r = host.run_until_idle().await.unwrap();
    assert_eq!((r.event_grid_batches, r.completed), (1, 3));
    assert_eq!(*seen.lock().unwrap(), ["e1", "e2", "e3", "e1", "e2", "e3"]);
    host.shutdown().await;
}

#[tokio::test]
async fn handler_bugs_are_flagged() {
    let (_h, url) = start_handler(|f, _| match f {
        "ingest" => ok(InvocationResponse::new()
            .output("alerts", json!("aGVsbG8="))
            .output("undeclared", json!(1))),
        _ => ok(InvocationResponse::new()),
    })
    .await;
    let clock = clock();
    let host = Host::start(config(HandlerTarget::Url(url), &clock))
        .await
        .unwrap();
    sender(&host)
        .send("events", vec![OutgoingMessage::json("m", "{}")])
        .await
        .unwrap();
    host.run_until_idle().await.unwrap();
    let w = host.warnings();
    assert!(w.iter().any(|x| x.contains("valid base64")), "{w:?}");
    assert!(w.iter().any(|x| x.contains("undeclared")), "{w:?}");
    host.shutdown().await;
}

/// Child mode: the test binary re-run as a custom handler process. Not a test by itself: run
/// explicitly (`--ignored`) without the variables `spawned_handler_restarts` sets, it fails
/// rather than pass without doing anything.
#[tokio::test]
#[ignore = "runs only as the spawned handler of spawned_handler_restarts"]
async fn child_handler() {
    let (Ok(port), Ok(_)) = (
        std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT"),
        std::env::var("FERRY_TEST_CHILD_HANDLER"),
    ) else {
        panic!(
            "child_handler is not a test by itself: it is the handler process that \
             spawned_handler_restarts starts (with FUNCTIONS_CUSTOMHANDLER_PORT and \
             FERRY_TEST_CHILD_HANDLER set); run that test instead"
        );
    };
    let port: u16 = port.parse().unwrap();
    let probe = warp::get().and(warp::path::end()).map(|| "ok");
    let invoke = warp::post()
        .and(warp::path::param::<String>())
        .map(|_f: String| {
            warp::reply::json(
                &InvocationResponse::new()
                    .output("alerts", json!({"pid": std::process::id()}))
                    .to_json(),
            )
        });
    warp::serve(probe.or(invoke))
        .run(([127, 0, 0, 1], port))
        .await;
}

#[tokio::test]
async fn spawned_handler_restarts() {
    let clock = clock();
    let mut env = BTreeMap::new();
    env.insert("FERRY_TEST_CHILD_HANDLER".to_string(), "1".to_string());
    let target = HandlerTarget::Process {
        exe: std::env::current_exe().unwrap(),
        args: ["child_handler", "--exact", "--ignored", "--nocapture"]
            .map(String::from)
            .to_vec(),
        env,
    };
    let host = Host::start(config(target, &clock)).await.unwrap();
    assert!(host.fire_timer("poller").await.unwrap().succeeded);
    let before = host.handler_url();
    host.restart_handler().await.unwrap();
    assert!(host.fire_timer("poller").await.unwrap().succeeded);
    let pids = host.take_outputs("alerts");
    assert_eq!(pids.len(), 2);
    assert_ne!(pids[0]["pid"], pids[1]["pid"], "a new process answered");
    assert_ne!(before, host.handler_url(), "new port, like a new worker");
    assert_eq!(host.stats().handler_restarts, 1);
    host.shutdown().await;
}
