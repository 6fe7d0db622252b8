//! Notification channels, routing rules and deliveries (admins only).

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{ChannelView, NewChannel, NewRule, NotifySettings, RuleView};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::services::channels;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notification_settings))
        .routes(routes!(add_channel))
        .routes(routes!(remove_channel))
        .routes(routes!(test_channel))
        .routes(routes!(add_rule))
        .routes(routes!(remove_rule))
}

/// The channels (without their secrets), the rules and the newest deliveries.
#[utoipa::path(get, path = "/notifications/settings",
    responses((status = 200, body = NotifySettings), (status = 403, body = AppError)))]
pub async fn notification_settings(State(s): State<AppState>, c: Caller) -> ApiResult<NotifySettings> {
    Ok(axum::Json(channels::settings(&s, &c).await?))
}

/// Adds a channel: `{"name": …, "settings": {"kind": "slack", "webhook_url": …}}`, or
/// `{"kind": "email", "smtp_url", "from", "to": […]}`, or `{"kind": "webhook", "url", "secret"}`.
#[utoipa::path(post, path = "/notifications/channels", request_body = NewChannel,
    responses((status = 201, body = ChannelView), (status = 400, body = AppError), (status = 409, body = AppError)))]
pub async fn add_channel(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<NewChannel>,
) -> Result<(StatusCode, axum::Json<ChannelView>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(channels::add_channel(&s, &c, &body).await?)))
}

#[utoipa::path(delete, path = "/notifications/channels/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn remove_channel(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, HttpError> {
    channels::remove_channel(&s, &c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test message to the channel; its delivery shows in the settings.
#[utoipa::path(post, path = "/notifications/channels/{id}/test", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = AppError)))]
pub async fn test_channel(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    channels::test_channel(&s, &c, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Routes events (`started`, `succeeded`, `failed`, `rolled_back`, `approval_needed`,
/// `agent_offline`) of a project and environment (any when left out) to a channel.
#[utoipa::path(post, path = "/notifications/rules", request_body = NewRule,
    responses((status = 201, body = RuleView), (status = 400, body = AppError)))]
pub async fn add_rule(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<NewRule>,
) -> Result<(StatusCode, axum::Json<RuleView>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(channels::add_rule(&s, &c, &body).await?)))
}

#[utoipa::path(delete, path = "/notifications/rules/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
pub async fn remove_rule(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    channels::remove_rule(&s, &c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
