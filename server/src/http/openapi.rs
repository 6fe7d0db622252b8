//! The OpenAPI document of the REST API, generated from the handlers and types.

use axum::Json;
use utoipa::OpenApi;

use super::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry API",
        description = "Self-hosted deployments: projects, releases, deployments, logs and events."
    ),
    paths(
        api::list_projects,
        api::create_project,
        api::list_releases,
        api::create_release,
        api::get_release,
        api::matrix,
        api::get_insights,
        api::list_notifications,
        api::mark_notifications_read,
        api::create_deployment,
        api::preview_deployment,
        api::cancel_deployment,
        api::create_rollback,
        api::preview_rollback,
        api::list_deployments,
        api::get_deployment,
        api::get_logs,
        api::download_log,
        api::list_events
    )
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
