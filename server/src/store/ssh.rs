//! SSH hosts of environments, and Ferry's own SSH key pairs (the private halves sealed
//! by the caller).

use std::collections::BTreeMap;

use super::{now_millis, Store, StoreResult};

const HOST_COLUMNS: &str = "id, environment_id, name, address, port, login, deploy_dir, host_key, jump, \
                            jump_host_key, vars, sealed_private_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SshHostRow {
    pub id: i64,
    pub environment_id: i64,
    pub name: String,
    pub address: String,
    pub port: i32,
    pub login: String,
    pub deploy_dir: String,
    pub host_key: Option<String>,
    pub jump: Option<String>,
    pub jump_host_key: Option<String>,
    pub vars: String,
    pub sealed_private_key: Option<String>,
}

impl SshHostRow {
    pub fn vars(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.vars).unwrap_or_default()
    }
}

/// A host's settings, as written.
pub struct SshHostFields<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub port: u16,
    pub login: &'a str,
    pub deploy_dir: &'a str,
    pub jump: Option<&'a str>,
    pub vars: &'a BTreeMap<String, String>,
}

/// One of Ferry's key pairs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SshKeyRow {
    pub id: i64,
    pub public_key: String,
    pub sealed_private: String,
    pub created_at: i64,
}

impl Store {
    pub async fn ssh_hosts(&self, environment_id: i64) -> StoreResult<Vec<SshHostRow>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM ssh_hosts WHERE environment_id = $1 ORDER BY name, id");
        sqlx::query_as(&sql).bind(environment_id).fetch_all(&self.pool).await
    }

    pub async fn ssh_host(&self, id: i64) -> StoreResult<Option<SshHostRow>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM ssh_hosts WHERE id = $1");
        sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await
    }

    /// Adds a host; `host_key` trusted at once when given (pasted `known_hosts`).
    pub async fn add_ssh_host(
        &self,
        environment_id: i64,
        fields: &SshHostFields<'_>,
        host_key: Option<&str>,
        sealed_private_key: Option<&str>,
    ) -> StoreResult<SshHostRow> {
        let sql = format!(
            "INSERT INTO ssh_hosts (environment_id, name, address, port, login, deploy_dir, jump, vars, host_key, \
             sealed_private_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {HOST_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(environment_id)
            .bind(fields.name)
            .bind(fields.address)
            .bind(fields.port as i32)
            .bind(fields.login)
            .bind(fields.deploy_dir)
            .bind(fields.jump)
            .bind(serde_json::to_string(fields.vars).unwrap_or_else(|_| "{}".into()))
            .bind(host_key)
            .bind(sealed_private_key)
            .bind(now_millis())
            .fetch_one(&self.pool)
            .await
    }

    /// Changes a host's settings. A new address, port or jump host forgets the trusted
    /// key (another machine may answer there); `host_key` and `sealed_private_key`
    /// replace the kept ones when given.
    pub async fn update_ssh_host(
        &self,
        id: i64,
        fields: &SshHostFields<'_>,
        host_key: Option<&str>,
        sealed_private_key: Option<&str>,
    ) -> StoreResult<Option<SshHostRow>> {
        let sql = format!(
            "UPDATE ssh_hosts SET \
               host_key = CASE WHEN $9 IS NOT NULL THEN $9 \
                               WHEN address = $2 AND port = $3 AND COALESCE(jump, '') = COALESCE($6, '') THEN host_key \
                               ELSE NULL END, \
               jump_host_key = CASE WHEN COALESCE(jump, '') = COALESCE($6, '') THEN jump_host_key ELSE NULL END, \
               name = $1, address = $2, port = $3, login = $4, deploy_dir = $5, jump = $6, vars = $7, \
               sealed_private_key = COALESCE($8, sealed_private_key) \
             WHERE id = $10 RETURNING {HOST_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(fields.name)
            .bind(fields.address)
            .bind(fields.port as i32)
            .bind(fields.login)
            .bind(fields.deploy_dir)
            .bind(fields.jump)
            .bind(serde_json::to_string(fields.vars).unwrap_or_else(|_| "{}".into()))
            .bind(sealed_private_key)
            .bind(host_key)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Trusts a host key (or its jump host's).
    pub async fn trust_ssh_host_key(&self, id: i64, jump: bool, key: &str) -> StoreResult<Option<SshHostRow>> {
        let column = if jump { "jump_host_key" } else { "host_key" };
        let sql = format!("UPDATE ssh_hosts SET {column} = $1 WHERE id = $2 RETURNING {HOST_COLUMNS}");
        sqlx::query_as(&sql).bind(key).bind(id).fetch_optional(&self.pool).await
    }

    pub async fn remove_ssh_host(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM ssh_hosts WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ferry's key pairs, newest first (at most two are kept).
    pub async fn ssh_keys(&self) -> StoreResult<Vec<SshKeyRow>> {
        sqlx::query_as("SELECT id, public_key, sealed_private, created_at FROM ssh_keys ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await
    }

    /// Adds a key pair, the newest; all but the one before it are forgotten. With
    /// `only_if_none`, nothing is added when a key exists (the first use, which two
    /// requests may race to). Every statement writes: a transaction that read first
    /// could not take SQLite's write lock after another writer (`SQLITE_BUSY_SNAPSHOT`).
    pub async fn add_ssh_key(&self, public_key: &str, sealed_private: &str, only_if_none: bool) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let condition = if only_if_none { " WHERE NOT EXISTS (SELECT 1 FROM ssh_keys)" } else { "" };
        sqlx::query(&format!(
            "INSERT INTO ssh_keys (public_key, sealed_private, created_at) SELECT $1, $2, $3{condition}"
        ))
        .bind(public_key)
        .bind(sealed_private)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM ssh_keys WHERE id NOT IN (SELECT id FROM ssh_keys ORDER BY id DESC LIMIT 2)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// Deployments' turns on SSH hosts (`ssh_host_turns`): the per-host limit, held in the
/// database so that it counts every replica's deployments.
impl Store {
    /// Takes a turn on `host_id` for `deployment_id` when fewer than `limit` live turns
    /// (not run out at `now`) are held there; whether it was taken (or already held).
    pub async fn claim_ssh_turn(
        &self,
        host_id: i64,
        deployment_id: i64,
        owner: &str,
        now: i64,
        ttl_ms: i64,
        limit: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if self.backend() == super::Backend::Postgres {
            // Claims on one host queue here, so two cannot both count one free turn.
            // (SQLite has one writer at a time: the statement below is alone anyway.)
            sqlx::query("SELECT id FROM ssh_hosts WHERE id = $1 FOR UPDATE").bind(host_id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM ssh_host_turns WHERE host_id = $1 AND expires_at <= $2")
            .bind(host_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // One statement that writes: SQLite takes its write lock at once (a read first
        // could fail to upgrade once another writer committed).
        let taken = sqlx::query(
            "INSERT INTO ssh_host_turns (host_id, deployment_id, owner, expires_at) \
             SELECT $1, $2, $3, $4 \
             WHERE (SELECT COUNT(*) FROM ssh_host_turns WHERE host_id = $1 AND deployment_id <> $2) < $5 \
             ON CONFLICT (host_id, deployment_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at",
        )
        .bind(host_id)
        .bind(deployment_id)
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(taken.rows_affected() == 1)
    }

    pub async fn release_ssh_turn(&self, host_id: i64, deployment_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM ssh_host_turns WHERE host_id = $1 AND deployment_id = $2")
            .bind(host_id)
            .bind(deployment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
