//! The status API answers only about what ferry made and never leaks what ARM says:
//! `readiness` of an id that is not one of ferry's copies is 404 without a call to ARM (so
//! the API cannot read arbitrary resources with ferry's identity), ARM's error messages (which
//! can carry the identity's object id) are not echoed, and `chains` pages its results.

use ferry::arm::{ArmClient, ArmConfig};
use ferry::auth::DevToken;
use ferry::bus::{BusError, MessageSender, Outbox, OutgoingMessage};
use ferry::functions::status::status;
use ferry::functions::App;
use ferry::ids::CollectionId;
use ferry::ledger::memory::MemoryLedger;
use ferry::ledger::records::{chain_key, Chain, CopyRecord, CopyState};
use ferry::ledger::{Ledger, Op};
use ferry::permissions::EntityNames;
use ferry::policy::Policy;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use time::macros::datetime;
use time::OffsetDateTime;

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";
const NOW: OffsetDateTime = datetime!(2026-11-02 00:00 UTC);
/// What a real ARM 403 says: the caller's object id.
const SECRET: &str = "7f3c2a10-object-id-of-the-identity";

struct NoBus;

#[async_trait::async_trait]
impl MessageSender for NoBus {
    async fn send(&self, _: &str, _: Vec<OutgoingMessage>) -> Result<(), BusError> {
        Ok(())
    }
}

/// An ARM endpoint that counts requests and answers each with a 403 naming the identity.
async fn forbidding_arm() -> (String, Arc<AtomicU64>) {
    use warp::Filter;
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let route = warp::any().map(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let body = json!({"error": {"code": "AuthorizationFailed", "message": format!(
            "The client '{SECRET}' with object id '{SECRET}' does not have authorization to perform action 'Microsoft.Compute/restorePointCollections/restorePoints/read'")}});
        warp::reply::with_status(warp::reply::json(&body), warp::http::StatusCode::FORBIDDEN)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), calls)
}

fn app(arm: &str, ledger: Arc<MemoryLedger>) -> App {
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: arm.parse().unwrap(),
            ..ArmConfig::default()
        },
        Arc::new(DevToken::new("test")),
    )
    .unwrap();
    let policy = Policy::parse(&format!(
        r#"{{"rules":[{{"scope":"{SUB}","targets":[{{"region":"westus2","resourceGroup":"rg-dr"}}]}}]}}"#
    ))
    .unwrap();
    App {
        arm,
        ledger,
        bus: Outbox::new(Arc::new(NoBus), EntityNames::defaults()),
        policy,
        stall_after: time::Duration::hours(6),
        expiry_warning: time::Duration::days(2),
        poll_concurrency: 4,
        poll_budget: std::time::Duration::from_secs(480),
        telemetry: Default::default(),
        alert_webhook: None,
        fail_points: None,
    }
}

fn coll(rg: &str, name: &str) -> CollectionId {
    format!("{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}")
        .parse()
        .unwrap()
}

/// A chain for source `rpc-{i}` with one succeeded copy `rp1`; returns the copy's target.
async fn seed_chain(ledger: &MemoryLedger, i: usize) -> String {
    let source = coll("rg-app", &format!("rpc-{i}"));
    let target = coll("rg-dr", &format!("rg-app-rpc-{i}-westus2"));
    let key = chain_key(&source, "westus2");
    let chain = Chain {
        key: key.clone(),
        source_collection: source.clone(),
        source_region: Some("eastus".into()),
        source_vm: None,
        target_region: "westus2".into(),
        target_collection: target.clone(),
        created_at: NOW,
        in_flight: None,
        active: false,
        watermark: Some(NOW),
        base_restore_point: Some("rp1".into()),
        last_success_source_time: Some(NOW),
        last_success_restore_point: Some("rp1".into()),
        last_success_at: Some(NOW),
        recent_starts: Vec::new(),
        rpo_alerted: None,
        upkeep: Default::default(),
        target_ready: true,
        history: Default::default(),
        etag: None,
        rpo_objective: None,
    };
    let copy = CopyRecord {
        source_vm: None,
        state: CopyState::Succeeded,
        started_at: Some(NOW),
        ended_at: Some(NOW),
        last_reading_at: Some(NOW),
        last_percent: Some(100.0),
        last_status: Some("Succeeded".into()),
        last_progress_at: Some(NOW),
        readings: 1,
        ..CopyRecord::pending(&chain, &source.restore_point("rp1"), NOW, NOW)
    };
    ledger
        .batch(
            &key,
            vec![Op::Insert(chain.to_entity()), Op::Insert(copy.to_entity())],
        )
        .await
        .unwrap();
    copy.target_restore_point.to_string()
}

fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn readiness_of_an_id_ferry_did_not_copy_is_404_without_asking_arm() {
    let (arm, calls) = forbidding_arm().await;
    let ledger = Arc::new(MemoryLedger::new());
    seed_chain(&ledger, 1).await;
    let app = app(&arm, ledger);
    // Any restore point at all, e.g. a source one in another resource group.
    let foreign = coll("rg-secret", "rpc-payroll")
        .restore_point("rp1")
        .to_string();
    let (code, body) = status(&app, "readiness", &q(&[("restorePoint", &foreign)]), NOW).await;
    assert_eq!(code, 404, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a copy ferry made"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "ARM was asked about {foreign}"
    );
}

#[tokio::test]
async fn arm_error_messages_are_never_echoed() {
    let (arm, calls) = forbidding_arm().await;
    let ledger = Arc::new(MemoryLedger::new());
    let target = seed_chain(&ledger, 1).await;
    let app = app(&arm, ledger);
    let (code, body) = status(&app, "readiness", &q(&[("restorePoint", &target)]), NOW).await;
    assert!(
        calls.load(Ordering::SeqCst) > 0,
        "a copy of ferry's is read from ARM"
    );
    assert_eq!(code, 503, "{body}");
    let text = body.to_string();
    assert!(!text.contains(SECRET), "ARM's message leaked: {text}");
    assert!(!text.contains("AuthorizationFailed"), "{text}");
}

#[tokio::test]
async fn chains_are_paged() {
    let ledger = Arc::new(MemoryLedger::new());
    for i in 0..7 {
        seed_chain(&ledger, i).await;
    }
    let app = app("http://127.0.0.1:9", ledger);
    let (code, first) = status(&app, "chains", &q(&[]), NOW).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["chains"].as_array().unwrap().len(), 7);
    assert_eq!(first["next"], Value::Null);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let mut query = q(&[("top", "3")]);
        if let Some(a) = &after {
            query.insert("after".into(), a.clone());
        }
        let (code, page) = status(&app, "chains", &query, NOW).await;
        assert_eq!(code, 200, "{page}");
        let chains = page["chains"].as_array().unwrap();
        assert!(chains.len() <= 3);
        seen.extend(
            chains
                .iter()
                .map(|c| c["key"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7), "{seen:?}");

    for bad in [
        ("top", "0"),
        ("top", "1001"),
        ("top", "x"),
        ("after", "'or 1=1"),
    ] {
        let (code, body) = status(&app, "chains", &q(&[bad]), NOW).await;
        assert_eq!(code, 400, "{bad:?}: {body}");
    }
}

/// The dashboard's data: pages like `chains`, and each chain carries its timeline.
#[tokio::test]
async fn overview_pages_chains_with_their_timelines() {
    let ledger = Arc::new(MemoryLedger::new());
    for i in 0..5 {
        seed_chain(&ledger, i).await;
    }
    let app = app("http://127.0.0.1:9", ledger);
    let (code, first) = status(&app, "overview", &q(&[("top", "3")]), NOW).await;
    assert_eq!(code, 200, "{first}");
    let chains = first["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 3);
    for c in chains {
        let bars = c["timeline"].as_array().unwrap();
        assert_eq!(bars.len(), 1, "{c}");
        assert_eq!(bars[0]["outcome"], "Succeeded");
        assert_eq!(bars[0]["restorePoint"], "rp1");
        assert!(c["sourceCollectionName"]
            .as_str()
            .unwrap()
            .starts_with("rpc-"));
        assert_eq!(c["rpo"]["breached"], false);
    }
    let after = first["next"].as_str().unwrap();
    let (code, rest) = status(&app, "overview", &q(&[("top", "3"), ("after", after)]), NOW).await;
    assert_eq!(code, 200, "{rest}");
    assert_eq!(rest["chains"].as_array().unwrap().len(), 2);
    assert_eq!(rest["next"], Value::Null);
    assert_eq!(rest["alerts"], json!([]));
    let (code, _) = status(&app, "overview", &q(&[("key", "x")]), NOW).await;
    assert_eq!(code, 400);
}
