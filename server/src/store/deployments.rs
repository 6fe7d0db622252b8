//! Deployments, their steps and their log lines. State changes are conditional
//! updates (`WHERE state = from`), so a transition the state machine forbids, or one
//! that lost a race, changes nothing.

use ferry_app::model::{
    DeploymentKind, DeploymentState, DeploymentView, HistoryFilter, LogLineView, LogStream, StepState, StepView,
};

use super::rows::{DeploymentRow, LogRow, StepRow, DEPLOYMENT_SELECT};
use super::{now_millis, Store, StoreResult};

pub struct StepChange {
    pub deployment_id: i64,
    pub position: i32,
    pub from: StepState,
    pub to: StepState,
    pub exit_code: Option<i32>,
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

pub struct NewLogLine {
    pub deployment_id: i64,
    pub seq: i64,
    pub step: i32,
    pub stream: LogStream,
    pub text: String,
}

const STEP_COLUMNS: &str = "deployment_id, position, name, state, started_at, finished_at, exit_code";

impl Store {
    /// Records a queued deployment and its steps in one transaction.
    pub async fn create_deployment(
        &self,
        project_id: i64,
        environment_id: i64,
        release_id: i64,
        kind: DeploymentKind,
        steps: &[String],
    ) -> StoreResult<DeploymentView> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deployments (project_id, environment_id, release_id, state, created_at, kind) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(project_id)
        .bind(environment_id)
        .bind(release_id)
        .bind(DeploymentState::Queued.as_str())
        .bind(now_millis())
        .bind(kind.as_str())
        .fetch_one(&mut *tx)
        .await?;
        for (position, name) in steps.iter().enumerate() {
            sqlx::query("INSERT INTO steps (deployment_id, position, name, state) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(position as i64)
                .bind(name)
                .bind(StepState::Queued.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.deployment(id).await?.expect("just created"))
    }

    pub async fn deployment(&self, id: i64) -> StoreResult<Option<DeploymentView>> {
        let sql = format!("{DEPLOYMENT_SELECT} WHERE d.id = $1");
        let row: Option<DeploymentRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(DeploymentRow::view))
    }

    /// Moves a deployment from `from` to `to`; `None` when it was not in `from`.
    pub async fn transition_deployment(
        &self,
        id: i64,
        from: DeploymentState,
        to: DeploymentState,
        reason: Option<&str>,
    ) -> StoreResult<Option<DeploymentView>> {
        if !from.can_become(to) {
            return Ok(None);
        }
        let now = now_millis();
        let started = (to == DeploymentState::Running).then_some(now);
        let finished = to.is_terminal().then_some(now);
        let changed = sqlx::query(
            "UPDATE deployments SET state = $1, reason = COALESCE($2, reason), \
             started_at = COALESCE($3, started_at), finished_at = COALESCE($4, finished_at) \
             WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(started)
        .bind(finished)
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        self.deployment(id).await
    }

    pub async fn steps(&self, deployment_id: i64) -> StoreResult<Vec<StepView>> {
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE deployment_id = $1 ORDER BY position");
        let rows: Vec<StepRow> = sqlx::query_as(&sql).bind(deployment_id).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(StepRow::view).collect())
    }

    /// Applies a step transition; `None` when the step was not in `change.from`.
    pub async fn change_step(&self, change: &StepChange) -> StoreResult<Option<StepView>> {
        if !change.from.can_become(change.to) {
            return Ok(None);
        }
        let now = now_millis();
        let started = (change.to == StepState::Running).then_some(now);
        let finished = (change.to.is_terminal() && change.to != StepState::Skipped).then_some(now);
        let changed = sqlx::query(
            "UPDATE steps SET state = $1, started_at = COALESCE($2, started_at), \
             finished_at = COALESCE($3, finished_at), exit_code = COALESCE($4, exit_code) \
             WHERE deployment_id = $5 AND position = $6 AND state = $7",
        )
        .bind(change.to.as_str())
        .bind(started)
        .bind(finished)
        .bind(change.exit_code.map(i64::from))
        .bind(change.deployment_id)
        .bind(i64::from(change.position))
        .bind(change.from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE deployment_id = $1 AND position = $2");
        let row: Option<StepRow> = sqlx::query_as(&sql)
            .bind(change.deployment_id)
            .bind(i64::from(change.position))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(StepRow::view))
    }

    /// Stores lines in one transaction (a step's output arrives in bursts).
    pub async fn append_logs(&self, lines: Vec<NewLogLine>) -> StoreResult<Vec<LogLineView>> {
        let at = now_millis();
        let mut tx = self.pool.begin().await?;
        for line in &lines {
            sqlx::query(
                "INSERT INTO log_lines (deployment_id, seq, step, stream, text, at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(line.deployment_id)
            .bind(line.seq)
            .bind(i64::from(line.step))
            .bind(line.stream.as_str())
            .bind(&line.text)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(lines
            .into_iter()
            .map(|line| {
                LogRow {
                    deployment_id: line.deployment_id,
                    seq: line.seq,
                    step: i64::from(line.step),
                    stream: line.stream.as_str().to_string(),
                    text: line.text,
                    at,
                }
                .view()
            })
            .collect())
    }

    /// Lines after `after_seq`, oldest first, at most `limit`.
    pub async fn logs(&self, deployment_id: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<LogLineView>> {
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT deployment_id, seq, step, stream, text, at FROM log_lines \
             WHERE deployment_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(deployment_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(LogRow::view).collect())
    }

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
             AND ($7 IS NULL OR d.id < $7) ORDER BY d.id DESC LIMIT $8"
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
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(DeploymentRow::view).collect())
    }

    pub async fn deployments_in_state(&self, state: DeploymentState) -> StoreResult<Vec<DeploymentView>> {
        let sql = format!("{DEPLOYMENT_SELECT} WHERE d.state = $1 ORDER BY d.id");
        let rows: Vec<DeploymentRow> = sqlx::query_as(&sql).bind(state.as_str()).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(DeploymentRow::view).collect())
    }

    /// Closes the steps of a deployment that will not continue: running ones fail,
    /// queued ones are skipped. Returns the steps that changed.
    pub async fn close_open_steps(&self, deployment_id: i64) -> StoreResult<Vec<StepView>> {
        let mut changed = Vec::new();
        for step in self.steps(deployment_id).await? {
            let to = match step.state {
                StepState::Running => StepState::Failed,
                StepState::Queued => StepState::Skipped,
                _ => continue,
            };
            let change = StepChange { deployment_id, position: step.position, from: step.state, to, exit_code: None };
            changed.extend(self.change_step(&change).await?);
        }
        Ok(changed)
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
}
