//! API tokens of the signed-in user: create (shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::Router;
use chrono::Duration;
use ferry_app::error::AppError;
use ferry_app::model::{CreateToken, CreatedToken, Role, TokenView};
use serde_json::json;

use super::ApiResult;
use crate::auth::secrets::new_api_token;
use crate::auth::Caller;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::{Json, Path};
use crate::services::{audit, gate};
use crate::state::AppState;
use crate::store::{now_millis, NewToken};

pub fn router() -> Router<AppState> {
    Router::new().route("/tokens", get(list_tokens).post(create_token)).route("/tokens/{id}", delete(revoke_token))
}

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = [TokenView])))]
pub async fn list_tokens(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<TokenView>> {
    let rows = s.store.tokens_of(c.user_id).await.or_internal("listing tokens")?;
    Ok(axum::Json(rows.iter().map(|t| t.view()).collect()))
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn create_token(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), HttpError> {
    // A token that could mint tokens would outlive its own revocation.
    c.require_session("creating an API token")?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::bad_request("name: must be 1-100 characters").into());
    }
    if body.scopes.is_empty() {
        return Err(AppError::bad_request("scopes: name at least one of read, deploy, manage").into());
    }
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        return Err(AppError::bad_request("expires_in_days: must be between 1 and 365").into());
    }
    let project_id = match &body.project {
        Some(slug) => Some(gate::project(&s, &c, slug, Role::Viewer, "a token for this project").await?.id),
        None => None,
    };
    let secret = new_api_token();
    let new = NewToken {
        user_id: c.user_id,
        name,
        token_hash: &secret.hash,
        prefix: &secret.prefix,
        scopes: &body.scopes,
        project_id,
        expires_at: now_millis() + Duration::days(days).num_milliseconds(),
    };
    let row = s.store.create_token(&new).await.or_internal("creating a token")?;
    let detail = json!({"id": row.id, "scopes": row.scopes, "project": body.project, "expires_in_days": days});
    audit::record(&s.store, &c, "token.create", name, detail).await;
    Ok((StatusCode::CREATED, axum::Json(CreatedToken { token: secret.token, details: row.view() })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn revoke_token(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    if !s.store.revoke_token(c.user_id, id).await.or_internal("revoking a token")? {
        return Err(AppError::not_found(format!("you have no live token {id}")).into());
    }
    audit::record(&s.store, &c, "token.revoke", &id.to_string(), json!({"id": id})).await;
    Ok(StatusCode::NO_CONTENT)
}
