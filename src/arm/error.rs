//! What can go wrong talking to ARM, sorted by what the caller should do about it.

use std::time::Duration;

use crate::auth::AuthError;

/// An ARM call that did not produce the expected result.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with a definitive error (4xx other than 429, or a 5xx reported without
    /// retries left): `code` and `message` come from ARM's `{"error":{...}}` body.
    #[error("ARM returned HTTP {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        target: Option<String>,
    },
    /// Still throttled (HTTP 429) after every attempt.
    #[error("ARM throttled the request (HTTP 429) after {attempts} attempts; retry after {retry_after:?}")]
    Throttled {
        retry_after: Duration,
        attempts: u32,
    },
    /// ARM could not be reached or kept failing with 5xx until attempts ran out.
    #[error("ARM unavailable{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unavailable {
        status: Option<u16>,
        message: String,
    },
    /// A success response whose body is not what the operation returns.
    #[error("could not decode the ARM response of {what}: {message}")]
    Decode { what: String, message: String },
    /// No token for ARM.
    #[error("no ARM token: {0}")]
    Auth(#[from] AuthError),
    /// The client was configured with settings it cannot work with.
    #[error("invalid ARM client configuration: {0}")]
    InvalidConfig(String),
}

impl ArmError {
    /// True when the same call may succeed later without anything changing on our side:
    /// throttling, unavailability, server errors and transient token failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Throttled { .. } | ArmError::Unavailable { .. } => true,
            ArmError::Api { status, .. } => *status >= 500 || *status == 429,
            ArmError::Auth(AuthError::Transient(_)) => true,
            ArmError::Auth(AuthError::Unavailable(_))
            | ArmError::Decode { .. }
            | ArmError::InvalidConfig(_) => false,
        }
    }

    /// ARM's error code (`Conflict`, `OperationNotAllowed`, ...) when ARM sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status ARM answered with, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Api { status, .. } => Some(*status),
            ArmError::Throttled { .. } => Some(429),
            ArmError::Unavailable { status, .. } => *status,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_status_code_and_message() {
        let e = ArmError::Api {
            status: 409,
            code: "OperationNotAllowed".into(),
            message: "copy of a copy".into(),
            target: None,
        };
        let s = e.to_string();
        assert!(
            s.contains("409") && s.contains("OperationNotAllowed") && s.contains("copy of a copy")
        );
        assert_eq!(e.code(), Some("OperationNotAllowed"));
        assert!(!e.is_transient());
    }

    #[test]
    fn transient_classification() {
        assert!(ArmError::Throttled {
            retry_after: Duration::from_secs(1),
            attempts: 6
        }
        .is_transient());
        assert!(ArmError::Unavailable {
            status: Some(503),
            message: "x".into()
        }
        .is_transient());
        assert!(ArmError::Api {
            status: 500,
            code: "InternalServerError".into(),
            message: String::new(),
            target: None
        }
        .is_transient());
        assert!(!ArmError::Decode {
            what: "x".into(),
            message: "y".into()
        }
        .is_transient());
        let u = ArmError::Unavailable {
            status: None,
            message: "connection refused".into(),
        };
        assert!(!u.to_string().contains("HTTP"));
    }
}
