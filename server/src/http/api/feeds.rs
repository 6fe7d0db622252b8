//! What Ferry reports back: insights, the notification center and each person's
//! notification preferences.

use axum::extract::State;
use ferry_app::error::AppError;
use ferry_app::model::{Insights, MarkRead, NotificationList, NotifyPreferences};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiResult;
use crate::auth::Caller;
use crate::http::extract::{Json, Query};
use crate::services::gate;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_insights))
        .routes(routes!(list_notifications))
        .routes(routes!(mark_notifications_read))
        .routes(routes!(get_notify_preferences, set_notify_preferences))
}

/// What the caller hears of: in the app, and by email to their profile's address.
#[utoipa::path(get, path = "/notifications/preferences", responses((status = 200, body = NotifyPreferences)))]
pub async fn get_notify_preferences(State(s): State<AppState>, c: Caller) -> ApiResult<NotifyPreferences> {
    Ok(axum::Json(gate::notify_preferences(&s, &c).await?))
}

/// Sets the events the caller hears of in the app (`in_app`) and by email (`email`).
#[utoipa::path(put, path = "/notifications/preferences", request_body = NotifyPreferences,
    responses((status = 200, body = NotifyPreferences), (status = 400, body = AppError)))]
pub async fn set_notify_preferences(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<NotifyPreferences>,
) -> ApiResult<NotifyPreferences> {
    Ok(axum::Json(gate::set_notify_preferences(&s, &c, &body).await?))
}

#[utoipa::path(get, path = "/notifications", responses((status = 200, body = NotificationList)))]
pub async fn list_notifications(State(s): State<AppState>, c: Caller) -> ApiResult<NotificationList> {
    Ok(axum::Json(gate::notifications(&s, &c).await?))
}

#[utoipa::path(post, path = "/notifications/read", request_body = MarkRead,
    responses((status = 200, body = NotificationList), (status = 400, body = AppError)))]
pub async fn mark_notifications_read(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<MarkRead>,
) -> ApiResult<NotificationList> {
    Ok(axum::Json(gate::mark_read(&s, &c, body.ids).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InsightsQuery {
    /// Only this project.
    pub project: Option<String>,
    /// The window, in days back from now (1-365, default 30).
    pub days: Option<i64>,
}

#[utoipa::path(get, path = "/insights", params(InsightsQuery),
    responses((status = 200, body = Insights), (status = 400, body = AppError)))]
pub async fn get_insights(State(s): State<AppState>, c: Caller, Query(q): Query<InsightsQuery>) -> ApiResult<Insights> {
    Ok(axum::Json(gate::insights(&s, &c, q.project.as_deref(), q.days.unwrap_or(30)).await?))
}
