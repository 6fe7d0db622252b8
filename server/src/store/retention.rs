//! Retention (migration 0033): removing what has aged past its project's (or the
//! server's) number of days: finished deployments' log lines, the event log, finished
//! deliveries (notifications, forge reports, received webhook deliveries) and done
//! jobs. What each sweep removed adds up in `retention_totals`, which `/metrics`
//! reports for the whole installation. Work in progress is never touched: an
//! unfinished deployment's log, a pending delivery, a job not done.

use super::{now_millis, Backend, Store, StoreResult};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Deployments whose logs one pass removes, each in a short write of its own (SQLite
/// has one writer, which running deployments need too).
const BATCH: i64 = 200;

/// The cutoff (ms) of the project `p`: older goes; 0 when it keeps everything. `$1` is
/// the server's number of days, `$2` the present.
const PROJECT_CUTOFF: &str = "CASE WHEN COALESCE(p.retention_days, $1) > 0 \
     THEN $2 - COALESCE(p.retention_days, $1) * 86400000 ELSE 0 END";

/// What a sweep removed of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub kind: &'static str,
    pub rows: i64,
    pub bytes: i64,
}

/// The totals `/metrics` reports: `(kind, removed rows, freed bytes)`.
pub type RetentionTotal = (String, i64, i64);

impl Store {
    /// A project's own retention in days (`None`: the server's; `Some(0)`: forever).
    pub async fn project_retention(&self, project_id: i64) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT retention_days FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn set_project_retention(&self, project_id: i64, days: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET retention_days = $1 WHERE id = $2")
            .bind(days)
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes what is older than its retention at `now` (ms); `default_days` is the
    /// server's (0 keeps what no project limits itself).
    pub async fn sweep_retained(&self, default_days: i64, now: i64) -> StoreResult<Vec<Removed>> {
        let global = if default_days > 0 { now - default_days * DAY_MS } else { 0 };
        let per_project = |table: &str, at: &str| {
            format!("{at} < (SELECT {PROJECT_CUTOFF} FROM projects p WHERE p.id = {table}.project_id)")
        };
        let by_project = Binds::DaysAndNow(default_days, now);
        let removed = vec![
            self.sweep_logs(default_days, now).await?,
            self.remove("events", &self.size_of("payload"), "at < $1", Binds::Cutoff(global)).await?,
            self.remove(
                "notify_outbox",
                &self.size_of("title, notice, last_error"),
                "state <> 'pending' AND created_at < $1",
                Binds::Cutoff(global),
            )
            .await?,
            self.remove(
                "jobs",
                &self.size_of("payload, last_error"),
                "done_at IS NOT NULL AND done_at < $1",
                Binds::Cutoff(global),
            )
            .await?,
            self.remove(
                "forge_reports",
                &self.size_of("last_error"),
                &format!("state <> 'pending' AND {}", per_project("forge_reports", "created_at")),
                by_project,
            )
            .await?,
            self.remove(
                "forge_deliveries",
                &self.size_of("delivery_id, event, outcome"),
                &per_project("forge_deliveries", "received_at"),
                by_project,
            )
            .await?,
        ];
        let mut tx = self.pool.begin().await?;
        for r in &removed {
            sqlx::query(
                "INSERT INTO retention_totals (kind, removed_rows, freed_bytes, last_sweep_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind) DO UPDATE SET removed_rows = retention_totals.removed_rows + excluded.removed_rows, \
                 freed_bytes = retention_totals.freed_bytes + excluded.freed_bytes, last_sweep_at = excluded.last_sweep_at",
            )
            .bind(r.kind)
            .bind(r.rows)
            .bind(r.bytes)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// When retention removed this deployment's log, if it did.
    pub async fn log_removed_at(&self, deployment_id: i64) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT log_removed_at FROM deployments WHERE id = $1")
            .bind(deployment_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn retention_totals(&self) -> StoreResult<Vec<RetentionTotal>> {
        sqlx::query_as("SELECT kind, removed_rows, freed_bytes FROM retention_totals ORDER BY kind")
            .fetch_all(&self.pool)
            .await
    }

    /// The bytes of text `columns` (comma-separated) hold, in this database's words.
    fn size_of(&self, columns: &str) -> String {
        let one = |c: &str| match self.backend {
            Backend::Postgres => format!("COALESCE(OCTET_LENGTH({c}), 0)"),
            Backend::Sqlite => format!("COALESCE(LENGTH(CAST({c} AS BLOB)), 0)"),
        };
        columns.split(',').map(|c| one(c.trim())).collect::<Vec<_>>().join(" + ")
    }

    /// Measures, then removes, the rows of the table `kind` that `condition` picks, in
    /// one write.
    async fn remove(&self, kind: &'static str, size: &str, condition: &str, binds: Binds) -> StoreResult<Removed> {
        let mut tx = self.pool.begin().await?;
        let removed = Self::remove_in(&mut tx, kind, size, condition, binds).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// `remove`, within a write the caller goes on with.
    async fn remove_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        kind: &'static str,
        size: &str,
        condition: &str,
        binds: Binds,
    ) -> StoreResult<Removed> {
        let table = kind;
        let measure = format!("SELECT COUNT(*), COALESCE(SUM({size}), 0) FROM {table} WHERE {condition}");
        let delete = format!("DELETE FROM {table} WHERE {condition}");
        let (rows, bytes): (i64, i64) = match binds {
            Binds::Cutoff(cutoff) => {
                let measured = sqlx::query_as(&measure).bind(cutoff).fetch_one(&mut **tx).await?;
                sqlx::query(&delete).bind(cutoff).execute(&mut **tx).await?;
                measured
            }
            Binds::DaysAndNow(days, now) => {
                let measured = sqlx::query_as(&measure).bind(days).bind(now).fetch_one(&mut **tx).await?;
                sqlx::query(&delete).bind(days).bind(now).execute(&mut **tx).await?;
                measured
            }
        };
        Ok(Removed { kind, rows, bytes })
    }

    /// The log lines of deployments finished before their project's cutoff, a
    /// deployment at a time.
    async fn sweep_logs(&self, default_days: i64, now: i64) -> StoreResult<Removed> {
        let aged = format!(
            "SELECT d.id FROM deployments d JOIN projects p ON p.id = d.project_id \
             WHERE d.finished_at IS NOT NULL AND d.finished_at < {PROJECT_CUTOFF} \
             AND EXISTS (SELECT 1 FROM log_lines l WHERE l.deployment_id = d.id) ORDER BY d.id LIMIT {BATCH}"
        );
        let mut total = Removed { kind: "log_lines", rows: 0, bytes: 0 };
        loop {
            let ids: Vec<i64> = sqlx::query_scalar(&aged).bind(default_days).bind(now).fetch_all(&self.pool).await?;
            if ids.is_empty() {
                return Ok(total);
            }
            for id in ids {
                let mut tx = self.pool.begin().await?;
                let size = self.size_of("text");
                let removed =
                    Self::remove_in(&mut tx, "log_lines", &size, "deployment_id = $1", Binds::Cutoff(id)).await?;
                // In the same write: the deployment's page says why its log is empty.
                sqlx::query("UPDATE deployments SET log_removed_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                total.rows += removed.rows;
                total.bytes += removed.bytes;
            }
        }
    }
}

/// The parameters of a condition: one value (`$1`), or the server's days and the
/// present (`$1`, `$2`).
#[derive(Debug, Clone, Copy)]
enum Binds {
    Cutoff(i64),
    DaysAndNow(i64, i64),
}
