//! A local Service Bus namespace: the REST send surface (single and batch), entities named in
//! the function.json bindings, sessions, scheduled messages, duplicate detection, peek-lock
//! delivery state and dead-letter queues.
//!
//! - [`broker`]: the entities and their messages: send with duplicate detection, peek-lock
//!   delivery, sessions, dead letters.
//! - [`rest`]: the REST send endpoint (auth, size limit, custom properties, XML errors).
//! - [`decode`]: a REST send's batch body and `BrokerProperties` as messages.

mod broker;
mod decode;
mod rest;

pub use broker::{Broker, BrokerCounters, BrokerMessage, DeadLetter, IncomingMessage, SendRefused};
pub use rest::{serve, MAX_MESSAGE_BYTES};

/// The entity path of a topic's subscription, as Service Bus names it.
pub fn subscription_path(topic: &str, subscription: &str) -> String {
    format!("{topic}/Subscriptions/{subscription}")
}

/// `(topic, subscription)` of a [`subscription_path`].
pub fn split_subscription_path(path: &str) -> Option<(&str, &str)> {
    let i = path.to_ascii_lowercase().find("/subscriptions/")?;
    Some((&path[..i], &path[i + "/subscriptions/".len()..]))
}
