//! The emulator's own control endpoints under `/_emulator/` (events, stats, planned copy
//! outcomes), which tests and the demo use; no ARM rule applies to them.

use serde_json::json;
use warp::http::Method;

use super::body::parse_body;
use super::errors::bad_request;
use super::http::{Reply, Req};
use crate::sim::emulator::ids::RestorePointId;
use crate::sim::emulator::{CopyOutcome, Emulator};

impl Emulator {
    pub(super) fn control(&self, req: &Req) -> Reply {
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
}
