//! People who sign in, their global role and their per-project memberships.

use ferry_app::model::{Role, UserView};

use super::{now_millis, Store, StoreResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub provider: String,
    pub subject: String,
    pub login: String,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub role: String,
}

impl UserRow {
    pub fn role(&self) -> Role {
        // An unknown value (a hand-edited row) grants nothing rather than failing.
        Role::parse(&self.role).unwrap_or(Role::None)
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            provider: self.provider.clone(),
            login: self.login.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role(),
        }
    }
}

/// Who signed in, as a provider describes them.
pub struct Identity<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    pub login: &'a str,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

const COLUMNS: &str = "id, provider, subject, login, name, email, password_hash, role";

impl Store {
    /// Finds the user by provider and stable id, refreshing the name fields, or creates
    /// them with `new_user_role`.
    pub async fn upsert_user(&self, who: &Identity<'_>, new_user_role: Role) -> StoreResult<UserRow> {
        let now = now_millis();
        let sql = format!(
            "INSERT INTO users (provider, subject, login, name, email, role, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (provider, subject) DO UPDATE SET login = excluded.login, name = excluded.name, \
             email = excluded.email, last_login_at = excluded.last_login_at RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(who.provider)
            .bind(who.subject)
            .bind(who.login)
            .bind(who.name)
            .bind(who.email)
            .bind(new_user_role.as_str())
            .bind(now)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn create_local_user(&self, login: &str, password_hash: &str, role: Role) -> StoreResult<UserRow> {
        let sql = format!(
            "INSERT INTO users (provider, subject, login, name, password_hash, role, created_at) \
             VALUES ('local', $1, $1, $1, $2, $3, $4) RETURNING {COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(login)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(now_millis())
            .fetch_one(&self.pool)
            .await
    }

    pub async fn local_user(&self, login: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE provider = 'local' AND subject = $1");
        sqlx::query_as(&sql).bind(login).fetch_optional(&self.pool).await
    }

    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn record_sign_in(&self, user_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now_millis())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn user(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await
    }

    pub async fn users(&self) -> StoreResult<Vec<UserRow>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY login, id");
        sqlx::query_as(&sql).fetch_all(&self.pool).await
    }

    pub async fn set_user_role(&self, id: i64, role: Role) -> StoreResult<()> {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user's roles on the projects where a membership raises their global role.
    pub async fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<(i64, Role)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT project_id, role FROM memberships WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(p, r)| (p, Role::parse(&r).unwrap_or(Role::None))).collect())
    }

    /// Sets a membership; `Role::None` removes it.
    pub async fn set_membership(&self, user_id: i64, project_id: i64, role: Role) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND project_id = $2")
            .bind(user_id)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        if role != Role::None {
            sqlx::query("INSERT INTO memberships (user_id, project_id, role) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(project_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    pub async fn project_members(&self, project_id: i64) -> StoreResult<Vec<(UserRow, Role)>> {
        let mut members = Vec::new();
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, role FROM memberships WHERE project_id = $1 ORDER BY user_id")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
        for (user_id, role) in rows {
            if let Some(user) = self.user(user_id).await? {
                members.push((user, Role::parse(&role).unwrap_or(Role::None)));
            }
        }
        Ok(members)
    }
}
