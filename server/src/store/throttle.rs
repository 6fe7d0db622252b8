//! Failed sign-ins counted per key (a login, a client address) over a fixed window,
//! in the database so that every replica sees the same count.

use super::{Store, StoreResult};

impl Store {
    /// Counts a failure for `key`, starting a new window when the last one is over.
    pub async fn sign_in_failed(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sign_in_failures (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.window_start <= $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
             window_start = CASE WHEN sign_in_failures.window_start <= $3 THEN $2 ELSE sign_in_failures.window_start END",
        )
        .bind(key)
        .bind(now)
        .bind(now - window_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failures of `key` in the current window, and when that window started.
    pub async fn sign_in_failures(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<Option<(i64, i64)>> {
        sqlx::query_as("SELECT failures, window_start FROM sign_in_failures WHERE key = $1 AND window_start > $2")
            .bind(key)
            .bind(now - window_ms)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn sign_in_cleared(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Forgets windows that are over.
    pub async fn sign_in_failures_expired(&self, now: i64, window_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sign_in_failures WHERE window_start <= $1")
            .bind(now - window_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
