//! The durable job queue's table (migration 0024; the runner is `crate::jobs`). Jobs
//! are claimed with a lease: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas
//! claiming at once take different jobs; SQLite has one process and one writer.

use sqlx::{Any, Transaction};

use super::{now_millis, Backend, Store, StoreResult};

/// The kinds of jobs; `lib.rs` gives each its handler.
pub mod kinds {
    /// A deployment ended: its in-app and routed notifications. Payload: its id.
    pub const DEPLOYMENT_FINISHED: &str = "deployment_finished";
    /// A deployment started: its routed notifications. Payload: its id.
    pub const DEPLOYMENT_STARTED: &str = "deployment_started";
    /// A deployment waits for approvals: the approvers' notifications. Payload: its id.
    pub const APPROVAL_REQUESTED: &str = "approval_requested";
    /// One message of the outbox to its channel or person. Payload: its id. Key: the
    /// channel's.
    pub const DELIVER_NOTIFICATION: &str = "deliver_notification";
    /// An agent stayed away past the grace period. Payload: `agents::offline::AgentAbsence`.
    pub const AGENT_OFFLINE: &str = "agent_offline";
    /// One change of a deployment to its project's repository. Payload: the report's
    /// id. Key: the project's.
    pub const SEND_FORGE_REPORT: &str = "send_forge_report";
    /// A preview may have outlived its `ttl` without a push. Payload:
    /// `services::previews::Expiry`.
    pub const PREVIEW_EXPIRY: &str = "preview_expiry";
    /// A preview was torn down: the project's longest waiting preview may take its
    /// place. Payload: the project's id.
    pub const PREVIEW_PLACE_FREED: &str = "preview_place_freed";
    /// A day's retention sweep (`services::retention`), which queues the next day's.
    /// Payload: the day, counted from 1970-01-01 (UTC).
    pub const RETENTION_SWEEP: &str = "retention_sweep";

    /// Every kind, for the waiting jobs' figures in `/metrics`.
    pub const ALL: [&str; 9] = [
        DEPLOYMENT_FINISHED,
        DEPLOYMENT_STARTED,
        APPROVAL_REQUESTED,
        DELIVER_NOTIFICATION,
        AGENT_OFFLINE,
        SEND_FORGE_REPORT,
        PREVIEW_EXPIRY,
        PREVIEW_PLACE_FREED,
        RETENTION_SWEEP,
    ];
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
    pub queue_key: Option<String>,
}

/// How a job waits for the others of its queue key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order<'a> {
    /// Runs whenever it is due.
    Any,
    /// One job of the key at a time, oldest due first; one waiting for its retry lets
    /// the later ones by (a channel's messages).
    OneAtATime(&'a str),
    /// One at a time, strictly in order: a retry holds the later ones back (a
    /// project's forge reports).
    InOrder(&'a str),
}

/// Enqueues a job within `tx`, the transaction of the change that asks for it; a job
/// with the same `dedupe_key` makes this a no-op.
pub(super) async fn enqueue_in(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
    order: Order<'_>,
) -> StoreResult<()> {
    let (queue_key, in_order) = match order {
        Order::Any => (None, false),
        Order::OneAtATime(key) => (Some(key), false),
        Order::InOrder(key) => (Some(key), true),
    };
    sqlx::query(
        "INSERT INTO jobs (kind, dedupe_key, payload, run_after, queue_key, in_order) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(kind)
    .bind(dedupe_key)
    .bind(payload)
    .bind(now_millis())
    .bind(queue_key)
    .bind(in_order as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Enqueues a job on its own (work asked for by no state change).
    pub async fn enqueue_job(&self, kind: &str, dedupe_key: &str, payload: &str, order: Order<'_>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        enqueue_in(&mut tx, kind, dedupe_key, payload, order).await?;
        tx.commit().await
    }

    /// Claims up to `limit` due jobs for `owner` until `now + lease_ms`, oldest first:
    /// jobs never claimed, due again after a failure, or whose claim ran out; of the
    /// jobs of one queue key, only one at a time (none while an older one runs or is
    /// due, or, `in_order`, waits for its retry).
    pub async fn claim_jobs(&self, owner: &str, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<JobRow>> {
        let skip_locked = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs j WHERE done_at IS NULL AND run_after <= $3 \
               AND (locked_until IS NULL OR locked_until <= $3) \
               AND (queue_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs k \
                 WHERE k.queue_key = j.queue_key AND k.done_at IS NULL AND k.id <> j.id \
                 AND (k.locked_until > $3 OR (k.id < j.id AND (k.in_order = 1 OR k.run_after <= $3)))) \
                 AND NOT EXISTS (SELECT 1 FROM queue_holds h WHERE h.queue_key = j.queue_key AND h.held_until > $3)) \
               ORDER BY id LIMIT $4 {skip_locked}) \
             RETURNING id, kind, payload, attempts, queue_key"
        );
        let mut claimed: Vec<JobRow> =
            sqlx::query_as(&sql).bind(owner).bind(now + lease_ms).bind(now).bind(limit).fetch_all(&self.pool).await?;
        claimed.sort_by_key(|j| j.id);
        Ok(claimed)
    }

    /// Marks a job done, if `owner` still holds it.
    pub async fn complete_job(&self, id: i64, owner: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET done_at = $1, locked_by = NULL, locked_until = NULL WHERE id = $2 AND locked_by = $3",
        )
        .bind(now_millis())
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a job back (it failed, or must wait), due again at `run_after`.
    pub async fn retry_job(&self, id: i64, owner: &str, run_after: i64, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET run_after = $1, last_error = $2, locked_by = NULL, locked_until = NULL \
             WHERE id = $3 AND locked_by = $4",
        )
        .bind(run_after)
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lets go of every claim (SQLite, one process: they are a killed predecessor's,
    /// and its jobs are this process's to run now, not when the claims run out).
    pub async fn drop_job_claims(&self) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET locked_by = NULL, locked_until = NULL WHERE done_at IS NULL")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Holds back the jobs of `queue_key`, those enqueued later too, until `until` (a
    /// receiver's pace).
    pub async fn pace_queue(&self, queue_key: &str, until: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO queue_holds (queue_key, held_until) VALUES ($1, $2) \
             ON CONFLICT (queue_key) DO UPDATE SET held_until = excluded.held_until",
        )
        .bind(queue_key)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many jobs of each kind are not done yet.
    pub async fn waiting_jobs_by_kind(&self) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query_as("SELECT kind, COUNT(*) FROM jobs WHERE done_at IS NULL GROUP BY kind")
            .fetch_all(&self.pool)
            .await
    }

    /// Jobs not done yet, oldest first: `(kind, dedupe_key, attempts, last_error)`.
    pub async fn pending_jobs(&self) -> StoreResult<Vec<(String, String, i64, Option<String>)>> {
        sqlx::query_as("SELECT kind, dedupe_key, attempts, last_error FROM jobs WHERE done_at IS NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }
}
