//! Notification channels (sealed settings), routing rules and the delivery outbox.

use ferry_app::model::{ChannelKind, ChannelView, DeliveryState, DeliveryView, NotifyEvent, RuleView};

use super::{now_millis, to_time, Store, StoreResult};

#[derive(sqlx::FromRow)]
struct ChannelRow {
    id: i64,
    name: String,
    kind: String,
    summary: String,
    created_by: String,
    created_at: i64,
}

impl ChannelRow {
    fn view(self) -> ChannelView {
        ChannelView {
            id: self.id,
            name: self.name,
            kind: ChannelKind::parse(&self.kind).unwrap_or(ChannelKind::Webhook),
            summary: self.summary,
            created_by: self.created_by,
            created_at: to_time(self.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    channel_id: i64,
    channel: String,
    project: Option<String>,
    environment: Option<String>,
    events: String,
}

/// A channel as the sender needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelSecret {
    pub id: i64,
    pub name: String,
    pub sealed_settings: String,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    /// `None` for personal email.
    pub channel_id: Option<i64>,
    /// The person's address, for personal email (no channel).
    pub recipient: Option<String>,
    pub event: String,
    pub notice: String,
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    channel_id: i64,
    channel: String,
    event: String,
    title: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: i64,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl DeliveryRow {
    fn view(self) -> DeliveryView {
        let state = DeliveryState::parse(&self.state).unwrap_or(DeliveryState::Failed);
        DeliveryView {
            id: self.id,
            channel_id: self.channel_id,
            channel: self.channel,
            event: self.event,
            title: self.title,
            state,
            attempts: self.attempts,
            last_error: self.last_error,
            next_attempt_at: (state == DeliveryState::Pending).then(|| to_time(self.next_attempt_at)),
            created_at: to_time(self.created_at),
            delivered_at: self.delivered_at.map(to_time),
        }
    }
}

/// A message for the outbox: to a channel, or (`None`) by personal email to `recipient`.
pub struct NewDelivery<'a> {
    pub channel_id: Option<i64>,
    pub recipient: Option<&'a str>,
    /// The same key is enqueued once.
    pub dedupe_key: &'a str,
    pub event: &'a str,
    pub title: &'a str,
    pub notice: &'a str,
}

const CHANNELS: &str = "SELECT id, name, kind, summary, created_by, created_at FROM notify_channels";
const RULES: &str = "SELECT r.id, r.channel_id, c.name AS channel, p.slug AS project, r.environment, r.events \
                     FROM notify_rules r JOIN notify_channels c ON c.id = r.channel_id \
                     LEFT JOIN projects p ON p.id = r.project_id";

impl Store {
    pub async fn add_channel(
        &self,
        name: &str,
        kind: ChannelKind,
        sealed: &str,
        summary: &str,
        by: &str,
    ) -> StoreResult<ChannelView> {
        let sql = "INSERT INTO notify_channels (name, kind, sealed_settings, summary, created_by, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, name, kind, summary, created_by, created_at";
        let row: ChannelRow = sqlx::query_as(sql)
            .bind(name)
            .bind(kind.as_str())
            .bind(sealed)
            .bind(summary)
            .bind(by)
            .bind(now_millis())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.view())
    }

    pub async fn channels(&self) -> StoreResult<Vec<ChannelView>> {
        let rows: Vec<ChannelRow> = sqlx::query_as(&format!("{CHANNELS} ORDER BY name")).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(ChannelRow::view).collect())
    }

    pub async fn channel_secret(&self, id: i64) -> StoreResult<Option<ChannelSecret>> {
        sqlx::query_as("SELECT id, name, sealed_settings FROM notify_channels WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Removes a channel with its rules and deliveries; false when there was none.
    pub async fn remove_channel(&self, id: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM notify_rules WHERE channel_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM notify_outbox WHERE channel_id = $1").bind(id).execute(&mut *tx).await?;
        let gone = sqlx::query("DELETE FROM notify_channels WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    pub async fn add_rule(
        &self,
        channel_id: i64,
        project_id: Option<i64>,
        environment: Option<&str>,
        events: &[NotifyEvent],
    ) -> StoreResult<i64> {
        let events: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        sqlx::query_scalar(
            "INSERT INTO notify_rules (channel_id, project_id, environment, events, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(channel_id)
        .bind(project_id)
        .bind(environment)
        .bind(events.join(","))
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
    }

    pub async fn rules(&self) -> StoreResult<Vec<RuleView>> {
        let rows: Vec<RuleRow> =
            sqlx::query_as(&format!("{RULES} ORDER BY c.name, r.id")).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| RuleView {
                id: r.id,
                channel_id: r.channel_id,
                channel: r.channel,
                project: r.project,
                environment: r.environment,
                events: r.events.split(',').filter_map(NotifyEvent::parse).collect(),
            })
            .collect())
    }

    pub async fn remove_rule(&self, id: i64) -> StoreResult<bool> {
        let gone = sqlx::query("DELETE FROM notify_rules WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(gone.rows_affected() > 0)
    }

    /// Adds a message to the outbox, and the job that delivers it in its channel's order,
    /// in one transaction; false when its key was enqueued before.
    pub async fn enqueue_delivery(&self, d: &NewDelivery<'_>) -> StoreResult<bool> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let added: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notify_outbox (channel_id, recipient, dedupe_key, event, title, notice, state, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(d.channel_id)
        .bind(d.recipient)
        .bind(d.dedupe_key)
        .bind(d.event)
        .bind(d.title)
        .bind(d.notice)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = added else { return Ok(false) };
        let kind = super::jobs::kinds::DELIVER_NOTIFICATION;
        let key = format!("channel:{}", d.channel_id.unwrap_or(0));
        super::jobs::enqueue_in(
            &mut tx,
            kind,
            &format!("delivery:{id}"),
            &id.to_string(),
            super::jobs::Order::OneAtATime(&key),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A message still to deliver.
    pub async fn pending_delivery(&self, id: i64) -> StoreResult<Option<OutboxRow>> {
        sqlx::query_as(
            "SELECT id, channel_id, recipient, event, notice, attempts FROM notify_outbox \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Records an attempt: delivered, failed for good, or due again at `retry_at`.
    pub async fn record_attempt(
        &self,
        id: i64,
        state: DeliveryState,
        error: Option<&str>,
        retry_at: i64,
    ) -> StoreResult<()> {
        let now = now_millis();
        let delivered_at = (state == DeliveryState::Delivered).then_some(now);
        sqlx::query(
            "UPDATE notify_outbox SET state = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
             delivered_at = $4 WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(retry_at)
        .bind(delivered_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last `lines` a step printed, oldest first: the excerpt a failure message quotes.
    pub async fn step_log_tail(&self, deployment_id: i64, step: i32, lines: i64) -> StoreResult<Vec<String>> {
        let mut tail: Vec<String> = sqlx::query_scalar(
            "SELECT text FROM log_lines WHERE deployment_id = $1 AND step = $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(deployment_id)
        .bind(i64::from(step))
        .bind(lines)
        .fetch_all(&self.pool)
        .await?;
        tail.reverse();
        Ok(tail)
    }

    /// Newest first.
    pub async fn deliveries(&self, limit: i64) -> StoreResult<Vec<DeliveryView>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT o.id, COALESCE(o.channel_id, 0) AS channel_id, COALESCE(c.name, 'email to ' || o.recipient) AS channel, \
             o.event, o.title, o.state, o.attempts, o.last_error, o.next_attempt_at, o.created_at, o.delivered_at \
             FROM notify_outbox o LEFT JOIN notify_channels c ON c.id = o.channel_id ORDER BY o.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeliveryRow::view).collect())
    }
}
