//! Agents on target hosts, as the Agents page and the API show them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Online,
    /// Online and running a deployment.
    Busy,
    Offline,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Online => "online",
            AgentState::Busy => "busy",
            AgentState::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// 0 for the agent built into the server.
    pub id: i64,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub version: String,
    pub state: AgentState,
    pub last_seen: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// Why the agent's last connection was refused (it presented another name or
    /// other labels than it is registered with), until it connects as itself.
    #[serde(default)]
    pub problem: Option<String>,
}

/// Who a new agent will be (its registration token carries it), or who an agent is
/// from now on: a name, and `key=value` labels, comma separated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentIdentityRequest {
    pub name: String,
    #[serde(default)]
    pub labels: String,
}

/// A one-time token an agent registers with; shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRegistration {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The name and labels the agent gets.
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Which agents an environment deploys to: `key=value` labels, comma separated; empty
/// means the agent built into the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAgentSelector {
    pub selector: String,
}
