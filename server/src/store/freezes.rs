//! Deploy freeze windows of environments.

use ferry_app::model::{FreezeView, FreezeWindow};

use super::{now_millis, to_time, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
struct FreezeRow {
    id: i64,
    environment: String,
    window_spec: String,
    reason: String,
    created_by: String,
    created_at: i64,
}

impl FreezeRow {
    fn view(self, now: chrono::DateTime<chrono::Utc>) -> Option<FreezeView> {
        let window: FreezeWindow = serde_json::from_str(&self.window_spec).ok()?;
        Some(FreezeView {
            id: self.id,
            environment: self.environment,
            active: window.covers(now),
            window,
            reason: self.reason,
            created_by: self.created_by,
            created_at: to_time(self.created_at),
        })
    }
}

const SELECT: &str = "SELECT f.id, e.name AS environment, f.window_spec, f.reason, f.created_by, f.created_at \
                      FROM freeze_windows f JOIN environments e ON e.id = f.environment_id";

impl Store {
    /// The project's freeze windows, by environment order then age.
    pub async fn freezes(&self, project_id: i64) -> StoreResult<Vec<FreezeView>> {
        let sql = format!("{SELECT} WHERE e.project_id = $1 ORDER BY e.position, f.id");
        let rows: Vec<FreezeRow> = sqlx::query_as(&sql).bind(project_id).fetch_all(&self.pool).await?;
        let now = chrono::Utc::now();
        Ok(rows.into_iter().filter_map(|r| r.view(now)).collect())
    }

    /// The freeze windows of one environment that cover `now`.
    pub async fn active_freezes(
        &self,
        environment_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<FreezeView>> {
        let sql = format!("{SELECT} WHERE f.environment_id = $1 ORDER BY f.id");
        let rows: Vec<FreezeRow> = sqlx::query_as(&sql).bind(environment_id).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().filter_map(|r| r.view(now)).filter(|f| f.active).collect())
    }

    pub async fn add_freeze(
        &self,
        environment_id: i64,
        window: &FreezeWindow,
        reason: &str,
        by: &str,
    ) -> StoreResult<i64> {
        let spec = serde_json::to_string(window).unwrap_or_default();
        sqlx::query_scalar(
            "INSERT INTO freeze_windows (environment_id, window_spec, reason, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(environment_id)
        .bind(spec)
        .bind(reason)
        .bind(by)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await
    }

    /// Removes a freeze window of the project; false when it has none with that id.
    pub async fn remove_freeze(&self, project_id: i64, id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM freeze_windows WHERE id = $1 AND environment_id IN \
             (SELECT id FROM environments WHERE project_id = $2)",
        )
        .bind(id)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
