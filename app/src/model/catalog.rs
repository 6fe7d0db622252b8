//! Projects, environments, releases and their changelogs, and requests to deploy them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DeploymentView;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub repo_url: String,
    /// In lifecycle order.
    pub environments: Vec<EnvironmentView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentView {
    pub id: i64,
    pub name: String,
    pub position: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub git_commit: String,
    /// Where the release came from, e.g. `demo`, `api`.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Project slug.
    pub project: String,
    pub release_id: i64,
    /// Environment name.
    pub environment: String,
}

/// A release, where it has been, and what it changed since the release before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseDetail {
    pub project: ProjectView,
    pub release: ReleaseView,
    pub previous: Option<ReleaseView>,
    /// Commits since the previous release (newest first).
    pub changelog: Vec<CommitView>,
    /// Every deployment of this release, newest first.
    pub deployments: Vec<DeploymentView>,
}

/// One commit of a changelog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommitView {
    pub sha: String,
    pub author: String,
    pub subject: String,
}

/// What promoting a release to an environment would change, shown before confirming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromotionPreview {
    pub project: String,
    pub environment: String,
    pub release: ReleaseView,
    /// The version live there now, if any.
    pub replaces: Option<String>,
    /// Commits the environment gains (newest first).
    pub added: Vec<CommitView>,
    /// Commits it loses, when going back to an older release.
    pub removed: Vec<CommitView>,
    /// Why the promotion is not allowed, if it is not.
    pub blocked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateRelease {
    pub version: String,
    /// Full or abbreviated commit of the project's repository.
    pub git_commit: String,
}
