//! Deploy freeze windows of a project's environments.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{FreezeView, NewFreeze};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::freezes;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_freezes, add_freeze)).routes(routes!(remove_freeze))
}

#[utoipa::path(get, path = "/projects/{slug}/freezes", params(("slug" = String, Path)),
    responses((status = 200, body = [FreezeView]), (status = 403, body = AppError)))]
pub async fn list_freezes(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Vec<FreezeView>> {
    Ok(axum::Json(freezes::list(&s, &c, &slug).await?))
}

/// Adds a freeze window: once (`{"kind": "once", "from": …, "to": …}`) or weekly
/// (`{"kind": "weekly", "from": "fri 16:00", "to": "mon 08:00", "time_zone": "Europe/Berlin"}`;
/// UTC without `time_zone`).
#[utoipa::path(post, path = "/projects/{slug}/freezes", params(("slug" = String, Path)), request_body = NewFreeze,
    responses((status = 201, body = FreezeView), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn add_freeze(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<NewFreeze>,
) -> Result<(StatusCode, axum::Json<FreezeView>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(freezes::add(&s, &c, &slug, &body).await?)))
}

#[utoipa::path(delete, path = "/projects/{slug}/freezes/{id}", params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn remove_freeze(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<StatusCode, HttpError> {
    freezes::remove(&s, &c, &slug, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
