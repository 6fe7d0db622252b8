//! Previews: a running copy per pull request (GitHub) or merge request (GitLab) of a
//! linked repository, in an environment `pr-<number>` outside the lifecycle.
//!
//! The `previews:` section is read from the default branch's ferry.yml, never from the
//! request's own commit: whoever opens a request must not choose which environment's
//! hosts and secrets it borrows. The request's code (its build and deploy steps) is
//! what runs, as with any release of it. Code from a fork waits for a deployer's
//! approval on each deployment. Closing the request runs the release's `teardown`
//! steps on the preview's hosts, removes its releases there and frees its port.

use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, EnvironmentView, ForgeKind, ProjectView};
use ferry_engine::pipeline::{preview_environment, Pipeline};

use super::catalog;
use super::deployer::Requester;
use super::forge_events::{RequestChange, RequestEvent};
use super::Handles;
use crate::error::OrInternal;
use crate::store::{ForgeLinkRow, OpenPreview, PreviewRow};

/// Acts on a request's event (after the webhook was answered); says what was done.
pub async fn on_request(
    s: &Handles,
    forge: ForgeKind,
    link: &ForgeLinkRow,
    default_branch: Option<&str>,
    request: &RequestEvent,
) -> Result<String, AppError> {
    let project = s.store.project(link.project_id).await.or_internal("loading a project")?;
    let project = project.ok_or_else(|| AppError::not_found("the linked project is gone"))?;
    match request.change {
        RequestChange::Closed { .. } => close(s, &project, request.number).await,
        RequestChange::Opened | RequestChange::Pushed => {
            let default_branch = default_branch.filter(|b| !b.is_empty()).ok_or_else(|| {
                AppError::unprocessable("the payload names no default branch, whose ferry.yml decides previews")
            })?;
            open(s, forge, link, &project, default_branch, request).await
        }
    }
}

/// The ref a forge keeps a request's head under.
fn request_ref(forge: ForgeKind, number: u64) -> String {
    match forge {
        ForgeKind::Github => format!("refs/pull/{number}/head"),
        ForgeKind::Gitlab => format!("refs/merge-requests/{number}/head"),
    }
}

/// Opens or updates the preview, makes the release of the request's head and deploys it.
async fn open(
    s: &Handles,
    forge: ForgeKind,
    link: &ForgeLinkRow,
    project: &ProjectView,
    default_branch: &str,
    request: &RequestEvent,
) -> Result<String, AppError> {
    super::imports::refresh(s, project).await;
    let authorization = s.notifier.forges().git_authorization(link);
    let repo = project.repo_url.as_str();
    let rules_at = crate::git::fetch_branch(repo, default_branch, authorization.as_deref())
        .await
        .map_err(|why| AppError::unprocessable(format!("the default branch `{default_branch}`: {why}")))?;
    let (rules, _) = catalog::pipeline_at(repo, &rules_at).await.map_err(|e| {
        AppError::unprocessable(format!("the default branch has no valid ferry.yml, so no preview: {}", e.message))
    })?;
    let Some(spec) = rules.previews.as_ref() else {
        return Ok(format!("ferry.yml on `{default_branch}` has no `previews` section: no preview"));
    };
    let from_name = spec.from.as_str();
    let from = project.lifecycle().find(|e| e.name == from_name).ok_or_else(|| {
        AppError::unprocessable(format!("previews.from: project {} has no environment `{from_name}`", project.slug))
    })?;
    let number = request.number;
    let name = preview_environment(number);
    if project.environments.iter().any(|e| e.name == name && !e.is_preview()) {
        return Err(AppError::conflict(format!("project {} has an environment `{name}` of its own", project.slug)));
    }
    if let Some(row) = s.store.preview_by_number(project.id, number as i64).await.or_internal("loading a preview")? {
        if row.state == "closing" {
            return Ok(format!("#{number} is still being torn down: it opens again with its next push"));
        }
    }
    let head = crate::git::fetch_request(repo, &request_ref(forge, number), authorization.as_deref())
        .await
        .map_err(|why| AppError::unprocessable(format!("the request's head: {why}")))?;
    let (row, _) = s
        .store
        .open_preview(&OpenPreview {
            project_id: project.id,
            number: number as i64,
            from_environment_id: from.id,
            branch: &request.branch,
            default_branch,
            head_commit: &head,
            title: &request.title,
            author: &request.author,
            request_url: request.url.as_deref().unwrap_or_default(),
            from_fork: request.from_fork,
        })
        .await
        .or_internal("opening a preview")?;
    // The previews ahead of this one: those holding a port, and those that opened
    // first. Requests opening at the same moment so agree on which of them waits.
    let up = s.store.previews_up(project.id).await.or_internal("counting previews")?;
    let ahead = |p: &&PreviewRow| p.port.is_some() || (p.opened_at, p.number) < (row.opened_at, row.number);
    let others = up.iter().filter(|p| p.environment_id != row.environment_id).filter(ahead).count();
    let others = if row.port.is_some() { 0 } else { others };
    if others >= spec.max as usize {
        s.store.preview_waits(row.environment_id).await.or_internal("queueing a preview")?;
        return Ok(format!("#{number} waits for a place: {others} previews are up (previews.max {})", spec.max));
    }
    let port = match &spec.ports {
        Some(range) => {
            let claimed = s.store.claim_preview_port(row.environment_id, range.first, range.last).await;
            match claimed.or_internal("claiming a port")? {
                Some(port) => Some(port),
                None => {
                    s.store.preview_waits(row.environment_id).await.or_internal("queueing a preview")?;
                    return Ok(format!("#{number} waits for a place: every port of {range} is taken"));
                }
            }
        }
        None => None,
    };
    let from_spec = rules.environment(from_name).ok_or_else(AppError::internal)?;
    let settings = spec.settings(from_spec, number, port);
    let ttl = spec.ttl.0 as i64;
    s.store
        .set_preview_settings(row.environment_id, &settings.vars, settings.url.as_deref(), ttl)
        .await
        .or_internal("keeping a preview's settings")?;
    // Its end, should no push come for `ttl`: a job due then, on whichever replica.
    let expiry = Expiry { environment_id: row.environment_id, touched_at: row.touched_at };
    let payload = serde_json::to_string(&expiry).or_internal("queueing a preview's expiry")?;
    let key = format!("preview-expiry:{}:{}", row.environment_id, row.touched_at);
    s.store
        .enqueue_job(crate::jobs::PREVIEW_EXPIRY, &key, &payload, crate::store::JobOrder::Any)
        .await
        .or_internal("queueing a preview's expiry")?;
    crate::jobs::wake();
    let source = ferry_app::model::preview_release_source(forge.as_str(), number, &request.author);
    // A fork's branch is not the repository's: the forge knows the commit only.
    let git_ref = (!request.from_fork).then_some(request.branch.as_str());
    let existing = s.store.releases(project.id).await.or_internal("listing releases")?;
    let short = format!("pr-{number}-{}", &head[..7]);
    let release = match existing.iter().find(|r| r.version == short || r.version == format!("pr-{number}-{head}")) {
        Some(made) if made.git_commit == head => made.id,
        // Another head of this request with the same short hash: named in full.
        Some(_) => {
            catalog::create_release(&s.store, project, &format!("pr-{number}-{head}"), &head, &source, git_ref)
                .await?
                .id
        }
        None => catalog::create_release(&s.store, project, &short, &head, &source, git_ref).await?.id,
    };
    let version = short;
    let deploy = DeployRequest {
        project: project.slug.clone(),
        release_id: release,
        environment: preview_environment(number),
        allow_older: true,
        freeze_override: None,
    };
    let by = Requester { id: None, login: format!("{}:{}", forge.as_str(), request.author) };
    let started = s.deployer.start(deploy, &by).await?;
    let waits = if request.from_fork { " (from a fork: it waits for a deployer's approval)" } else { "" };
    Ok(format!("preview {}: release {version}, deployment {}{waits}", preview_environment(number), started.id))
}

/// A preview's end after `ttl` without a push (a job of the durable queue).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Expiry {
    pub environment_id: i64,
    /// The push it counts from: a later push queued its own.
    pub touched_at: i64,
}

/// Tears down a preview idle for its `ttl`, or waits until then.
pub async fn expire(s: &Handles, expiry: Expiry) -> Result<crate::jobs::JobEnd, String> {
    use crate::jobs::JobEnd;
    let row = s.store.preview(expiry.environment_id).await.map_err(|e| e.to_string())?;
    let Some(row) = row.filter(|r| r.state == "open" && r.touched_at == expiry.touched_at) else {
        return Ok(JobEnd::Done);
    };
    let due = row.touched_at + row.ttl_seconds * 1000;
    if crate::store::now_millis() < due {
        return Ok(JobEnd::RetryAt(due, "the preview is not idle for its ttl yet".into()));
    }
    let project = s.store.project(row.project_id).await.map_err(|e| e.to_string())?;
    let Some(project) = project else { return Ok(JobEnd::Done) };
    if s.store.close_preview(row.environment_id).await.map_err(|e| e.to_string())? {
        tracing::info!(project = %project.slug, preview = row.number, "a preview idle for its ttl is torn down");
        cancel_waiting(s, row.environment_id).await.map_err(|e| e.message)?;
        teardown(s, &project, &row).await.map_err(|e| e.message)?;
    }
    Ok(JobEnd::Done)
}

/// Gives the places previews left to the project's longest waiting ones (a job of the
/// durable queue, after a teardown), until one has to wait again.
pub async fn fill_places(s: &Handles, project_id: i64) -> Result<crate::jobs::JobEnd, String> {
    use crate::jobs::JobEnd;
    let (Some(project), Some(link)) = (
        s.store.project(project_id).await.map_err(|e| e.to_string())?,
        s.store.forge_link(project_id).await.map_err(|e| e.to_string())?,
    ) else {
        return Ok(JobEnd::Done);
    };
    let Some(forge) = ForgeKind::parse(&link.forge) else { return Ok(JobEnd::Done) };
    for row in s.store.previews_waiting(project_id).await.map_err(|e| e.to_string())? {
        let request = RequestEvent {
            number: row.number as u64,
            change: RequestChange::Opened,
            commit: row.head_commit.clone(),
            branch: row.branch.clone(),
            from_fork: row.from_fork != 0,
            author: row.author.clone(),
            title: row.title.clone(),
            url: Some(row.request_url.clone()).filter(|u| !u.is_empty()),
        };
        let outcome = open(s, forge, &link, &project, &row.default_branch, &request).await.map_err(|e| e.message)?;
        tracing::info!(project = %project.slug, preview = row.number, outcome, "a waiting preview's turn");
        let now = s.store.preview(row.environment_id).await.map_err(|e| e.to_string())?;
        if now.is_none_or(|r| r.state == "waiting") {
            break;
        }
    }
    Ok(JobEnd::Done)
}

/// Marks the preview closed and tears it down: what waits is cancelled, and the
/// release last deployed there runs its teardown. A preview nothing ever reached is
/// retired at once.
async fn close(s: &Handles, project: &ProjectView, number: u64) -> Result<String, AppError> {
    let Some(row) = s.store.preview_by_number(project.id, number as i64).await.or_internal("loading a preview")? else {
        return Ok(format!("#{number} has no preview"));
    };
    if !s.store.close_preview(row.environment_id).await.or_internal("closing a preview")? {
        return Ok(format!("the preview of #{number} is closed already"));
    }
    cancel_waiting(s, row.environment_id).await?;
    teardown(s, project, &row).await
}

/// Cancels what waits to deploy to a closing preview.
async fn cancel_waiting(s: &Handles, environment_id: i64) -> Result<(), AppError> {
    let waiting = s.store.waiting_in_environment(environment_id).await.or_internal("finding waiting work")?;
    for id in waiting {
        // It may have started meanwhile; the teardown then follows it.
        let _ = s.deployer.cancel(id).await;
    }
    Ok(())
}

/// Records the teardown deployment of a closing preview.
pub async fn teardown(s: &Handles, project: &ProjectView, row: &PreviewRow) -> Result<String, AppError> {
    let environment = environment(project, row)?;
    let last = s.store.teardown_release(row.environment_id).await.or_internal("loading a preview")?;
    let Some(last) = last else {
        s.store.retire_preview(row.environment_id).await.or_internal("retiring a preview")?;
        return Ok(format!("preview pr-{} closed (nothing was deployed there)", row.number));
    };
    let release = s.store.release(last).await.or_internal("loading a release")?;
    let release = release.ok_or_else(|| AppError::not_found("the preview's release is gone"))?;
    let by = Requester { id: None, login: "ferry".into() };
    let started = s.deployer.start_teardown(project, &environment, &release, &by).await?;
    Ok(format!("preview pr-{} closed; teardown {}", row.number, started.id))
}

fn environment(project: &ProjectView, row: &PreviewRow) -> Result<EnvironmentView, AppError> {
    project
        .environments
        .iter()
        .find(|e| e.id == row.environment_id)
        .cloned()
        .ok_or_else(|| AppError::not_found(format!("the preview of #{} is gone", row.number)))
}

/// The pipeline a deployment to `environment` plans with: the release's own, with the
/// preview's environment added when it is one (its settings were fixed when the
/// request opened).
pub async fn pipeline_for(
    store: &crate::store::Store,
    release: &crate::store::ReleaseRow,
    environment_id: i64,
    environment: &str,
) -> Result<Pipeline, AppError> {
    let pipeline = Pipeline::parse(ferry_engine::pipeline::PIPELINE_FILE, &release.pipeline)
        .map_err(|e| AppError::unprocessable(e.to_string()))?;
    // A preview's settings replace whatever the request's own file declares by its name.
    let Some(row) = store.preview(environment_id).await.or_internal("loading a preview")? else {
        return Ok(pipeline);
    };
    let settings = ferry_engine::pipeline::PreviewSettings { vars: row.vars(), url: row.url.clone() };
    pipeline.with_preview(environment, &settings).map_err(AppError::unprocessable)
}
