//! API tokens of the signed-in user: create (shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{CreateToken, CreatedToken, TokenView};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::tokens;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

#[utoipa::path(get, path = "/tokens", responses((status = 200, body = [TokenView])))]
pub async fn list_tokens(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<TokenView>> {
    Ok(axum::Json(tokens::list(&s, &c).await?))
}

#[utoipa::path(post, path = "/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn create_token(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(tokens::create(&s, &c, &body).await?)))
}

#[utoipa::path(delete, path = "/tokens/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn revoke_token(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    tokens::revoke(&s, &c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
