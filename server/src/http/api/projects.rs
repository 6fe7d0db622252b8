//! Projects, releases and the environment matrix.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{CreateRelease, MarkBad, Matrix, ProjectView, ReleaseDetail, ReleaseView};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::{bad_releases, gate};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(list_releases, create_release))
        .routes(routes!(get_release))
        .routes(routes!(mark_release_bad, clear_release_bad))
        .routes(routes!(matrix))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub slug: String,
    pub name: String,
    /// Path of a git repository on the server's machine.
    pub repo_url: String,
}

#[utoipa::path(get, path = "/projects", responses((status = 200, body = [ProjectView])))]
pub async fn list_projects(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<ProjectView>> {
    Ok(axum::Json(gate::projects(&s, &c).await?))
}

#[utoipa::path(post, path = "/projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_project(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<CreateProject>,
) -> Result<(StatusCode, axum::Json<ProjectView>), HttpError> {
    let project = gate::create_project(&s, &c, &body.slug, &body.name, &body.repo_url).await?;
    Ok((StatusCode::CREATED, axum::Json(project)))
}

#[utoipa::path(get, path = "/projects/{slug}/releases", params(("slug" = String, Path)),
    responses((status = 200, body = [ReleaseView]), (status = 404, body = AppError)))]
pub async fn list_releases(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Vec<ReleaseView>> {
    Ok(axum::Json(gate::releases(&s, &c, &slug).await?))
}

#[utoipa::path(post, path = "/projects/{slug}/releases", params(("slug" = String, Path)), request_body = CreateRelease,
    responses((status = 201, body = ReleaseView), (status = 404, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_release(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<CreateRelease>,
) -> Result<(StatusCode, axum::Json<ReleaseView>), HttpError> {
    let release = gate::create_release(&s, &c, &slug, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(release)))
}

#[utoipa::path(get, path = "/releases/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ReleaseDetail), (status = 404, body = AppError)))]
pub async fn get_release(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> ApiResult<ReleaseDetail> {
    Ok(axum::Json(gate::release(&s, &c, id).await?))
}

#[utoipa::path(get, path = "/matrix", responses((status = 200, body = Matrix)))]
pub async fn matrix(State(s): State<AppState>, c: Caller) -> ApiResult<Matrix> {
    Ok(axum::Json(gate::matrix(&s, &c).await?))
}

/// Stops a release from going anywhere new ("prevent progression").
#[utoipa::path(post, path = "/releases/{id}/bad", params(("id" = i64, Path)), request_body = MarkBad,
    responses((status = 200, body = ReleaseView), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn mark_release_bad(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<MarkBad>,
) -> ApiResult<ReleaseView> {
    Ok(axum::Json(bad_releases::mark(&s, &c, id, Some(&body.reason)).await?))
}

#[utoipa::path(delete, path = "/releases/{id}/bad", params(("id" = i64, Path)),
    responses((status = 200, body = ReleaseView), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn clear_release_bad(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> ApiResult<ReleaseView> {
    Ok(axum::Json(bad_releases::mark(&s, &c, id, None).await?))
}
