//! The REST API under `/api/v1`: projects, releases, deployments, logs and events.
//! Every handler answers errors as `{error, message}` with a 4xx or 5xx status.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::ansi;
use ferry_app::error::AppError;
use ferry_app::model::{
    CreateRelease, DeployRequest, DeploymentDetail, DeploymentView, Event, HistoryFilter, Insights, LogLineView,
    MarkRead, Matrix, NotificationList, ProjectView, PromotionPreview, ReleaseDetail, ReleaseView,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Json, Path, Query};
use crate::error::{HttpError, OrInternal};
use crate::services::{catalog, insights, notifier, promotion};
use crate::state::AppState;

type ApiResult<T> = Result<axum::Json<T>, HttpError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{slug}/releases", get(list_releases).post(create_release))
        .route("/releases/{id}", get(get_release))
        .route("/matrix", get(matrix))
        .route("/insights", get(get_insights))
        .route("/notifications", get(list_notifications))
        .route("/notifications/read", post(mark_notifications_read))
        .route("/deployments", post(create_deployment).get(list_deployments))
        .route("/deployments/preview", post(preview_deployment))
        .route("/rollbacks", post(create_rollback))
        .route("/rollbacks/preview", post(preview_rollback))
        .route("/deployments/{id}", get(get_deployment))
        .route("/deployments/{id}/logs", get(get_logs))
        .route("/deployments/{id}/log.txt", get(download_log))
        .route("/deployments/{id}/cancel", post(cancel_deployment))
        .route("/events", get(list_events))
        .fallback(|| async { HttpError(AppError::not_found("no such API endpoint")) })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub slug: String,
    pub name: String,
    /// Path of a git repository on the server's machine.
    pub repo_url: String,
}

#[utoipa::path(get, path = "/api/v1/projects", responses((status = 200, body = [ProjectView])))]
pub async fn list_projects(State(s): State<AppState>) -> ApiResult<Vec<ProjectView>> {
    Ok(axum::Json(s.store.projects().await.or_internal("listing projects")?))
}

#[utoipa::path(post, path = "/api/v1/projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_project(
    State(s): State<AppState>,
    Json(body): Json<CreateProject>,
) -> Result<(StatusCode, axum::Json<ProjectView>), HttpError> {
    let project = catalog::create_project(&s.store, &body.slug, &body.name, &body.repo_url).await?;
    Ok((StatusCode::CREATED, axum::Json(project)))
}

#[utoipa::path(get, path = "/api/v1/projects/{slug}/releases", params(("slug" = String, Path)),
    responses((status = 200, body = [ReleaseView]), (status = 404, body = AppError)))]
pub async fn list_releases(State(s): State<AppState>, Path(slug): Path<String>) -> ApiResult<Vec<ReleaseView>> {
    let project = catalog::project(&s.store, &slug).await?;
    Ok(axum::Json(catalog::releases(&s.store, &project).await?))
}

#[utoipa::path(post, path = "/api/v1/projects/{slug}/releases", params(("slug" = String, Path)), request_body = CreateRelease,
    responses((status = 201, body = ReleaseView), (status = 404, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub async fn create_release(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    Json(body): Json<CreateRelease>,
) -> Result<(StatusCode, axum::Json<ReleaseView>), HttpError> {
    let project = catalog::project(&s.store, &slug).await?;
    let release = catalog::create_release(&s.store, &project, &body.version, &body.git_commit, "api").await?;
    Ok((StatusCode::CREATED, axum::Json(release)))
}

#[utoipa::path(get, path = "/api/v1/releases/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ReleaseDetail), (status = 404, body = AppError)))]
pub async fn get_release(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<ReleaseDetail> {
    Ok(axum::Json(catalog::release_detail(&s.store, id).await?))
}

#[utoipa::path(get, path = "/api/v1/notifications", responses((status = 200, body = NotificationList)))]
pub async fn list_notifications(State(s): State<AppState>) -> ApiResult<NotificationList> {
    Ok(axum::Json(notifier::list(&s.store).await?))
}

#[utoipa::path(post, path = "/api/v1/notifications/read", request_body = MarkRead,
    responses((status = 200, body = NotificationList), (status = 400, body = AppError)))]
pub async fn mark_notifications_read(
    State(s): State<AppState>,
    Json(body): Json<MarkRead>,
) -> ApiResult<NotificationList> {
    Ok(axum::Json(notifier::mark_read(&s.store, &s.bus, body.ids).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InsightsQuery {
    /// Only this project.
    pub project: Option<String>,
    /// The window, in days back from now (1-365, default 30).
    pub days: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/insights", params(InsightsQuery),
    responses((status = 200, body = Insights), (status = 400, body = AppError)))]
pub async fn get_insights(State(s): State<AppState>, Query(q): Query<InsightsQuery>) -> ApiResult<Insights> {
    Ok(axum::Json(insights::insights(&s.store, q.project.as_deref(), q.days.unwrap_or(30)).await?))
}

#[utoipa::path(get, path = "/api/v1/matrix", responses((status = 200, body = Matrix)))]
pub async fn matrix(State(s): State<AppState>) -> ApiResult<Matrix> {
    Ok(axum::Json(catalog::matrix(&s.store).await?))
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Only items with a sequence number above this one.
    pub after: Option<i64>,
    /// At most this many (1-10000, default 1000).
    pub limit: Option<i64>,
}

impl PageQuery {
    fn limit(&self) -> Result<i64, AppError> {
        let limit = self.limit.unwrap_or(1000);
        if (1..=10_000).contains(&limit) {
            Ok(limit)
        } else {
            Err(AppError::bad_request("limit: must be between 1 and 10000"))
        }
    }
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = [LogLineView]), (status = 404, body = AppError)))]
pub async fn get_logs(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Vec<LogLineView>> {
    let limit = q.limit()?;
    if s.store.deployment(id).await.or_internal("loading a deployment")?.is_none() {
        return Err(AppError::not_found(format!("no deployment {id}")).into());
    }
    Ok(axum::Json(s.store.logs(id, q.after.unwrap_or(0), limit).await.or_internal("loading logs")?))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/log.txt", params(("id" = i64, Path)),
    responses((status = 200, description = "The whole log as text, one `[step] line` per line", content_type = "text/plain"),
        (status = 404, body = AppError)))]
pub async fn download_log(State(s): State<AppState>, Path(id): Path<i64>) -> Result<impl IntoResponse, HttpError> {
    let detail = deployment_detail(&s, id).await?;
    let mut text = String::new();
    let mut after = 0;
    loop {
        let page = s.store.logs(id, after, 10_000).await.or_internal("loading logs")?;
        for line in &page {
            let step = detail.steps.iter().find(|st| st.position == line.step).map_or("?", |st| st.name.as_str());
            text.push_str(&format!("[{step}] {}\n", ansi::plain(&line.text)));
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => after = last.seq,
            _ => break,
        }
    }
    let disposition = format!("attachment; filename=\"deployment-{id}.log\"");
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        text,
    ))
}

#[utoipa::path(get, path = "/api/v1/events", params(PageQuery), responses((status = 200, body = [Event])))]
pub async fn list_events(State(s): State<AppState>, Query(q): Query<PageQuery>) -> ApiResult<Vec<Event>> {
    let limit = q.limit()?;
    Ok(axum::Json(s.store.events_after(q.after.unwrap_or(0), limit).await.or_internal("loading events")?))
}
