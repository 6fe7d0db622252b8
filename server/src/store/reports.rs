//! Queries that read across deployments: what is live per environment, the history,
//! the finished deployments behind the insights, and counts for the metrics.

use ferry_app::model::{DeploymentState, DeploymentView, HistoryFilter};

use super::rows::{DeploymentRow, DEPLOYMENT_SELECT};
use super::{Store, StoreResult};

#[derive(sqlx::FromRow)]
struct FinishedRow {
    project: String,
    environment: String,
    position: i64,
    last_position: i64,
    state: String,
    finished_at: i64,
    committed_at: Option<i64>,
}

/// A finished deployment as the insights need it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedDeployment {
    pub project: String,
    pub environment: String,
    /// Whether the environment is the project's last (production).
    pub production: bool,
    pub state: DeploymentState,
    pub finished_at: i64,
    pub committed_at: Option<i64>,
}

impl Store {
    /// The newest deployment to an environment, optionally only a successful one.
    pub async fn latest_in_environment(
        &self,
        environment_id: i64,
        succeeded_only: bool,
    ) -> StoreResult<Option<DeploymentView>> {
        let filter = if succeeded_only { " AND d.state = 'succeeded'" } else { "" };
        let sql = format!("{DEPLOYMENT_SELECT} WHERE d.environment_id = $1{filter} ORDER BY d.id DESC LIMIT 1");
        let row: Option<DeploymentRow> = sqlx::query_as(&sql).bind(environment_id).fetch_optional(&self.pool).await?;
        Ok(row.map(DeploymentRow::view))
    }
    /// The newest successful deployment to an environment of a release other than `except`.
    pub async fn previous_success(&self, environment_id: i64, except: i64) -> StoreResult<Option<DeploymentView>> {
        let sql = format!(
            "{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 AND d.state = 'succeeded' AND d.release_id <> $2 \
             ORDER BY d.id DESC LIMIT 1"
        );
        let row: Option<DeploymentRow> =
            sqlx::query_as(&sql).bind(environment_id).bind(except).fetch_optional(&self.pool).await?;
        Ok(row.map(DeploymentRow::view))
    }
    /// Newest first, narrowed by the filter.
    pub async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<DeploymentView>> {
        let sql = format!(
            "{DEPLOYMENT_SELECT} WHERE ($1 IS NULL OR p.slug = $1) AND ($2 IS NULL OR e.name = $2) \
             AND ($3 IS NULL OR d.state = $3) AND ($4 IS NULL OR d.created_at >= $4) \
             AND ($5 IS NULL OR d.created_at < $5) AND ($6 IS NULL OR d.release_id = $6) \
             AND ($7 IS NULL OR d.id < $7) AND ($9 IS NULL OR d.requested_by = $9) ORDER BY d.id DESC LIMIT $8"
        );
        let rows: Vec<DeploymentRow> = sqlx::query_as(&sql)
            .bind(filter.project.as_deref())
            .bind(filter.environment.as_deref())
            .bind(filter.state.map(|s| s.as_str()))
            .bind(filter.since.map(|t| t.timestamp_millis()))
            .bind(filter.until.map(|t| t.timestamp_millis()))
            .bind(filter.release)
            .bind(filter.before)
            .bind(filter.limit.unwrap_or(50))
            .bind(filter.requested_by.as_deref())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(DeploymentRow::view).collect())
    }
    /// Deployments finished at or after `since` (Unix ms), oldest first.
    pub async fn finished_since(&self, since: i64, project: Option<&str>) -> StoreResult<Vec<FinishedDeployment>> {
        let rows: Vec<FinishedRow> = sqlx::query_as(
            "SELECT p.slug AS project, e.name AS environment, e.position, \
             (SELECT MAX(e2.position) FROM environments e2 WHERE e2.project_id = d.project_id) AS last_position, \
             d.state, d.finished_at, r.committed_at \
             FROM deployments d JOIN projects p ON p.id = d.project_id \
             JOIN environments e ON e.id = d.environment_id JOIN releases r ON r.id = d.release_id \
             WHERE d.finished_at >= $1 AND ($2 IS NULL OR p.slug = $2) ORDER BY d.finished_at, d.id",
        )
        .bind(since)
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| FinishedDeployment {
                production: r.position == r.last_position,
                state: DeploymentState::parse(&r.state).unwrap_or(DeploymentState::Failed),
                project: r.project,
                environment: r.environment,
                finished_at: r.finished_at,
                committed_at: r.committed_at,
            })
            .collect())
    }
    pub async fn count_by_state(&self) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query_as("SELECT state, COUNT(*) FROM deployments GROUP BY state").fetch_all(&self.pool).await
    }
    /// Whether `release_id` has been deployed successfully to `environment_id`.
    pub async fn succeeded_in(&self, release_id: i64, environment_id: i64) -> StoreResult<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deployments WHERE release_id = $1 AND environment_id = $2 AND state = 'succeeded'",
        )
        .bind(release_id)
        .bind(environment_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }
}
