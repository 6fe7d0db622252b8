//! The event bus: every state change and log line is persisted with a sequence
//! number, then broadcast to live websocket clients, in sequence order.
//!
//! One process (SQLite) broadcasts what it persists. Several replicas on PostgreSQL
//! each relay the events table instead: an append announces its newest number on a
//! channel (`LISTEN/NOTIFY`), and every replica reads what is new and broadcasts it to
//! its own websockets, so a browser on any replica sees every deployment, in order.

use std::sync::Arc;
use std::time::Duration;

use ferry_app::model::{Event, EventPayload, LiveMessage};
use tokio::sync::{broadcast, Mutex};

use crate::store::{Store, StoreResult, EVENTS_CHANNEL};

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
    /// Whether the relay broadcasts (several replicas) instead of `publish_all`.
    relayed: bool,
}

/// Events read per query while relaying.
const RELAY_PAGE: i64 = 1000;
/// How often the relay looks without being told, should an announcement be lost
/// while its connection was being re-established.
const RELAY_POLL: Duration = Duration::from_secs(1);

impl EventBus {
    /// The bus of a single process: it broadcasts what it persists.
    pub fn new(store: Store) -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { store, sender, order: Default::default(), relayed: false }
    }

    /// The bus of a replica on PostgreSQL at `database_url`: every replica's events
    /// reach its websockets through the relay.
    pub fn across_replicas(store: Store, database_url: &str) -> Self {
        let bus = Self { relayed: true, ..Self::new(store) };
        tokio::spawn(relay(bus.store.clone(), database_url.to_string(), bus.sender.clone()));
        bus
    }

    pub async fn publish(&self, payload: EventPayload) -> StoreResult<Event> {
        let mut events = self.publish_all(vec![payload]).await?;
        Ok(events.remove(0))
    }

    /// Persists events in one transaction, then broadcasts them in order.
    pub async fn publish_all(&self, payloads: Vec<EventPayload>) -> StoreResult<Vec<Event>> {
        if self.relayed {
            return self.store.append_events(payloads).await;
        }
        let _order = self.order.lock().await;
        let events = self.store.append_events(payloads).await?;
        broadcast(&self.sender, &events);
        Ok(events)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}

/// Sends events to the live clients; nobody watching is fine, and with watchers each
/// event is serialized once for all of them.
fn broadcast(sender: &broadcast::Sender<LiveEvent>, events: &[Event]) {
    if sender.receiver_count() == 0 {
        return;
    }
    for event in events {
        match serde_json::to_string(&LiveMessage::Event(event.clone())) {
            Ok(json) => {
                let _ = sender.send(LiveEvent { seq: event.seq, json: json.into() });
            }
            Err(e) => tracing::error!(seq = event.seq, error = %e, "serializing an event"),
        }
    }
}

/// Listens for appended events and broadcasts each once, in order, for as long as the
/// process runs; a lost connection is made again and what it missed read back.
async fn relay(store: Store, database_url: String, sender: broadcast::Sender<LiveEvent>) {
    let mut last = loop {
        match store.head_seq().await {
            Ok(head) => break head,
            Err(e) => {
                tracing::warn!(error = %e, "event relay: reading the newest event; trying again");
                tokio::time::sleep(RELAY_POLL).await;
            }
        }
    };
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&database_url).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "event relay: cannot connect to listen; trying again");
                tokio::time::sleep(RELAY_POLL).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(EVENTS_CHANNEL).await {
            tracing::warn!(error = %e, "event relay: cannot listen; trying again");
            tokio::time::sleep(RELAY_POLL).await;
            continue;
        }
        loop {
            // Listening first, then reading: an append committed in between is read
            // now or announced next.
            match catch_up(&store, &sender, last).await {
                Ok(newest) => last = newest,
                Err(e) => tracing::warn!(error = %e, "event relay: reading new events"),
            }
            match tokio::time::timeout(RELAY_POLL, listener.try_recv()).await {
                // Several announcements may be waiting; one read covers them all.
                Ok(Ok(Some(_))) => while listener.next_buffered().is_some() {},
                // The connection dropped; the next call reconnects, and reading
                // again covers what was announced meanwhile.
                Ok(Ok(None)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "event relay: listening failed; connecting again");
                    break;
                }
            }
        }
    }
}

/// Broadcasts the events after `last`; returns the newest number handled.
async fn catch_up(store: &Store, sender: &broadcast::Sender<LiveEvent>, mut last: i64) -> StoreResult<i64> {
    if sender.receiver_count() == 0 {
        // Nobody to send to: clients that connect later start from the head, or replay.
        return Ok(store.head_seq().await?.max(last));
    }
    loop {
        let page = store.events_after(last, RELAY_PAGE).await?;
        let Some(newest) = page.last().map(|e| e.seq) else { return Ok(last) };
        broadcast(sender, &page);
        last = newest;
        if (page.len() as i64) < RELAY_PAGE {
            return Ok(last);
        }
    }
}
