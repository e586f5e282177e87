//! The emulator's management locks over HTTP: PUT/GET/DELETE of a `CanNotDelete` lock on a
//! restore point (api-version 2016-09-01), and the 409 `ScopeLocked` a DELETE of the locked
//! restore point, or of its collection, gets until the lock is removed.

mod common;

use common::{collection, rp, World, TOKEN};
use reqwest::Method as M;
use serde_json::{json, Value};

const LOCK_API: &str = "2016-09-01";
const COMPUTE_API: &str = "2024-11-01";

async fn call(w: &World, method: M, path: &str, api: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}?api-version={api}", w.url))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn lock(rp_id: &str) -> String {
    format!("{rp_id}/providers/Microsoft.Authorization/locks/ferry-base")
}

#[tokio::test]
async fn a_locked_restore_point_cannot_be_deleted_until_the_lock_is_removed() {
    let w = World::new(10_000.0).await;
    w.vm("vm1").await;
    w.restore_point("vm1", "rp1").await;
    let base = rp("vm1", "rp1");
    let body = json!({"properties": {"level": "CanNotDelete", "notes": "base of a chain"}});

    let (s, b) = call(&w, M::PUT, &lock(&base), LOCK_API, Some(body.clone())).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["properties"]["level"], "CanNotDelete");
    assert_eq!(b["type"], "Microsoft.Authorization/locks");
    // Idempotent re-PUT.
    let (s, _) = call(&w, M::PUT, &lock(&base), LOCK_API, Some(body.clone())).await;
    assert_eq!(s, 200);
    assert_eq!(w.emu.locks_present(), 1);
    let (s, b) = call(&w, M::GET, &lock(&base), LOCK_API, None).await;
    assert_eq!((s, b["name"].as_str()), (200, Some("ferry-base")));

    // The restore point and its collection are both refused.
    let (s, b) = call(&w, M::DELETE, &base, COMPUTE_API, None).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"]["code"], "ScopeLocked");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("cannot perform delete operation"), "{msg}");
    assert!(
        msg.contains("Please remove the lock and try again."),
        "{msg}"
    );
    let (s, b) = call(&w, M::DELETE, &collection("vm1"), COMPUTE_API, None).await;
    assert_eq!((s, &b["error"]["code"]), (409, &json!("ScopeLocked")));

    // Bad level and wrong api-version are refused; an unknown restore point has no lock.
    let (s, _) = call(
        &w,
        M::PUT,
        &lock(&base),
        LOCK_API,
        Some(json!({"properties": {"level": "Sometimes"}})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call(&w, M::PUT, &lock(&base), COMPUTE_API, Some(body.clone())).await;
    assert_eq!(s, 400);
    let (s, _) = call(&w, M::PUT, &lock(&rp("vm1", "nope")), LOCK_API, Some(body)).await;
    assert_eq!(s, 404);

    // Once the lock is gone the delete goes ahead (a long-running 202).
    let (s, _) = call(&w, M::DELETE, &lock(&base), LOCK_API, None).await;
    assert_eq!(s, 200);
    let (s, _) = call(&w, M::DELETE, &lock(&base), LOCK_API, None).await;
    assert_eq!(s, 204);
    assert_eq!(w.emu.locks_present(), 0);
    let (s, b) = call(&w, M::DELETE, &base, COMPUTE_API, None).await;
    assert_eq!(s, 202, "{b}");
}
