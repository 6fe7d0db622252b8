//! The numbered event log the websocket replays from.
//!
//! On PostgreSQL, where several replicas append, appends take turns (a transaction
//! advisory lock), so numbers become visible in order: a reader that sees event `n`
//! will never see a smaller number appear later. Each append announces its newest
//! number on the `ferry_events` channel when it commits (`events::EventBus` relays).

use ferry_app::model::{Event, EventPayload};

use super::{now_millis, Backend, Store, StoreResult};

/// The channel appends announce themselves on.
pub const EVENTS_CHANNEL: &str = "ferry_events";
/// The advisory lock appends take turns with (any number no other lock uses).
const APPEND_LOCK: i64 = 0x6665_7272_7965_7673; // "ferryevs"

impl Store {
    /// Appends events in one transaction and returns them with their numbers.
    pub async fn append_events(&self, payloads: Vec<EventPayload>) -> StoreResult<Vec<Event>> {
        let at = now_millis();
        let mut tx = self.pool.begin().await?;
        let postgres = self.backend == Backend::Postgres;
        if postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *tx).await?;
        }
        let mut events = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let json = serde_json::to_string(&payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let seq: i64 = sqlx::query_scalar("INSERT INTO events (payload, at) VALUES ($1, $2) RETURNING seq")
                .bind(json)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
            events.push(Event { seq, payload });
        }
        if let (true, Some(last)) = (postgres, events.last()) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(last.seq.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(events)
    }

    /// Events after `after`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(seq, json)| {
                let payload = serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(Event { seq, payload })
            })
            .collect()
    }

    /// The newest sequence number (0 when there are no events).
    pub async fn head_seq(&self) -> StoreResult<i64> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&self.pool).await?;
        Ok(head.unwrap_or(0))
    }
}
