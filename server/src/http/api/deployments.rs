//! Deployments and rollbacks: start, preview, cancel, list and inspect them.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{
    Decision, DeployRequest, DeploymentDetail, DeploymentView, EnvironmentView, HistoryFilter, PromotionPreview,
    Protection,
};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path, Query};
use crate::services::{approvals, gate};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_deployment, list_deployments))
        .routes(routes!(preview_deployment))
        .routes(routes!(get_deployment))
        .routes(routes!(cancel_deployment))
        .routes(routes!(approve_deployment))
        .routes(routes!(reject_deployment))
        .routes(routes!(protect_environment))
        .routes(routes!(create_rollback))
        .routes(routes!(preview_rollback))
}

type Accepted = Result<(StatusCode, axum::Json<DeploymentView>), HttpError>;

#[utoipa::path(post, path = "/deployments", request_body = DeployRequest,
    responses((status = 202, body = DeploymentView), (status = 403, body = AppError), (status = 404, body = AppError),
        (status = 422, body = AppError)))]
pub async fn create_deployment(State(s): State<AppState>, c: Caller, Json(body): Json<DeployRequest>) -> Accepted {
    Ok((StatusCode::ACCEPTED, axum::Json(gate::deploy(&s, &c, body).await?)))
}

#[utoipa::path(post, path = "/deployments/preview", request_body = DeployRequest,
    responses((status = 200, body = PromotionPreview), (status = 404, body = AppError)))]
pub async fn preview_deployment(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<DeployRequest>,
) -> ApiResult<PromotionPreview> {
    Ok(axum::Json(gate::preview(&s, &c, &body, false).await?))
}

/// Rolls an environment back to a release that once ran there: no rebuild, just
/// activate, restart and health-check.
#[utoipa::path(post, path = "/rollbacks", request_body = DeployRequest,
    responses((status = 202, body = DeploymentView), (status = 403, body = AppError), (status = 404, body = AppError),
        (status = 409, body = AppError)))]
pub async fn create_rollback(State(s): State<AppState>, c: Caller, Json(body): Json<DeployRequest>) -> Accepted {
    Ok((StatusCode::ACCEPTED, axum::Json(gate::rollback(&s, &c, body).await?)))
}

#[utoipa::path(post, path = "/rollbacks/preview", request_body = DeployRequest,
    responses((status = 200, body = PromotionPreview), (status = 404, body = AppError)))]
pub async fn preview_rollback(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<DeployRequest>,
) -> ApiResult<PromotionPreview> {
    Ok(axum::Json(gate::preview(&s, &c, &body, true).await?))
}

#[utoipa::path(post, path = "/deployments/{id}/cancel", params(("id" = i64, Path)),
    responses((status = 202, body = DeploymentView), (status = 403, body = AppError), (status = 404, body = AppError),
        (status = 409, body = AppError)))]
pub async fn cancel_deployment(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Accepted {
    Ok((StatusCode::ACCEPTED, axum::Json(gate::cancel(&s, &c, id).await?)))
}

#[utoipa::path(get, path = "/deployments", params(HistoryFilter),
    responses((status = 200, body = [DeploymentView]), (status = 400, body = AppError)))]
pub async fn list_deployments(
    State(s): State<AppState>,
    c: Caller,
    Query(filter): Query<HistoryFilter>,
) -> ApiResult<Vec<DeploymentView>> {
    Ok(axum::Json(gate::history(&s, &c, &filter).await?))
}

#[utoipa::path(get, path = "/deployments/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DeploymentDetail), (status = 404, body = AppError)))]
pub async fn get_deployment(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> ApiResult<DeploymentDetail> {
    Ok(axum::Json(gate::deployment_detail(&s, &c, id).await?))
}

/// Approves a deployment waiting for approvals; the last approval needed queues it.
#[utoipa::path(post, path = "/deployments/{id}/approve", params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = DeploymentView), (status = 403, body = AppError), (status = 409, body = AppError)))]
pub async fn approve_deployment(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<Decision>,
) -> ApiResult<DeploymentView> {
    Ok(axum::Json(approvals::decide(&s, &c, id, true, body.comment.as_deref()).await?))
}

/// Rejects a deployment waiting for approvals: it is cancelled with the reason.
#[utoipa::path(post, path = "/deployments/{id}/reject", params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = DeploymentView), (status = 403, body = AppError), (status = 409, body = AppError)))]
pub async fn reject_deployment(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<Decision>,
) -> ApiResult<DeploymentView> {
    Ok(axum::Json(approvals::decide(&s, &c, id, false, body.comment.as_deref()).await?))
}

#[utoipa::path(put, path = "/projects/{slug}/environments/{environment}/protection",
    params(("slug" = String, Path), ("environment" = String, Path)), request_body = Protection,
    responses((status = 200, body = EnvironmentView), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn protect_environment(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment)): Path<(String, String)>,
    Json(body): Json<Protection>,
) -> ApiResult<EnvironmentView> {
    Ok(axum::Json(approvals::protect(&s, &c, &slug, &environment, body).await?))
}
