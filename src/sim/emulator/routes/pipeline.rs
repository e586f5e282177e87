//! One request from arrival to reply: control endpoints split off, injected faults, auth,
//! the subscription's token buckets, the api-version check, then [`Emulator::dispatch`].

use warp::http::Method;

use super::api_version::{api_version_check, COMPUTE_API_VERSIONS, DISK_API_VERSIONS};
use super::errors::bad_request;
use super::http::{Ctx, Reply, Req};
use super::path::{route, subscription_of, RouteError};
use super::server::{drop_connection, ConnKill};
use crate::sim::emulator::faults::{roll_request, RequestFault};
use crate::sim::emulator::limits::TokenBucket;
use crate::sim::emulator::Emulator;

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
        let versions = if route.is_lock() {
            super::locks::LOCK_API_VERSIONS
        } else if route.is_disk_rp() {
            DISK_API_VERSIONS
        } else {
            COMPUTE_API_VERSIONS
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
}
