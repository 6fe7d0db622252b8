//! Approvals and rejections of deployments to protected environments.

use ferry_app::model::ApprovalView;

use super::{now_millis, to_time, Store, StoreResult};

impl Store {
    /// Records one person's decision; a second one by the same person is a unique
    /// violation.
    pub async fn add_decision(
        &self,
        deployment_id: i64,
        user_id: i64,
        login: &str,
        approved: bool,
        comment: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO approvals (deployment_id, user_id, login, decision, comment, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(deployment_id)
        .bind(user_id)
        .bind(login)
        .bind(if approved { "approved" } else { "rejected" })
        .bind(comment)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Oldest first.
    pub async fn decisions(&self, deployment_id: i64) -> StoreResult<Vec<ApprovalView>> {
        let rows: Vec<(String, String, Option<String>, i64)> =
            sqlx::query_as("SELECT login, decision, comment, at FROM approvals WHERE deployment_id = $1 ORDER BY id")
                .bind(deployment_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(login, decision, comment, at)| ApprovalView {
                login,
                approved: decision == "approved",
                comment,
                at: to_time(at),
            })
            .collect())
    }

    pub async fn requested_by_id(&self, deployment_id: i64) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT requested_by_id FROM deployments WHERE id = $1")
            .bind(deployment_id)
            .fetch_one(&self.pool)
            .await
    }

    /// Sets when an approved deployment may start.
    pub async fn schedule_deployment(&self, deployment_id: i64, not_before: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE deployments SET not_before = $1 WHERE id = $2")
            .bind(not_before)
            .bind(deployment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
