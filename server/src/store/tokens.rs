//! API tokens: stored as hashes, scoped, expiring and revocable.

use ferry_app::model::{TokenScope, TokenView};

use super::{now_millis, to_time, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub project_id: Option<i64>,
    pub project: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    pub fn scopes(&self) -> Vec<TokenScope> {
        self.scopes.split(',').filter_map(TokenScope::parse).collect()
    }

    pub fn view(&self) -> TokenView {
        TokenView {
            id: self.id,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes(),
            project: self.project.clone(),
            created_at: to_time(self.created_at),
            expires_at: to_time(self.expires_at),
            last_used_at: self.last_used_at.map(to_time),
            revoked: self.revoked_at.is_some(),
        }
    }
}

pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub scopes: &'a [TokenScope],
    pub project_id: Option<i64>,
    pub expires_at: i64,
}

const SELECT: &str = "SELECT t.id, t.user_id, t.name, t.prefix, t.scopes, t.project_id, p.slug AS project, \
    t.created_at, t.expires_at, t.last_used_at, t.revoked_at FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id";

impl Store {
    pub async fn create_token(&self, new: &NewToken<'_>) -> StoreResult<TokenRow> {
        let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, project_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.token_hash)
        .bind(new.prefix)
        .bind(scopes.join(","))
        .bind(new.project_id)
        .bind(now_millis())
        .bind(new.expires_at)
        .fetch_one(&self.pool)
        .await?;
        self.token(id).await?.ok_or(sqlx::Error::RowNotFound)
    }

    pub async fn token(&self, id: i64) -> StoreResult<Option<TokenRow>> {
        sqlx::query_as(&format!("{SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&self.pool).await
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        sqlx::query_as(&format!("{SELECT} WHERE t.token_hash = $1")).bind(token_hash).fetch_optional(&self.pool).await
    }

    pub async fn tokens_of(&self, user_id: i64) -> StoreResult<Vec<TokenRow>> {
        sqlx::query_as(&format!("{SELECT} WHERE t.user_id = $1 ORDER BY t.id DESC"))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Revokes one of the user's tokens; false when they have no such live token.
    pub async fn revoke_token(&self, user_id: i64, id: i64) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now_millis())
                .bind(id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn touch_token(&self, id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
