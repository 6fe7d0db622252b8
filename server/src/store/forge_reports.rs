//! The deployment changes to report to the forge (each queued with the change itself,
//! and sent by a job of the durable queue), and the forge's own deployment made for
//! each Ferry deployment (so later statuses go to it).

use ferry_app::model::{DeliveryState, ForgeReportView};
use sqlx::{Any, Transaction};

use super::{now_millis, to_time, Store, StoreResult};

/// A change waiting to be reported.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForgeReportRow {
    pub id: i64,
    pub project_id: i64,
    pub deployment_id: i64,
    pub deployment_state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

#[derive(sqlx::FromRow)]
struct ReportListRow {
    deployment_id: i64,
    environment: String,
    deployment_state: String,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
}

/// Queues, within `tx` (the change's own transaction), a report of deployment `id`'s
/// new state for its project's repository, when the project's link has an API token,
/// and the job that sends it, in its project's order.
pub(super) async fn report_in(tx: &mut Transaction<'_, Any>, id: i64, deployment_state: &str) -> StoreResult<()> {
    let now = now_millis();
    let queued: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO forge_reports (project_id, deployment_id, deployment_state, dedupe_key, state, \
         next_attempt_at, created_at) \
         SELECT d.project_id, d.id, $1, $2, 'pending', $3, $3 FROM deployments d \
         JOIN forge_links l ON l.project_id = d.project_id WHERE d.id = $4 AND l.sealed_token IS NOT NULL \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, project_id",
    )
    .bind(deployment_state)
    .bind(format!("{id}:{deployment_state}"))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((report, project)) = queued {
        let kind = super::jobs::kinds::SEND_FORGE_REPORT;
        let key = format!("forge:{project}");
        super::jobs::enqueue_in(
            tx,
            kind,
            &format!("forge_report:{report}"),
            &report.to_string(),
            super::jobs::Order::InOrder(&key),
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// A queued report, if it is still to send.
    pub async fn pending_forge_report(&self, id: i64) -> StoreResult<Option<ForgeReportRow>> {
        sqlx::query_as(
            "SELECT id, project_id, deployment_id, deployment_state, attempts, next_attempt_at \
             FROM forge_reports WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn record_forge_report(
        &self,
        id: i64,
        state: DeliveryState,
        error: Option<&str>,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE forge_reports SET state = $1, last_error = $2, next_attempt_at = $3, attempts = attempts + 1 \
             WHERE id = $4",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The project's latest reports, newest first.
    pub async fn forge_reports(&self, project_id: i64, limit: i64) -> StoreResult<Vec<ForgeReportView>> {
        let rows: Vec<ReportListRow> = sqlx::query_as(
            "SELECT r.deployment_id, e.name AS environment, r.deployment_state, r.state, r.attempts, r.last_error, \
             r.created_at FROM forge_reports r JOIN deployments d ON d.id = r.deployment_id \
             JOIN environments e ON e.id = d.environment_id WHERE r.project_id = $1 ORDER BY r.id DESC LIMIT $2",
        )
        .bind(project_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ForgeReportView {
                deployment_id: r.deployment_id,
                environment: r.environment,
                deployment_state: r.deployment_state,
                state: DeliveryState::parse(&r.state).unwrap_or(DeliveryState::Pending),
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: to_time(r.created_at),
            })
            .collect())
    }

    /// The forge's id of the deployment made for a Ferry deployment.
    pub async fn forge_deployment(&self, deployment_id: i64) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT remote_id FROM forge_deployments WHERE deployment_id = $1")
            .bind(deployment_id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn set_forge_deployment(
        &self,
        deployment_id: i64,
        project_id: i64,
        environment: &str,
        remote_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO forge_deployments (deployment_id, project_id, environment, remote_id, outcome, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5) ON CONFLICT (deployment_id) DO NOTHING",
        )
        .bind(deployment_id)
        .bind(project_id)
        .bind(environment)
        .bind(remote_id)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `succeeded` once its success is reported; `inactive` once a later one replaced it.
    pub async fn set_forge_deployment_outcome(&self, deployment_id: i64, outcome: &str) -> StoreResult<()> {
        sqlx::query("UPDATE forge_deployments SET outcome = $1 WHERE deployment_id = $2")
            .bind(outcome)
            .bind(deployment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The environment's earlier reported successes, which a new success replaces:
    /// (Ferry deployment, forge deployment).
    pub async fn forge_deployments_replaced(
        &self,
        project_id: i64,
        environment: &str,
        by: i64,
    ) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT deployment_id, remote_id FROM forge_deployments WHERE project_id = $1 AND environment = $2 \
             AND outcome = 'succeeded' AND deployment_id <> $3 ORDER BY deployment_id",
        )
        .bind(project_id)
        .bind(environment)
        .bind(by)
        .fetch_all(&self.pool)
        .await
    }
}
