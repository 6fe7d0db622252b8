//! The event bus: every state change and log line is persisted with a sequence
//! number, then broadcast to live websocket clients, in sequence order.

use ferry_app::model::{Event, EventPayload};
use tokio::sync::{broadcast, Mutex};

use crate::store::{Store, StoreResult};

#[derive(Clone)]
pub struct EventBus {
    store: Store,
    sender: broadcast::Sender<Event>,
    /// Held across "persist then broadcast" so live clients see increasing numbers.
    order: std::sync::Arc<Mutex<()>>,
}

impl EventBus {
    pub fn new(store: Store) -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { store, sender, order: Default::default() }
    }

    pub async fn publish(&self, payload: EventPayload) -> StoreResult<Event> {
        let _order = self.order.lock().await;
        let event = self.store.append_event(payload).await?;
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(event.clone());
        Ok(event)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
