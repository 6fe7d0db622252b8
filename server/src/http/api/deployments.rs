//! Deployments and rollbacks: start, preview, cancel, list and inspect them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, DeploymentDetail, DeploymentView, HistoryFilter, PromotionPreview};

use super::ApiResult;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::{Json, Path, Query};
use crate::services::promotion;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deployments", post(create_deployment).get(list_deployments))
        .route("/deployments/preview", post(preview_deployment))
        .route("/deployments/{id}", get(get_deployment))
        .route("/deployments/{id}/cancel", post(cancel_deployment))
        .route("/rollbacks", post(create_rollback))
        .route("/rollbacks/preview", post(preview_rollback))
}

#[utoipa::path(post, path = "/api/v1/deployments", request_body = DeployRequest,
    responses((status = 202, body = DeploymentView), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub async fn create_deployment(
    State(s): State<AppState>,
    Json(body): Json<DeployRequest>,
) -> Result<(StatusCode, axum::Json<DeploymentView>), HttpError> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.deployer.start(body).await?)))
}

#[utoipa::path(post, path = "/api/v1/deployments/preview", request_body = DeployRequest,
    responses((status = 200, body = PromotionPreview), (status = 404, body = AppError)))]
pub async fn preview_deployment(
    State(s): State<AppState>,
    Json(body): Json<DeployRequest>,
) -> ApiResult<PromotionPreview> {
    Ok(axum::Json(promotion::preview(&s.store, &body, false).await?))
}

/// Rolls an environment back to a release that once ran there: no rebuild, just
/// activate, restart and health-check.
#[utoipa::path(post, path = "/api/v1/rollbacks", request_body = DeployRequest,
    responses((status = 202, body = DeploymentView), (status = 404, body = AppError), (status = 409, body = AppError)))]
pub async fn create_rollback(
    State(s): State<AppState>,
    Json(body): Json<DeployRequest>,
) -> Result<(StatusCode, axum::Json<DeploymentView>), HttpError> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.deployer.start_rollback(body).await?)))
}

#[utoipa::path(post, path = "/api/v1/rollbacks/preview", request_body = DeployRequest,
    responses((status = 200, body = PromotionPreview), (status = 404, body = AppError)))]
pub async fn preview_rollback(
    State(s): State<AppState>,
    Json(body): Json<DeployRequest>,
) -> ApiResult<PromotionPreview> {
    Ok(axum::Json(promotion::preview(&s.store, &body, true).await?))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", params(("id" = i64, Path)),
    responses((status = 202, body = DeploymentView), (status = 404, body = AppError), (status = 409, body = AppError)))]
pub async fn cancel_deployment(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<DeploymentView>), HttpError> {
    Ok((StatusCode::ACCEPTED, axum::Json(s.deployer.cancel(id).await?)))
}

#[utoipa::path(get, path = "/api/v1/deployments", params(HistoryFilter),
    responses((status = 200, body = [DeploymentView]), (status = 400, body = AppError)))]
pub async fn list_deployments(
    State(s): State<AppState>,
    Query(filter): Query<HistoryFilter>,
) -> ApiResult<Vec<DeploymentView>> {
    Ok(axum::Json(history(&s, &filter).await?))
}

pub async fn history(s: &AppState, filter: &HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
    if !(1..=500).contains(&filter.limit.unwrap_or(50)) {
        return Err(AppError::bad_request("limit: must be between 1 and 500"));
    }
    s.store.history(filter).await.or_internal("listing deployments")
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DeploymentDetail), (status = 404, body = AppError)))]
pub async fn get_deployment(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<DeploymentDetail> {
    Ok(axum::Json(deployment_detail(&s, id).await?))
}

/// Most lines a snapshot carries; the rest are paged through the logs endpoint.
const SNAPSHOT_LINES: i64 = 20_000;

pub async fn deployment_detail(s: &AppState, id: i64) -> Result<DeploymentDetail, AppError> {
    let deployment = s
        .store
        .deployment(id)
        .await
        .or_internal("loading a deployment")?
        .ok_or_else(|| AppError::not_found(format!("no deployment {id}")))?;
    let steps = s.store.steps(id).await.or_internal("loading steps")?;
    let logs = s.store.logs(id, 0, SNAPSHOT_LINES).await.or_internal("loading logs")?;
    Ok(DeploymentDetail { deployment, steps, logs })
}
