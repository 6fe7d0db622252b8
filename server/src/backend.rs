//! The server's side of the app's `Backend` contract: what server functions call.
//! Errors also set the HTTP status of the server function response.

use async_trait::async_trait;
use ferry_app::backend::Backend;
use ferry_app::error::AppError;
use ferry_app::model::{
    DeployRequest, DeploymentDetail, DeploymentView, HistoryFilter, Insights, Matrix, NotificationList,
    PromotionPreview, ReleaseDetail,
};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::http::api;
use crate::services::{catalog, insights, notifier, promotion};
use crate::state::AppState;

pub struct ServerBackend(pub AppState);

fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        if let (Some(options), Ok(status)) = (use_context::<ResponseOptions>(), e.error.http_status().try_into()) {
            options.set_status(status);
        }
    }
    result
}

#[async_trait]
impl Backend for ServerBackend {
    async fn matrix(&self) -> Result<Matrix, AppError> {
        with_status(catalog::matrix(&self.0.store).await)
    }

    async fn deployment(&self, id: i64) -> Result<DeploymentDetail, AppError> {
        with_status(api::deployment_detail(&self.0, id).await)
    }

    async fn deploy(&self, request: DeployRequest) -> Result<DeploymentView, AppError> {
        with_status(self.0.deployer.start(request).await)
    }

    async fn notifications(&self) -> Result<NotificationList, AppError> {
        with_status(notifier::list(&self.0.store).await)
    }

    async fn mark_read(&self, ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
        with_status(notifier::mark_read(&self.0.store, &self.0.bus, ids).await)
    }

    async fn insights(&self, project: Option<String>, days: i64) -> Result<Insights, AppError> {
        with_status(insights::insights(&self.0.store, project.as_deref(), days).await)
    }

    async fn release(&self, id: i64) -> Result<ReleaseDetail, AppError> {
        with_status(catalog::release_detail(&self.0.store, id).await)
    }

    async fn preview(&self, request: DeployRequest, rollback: bool) -> Result<PromotionPreview, AppError> {
        with_status(promotion::preview(&self.0.store, &request, rollback).await)
    }

    async fn rollback(&self, request: DeployRequest) -> Result<DeploymentView, AppError> {
        with_status(self.0.deployer.start_rollback(request).await)
    }

    async fn cancel(&self, id: i64) -> Result<DeploymentView, AppError> {
        with_status(self.0.deployer.cancel(id).await)
    }

    async fn history(&self, filter: HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
        with_status(api::history(&self.0, &filter).await)
    }
}
