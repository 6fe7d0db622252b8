//! Agents: list them with their state, register new ones, revoke them, and choose
//! which agents an environment deploys to.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{
    AgentIdentityRequest, AgentRegistration, AgentView, EnvironmentView, ProjectView, SetAgentSelector,
};

use super::ApiResult;
use crate::agents;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(create_agent_registration))
        .routes(routes!(revoke_agent, set_agent_identity))
        .routes(routes!(select_agents))
        .routes(routes!(select_builders))
}

#[utoipa::path(get, path = "/agents", responses((status = 200, body = [AgentView])))]
pub async fn list_agents(State(s): State<AppState>, c: Caller) -> ApiResult<Vec<AgentView>> {
    Ok(axum::Json(agents::list(&s, &c).await?))
}

/// A one-time token to start a new agent with (`ferry-agent --registration-token`),
/// for the name and labels given: the agent that uses it gets those, whatever it says.
#[utoipa::path(post, path = "/agents/registrations", request_body = AgentIdentityRequest,
    responses((status = 201, body = AgentRegistration), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn create_agent_registration(
    State(s): State<AppState>,
    c: Caller,
    Json(body): Json<AgentIdentityRequest>,
) -> Result<(StatusCode, axum::Json<AgentRegistration>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(agents::create_registration(&s, &c, &body).await?)))
}

/// Renames or relabels an agent (administrators); environments select it by its new
/// labels from the next deployment on.
#[utoipa::path(put, path = "/agents/{id}", params(("id" = i64, Path)), request_body = AgentIdentityRequest,
    responses((status = 200, body = AgentView), (status = 400, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError)))]
pub async fn set_agent_identity(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AgentIdentityRequest>,
) -> ApiResult<AgentView> {
    Ok(axum::Json(agents::set_identity(&s, &c, id, &body).await?))
}

#[utoipa::path(delete, path = "/agents/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn revoke_agent(State(s): State<AppState>, c: Caller, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    agents::revoke(&s, &c, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/projects/{slug}/environments/{environment}/agents",
    params(("slug" = String, Path), ("environment" = String, Path)), request_body = SetAgentSelector,
    responses((status = 200, body = EnvironmentView), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn select_agents(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment)): Path<(String, String)>,
    Json(body): Json<SetAgentSelector>,
) -> ApiResult<EnvironmentView> {
    Ok(axum::Json(agents::select(&s, &c, &slug, &environment, &body.selector).await?))
}

#[utoipa::path(put, path = "/projects/{slug}/build-agents",
    params(("slug" = String, Path)), request_body = SetAgentSelector,
    responses((status = 200, body = ProjectView), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn select_builders(
    State(s): State<AppState>,
    c: Caller,
    Path(slug): Path<String>,
    Json(body): Json<SetAgentSelector>,
) -> ApiResult<ProjectView> {
    Ok(axum::Json(agents::select_builders(&s, &c, &slug, &body.selector).await?))
}
