//! Preview environments of pull and merge requests: the `pr-<number>` environment row,
//! its request, what it runs with, and its port (see migration 0031).

use std::collections::BTreeMap;

use super::{now_millis, Store, StoreResult};

/// A request as it is now, to open its preview or bring it up to date.
pub struct OpenPreview<'a> {
    pub project_id: i64,
    pub number: i64,
    pub from_environment_id: i64,
    pub branch: &'a str,
    pub default_branch: &'a str,
    pub head_commit: &'a str,
    pub title: &'a str,
    pub author: &'a str,
    pub request_url: &'a str,
    pub from_fork: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreviewRow {
    pub environment_id: i64,
    pub project_id: i64,
    pub number: i64,
    pub from_environment_id: i64,
    pub port: Option<i64>,
    pub vars: String,
    pub url: Option<String>,
    pub ttl_seconds: i64,
    pub branch: String,
    pub default_branch: String,
    pub head_commit: String,
    pub title: String,
    pub author: String,
    pub request_url: String,
    pub from_fork: i64,
    pub state: String,
    pub comment_id: Option<String>,
    pub opened_at: i64,
    pub touched_at: i64,
}

impl PreviewRow {
    pub fn vars(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.vars).unwrap_or_default()
    }
}

const PREVIEW_COLUMNS: &str =
    "environment_id, project_id, number, from_environment_id, port, vars, url, ttl_seconds, branch, \
     default_branch, head_commit, title, author, request_url, from_fork, state, comment_id, opened_at, touched_at";

impl Store {
    /// Opens request `number`'s preview (its environment is made the first time), or
    /// brings an open or reopened one up to date. A request from a fork needs one
    /// approval for each deployment. Answers its row, and whether it was closed or new.
    pub async fn open_preview(&self, new: &OpenPreview<'_>) -> StoreResult<(PreviewRow, bool)> {
        let name = format!("pr-{}", new.number);
        let now = now_millis();
        let approvals = i64::from(new.from_fork);
        let mut tx = self.pool.begin().await?;
        // Writes come first: SQLite takes its write lock at the first write.
        sqlx::query(
            "INSERT INTO environments (project_id, name, position) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, name) DO NOTHING",
        )
        .bind(new.project_id)
        .bind(&name)
        .bind(-new.number)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE environments SET required_approvals = $1, deploy_role = 'deployer', wait_minutes = 0 \
             WHERE project_id = $2 AND name = $3",
        )
        .bind(approvals)
        .bind(new.project_id)
        .bind(&name)
        .execute(&mut *tx)
        .await?;
        let environment_id: i64 = sqlx::query_scalar("SELECT id FROM environments WHERE project_id = $1 AND name = $2")
            .bind(new.project_id)
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?;
        let previous: Option<String> = sqlx::query_scalar("SELECT state FROM previews WHERE environment_id = $1")
            .bind(environment_id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO previews (environment_id, project_id, number, from_environment_id, vars, ttl_seconds, branch, \
                head_commit, title, author, request_url, from_fork, state, opened_at, touched_at, default_branch) \
             VALUES ($1, $2, $3, $4, '{}', 259200, $5, $6, $7, $8, $9, $10, 'open', $11, $11, $12) \
             ON CONFLICT (environment_id) DO UPDATE SET from_environment_id = $4, branch = $5, head_commit = $6, \
                title = $7, author = $8, request_url = $9, from_fork = $10, state = 'open', touched_at = $11, \
                closed_at = NULL, default_branch = $12",
        )
        .bind(environment_id)
        .bind(new.project_id)
        .bind(new.number)
        .bind(new.from_environment_id)
        .bind(new.branch)
        .bind(new.head_commit)
        .bind(new.title)
        .bind(new.author)
        .bind(new.request_url)
        .bind(i64::from(new.from_fork))
        .bind(now)
        .bind(new.default_branch)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let row = self.preview(environment_id).await?.expect("just written");
        Ok((row, previous.as_deref() != Some("open")))
    }

    pub async fn preview(&self, environment_id: i64) -> StoreResult<Option<PreviewRow>> {
        let sql = format!("SELECT {PREVIEW_COLUMNS} FROM previews WHERE environment_id = $1");
        sqlx::query_as(&sql).bind(environment_id).fetch_optional(&self.pool).await
    }

    pub async fn preview_by_number(&self, project_id: i64, number: i64) -> StoreResult<Option<PreviewRow>> {
        let sql = format!("SELECT {PREVIEW_COLUMNS} FROM previews WHERE project_id = $1 AND number = $2");
        sqlx::query_as(&sql).bind(project_id).bind(number).fetch_optional(&self.pool).await
    }

    /// The project's previews that hold a place (open, or being torn down).
    pub async fn previews_up(&self, project_id: i64) -> StoreResult<Vec<PreviewRow>> {
        let sql = format!(
            "SELECT {PREVIEW_COLUMNS} FROM previews WHERE project_id = $1 AND state IN ('open', 'closing') \
             ORDER BY number"
        );
        sqlx::query_as(&sql).bind(project_id).fetch_all(&self.pool).await
    }

    /// The project's previews waiting for a place, longest waiting first.
    pub async fn previews_waiting(&self, project_id: i64) -> StoreResult<Vec<PreviewRow>> {
        let sql = format!(
            "SELECT {PREVIEW_COLUMNS} FROM previews WHERE project_id = $1 AND state = 'waiting' ORDER BY touched_at, number"
        );
        sqlx::query_as(&sql).bind(project_id).fetch_all(&self.pool).await
    }

    /// The preview waits for a place (`max` previews are up, or every port is taken).
    pub async fn preview_waits(&self, environment_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE previews SET state = 'waiting' WHERE environment_id = $1 AND state = 'open'")
            .bind(environment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives the preview the lowest port of `first..=last` no preview holds (it keeps
    /// the one it has). `None` when all are taken.
    pub async fn claim_preview_port(&self, environment_id: i64, first: u16, last: u16) -> StoreResult<Option<u16>> {
        for _ in 0..20 {
            let held: Option<i64> = sqlx::query_scalar("SELECT port FROM previews WHERE environment_id = $1")
                .bind(environment_id)
                .fetch_one(&self.pool)
                .await?;
            if let Some(port) = held.filter(|p| (i64::from(first)..=i64::from(last)).contains(p)) {
                return Ok(Some(port as u16));
            }
            let taken: Vec<i64> =
                sqlx::query_scalar("SELECT port FROM previews WHERE port BETWEEN $1 AND $2 ORDER BY port")
                    .bind(i64::from(first))
                    .bind(i64::from(last))
                    .fetch_all(&self.pool)
                    .await?;
            let Some(free) = (first..=last).find(|p| !taken.contains(&i64::from(*p))) else { return Ok(None) };
            // Another preview may take the same port at the same moment: the unique
            // index refuses the second, which then looks again.
            match sqlx::query("UPDATE previews SET port = $1 WHERE environment_id = $2")
                .bind(i64::from(free))
                .bind(environment_id)
                .execute(&self.pool)
                .await
            {
                Ok(_) => return Ok(Some(free)),
                Err(e) if super::is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// What the preview runs with: variables (its port among them) and its URL; and
    /// how long it lives without a push.
    pub async fn set_preview_settings(
        &self,
        environment_id: i64,
        vars: &BTreeMap<String, String>,
        url: Option<&str>,
        ttl_seconds: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE previews SET vars = $1, url = $2, ttl_seconds = $3 WHERE environment_id = $4")
            .bind(serde_json::to_string(vars).unwrap_or_else(|_| "{}".into()))
            .bind(url)
            .bind(ttl_seconds)
            .bind(environment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the request closed (its teardown follows). False when it was not open
    /// (or waiting).
    pub async fn close_preview(&self, environment_id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE previews SET state = 'closing', closed_at = $1 \
             WHERE environment_id = $2 AND state IN ('open', 'waiting')",
        )
        .bind(now_millis())
        .bind(environment_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The preview is off its hosts: its port is free again, and it leaves the matrix.
    /// A job gives its place to the project's longest waiting preview.
    pub async fn retire_preview(&self, environment_id: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let retired = sqlx::query(
            "UPDATE previews SET state = 'closed', port = NULL WHERE environment_id = $1 AND state = 'closing'",
        )
        .bind(environment_id)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() == 1 {
            let project_id: i64 = sqlx::query_scalar("SELECT project_id FROM previews WHERE environment_id = $1")
                .bind(environment_id)
                .fetch_one(&mut *tx)
                .await?;
            let key = format!("preview-place:{environment_id}:{}", now_millis());
            let kind = super::job_kinds::PREVIEW_PLACE_FREED;
            // One at a time per project: two teardowns must not give one place twice.
            let queue = format!("preview-places:{project_id}");
            let order = super::JobOrder::OneAtATime(&queue);
            super::jobs::enqueue_in(&mut tx, kind, &key, &project_id.to_string(), order).await?;
        }
        tx.commit().await
    }

    pub async fn set_preview_comment(&self, environment_id: i64, comment_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE previews SET comment_id = $1 WHERE environment_id = $2")
            .bind(comment_id)
            .bind(environment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deployments to the environment that have not started: queued or awaiting approval.
    pub async fn waiting_in_environment(&self, environment_id: i64) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT id FROM deployments WHERE environment_id = $1 AND state IN ('queued', 'awaiting_approval') \
             ORDER BY id",
        )
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The release a preview's teardown runs in: the one last live there, else the one
    /// last tried there (it may have gone live before it failed); `None` when nothing
    /// ever ran there.
    pub async fn teardown_release(&self, environment_id: i64) -> StoreResult<Option<i64>> {
        sqlx::query_scalar(
            "SELECT release_id FROM deployments WHERE environment_id = $1 AND kind <> 'teardown' \
               AND state IN ('succeeded', 'failed', 'running') \
             ORDER BY CASE WHEN state = 'succeeded' THEN 0 ELSE 1 END, id DESC LIMIT 1",
        )
        .bind(environment_id)
        .fetch_optional(&self.pool)
        .await
    }
}
