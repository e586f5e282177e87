//! ARM's common error replies (not found, parent not found, bad request, method not allowed)
//! and a copy rule's refusal as a reply.

use warp::http::Method;

use super::http::Reply;
use crate::sim::emulator::rules::Refusal;

impl From<Refusal> for Reply {
    fn from(r: Refusal) -> Self {
        let mut reply = Reply::error(r.status, r.code, &r.message);
        if let Some(s) = r.retry_after {
            reply = reply.header("Retry-After", s.to_string());
        }
        reply
    }
}

pub(super) fn not_found(kind: &str, name: &str, rg: &str) -> Reply {
    Reply::error(
        404,
        "ResourceNotFound",
        &format!(
            "The Resource 'Microsoft.Compute/{kind}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

pub(super) fn parent_not_found(name: &str) -> Reply {
    Reply::error(
        404,
        "ParentResourceNotFound",
        &format!(
            "Can not perform requested operation on nested resource. Parent resource '{name}' not found."
        ),
    )
}

pub(super) fn bad_request(code: &str, message: impl AsRef<str>) -> Reply {
    Reply::error(400, code, message.as_ref())
}

pub(super) fn method_not_allowed(m: &Method) -> Reply {
    Reply::error(
        405,
        "MethodNotAllowed",
        &format!("The requested resource does not support http method '{m}'."),
    )
}
