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
}

impl AgentRow {
    pub fn labels(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.labels).unwrap_or_default()
    }
}

/// What an agent says about itself at each hello.
pub struct AgentFacts<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub version: &'a str,
}

const COLUMNS: &str = "id, name, labels, version, last_seen_at, revoked_at";

impl Store {
    pub async fn create_registration(&self, token_hash: &str, created_by: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_registrations (token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(created_by)
        .bind(now_millis())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Registers an agent with a registration token, which is used up; `None` when the
    /// token is unknown, used or expired.
    pub async fn register_agent(
        &self,
        token_hash: &str,
        credential_hash: &str,
        facts: &AgentFacts<'_>,
    ) -> StoreResult<Option<AgentRow>> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE agent_registrations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let sql = format!(
            "INSERT INTO agents (name, labels, credential_hash, version, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        );
        let row: AgentRow = sqlx::query_as(&sql)
            .bind(facts.name)
            .bind(serde_json::to_string(facts.labels).unwrap_or_default())
            .bind(credential_hash)
            .bind(facts.version)
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

    /// The agent with this credential, unless revoked; its facts are updated.
    pub async fn agent_sign_in(&self, credential_hash: &str, facts: &AgentFacts<'_>) -> StoreResult<Option<AgentRow>> {
        let sql = format!(
            "UPDATE agents SET name = $1, labels = $2, version = $3, last_seen_at = $4 \
             WHERE credential_hash = $5 AND revoked_at IS NULL RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(facts.name)
            .bind(serde_json::to_string(facts.labels).unwrap_or_default())
            .bind(facts.version)
            .bind(now_millis())
            .bind(credential_hash)
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
