//! Management locks (`Microsoft.Authorization/locks`) on a restore point: the one call base
//! protection makes. A `CanNotDelete` lock makes ARM refuse every DELETE of the resource
//! (and of its parents) with 409 `ScopeLocked` until the lock is removed.

use reqwest::Method;
use serde::Serialize;

use super::client::ArmClient;
use super::error::ArmError;
use super::ratelimit::Budget;
use super::transport::api_error;
use crate::ids::RestorePointId;

/// The management-locks api-version (the REST reference's, stable since 2016).
pub const LOCKS_API_VERSION: &str = "2016-09-01";
/// ARM's error code for a delete refused by a lock.
pub const SCOPE_LOCKED: &str = "ScopeLocked";

/// `properties.level` of a lock; ferry only ever asks for `CanNotDelete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LockLevel {
    CanNotDelete,
}

#[derive(Debug, Clone, Serialize)]
struct LockProperties<'a> {
    level: LockLevel,
    notes: &'a str,
}

#[derive(Debug, Clone, Serialize)]
struct LockRequest<'a> {
    properties: LockProperties<'a>,
}

impl ArmError {
    /// A delete refused because a management lock covers the resource: nothing ferry can
    /// fix by trying again (someone must remove the lock).
    pub fn is_scope_locked(&self) -> bool {
        self.code()
            .is_some_and(|c| c.eq_ignore_ascii_case(SCOPE_LOCKED))
    }
}

/// What to say when a delete of `what` failed with `e`: a lock gets a message naming the
/// fix (ferry never removes a lock it did not set, and trying again cannot help).
pub fn delete_failure(what: &impl std::fmt::Display, e: &ArmError) -> String {
    if e.is_scope_locked() {
        format!("{what} is protected by a management lock (ScopeLocked); ferry does not delete it until the lock is removed: {e}")
    } else {
        format!("deleting {what} failed: {e}")
    }
}

impl ArmClient {
    /// PUT a `CanNotDelete` lock named `name` on restore point `id`. Idempotent: the same
    /// lock again answers 200.
    pub async fn lock_restore_point(
        &self,
        id: &RestorePointId,
        name: &str,
        notes: &str,
    ) -> Result<(), ArmError> {
        const OP: &str = "lock restore point";
        let path = format!(
            "{}/providers/Microsoft.Authorization/locks/{name}",
            id.to_id_string()
        );
        let url = self.url(&path, LOCKS_API_VERSION, None);
        let body = Self::body(
            OP,
            &LockRequest {
                properties: LockProperties {
                    level: LockLevel::CanNotDelete,
                    notes,
                },
            },
        )?;
        let raw = self
            .send(OP, Method::PUT, &url, Budget::Write, Some(body))
            .await?;
        match raw.status {
            200 | 201 => Ok(()),
            _ => Err(api_error(&raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_can_not_delete_lock() {
        let b = serde_json::to_value(LockRequest {
            properties: LockProperties {
                level: LockLevel::CanNotDelete,
                notes: "n",
            },
        })
        .unwrap();
        assert_eq!(
            b,
            serde_json::json!({"properties": {"level": "CanNotDelete", "notes": "n"}})
        );
    }

    #[test]
    fn scope_locked_is_recognised_and_not_transient() {
        let e = ArmError::Api {
            status: 409,
            code: "ScopeLocked".into(),
            message: "locked".into(),
            target: None,
        };
        assert!(e.is_scope_locked());
        assert!(!e.is_transient());
    }
}
