//! Types exchanged between the server and the browser: the REST API, the server
//! functions and the websocket all speak these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use ferry_engine::{DeploymentState, LogStream, StepState};

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

/// What a deployment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    /// Fetch, build and switch to a release.
    Deploy,
    /// Switch back to a release already on the targets, without rebuilding.
    Rollback,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentKind::Deploy => "deploy",
            DeploymentKind::Rollback => "rollback",
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
}

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
    pub logs: Vec<LogLineView>,
}

/// One cell of the environment matrix: what is live there and what happened last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixCell {
    pub environment: EnvironmentView,
    /// The newest successful deployment: the release that is live.
    pub current: Option<DeploymentView>,
    /// The newest deployment in any state.
    pub latest: Option<DeploymentView>,
    /// The newest successful deployment of a different release: where a rollback goes.
    pub previous: Option<DeploymentView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixRow {
    pub project: ProjectView,
    pub cells: Vec<MatrixCell>,
    /// Newest first.
    pub releases: Vec<ReleaseView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Matrix {
    pub rows: Vec<MatrixRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Project slug.
    pub project: String,
    pub release_id: i64,
    /// Environment name.
    pub environment: String,
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
    /// Only deployments with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many (1-500, default 50).
    pub limit: Option<i64>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    DeploymentSucceeded,
    DeploymentFailed,
    RolledBack,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DeploymentSucceeded => "deployment_succeeded",
            NotificationKind::DeploymentFailed => "deployment_failed",
            NotificationKind::RolledBack => "rolled_back",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::DeploymentSucceeded, Self::DeploymentFailed, Self::RolledBack].into_iter().find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub kind: NotificationKind,
    pub title: String,
    pub deployment_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// The newest notifications and how many are unread in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    pub unread: i64,
}

/// Which notifications to mark read: the listed ones, or all when `ids` is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MarkRead {
    pub ids: Option<Vec<i64>>,
}

/// Something that happened, numbered: the websocket delivers these in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    pub payload: EventPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventPayload {
    Deployment(DeploymentView),
    Step(StepView),
    Log(LogLineView),
    Notification(NotificationView),
    /// These notifications were marked read (in any browser).
    NotificationsRead {
        ids: Vec<i64>,
    },
}

/// What the server sends on the websocket: first a hello with the newest sequence
/// number, then events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    Hello { head_seq: i64 },
    Event(Event),
}

/// Outcomes of finished deployments for one environment or project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuccessRate {
    pub name: String,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// succeeded / (succeeded + failed); `None` with neither.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DailyCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub succeeded: i64,
    pub failed: i64,
}

/// The four DORA keys, measured on each project's last (production) environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dora {
    pub production_deployments: i64,
    /// Successful production deployments per day.
    pub deployments_per_day: f64,
    /// Median time from commit to running in production.
    pub lead_time_hours: Option<f64>,
    /// Failed / finished production deployments.
    pub change_failure_rate: Option<f64>,
    /// Median time from a failed production deployment to the next successful one.
    pub time_to_restore_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Insights {
    pub days: i64,
    pub environments: Vec<SuccessRate>,
    pub projects: Vec<SuccessRate>,
    /// One entry per day of the window, oldest first.
    pub daily: Vec<DailyCount>,
    pub dora: Dora,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> DeploymentView {
        DeploymentView {
            id: 3,
            kind: DeploymentKind::Rollback,
            project_id: 1,
            project: "api".into(),
            environment_id: 2,
            environment: "staging".into(),
            release_id: 5,
            release_version: "1.0".into(),
            state: DeploymentState::Running,
            reason: None,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    /// The browser parses exactly what the server sends: no field of a payload may
    /// collide with the tag that names the payload's kind.
    #[test]
    fn live_messages_round_trip_for_every_payload() {
        let step = StepView {
            deployment_id: 3,
            position: 0,
            name: "fetch".into(),
            state: StepState::Running,
            started_at: Some(Utc::now()),
            finished_at: None,
            exit_code: None,
        };
        let line = LogLineView {
            deployment_id: 3,
            seq: 1,
            step: 0,
            stream: LogStream::Stderr,
            text: "hello".into(),
            at: Utc::now(),
        };
        let notification = NotificationView {
            id: 4,
            kind: NotificationKind::DeploymentFailed,
            title: "✗ failed".into(),
            deployment_id: Some(3),
            created_at: Utc::now(),
            read: false,
        };
        let payloads = [
            EventPayload::Deployment(deployment()),
            EventPayload::Step(step),
            EventPayload::Log(line),
            EventPayload::Notification(notification),
            EventPayload::NotificationsRead { ids: vec![4] },
        ];
        for payload in payloads {
            let message = LiveMessage::Event(Event { seq: 9, payload });
            let json = serde_json::to_string(&message).unwrap();
            let back: LiveMessage = serde_json::from_str(&json).unwrap();
            assert_eq!(back, message, "{json}");
        }
    }
}
