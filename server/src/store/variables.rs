//! Variables and (sealed) secrets of projects.

use super::{now_millis, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VariableRow {
    pub environment: String,
    pub name: String,
    pub value: Option<String>,
    pub sealed: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A value to store: plain for a variable, sealed for a secret.
pub enum Stored<'a> {
    Plain(&'a str),
    Sealed(&'a str),
}

impl Store {
    /// Every variable of the project, all-environment ones (`''`) first.
    pub async fn variables(&self, project_id: i64) -> StoreResult<Vec<VariableRow>> {
        sqlx::query_as(
            "SELECT environment, name, value, sealed, updated_at, updated_by FROM variables \
             WHERE project_id = $1 ORDER BY environment, name",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn set_variable(
        &self,
        project_id: i64,
        environment: &str,
        name: &str,
        value: Stored<'_>,
        by: &str,
    ) -> StoreResult<()> {
        let (plain, sealed) = match value {
            Stored::Plain(v) => (Some(v), None),
            Stored::Sealed(v) => (None, Some(v)),
        };
        sqlx::query(
            "INSERT INTO variables (project_id, environment, name, value, sealed, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, environment, name) DO UPDATE SET \
             value = excluded.value, sealed = excluded.sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(project_id)
        .bind(environment)
        .bind(name)
        .bind(plain)
        .bind(sealed)
        .bind(now_millis())
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_variable(&self, project_id: i64, environment: &str, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM variables WHERE project_id = $1 AND environment = $2 AND name = $3")
            .bind(project_id)
            .bind(environment)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
