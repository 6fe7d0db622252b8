//! API tokens of the signed-in user: created (the secret shown once), listed with
//! their last use, revoked.

use chrono::Duration;
use ferry_app::error::AppError;
use ferry_app::model::{CreateToken, CreatedToken, Role, TokenView};
use serde_json::json;

use super::Handles;
use super::{audit, gate};
use crate::auth::secrets::new_api_token;
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::{now_millis, NewToken};

pub async fn list(s: &Handles, c: &Caller) -> Result<Vec<TokenView>, AppError> {
    let rows = s.store.tokens_of(c.user_id).await.or_internal("listing tokens")?;
    Ok(rows.iter().map(|t| t.view()).collect())
}

pub async fn create(s: &Handles, c: &Caller, request: &CreateToken) -> Result<CreatedToken, AppError> {
    // A token that could mint tokens would outlive its own revocation.
    c.require_session("creating an API token")?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::bad_request("name: must be 1-100 characters"));
    }
    if request.scopes.is_empty() {
        return Err(AppError::bad_request("scopes: name at least one of read, deploy, manage"));
    }
    let days = request.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        return Err(AppError::bad_request("expires_in_days: must be between 1 and 365"));
    }
    let project_id = match &request.project {
        Some(slug) => Some(gate::project(s, c, slug, Role::Viewer, "a token for this project").await?.id),
        None => None,
    };
    let secret = new_api_token();
    let new = NewToken {
        user_id: c.user_id,
        name,
        token_hash: &secret.hash,
        prefix: &secret.prefix,
        scopes: &request.scopes,
        project_id,
        expires_at: now_millis() + Duration::days(days).num_milliseconds(),
    };
    let row = s.store.create_token(&new).await.or_internal("creating a token")?;
    let detail = json!({"id": row.id, "scopes": row.scopes, "project": request.project, "expires_in_days": days});
    audit::record(&s.store, c, "token.create", name, detail).await;
    Ok(CreatedToken { token: secret.token, details: row.view() })
}

pub async fn revoke(s: &Handles, c: &Caller, id: i64) -> Result<(), AppError> {
    if !s.store.revoke_token(c.user_id, id).await.or_internal("revoking a token")? {
        return Err(AppError::not_found(format!("you have no live token {id}")));
    }
    audit::record(&s.store, c, "token.revoke", &id.to_string(), json!({"id": id})).await;
    Ok(())
}
