//! The numbered event log the websocket replays from.

use ferry_app::model::{Event, EventPayload};

use super::{now_millis, Store, StoreResult};

impl Store {
    /// Appends events in one transaction and returns them with their numbers.
    pub async fn append_events(&self, payloads: Vec<EventPayload>) -> StoreResult<Vec<Event>> {
        let at = now_millis();
        let mut tx = self.pool.begin().await?;
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
