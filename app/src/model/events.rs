//! Events the websocket delivers, and the messages that carry them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DeploymentView, LogLineView, NotificationView, StepView, TargetView};

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
    /// A host of a deployment changed state.
    Target(TargetView),
    Log(LogLineView),
    Notification(NotificationView),
    /// This person marked these notifications read (in any of their browsers).
    NotificationsRead {
        user_id: i64,
        ids: Vec<i64>,
    },
}

/// What the server sends on the websocket: first a hello with the newest sequence
/// number, then events.
// Messages live only while being sent or read; boxing the event would cost an
// allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    Hello { head_seq: i64 },
    Event(Event),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use chrono::Utc;

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
            requested_by: Some("alex".into()),
            not_before: None,
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
            target: Some(1),
        };
        let target = TargetView {
            deployment_id: 3,
            position: 1,
            name: "web-2".into(),
            agent_id: Some(4),
            ssh_host_id: None,
            batch: 1,
            state: TargetState::RolledBack,
            before_release_id: Some(2),
            moved: true,
            reason: None,
            started_at: Some(Utc::now()),
            finished_at: None,
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
            EventPayload::Target(target),
            EventPayload::Log(line),
            EventPayload::Notification(notification),
            EventPayload::NotificationsRead { user_id: 1, ids: vec![4] },
        ];
        for payload in payloads {
            let message = LiveMessage::Event(Event { seq: 9, payload });
            let json = serde_json::to_string(&message).unwrap();
            let back: LiveMessage = serde_json::from_str(&json).unwrap();
            assert_eq!(back, message, "{json}");
        }
    }
}
