//! What a notification says, whatever the channel: built once when the event happens
//! and kept in the outbox as JSON, so a retry hours later says the same thing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_app::model::{DeploymentKind, DeploymentState, DeploymentView, NotifyEvent, StepState};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// How many of the failing step's last log lines a message quotes.
const EXCERPT_LINES: i64 = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub event: NotifyEvent,
    /// One line, e.g. `✗ api failed in production: v1.4.2`; the email subject.
    pub title: String,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub deployment_id: Option<i64>,
    /// Who asked for the deployment.
    pub requested_by: Option<String>,
    /// The deployment's state, or the agent's.
    pub status: String,
    pub duration_seconds: Option<i64>,
    /// Why it failed.
    pub reason: Option<String>,
    pub failing_step: Option<String>,
    /// The failing step's last lines.
    pub log_excerpt: Vec<String>,
    pub agent: Option<String>,
    /// The deployment (or the agents page) in Ferry.
    pub link: String,
    pub at: DateTime<Utc>,
}

/// The routed event of a finished deployment (cancellations are not news).
pub fn finished_event(d: &DeploymentView) -> Option<NotifyEvent> {
    match (d.kind, d.state) {
        (DeploymentKind::Rollback, DeploymentState::Succeeded) => Some(NotifyEvent::RolledBack),
        // A preview gone with its request is not news; a teardown that failed is.
        (DeploymentKind::Teardown, DeploymentState::Succeeded) => None,
        (_, DeploymentState::Succeeded) => Some(NotifyEvent::Succeeded),
        (_, DeploymentState::Failed) => Some(NotifyEvent::Failed),
        _ => None,
    }
}

pub async fn for_deployment(store: &Store, base_url: &str, d: &DeploymentView, event: NotifyEvent) -> Notice {
    let (project, environment, version) = (&d.project, &d.environment, &d.release_version);
    let title = match event {
        NotifyEvent::Started => format!("▶ {project} deploying to {environment}: {version}"),
        NotifyEvent::Succeeded => format!("✓ {project} deployed to {environment}: {version}"),
        NotifyEvent::RolledBack => format!("↩ {project} rolled back in {environment}: {version}"),
        NotifyEvent::ApprovalNeeded => format!("⏸ {project} needs approval for {environment}: {version}"),
        _ => format!("✗ {project} failed in {environment}: {version}"),
    };
    let (failing_step, log_excerpt) =
        if event == NotifyEvent::Failed { failing_step(store, d.id).await } else { (None, Vec::new()) };
    let duration_seconds = d.started_at.zip(d.finished_at).map(|(from, to)| (to - from).num_seconds());
    Notice {
        event,
        title,
        project: Some(project.clone()),
        environment: Some(environment.clone()),
        release: Some(version.clone()),
        deployment_id: Some(d.id),
        requested_by: d.requested_by.clone(),
        status: d.state.to_string(),
        duration_seconds,
        reason: d.reason.clone(),
        failing_step,
        log_excerpt,
        agent: None,
        link: format!("{base_url}/deployments/{}", d.id),
        at: Utc::now(),
    }
}

/// The first step that failed and its last lines; nothing when they cannot be read
/// (the message goes out without them rather than not at all).
async fn failing_step(store: &Store, deployment_id: i64) -> (Option<String>, Vec<String>) {
    let Ok(steps) = store.steps(deployment_id).await else { return (None, Vec::new()) };
    let Some(step) = steps.iter().find(|s| matches!(s.state, StepState::Failed | StepState::AgentLost)) else {
        return (None, Vec::new());
    };
    let lines = store.step_log_tail(deployment_id, step.position, EXCERPT_LINES).await.unwrap_or_default();
    (Some(step.name.clone()), lines)
}

pub fn for_agent(base_url: &str, name: &str, labels: &BTreeMap<String, String>) -> Notice {
    Notice {
        event: NotifyEvent::AgentOffline,
        title: format!("⚠ agent {name} is offline"),
        project: None,
        environment: labels.get("env").cloned(),
        release: None,
        deployment_id: None,
        requested_by: None,
        status: "offline".into(),
        duration_seconds: None,
        reason: Some("no heartbeat within the grace period".into()),
        failing_step: None,
        log_excerpt: Vec::new(),
        agent: Some(name.to_string()),
        link: format!("{base_url}/agents"),
        at: Utc::now(),
    }
}

/// The "send test" message.
pub fn test(base_url: &str, by: &str) -> Notice {
    Notice {
        event: NotifyEvent::Succeeded,
        title: "✓ Test notification from Ferry".into(),
        project: None,
        environment: None,
        release: None,
        deployment_id: None,
        requested_by: Some(by.to_string()),
        status: "test".into(),
        duration_seconds: None,
        reason: None,
        failing_step: None,
        log_excerpt: Vec::new(),
        agent: None,
        link: base_url.to_string(),
        at: Utc::now(),
    }
}

/// `1m 05s`, `42s`.
pub fn duration_text(seconds: i64) -> String {
    if seconds >= 60 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// Labelled facts every channel shows, in order.
pub fn facts(n: &Notice) -> Vec<(&'static str, String)> {
    let mut facts = Vec::new();
    let mut add = |label, value: Option<String>| {
        if let Some(value) = value {
            facts.push((label, value));
        }
    };
    add("Project", n.project.clone());
    add("Environment", n.environment.clone());
    add("Release", n.release.clone());
    add("Agent", n.agent.clone());
    add("By", n.requested_by.clone());
    add("Status", Some(n.status.clone()));
    add("Duration", n.duration_seconds.map(duration_text));
    add("Reason", n.reason.clone());
    facts
}
