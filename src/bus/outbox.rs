//! The only way ferry's functions send: to a declared [`ServiceBusEntity`], never to a
//! free-form name, so every entity ferry sends to is in [`crate::permissions`] and gets its
//! *Azure Service Bus Data Sender* role in `infra/`.

use std::sync::Arc;

use super::{BusError, MessageSender, OutgoingMessage};
use crate::permissions::{EntityNames, ServiceBusEntity};

/// A [`MessageSender`] bound to ferry's entity names.
#[derive(Clone)]
pub struct Outbox {
    sender: Arc<dyn MessageSender>,
    names: EntityNames,
}

impl Outbox {
    pub fn new(sender: Arc<dyn MessageSender>, names: EntityNames) -> Self {
        Outbox { sender, names }
    }

    /// The same names with another sender (the demo's late-bound one).
    pub fn with_sender(&self, sender: Arc<dyn MessageSender>) -> Self {
        Outbox {
            sender,
            names: self.names.clone(),
        }
    }

    /// The entity's configured name.
    pub fn name(&self, entity: ServiceBusEntity) -> &str {
        self.names.get(entity)
    }

    /// Sends to `entity`; refused if the declaration says ferry never sends there (its
    /// identity would hold no Sender role on it in Azure).
    pub async fn send(
        &self,
        entity: ServiceBusEntity,
        messages: Vec<OutgoingMessage>,
    ) -> Result<(), BusError> {
        let name = self.names.get(entity);
        if entity.ferry_sends().is_none() {
            return Err(BusError::Config {
                queue: name.to_string(),
                status: 0,
                message: format!(
                    "{entity:?} is not declared as an entity ferry sends to (src/permissions.rs)"
                ),
            });
        }
        self.sender.send(name, messages).await
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("names", &self.names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl MessageSender for Recorder {
        async fn send(&self, queue: &str, _: Vec<OutgoingMessage>) -> Result<(), BusError> {
            self.0.lock().unwrap().push(queue.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn sends_go_to_the_configured_name_of_each_declared_entity() {
        let rec = Arc::new(Recorder::default());
        let names = EntityNames {
            events_queue: "ev".into(),
            copy_queue: "cp".into(),
            alerts_topic: "al".into(),
        };
        let out = Outbox::new(rec.clone(), names);
        for e in ServiceBusEntity::ALL {
            out.send(e, vec![OutgoingMessage::json("m", "{}")])
                .await
                .unwrap();
        }
        assert_eq!(*rec.0.lock().unwrap(), ["ev", "cp", "al"]);
        assert_eq!(out.name(ServiceBusEntity::CopyQueue), "cp");
    }
}
