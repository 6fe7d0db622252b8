//! Deploy freeze windows: listed by viewers, added and removed by maintainers, and
//! enforced when a deployment is asked for. During a freeze only an admin can deploy,
//! by overriding it with a reason, which the audit log keeps.

use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, EnvironmentView, FreezeView, NewFreeze, Role};
use serde_json::json;

use super::Handles;
use super::{audit, gate};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::Store;

pub async fn list(s: &Handles, c: &Caller, slug: &str) -> Result<Vec<FreezeView>, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "listing freeze windows").await?;
    s.store.freezes(project.id).await.or_internal("listing freeze windows")
}

pub async fn add(s: &Handles, c: &Caller, slug: &str, freeze: &NewFreeze) -> Result<FreezeView, AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "adding a freeze window").await?;
    let environment = project
        .lifecycle()
        .find(|e| e.name == freeze.environment)
        .ok_or_else(|| AppError::not_found(format!("project `{slug}` has no environment `{}`", freeze.environment)))?;
    freeze.window.check().map_err(AppError::bad_request)?;
    let reason = freeze.reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(AppError::bad_request("reason: say why, in at most 500 characters"));
    }
    let id =
        s.store.add_freeze(environment.id, &freeze.window, reason, &c.login).await.or_internal("adding a freeze")?;
    let detail = json!({"window": freeze.window, "reason": reason});
    audit::record(&s.store, c, "freeze.add", &format!("{slug}/{}", environment.name), detail).await;
    let listed = s.store.freezes(project.id).await.or_internal("listing freeze windows")?;
    listed.into_iter().find(|f| f.id == id).ok_or_else(|| AppError::not_found("the freeze window vanished"))
}

pub async fn remove(s: &Handles, c: &Caller, slug: &str, id: i64) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "removing a freeze window").await?;
    if !s.store.remove_freeze(project.id, id).await.or_internal("removing a freeze")? {
        return Err(AppError::not_found(format!("project `{slug}` has no freeze window {id}")));
    }
    audit::record(&s.store, c, "freeze.remove", &format!("{slug}#{id}"), json!({})).await;
    Ok(())
}

/// The message a deployment into an active freeze is refused with, if one is active.
pub async fn active(store: &Store, environment: &EnvironmentView) -> Result<Option<String>, AppError> {
    let now = chrono::Utc::now();
    let active = store.active_freezes(environment.id, now).await.or_internal("checking freeze windows")?;
    let Some(latest_end) = active.iter().map(|f| f.window.ends_after(now)).max() else { return Ok(None) };
    let reasons: Vec<&str> = active.iter().map(|f| f.reason.as_str()).collect();
    Ok(Some(format!(
        "{} is frozen until {} ({}); an admin can override the freeze with a reason",
        environment.name,
        latest_end.format("%Y-%m-%d %H:%M UTC"),
        reasons.join("; ")
    )))
}

/// Refuses a deployment into an active freeze, unless an admin overrides it with a
/// reason (recorded in the audit log). Whether the request carries an authorized
/// override: one given where no freeze is active counts for nothing, so it cannot
/// carry a deployment that waits through a freeze that starts later.
pub async fn enforce(
    s: &Handles,
    c: &Caller,
    request: &DeployRequest,
    environment: &EnvironmentView,
) -> Result<bool, AppError> {
    let Some(frozen) = active(&s.store, environment).await? else { return Ok(false) };
    let Some(reason) = request.freeze_override.as_deref() else { return Err(AppError::conflict(frozen)) };
    c.require_global(Role::Admin, "overriding a deploy freeze")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_request("freeze_override: give the reason for deploying during the freeze"));
    }
    let target = format!("{}/{}", request.project, environment.name);
    audit::record(&s.store, c, "freeze.override", &target, json!({"reason": reason, "freeze": frozen})).await;
    Ok(true)
}
