//! GitLab through the gitlab crate's endpoints, sent by Ferry's own HTTP client (with
//! timeouts): a commit status per environment (pending, running,
//! success, failed, canceled), a deployment per Ferry deployment once it runs (GitLab's
//! API creates deployments as running or finished) and its later status, the project
//! webhook, and the access check. GitLab itself retires the deployments a newer one
//! replaces in an environment.

use std::time::Duration;

use ::gitlab::api::common::NameOrId;
use ::gitlab::api::projects::deployments::{CreateDeployment, DeploymentStatus, EditDeployment};
use ::gitlab::api::projects::environments::Environments;
use ::gitlab::api::projects::hooks::CreateHook;
use ::gitlab::api::projects::merge_requests::notes::{CreateMergeRequestNote, EditMergeRequestNote};
use ::gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
use ::gitlab::api::projects::{Project, ProjectOrderBy, Projects};
use ::gitlab::api::users::CurrentUser;
use ::gitlab::api::{self, ApiError, AsyncQuery, Endpoint};
use ::gitlab::RestError;
use axum::body::Bytes;
use axum::http::{self, HeaderValue};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use ferry_app::model::{DeploymentKind, RepositoryView};

use super::{Change, Phase};
use crate::notify::Attempt;
use crate::store::Store;

/// How long connecting, and then a whole request, may take (as for GitHub).
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client for GitLab's REST API. The gitlab crate's own client (`GitlabBuilder`)
/// takes no timeouts and no `reqwest::Client` of ours, so an instance that accepts the
/// connection and never answers would hold a report (and the link being checked)
/// forever. This one is Ferry's own `reqwest` client with connect and request
/// timeouts; the crate's endpoints, which work with any `AsyncClient`, still build
/// every request and read every answer.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `<base>/api/v4/`.
    rest: Url,
    /// `<base>/`.
    instance: Url,
    /// The token as a `PRIVATE-TOKEN` header, marked sensitive.
    token: HeaderValue,
}

impl api::RestClient for Client {
    type Error = RestError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<RestError>> {
        Ok(self.rest.join(endpoint)?)
    }

    fn instance_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<RestError>> {
        Ok(self.instance.join(endpoint)?)
    }
}

#[async_trait::async_trait]
impl api::AsyncClient for Client {
    async fn rest_async(
        &self,
        mut request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<RestError>> {
        let call = async {
            if let Some(headers) = request.headers_mut() {
                headers.insert("PRIVATE-TOKEN", self.token.clone());
            }
            let request: reqwest::Request = request.body(body).map_err(RestError::from)?.try_into()?;
            let response = self.http.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status()).version(response.version());
            if let Some(headers) = answer.headers_mut() {
                for (name, value) in response.headers() {
                    headers.append(name, value.clone());
                }
            }
            let body = response.bytes().await?;
            answer.body(body).map_err(RestError::from)
        };
        call.await.map_err(ApiError::client)
    }
}

/// A client for the instance at `base` (`https://gitlab.example.com`, maybe with a
/// path); making one checks the token with the instance, as GitLab's crate did.
pub async fn client(base: &str, token: &str) -> Result<Client, Attempt> {
    client_with(base, token, TIMEOUT).await
}

async fn client_with(base: &str, token: &str, timeout: Duration) -> Result<Client, Attempt> {
    let base = base.trim_end_matches('/');
    if !matches!(base.split_once("://"), Some(("http" | "https", host)) if !host.is_empty()) {
        return Err(Attempt::Refused(format!("gitlab_url `{base}` is not an http(s) URL")));
    }
    let url = |path: &str| {
        Url::parse(&format!("{base}/{path}")).map_err(|e| Attempt::Refused(format!("gitlab_url `{base}`: {e}")))
    };
    let mut token = HeaderValue::from_str(token)
        .map_err(|_| Attempt::Refused("the GitLab token has characters no HTTP header may carry".into()))?;
    token.set_sensitive(true);
    let http = reqwest::Client::builder()
        .user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| Attempt::Refused(format!("cannot make a GitLab client: {e}")))?;
    let client = Client { http, rest: url("api/v4/")?, instance: url("")?, token };
    let user = CurrentUser::builder().build().map_err(|e| Attempt::Refused(e.to_string()))?;
    api::ignore(user).query_async(&client).await.map_err(attempt)?;
    Ok(client)
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// Reports one change: the commit status, then the deployment (made when it first runs
/// or ends, updated afterwards).
pub async fn report(gitlab: &Client, store: &Store, repo: &str, change: &Change) -> Result<(), Attempt> {
    let d = &change.deployment;
    if d.kind == DeploymentKind::Teardown {
        if change.phase == Phase::Succeeded {
            stop_environment(gitlab, repo, &d.environment).await?;
        }
        return comment(gitlab, store, repo, change).await;
    }
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
    let Some(wanted) = deployment_status(change.phase) else { return comment(gitlab, store, repo, change).await };
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
    comment(gitlab, store, repo, change).await
}

/// `POST /projects/:id/environments/:environment_id/stop`, which the gitlab crate
/// does not have.
struct StopEnvironment<'a> {
    project: NameOrId<'a>,
    environment: u64,
}

impl Endpoint for StopEnvironment<'_> {
    fn method(&self) -> http::Method {
        http::Method::POST
    }

    fn endpoint(&self) -> std::borrow::Cow<'static, str> {
        format!("projects/{}/environments/{}/stop", self.project, self.environment).into()
    }
}

#[derive(Deserialize)]
struct EnvironmentId {
    id: u64,
}

/// Stops a preview's GitLab environment once it is torn down (GitLab made it with
/// the preview's first deployment); one GitLab never had is left alone.
async fn stop_environment(gitlab: &Client, repo: &str, name: &str) -> Result<(), Attempt> {
    let found =
        Environments::builder().project(repo).name(name).build().map_err(|e| Attempt::Refused(e.to_string()))?;
    let found: Vec<EnvironmentId> = found.query_async(gitlab).await.map_err(attempt)?;
    for environment in found {
        let stop = StopEnvironment { project: repo.into(), environment: environment.id };
        let _: Value = stop.query_async(gitlab).await.map_err(attempt)?;
    }
    Ok(())
}

/// Creates, then keeps up to date, the one note on a preview's merge request.
async fn comment(gitlab: &Client, store: &Store, repo: &str, change: &Change) -> Result<(), Attempt> {
    let (Some(preview), Some(body)) = (&change.preview, change.preview_comment()) else { return Ok(()) };
    let request = preview.number as u64;
    match preview.comment_id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
        Some(note) => {
            let edit = EditMergeRequestNote::builder()
                .project(repo)
                .merge_request(request)
                .note(note)
                .body(body.as_str())
                .build()
                .map_err(|e| Attempt::Refused(e.to_string()))?;
            let _: Value = edit.query_async(gitlab).await.map_err(attempt)?;
        }
        None => {
            let create = CreateMergeRequestNote::builder()
                .project(repo)
                .merge_request(request)
                .body(body.as_str())
                .build()
                .map_err(|e| Attempt::Refused(e.to_string()))?;
            let created: Created = create.query_async(gitlab).await.map_err(attempt)?;
            store.set_preview_comment(preview.environment_id, &created.id.to_string()).await.map_err(database)?;
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
pub async fn check_access(gitlab: &Client, repo: &str) -> Result<(), Attempt> {
    repository(gitlab, repo).await.map(drop)
}

/// A project as GitLab's REST API describes it (the fields Ferry shows).
#[derive(Deserialize)]
struct Repository {
    path_with_namespace: String,
    description: Option<String>,
    /// `private`, `internal` or `public`.
    visibility: Option<String>,
    default_branch: Option<String>,
    web_url: String,
    http_url_to_repo: String,
}

impl From<Repository> for RepositoryView {
    fn from(r: Repository) -> Self {
        RepositoryView {
            path: r.path_with_namespace,
            description: r.description.filter(|d| !d.is_empty()),
            private: r.visibility.as_deref() != Some("public"),
            default_branch: r.default_branch,
            web_url: r.web_url,
            clone_url: r.http_url_to_repo,
        }
    }
}

/// One project the token can see.
pub async fn repository(gitlab: &Client, repo: &str) -> Result<RepositoryView, Attempt> {
    let project = Project::builder().project(repo).build().map_err(|e| Attempt::Refused(e.to_string()))?;
    let found: Repository = project.query_async(gitlab).await.map_err(attempt)?;
    Ok(found.into())
}

/// The projects the token's user is a member of, most recently active first, up to
/// `limit`, whose path contains `search` (GitLab filters by name itself).
pub async fn repositories(gitlab: &Client, search: &str, limit: usize) -> Result<Vec<RepositoryView>, Attempt> {
    let mut projects = Projects::builder();
    projects.membership(true).order_by(ProjectOrderBy::LastActivityAt);
    if !search.is_empty() {
        projects.search(search).search_namespaces(true);
    }
    let projects = projects.build().map_err(|e| Attempt::Refused(e.to_string()))?;
    let found: Vec<Repository> =
        api::paged(projects, api::Pagination::Limit(limit)).query_async(gitlab).await.map_err(attempt)?;
    let search = search.to_lowercase();
    Ok(found.into_iter().filter(|r| r.path_with_namespace.to_lowercase().contains(&search)).map(Into::into).collect())
}

/// A project hook for pushes, tag pushes, merge requests and pipelines.
pub async fn create_hook(gitlab: &Client, repo: &str, url: &str, secret: &str) -> Result<(), Attempt> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gitlab_that_never_answers_fails_the_attempt_at_the_timeout() {
        let (addr, held) = crate::test_support::silent_server().await;
        let base = format!("http://{addr}/gitlab");
        let made = client_with(&base, "glpat-0123456789abcdef", Duration::from_secs(1));
        let made = tokio::time::timeout(Duration::from_secs(30), made).await.expect("the request was given up");
        match made {
            Err(Attempt::Retry { error, after: None }) => assert!(error.contains("cannot reach GitLab"), "{error}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a client from a GitLab that never answered"),
        }
        held.abort();
        assert!(matches!(client_with("gitlab.example.com", "t", TIMEOUT).await, Err(Attempt::Refused(_))));
    }
}
