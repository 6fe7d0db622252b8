//! SSH hosts: Ferry's public key (and its rotation), an environment's hosts, a
//! connection check and trusting the host key it showed.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_app::error::AppError;
use ferry_app::model::{SshCheckView, SshHostRequest, SshHostView, SshKeyView, TrustHostKey};

use super::ApiResult;
use crate::auth::Caller;
use crate::error::HttpError;
use crate::http::extract::{Json, Path};
use crate::ssh::hosts;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_ssh_key))
        .routes(routes!(rotate_ssh_key))
        .routes(routes!(list_ssh_hosts, add_ssh_host))
        .routes(routes!(update_ssh_host, remove_ssh_host))
        .routes(routes!(check_ssh_host))
        .routes(routes!(trust_ssh_host_key))
}

/// Ferry's public SSH key, for hosts' `authorized_keys` (made on first use).
#[utoipa::path(get, path = "/ssh-key",
    responses((status = 200, body = SshKeyView), (status = 403, body = AppError)))]
pub async fn get_ssh_key(State(s): State<AppState>, c: Caller) -> ApiResult<SshKeyView> {
    Ok(axum::Json(hosts::ferry_key(&s, &c).await?))
}

/// A new key pair; the one before it still signs in until the next rotation.
#[utoipa::path(post, path = "/ssh-key/rotate",
    responses((status = 200, body = SshKeyView), (status = 403, body = AppError)))]
pub async fn rotate_ssh_key(State(s): State<AppState>, c: Caller) -> ApiResult<SshKeyView> {
    Ok(axum::Json(hosts::rotate_key(&s, &c).await?))
}

#[utoipa::path(get, path = "/projects/{slug}/environments/{environment}/ssh-hosts",
    params(("slug" = String, Path), ("environment" = String, Path)),
    responses((status = 200, body = [SshHostView]), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn list_ssh_hosts(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment)): Path<(String, String)>,
) -> ApiResult<Vec<SshHostView>> {
    Ok(axum::Json(hosts::list(&s, &c, &slug, &environment).await?))
}

/// Adds a host the environment deploys to (administrators).
#[utoipa::path(post, path = "/projects/{slug}/environments/{environment}/ssh-hosts",
    params(("slug" = String, Path), ("environment" = String, Path)), request_body = SshHostRequest,
    responses((status = 201, body = SshHostView), (status = 400, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 409, body = AppError)))]
pub async fn add_ssh_host(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment)): Path<(String, String)>,
    Json(body): Json<SshHostRequest>,
) -> Result<(StatusCode, axum::Json<SshHostView>), HttpError> {
    Ok((StatusCode::CREATED, axum::Json(hosts::add(&s, &c, &slug, &environment, &body).await?)))
}

/// Changes a host; a new address, port or jump host forgets its trusted key.
#[utoipa::path(put, path = "/projects/{slug}/environments/{environment}/ssh-hosts/{id}",
    params(("slug" = String, Path), ("environment" = String, Path), ("id" = i64, Path)), request_body = SshHostRequest,
    responses((status = 200, body = SshHostView), (status = 400, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 409, body = AppError)))]
pub async fn update_ssh_host(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment, id)): Path<(String, String, i64)>,
    Json(body): Json<SshHostRequest>,
) -> ApiResult<SshHostView> {
    Ok(axum::Json(hosts::update(&s, &c, &slug, &environment, id, &body).await?))
}

#[utoipa::path(delete, path = "/projects/{slug}/environments/{environment}/ssh-hosts/{id}",
    params(("slug" = String, Path), ("environment" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn remove_ssh_host(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment, id)): Path<(String, String, i64)>,
) -> Result<StatusCode, HttpError> {
    hosts::remove(&s, &c, &slug, &environment, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects to the host: whether Ferry signs in, and the host key it presents (to trust).
#[utoipa::path(post, path = "/projects/{slug}/environments/{environment}/ssh-hosts/{id}/check",
    params(("slug" = String, Path), ("environment" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = SshCheckView), (status = 403, body = AppError), (status = 404, body = AppError)))]
pub async fn check_ssh_host(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment, id)): Path<(String, String, i64)>,
) -> ApiResult<SshCheckView> {
    Ok(axum::Json(hosts::check(&s, &c, &slug, &environment, id).await?))
}

/// Trusts a host key (as a check showed it); from then on another key is refused.
#[utoipa::path(post, path = "/projects/{slug}/environments/{environment}/ssh-hosts/{id}/trust",
    params(("slug" = String, Path), ("environment" = String, Path), ("id" = i64, Path)), request_body = TrustHostKey,
    responses((status = 200, body = SshHostView), (status = 400, body = AppError), (status = 403, body = AppError),
        (status = 404, body = AppError)))]
pub async fn trust_ssh_host_key(
    State(s): State<AppState>,
    c: Caller,
    Path((slug, environment, id)): Path<(String, String, i64)>,
    Json(body): Json<TrustHostKey>,
) -> ApiResult<SshHostView> {
    Ok(axum::Json(hosts::trust(&s, &c, &slug, &environment, id, &body).await?))
}
