//! HTTP surface: path matching (fixed segments case-insensitive, like ARM), api-version and
//! auth checks, throttling, fault injection, the handlers, and the server loop.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};
use time::OffsetDateTime;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use super::faults::{roll_request, RequestFault};
use super::ids::{
    eq_ignore_case, normalize_region, valid_segment, CollectionId, DiskEncryptionSetId,
    RestorePointId, VmId,
};
use super::limits::TokenBucket;
use super::model::{self, error_body, EventArgs};
use super::rules::{self, check_copy, target_des_from_body, CopyRequest, Refusal};
use super::state::{
    provisioning_state, transfer_time, Collection, CollectionKind, CopyState, Disk, DiskCopy,
    DiskRp, OpKind, Operation, RestorePoint, RpKind, SourceMeta, State, Vm, PROGRESS_STEP,
};
use super::{CopyOutcome, Emulator};

/// Compute api-versions accepted for VMs, collections, restore points and operations.
pub const COMPUTE_API_VERSIONS: &[&str] = &[
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-04-01",
];
/// Disk RP api-versions accepted for disk restore points.
pub const DISK_API_VERSIONS: &[&str] = &[
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",
];

const PAGE_SIZE: usize = 50;
const MAX_BODY: usize = 4 * 1024 * 1024;
const EMULATOR_TAG: &str = "ferry-emulator:";

/// Per-connection switch used to drop a connection without answering (fault injection).
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(Arc<tokio::sync::Notify>);

/// One request, as the handlers see it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn host(&self) -> String {
        self.header("host")
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost")
            .to_string()
    }

    fn base(&self) -> String {
        format!("http://{}", self.host())
    }

    fn url(&self) -> String {
        if self.raw_query.is_empty() {
            format!("{}{}", self.base(), self.path)
        } else {
            format!("{}{}?{}", self.base(), self.path, self.raw_query)
        }
    }

    /// Query parameter by case-insensitive name (ARM treats `$expand` and `$Expand` alike).
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response in the making.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, error_body(code, message))
    }

    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    fn into_response(self) -> warp::reply::Response {
        let body = self
            .body
            .as_ref()
            .map(|b| Bytes::from(serde_json::to_vec(b).unwrap_or_default()))
            .unwrap_or_default();
        let mut resp = warp::reply::Response::new(body.into());
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let h = resp.headers_mut();
        if self.body.is_some() {
            h.insert(
                "content-type",
                warp::http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                warp::http::HeaderName::from_bytes(k.as_bytes()),
                warp::http::HeaderValue::from_str(&v),
            ) {
                h.append(k, v);
            }
        }
        resp
    }
}

impl From<Refusal> for Reply {
    fn from(r: Refusal) -> Self {
        let mut reply = Reply::error(r.status, r.code, &r.message);
        if let Some(s) = r.retry_after {
            reply = reply.header("Retry-After", s.to_string());
        }
        reply
    }
}

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

fn api_version_check(req: &Req, accepted: &[&str]) -> Result<(), Reply> {
    match req.q("api-version") {
        None | Some("") => Err(Reply::error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if accepted.contains(&v) => Ok(()),
        Some(v) => Err(Reply::error(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                accepted.join(",")
            ),
        )),
    }
}

fn not_found(kind: &str, name: &str, rg: &str) -> Reply {
    Reply::error(
        404,
        "ResourceNotFound",
        &format!(
            "The Resource 'Microsoft.Compute/{kind}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

fn parent_not_found(name: &str) -> Reply {
    Reply::error(
        404,
        "ParentResourceNotFound",
        &format!(
            "Can not perform requested operation on nested resource. Parent resource '{name}' not found."
        ),
    )
}

fn bad_request(code: &str, message: impl AsRef<str>) -> Reply {
    Reply::error(400, code, message.as_ref())
}

fn parse_body(req: &Req) -> Result<Value, Reply> {
    if req.body.len() > MAX_BODY {
        return Err(Reply::error(
            413,
            "RequestEntityTooLarge",
            "The request body is larger than 4 MiB.",
        ));
    }
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
        bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(bad_request(
            "InvalidRequestContent",
            "The request content must be a JSON object.",
        ));
    }
    Ok(v)
}

fn parse_tags(body: &Value) -> Result<BTreeMap<String, String>, Reply> {
    match &body["tags"] {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad_request(
                    "InvalidParameter",
                    format!("Tag '{k}' must have a string value."),
                )),
            })
            .collect(),
        _ => Err(bad_request(
            "InvalidParameter",
            "tags must be an object of strings.",
        )),
    }
}

fn parse_location(body: &Value) -> Result<String, Reply> {
    let loc = body["location"].as_str().ok_or_else(|| {
        bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        )
    })?;
    normalize_region(loc).ok_or_else(|| {
        bad_request(
            "LocationNotAvailableForResourceType",
            format!("'{loc}' is not a valid Azure region name."),
        )
    })
}

/// Path of a request, matched like ARM does (fixed segments case-insensitively).
enum Route {
    Vm(VmId),
    CollectionsInRg {
        subscription: String,
        rg: String,
    },
    CollectionsInSub {
        subscription: String,
    },
    Collection(CollectionId),
    RestorePoint(RestorePointId),
    DiskRestorePoints(RestorePointId),
    DiskRestorePoint(RestorePointId, String),
    Operation {
        subscription: String,
        region: String,
        id: String,
    },
}

enum RouteError {
    NotFound,
    BadName(String),
}

fn route(path: &str) -> Result<Route, RouteError> {
    let raw: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in raw {
        let d = percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| RouteError::BadName(s.to_string()))?;
        segs.push(d.into_owned());
    }
    let is = |i: usize, lit: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(lit));
    let name = |i: usize| -> Result<String, RouteError> {
        let s = segs.get(i).ok_or(RouteError::NotFound)?;
        if valid_segment(s) {
            Ok(s.clone())
        } else {
            Err(RouteError::BadName(s.clone()))
        }
    };
    if !is(0, "subscriptions") || segs.len() < 4 {
        return Err(RouteError::NotFound);
    }
    let subscription = name(1)?;
    if is(2, "providers") && is(3, "Microsoft.Compute") {
        return match segs.len() {
            5 if is(4, "restorePointCollections") => Ok(Route::CollectionsInSub { subscription }),
            8 if is(4, "locations") && is(6, "operations") => Ok(Route::Operation {
                subscription,
                region: normalize_region(&segs[5]).ok_or(RouteError::NotFound)?,
                id: name(7)?,
            }),
            _ => Err(RouteError::NotFound),
        };
    }
    if !is(2, "resourceGroups") || !is(4, "providers") || !is(5, "Microsoft.Compute") {
        return Err(RouteError::NotFound);
    }
    let rg = name(3)?;
    let coll = |n: String| CollectionId {
        subscription: subscription.clone(),
        resource_group: rg.clone(),
        name: n,
    };
    match segs.len() {
        8 if is(6, "virtualMachines") => Ok(Route::Vm(VmId {
            subscription: subscription.clone(),
            resource_group: rg.clone(),
            name: name(7)?,
        })),
        7 if is(6, "restorePointCollections") => Ok(Route::CollectionsInRg {
            subscription: subscription.clone(),
            rg: rg.clone(),
        }),
        8 if is(6, "restorePointCollections") => Ok(Route::Collection(coll(name(7)?))),
        10 if is(6, "restorePointCollections") && is(8, "restorePoints") => {
            Ok(Route::RestorePoint(coll(name(7)?).restore_point(&name(9)?)))
        }
        11 if is(6, "restorePointCollections")
            && is(8, "restorePoints")
            && is(10, "diskRestorePoints") =>
        {
            Ok(Route::DiskRestorePoints(
                coll(name(7)?).restore_point(&name(9)?),
            ))
        }
        12 if is(6, "restorePointCollections")
            && is(8, "restorePoints")
            && is(10, "diskRestorePoints") =>
        {
            Ok(Route::DiskRestorePoint(
                coll(name(7)?).restore_point(&name(9)?),
                name(11)?,
            ))
        }
        _ => Err(RouteError::NotFound),
    }
}

fn subscription_of(r: &Route) -> &str {
    match r {
        Route::Vm(v) => &v.subscription,
        Route::CollectionsInRg { subscription, .. }
        | Route::CollectionsInSub { subscription }
        | Route::Operation { subscription, .. } => subscription,
        Route::Collection(c) => &c.subscription,
        Route::RestorePoint(p) | Route::DiskRestorePoints(p) | Route::DiskRestorePoint(p, _) => {
            &p.collection.subscription
        }
    }
}

fn method_not_allowed(m: &Method) -> Reply {
    Reply::error(
        405,
        "MethodNotAllowed",
        &format!("The requested resource does not support http method '{m}'."),
    )
}

/// Request context shared by the handlers of one request.
struct Ctx<'a> {
    emu: &'a Emulator,
    req: &'a Req,
    now: OffsetDateTime,
    correlation: String,
}

impl Emulator {
    pub(crate) async fn handle(&self, req: Req, kill: Option<ConnKill>) -> Reply {
        if req
            .path
            .trim_start_matches('/')
            .to_ascii_lowercase()
            .starts_with("_emulator/")
        {
            return self.control(&req);
        }
        if let Some(l) = self.inner.cfg.faults.latency {
            tokio::time::sleep(l).await;
        }
        let fault = {
            let mut st = self.lock();
            st.stats.requests += 1;
            let f = roll_request(&self.inner.cfg.faults, &mut st.rng_faults);
            if f != RequestFault::None {
                st.stats.injected_faults += 1;
            }
            f
        };
        match fault {
            RequestFault::None => self.process(&req),
            RequestFault::Throttle => Reply::error(
                429,
                "TooManyRequests",
                "The request is being throttled (injected fault). Please try again later.",
            )
            .header("Retry-After", "5"),
            RequestFault::ServerError(500) => Reply::error(
                500,
                "InternalServerError",
                "An internal execution error occurred (injected fault). Please retry later.",
            ),
            RequestFault::ServerError(_) => Reply::error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable (injected fault). Please retry later.",
            )
            .header("Retry-After", "5"),
            RequestFault::DropBefore => drop_connection(kill).await,
            RequestFault::DropAfter => {
                let _lost = self.process(&req);
                drop_connection(kill).await
            }
        }
    }

    fn control(&self, req: &Req) -> Reply {
        let p = req.path.trim_matches('/').to_ascii_lowercase();
        match (req.method.clone(), p.as_str()) {
            (Method::GET, "_emulator/events") => {
                let after = match req.q("after").map(str::parse::<u64>) {
                    None => 0,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        return bad_request("InvalidParameter", "after must be an unsigned integer")
                    }
                };
                let (events, next) = self.events_after(after);
                Reply::json(200, json!({"events": events, "next": next}))
            }
            (Method::GET, "_emulator/stats") => match serde_json::to_value(self.stats()) {
                Ok(v) => Reply::json(200, v),
                Err(e) => Reply::error(500, "InternalServerError", &e.to_string()),
            },
            (Method::POST, "_emulator/outcomes") => {
                let body = match parse_body(req) {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                let rp = body["sourceRestorePoint"]
                    .as_str()
                    .ok_or("sourceRestorePoint (a restore point id) is required")
                    .and_then(|s| {
                        s.parse::<RestorePointId>()
                            .map_err(|_| "sourceRestorePoint is not a restore point id")
                    });
                let outcome = serde_json::from_value::<CopyOutcome>(body["outcome"].clone())
                    .map_err(|_| "outcome must be one of normal, fail, neverProgress");
                match (rp, outcome) {
                    (Ok(rp), Ok(o)) => {
                        self.plan_copy_outcome(&rp, o);
                        Reply::empty(204)
                    }
                    (Err(e), _) | (_, Err(e)) => bad_request("InvalidParameter", e),
                }
            }
            _ => Reply::error(404, "NotFound", "Unknown emulator control endpoint."),
        }
    }

    fn process(&self, req: &Req) -> Reply {
        let now = self.now();
        let correlation = self.lock().uuid();
        let ctx = Ctx {
            emu: self,
            req,
            now,
            correlation: correlation.clone(),
        };
        let reply = self.process_inner(&ctx);
        let request_id = self.lock().uuid();
        reply
            .header("x-ms-request-id", request_id)
            .header("x-ms-correlation-request-id", correlation)
    }

    fn process_inner(&self, ctx: &Ctx<'_>) -> Reply {
        let req = ctx.req;
        let authorized = req
            .header("authorization")
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
            })
            .is_some_and(|t| !t.trim().is_empty());
        if !authorized {
            return Reply::error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
            )
            .header(
                "WWW-Authenticate",
                "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"",
            );
        }
        let route = match route(&req.path) {
            Ok(r) => r,
            Err(RouteError::NotFound) => {
                return Reply::error(
                    404,
                    "InvalidResourceType",
                    &format!("The resource path '{}' is not served by this emulator (Microsoft.Compute restore point surface only).", req.path),
                )
            }
            Err(RouteError::BadName(n)) => {
                return bad_request(
                    "InvalidResourceName",
                    format!("The resource name '{n}' is invalid."),
                )
            }
        };
        // Token buckets first: ARM throttles before the resource provider sees the call.
        let write = !matches!(req.method, Method::GET | Method::HEAD);
        let (remaining_name, bucket_cfg) = if write {
            (
                "x-ms-ratelimit-remaining-subscription-writes",
                self.inner.cfg.limits.writes,
            )
        } else {
            (
                "x-ms-ratelimit-remaining-subscription-reads",
                self.inner.cfg.limits.reads,
            )
        };
        let mut remaining = None;
        if let Some((burst, rate)) = bucket_cfg {
            let mut st = self.lock();
            let key = (subscription_of(&route).to_ascii_lowercase(), write);
            let b = st
                .buckets
                .entry(key)
                .or_insert_with(|| TokenBucket::new(burst, rate, ctx.now));
            match b.take(ctx.now) {
                Ok(left) => remaining = Some(left),
                Err(wait) => {
                    st.stats.throttled += 1;
                    let kind = if write { "write" } else { "read" };
                    return Reply::error(
                        429,
                        "TooManyRequests",
                        &format!(
                            "Number of '{kind}' requests for subscription '{}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling",
                            subscription_of(&route)
                        ),
                    )
                    .header("Retry-After", wait.to_string())
                    .header(remaining_name, "0");
                }
            }
        }
        let versions = match route {
            Route::DiskRestorePoint(..) | Route::DiskRestorePoints(_) => DISK_API_VERSIONS,
            _ => COMPUTE_API_VERSIONS,
        };
        let reply = match api_version_check(req, versions) {
            Err(r) => r,
            Ok(()) => self.dispatch(ctx, route),
        };
        match remaining {
            Some(n) => reply.header(remaining_name, n.to_string()),
            None => reply,
        }
    }

    fn dispatch(&self, ctx: &Ctx<'_>, route: Route) -> Reply {
        let m = &ctx.req.method;
        let mut st = self.lock();
        st.settle(ctx.now);
        match route {
            Route::Vm(id) => match *m {
                Method::PUT => put_vm(ctx, &mut st, id),
                Method::GET => match st.vms.get(&id.key()) {
                    Some(vm) => Reply::json(200, model::vm_json(vm)),
                    None => not_found("virtualMachines", &id.name, &id.resource_group),
                },
                _ => method_not_allowed(m),
            },
            Route::CollectionsInRg { subscription, rg } => match *m {
                Method::GET => list_collections(ctx, &st, &subscription, Some(&rg)),
                _ => method_not_allowed(m),
            },
            Route::CollectionsInSub { subscription } => match *m {
                Method::GET => list_collections(ctx, &st, &subscription, None),
                _ => method_not_allowed(m),
            },
            Route::Collection(id) => match *m {
                Method::PUT => put_collection(ctx, &mut st, id),
                Method::PATCH => patch_collection(ctx, &mut st, id),
                Method::GET => {
                    let expand = ctx
                        .req
                        .q("$expand")
                        .is_some_and(|e| e.eq_ignore_ascii_case("restorePoints"));
                    match st.collections.get(&id.key()) {
                        Some(c) => Reply::json(200, model::collection_json(c, ctx.now, expand)),
                        None => not_found("restorePointCollections", &id.name, &id.resource_group),
                    }
                }
                Method::DELETE => {
                    if st.collections.remove(&id.key()).is_some() {
                        st.copy_windows.remove(&id.key());
                        Reply::empty(200)
                    } else {
                        Reply::empty(204)
                    }
                }
                _ => method_not_allowed(m),
            },
            Route::RestorePoint(id) => match *m {
                Method::PUT => put_restore_point(ctx, &mut st, id),
                Method::GET => {
                    let Some(c) = st.collections.get(&id.collection.key()) else {
                        return parent_not_found(&id.collection.name);
                    };
                    let iv = ctx
                        .req
                        .q("$expand")
                        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
                    match c.rps.iter().find(|r| r.id.key() == id.key()) {
                        Some(rp) => Reply::json(200, model::restore_point_json(rp, ctx.now, iv)),
                        None => not_found(
                            &format!(
                                "restorePointCollections/{}/restorePoints",
                                id.collection.name
                            ),
                            &id.name,
                            &id.collection.resource_group,
                        ),
                    }
                }
                Method::DELETE => delete_restore_point(ctx, &mut st, id),
                _ => method_not_allowed(m),
            },
            Route::DiskRestorePoints(id) => match *m {
                Method::GET => match find_rp_reply(&st, &id) {
                    Ok(rp) => Reply::json(
                        200,
                        json!({"value": rp.disks.iter().map(|d| model::disk_restore_point_json(rp, d, ctx.now)).collect::<Vec<_>>()}),
                    ),
                    Err(r) => r,
                },
                _ => method_not_allowed(m),
            },
            Route::DiskRestorePoint(id, name) => match *m {
                Method::GET => match find_rp_reply(&st, &id) {
                    Ok(rp) => match rp.disks.iter().find(|d| d.name.eq_ignore_ascii_case(&name)) {
                        Some(d) => Reply::json(200, model::disk_restore_point_json(rp, d, ctx.now)),
                        None => not_found(
                            &format!(
                                "restorePointCollections/{}/restorePoints/{}/diskRestorePoints",
                                id.collection.name, id.name
                            ),
                            &name,
                            &id.collection.resource_group,
                        ),
                    },
                    Err(r) => r,
                },
                _ => method_not_allowed(m),
            },
            Route::Operation {
                subscription,
                region,
                id,
            } => match *m {
                Method::GET => get_operation(ctx, &st, &subscription, &region, &id),
                _ => method_not_allowed(m),
            },
        }
    }
}

async fn drop_connection(kill: Option<ConnKill>) -> Reply {
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

fn find_rp_reply<'a>(st: &'a State, id: &RestorePointId) -> Result<&'a RestorePoint, Reply> {
    let c = st
        .collections
        .get(&id.collection.key())
        .ok_or_else(|| parent_not_found(&id.collection.name))?;
    c.rps
        .iter()
        .find(|r| r.id.key() == id.key())
        .ok_or_else(|| {
            not_found(
                &format!(
                    "restorePointCollections/{}/restorePoints",
                    id.collection.name
                ),
                &id.name,
                &id.collection.resource_group,
            )
        })
}

fn list_collections(ctx: &Ctx<'_>, st: &State, sub: &str, rg: Option<&str>) -> Reply {
    let skip = match ctx.req.q("$skiptoken").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("InvalidParameter", "The $skiptoken is invalid."),
    };
    let all: Vec<&Collection> = st
        .collections
        .values()
        .filter(|c| c.id.subscription.eq_ignore_ascii_case(sub))
        .filter(|c| rg.is_none_or(|rg| c.id.resource_group.eq_ignore_ascii_case(rg)))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(PAGE_SIZE)
        .map(|c| model::collection_json(c, ctx.now, false))
        .collect();
    let mut body = json!({"value": page});
    if skip + PAGE_SIZE < all.len() {
        let api = ctx.req.q("api-version").unwrap_or_default();
        body["nextLink"] = json!(format!(
            "{}{}?api-version={}&$skiptoken={}",
            ctx.req.base(),
            ctx.req.path,
            api,
            skip + PAGE_SIZE
        ));
    }
    Reply::json(200, body)
}

fn tag_f64(tags: &BTreeMap<String, String>, name: &str, default: f64) -> Result<f64, Reply> {
    match tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        None => Ok(default),
        Some((k, v)) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                bad_request(
                    "InvalidParameter",
                    format!("Emulator tag '{k}' must be a non-negative number, got '{v}'."),
                )
            }),
    }
}

fn parse_disk(
    vm: &VmId,
    tags: &BTreeMap<String, String>,
    d: &Value,
    lun: Option<i32>,
    private: &PrivateLink,
) -> Result<Disk, Reply> {
    let what = match lun {
        None => "osDisk".to_string(),
        Some(l) => format!("dataDisks[lun {l}]"),
    };
    let name = match d["name"].as_str() {
        Some(n) if valid_segment(n) => n.to_string(),
        Some(n) => {
            return Err(bad_request(
                "InvalidParameter",
                format!("{what}.name '{n}' is invalid."),
            ))
        }
        None if lun.is_none() => format!("{}_OsDisk_1", vm.name),
        None => format!("{}_DataDisk_{}", vm.name, lun.unwrap_or_default()),
    };
    let size_gb = match &d["diskSizeGB"] {
        Value::Null => {
            if lun.is_none() {
                30
            } else {
                128
            }
        }
        v => v
            .as_i64()
            .filter(|s| (1..=65_536).contains(s))
            .map(|s| s as i32)
            .ok_or_else(|| {
                bad_request(
                    "InvalidParameter",
                    format!("{what}.diskSizeGB must be an integer between 1 and 65536."),
                )
            })?,
    };
    let md = &d["managedDisk"];
    let managed_disk_id = match md["id"].as_str() {
        Some(id) => id.to_string(),
        None => format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/disks/{}",
            vm.subscription, vm.resource_group, name
        ),
    };
    let des = match md["diskEncryptionSet"]["id"].as_str() {
        None => None,
        Some(s) => Some(
            s.parse::<DiskEncryptionSetId>()
                .map_err(|e| {
                    bad_request(
                        "InvalidParameter",
                        format!("{what}.managedDisk.diskEncryptionSet.id: {e}"),
                    )
                })?
                .to_string(),
        ),
    };
    let used_pct = tag_f64(tags, &format!("{EMULATOR_TAG}usedPercent"), 50.0)?.min(100.0);
    let churn_all = tag_f64(tags, &format!("{EMULATOR_TAG}churnGBPerDay"), 1.0)?;
    let churn = tag_f64(
        tags,
        &format!("{EMULATOR_TAG}churnGBPerDay:{name}"),
        churn_all,
    )?;
    let is_private = private.applies(&name);
    Ok(Disk {
        lun,
        size_gb,
        used_gb: f64::from(size_gb) * used_pct / 100.0,
        churn_gb_per_day: churn,
        managed_disk_id,
        storage_account_type: md["storageAccountType"]
            .as_str()
            .unwrap_or("Premium_LRS")
            .to_string(),
        caching: d["caching"]
            .as_str()
            .unwrap_or(if lun.is_none() { "ReadWrite" } else { "None" })
            .to_string(),
        des,
        private: is_private,
        disk_access_id: is_private.then(|| {
            format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/diskAccesses/{}-diskaccess",
                vm.subscription, vm.resource_group, vm.name
            )
        }),
        name,
    })
}

/// `ferry-emulator:privateLink`: `true` (every disk) or a comma-separated list of disk names.
enum PrivateLink {
    None,
    All,
    Disks(Vec<String>),
}

impl PrivateLink {
    fn from_tags(tags: &BTreeMap<String, String>) -> Self {
        match tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&format!("{EMULATOR_TAG}privateLink")))
        {
            None => PrivateLink::None,
            Some((_, v)) if v.eq_ignore_ascii_case("true") => PrivateLink::All,
            Some((_, v)) if v.eq_ignore_ascii_case("false") || v.is_empty() => PrivateLink::None,
            Some((_, v)) => {
                PrivateLink::Disks(v.split(',').map(|s| s.trim().to_string()).collect())
            }
        }
    }

    fn applies(&self, disk: &str) -> bool {
        match self {
            PrivateLink::None => false,
            PrivateLink::All => true,
            PrivateLink::Disks(d) => d.iter().any(|n| n.eq_ignore_ascii_case(disk)),
        }
    }
}

fn put_vm(ctx: &Ctx<'_>, st: &mut State, id: VmId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let location = match parse_location(&body) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let props = &body["properties"];
    let sp = &props["storageProfile"];
    let private = PrivateLink::from_tags(&tags);
    let mut disks = Vec::new();
    match parse_disk(&id, &tags, &sp["osDisk"], None, &private) {
        Ok(d) => disks.push(d),
        Err(r) => return r,
    }
    if let Some(data) = sp["dataDisks"].as_array() {
        for d in data {
            let Some(lun) = d["lun"]
                .as_i64()
                .and_then(|l| i32::try_from(l).ok())
                .filter(|l| (0..64).contains(l))
            else {
                return bad_request(
                    "InvalidParameter",
                    "Every data disk needs an integer lun between 0 and 63.",
                );
            };
            if disks.iter().any(|x| x.lun == Some(lun)) {
                return bad_request("InvalidParameter", format!("Two data disks use lun {lun}."));
            }
            match parse_disk(&id, &tags, d, Some(lun), &private) {
                Ok(d) => disks.push(d),
                Err(r) => return r,
            }
        }
    } else if !sp["dataDisks"].is_null() {
        return bad_request(
            "InvalidParameter",
            "storageProfile.dataDisks must be an array.",
        );
    }
    let security_type = props["securityProfile"]["securityType"]
        .as_str()
        .map(str::to_string);
    let key = id.key();
    let existing = st.vms.get(&key).map(|v| (v.vm_uuid.clone(), v.created));
    let (vm_uuid, created, status) = match existing {
        Some((u, c)) => (u, c, 200),
        None => (st.uuid(), ctx.now, 201),
    };
    let vm = Vm {
        id,
        location,
        tags,
        vm_uuid,
        vm_size: props["hardwareProfile"]["vmSize"]
            .as_str()
            .unwrap_or("Standard_D2s_v3")
            .to_string(),
        os_type: sp["osDisk"]["osType"]
            .as_str()
            .unwrap_or("Linux")
            .to_string(),
        security_type,
        disks,
        created,
    };
    let body = model::vm_json(&vm);
    st.vms.insert(key, vm);
    Reply::json(status, body)
}

fn put_collection(ctx: &Ctx<'_>, st: &mut State, id: CollectionId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let location = match parse_location(&body) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(source_id) = body["properties"]["source"]["id"].as_str() else {
        return bad_request(
            "InvalidParameter",
            "properties.source.id is required: a virtual machine id, or a restore point collection id for a cross-region copy target.",
        );
    };
    let instant_access = body["properties"]["instantAccess"].as_bool();
    let (kind, source_location, source_display) = if let Ok(vm) = source_id.parse::<VmId>() {
        let Some(v) = st.vms.get(&vm.key()) else {
            return bad_request(
                "InvalidParameter",
                format!("Source virtual machine '{vm}' was not found."),
            );
        };
        if v.location != location {
            return bad_request(
                "InvalidParameter",
                format!("A restore point collection for a VM must be in the VM's region '{}', not '{location}'.", v.location),
            );
        }
        (
            CollectionKind::Local { vm: vm.key() },
            v.location.clone(),
            v.id.to_string(),
        )
    } else if let Ok(src) = source_id.parse::<CollectionId>() {
        let Some(s) = st.collections.get(&src.key()) else {
            return bad_request(
                "InvalidParameter",
                format!("Source restore point collection '{src}' was not found."),
            );
        };
        if matches!(s.kind, CollectionKind::Target { .. }) {
            return bad_request(
                "OperationNotAllowed",
                format!("'{src}' is itself a cross-region copy target: copy of a copy is not supported."),
            );
        }
        (
            CollectionKind::Target { source: src.key() },
            s.location.clone(),
            s.id.to_string(),
        )
    } else {
        return bad_request(
            "InvalidParameter",
            format!("properties.source.id '{source_id}' is neither a virtual machine nor a restore point collection id."),
        );
    };
    if let Some(c) = st.collections.get_mut(&id.key()) {
        if !eq_ignore_case(&c.source_id, &source_display) {
            return Reply::error(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'source.id' is not allowed.",
            );
        }
        if c.location != location {
            return Reply::error(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'location' is not allowed.",
            );
        }
        c.tags = tags;
        if instant_access.is_some() {
            c.instant_access = instant_access;
        }
        return Reply::json(200, model::collection_json(c, ctx.now, false));
    }
    let uid = st.uuid();
    let c = Collection {
        id: id.clone(),
        location,
        tags,
        source_id: source_display,
        source_location,
        uid,
        instant_access,
        kind,
        rps: Vec::new(),
        max_copied_source_created: None,
        base_source: None,
        last_copied: None,
    };
    let out = model::collection_json(&c, ctx.now, false);
    st.collections.insert(id.key(), c);
    Reply::json(201, out)
}

fn patch_collection(ctx: &Ctx<'_>, st: &mut State, id: CollectionId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tags = match parse_tags(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(c) = st.collections.get_mut(&id.key()) else {
        return not_found("restorePointCollections", &id.name, &id.resource_group);
    };
    if body.get("tags").is_some() {
        c.tags = tags;
    }
    if let Some(ia) = body["properties"]["instantAccess"].as_bool() {
        c.instant_access = Some(ia);
    }
    Reply::json(200, model::collection_json(c, ctx.now, false))
}

fn op_headers(ctx: &Ctx<'_>, reply: Reply, sub: &str, region: &str, op: &str) -> Reply {
    let api = ctx.req.q("api-version").unwrap_or_default();
    let base = format!(
        "{}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/operations/{op}",
        ctx.req.base()
    );
    reply
        .header("Azure-AsyncOperation", format!("{base}?api-version={api}"))
        .header("Location", format!("{base}?monitor=true&api-version={api}"))
        .header("Retry-After", "10")
}

fn record_violation(st: &mut State, r: &Refusal) {
    if let Some(rule) = r.rule {
        st.stats.rule_violations += 1;
        *st.stats
            .violations_by_rule
            .entry(rule.to_string())
            .or_default() += 1;
        if rule == rules::rule::DUPLICATE_COPY {
            st.stats.duplicate_copies += 1;
        }
    }
}

fn emit(ctx: &Ctx<'_>, st: &mut State, id: &RestorePointId, write: bool) {
    let ev_id = st.uuid();
    let uri = id.to_string();
    let url = ctx.req.url();
    let ev = model::event_json(&EventArgs {
        id: ev_id,
        correlation_id: ctx.correlation.clone(),
        subscription: &id.collection.subscription,
        resource_uri: &uri,
        write,
        method: ctx.req.method.as_str(),
        url: &url,
        time: ctx.now,
    });
    st.push_event(ev);
}

fn put_restore_point(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId) -> Reply {
    let body = match parse_body(ctx.req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let source = body["properties"]["sourceRestorePoint"]["id"].as_str();
    let ckey = id.collection.key();
    let Some(coll) = st.collections.get(&ckey) else {
        if source.is_some() {
            let r = Refusal {
                status: 404,
                code: "ParentResourceNotFound",
                message: String::new(),
                rule: Some(rules::rule::MISSING_TARGET_COLLECTION),
                retry_after: None,
            };
            record_violation(st, &r);
            return Reply::error(
                404,
                "ParentResourceNotFound",
                &format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found: the target restore point collection must exist in the target region before a copy.",
                    id.collection.name
                ),
            );
        }
        return parent_not_found(&id.collection.name);
    };
    // Azure PUT semantics: re-PUT of an existing restore point returns it unchanged.
    if let Some(existing) = coll.rps.iter().find(|r| r.id.key() == id.key()) {
        let same = match (&existing.kind, source) {
            (RpKind::Copy(cs), Some(s)) => eq_ignore_case(&cs.source_id.to_string(), s),
            (RpKind::Local { .. }, None) => true,
            _ => false,
        };
        return if same {
            // 201, not 200: the swagger (and so the generated SDKs) accept only 201 for
            // RestorePoints_Create. Same resource, same operation: nothing new starts.
            let body = model::restore_point_json(existing, ctx.now, false);
            let key = id.key();
            let op = st
                .ops
                .values()
                .find(|o| matches!(&o.kind, OpKind::CreateRp { rp_key } if *rp_key == key));
            match op {
                Some(op) => op_headers(
                    ctx,
                    Reply::json(201, body),
                    &id.collection.subscription,
                    &coll.location,
                    &op.id,
                ),
                None => Reply::json(201, body),
            }
        } else {
            Reply::error(
                409,
                "Conflict",
                &format!(
                    "Restore point '{}' already exists with different properties; restore points cannot be changed.",
                    id.name
                ),
            )
        };
    }
    match source {
        Some(s) => put_copy(ctx, st, id, &body, s),
        None => put_local(ctx, st, id, &body),
    }
}

fn put_local(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId, body: &Value) -> Reply {
    let ckey = id.collection.key();
    let Some(coll) = st.collections.get(&ckey) else {
        return parent_not_found(&id.collection.name);
    };
    let CollectionKind::Local { vm } = &coll.kind else {
        return bad_request(
            "OperationNotAllowed",
            "Restore points in a cross-region target collection can only be created by copying (properties.sourceRestorePoint.id).",
        );
    };
    let Some(vm) = st.vms.get(vm).cloned() else {
        return Reply::error(
            404,
            "ResourceNotFound",
            "The source virtual machine of this restore point collection no longer exists.",
        );
    };
    let props = &body["properties"];
    let consistency = match props["consistencyMode"].as_str() {
        None => "ApplicationConsistent".to_string(),
        Some(m) if ["CrashConsistent", "FileSystemConsistent", "ApplicationConsistent"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(m)) => m.to_string(),
        Some(m) => return bad_request("InvalidParameter", format!("consistencyMode '{m}' is not one of CrashConsistent, FileSystemConsistent, ApplicationConsistent.")),
    };
    let mut exclude = Vec::new();
    if let Some(ex) = props["excludeDisks"].as_array() {
        for e in ex {
            let Some(did) = e["id"].as_str() else {
                return bad_request("InvalidParameter", "excludeDisks entries need an id.");
            };
            match vm
                .disks
                .iter()
                .find(|d| eq_ignore_case(&d.managed_disk_id, did))
            {
                None => {
                    return bad_request(
                        "InvalidParameter",
                        format!("excludeDisks: '{did}' is not a disk of the VM."),
                    )
                }
                Some(d) if d.lun.is_none() => {
                    return bad_request(
                        "InvalidParameter",
                        "The OS disk cannot be excluded from a restore point.",
                    )
                }
                Some(d) => exclude.push(d.managed_disk_id.clone()),
            }
        }
    }
    let instant = props["instantAccessDurationMinutes"]
        .as_i64()
        .and_then(|m| i32::try_from(m).ok());
    let mut disks = Vec::new();
    for d in vm
        .disks
        .iter()
        .filter(|d| !exclude.contains(&d.managed_disk_id))
    {
        let suffix = st.uuid();
        let lower = d.managed_disk_id.to_ascii_lowercase();
        disks.push(DiskRp {
            name: format!("{}_{suffix}", d.name),
            disk_name: d.name.clone(),
            lun: d.lun,
            size_gb: d.size_gb,
            used_gb: d.used_gb,
            churn_gb_per_day: d.churn_gb_per_day,
            managed_disk_id: d.managed_disk_id.clone(),
            storage_account_type: d.storage_account_type.clone(),
            caching: d.caching.clone(),
            source_resource_id: d.managed_disk_id.clone(),
            source_des: d.des.clone(),
            des: d.des.clone(),
            private: d.private,
            disk_access_id: d.disk_access_id.clone(),
            family_id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("family:{lower}").as_bytes(),
            )
            .to_string(),
            source_unique_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, lower.as_bytes())
                .to_string(),
            copy: None,
        });
    }
    let op_id = st.uuid();
    let rp = RestorePoint {
        id: id.clone(),
        time_created: ctx.now,
        consistency_mode: consistency,
        exclude_disks: exclude,
        instant_access_minutes: instant,
        meta: SourceMeta {
            vm_uuid: vm.vm_uuid.clone(),
            vm_size: vm.vm_size.clone(),
            os_type: vm.os_type.clone(),
            location: vm.location.clone(),
            security_type: vm.security_type.clone(),
        },
        disks,
        kind: RpKind::Local {
            settled_at: ctx.now + ctx.emu.inner.cfg.restore_point_settle,
        },
    };
    let region = vm.location.clone();
    let out = model::restore_point_json(&rp, ctx.now, false);
    if let Some(c) = st.collections.get_mut(&ckey) {
        c.rps.push(rp);
    }
    st.ops.insert(
        op_id.clone(),
        Operation {
            id: op_id.clone(),
            subscription: id.collection.subscription.clone(),
            region: region.clone(),
            kind: OpKind::CreateRp { rp_key: id.key() },
            start: ctx.now,
        },
    );
    emit(ctx, st, &id, true);
    op_headers(
        ctx,
        Reply::json(201, out),
        &id.collection.subscription,
        &region,
        &op_id,
    )
}

fn put_copy(
    ctx: &Ctx<'_>,
    st: &mut State,
    id: RestorePointId,
    body: &Value,
    source: &str,
) -> Reply {
    let source: RestorePointId = match source.parse() {
        Ok(s) => s,
        Err(e) => {
            return bad_request(
                "InvalidParameter",
                format!("properties.sourceRestorePoint.id: {e}"),
            )
        }
    };
    let src_disks: Vec<(Option<i32>, String, String)> = st
        .find_rp(&source.key())
        .map(|rp| {
            rp.disks
                .iter()
                .map(|d| {
                    (
                        d.lun,
                        d.disk_name.clone(),
                        format!("{}/diskRestorePoints/{}", rp.id, d.name),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let req = CopyRequest {
        source: source.clone(),
        target_des: target_des_from_body(body, &src_disks),
    };
    for des in req.target_des.iter().flatten() {
        if let Err(e) = des.parse::<DiskEncryptionSetId>() {
            return bad_request(
                "InvalidParameter",
                format!("diskRestorePoint.encryption.diskEncryptionSet.id: {e}"),
            );
        }
    }
    let tkey = id.collection.key();
    let limit = ctx
        .emu
        .inner
        .cfg
        .limits
        .copies_per_hour_per_target_collection;
    if let Err(r) = check_copy(st, &tkey, &req, ctx.now, limit) {
        record_violation(st, &r);
        return r.into();
    }
    let Some(src) = st.find_rp(&source.key()).cloned() else {
        return Reply::error(404, "ResourceNotFound", "source restore point vanished");
    };
    let Some(target) = st.collections.get(&tkey) else {
        return parent_not_found(&id.collection.name);
    };
    let src_coll_key = source.collection.key();
    let src_location = st
        .collections
        .get(&src_coll_key)
        .map(|c| c.location.clone())
        .unwrap_or_default();
    // Full copy for the first copy of the chain, or when the chain's base was deleted at the
    // source; otherwise only the churn since the previously copied restore point.
    let base_alive = target
        .base_source
        .as_ref()
        .is_some_and(|b| st.find_rp(b).is_some());
    let previous = target.last_copied.clone();
    let full = previous.is_none() || !base_alive;
    let region = target.location.clone();
    let bandwidth = ctx.emu.inner.cfg.bandwidth_mbps;
    let mut disks = Vec::new();
    for (d, des) in src.disks.iter().zip(req.target_des.iter()) {
        let data_gb = match (&previous, full) {
            (Some((_, prev_created)), false) => {
                let days = (src.time_created - *prev_created).as_seconds_f64().max(0.0) / 86_400.0;
                (d.churn_gb_per_day * days).min(d.used_gb)
            }
            _ => d.used_gb,
        };
        let suffix = st.uuid();
        disks.push(DiskRp {
            name: format!("{}_{suffix}", d.disk_name),
            source_resource_id: format!("{}/diskRestorePoints/{}", src.id, d.name),
            des: des.clone(),
            private: false,
            disk_access_id: None,
            copy: Some(DiskCopy {
                data_gb,
                duration: transfer_time(data_gb, bandwidth),
                source_disk_rp_id: format!("{}/diskRestorePoints/{}", src.id, d.name),
            }),
            ..d.clone()
        });
    }
    let longest = disks
        .iter()
        .filter_map(|d| d.copy.as_ref().map(|c| c.duration))
        .max()
        .unwrap_or(PROGRESS_STEP);
    let faults = &ctx.emu.inner.cfg.faults;
    let fate = st.draw_fate(
        &source.key(),
        longest,
        faults.copy_failure_rate,
        faults.copy_stall_rate,
    );
    let op_id = st.uuid();
    let rp = RestorePoint {
        id: id.clone(),
        time_created: src.time_created,
        consistency_mode: src.consistency_mode.clone(),
        exclude_disks: Vec::new(),
        instant_access_minutes: None,
        meta: src.meta.clone(),
        disks,
        kind: RpKind::Copy(CopyState {
            source_id: src.id.clone(),
            source_collection_key: src_coll_key,
            source_location: src_location,
            started: ctx.now,
            fate,
            full,
            finalized: None,
        }),
    };
    let out = model::restore_point_json(&rp, ctx.now, false);
    st.copy_created(&region, &rp);
    if let Some(t) = st.collections.get_mut(&tkey) {
        t.rps.push(rp);
        t.max_copied_source_created = Some(
            t.max_copied_source_created
                .map_or(src.time_created, |m| m.max(src.time_created)),
        );
        if full {
            t.base_source = Some(source.key());
        }
        t.last_copied = Some((source.key(), src.time_created));
    }
    st.copy_windows.entry(tkey).or_default().record(ctx.now);
    st.stats.copies_started += 1;
    st.ops.insert(
        op_id.clone(),
        Operation {
            id: op_id.clone(),
            subscription: id.collection.subscription.clone(),
            region: region.clone(),
            kind: OpKind::CreateRp { rp_key: id.key() },
            start: ctx.now,
        },
    );
    emit(ctx, st, &id, true);
    op_headers(
        ctx,
        Reply::json(201, out),
        &id.collection.subscription,
        &region,
        &op_id,
    )
}

fn delete_restore_point(ctx: &Ctx<'_>, st: &mut State, id: RestorePointId) -> Reply {
    let Some(c) = st.collections.get_mut(&id.collection.key()) else {
        return parent_not_found(&id.collection.name);
    };
    let Some(pos) = c.rps.iter().position(|r| r.id.key() == id.key()) else {
        return Reply::empty(204);
    };
    c.rps.remove(pos);
    let region = c.location.clone();
    let op_id = st.uuid();
    st.ops.insert(
        op_id.clone(),
        Operation {
            id: op_id.clone(),
            subscription: id.collection.subscription.clone(),
            region: region.clone(),
            kind: OpKind::Delete,
            start: ctx.now,
        },
    );
    emit(ctx, st, &id, false);
    op_headers(
        ctx,
        Reply::empty(202),
        &id.collection.subscription,
        &region,
        &op_id,
    )
}

fn get_operation(ctx: &Ctx<'_>, st: &State, sub: &str, region: &str, id: &str) -> Reply {
    let Some(op) = st
        .ops
        .get(id)
        .filter(|o| o.subscription.eq_ignore_ascii_case(sub) && o.region == region)
    else {
        return Reply::error(404, "NotFound", &format!("Operation '{id}' was not found."));
    };
    // (status, end time, resource)
    let (status, end, resource) = match &op.kind {
        OpKind::Delete => ("Succeeded", Some(op.start), None),
        OpKind::CreateRp { rp_key } => match st.find_rp(rp_key) {
            None => ("Canceled", Some(op.start), None),
            Some(rp) => {
                let end = match &rp.kind {
                    RpKind::Local { settled_at } => *settled_at,
                    RpKind::Copy(cs) => cs.started + PROGRESS_STEP,
                };
                if provisioning_state(rp, ctx.now) == "Succeeded" {
                    ("Succeeded", Some(end), Some(rp))
                } else {
                    ("InProgress", None, Some(rp))
                }
            }
        },
    };
    let monitor = ctx
        .req
        .q("monitor")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    if monitor {
        return match (status, resource) {
            ("InProgress", _) => Reply::empty(202)
                .header("Location", ctx.req.url())
                .header("Retry-After", "10"),
            (_, Some(rp)) => Reply::json(200, model::restore_point_json(rp, ctx.now, false)),
            _ => Reply::empty(204),
        };
    }
    let mut body = json!({"name": op.id, "status": status, "startTime": model::fmt_time(op.start)});
    if let Some(e) = end {
        body["endTime"] = json!(model::fmt_time(e));
    }
    if status == "Canceled" {
        body["error"] = json!({"code": "OperationCanceled", "message": "The resource was deleted before the operation completed."});
    }
    let mut reply = Reply::json(200, body);
    if status == "InProgress" {
        reply = reply.header("Retry-After", "10");
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute";

    #[test]
    fn routes_match_fixed_segments_case_insensitively() {
        let r = route(&format!("{P}/restorePointCollections/c/restorePoints/p").to_uppercase());
        match r {
            Ok(Route::RestorePoint(id)) => {
                assert_eq!(id.name, "P");
                assert_eq!(id.collection.name, "C");
            }
            _ => panic!("not a restore point route"),
        }
        assert!(matches!(
            route(&format!("{P}/restorepointcollections/c/restorepoints/p/diskrestorepoints/d")),
            Ok(Route::DiskRestorePoint(_, d)) if d == "d"
        ));
        assert!(matches!(
            route("/subscriptions/s1/providers/microsoft.compute/locations/West%20US/operations/op1"),
            Ok(Route::Operation { region, .. }) if region == "westus"
        ));
        assert!(matches!(
            route("/subscriptions/s1/providers/Microsoft.Compute/restorePointCollections"),
            Ok(Route::CollectionsInSub { .. })
        ));
    }

    #[test]
    fn unknown_and_malformed_paths_are_refused() {
        assert!(matches!(route("/"), Err(RouteError::NotFound)));
        assert!(matches!(
            route(&format!("{P}/disks/d")),
            Err(RouteError::NotFound)
        ));
        assert!(matches!(
            route(
                "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
            ),
            Err(RouteError::NotFound)
        ));
        assert!(matches!(
            route(&format!("{P}/restorePointCollections/a%3Fb")),
            Err(RouteError::BadName(_))
        ));
        assert!(matches!(
            route(&format!("{P}/restorePointCollections/%FF")),
            Err(RouteError::BadName(_))
        ));
    }

    fn req(q: &str) -> Req {
        Req {
            method: Method::GET,
            path: "/".into(),
            query: url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
            raw_query: q.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn api_versions() {
        assert!(api_version_check(&req("api-version=2026-04-01"), COMPUTE_API_VERSIONS).is_ok());
        assert!(api_version_check(&req("API-VERSION=2021-03-01"), COMPUTE_API_VERSIONS).is_ok());
        let missing = api_version_check(&req(""), COMPUTE_API_VERSIONS)
            .err()
            .map(|r| r.body);
        assert_eq!(
            missing.unwrap().unwrap()["error"]["code"],
            "MissingApiVersionParameter"
        );
        let old = api_version_check(&req("api-version=2020-12-01"), COMPUTE_API_VERSIONS)
            .err()
            .map(|r| r.body);
        assert_eq!(
            old.unwrap().unwrap()["error"]["code"],
            "InvalidApiVersionParameter"
        );
        assert!(api_version_check(&req("api-version=2025-11-01"), DISK_API_VERSIONS).is_err());
    }
}
