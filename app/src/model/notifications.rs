//! Notifications of the in-app notification center, and each person's preferences.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::NotifyEvent;

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

    /// The routed event it corresponds to (a person's preferences name events).
    pub fn event(self) -> NotifyEvent {
        match self {
            NotificationKind::DeploymentSucceeded => NotifyEvent::Succeeded,
            NotificationKind::DeploymentFailed => NotifyEvent::Failed,
            NotificationKind::RolledBack => NotifyEvent::RolledBack,
            NotificationKind::ApprovalRequested => NotifyEvent::ApprovalNeeded,
            NotificationKind::AgentOffline => NotifyEvent::AgentOffline,
        }
    }

    pub const ALL: [NotificationKind; 5] = [
        Self::DeploymentSucceeded,
        Self::DeploymentFailed,
        Self::RolledBack,
        Self::ApprovalRequested,
        Self::AgentOffline,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
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

/// A person's newest notifications and how many are unread in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    pub unread: i64,
    /// Whose list it is: read marks of others are not theirs.
    pub user_id: i64,
    /// The kinds they want to see (their in-app preferences); others are left out.
    pub kinds: Vec<NotificationKind>,
}

/// What a person wants to hear of: in the app, and by email to their own address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyPreferences {
    // Empty lists vanish from a server function's form encoding: absent means none.
    #[serde(default)]
    pub in_app: Vec<NotifyEvent>,
    #[serde(default)]
    pub email: Vec<NotifyEvent>,
    /// Where email goes: the address of their profile (from their sign-in provider).
    #[serde(default)]
    pub email_address: Option<String>,
    /// Whether the server sends personal email (an SMTP server is configured).
    #[serde(default)]
    pub email_available: bool,
}

impl NotifyPreferences {
    /// Everything in the app but the starts; no email.
    pub fn defaults() -> (Vec<NotifyEvent>, Vec<NotifyEvent>) {
        let in_app = NotifyEvent::ALL.into_iter().filter(|e| *e != NotifyEvent::Started).collect();
        (in_app, Vec::new())
    }
}

/// Which notifications to mark read: the listed ones, or all when `ids` is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MarkRead {
    pub ids: Option<Vec<i64>>,
}
