//! Protected environments: their settings, and the approval of deployments waiting
//! for them. Approvers need the environment's deploy role; nobody approves their own
//! deployment; one rejection ends it; the last approval queues it (after the wait
//! timer, if any).

use ferry_app::error::AppError;
use ferry_app::model::{ApprovalStatus, DeploymentState, DeploymentView, EnvironmentView, Protection, Role};
use serde_json::json;

use super::Handles;
use super::{audit, gate};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::{is_unique_violation, now_millis};

async fn environment_of(s: &Handles, d: &DeploymentView) -> Result<EnvironmentView, AppError> {
    let project =
        s.store.project(d.project_id).await.or_internal("loading a project")?.ok_or_else(AppError::internal)?;
    project.environments.into_iter().find(|e| e.id == d.environment_id).ok_or_else(AppError::internal)
}

/// The approval state of a deployment, for deployments that need (or got) approvals.
pub async fn status(s: &Handles, c: &Caller, d: &DeploymentView) -> Result<Option<ApprovalStatus>, AppError> {
    let decisions = s.store.decisions(d.id).await.or_internal("loading approvals")?;
    let environment = environment_of(s, d).await?;
    let protection = environment.protection;
    if protection.required_approvals == 0 && decisions.is_empty() {
        return Ok(None);
    }
    let requester = s.store.requested_by_id(d.id).await.or_internal("loading a deployment")?;
    let mut approvers = Vec::new();
    for user in s.store.users().await.or_internal("listing users")? {
        let membership = s.store.memberships_of(user.id).await.or_internal("loading memberships")?;
        let on_project = membership.iter().find(|(p, _)| *p == d.project_id).map(|(_, r)| *r).unwrap_or(Role::None);
        if Some(user.id) != requester && user.role().max(on_project) >= protection.deploy_role {
            approvers.push(user.login);
        }
    }
    let decided = decisions.iter().any(|x| x.login == c.login);
    let you_may_decide = d.state == DeploymentState::AwaitingApproval
        && Some(c.user_id) != requester
        && !decided
        && c.role_on(d.project_id) >= protection.deploy_role;
    Ok(Some(ApprovalStatus {
        required: protection.required_approvals,
        wait_minutes: protection.wait_minutes,
        decisions,
        approvers,
        you_may_decide,
    }))
}

/// Approves or rejects a waiting deployment.
pub async fn decide(
    s: &Handles,
    c: &Caller,
    id: i64,
    approve: bool,
    comment: Option<&str>,
) -> Result<DeploymentView, AppError> {
    let what = if approve { "approving a deployment" } else { "rejecting a deployment" };
    let d = gate::deployment(s, c, id, Role::Deployer, what).await?;
    let protection = environment_of(s, &d).await?.protection;
    c.require(d.project_id, protection.deploy_role, what)?;
    if d.state != DeploymentState::AwaitingApproval {
        return Err(AppError::conflict(format!("deployment {id} is {}, not waiting for approval", d.state)));
    }
    if s.store.requested_by_id(id).await.or_internal("loading a deployment")? == Some(c.user_id) {
        return Err(AppError::forbidden("you asked for this deployment: someone else must approve it"));
    }
    let comment = comment.map(str::trim).filter(|t| !t.is_empty());
    if comment.is_some_and(|t| t.len() > 1000) {
        return Err(AppError::bad_request("comment: at most 1000 characters"));
    }
    match s.store.add_decision(id, c.user_id, &c.login, approve, comment).await {
        Err(e) if is_unique_violation(&e) => return Err(AppError::conflict("you already decided on this deployment")),
        other => other.or_internal("recording a decision")?,
    }
    let action = if approve { "deployment.approve" } else { "deployment.reject" };
    let target = format!("{}/{}@{}", d.project, d.environment, d.release_version);
    audit::record(&s.store, c, action, &target, json!({"deployment": id, "comment": comment})).await;
    if !approve {
        let reason = format!("rejected by {}{}", c.login, comment.map(|t| format!(": {t}")).unwrap_or_default());
        s.deployer.transition(id, DeploymentState::AwaitingApproval, DeploymentState::Cancelled, Some(&reason)).await?;
    } else {
        let approvals =
            s.store.decisions(id).await.or_internal("loading approvals")?.iter().filter(|x| x.approved).count();
        if approvals as i64 >= protection.required_approvals {
            let not_before = (protection.wait_minutes > 0).then(|| now_millis() + protection.wait_minutes * 60_000);
            s.store.schedule_deployment(id, not_before).await.or_internal("scheduling a deployment")?;
            s.deployer.transition(id, DeploymentState::AwaitingApproval, DeploymentState::Queued, None).await?;
            s.deployer.wake();
        }
    }
    gate::deployment(s, c, id, Role::Viewer, what).await
}

/// Changes how an environment is protected (maintainers of the project).
pub async fn protect(
    s: &Handles,
    c: &Caller,
    slug: &str,
    environment: &str,
    protection: Protection,
) -> Result<EnvironmentView, AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "protecting an environment").await?;
    // A preview's protection follows its request (a fork's code waits for approval).
    let env = project.lifecycle().find(|e| e.name == environment);
    let env = env.ok_or_else(|| AppError::not_found(format!("project `{slug}` has no environment `{environment}`")))?;
    if let Some(problem) = protection.problem() {
        return Err(AppError::bad_request(problem));
    }
    s.store.set_protection(env.id, &protection).await.or_internal("protecting an environment")?;
    let detail = json!({"before": env.protection, "after": protection});
    audit::record(&s.store, c, "environment.protect", &format!("{slug}/{environment}"), detail).await;
    Ok(EnvironmentView { protection, ..env.clone() })
}
