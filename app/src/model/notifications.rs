//! Notifications of the in-app notification center.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    DeploymentSucceeded,
    DeploymentFailed,
    RolledBack,
    /// A deployment waits for approvals.
    ApprovalRequested,
    /// An agent stayed away longer than the grace period.
    AgentOffline,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DeploymentSucceeded => "deployment_succeeded",
            NotificationKind::DeploymentFailed => "deployment_failed",
            NotificationKind::RolledBack => "rolled_back",
            NotificationKind::ApprovalRequested => "approval_requested",
            NotificationKind::AgentOffline => "agent_offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::DeploymentSucceeded,
            Self::DeploymentFailed,
            Self::RolledBack,
            Self::ApprovalRequested,
            Self::AgentOffline,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
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
