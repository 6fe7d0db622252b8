//! Importing a project from a GitHub or GitLab repository, or a git URL.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{DeployKey, ImportProject, Imported, ListRepositories, RepositoryView};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::Json;
use crate::services::imports;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_project))
        .routes(routes!(list_repositories))
        .routes(routes!(new_deploy_key))
}

/// The repositories a GitHub or GitLab token can reach, most recently active first
/// (admins). A POST so that the token travels in the body, not in a URL.
#[utoipa::path(post, path = "/imports/repositories", request_body = ListRepositories,
    responses((status = 200, body = [RepositoryView]), (status = 400, body = AppError), (status = 401, body = AppError),
        (status = 403, body = AppError), (status = 422, body = AppError, description = "the forge refused the token")))]
pub async fn list_repositories(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<ListRepositories>,
) -> ApiResult<Vec<RepositoryView>> {
    Ok(axum::Json(imports::repositories(&s, &c, &body).await?))
}

/// Clones the repository as Ferry's own mirror and creates the project from its
/// `ferry.yml` with its environments, the forge link and the webhook (admins). With
/// `"dry_run": true`, answers what it found (or a starter file) and keeps nothing.
#[utoipa::path(post, path = "/imports", request_body = ImportProject,
    responses((status = 201, body = Imported), (status = 200, body = Imported, description = "a dry run"),
        (status = 400, body = AppError), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 409, body = AppError, description = "the slug is taken"),
        (status = 422, body = AppError, description = "the repository cannot be cloned, or its ferry.yml is missing or invalid")))]
pub async fn import_project(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<ImportProject>,
) -> Result<(StatusCode, axum::Json<Imported>), HttpError> {
    let imported = imports::import(&s, &c, &body).await?;
    let status = if imported.project.is_some() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(imported)))
}

/// Makes a key pair to import a repository over SSH (admins): add `public_key` to the
/// repository's deploy keys (read-only), then import with `"deploy_key": id`. The
/// private half is sealed and never leaves Ferry.
#[utoipa::path(post, path = "/imports/deploy-keys",
    responses((status = 201, body = DeployKey), (status = 401, body = AppError), (status = 403, body = AppError)))]
pub async fn new_deploy_key(
    State(s): State<AppState>,
    c: Caller,
) -> Result<(StatusCode, axum::Json<DeployKey>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(imports::new_deploy_key(&s, &c).await?)))
}
