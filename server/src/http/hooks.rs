//! `POST /hooks/github` and `POST /hooks/gitlab`: webhooks from the forges. No session
//! or token: the signature (GitHub) or token (GitLab) authenticates them. The body is
//! read only up to the limit, so an oversized one is refused without being held.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use ferry_app::error::{AppError, ErrorCode};
use ferry_app::model::ForgeKind;
use serde_json::{json, Value};

use crate::error::HttpError;
use crate::services::forge_hooks::{self, HookAnswer};
use crate::state::AppState;

/// GitHub caps payloads at 25 MB but a push lists at most 20 commits: real ones are
/// far below this.
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/github", post(|s, h, b| hook(s, h, b, ForgeKind::Github)))
        .route("/hooks/gitlab", post(|s, h, b| hook(s, h, b, ForgeKind::Gitlab)))
}

async fn hook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
    forge: ForgeKind,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let too_large =
        || AppError::new(ErrorCode::PayloadTooLarge, format!("the body is over the {} MiB limit", BODY_LIMIT >> 20));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        return Err(too_large().into());
    }
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| too_large())?;
    let answer = forge_hooks::receive(&s, forge, &headers, &body).await?;
    Ok(match answer {
        HookAnswer::Accepted => (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))),
        HookAnswer::Duplicate => (StatusCode::OK, Json(json!({"status": "duplicate"}))),
        HookAnswer::Ignored(why) => (StatusCode::OK, Json(json!({"status": "ignored", "reason": why}))),
    })
}
