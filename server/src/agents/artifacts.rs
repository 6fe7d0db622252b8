//! Release artifacts and agents. `GET /agent/artifacts/{sha256}` answers an agent that
//! shows its credential, and runs a job that unpacks that artifact, with its bytes; the
//! agent checks them against the checksum before it unpacks anything.
//! `PUT /agent/builds/{job}/artifact` takes the artifact of a build job from the agent
//! that runs it (and no other), checks the bytes against the checksum it announced,
//! and keeps them for the release like a build of Ferry's own.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_app::error::{AppError, ErrorCode};
use ferry_engine::upload::CHECKSUM_HEADER;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::auth::secrets::sha256_hex;
use crate::error::{HttpError, OrInternal};
use crate::state::AppState;
use crate::store::AgentRow;

/// The agent whose credential the request carries.
async fn agent_of(s: &AppState, headers: &HeaderMap) -> Result<AgentRow, AppError> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::unauthenticated("an agent credential is required"))?;
    let agent = s.store.agent_by_credential(&sha256_hex(credential.trim())).await.or_internal("checking an agent")?;
    agent.ok_or_else(|| AppError::unauthenticated("unknown or revoked agent credential"))
}

fn is_checksum(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn download(
    State(s): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let agent = agent_of(&s, &headers).await?;
    if !is_checksum(&sha256) {
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

pub async fn upload(
    State(s): State<AppState>,
    Path(job): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let agent = agent_of(&s, &headers).await?;
    // Only the agent building this job, while it does: no agent can put bytes into
    // another project's release.
    let Some(release_id) = s.agents.build_job(agent.id, job) else {
        return Err(AppError::forbidden(format!("agent {} runs no build job {job}", agent.name)).into());
    };
    let announced = headers.get(CHECKSUM_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !is_checksum(announced) {
        return Err(
            AppError::bad_request(format!("the {CHECKSUM_HEADER} header must carry the artifact's SHA-256")).into()
        );
    }
    let limit = ferry_engine::artifact::Limits::default().max_bytes;
    let dir = s.deployer.artifacts_dir();
    tokio::fs::create_dir_all(&dir).await.or_internal("creating the artifacts directory")?;
    let partial = dir.join(format!(".upload-{job}.tar.gz"));
    let received = receive(body, &partial, limit).await;
    let sha = match received {
        Ok(sha) if sha.eq_ignore_ascii_case(announced) => sha,
        failed => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(match failed {
                Ok(sha) => AppError::unprocessable(format!(
                    "the artifact's bytes have sha256:{sha}, not the announced sha256:{announced}"
                )),
                Err(e) => e,
            }
            .into());
        }
    };
    tokio::fs::rename(&partial, s.deployer.artifact_file(&sha)).await.or_internal("keeping an artifact")?;
    s.store.set_release_artifact(release_id, &sha).await.or_internal("recording a release's artifact")?;
    tracing::info!(agent = agent.id, job, release = release_id, sha256 = %sha, "kept an agent's build");
    Ok((StatusCode::CREATED, axum::Json(serde_json::json!({"sha256": sha}))).into_response())
}

/// Writes the body to `to`, at most `limit` bytes; returns its SHA-256.
async fn receive(body: Body, to: &std::path::Path, limit: u64) -> Result<String, AppError> {
    let mut file = tokio::fs::File::create(to).await.or_internal("storing an artifact")?;
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request(format!("the artifact did not arrive whole: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            let why = format!("an artifact may have at most {} GiB", limit >> 30);
            return Err(AppError::new(ErrorCode::PayloadTooLarge, why));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.or_internal("storing an artifact")?;
    }
    file.flush().await.or_internal("storing an artifact")?;
    Ok(hex::encode(hasher.finalize()))
}
