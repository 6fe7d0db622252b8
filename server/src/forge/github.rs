//! GitHub through octocrab: a Deployment per Ferry deployment with its statuses
//! (queued, in_progress, success, failure, error, and inactive for the ones a newer
//! success replaced), a commit status per environment, the webhook, and the access
//! check. Request bodies follow GitHub's REST documentation (API version 2022-11-28).

use std::time::Duration;

use axum::http::HeaderName;
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{json, Value};

use ferry_app::model::{DeploymentKind, RepositoryView};

use super::{Change, Phase};
use crate::notify::Attempt;
use crate::store::Store;

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn client(api: &str, token: &str) -> Result<Octocrab, Attempt> {
    let builder = Octocrab::builder()
        .base_uri(api.trim_end_matches('/'))
        .map_err(|_| Attempt::Refused(format!("github_api_url `{api}` is not a URL")))?;
    builder
        .personal_token(token.to_string())
        .add_header(HeaderName::from_static("accept"), "application/vnd.github+json".into())
        .add_header(HeaderName::from_static("x-github-api-version"), "2022-11-28".into())
        .set_connect_timeout(Some(TIMEOUT))
        .set_read_timeout(Some(TIMEOUT))
        .set_write_timeout(Some(TIMEOUT))
        .build()
        .map_err(|e| Attempt::Refused(format!("cannot make a GitHub client: {e}")))
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// Reports one change: creates the Deployment on its first report, posts its status
/// and the commit status, and on success marks the deployments it replaced inactive.
pub async fn report(crab: &Octocrab, store: &Store, repo: &str, change: &Change) -> Result<(), Attempt> {
    let d = &change.deployment;
    if d.kind == DeploymentKind::Teardown {
        if change.phase == Phase::Succeeded {
            mark_inactive(crab, store, repo, change, "The preview was removed").await?;
        }
        return comment(crab, store, repo, change).await;
    }
    let remote = match store.forge_deployment(d.id).await.map_err(database)? {
        Some(remote) => remote,
        None => {
            let body = json!({
                "ref": change.git_ref,
                "task": "deploy",
                "auto_merge": false,
                // Ferry decides when to deploy; GitHub is told, not asked.
                "required_contexts": [],
                "payload": {"ferry_deployment": d.id, "release": d.release_version, "sha": change.sha},
                "environment": d.environment,
                "description": change.description,
                // A preview goes away with its request.
                "transient_environment": change.preview.is_some(),
                "production_environment": change.production,
            });
            let created: Created = post(crab, &format!("/repos/{repo}/deployments"), &body).await?;
            let remote = created.id.to_string();
            store.set_forge_deployment(d.id, d.project_id, &d.environment, &remote).await.map_err(database)?;
            remote
        }
    };
    let mut status = json!({
        "state": deployment_state(change.phase),
        "log_url": change.log_url,
        "description": change.description,
        "environment": d.environment,
        // Ferry marks replaced deployments itself, production ones included.
        "auto_inactive": false,
    });
    if let Some(url) = &change.environment_url {
        status["environment_url"] = json!(url);
    }
    let _: Value = post(crab, &format!("/repos/{repo}/deployments/{remote}/statuses"), &status).await?;
    let commit_status = json!({
        "state": commit_state(change.phase),
        "target_url": change.log_url,
        "description": change.description,
        "context": change.context(),
    });
    let _: Value = post(crab, &format!("/repos/{repo}/statuses/{}", change.sha), &commit_status).await?;
    if change.phase == Phase::Succeeded {
        let replaced_by = format!("Replaced by {}", d.release_version);
        mark_inactive(crab, store, repo, change, &replaced_by).await?;
        store.set_forge_deployment_outcome(d.id, "succeeded").await.map_err(database)?;
    }
    comment(crab, store, repo, change).await
}

/// Marks the environment's earlier successful deployments inactive.
async fn mark_inactive(crab: &Octocrab, store: &Store, repo: &str, change: &Change, why: &str) -> Result<(), Attempt> {
    let d = &change.deployment;
    for (replaced, remote) in
        store.forge_deployments_replaced(d.project_id, &d.environment, d.id).await.map_err(database)?
    {
        let inactive = json!({
            "state": "inactive",
            "description": why,
            "environment": d.environment,
            "auto_inactive": false,
        });
        let _: Value = post(crab, &format!("/repos/{repo}/deployments/{remote}/statuses"), &inactive).await?;
        store.set_forge_deployment_outcome(replaced, "inactive").await.map_err(database)?;
    }
    Ok(())
}

/// Creates, then keeps up to date, the one comment on a preview's pull request.
async fn comment(crab: &Octocrab, store: &Store, repo: &str, change: &Change) -> Result<(), Attempt> {
    let (Some(preview), Some(body)) = (&change.preview, change.preview_comment()) else { return Ok(()) };
    let body = json!({ "body": body });
    match &preview.comment_id {
        Some(id) => {
            let route = format!("/repos/{repo}/issues/comments/{id}");
            let _: Value = crab.patch(route, Some(&body)).await.map_err(attempt)?;
        }
        None => {
            let route = format!("/repos/{repo}/issues/{}/comments", preview.number);
            let created: Created = post(crab, &route, &body).await?;
            store.set_preview_comment(preview.environment_id, &created.id.to_string()).await.map_err(database)?;
        }
    }
    Ok(())
}

fn deployment_state(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued => "queued",
        Phase::Running => "in_progress",
        Phase::Succeeded => "success",
        Phase::Failed => "failure",
        Phase::Cancelled => "error",
    }
}

fn commit_state(phase: Phase) -> &'static str {
    match phase {
        Phase::Queued | Phase::Running => "pending",
        Phase::Succeeded => "success",
        Phase::Failed => "failure",
        Phase::Cancelled => "error",
    }
}

/// The token must see the repository.
pub async fn check_access(crab: &Octocrab, repo: &str) -> Result<(), Attempt> {
    repository(crab, repo).await.map(drop)
}

/// A repository as GitHub's REST API describes it (the fields Ferry shows).
#[derive(Deserialize)]
struct Repository {
    full_name: String,
    description: Option<String>,
    private: bool,
    default_branch: Option<String>,
    html_url: String,
    clone_url: String,
}

impl From<Repository> for RepositoryView {
    fn from(r: Repository) -> Self {
        RepositoryView {
            path: r.full_name,
            description: r.description,
            private: r.private,
            default_branch: r.default_branch,
            web_url: r.html_url,
            clone_url: r.clone_url,
        }
    }
}

/// One repository the token can see.
pub async fn repository(crab: &Octocrab, repo: &str) -> Result<RepositoryView, Attempt> {
    let found: Repository = crab.get(format!("/repos/{repo}"), None::<&()>).await.map_err(attempt)?;
    Ok(found.into())
}

/// The repositories the token's user owns, collaborates on or reaches through an
/// organisation, most recently updated first, up to `limit`, whose path contains
/// `search` (GitHub's list cannot filter by name; its search API has other limits).
pub async fn repositories(crab: &Octocrab, search: &str, limit: usize) -> Result<Vec<RepositoryView>, Attempt> {
    const PAGE: usize = 100;
    let search = search.to_lowercase();
    let mut found = Vec::new();
    for page in 1..=10 {
        let query = [
            ("affiliation", "owner,collaborator,organization_member".to_string()),
            ("sort", "updated".into()),
            ("per_page", PAGE.to_string()),
            ("page", page.to_string()),
        ];
        let listed: Vec<Repository> = crab.get("/user/repos", Some(&query)).await.map_err(attempt)?;
        let last = listed.len() < PAGE;
        found.extend(listed.into_iter().filter(|r| r.full_name.to_lowercase().contains(&search)).map(Into::into));
        if last || found.len() >= limit {
            break;
        }
    }
    found.truncate(limit);
    Ok(found)
}

/// A repository webhook sending JSON for the events Ferry handles.
pub async fn create_hook(crab: &Octocrab, repo: &str, url: &str, secret: &str) -> Result<(), Attempt> {
    let body = json!({
        "name": "web",
        "active": true,
        "events": ["push", "create", "pull_request", "workflow_run", "check_suite"],
        "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
    });
    let _: Value = post(crab, &format!("/repos/{repo}/hooks"), &body).await?;
    Ok(())
}

async fn post<R: serde::de::DeserializeOwned>(crab: &Octocrab, route: &str, body: &Value) -> Result<R, Attempt> {
    crab.post(route, Some(body)).await.map_err(attempt)
}

fn database(e: sqlx::Error) -> Attempt {
    Attempt::Retry { error: format!("database: {e}"), after: None }
}

/// GitHub's answer as an attempt: rate limits (429, or 403 with no requests left) wait
/// for the reset, 5xx and network errors are retried, other refusals are final.
fn attempt(error: octocrab::Error) -> Attempt {
    match error {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code;
            let said = format!("{}: {}", status, source.message.chars().take(200).collect::<String>());
            let headers = source.headers.as_ref();
            let header = |name: &str| headers.and_then(|h| h.get(name)).and_then(|v| v.to_str().ok());
            let exhausted = header("x-ratelimit-remaining") == Some("0");
            let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            let until_reset = source
                .rate_limit_reset
                .map(|reset| reset.saturating_sub(chrono::Utc::now().timestamp().max(0) as u64) + 1);
            if status.as_u16() == 429 || (status.as_u16() == 403 && (exhausted || retry_after.is_some())) {
                let after = retry_after.or(until_reset).map(Duration::from_secs);
                Attempt::Retry { error: format!("rate limited: {said}"), after }
            } else if status.is_server_error() {
                Attempt::Retry { error: said, after: None }
            } else {
                Attempt::Refused(said)
            }
        }
        octocrab::Error::Serde { source, .. } => {
            Attempt::Refused(format!("GitHub's answer was not understood: {source}"))
        }
        octocrab::Error::Json { source, .. } => {
            Attempt::Refused(format!("GitHub's answer was not understood: {source}"))
        }
        other => Attempt::Retry { error: format!("cannot reach GitHub: {other}"), after: None },
    }
}
