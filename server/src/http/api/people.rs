//! Users, their global roles, and project memberships.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{MemberView, SetMembership, SetRole, UserView};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::people;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(set_role)).routes(routes!(list_members, set_member))
}

#[utoipa::path(get, path = "/users", responses((status = 200, body = [UserView]), (status = 403, body = AppError)))]
pub async fn list_users(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<UserView>> {
    Ok(axum::Json(people::users(&s, &c).await?))
}

#[utoipa::path(put, path = "/users/{id}/role", params(("id" = i64, Path)), request_body = SetRole,
    responses((status = 200, body = UserView), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn set_role(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<SetRole>,
) -> ApiResult<UserView> {
    Ok(axum::Json(people::set_role(&s, &c, id, body.role).await?))
}

#[utoipa::path(get, path = "/projects/{slug}/members", params(("slug" = String, Path)),
    responses((status = 200, body = [MemberView]), (status = 403, body = AppError)))]
pub async fn list_members(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Vec<MemberView>> {
    Ok(axum::Json(people::members(&s, &c, &slug).await?))
}

#[utoipa::path(put, path = "/projects/{slug}/members", params(("slug" = String, Path)), request_body = SetMembership,
    responses((status = 204), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn set_member(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<SetMembership>,
) -> Result<StatusCode, HttpError> {
    people::set_member(&s, &c, &slug, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
