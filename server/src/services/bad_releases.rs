//! "Prevent progression": marking a release bad (any deployer of the project may stop
//! the line) and clearing the mark (maintainers). While marked, the release is
//! neither promoted nor rolled back to; where it already runs, it stays.

use ferry_app::error::AppError;
use ferry_app::model::{ReleaseView, Role};
use serde_json::json;

use super::audit;
use super::Handles;
use crate::auth::Caller;
use crate::error::OrInternal;

/// Marks the release bad with `Some(reason)`, or clears the mark with `None`.
pub async fn mark(s: &Handles, c: &Caller, id: i64, reason: Option<&str>) -> Result<ReleaseView, AppError> {
    let release = s.store.release(id).await.or_internal("loading a release")?;
    let release = release.ok_or_else(|| AppError::not_found(format!("no release {id}")))?;
    let target = format!("release {}", release.version);
    match reason.map(str::trim) {
        Some(reason) => {
            c.require(release.project_id, Role::Deployer, "marking a release bad")?;
            if reason.is_empty() || reason.len() > 500 {
                return Err(AppError::bad_request("reason: say why, in 1-500 characters"));
            }
            s.store.set_release_bad(id, Some((reason, &c.login))).await.or_internal("marking a release")?;
            audit::record(&s.store, c, "release.bad", &target, json!({"release": id, "reason": reason})).await;
        }
        None => {
            c.require(release.project_id, Role::Maintainer, "clearing a release's bad mark")?;
            let before = release.view().bad.map(|b| b.reason);
            s.store.set_release_bad(id, None).await.or_internal("clearing a mark")?;
            audit::record(&s.store, c, "release.cleared", &target, json!({"release": id, "before": before})).await;
        }
    }
    let release = s.store.release(id).await.or_internal("loading a release")?.ok_or_else(AppError::internal)?;
    Ok(release.view())
}
