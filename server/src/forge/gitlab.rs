//! GitLab through the gitlab crate: a commit status per environment (pending, running,
//! success, failed, canceled), a deployment per Ferry deployment once it runs (GitLab's
//! API creates deployments as running or finished) and its later status, the project
//! webhook, and the access check. GitLab itself retires the deployments a newer one
//! replaces in an environment.

use ::gitlab::api::projects::deployments::{CreateDeployment, DeploymentStatus, EditDeployment};
use ::gitlab::api::projects::hooks::CreateHook;
use ::gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
use ::gitlab::api::projects::Project;
use ::gitlab::api::{self, ApiError, AsyncQuery};
use ::gitlab::{AsyncGitlab, GitlabBuilder, GitlabError, RestError};
use serde::Deserialize;
use serde_json::Value;

use super::{Change, Phase};
use crate::notify::Attempt;
use crate::store::Store;

/// A client for the instance at `base` (`https://gitlab.example.com`, maybe with a path);
/// GitLab's crate checks the token as it makes one.
pub async fn client(base: &str, token: &str) -> Result<AsyncGitlab, Attempt> {
    let (insecure, host) = match base.trim_end_matches('/').split_once("://") {
        Some(("http", host)) => (true, host),
        Some(("https", host)) => (false, host),
        _ => return Err(Attempt::Refused(format!("gitlab_url `{base}` is not an http(s) URL"))),
    };
    let mut builder = GitlabBuilder::new(host, token);
    builder.user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")));
    if insecure {
        builder.insecure();
    }
    builder.build_async().await.map_err(|e| match e {
        GitlabError::Api { source } => attempt(source),
        GitlabError::Communication { source } => {
            Attempt::Retry { error: format!("cannot reach GitLab: {source}"), after: None }
        }
        other => Attempt::Refused(format!("GitLab: {other}")),
    })
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// Reports one change: the commit status, then the deployment (made when it first runs
/// or ends, updated afterwards).
pub async fn report(gitlab: &AsyncGitlab, store: &Store, repo: &str, change: &Change) -> Result<(), Attempt> {
    let d = &change.deployment;
    let status = CreateCommitStatus::builder()
        .project(repo)
        .commit(change.sha.as_str())
        .state(commit_state(change.phase))
        .name(change.context())
        .target_url(change.log_url.as_str())
        .description(change.description.as_str())
        .build()
        .map_err(|e| Attempt::Refused(e.to_string()))?;
    match api::ignore(status).query_async(gitlab).await {
        Ok(()) => {}
        // GitLab refuses a status the commit already has (a waiting deployment reported
        // as pending twice): what was to be said is said.
        Err(ApiError::GitlabWithStatus { msg, .. }) if msg.contains("Cannot transition status") => {}
        Err(e) => return Err(attempt(e)),
    }
    let Some(wanted) = deployment_status(change.phase) else { return Ok(()) };
    match store.forge_deployment(d.id).await.map_err(database)? {
        Some(remote) => {
            let id: u64 = remote.parse().map_err(|_| Attempt::Refused(format!("bad deployment id `{remote}`")))?;
            let edit = EditDeployment::builder()
                .project(repo)
                .deployment_id(id)
                .status(wanted)
                .build()
                .map_err(|e| Attempt::Refused(e.to_string()))?;
            let _: Value = edit.query_async(gitlab).await.map_err(attempt)?;
        }
        None => {
            let create = CreateDeployment::builder()
                .project(repo)
                .environment(d.environment.as_str())
                .sha(change.sha.as_str())
                .ref_(change.git_ref.as_str())
                .tag(change.git_ref == d.release_version && change.git_ref != change.sha)
                .status(wanted)
                .build()
                .map_err(|e| Attempt::Refused(e.to_string()))?;
            let created: Created = create.query_async(gitlab).await.map_err(attempt)?;
            let remote = created.id.to_string();
            store.set_forge_deployment(d.id, d.project_id, &d.environment, &remote).await.map_err(database)?;
        }
    }
    Ok(())
}

fn commit_state(phase: Phase) -> CommitStatusState {
    match phase {
        Phase::Queued => CommitStatusState::Pending,
        Phase::Running => CommitStatusState::Running,
        Phase::Succeeded => CommitStatusState::Success,
        Phase::Failed => CommitStatusState::Failed,
        Phase::Cancelled => CommitStatusState::Canceled,
    }
}

/// GitLab's deployments start running; a waiting one has no deployment yet.
fn deployment_status(phase: Phase) -> Option<DeploymentStatus> {
    match phase {
        Phase::Queued => None,
        Phase::Running => Some(DeploymentStatus::Running),
        Phase::Succeeded => Some(DeploymentStatus::Success),
        Phase::Failed => Some(DeploymentStatus::Failed),
        Phase::Cancelled => Some(DeploymentStatus::Canceled),
    }
}

/// The token must see the project.
pub async fn check_access(gitlab: &AsyncGitlab, repo: &str) -> Result<(), Attempt> {
    let project = Project::builder().project(repo).build().map_err(|e| Attempt::Refused(e.to_string()))?;
    let _: Value = project.query_async(gitlab).await.map_err(attempt)?;
    Ok(())
}

/// A project hook for pushes, tag pushes, merge requests and pipelines.
pub async fn create_hook(gitlab: &AsyncGitlab, repo: &str, url: &str, secret: &str) -> Result<(), Attempt> {
    let hook = CreateHook::builder()
        .project(repo)
        .url(url)
        .name("Ferry")
        .push_events(true)
        .tag_push_events(true)
        .merge_requests_events(true)
        .pipeline_events(true)
        .enable_ssl_verification(url.starts_with("https://"))
        .token(secret)
        .build()
        .map_err(|e| Attempt::Refused(e.to_string()))?;
    let _: Value = hook.query_async(gitlab).await.map_err(attempt)?;
    Ok(())
}

fn database(e: sqlx::Error) -> Attempt {
    Attempt::Retry { error: format!("database: {e}"), after: None }
}

/// GitLab's answer as an attempt: rate limits wait as told, 5xx and network errors are
/// retried, other refusals are final.
fn attempt(error: ApiError<RestError>) -> Attempt {
    match error {
        ApiError::GitlabRateLimited { retry_after, .. } => {
            Attempt::Retry { error: "rate limited by GitLab".into(), after: Some(retry_after) }
        }
        ApiError::GitlabService { status, .. } => Attempt::Retry { error: format!("GitLab: {status}"), after: None },
        ApiError::GitlabWithStatus { status, msg } => status_attempt(status, msg),
        ApiError::GitlabObjectWithStatus { status, obj } | ApiError::GitlabUnrecognizedWithStatus { status, obj } => {
            status_attempt(status, obj.to_string())
        }
        ApiError::Client { source } => Attempt::Retry { error: format!("cannot reach GitLab: {source}"), after: None },
        other => Attempt::Refused(format!("GitLab: {other}")),
    }
}

fn status_attempt(status: axum::http::StatusCode, msg: String) -> Attempt {
    let said = format!("{status}: {}", msg.chars().take(200).collect::<String>());
    if status.as_u16() == 429 || status.is_server_error() {
        Attempt::Retry { error: said, after: None }
    } else {
        Attempt::Refused(said)
    }
}
