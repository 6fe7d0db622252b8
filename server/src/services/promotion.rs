//! The promotion rule and the promotion preview. A release enters an environment only
//! after it succeeded in the environment before it in the lifecycle; the first
//! environment takes any release.

use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, EnvironmentView, ProjectView, PromotionPreview, Protection};

use super::catalog;
use crate::error::OrInternal;
use crate::git;
use crate::store::{ReleaseRow, Store};

/// Most commits a preview lists in each direction.
const PREVIEW_COMMITS: usize = 50;

/// Refuses a deployment the lifecycle does not allow yet, saying what to do instead.
pub async fn check(
    store: &Store,
    project: &ProjectView,
    release: &ReleaseRow,
    environment: &EnvironmentView,
) -> Result<(), AppError> {
    refuse_bad(release)?;
    // A preview is outside the lifecycle: it takes its request's releases.
    if environment.is_preview() {
        return Ok(());
    }
    let Some(previous) = project.lifecycle().filter(|e| e.position < environment.position).last() else {
        return Ok(());
    };
    if store.succeeded_in(release.id, previous.id).await.or_internal("checking the promotion rule")? {
        Ok(())
    } else {
        Err(AppError::conflict(format!(
            "release {} has not succeeded in {} yet; deploy it there before {}",
            release.version, previous.name, environment.name
        )))
    }
}

/// A release older than the one live in the environment is refused unless the request
/// says it means it, so an older release never replaces a newer one by accident.
pub async fn refuse_older(store: &Store, release: &ReleaseRow, environment: &EnvironmentView) -> Result<(), AppError> {
    match newer_live(store, release, environment).await? {
        Some(live) => Err(AppError::conflict(format!(
            "release {} is older than {live}, which is live in {}; roll back to it, or deploy it with \
             allow_older to replace the newer release",
            release.version, environment.name
        ))),
        None => Ok(()),
    }
}

/// The version live in the environment when it is newer (created later) than `release`.
pub async fn newer_live(
    store: &Store,
    release: &ReleaseRow,
    environment: &EnvironmentView,
) -> Result<Option<String>, AppError> {
    let live = store.latest_in_environment(environment.id, true).await.or_internal("loading the live release")?;
    Ok(live.filter(|d| d.release_id > release.id).map(|d| d.release_version))
}

/// A release marked bad goes nowhere new.
fn refuse_bad(release: &ReleaseRow) -> Result<(), AppError> {
    match release.view().bad {
        Some(bad) => Err(AppError::conflict(format!(
            "release {} was marked bad by {}: {}; clear the mark to deploy it",
            release.version, bad.by, bad.reason
        ))),
        None => Ok(()),
    }
}

/// A rollback goes only to a release that once ran successfully in the environment.
pub async fn check_rollback(
    store: &Store,
    release: &ReleaseRow,
    environment: &EnvironmentView,
) -> Result<(), AppError> {
    refuse_bad(release)?;
    if store.succeeded_in(release.id, environment.id).await.or_internal("checking the rollback rule")? {
        Ok(())
    } else {
        Err(AppError::conflict(format!(
            "release {} never ran successfully in {}; deploy it instead of rolling back",
            release.version, environment.name
        )))
    }
}

/// What deploying (or, with `rollback`, rolling back to) a release would change.
pub async fn preview(store: &Store, request: &DeployRequest, rollback: bool) -> Result<PromotionPreview, AppError> {
    let (project, environment, release) = catalog::resolve_target(store, request).await?;
    let allowed = match rollback {
        true => check_rollback(store, &release, &environment).await,
        false => check(store, &project, &release, &environment).await,
    };
    let blocked = allowed.err().map(|e| e.message);
    let older_than_live = !rollback && newer_live(store, &release, &environment).await?.is_some();
    let live = store.latest_in_environment(environment.id, true).await.or_internal("loading the live release")?;
    let live_release = match &live {
        Some(d) => store.release(d.release_id).await.or_internal("loading the live release")?,
        None => None,
    };
    let from = live_release.as_ref().map(|r| r.git_commit.as_str());
    let added = git::commits_between(&project.repo_url, from, &release.git_commit, PREVIEW_COMMITS)
        .await
        .or_internal("reading the changelog")?;
    let removed = match from {
        Some(from) => git::commits_between(&project.repo_url, Some(&release.git_commit), from, PREVIEW_COMMITS)
            .await
            .or_internal("reading the changelog")?,
        None => Vec::new(),
    };
    Ok(PromotionPreview {
        project: project.slug,
        environment: environment.name,
        release: release.view(),
        replaces: live_release.map(|r| r.version),
        added,
        removed,
        blocked,
        older_than_live,
        frozen: None,
        protection: if rollback { Protection::default() } else { environment.protection },
    })
}
