//! Deployments, their steps and their log lines. State changes are conditional
//! updates (`WHERE state = from`), so a transition the state machine forbids, or one
//! that lost a race, changes nothing.

use ferry_app::model::{DeploymentKind, DeploymentState, DeploymentView, LogLineView, LogStream, StepState, StepView};

use super::rows::{DeploymentRow, LogRow, StepRow, DEPLOYMENT_SELECT};
use super::{now_millis, Store, StoreResult};

pub struct StepChange {
    pub deployment_id: i64,
    pub position: i32,
    pub from: StepState,
    pub to: StepState,
    pub exit_code: Option<i32>,
}

pub struct NewLogLine {
    pub deployment_id: i64,
    pub seq: i64,
    pub step: i32,
    pub stream: LogStream,
    pub text: String,
}

pub struct NewDeployment<'a> {
    pub project_id: i64,
    pub environment_id: i64,
    pub release_id: i64,
    pub kind: DeploymentKind,
    pub steps: &'a [String],
    pub requested_by: &'a str,
    /// The requesting user, who may not approve it.
    pub requested_by_id: Option<i64>,
    pub state: DeploymentState,
    pub not_before: Option<i64>,
    /// It may replace a newer release (the requester confirmed it).
    pub allow_older: bool,
    /// An administrator's reason for deploying during a freeze window.
    pub freeze_override: Option<&'a str>,
}

impl<'a> NewDeployment<'a> {
    /// A deployment that starts as soon as it can, asked for by `requested_by`.
    pub fn queued(
        (project_id, environment_id, release_id): (i64, i64, i64),
        kind: DeploymentKind,
        steps: &'a [String],
        requested_by: &'a str,
    ) -> Self {
        Self {
            project_id,
            environment_id,
            release_id,
            kind,
            steps,
            requested_by,
            requested_by_id: None,
            state: DeploymentState::Queued,
            not_before: None,
            allow_older: false,
            freeze_override: None,
        }
    }
}

pub(super) const STEP_COLUMNS: &str =
    "deployment_id, position, name, state, started_at, finished_at, exit_code, target";

impl Store {
    /// Records a new deployment (queued, or awaiting approval) and its steps in one
    /// transaction.
    pub async fn create_deployment(&self, new: &NewDeployment<'_>) -> StoreResult<DeploymentView> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deployments (project_id, environment_id, release_id, state, created_at, kind, requested_by, \
             requested_by_id, not_before, allow_older, freeze_override) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(new.project_id)
        .bind(new.environment_id)
        .bind(new.release_id)
        .bind(new.state.as_str())
        .bind(now_millis())
        .bind(new.kind.as_str())
        .bind(new.requested_by)
        .bind(new.requested_by_id)
        .bind(new.not_before)
        .bind(new.allow_older as i64)
        .bind(new.freeze_override)
        .fetch_one(&mut *tx)
        .await?;
        for (position, name) in new.steps.iter().enumerate() {
            sqlx::query("INSERT INTO steps (deployment_id, position, name, state) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(position as i64)
                .bind(name)
                .bind(StepState::Queued.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if new.state == DeploymentState::AwaitingApproval {
            let kind = super::jobs::kinds::APPROVAL_REQUESTED;
            super::jobs::enqueue_in(&mut tx, kind, &format!("{kind}:{id}"), &id.to_string(), super::jobs::Order::Any)
                .await?;
        }
        super::forge_reports::report_in(&mut tx, id, new.state.as_str()).await?;
        tx.commit().await?;
        Ok(self.deployment(id).await?.expect("just created"))
    }

    /// Whether the deployment may replace a newer release.
    pub async fn allows_older(&self, id: i64) -> StoreResult<bool> {
        let allowed: Option<i64> = sqlx::query_scalar("SELECT allow_older FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(allowed.unwrap_or(0) != 0)
    }

    /// Whether an administrator overrode a freeze window for the deployment.
    pub async fn overrides_freeze(&self, id: i64) -> StoreResult<bool> {
        let reason: Option<Option<String>> =
            sqlx::query_scalar("SELECT freeze_override FROM deployments WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(reason.flatten().is_some())
    }

    /// Queued deployments of an environment recorded before `id`, oldest first.
    pub async fn queued_before(&self, environment_id: i64, id: i64) -> StoreResult<Vec<DeploymentView>> {
        let sql = format!(
            "{DEPLOYMENT_SELECT} WHERE d.environment_id = $1 AND d.id < $2 AND d.state = 'queued' AND d.kind = 'deploy' \
             ORDER BY d.id"
        );
        let rows: Vec<DeploymentRow> = sqlx::query_as(&sql).bind(environment_id).bind(id).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(DeploymentRow::view).collect())
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
        self.transition_with_job(id, (from, to), reason, None).await
    }

    /// Changes a deployment's state and, in the same transaction, enqueues the job
    /// `kind` (payload: the deployment's id) that reacts to the change: nothing is lost
    /// if the process dies right after it.
    pub async fn transition_enqueuing(
        &self,
        id: i64,
        (from, to): (DeploymentState, DeploymentState),
        reason: Option<&str>,
        kind: &str,
    ) -> StoreResult<Option<DeploymentView>> {
        self.transition_with_job(id, (from, to), reason, Some(kind)).await
    }

    async fn transition_with_job(
        &self,
        id: i64,
        (from, to): (DeploymentState, DeploymentState),
        reason: Option<&str>,
        job: Option<&str>,
    ) -> StoreResult<Option<DeploymentView>> {
        if !from.can_become(to) {
            return Ok(None);
        }
        let now = now_millis();
        let started = (to == DeploymentState::Running).then_some(now);
        let finished = to.is_terminal().then_some(now);
        let mut tx = self.pool.begin().await?;
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        if let Some(kind) = job {
            super::jobs::enqueue_in(&mut tx, kind, &format!("{kind}:{id}"), &id.to_string(), super::jobs::Order::Any)
                .await?;
        }
        super::forge_reports::report_in(&mut tx, id, to.as_str()).await?;
        tx.commit().await?;
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
}
