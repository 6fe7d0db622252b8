//! Variables and secrets of a project; secrets are write-only.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{SetVariable, VariableView};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path, Query};
use crate::services::variables;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_variables, set_variable)).routes(routes!(delete_variable))
}

#[utoipa::path(get, path = "/projects/{slug}/variables", params(("slug" = String, Path)),
    responses((status = 200, body = [VariableView]), (status = 403, body = AppError)))]
pub async fn list_variables(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Vec<VariableView>> {
    Ok(axum::Json(variables::list(&s, &c, &slug).await?))
}

/// Creates or replaces a variable; with `secret`, the value is sealed and never shown again.
#[utoipa::path(put, path = "/projects/{slug}/variables", params(("slug" = String, Path)), request_body = SetVariable,
    responses((status = 204), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn set_variable(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<SetVariable>,
) -> Result<StatusCode, HttpError> {
    variables::set(&s, &c, &slug, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VariablePlace {
    /// The environment it belongs to; absent for a project-wide variable.
    pub environment: Option<String>,
}

#[utoipa::path(delete, path = "/projects/{slug}/variables/{name}",
    params(("slug" = String, Path), ("name" = String, Path), VariablePlace),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn delete_variable(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, name)): Path<(String, String)>,
    Query(place): Query<VariablePlace>,
) -> Result<StatusCode, HttpError> {
    variables::delete(&s, &c, &slug, place.environment.as_deref(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
