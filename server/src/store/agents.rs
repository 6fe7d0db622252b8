//! Agents, their credentials (as hashes) and the one-time registration tokens.

use std::collections::BTreeMap;

use super::{now_millis, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRow {
    pub id: i64,
    pub name: String,
    pub labels: String,
    pub version: String,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Why its last connection was refused, until it connects again as itself.
    pub problem: Option<String>,
}

impl AgentRow {
    pub fn labels(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.labels).unwrap_or_default()
    }
}

/// Who an agent is: set at registration, changed only by an administrator.
pub struct AgentIdentity<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// A registration token that can still be used, with the identity it gives.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenRegistration {
    pub name: String,
    pub labels: String,
}

impl OpenRegistration {
    pub fn labels(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.labels).unwrap_or_default()
    }
}

const COLUMNS: &str = "id, name, labels, version, last_seen_at, revoked_at, problem";

impl Store {
    pub async fn create_registration(
        &self,
        token_hash: &str,
        created_by: &str,
        expires_at: i64,
        identity: &AgentIdentity<'_>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_registrations (token_hash, created_by, created_at, expires_at, name, labels) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(created_by)
        .bind(now_millis())
        .bind(expires_at)
        .bind(identity.name)
        .bind(serde_json::to_string(identity.labels).unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The identity an unused, unexpired registration token gives (`None`: no such
    /// token; a token from before identities were set gives none, and is refused).
    pub async fn open_registration(&self, token_hash: &str) -> StoreResult<Option<OpenRegistration>> {
        sqlx::query_as(
            "SELECT name, labels FROM agent_registrations \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND name IS NOT NULL",
        )
        .bind(token_hash)
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await
    }

    /// Registers an agent with a registration token, which is used up; `None` when the
    /// token is unknown, used or expired.
    pub async fn register_agent(
        &self,
        token_hash: &str,
        credential_hash: &str,
        version: &str,
    ) -> StoreResult<Option<AgentRow>> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let claimed: Option<OpenRegistration> = sqlx::query_as(
            "UPDATE agent_registrations SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 AND name IS NOT NULL \
             RETURNING name, labels",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(identity) = claimed else { return Ok(None) };
        let sql = format!(
            "INSERT INTO agents (name, labels, credential_hash, version, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        );
        let row: AgentRow = sqlx::query_as(&sql)
            .bind(&identity.name)
            .bind(&identity.labels)
            .bind(credential_hash)
            .bind(version)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE agent_registrations SET agent_id = $1 WHERE token_hash = $2")
            .bind(row.id)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// An agent connected as itself: its version and heartbeat are updated, and an
    /// earlier refusal is cleared.
    pub async fn agent_signed_in(&self, id: i64, version: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE agents SET version = $1, last_seen_at = $2, problem = NULL, problem_at = NULL WHERE id = $3",
        )
        .bind(version)
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An agent's connection was refused: why, for the Agents page.
    pub async fn agent_refused(&self, id: i64, reason: &str) -> StoreResult<()> {
        sqlx::query("UPDATE agents SET problem = $1, problem_at = $2 WHERE id = $3")
            .bind(reason)
            .bind(now_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An administrator renames or relabels an agent; `None` when there is no
    /// active agent `id`.
    pub async fn set_agent_identity(&self, id: i64, identity: &AgentIdentity<'_>) -> StoreResult<Option<AgentRow>> {
        let sql = format!(
            "UPDATE agents SET name = $1, labels = $2, problem = NULL, problem_at = NULL \
             WHERE id = $3 AND revoked_at IS NULL RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(identity.name)
            .bind(serde_json::to_string(identity.labels).unwrap_or_default())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The agent a credential belongs to, unless revoked (without signing it in).
    pub async fn agent_by_credential(&self, credential_hash: &str) -> StoreResult<Option<AgentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM agents WHERE credential_hash = $1 AND revoked_at IS NULL");
        sqlx::query_as(&sql).bind(credential_hash).fetch_optional(&self.pool).await
    }

    pub async fn agent_seen(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE agents SET last_seen_at = $1 WHERE id = $2")
            .bind(now_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn agents(&self) -> StoreResult<Vec<AgentRow>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM agents ORDER BY name, id")).fetch_all(&self.pool).await
    }

    pub async fn revoke_agent(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE agents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_deployment_agent(&self, deployment_id: i64, agent_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE deployments SET agent_id = $1 WHERE id = $2")
            .bind(agent_id)
            .bind(deployment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
