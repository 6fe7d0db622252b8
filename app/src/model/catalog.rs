//! Projects, environments, releases and their changelogs, and requests to deploy them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Role;

use super::DeploymentView;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub repo_url: String,
    /// For a project Ferry imported: where its repository is fetched from (`repo_url`
    /// is then Ferry's own mirror of it).
    #[serde(default)]
    pub repo_origin: Option<String>,
    /// In lifecycle order, then the open previews by number.
    pub environments: Vec<EnvironmentView>,
    /// Where releases are built, by agent label (`role=builder`); empty: the agent
    /// built into the server.
    #[serde(default)]
    pub build_selector: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentView {
    pub id: i64,
    pub name: String,
    pub position: i32,
    pub protection: Protection,
    /// The agents it deploys to, by label (`env=staging,role=web`); empty: the agent
    /// built into the server.
    pub agent_selector: String,
    /// Set for a pull or merge request's preview (`pr-<number>`), which is outside the
    /// lifecycle and borrows another environment's hosts and variables.
    #[serde(default)]
    pub preview: Option<PreviewInfo>,
}

impl EnvironmentView {
    pub fn is_preview(&self) -> bool {
        self.preview.is_some()
    }
}

/// A preview environment's request, and what it runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewInfo {
    /// The pull or merge request's number.
    pub number: i64,
    /// The environment whose hosts and variables it uses.
    pub from: String,
    pub from_id: i64,
    /// Its own port, while it holds one.
    pub port: Option<i64>,
    /// Where it is reached.
    pub url: Option<String>,
    pub branch: String,
    pub title: String,
    pub author: String,
    /// The request on the forge.
    pub request_url: String,
    /// The request's code comes from a fork: each of its deployments waits for a
    /// deployer's approval.
    pub from_fork: bool,
    /// `open`, or `closed` once its request closed (it is then torn down).
    pub state: String,
}

impl ProjectView {
    /// The environment whose variables and hosts `environment` uses: a preview's
    /// `from`, or itself.
    pub fn settings_of<'a>(&'a self, environment: &'a str) -> &'a str {
        self.environments
            .iter()
            .find(|e| e.name == environment)
            .and_then(|e| e.preview.as_ref())
            .map(|p| p.from.as_str())
            .unwrap_or(environment)
    }

    /// The environments of the lifecycle, in order (previews left out).
    pub fn lifecycle(&self) -> impl Iterator<Item = &EnvironmentView> {
        self.environments.iter().filter(|e| !e.is_preview())
    }
}

/// How an environment is protected: who may deploy to it, how many people must
/// approve a deployment (never the one who asked for it), and how long an approved
/// deployment then waits before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Protection {
    pub deploy_role: Role,
    pub required_approvals: i64,
    pub wait_minutes: i64,
}

impl Default for Protection {
    fn default() -> Self {
        Self { deploy_role: Role::Deployer, required_approvals: 0, wait_minutes: 0 }
    }
}

impl Protection {
    pub fn is_protected(&self) -> bool {
        *self != Self::default()
    }

    /// The first field with a value out of range, as `field: message`.
    pub fn problem(&self) -> Option<String> {
        if self.deploy_role < Role::Deployer {
            return Some("deploy_role: must be deployer, maintainer or admin".into());
        }
        if !(0..=10).contains(&self.required_approvals) {
            return Some("required_approvals: must be between 0 and 10".into());
        }
        if !(0..=1440).contains(&self.wait_minutes) {
            return Some("wait_minutes: must be between 0 and 1440 (a day)".into());
        }
        None
    }
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
    /// Set when someone marked the release bad: it is promoted nowhere until cleared.
    pub bad: Option<BadMark>,
    /// The SHA-256 of its artifact, once built: every environment gets these same bytes.
    #[serde(default)]
    pub artifact_sha256: Option<String>,
}

impl ReleaseView {
    /// Made from a pull or merge request for its preview (see [`preview_release_source`]).
    pub fn is_preview(&self) -> bool {
        self.source.contains(PREVIEW_SOURCE)
    }
}

/// The environment a notification rule names to route every preview's events.
pub const PREVIEWS_RULE: &str = "previews";

const PREVIEW_SOURCE: &str = " request #";

/// The `source` of a release made for request `number`'s preview.
pub fn preview_release_source(forge: &str, number: u64, author: &str) -> String {
    format!("{forge}{PREVIEW_SOURCE}{number} by {author}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BadMark {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Why a release is being marked bad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkBad {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Project slug.
    pub project: String,
    pub release_id: i64,
    /// Environment name.
    pub environment: String,
    /// Deploy it even though a newer release is live there (otherwise refused, so an
    /// older release never replaces a newer one by accident).
    #[serde(default)]
    pub allow_older: bool,
    /// Deploy even though a freeze window is active: an admin's reason, kept in the
    /// audit log.
    #[serde(default)]
    pub freeze_override: Option<String>,
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
    /// What its `ferry.yml` does that still works but should change (old spellings).
    #[serde(default)]
    pub pipeline_warnings: Vec<String>,
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
    /// The release is older than the one live there: deploying it needs `allow_older`.
    #[serde(default)]
    pub older_than_live: bool,
    /// Why the environment is frozen now, if it is: deploying needs an admin's override.
    #[serde(default)]
    pub frozen: Option<String>,
    /// How the target environment is protected (approvals needed, wait timer).
    pub protection: Protection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateRelease {
    pub version: String,
    /// Full or abbreviated commit of the project's repository.
    pub git_commit: String,
}

/// How many days a project's finished deployments' logs and its finished deliveries
/// are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Retention {
    /// The project's own number (0: keep everything); `null`: the server's.
    pub days: Option<i64>,
    /// The server's `retention_days` (0: keep everything).
    pub server_days: i64,
}

/// Sets a project's retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRetention {
    /// Days to keep (0: everything); `null` goes back to the server's.
    pub days: Option<i64>,
}
