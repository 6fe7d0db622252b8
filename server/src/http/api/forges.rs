//! A project's link to its GitHub or GitLab repository.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{ForgeLinkView, ForgeLinked, LinkForge};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::forges;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_forge_link, link_forge, unlink_forge))
}

/// The linked repository, or `null`.
#[utoipa::path(get, path = "/projects/{slug}/forge", params(("slug" = String, Path)),
    responses((status = 200, body = Option<ForgeLinkView>), (status = 403, body = AppError)))]
pub async fn get_forge_link(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Option<ForgeLinkView>> {
    Ok(axum::Json(forges::get(&s, &c, &slug).await?))
}

/// Links the project to `{"forge": "github", "repo": "owner/name"}` (or GitLab's
/// `group/project`); the answer holds the webhook URL and secret (shown only now).
#[utoipa::path(put, path = "/projects/{slug}/forge", params(("slug" = String, Path)), request_body = LinkForge,
    responses((status = 200, body = ForgeLinked), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn link_forge(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<LinkForge>,
) -> ApiResult<ForgeLinked> {
    Ok(axum::Json(forges::link(&s, &c, &slug, &body).await?))
}

#[utoipa::path(delete, path = "/projects/{slug}/forge", params(("slug" = String, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn unlink_forge(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
) -> Result<StatusCode, HttpError> {
    forges::unlink(&s, &c, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}
