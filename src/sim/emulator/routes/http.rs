//! What a handler gets and gives: the request, the reply in the making, and the context
//! shared by the handlers of one request.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;
use warp::http::{HeaderMap, Method, StatusCode};

use crate::sim::emulator::model::error_body;
use crate::sim::emulator::Emulator;

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
    pub(super) fn header(&self, name: &str) -> Option<&str> {
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

    pub(super) fn base(&self) -> String {
        format!("http://{}", self.host())
    }

    pub(super) fn url(&self) -> String {
        if self.raw_query.is_empty() {
            format!("{}{}", self.base(), self.path)
        } else {
            format!("{}{}?{}", self.base(), self.path, self.raw_query)
        }
    }

    /// Query parameter by case-insensitive name (ARM treats `$expand` and `$Expand` alike).
    pub(super) fn q(&self, name: &str) -> Option<&str> {
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
    pub(super) fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(super) fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(super) fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, error_body(code, message))
    }

    pub(super) fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    pub(super) fn into_response(self) -> warp::reply::Response {
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

/// Request context shared by the handlers of one request.
pub(super) struct Ctx<'a> {
    pub(super) emu: &'a Emulator,
    pub(super) req: &'a Req,
    pub(super) now: OffsetDateTime,
    pub(super) correlation: String,
}
