//! The ARM client against a loopback warp server that serves the official examples
//! (tests/fixtures/arm, copied from Azure/azure-rest-api-specs) and checks what the client sends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry::arm::{
    AccessUri, ArmClient, ArmConfig, ArmError, CopyRequest, CreateCollectionRequest, Deleted,
    DiskRestorePoint, DiskRestorePointList, OperationState, RestorePoint, RestorePointCollection,
    RestorePointCollectionList,
};
use ferry::auth::DevToken;
use ferry::ids::{CollectionId, DiskRestorePointId, RestorePointId};
use serde_json::{json, Value};
use url::Url;
use warp::http::{HeaderMap, Response};
use warp::Filter;

const TOKEN: &str = "test-token-not-a-secret";

// ---------------------------------------------------------------------------------------------
// Fixtures

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arm")
}

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn all_fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["", "2025-04-01"] {
        for entry in std::fs::read_dir(fixtures_dir().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "json") {
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                out.push(if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    out.sort();
    out
}

/// Drops nulls and rewrites RFC 3339 timestamps in one canonical form, so a value that went
/// through `OffsetDateTime` compares equal to the original text.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::String(s) => {
            match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                Ok(t) => Value::String(
                    t.to_offset(time::UtcOffset::UTC)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap(),
                ),
                Err(_) => v.clone(),
            }
        }
        other => other.clone(),
    }
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_null),
        Value::Array(a) => a.iter().any(has_null),
        _ => false,
    }
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(what: &str, v: &Value) -> T {
    let parsed: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{what}: does not deserialize: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    // The examples hold no nulls, so none may come back: an unset field is left out, not
    // written as null (`normalize` below would hide that).
    assert!(!has_null(v), "{what}: the example itself holds a null");
    assert!(
        !has_null(&back),
        "{what}: an unset field serialized as null: {back}"
    );
    assert_eq!(
        normalize(&back),
        normalize(v),
        "{what}: round trip lost or changed fields"
    );
    parsed
}

#[test]
fn every_official_example_round_trips() {
    let names = all_fixtures();
    assert_eq!(names.len(), 23, "fixtures missing or extra: {names:?}");
    let mut checked = 0;
    for name in &names {
        let f = fixture(name);
        let request = f["parameters"].get("parameters");
        let responses = f["responses"].as_object().expect("responses");
        let bodies: Vec<(String, &Value)> = responses
            .iter()
            .filter_map(|(code, r)| r.get("body").map(|b| (format!("{name} {code}"), b)))
            .collect();
        let base = name.rsplit('/').next().unwrap();
        if base.starts_with("RestorePointCollection_List") {
            for (what, b) in &bodies {
                let l: RestorePointCollectionList = round_trip(what, b);
                assert!(!l.value.is_empty());
                checked += 1;
            }
        } else if base.starts_with("RestorePointCollection_") {
            if let Some(r) = request {
                round_trip::<RestorePointCollection>(&format!("{name} request"), r);
                checked += 1;
            }
            for (what, b) in &bodies {
                let c: RestorePointCollection = round_trip(what, b);
                assert!(c.location.is_some(), "{what}");
                checked += 1;
            }
        } else if base.starts_with("RestorePoint_") {
            if let Some(r) = request {
                round_trip::<RestorePoint>(&format!("{name} request"), r);
                checked += 1;
            }
            for (what, b) in &bodies {
                let rp: RestorePoint = round_trip(what, b);
                assert!(rp.time_created().is_some(), "{what}");
                assert!(rp.disks().count() >= 2, "{what}");
                checked += 1;
            }
        } else if base == "DiskRestorePoint_ListByVmRestorePoint.json" {
            for (what, b) in &bodies {
                let l: DiskRestorePointList = round_trip(what, b);
                assert_eq!(l.value.len(), 1);
                checked += 1;
            }
        } else if base == "DiskRestorePoint_BeginGetAccess.json" {
            for (what, b) in &bodies {
                let a: AccessUri = round_trip(what, b);
                assert!(a.access_sas.is_some());
                assert!(
                    !format!("{a:?}").contains("sig="),
                    "SAS must not be in Debug"
                );
                checked += 1;
            }
        } else if base.starts_with("DiskRestorePoint_") {
            for (what, b) in &bodies {
                let d: DiskRestorePoint = round_trip(what, b);
                let p = d.properties.as_ref().unwrap();
                assert!(
                    p.time_created.is_some() && p.source_resource_id.is_some(),
                    "{what}"
                );
                checked += 1;
            }
        } else {
            panic!("fixture {name} has no model assigned");
        }
    }
    // Every example with a body or a request was decoded.
    assert_eq!(checked, 26, "bodies checked");
}

#[test]
fn example_field_values_reach_the_helpers() {
    let f = fixture("RestorePoint_Get_WithInstanceView.json");
    let rp: RestorePoint = serde_json::from_value(f["responses"]["200"]["body"].clone()).unwrap();
    let disks: Vec<_> = rp.disks().collect();
    assert!(disks[0].is_os);
    assert_eq!(
        disks[0].name,
        Some("testingexcludedisk_OsDisk_1_74cdaedcea50483d9833c96adefa100f")
    );
    assert_eq!(disks[1].lun, Some(1));
    assert!(disks[1]
        .disk_restore_point_id
        .unwrap()
        .ends_with("testingexcludedisk_DataDisk_1_68785190-1acb-4d5e-a8ae-705b45f3dca5"));
    let iv = rp.instance_view_disks();
    assert_eq!(iv.len(), 2);
    for d in iv {
        let r = d.replication_status.as_ref().unwrap();
        assert!(r.is_succeeded() && !r.is_failed());
        assert_eq!(r.percent(), Some(100));
    }
    assert_eq!(
        iv[1].snapshot_access_state.as_deref(),
        Some("AvailableWithInstantAccess")
    );
    assert_eq!(rp.provisioning_state(), Some("Succeeded"));
    assert_eq!(
        rp.time_created().unwrap(),
        time::macros::datetime!(2021-01-27 20:35:05.8401519 UTC)
    );
    assert!(!rp.is_copy());

    let f = fixture("RestorePoint_Copy_BetweenRegions.json");
    let copy: RestorePoint = serde_json::from_value(f["responses"]["201"]["body"].clone()).unwrap();
    assert!(copy.is_copy());

    let f = fixture("2025-04-01/RestorePointCollection_Update_MaximumSet_Gen.json");
    let c: RestorePointCollection =
        serde_json::from_value(f["responses"]["200"]["body"].clone()).unwrap();
    let rp = &c.restore_points()[0];
    assert_eq!(rp.security_type(), Some("TrustedLaunch"));
    let os = rp.disks().next().unwrap();
    assert_eq!(os.disk_encryption_set_id, Some("aaaaaaaaaaaa"));
    assert!(os.is_customer_key());

    let f = fixture("DiskRestorePoint_Get_WithConfidentialVMVersion.json");
    let d: DiskRestorePoint =
        serde_json::from_value(f["responses"]["200"]["body"].clone()).unwrap();
    assert_eq!(
        d.properties
            .unwrap()
            .security_profile
            .unwrap()
            .security_type
            .as_deref(),
        Some("ConfidentialVM_DiskEncryptedWithPlatformKey")
    );
}

#[test]
fn our_request_bodies_equal_the_official_ones() {
    let f = fixture("RestorePoint_Copy_BetweenRegions.json");
    let src: RestorePointId = f["parameters"]["parameters"]["properties"]["sourceRestorePoint"]
        ["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        serde_json::to_value(CopyRequest::new(&src)).unwrap(),
        f["parameters"]["parameters"]
    );

    let f = fixture("2025-04-01/RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy.json");
    let p = &f["parameters"]["parameters"];
    let tags: BTreeMap<String, String> = serde_json::from_value(p["tags"].clone()).unwrap();
    let req = CreateCollectionRequest::new(
        p["location"].as_str().unwrap(),
        p["properties"]["source"]["id"].as_str().unwrap(),
        tags,
    );
    assert_eq!(serde_json::to_value(req).unwrap(), *p);
}

// ---------------------------------------------------------------------------------------------
// Loopback ARM

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap(),
    }
}

fn empty(status: u16) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: vec![],
    }
}

impl Reply {
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct Server {
    base: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server on 127.0.0.1:0; `handler` gets each request and its index.
    async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let s2 = seen.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::<Vec<(String, String)>>())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: Vec<(String, String)>,
                      headers: HeaderMap,
                      body: bytes::Bytes| {
                    let path = percent_encoding::percent_decode_str(path.as_str())
                        .decode_utf8_lossy()
                        .into_owned();
                    let req = Seen {
                        method: method.to_string(),
                        path,
                        query,
                        headers,
                        body: body.to_vec(),
                        at: Instant::now(),
                    };
                    let n = {
                        let mut g = s2.lock().unwrap();
                        g.push(req.clone());
                        g.len() - 1
                    };
                    let r = handler(&req, n);
                    let mut b = Response::builder().status(r.status);
                    for (k, v) in r.headers {
                        b = b.header(k, v);
                    }
                    b.body(r.body).unwrap()
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Server {
            base: Url::parse(&format!("http://{addr}")).unwrap(),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn client(&self) -> ArmClient {
        self.client_with(|_| {})
    }

    fn client_with(&self, tweak: impl FnOnce(&mut ArmConfig)) -> ArmClient {
        let mut cfg = ArmConfig {
            endpoint: self.base.clone(),
            max_backoff: Duration::from_millis(50),
            timeout: Duration::from_secs(10),
            ..Default::default()
        };
        tweak(&mut cfg);
        ArmClient::new(cfg, Arc::new(DevToken::new(TOKEN))).unwrap()
    }
}

/// The resource path an example's `parameters` name.
fn example_path(p: &Value) -> String {
    let s = |k: &str| p[k].as_str().map(str::to_string);
    let mut path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/restorePointCollections/{}",
        s("subscriptionId").unwrap(),
        s("resourceGroupName").unwrap(),
        s("restorePointCollectionName").unwrap()
    );
    if let Some(rp) = s("restorePointName").or_else(|| s("vmRestorePointName")) {
        path.push_str(&format!("/restorePoints/{rp}"));
    }
    if let Some(d) = s("diskRestorePointName") {
        path.push_str(&format!("/diskRestorePoints/{d}"));
    }
    path
}

/// Checks a request against an example: method, path, api-version, `$expand`, bearer token,
/// request id, user agent and (when the example has one) the body. Returns why not, if not.
fn mismatch(req: &Seen, method: &str, example: &Value) -> Option<String> {
    let p = &example["parameters"];
    let want_path = example_path(p);
    if req.method != method {
        return Some(format!("method {} != {method}", req.method));
    }
    if req.path != want_path {
        return Some(format!("path {} != {want_path}", req.path));
    }
    if req.q("api-version") != p["api-version"].as_str() {
        return Some(format!(
            "api-version {:?} != {}",
            req.q("api-version"),
            p["api-version"]
        ));
    }
    if req.q("$expand") != p["expand"].as_str() {
        return Some(format!(
            "$expand {:?} != {:?}",
            req.q("$expand"),
            p["expand"]
        ));
    }
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return Some("missing or wrong Authorization".into());
    }
    let rid = req
        .headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok());
    if rid.map(|u| u.get_version_num()) != Some(4) {
        return Some("x-ms-client-request-id is not a v4 uuid".into());
    }
    let ua = req.headers.get("user-agent").and_then(|v| v.to_str().ok());
    if !ua.is_some_and(|u| u.starts_with("restore-point-ferry/")) {
        return Some(format!("user agent {ua:?}"));
    }
    if let Some(want) = p.get("parameters") {
        let got: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return Some(format!("body is not JSON: {e}")),
        };
        if &got != want {
            return Some(format!("body {got} != {want}"));
        }
        let ct = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        if ct != Some("application/json") {
            return Some(format!("content-type {ct:?}"));
        }
    } else if !req.body.is_empty() {
        return Some("unexpected request body".into());
    }
    None
}

/// Serves `code`'s body of `example` to a request that matches it, else a 400 naming why.
fn serve_example(method: &'static str, name: &str, code: &str) -> impl Fn(&Seen, usize) -> Reply {
    let ex = fixture(name);
    let code = code.to_string();
    move |req, _| match mismatch(req, method, &ex) {
        None => reply(code.parse().unwrap(), &ex["responses"][&code]["body"]),
        Some(why) => reply(
            400,
            &json!({"error": {"code": "TestMismatch", "message": why}}),
        ),
    }
}

fn collection_of(ex: &Value) -> CollectionId {
    example_path(&ex["parameters"]).parse().unwrap()
}

fn rp_of(ex: &Value) -> RestorePointId {
    example_path(&ex["parameters"]).parse().unwrap()
}

fn body_of<T: serde::de::DeserializeOwned>(ex: &Value, code: &str) -> T {
    serde_json::from_value(ex["responses"][code]["body"].clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Client methods against the examples

#[tokio::test]
async fn get_collection_plain_and_expanded() {
    for (name, expand) in [
        ("RestorePointCollection_Get.json", false),
        (
            "RestorePointCollection_Get_WithContainedRestorePoints.json",
            true,
        ),
    ] {
        let server = Server::start(serve_example("GET", name, "200")).await;
        let ex = fixture(name);
        let got = server
            .client()
            .get_collection(&collection_of(&ex), expand)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect("exists");
        assert_eq!(got, body_of::<RestorePointCollection>(&ex, "200"));
        assert_eq!(got.source_location(), Some("eastus"));
        assert_eq!(got.restore_points().len(), usize::from(expand));
        assert_eq!(server.seen().len(), 1);
    }
}

#[tokio::test]
async fn create_target_collection_sends_the_official_body() {
    let name = "2025-04-01/RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy.json";
    let ex = fixture(name);
    let server = Server::start(serve_example("PUT", name, "201")).await;
    let p = &ex["parameters"]["parameters"];
    let source: CollectionId = p["properties"]["source"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tags: BTreeMap<String, String> = serde_json::from_value(p["tags"].clone()).unwrap();
    // The example is for api-version 2025-04-01.
    let client = server.client_with(|c| c.compute_api_version = "2025-04-01".into());
    let got = client
        .create_collection(&collection_of(&ex), "norwayeast", &source, tags)
        .await
        .unwrap();
    assert_eq!(got, body_of::<RestorePointCollection>(&ex, "201"));
}

#[tokio::test]
async fn get_restore_point_with_and_without_instance_view() {
    for (name, expand) in [
        ("RestorePoint_Get.json", false),
        ("RestorePoint_Get_WithInstanceView.json", true),
    ] {
        let server = Server::start(serve_example("GET", name, "200")).await;
        let ex = fixture(name);
        let got = server
            .client()
            .get_restore_point(&rp_of(&ex), expand)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        assert_eq!(got, body_of::<RestorePoint>(&ex, "200"));
        assert_eq!(got.instance_view_disks().len(), if expand { 2 } else { 0 });
    }
}

#[tokio::test]
async fn start_copy_then_wait_for_the_operation() {
    let name = "RestorePoint_Copy_BetweenRegions.json";
    let ex = fixture(name);
    let check = serve_example("PUT", name, "201");
    let op_path = "/subscriptions/{subscription-id}/providers/Microsoft.Compute/locations/norwayeast/operations/op-1";
    let server = Server::start(move |req, _| {
        if req.path == op_path {
            assert_eq!(req.method, "GET");
            assert_eq!(req.q("api-version"), Some("2025-11-01"));
            let auth = req.headers.get("authorization").unwrap().to_str().unwrap();
            assert_eq!(auth, format!("Bearer {TOKEN}"));
            return reply(200, &json!({"name": "op-1", "status": "InProgress", "startTime": "2026-11-01T10:00:00+00:00"}))
                .header("retry-after", "1");
        }
        let r = check(req, 0);
        if r.status == 201 {
            r.header(
                "azure-asyncoperation",
                &format!("{op_path}?api-version=2025-11-01"),
            )
            .header("location", &format!("{op_path}?api-version=2025-11-01&monitor=true"))
        } else {
            r
        }
    })
    .await;
    let client = server.client();
    let src: RestorePointId = ex["parameters"]["parameters"]["properties"]["sourceRestorePoint"]
        ["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let started = client
        .start_copy(&rp_of(&ex), &CopyRequest::new(&src))
        .await
        .unwrap();
    assert_eq!(started.status, 201);
    assert_eq!(started.resource, body_of::<RestorePoint>(&ex, "201"));
    assert!(started.resource.is_copy());
    let op = started
        .async_operation
        .clone()
        .expect("Azure-AsyncOperation");
    assert_eq!(op.host_str(), server.base.host_str());
    assert!(started.location.is_some());

    // The operation stays InProgress: wait_operation gives up at max_wait with the last status.
    let st = client
        .wait_operation(&op, Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(st.status, OperationState::InProgress);
    let polls: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == op_path)
        .collect();
    // Polled at the start, after the 1s Retry-After, and once more at the deadline.
    assert!(polls.len() >= 2, "{} polls", polls.len());
    assert!(polls[1].at - polls[0].at >= Duration::from_millis(900));
}

#[tokio::test]
async fn operation_in_progress_then_succeeded() {
    let op_path = "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Compute/locations/westus/operations/op-2";
    let server = Server::start(move |req, n| {
        assert_eq!(req.path, op_path);
        if n == 0 {
            reply(200, &json!({"name": "op-2", "status": "InProgress"})).header("retry-after", "1")
        } else {
            reply(
                200,
                &json!({"name": "op-2", "status": "Succeeded",
                        "startTime": "2026-11-01T10:00:00.1234567+00:00",
                        "endTime": "2026-11-01T10:00:02+00:00"}),
            )
        }
    })
    .await;
    let url = server
        .base
        .join(&format!("{op_path}?api-version=2025-11-01"))
        .unwrap();
    let client = server.client();
    let first = client.operation_status(&url).await.unwrap();
    assert_eq!(first.status, OperationState::InProgress);
    let done = client
        .wait_operation(&url, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.status, OperationState::Succeeded);
    assert!(done.end_time.is_some());
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn operation_urls_off_the_endpoint_are_refused() {
    let server = Server::start(|_, _| empty(200)).await;
    let foreign = Url::parse("https://foo.com/operationstatus").unwrap();
    let err = server
        .client()
        .operation_status(&foreign)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Decode { .. }), "{err}");
    assert!(
        server.seen().is_empty(),
        "the token must not be sent anywhere"
    );
}

#[tokio::test]
async fn delete_restore_point_accepted_done_and_gone() {
    let name = "RestorePoint_Delete_MaximumSet_Gen.json";
    let ex = fixture(name);
    let ex2 = ex.clone();
    let server = Server::start(move |req, n| {
        if let Some(why) = mismatch(req, "DELETE", &ex2) {
            return reply(
                400,
                &json!({"error": {"code": "TestMismatch", "message": why}}),
            );
        }
        match n {
            0 => empty(202).header(
                "location",
                ex2["responses"]["202"]["headers"]["location"]
                    .as_str()
                    .unwrap(),
            ),
            1 => empty(204),
            _ => reply(
                404,
                &json!({"error": {"code": "NotFound", "message": "The entity was not found."}}),
            ),
        }
    })
    .await;
    let client = server.client();
    let id = rp_of(&ex);
    let d = client.delete_restore_point(&id).await.unwrap();
    assert_eq!(
        d.operation_url().map(Url::as_str),
        Some("https://foo.com/operationstatus")
    );
    assert!(matches!(d, Deleted::Done { status: 202, .. }));
    assert!(matches!(
        client.delete_restore_point(&id).await.unwrap(),
        Deleted::Done { status: 204, .. }
    ));
    assert_eq!(
        client.delete_restore_point(&id).await.unwrap(),
        Deleted::AlreadyGone
    );
}

#[tokio::test]
async fn list_disk_restore_points_follows_next_link() {
    let name = "DiskRestorePoint_ListByVmRestorePoint.json";
    let ex = fixture(name);
    let ex2 = ex.clone();
    let base: Arc<Mutex<Option<Url>>> = Arc::default();
    let base2 = base.clone();
    let server = Server::start(move |req, n| {
        // Page 2 is fetched through nextLink, which carries its own query.
        if n == 1 {
            assert_eq!(req.q("$skiptoken"), Some("page2"));
        }
        let expected = format!("{}/diskRestorePoints", example_path(&ex2["parameters"]));
        if req.path != expected
            || req.q("api-version") != ex2["parameters"]["api-version"].as_str()
            || req.headers.get("authorization").is_none()
        {
            return reply(
                400,
                &json!({"error": {"code": "TestMismatch", "message": req.path}}),
            );
        }
        let mut body = ex2["responses"]["200"]["body"].clone();
        if n == 0 {
            let mut next = base2
                .lock()
                .unwrap()
                .clone()
                .unwrap()
                .join(&expected)
                .unwrap();
            next.query_pairs_mut()
                .append_pair("api-version", "2026-03-02")
                .append_pair("$skiptoken", "page2");
            body["nextLink"] = json!(next.as_str());
        }
        reply(200, &body)
    })
    .await;
    *base.lock().unwrap() = Some(server.base.clone());
    let got = server
        .client()
        .list_disk_restore_points(&rp_of(&ex))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let want: DiskRestorePointList = body_of(&ex, "200");
    assert_eq!(got[0], want.value[0]);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn next_link_to_another_host_is_not_followed() {
    let server = Server::start(|_, _| {
        reply(
            200,
            &json!({"value": [], "nextLink": "https://elsewhere.example/steal?x=1"}),
        )
    })
    .await;
    let rp: RestorePointId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/r".parse().unwrap();
    let err = server
        .client()
        .list_disk_restore_points(&rp)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Decode { .. }));
    assert!(err.to_string().contains("list disk restore points"));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn get_disk_restore_point_examples() {
    for name in [
        "DiskRestorePoint_Get.json",
        "DiskRestorePoint_Get_WhenSourceResourceIsFromDifferentRegion.json",
        "DiskRestorePoint_Get_WithConfidentialVMVersion.json",
        "DiskRestorePoint_Get_WithInstantAccess.json",
    ] {
        let ex = fixture(name);
        let server = Server::start(serve_example("GET", name, "200")).await;
        let id: DiskRestorePointId = example_path(&ex["parameters"]).parse().unwrap();
        let got = server
            .client()
            .get_disk_restore_point(&id)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        assert_eq!(got, body_of::<DiskRestorePoint>(&ex, "200"), "{name}");
        if name.contains("DifferentRegion") {
            assert_eq!(got.completion_percent(), Some(100.0));
            assert_eq!(got.replication_state(), Some("Succeeded"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failure handling

fn some_rp() -> RestorePointId {
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1".parse().unwrap()
}

#[tokio::test]
async fn not_found_is_none() {
    let server = Server::start(|_, _| {
        reply(
            404,
            &json!({"error": {"code": "NotFound", "message": "The entity was not found in this Azure location."}}),
        )
    })
    .await;
    let c = server.client();
    assert!(c
        .get_restore_point(&some_rp(), true)
        .await
        .unwrap()
        .is_none());
    assert!(c
        .get_collection(&some_rp().collection, false)
        .await
        .unwrap()
        .is_none());
    let drp = DiskRestorePointId {
        restore_point: some_rp(),
        name: "os_1".into(),
    };
    assert!(c.get_disk_restore_point(&drp).await.unwrap().is_none());
    assert_eq!(server.seen().len(), 3, "404 is not retried");
}

#[tokio::test]
async fn throttled_then_success_honours_retry_after() {
    let ex = fixture("RestorePoint_Get.json");
    let server = Server::start(move |_, n| {
        if n == 0 {
            reply(
                429,
                &json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
            )
            .header("retry-after", "1")
        } else {
            reply(200, &ex["responses"]["200"]["body"])
        }
    })
    .await;
    // max_backoff must admit the 1s Retry-After for the client to wait it out.
    let c = server.client_with(|c| c.max_backoff = Duration::from_secs(5));
    let got = c.get_restore_point(&some_rp(), false).await.unwrap();
    assert!(got.is_some());
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(950),
        "second request came after {:?}",
        seen[1].at - seen[0].at
    );
}

#[tokio::test]
async fn long_retry_after_ends_the_call_as_throttled() {
    let server = Server::start(|_, _| {
        reply(
            429,
            &json!({"error": {"code": "TooManyRequests", "message": "later"}}),
        )
        .header("retry-after", "3600")
    })
    .await;
    let err = server
        .client_with(|c| c.max_backoff = Duration::from_secs(5))
        .get_restore_point(&some_rp(), true)
        .await
        .unwrap_err();
    match err {
        ArmError::Throttled {
            retry_after,
            attempts,
        } => {
            assert_eq!(retry_after, Duration::from_secs(3600));
            assert_eq!(attempts, 1);
        }
        other => panic!("expected Throttled, got {other}"),
    }
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn persistent_429_gives_throttled_after_max_attempts() {
    let server = Server::start(|_, _| {
        reply(
            429,
            &json!({"error": {"code": "TooManyRequests", "message": "later"}}),
        )
        .header("retry-after", "0")
    })
    .await;
    let err = server
        .client_with(|c| c.max_attempts = 3)
        .get_restore_point(&some_rp(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Throttled { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn server_errors_become_unavailable_after_max_attempts() {
    let server = Server::start(|_, _| {
        reply(
            500,
            &json!({"error": {"code": "InternalServerError", "message": "try later"}}),
        )
    })
    .await;
    let err = server
        .client_with(|c| c.max_attempts = 4)
        .get_restore_point(&some_rp(), true)
        .await
        .unwrap_err();
    match &err {
        ArmError::Unavailable { status, message } => {
            assert_eq!(*status, Some(500));
            assert!(message.contains("InternalServerError"), "{message}");
        }
        other => panic!("expected Unavailable, got {other}"),
    }
    assert!(err.is_transient());
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let ex = fixture("RestorePoint_Get.json");
    let server = Server::start(move |_, n| {
        if n < 2 {
            empty(503)
        } else {
            reply(200, &ex["responses"]["200"]["body"])
        }
    })
    .await;
    assert!(server
        .client()
        .get_restore_point(&some_rp(), false)
        .await
        .unwrap()
        .is_some());
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn conflict_is_an_api_error_and_not_retried() {
    let server = Server::start(|_, _| {
        reply(
            409,
            &json!({"error": {"code": "OperationNotAllowed",
                              "message": "Copy of a copy is not supported.",
                              "target": "sourceRestorePoint"}}),
        )
    })
    .await;
    let err = server
        .client()
        .start_copy(&some_rp(), &CopyRequest::new(&some_rp()))
        .await
        .unwrap_err();
    match &err {
        ArmError::Api {
            status,
            code,
            message,
            target,
        } => {
            assert_eq!(*status, 409);
            assert_eq!(code, "OperationNotAllowed");
            assert_eq!(message, "Copy of a copy is not supported.");
            assert_eq!(target.as_deref(), Some("sourceRestorePoint"));
        }
        other => panic!("expected Api, got {other}"),
    }
    assert_eq!(err.code(), Some("OperationNotAllowed"));
    assert!(!err.is_transient());
    let s = err.to_string();
    assert!(s.contains("409") && s.contains("OperationNotAllowed") && s.contains("Copy of a copy"));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn non_arm_error_body_falls_back_to_text() {
    let server = Server::start(|_, _| Reply {
        status: 403,
        headers: vec![],
        body: b"<html>forbidden by proxy</html>".to_vec(),
    })
    .await;
    let err = server
        .client()
        .get_restore_point(&some_rp(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Api { status: 403, .. }));
    assert!(err.to_string().contains("forbidden by proxy"));
}

#[tokio::test]
async fn garbage_success_body_is_a_decode_error() {
    for body in [&b"this is not json"[..], &br#"{"properties": []}"#[..]] {
        let b = body.to_vec();
        let server = Server::start(move |_, _| Reply {
            status: 200,
            headers: vec![],
            body: b.clone(),
        })
        .await;
        let err = server
            .client()
            .get_restore_point(&some_rp(), true)
            .await
            .unwrap_err();
        match &err {
            ArmError::Decode { what, .. } => assert_eq!(what, "get restore point"),
            other => panic!("expected Decode, got {other}"),
        }
        assert!(err.to_string().contains("get restore point"));
    }
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // Bind then drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = ArmClient::new(
        ArmConfig {
            endpoint: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            max_attempts: 2,
            max_backoff: Duration::from_millis(20),
            ..Default::default()
        },
        Arc::new(DevToken::new(TOKEN)),
    )
    .unwrap();
    let err = client
        .get_restore_point(&some_rp(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArmError::Unavailable { status: None, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn write_pacing_spaces_requests() {
    let server = Server::start(|_, _| empty(204)).await;
    let c = server.client_with(|c| {
        c.write_limit = Some(ferry::arm::RateLimit {
            burst: 1,
            per_second: 4.0,
        })
    });
    for _ in 0..3 {
        c.delete_restore_point(&some_rp()).await.unwrap();
    }
    let seen = server.seen();
    // One token up front, then one every 250ms: the third request is at least ~500ms in.
    assert!(seen[2].at - seen[0].at >= Duration::from_millis(450));
}

#[tokio::test]
async fn the_example_checker_catches_a_wrong_request() {
    // Guards the guard: a client with another api-version must be refused by the checker.
    let name = "RestorePoint_Get.json";
    let ex = fixture(name);
    let server = Server::start(serve_example("GET", name, "200")).await;
    let err = server
        .client_with(|c| c.compute_api_version = "2024-03-01".into())
        .get_restore_point(&rp_of(&ex), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("TestMismatch"), "{err}");
    let err = server
        .client()
        .get_restore_point(&rp_of(&ex), true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("$expand"), "{err}");
}
