//! Deploy keys: the key pairs Ferry made to read a repository over SSH (migration 0032).

use super::{now_millis, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeployKeyRow {
    pub id: i64,
    pub public_key: String,
    pub sealed_private: String,
    pub project_id: Option<i64>,
    /// The repository host's key lines, pinned at import.
    pub known_hosts: Option<String>,
}

const COLUMNS: &str = "id, public_key, sealed_private, project_id, known_hosts";

impl Store {
    pub async fn add_deploy_key(&self, public_key: &str, sealed_private: &str) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO deploy_keys (public_key, sealed_private, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(public_key)
        .bind(sealed_private)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
    }

    pub async fn deploy_key(&self, id: i64) -> StoreResult<Option<DeployKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM deploy_keys WHERE id = $1");
        sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await
    }

    pub async fn project_deploy_key(&self, project_id: i64) -> StoreResult<Option<DeployKeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM deploy_keys WHERE project_id = $1 ORDER BY id DESC LIMIT 1");
        sqlx::query_as(&sql).bind(project_id).fetch_optional(&self.pool).await
    }

    /// Gives a key not yet used to the project imported with it, with the host key
    /// seen then. False when another project took it first.
    pub async fn attach_deploy_key(&self, id: i64, project_id: i64, known_hosts: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deploy_keys SET project_id = $1, known_hosts = $2 WHERE id = $3 AND project_id IS NULL",
        )
        .bind(project_id)
        .bind(known_hosts)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
