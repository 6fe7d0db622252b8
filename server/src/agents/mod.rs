//! Agents on target hosts: the hub of connected agents and their jobs, the agent
//! websocket, and what people can do with agents (list, register, revoke, select).

pub mod artifacts;
pub mod hub;
pub mod offline;
pub mod relay;
pub mod socket;

use chrono::Duration;
use ferry_app::error::AppError;
use std::collections::BTreeMap;

use ferry_app::model::{
    AgentIdentityRequest, AgentRegistration, AgentState, AgentView, EnvironmentView, ProjectView, Role,
};
use ferry_engine::protocol::parse_selector;
use serde_json::json;

use crate::auth::secrets::{random_text, sha256_hex};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::services::Handles;
use crate::services::{audit, gate};
use crate::store::{now_millis, to_time, AgentIdentity};

pub use hub::AgentHub;

/// How long a registration token stays usable.
const REGISTRATION_HOURS: i64 = 24;

/// What the built-in agent is called in lists and on a deployment's hosts.
pub const BUILT_IN_NAME: &str = "built-in (this server)";

/// The agent built into the server: environments without a selector deploy here.
fn builtin() -> AgentView {
    AgentView {
        id: 0,
        name: BUILT_IN_NAME.into(),
        labels: Default::default(),
        version: env!("CARGO_PKG_VERSION").into(),
        state: AgentState::Online,
        last_seen: Some(chrono::Utc::now()),
        revoked: false,
        problem: None,
    }
}

pub async fn list(s: &Handles, c: &Caller) -> Result<Vec<AgentView>, AppError> {
    c.require_global(Role::Viewer, "listing agents")?;
    let mut agents = vec![builtin()];
    // With several replicas, an agent may be connected to another one.
    let elsewhere = s.store.connected_agents(now_millis()).await.or_internal("listing agents")?;
    for row in s.store.agents().await.or_internal("listing agents")? {
        let online = s.agents.is_online(row.id) || elsewhere.iter().any(|(id, _)| *id == row.id);
        let state = match (online, s.agents.is_busy(row.id)) {
            (true, true) => AgentState::Busy,
            (true, false) => AgentState::Online,
            _ => AgentState::Offline,
        };
        agents.push(AgentView {
            id: row.id,
            labels: row.labels(),
            name: row.name,
            version: row.version,
            state,
            last_seen: row.last_seen_at.map(to_time),
            revoked: row.revoked_at.is_some(),
            problem: row.problem,
        });
    }
    Ok(agents)
}

/// A name and labels as an administrator gives them, checked.
fn identity_of(request: &AgentIdentityRequest) -> Result<(String, BTreeMap<String, String>), AppError> {
    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::bad_request("name: 1-100 characters, no control characters"));
    }
    let labels = parse_selector(&request.labels).map_err(|e| AppError::bad_request(format!("labels: {e}")))?;
    Ok((name.to_string(), labels.into_iter().collect()))
}

/// A one-time token for a new agent (administrators); shown once. It carries the
/// agent's name and labels: the host that uses it cannot choose others.
pub async fn create_registration(
    s: &Handles,
    c: &Caller,
    request: &AgentIdentityRequest,
) -> Result<AgentRegistration, AppError> {
    c.require_global(Role::Admin, "registering an agent")?;
    let (name, labels) = identity_of(request)?;
    let token = format!("ferry_reg_{}", random_text(32));
    let expires_at = now_millis() + Duration::hours(REGISTRATION_HOURS).num_milliseconds();
    let identity = AgentIdentity { name: &name, labels: &labels };
    let token_hash = sha256_hex(&token);
    let created = s.store.create_registration(&token_hash, &c.login, expires_at, &identity);
    created.await.or_internal("creating a token")?;
    let detail = json!({"expires_at": expires_at, "name": name, "labels": labels});
    audit::record(&s.store, c, "agent.registration", "agents", detail).await;
    Ok(AgentRegistration { token, expires_at: to_time(expires_at), name, labels })
}

/// Renames or relabels an agent (administrators). Labels decide which environments'
/// plans and secrets reach the host, so only an administrator changes them; the
/// agent's next plans follow at once.
pub async fn set_identity(
    s: &Handles,
    c: &Caller,
    id: i64,
    request: &AgentIdentityRequest,
) -> Result<AgentView, AppError> {
    c.require_global(Role::Admin, "changing an agent's name or labels")?;
    let (name, labels) = identity_of(request)?;
    let before = s.store.agents().await.or_internal("loading agents")?.into_iter().find(|a| a.id == id);
    let identity = AgentIdentity { name: &name, labels: &labels };
    let changed = s.store.set_agent_identity(id, &identity).await.or_internal("changing an agent")?;
    let changed = changed.ok_or_else(|| AppError::not_found(format!("no active agent {id}")))?;
    s.agents.relabel(id, &name, labels.clone());
    let before = before.map(|b| json!({"name": b.name, "labels": b.labels()}));
    let detail = json!({"before": before, "after": {"name": name, "labels": labels}});
    audit::record(&s.store, c, "agent.identity", &id.to_string(), detail).await;
    list(s, c).await?.into_iter().find(|a| a.id == changed.id).ok_or_else(|| AppError::not_found("agent gone"))
}

pub async fn revoke(s: &Handles, c: &Caller, id: i64) -> Result<(), AppError> {
    c.require_global(Role::Admin, "revoking an agent")?;
    if !s.store.revoke_agent(id).await.or_internal("revoking an agent")? {
        return Err(AppError::not_found(format!("no active agent {id}")));
    }
    s.agents.drop_agent(id);
    audit::record(&s.store, c, "agent.revoke", &id.to_string(), json!({"agent": id})).await;
    Ok(())
}

/// Which agents build the project's releases (`role=builder`; empty: the built-in
/// agent). The build runs the pushed commit's code with the build's secrets, so like
/// an environment's agents it is for administrators only.
pub async fn select_builders(s: &Handles, c: &Caller, slug: &str, selector: &str) -> Result<ProjectView, AppError> {
    c.require_global(Role::Admin, "choosing where a project builds")?;
    let project = gate::project(s, c, slug, Role::Admin, "choosing where a project builds").await?;
    let normalized = normalized_selector(selector)?;
    s.store.set_build_selector(project.id, &normalized).await.or_internal("choosing build agents")?;
    let detail = json!({"before": project.build_selector, "after": normalized});
    audit::record(&s.store, c, "project.build_agents", slug, detail).await;
    Ok(ProjectView { build_selector: normalized, ..project })
}

/// `key=value` pairs, comma separated, in one spelling; an error names the bad part.
fn normalized_selector(selector: &str) -> Result<String, AppError> {
    let pairs = parse_selector(selector).map_err(|e| AppError::bad_request(format!("selector: {e}")))?;
    Ok(pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

/// Which agents an environment deploys to. It decides on which hosts the project's
/// code runs and where its secrets go, so it is for administrators only.
pub async fn select(
    s: &Handles,
    c: &Caller,
    slug: &str,
    environment: &str,
    selector: &str,
) -> Result<EnvironmentView, AppError> {
    c.require_global(Role::Admin, "choosing an environment's agents")?;
    let project = gate::project(s, c, slug, Role::Admin, "choosing an environment's agents").await?;
    let env = project.lifecycle().find(|e| e.name == environment);
    let env = env.ok_or_else(|| AppError::not_found(format!("project `{slug}` has no environment `{environment}`")))?;
    let normalized = normalized_selector(selector)?;
    s.store.set_agent_selector(env.id, &normalized).await.or_internal("choosing agents")?;
    let detail = json!({"before": env.agent_selector, "after": normalized});
    audit::record(&s.store, c, "environment.agents", &format!("{slug}/{environment}"), detail).await;
    Ok(EnvironmentView { agent_selector: normalized, ..env.clone() })
}
