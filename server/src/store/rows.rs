//! Row types as the database returns them, and their conversion to the shared view
//! types. These never reach the wasm client.

use ferry_app::model::{
    BadMark, DeploymentKind, DeploymentState, DeploymentView, LogLineView, LogStream, ReleaseView, StepState, StepView,
    TargetState, TargetView,
};

use super::to_time;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub repo_url: String,
    pub repo_origin: Option<String>,
    pub build_selector: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnvironmentRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub position: i64,
    pub deploy_role: String,
    pub required_approvals: i64,
    pub wait_minutes: i64,
    pub agent_selector: String,
    pub preview_number: Option<i64>,
    pub preview_from: Option<String>,
    pub preview_from_id: Option<i64>,
    pub preview_port: Option<i64>,
    pub preview_url: Option<String>,
    pub preview_branch: Option<String>,
    pub preview_title: Option<String>,
    pub preview_author: Option<String>,
    pub preview_request_url: Option<String>,
    pub preview_from_fork: Option<i64>,
    pub preview_state: Option<String>,
}

impl EnvironmentRow {
    pub fn preview(&self) -> Option<ferry_app::model::PreviewInfo> {
        Some(ferry_app::model::PreviewInfo {
            number: self.preview_number?,
            from: self.preview_from.clone()?,
            from_id: self.preview_from_id?,
            port: self.preview_port,
            url: self.preview_url.clone(),
            branch: self.preview_branch.clone().unwrap_or_default(),
            title: self.preview_title.clone().unwrap_or_default(),
            author: self.preview_author.clone().unwrap_or_default(),
            request_url: self.preview_request_url.clone().unwrap_or_default(),
            from_fork: self.preview_from_fork.unwrap_or_default() != 0,
            state: self.preview_state.clone().unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReleaseRow {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub git_commit: String,
    /// The branch or tag the commit came from, when known.
    pub git_ref: Option<String>,
    pub source: String,
    pub pipeline: String,
    pub created_at: i64,
    pub committed_at: Option<i64>,
    pub bad_reason: Option<String>,
    pub bad_by: Option<String>,
    pub bad_at: Option<i64>,
    /// The SHA-256 of the release's artifact, once built.
    pub artifact_sha256: Option<String>,
}

impl ReleaseRow {
    pub fn view(&self) -> ReleaseView {
        ReleaseView {
            id: self.id,
            project_id: self.project_id,
            version: self.version.clone(),
            git_commit: self.git_commit.clone(),
            source: self.source.clone(),
            created_at: to_time(self.created_at),
            artifact_sha256: self.artifact_sha256.clone(),
            bad: match (&self.bad_reason, &self.bad_by, self.bad_at) {
                (Some(reason), Some(by), Some(at)) => {
                    Some(BadMark { reason: reason.clone(), by: by.clone(), at: to_time(at) })
                }
                _ => None,
            },
        }
    }
}

/// `DEPLOYMENT_SELECT` columns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: i64,
    pub kind: String,
    pub project_id: i64,
    pub project: String,
    pub environment_id: i64,
    pub environment: String,
    pub release_id: i64,
    pub release_version: String,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub requested_by: Option<String>,
    pub not_before: Option<i64>,
}

pub const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.kind, d.project_id, p.slug AS project, d.environment_id, \
    e.name AS environment, d.release_id, r.version AS release_version, d.state, d.reason, \
    d.created_at, d.started_at, d.finished_at, d.requested_by, d.not_before \
    FROM deployments d JOIN projects p ON p.id = d.project_id \
    JOIN environments e ON e.id = d.environment_id JOIN releases r ON r.id = d.release_id";

impl DeploymentRow {
    pub fn view(self) -> DeploymentView {
        DeploymentView {
            id: self.id,
            kind: match self.kind.as_str() {
                "rollback" => DeploymentKind::Rollback,
                "teardown" => DeploymentKind::Teardown,
                _ => DeploymentKind::Deploy,
            },
            project_id: self.project_id,
            project: self.project,
            environment_id: self.environment_id,
            environment: self.environment,
            release_id: self.release_id,
            release_version: self.release_version,
            // Only Ferry writes this column, always from `DeploymentState::as_str`.
            state: DeploymentState::parse(&self.state).unwrap_or(DeploymentState::Failed),
            reason: self.reason,
            created_at: to_time(self.created_at),
            started_at: self.started_at.map(to_time),
            finished_at: self.finished_at.map(to_time),
            requested_by: self.requested_by,
            not_before: self.not_before.map(to_time),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    pub deployment_id: i64,
    pub position: i64,
    pub name: String,
    pub state: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub target: Option<i64>,
}

impl StepRow {
    pub fn view(self) -> StepView {
        StepView {
            deployment_id: self.deployment_id,
            position: self.position as i32,
            name: self.name,
            state: StepState::parse(&self.state).unwrap_or(StepState::Failed),
            started_at: self.started_at.map(to_time),
            finished_at: self.finished_at.map(to_time),
            exit_code: self.exit_code.map(|c| c as i32),
            target: self.target.map(|t| t as i32),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub deployment_id: i64,
    pub seq: i64,
    pub step: i64,
    pub stream: String,
    pub text: String,
    pub at: i64,
}

impl LogRow {
    pub fn view(self) -> LogLineView {
        LogLineView {
            deployment_id: self.deployment_id,
            seq: self.seq,
            step: self.step as i32,
            stream: LogStream::parse(&self.stream).unwrap_or(LogStream::System),
            text: self.text,
            at: to_time(self.at),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: i64,
    pub deployment_id: i64,
    pub position: i64,
    pub name: String,
    pub agent_id: Option<i64>,
    pub ssh_host_id: Option<i64>,
    pub batch: i64,
    pub state: String,
    pub before_release_id: Option<i64>,
    pub moved: i64,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl TargetRow {
    pub fn view(self) -> TargetView {
        TargetView {
            deployment_id: self.deployment_id,
            position: self.position as i32,
            name: self.name,
            agent_id: self.agent_id,
            ssh_host_id: self.ssh_host_id,
            batch: self.batch as i32,
            state: TargetState::parse(&self.state).unwrap_or(TargetState::Failed),
            before_release_id: self.before_release_id,
            moved: self.moved != 0,
            reason: self.reason,
            started_at: self.started_at.map(to_time),
            finished_at: self.finished_at.map(to_time),
        }
    }
}
