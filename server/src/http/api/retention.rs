//! How long a project's logs and deliveries are kept.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use ferry_app::error::AppError;
use ferry_app::model::{Retention, SetRetention};

use super::ApiResult;
use crate::auth::Caller;
use crate::http::extract::{Json, Path};
use crate::services::retention;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/projects/{slug}/retention", get(get_retention).put(set_retention))
}

#[utoipa::path(get, path = "/api/v1/projects/{slug}/retention", params(("slug" = String, Path)),
    responses((status = 200, body = Retention), (status = 401, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError)))]
pub async fn get_retention(State(s): State<AppState>, c: Caller, Path(slug): Path<String>) -> ApiResult<Retention> {
    Ok(axum::Json(retention::get(&s, &c, &slug).await?))
}

/// Sets the project's own number of days (`{"days": 30}`; 0 keeps everything; `null`
/// follows the server's `retention_days`). Maintainers only.
#[utoipa::path(put, path = "/api/v1/projects/{slug}/retention", params(("slug" = String, Path)),
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
