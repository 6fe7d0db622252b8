//! What a `ferry-agent` and the server say to each other over the agent websocket
//! (JSON text messages). The agent connects out, says hello (with a one-time
//! registration token the first time, its own credential after), and then runs the
//! deployments it is given, reporting every step event numbered per job. The server
//! acknowledges each number; the agent keeps what is not acknowledged and sends it
//! again after a reconnect, so no line is lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::executor::{Outcome, RunnerEvent};
use crate::plan::DeploymentPlan;

/// Bumped when either side could misunderstand the other (2: the server holds the
/// agent's name and labels, and says where each environment deploys; 3: agents build;
/// 4: steps carry their own variables and directory, and a step whose `if:` is false
/// comes as `Skip`: an older agent would run it in the wrong place, or not at all).
pub const PROTOCOL_VERSION: u32 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// `name` and `labels` are what the agent was started with, if anything: the
    /// server holds the agent's identity (set at registration, changed by an admin)
    /// and refuses an agent that presents another.
    Hello {
        protocol: u32,
        #[serde(default)]
        name: Option<String>,
        version: String,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
        /// The first time: a registration token created by an administrator.
        registration_token: Option<String>,
        /// Every later time: the credential the server gave at registration.
        credential: Option<String>,
    },
    Heartbeat {
        /// Jobs the agent is running now.
        running: Vec<i64>,
    },
    /// Something that happened in a job, numbered from 1 per job.
    Report { job: i64, seq: u64, report: JobReport },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobReport {
    Step {
        event: RunnerEvent,
    },
    /// The job's last report: how it ended and what it did to `current`.
    Finished {
        outcome: Outcome,
        before: Option<i64>,
        moved: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        agent_id: i64,
        /// Set once, at registration: the agent keeps it and uses it from then on.
        credential: Option<String>,
        heartbeat_seconds: u64,
        /// Who the server knows this agent as.
        #[serde(default)]
        name: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    /// The hello was not accepted; the agent should not retry with the same words.
    Refused {
        reason: String,
    },
    /// Run a deployment in `<workdir>/<project>/<environment>/`; or, with `upload`,
    /// build a release in `<workdir>/.builds/<project>/` and send the packed artifact
    /// to that path of the server before reporting the end.
    Run {
        job: i64,
        project: String,
        #[serde(default)]
        environment: String,
        release_id: i64,
        plan: Box<DeploymentPlan>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    Cancel {
        job: i64,
    },
    /// Reports of `job` up to `seq` are safely recorded.
    Ack {
        job: i64,
        seq: u64,
    },
}

impl AgentMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether `labels` carry every `key=value` of `selector` (comma separated; empty
/// selects nothing, since an empty selector means Ferry's own built-in agent).
pub fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    let wanted = parse_selector(selector);
    match wanted {
        Ok(pairs) if !pairs.is_empty() => pairs.iter().all(|(k, v)| labels.get(k) == Some(v)),
        _ => false,
    }
}

/// `env=staging,role=web` into pairs; an error names the part that is not `key=value`.
pub fn parse_selector(selector: &str) -> Result<Vec<(String, String)>, String> {
    selector
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) if valid_label(k.trim()) && valid_label(v.trim()) => Ok((k.trim().into(), v.trim().into())),
            _ => Err(format!("`{part}` is not key=value (letters, digits, `-`, `_`, `.`)")),
        })
        .collect()
}

pub fn valid_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_need_every_label() {
        let labels: BTreeMap<String, String> =
            [("env".to_string(), "staging".to_string()), ("role".to_string(), "web".to_string())].into();
        assert!(selector_matches("env=staging", &labels));
        assert!(selector_matches("env=staging, role=web", &labels));
        assert!(!selector_matches("env=staging,role=db", &labels));
        assert!(!selector_matches("", &labels), "empty means the built-in agent");
        assert!(parse_selector("env").is_err());
        assert!(parse_selector("env=a b").is_err());
    }

    #[test]
    fn messages_round_trip_as_json() {
        let report = AgentMessage::Report {
            job: 7,
            seq: 3,
            report: JobReport::Step {
                event: RunnerEvent::Log { index: 1, stream: crate::LogStream::Stdout, text: "hi".into() },
            },
        };
        let text = report.to_json();
        assert!(text.contains("\"type\":\"report\""), "{text}");
        assert_eq!(serde_json::from_str::<AgentMessage>(&text).unwrap(), report);
    }
}
