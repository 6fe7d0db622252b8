//! Release artifacts for agents: `GET /agent/artifacts/{sha256}` answers an agent that
//! shows its credential, and runs a job that unpacks that artifact, with its bytes;
//! the agent checks them against the checksum before it unpacks anything.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Request};
use axum::response::{IntoResponse, Response};
use ferry_app::error::AppError;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::auth::secrets::sha256_hex;
use crate::error::{HttpError, OrInternal};
use crate::state::AppState;

pub async fn download(
    State(s): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::unauthenticated("an agent credential is required"))?;
    let agent = s.store.agent_by_credential(&sha256_hex(credential.trim())).await.or_internal("checking an agent")?;
    let Some(agent) = agent else {
        return Err(AppError::unauthenticated("unknown or revoked agent credential").into());
    };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::bad_request("not an artifact checksum").into());
    }
    // An agent gets the artifacts of its own jobs, not every project's builds.
    if !s.agents.has_job_for_artifact(agent.id, &sha256) {
        return Err(AppError::forbidden(format!("agent {} has no job that unpacks sha256:{sha256}", agent.name)).into());
    }
    let file = s.deployer.artifact_file(&sha256.to_ascii_lowercase());
    if !file.is_file() {
        return Err(AppError::not_found(format!("no artifact sha256:{sha256}")).into());
    }
    let served = ServeFile::new(file).oneshot(Request::new(Body::empty())).await;
    match served {
        Ok(response) => Ok(response.into_response()),
        Err(e) => match e {},
    }
}
