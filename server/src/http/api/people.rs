//! Users, their global roles, and project memberships.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::Router;
use ferry_app::error::AppError;
use ferry_app::model::{MemberView, Role, SetMembership, SetRole, UserView};
use serde_json::json;

use super::ApiResult;
use crate::auth::Caller;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::{Json, Path};
use crate::services::{audit, gate};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}/role", put(set_role))
        .route("/projects/{slug}/members", get(list_members).put(set_member))
}

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserView]), (status = 403, body = AppError)))]
pub async fn list_users(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<UserView>> {
    c.require_global(Role::Maintainer, "listing users")?;
    Ok(axum::Json(s.store.users().await.or_internal("listing users")?.iter().map(|u| u.view()).collect()))
}

#[utoipa::path(put, path = "/api/v1/users/{id}/role", params(("id" = i64, Path)), request_body = SetRole,
    responses((status = 200, body = UserView), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn set_role(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<SetRole>,
) -> ApiResult<UserView> {
    c.require_global(Role::Admin, "changing a user's role")?;
    let user = s.store.user(id).await.or_internal("loading a user")?;
    let user = user.ok_or_else(|| AppError::not_found(format!("no user {id}")))?;
    if user.id == c.user_id && body.role < Role::Admin {
        return Err(AppError::conflict("you cannot take away your own administrator role").into());
    }
    s.store.set_user_role(id, body.role).await.or_internal("setting a role")?;
    let detail = json!({"before": user.role, "after": body.role.as_str()});
    audit::record(&s.store, &c, "user.role", &user.login, detail).await;
    let user = s.store.user(id).await.or_internal("loading a user")?.ok_or_else(AppError::internal)?;
    Ok(axum::Json(user.view()))
}

#[utoipa::path(get, path = "/api/v1/projects/{slug}/members", params(("slug" = String, Path)),
    responses((status = 200, body = [MemberView]), (status = 403, body = AppError)))]
pub async fn list_members(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Vec<MemberView>> {
    let project = gate::project(&s, &c, &slug, Role::Viewer, "listing members").await?;
    let members = s.store.project_members(project.id).await.or_internal("listing members")?;
    Ok(axum::Json(members.into_iter().map(|(user, role)| MemberView { user: user.view(), role }).collect()))
}

#[utoipa::path(put, path = "/api/v1/projects/{slug}/members", params(("slug" = String, Path)), request_body = SetMembership,
    responses((status = 204), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn set_member(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<SetMembership>,
) -> Result<StatusCode, HttpError> {
    let project = gate::project(&s, &c, &slug, Role::Maintainer, "managing members").await?;
    // Nobody hands out more than they have.
    c.require(project.id, body.role, "granting this role")?;
    let user = s.store.user(body.user_id).await.or_internal("loading a user")?;
    let user = user.ok_or_else(|| AppError::not_found(format!("no user {}", body.user_id)))?;
    s.store.set_membership(user.id, project.id, body.role).await.or_internal("setting a membership")?;
    let detail = json!({"user": user.login, "role": body.role.as_str()});
    audit::record(&s.store, &c, "membership.set", &slug, detail).await;
    Ok(StatusCode::NO_CONTENT)
}
