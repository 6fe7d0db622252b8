//! Replicas and the environment leases that make "one deployment per environment" hold
//! across them: a lease is claimed atomically (an insert, or taking over an expired
//! one), renewed by its owner's heartbeat, and released when the deployment ends.

use ferry_app::model::DeploymentView;

use super::rows::{DeploymentRow, DEPLOYMENT_SELECT};
use super::{Store, StoreResult};

/// A lease that ran out: its environment, deployment and the replica that held it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpiredLease {
    pub environment_id: i64,
    pub deployment_id: i64,
    pub owner: String,
}

impl Store {
    pub async fn replica_alive(&self, id: &str, host: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO replicas (id, host, started_at, seen_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(host)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets replicas not seen since `before`.
    pub async fn replicas_forget(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM replicas WHERE seen_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Takes the environment's lease for `deployment_id` if nobody holds one. An
    /// expired lease is not taken over here: its deployment must be ended first (by
    /// `drop_expired_lease` and the failover that follows it), or it would be left
    /// running forever with its environment given to another.
    pub async fn claim_environment(
        &self,
        environment_id: i64,
        deployment_id: i64,
        owner: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO environment_leases (environment_id, deployment_id, owner, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (environment_id) DO NOTHING",
        )
        .bind(environment_id)
        .bind(deployment_id)
        .bind(owner)
        .bind(now + ttl_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the lease on to another deployment of the same owner (a rollback that
    /// follows a failed deployment, under the same hold of the environment).
    pub async fn hand_lease_to(&self, environment_id: i64, deployment_id: i64, owner: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE environment_leases SET deployment_id = $1 WHERE environment_id = $2 AND owner = $3")
                .bind(deployment_id)
                .bind(environment_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews every lease `owner` holds, its turns on SSH hosts too; how many
    /// environment leases it holds.
    pub async fn renew_leases(&self, owner: &str, now: i64, ttl_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE environment_leases SET expires_at = $1 WHERE owner = $2")
            .bind(now + ttl_ms)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE ssh_host_turns SET expires_at = $1 WHERE owner = $2")
            .bind(now + ttl_ms)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn release_environment(&self, environment_id: i64, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM environment_leases WHERE environment_id = $1 AND owner = $2")
            .bind(environment_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn expired_leases(&self, now: i64) -> StoreResult<Vec<ExpiredLease>> {
        sqlx::query_as("SELECT environment_id, deployment_id, owner FROM environment_leases WHERE expires_at <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await
    }

    /// Takes an expired lease over for `owner`, unless its owner renewed it or another
    /// replica took it first; whether this one did. The deployment it holds is then
    /// `owner`'s to carry on or to end.
    pub async fn take_expired_lease(
        &self,
        lease: &ExpiredLease,
        owner: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE environment_leases SET owner = $1, expires_at = $2 \
             WHERE environment_id = $3 AND owner = $4 AND expires_at <= $5",
        )
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(lease.environment_id)
        .bind(&lease.owner)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends `owner`'s hold on an environment whose deployment still runs (handed over at
    /// shutdown): the lease stays, expired, for another replica to take over at once.
    /// Whether there was such a lease.
    pub async fn expire_lease_if_running(&self, environment_id: i64, owner: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE environment_leases SET expires_at = 0 WHERE environment_id = $1 AND owner = $2 \
             AND deployment_id IN (SELECT id FROM deployments WHERE state = 'running')",
        )
        .bind(environment_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every lease, whoever holds it (with SQLite, one process: its own from before).
    pub async fn drop_all_leases(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM environment_leases").execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// The owner of the live lease of a running deployment's environment, if any.
    pub async fn lease_owner(&self, deployment_id: i64, now: i64) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT owner FROM environment_leases WHERE deployment_id = $1 AND expires_at > $2")
            .bind(deployment_id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
    }

    /// Queued deployments that may start now, the oldest of each environment that no
    /// lease holds (a later one never overtakes an earlier one that may start).
    pub async fn runnable_deployments(&self, now: i64, limit: i64) -> StoreResult<Vec<DeploymentView>> {
        let sql = format!(
            "{DEPLOYMENT_SELECT} WHERE d.state = 'queued' AND (d.not_before IS NULL OR d.not_before <= $1) \
             AND NOT EXISTS (SELECT 1 FROM environment_leases l WHERE l.environment_id = d.environment_id) \
             AND NOT EXISTS (SELECT 1 FROM deployments e WHERE e.environment_id = d.environment_id \
                             AND e.state = 'queued' AND e.id < d.id AND (e.not_before IS NULL OR e.not_before <= $1)) \
             ORDER BY d.id LIMIT $2"
        );
        let rows: Vec<DeploymentRow> = sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(DeploymentRow::view).collect())
    }

    pub async fn request_cancel(&self, deployment_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE deployments SET cancel_requested = 1 WHERE id = $1")
            .bind(deployment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Of `ids`, those someone asked to cancel.
    pub async fn cancels_requested(&self, ids: &[i64]) -> StoreResult<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
        let sql = format!("SELECT id FROM deployments WHERE cancel_requested = 1 AND id IN ({list})");
        sqlx::query_scalar(&sql).fetch_all(&self.pool).await
    }
}
