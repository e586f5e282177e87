//! Sending Service Bus messages over the REST API.
//!
//! The Functions output binding cannot set `SessionId` or `MessageId` for a custom handler,
//! so copy requests go out through `POST {namespace}/{queue}/messages` (Service Bus REST
//! "Send Message": learn.microsoft.com/rest/api/servicebus/send-message-to-queue). The
//! legacy `azure_messaging_servicebus` crate is deliberately not used.

pub mod message;
pub mod outbox;
pub mod rest;
pub mod sas;

pub use message::{validate_entity_name, OutgoingMessage};
pub use outbox::Outbox;
pub use rest::{BusAuth, RetryPolicy, ServiceBusRest};

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum BusError {
    /// 401/403/404/410 and bad names: fixing it takes an operator, retrying will not help.
    #[error("Service Bus rejected sends to `{queue}` (HTTP {status}): {message}")]
    Config {
        queue: String,
        status: u16,
        message: String,
    },
    /// 5xx, 429, connection failures: already retried inside `send`.
    #[error("Service Bus unavailable: {0}")]
    Transient(String),
    /// 400, 413: the message itself is wrong (too large, missing SessionId, …).
    #[error("Service Bus rejected the message (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
}

/// Something that can put messages on a queue or topic.
#[async_trait::async_trait]
pub trait MessageSender: Send + Sync + 'static {
    async fn send(&self, queue: &str, messages: Vec<OutgoingMessage>) -> Result<(), BusError>;
}
