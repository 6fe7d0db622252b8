//! How long a project's logs and deliveries are kept.

use axum::extract::State;
use ferry_app::error::AppError;
use ferry_app::model::{Retention, SetRetention};

use super::ApiResult;
use crate::auth::Caller;
use crate::http::extract::{Json, Path};
use crate::services::retention;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_retention, set_retention))
}

#[utoipa::path(get, path = "/projects/{slug}/retention", params(("slug" = String, Path)),
    responses((status = 200, body = Retention), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError)))]
pub async fn get_retention(State(s): State<AppState>, c: Caller, Path(slug): Path<String>) -> ApiResult<Retention> {
    Ok(axum::Json(retention::get(&s, &c, &slug).await?))
}

/// Sets the project's own number of days (`{"days": 30}`; 0 keeps everything; `null`
/// follows the server's `retention_days`). Maintainers only.
#[utoipa::path(put, path = "/projects/{slug}/retention", params(("slug" = String, Path)),
    request_body = SetRetention,
    responses((status = 200, body = Retention), (status = 400, body = AppError), (status = 401, body = AppError),
        (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn set_retention(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<SetRetention>,
) -> ApiResult<Retention> {
    Ok(axum::Json(retention::set(&s, &c, &slug, body.days).await?))
}
