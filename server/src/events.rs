//! The event bus: every state change and log line is persisted with a sequence
//! number, then broadcast to live websocket clients, in sequence order.

use std::sync::Arc;

use ferry_app::model::{Event, EventPayload, LiveMessage};
use tokio::sync::{broadcast, Mutex};

use crate::store::{Store, StoreResult};

/// An event as live clients receive it: serialized once, sent to every client.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub seq: i64,
    /// The `LiveMessage::Event` JSON text.
    pub json: Arc<str>,
}

#[derive(Clone)]
pub struct EventBus {
    store: Store,
    sender: broadcast::Sender<LiveEvent>,
    /// Held across "persist then broadcast" so live clients see increasing numbers.
    order: std::sync::Arc<Mutex<()>>,
}

impl EventBus {
    pub fn new(store: Store) -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { store, sender, order: Default::default() }
    }

    pub async fn publish(&self, payload: EventPayload) -> StoreResult<Event> {
        let mut events = self.publish_all(vec![payload]).await?;
        Ok(events.remove(0))
    }

    /// Persists events in one transaction, then broadcasts them in order.
    pub async fn publish_all(&self, payloads: Vec<EventPayload>) -> StoreResult<Vec<Event>> {
        let _order = self.order.lock().await;
        let events = self.store.append_events(payloads).await?;
        // Nobody watching is fine; with watchers, serialize once for all of them.
        if self.sender.receiver_count() > 0 {
            for event in &events {
                let json = serde_json::to_string(&LiveMessage::Event(event.clone()))
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let _ = self.sender.send(LiveEvent { seq: event.seq, json: json.into() });
            }
        }
        Ok(events)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}
