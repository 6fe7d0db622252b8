//! Deployments, their steps and log lines, and the history filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DeploymentState, LogStream, StepState, TargetState};

/// What a deployment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    /// Fetch, build and switch to a release.
    Deploy,
    /// Switch back to a release already on the targets, without rebuilding.
    Rollback,
    /// Take a preview off its hosts: its teardown steps, then its releases go.
    Teardown,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Deploy => "deploy",
            DeploymentKind::Rollback => "rollback",
            DeploymentKind::Teardown => "teardown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    pub id: i64,
    pub kind: DeploymentKind,
    pub project_id: i64,
    pub project: String,
    pub environment_id: i64,
    pub environment: String,
    pub release_id: i64,
    pub release_version: String,
    pub state: DeploymentState,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Who asked for it (their login), or `ferry` for an automatic rollback.
    pub requested_by: Option<String>,
    /// An approved deployment waits until then (the environment's wait timer).
    pub not_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub deployment_id: i64,
    pub position: i32,
    pub name: String,
    pub state: StepState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    /// Position of the host it runs on (see `DeploymentDetail::targets`); `None`
    /// until the deployment has picked its hosts.
    #[serde(default)]
    pub target: Option<i32>,
}

/// One host of a deployment: where it stands in the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub deployment_id: i64,
    /// Order of the host within the deployment, from 0.
    pub position: i32,
    /// The agent's or SSH host's name, or the built-in agent's.
    pub name: String,
    pub agent_id: Option<i64>,
    #[serde(default)]
    pub ssh_host_id: Option<i64>,
    /// Its batch in the rollout, from 0.
    pub batch: i32,
    pub state: TargetState,
    /// The release it ran before; what a rollback of this host goes back to.
    pub before_release_id: Option<i64>,
    /// Whether the new release went live on it.
    pub moved: bool,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl TargetView {
    pub fn kind(&self) -> TargetKind {
        TargetKind::of(self.agent_id, self.ssh_host_id)
    }
}

/// Where a deployment's host runs: the one word for it everywhere. Each kind is one
/// implementation of the engine's `Machine`, driven from the server (built-in, SSH)
/// or inside an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum TargetKind {
    /// Ferry's own machine.
    BuiltIn,
    /// A host running `ferry-agent`, by the agent's id.
    Agent(i64),
    /// A host Ferry reaches over SSH, by its id.
    Ssh(i64),
}

impl TargetKind {
    /// From the two columns a host's row keeps.
    pub fn of(agent_id: Option<i64>, ssh_host_id: Option<i64>) -> Self {
        match (agent_id, ssh_host_id) {
            (Some(id), _) => TargetKind::Agent(id),
            (None, Some(id)) => TargetKind::Ssh(id),
            (None, None) => TargetKind::BuiltIn,
        }
    }

    pub fn agent_id(self) -> Option<i64> {
        match self {
            TargetKind::Agent(id) => Some(id),
            _ => None,
        }
    }

    pub fn ssh_host_id(self) -> Option<i64> {
        match self {
            TargetKind::Ssh(id) => Some(id),
            _ => None,
        }
    }
}

/// Most log lines a deployment snapshot, or one page of a log, carries; the browser
/// fetches the pages after a full snapshot.
pub const LOG_PAGE_LINES: i64 = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLineView {
    pub deployment_id: i64,
    /// Position of the line within its deployment, from 1, without gaps.
    pub seq: i64,
    /// Position of the step that printed it.
    pub step: i32,
    pub stream: LogStream,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentDetail {
    pub deployment: DeploymentView,
    pub steps: Vec<StepView>,
    /// The hosts it runs on, in order.
    #[serde(default)]
    pub targets: Vec<TargetView>,
    pub logs: Vec<LogLineView>,
    /// For deployments to an environment that needs approvals.
    pub approval: Option<ApprovalStatus>,
    /// When retention (`retention_days`) removed its log, if it did.
    #[serde(default)]
    pub log_removed_at: Option<DateTime<Utc>>,
}

/// Where a deployment stands with its approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalStatus {
    pub required: i64,
    pub wait_minutes: i64,
    pub decisions: Vec<ApprovalView>,
    /// Who may approve (everyone with the environment's deploy role but the requester).
    pub approvers: Vec<String>,
    /// Whether the person asking may approve or reject it now.
    pub you_may_decide: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub login: String,
    pub approved: bool,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// An approval or rejection of a waiting deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub comment: Option<String>,
}

/// Which deployments the history shows: every field narrows it; `before` pages
/// backwards (pass the smallest id of the previous page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryFilter {
    /// Project slug.
    pub project: Option<String>,
    /// Environment name.
    pub environment: Option<String>,
    pub state: Option<DeploymentState>,
    /// Only deployments queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only deployments queued before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only deployments of this release.
    pub release: Option<i64>,
    /// Only deployments this person (login) asked for.
    pub requested_by: Option<String>,
    /// Only deployments with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many (1-500, default 50).
    pub limit: Option<i64>,
}
