//! Every operation a person or token can ask for, with its authorization check and
//! its audit record. REST handlers and server functions both come through here, so
//! the two surfaces cannot disagree about who may do what.

use std::collections::HashSet;

use ferry_app::error::AppError;
use ferry_app::model::{
    CreateRelease, DeployRequest, DeploymentDetail, DeploymentView, EnvironmentView, Event, HistoryFilter, Insights,
    LogLineView, Matrix, NotificationList, NotifyPreferences, ProjectView, PromotionPreview, ReleaseDetail,
    ReleaseView, Role, LOG_PAGE_LINES,
};
use serde_json::json;

use super::deployer::Requester;
use super::Handles;
use super::{approvals, audit, catalog, freezes, insights, promotion};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::notify::center;

/// The project named by `slug`, if the caller has `needed` on it.
pub async fn project(s: &Handles, c: &Caller, slug: &str, needed: Role, what: &str) -> Result<ProjectView, AppError> {
    let project = catalog::project(&s.store, slug).await?;
    c.require(project.id, needed, what)?;
    Ok(project)
}

/// The deployment `id`, if the caller has `needed` on its project.
pub async fn deployment(
    s: &Handles,
    c: &Caller,
    id: i64,
    needed: Role,
    what: &str,
) -> Result<DeploymentView, AppError> {
    let deployment = s.store.deployment(id).await.or_internal("loading a deployment")?;
    let deployment = deployment.ok_or_else(|| AppError::not_found(format!("no deployment {id}")))?;
    c.require(deployment.project_id, needed, what)?;
    Ok(deployment)
}

pub async fn projects(s: &Handles, c: &Caller) -> Result<Vec<ProjectView>, AppError> {
    let all = s.store.projects().await.or_internal("listing projects")?;
    Ok(all.into_iter().filter(|p| c.can_view(p.id)).collect())
}

pub async fn matrix(s: &Handles, c: &Caller) -> Result<Matrix, AppError> {
    catalog::matrix(&s.store, |p| c.can_view(p.id)).await
}

pub async fn create_project(
    s: &Handles,
    c: &Caller,
    slug: &str,
    name: &str,
    repo_url: &str,
) -> Result<ProjectView, AppError> {
    c.require_global(Role::Admin, "creating a project")?;
    let project = catalog::create_project(&s.store, slug, name, repo_url, None).await?;
    audit::record(&s.store, c, "project.create", slug, json!({"name": name, "repo_url": repo_url})).await;
    Ok(project)
}

pub async fn releases(s: &Handles, c: &Caller, slug: &str) -> Result<Vec<ReleaseView>, AppError> {
    let project = project(s, c, slug, Role::Viewer, "listing releases").await?;
    catalog::releases(&s.store, &project).await
}

pub async fn create_release(
    s: &Handles,
    c: &Caller,
    slug: &str,
    body: &CreateRelease,
) -> Result<ReleaseView, AppError> {
    let project = project(s, c, slug, Role::Deployer, "creating a release").await?;
    super::imports::refresh(s, &project).await;
    let release = catalog::create_release(&s.store, &project, &body.version, &body.git_commit, &c.login, None).await?;
    let detail = json!({"version": release.version, "commit": release.git_commit});
    audit::record(&s.store, c, "release.create", &format!("{slug}@{}", release.version), detail).await;
    Ok(release)
}

pub async fn release(s: &Handles, c: &Caller, id: i64) -> Result<ReleaseDetail, AppError> {
    let detail = catalog::release_detail(&s.store, id).await?;
    c.require(detail.project.id, Role::Viewer, "viewing a release")?;
    Ok(detail)
}

pub async fn deployment_detail(s: &Handles, c: &Caller, id: i64) -> Result<DeploymentDetail, AppError> {
    let deployment = deployment(s, c, id, Role::Viewer, "viewing a deployment").await?;
    let steps = s.store.steps(id).await.or_internal("loading steps")?;
    let targets = s.store.targets(id).await.or_internal("loading hosts")?;
    let logs = s.store.logs(id, 0, LOG_PAGE_LINES).await.or_internal("loading logs")?;
    let approval = approvals::status(s, c, &deployment).await?;
    let log_removed_at =
        s.store.log_removed_at(id).await.or_internal("loading the deployment")?.map(crate::store::to_time);
    Ok(DeploymentDetail { deployment, steps, targets, logs, approval, log_removed_at })
}

/// Up to `limit` log lines of deployment `id` after sequence number `after`.
pub async fn log_page(s: &Handles, c: &Caller, id: i64, after: i64, limit: i64) -> Result<Vec<LogLineView>, AppError> {
    deployment(s, c, id, Role::Viewer, "reading logs").await?;
    s.store.logs(id, after.max(0), limit).await.or_internal("loading logs")
}

/// Deploying needs the deploy role of the environment (deployer, unless it is
/// protected with a higher one).
async fn require_deploy_role(
    s: &Handles,
    c: &Caller,
    request: &DeployRequest,
    what: &str,
) -> Result<Option<EnvironmentView>, AppError> {
    let project = project(s, c, &request.project, Role::Deployer, what).await?;
    match project.environments.into_iter().find(|e| e.name == request.environment) {
        Some(env) => {
            c.require(project.id, env.protection.deploy_role, &format!("{what} to {}", env.name))?;
            Ok(Some(env))
        }
        // An unknown environment is answered by the deployer, with the others.
        None => Ok(None),
    }
}

fn requester(c: &Caller) -> Requester {
    Requester { id: Some(c.user_id), login: c.login.clone() }
}

pub async fn deploy(s: &Handles, c: &Caller, mut request: DeployRequest) -> Result<DeploymentView, AppError> {
    // Rollbacks are not frozen: they are how an incident ends.
    let overrides = match require_deploy_role(s, c, &request, "deploying").await? {
        Some(environment) => freezes::enforce(s, c, &request, &environment).await?,
        None => false,
    };
    if !overrides {
        request.freeze_override = None;
    }
    let started = s.deployer.start(request, &requester(c)).await?;
    audit::record(&s.store, c, "deployment.start", &target(&started), json!({"deployment": started.id})).await;
    Ok(started)
}

pub async fn rollback(s: &Handles, c: &Caller, request: DeployRequest) -> Result<DeploymentView, AppError> {
    require_deploy_role(s, c, &request, "rolling back").await?;
    let started = s.deployer.start_rollback(request, &requester(c)).await?;
    audit::record(&s.store, c, "rollback.start", &target(&started), json!({"deployment": started.id})).await;
    Ok(started)
}

pub async fn preview(
    s: &Handles,
    c: &Caller,
    request: &DeployRequest,
    rollback: bool,
) -> Result<PromotionPreview, AppError> {
    project(s, c, &request.project, Role::Viewer, "previewing a deployment").await?;
    let mut preview = promotion::preview(&s.store, request, rollback).await?;
    if !rollback {
        let (_, environment, _) = catalog::resolve_target(&s.store, request).await?;
        preview.frozen = freezes::active(&s.store, &environment).await?;
    }
    Ok(preview)
}

pub async fn cancel(s: &Handles, c: &Caller, id: i64) -> Result<DeploymentView, AppError> {
    deployment(s, c, id, Role::Deployer, "cancelling a deployment").await?;
    let cancelled = s.deployer.cancel(id).await?;
    audit::record(&s.store, c, "deployment.cancel", &target(&cancelled), json!({"deployment": id})).await;
    Ok(cancelled)
}

fn target(d: &DeploymentView) -> String {
    format!("{}/{}@{}", d.project, d.environment, d.release_version)
}

pub async fn history(s: &Handles, c: &Caller, filter: &HistoryFilter) -> Result<Vec<DeploymentView>, AppError> {
    if !(1..=500).contains(&filter.limit.unwrap_or(50)) {
        return Err(AppError::bad_request("limit: must be between 1 and 500"));
    }
    let mut rows = s.store.history(filter).await.or_internal("listing deployments")?;
    rows.retain(|d| c.can_view(d.project_id));
    Ok(rows)
}

pub async fn insights(s: &Handles, c: &Caller, project: Option<&str>, days: i64) -> Result<Insights, AppError> {
    if let Some(slug) = project {
        self::project(s, c, slug, Role::Viewer, "viewing insights").await?;
    }
    let visible: Option<HashSet<String>> = match c.sees_everything() {
        true => None,
        false => Some(projects(s, c).await?.into_iter().map(|p| p.slug).collect()),
    };
    insights::insights(&s.store, project, days, |slug| visible.as_ref().is_none_or(|v| v.contains(slug))).await
}

pub async fn notifications(s: &Handles, c: &Caller) -> Result<NotificationList, AppError> {
    center::list(&s.store, c).await
}

pub async fn mark_read(s: &Handles, c: &Caller, ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
    center::mark_read(&s.store, &s.bus, c, ids).await
}

pub async fn notify_preferences(s: &Handles, c: &Caller) -> Result<NotifyPreferences, AppError> {
    center::preferences(&s.store, c, s.notifier.personal_email()).await
}

pub async fn set_notify_preferences(
    s: &Handles,
    c: &Caller,
    wanted: &NotifyPreferences,
) -> Result<NotifyPreferences, AppError> {
    center::set_preferences(&s.store, c, wanted, s.notifier.personal_email()).await
}

/// Stored events after `after`, less those about projects the caller cannot see.
pub async fn events(s: &Handles, c: &Caller, after: i64, limit: i64) -> Result<Vec<Event>, AppError> {
    let mut events = s.store.events_after(after, limit).await.or_internal("loading events")?;
    if !c.sees_everything() {
        let mut visibility = super::visibility::Visibility::new(c.clone());
        let mut kept = Vec::with_capacity(events.len());
        for event in events {
            if visibility.allows(s, &event.payload).await? {
                kept.push(event);
            }
        }
        events = kept;
    }
    Ok(events)
}
