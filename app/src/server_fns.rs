//! Server functions the SPA calls. Each body runs on the server and delegates to the
//! `Backend`, which checks its input and answers in the shared error vocabulary.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{
    DeploymentDetail, DeploymentView, HistoryFilter, Insights, Matrix, NotificationList, PromotionPreview,
    ReleaseDetail,
};

#[server(prefix = "/rpc")]
pub async fn load_matrix() -> Result<Matrix, AppError> {
    crate::backend::backend()?.matrix().await
}

#[server(prefix = "/rpc")]
pub async fn load_deployment(id: i64) -> Result<DeploymentDetail, AppError> {
    crate::backend::backend()?.deployment(id).await
}

#[server(prefix = "/rpc")]
pub async fn load_history(filter: HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
    crate::backend::backend()?.history(filter).await
}

/// Starts a deployment of a release to an environment (also used to promote).
#[server(prefix = "/rpc")]
pub async fn start_deployment(
    project: String,
    release_id: i64,
    environment: String,
) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?.deploy(crate::model::DeployRequest { project, release_id, environment }).await
}

/// Cancels a queued or running deployment.
#[server(prefix = "/rpc")]
pub async fn cancel_deployment(id: i64) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?.cancel(id).await
}

/// What deploying (or rolling back to) `release_id` in `environment` would change,
/// and whether it is allowed.
#[server(prefix = "/rpc")]
pub async fn preview_promotion(
    project: String,
    release_id: i64,
    environment: String,
    rollback: bool,
) -> Result<PromotionPreview, AppError> {
    crate::backend::backend()?.preview(crate::model::DeployRequest { project, release_id, environment }, rollback).await
}

/// Rolls an environment back to a release that once ran there.
#[server(prefix = "/rpc")]
pub async fn start_rollback(project: String, release_id: i64, environment: String) -> Result<DeploymentView, AppError> {
    crate::backend::backend()?.rollback(crate::model::DeployRequest { project, release_id, environment }).await
}

#[server(prefix = "/rpc")]
pub async fn load_release(id: i64) -> Result<ReleaseDetail, AppError> {
    crate::backend::backend()?.release(id).await
}

#[server(prefix = "/rpc")]
pub async fn load_insights(project: Option<String>, days: i64) -> Result<Insights, AppError> {
    crate::backend::backend()?.insights(project, days).await
}

#[server(prefix = "/rpc")]
pub async fn load_notifications() -> Result<NotificationList, AppError> {
    crate::backend::backend()?.notifications().await
}

/// Marks the given notifications read, or all of them when `ids` is `None`.
#[server(prefix = "/rpc")]
pub async fn mark_notifications_read(ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
    crate::backend::backend()?.mark_read(ids).await
}
