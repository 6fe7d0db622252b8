//! Agents that stay away: once an agent has been gone from this replica longer than the
//! grace period, and no other replica holds it either (it did not reconnect there), its
//! absence becomes a job of the durable queue (`AGENT_OFFLINE`), which notifies the
//! center and the routed channels once, whichever replica runs it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AgentHub;
use crate::store::{now_millis, JobOrder, Store};

/// What the job carries: who went away, and since when (which names the absence).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentAbsence {
    pub agent_id: i64,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub since: i64,
}

/// Looks every second for agents newly gone from this replica (`replica`), for as long
/// as the process runs.
pub fn watch(hub: AgentHub, store: Store, replica: String) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let gone = hub.newly_offline();
            if gone.is_empty() {
                continue;
            }
            let elsewhere = match store.connected_agents(now_millis()).await {
                Ok(connected) => connected,
                Err(e) => {
                    tracing::warn!(error = %e, "reading which replicas hold which agents");
                    Vec::new()
                }
            };
            for (agent_id, name, labels) in gone {
                if elsewhere.iter().any(|(id, held_by)| *id == agent_id && *held_by != replica) {
                    continue; // it reconnected to another replica
                }
                let absence = AgentAbsence { agent_id, name, labels, since: now_millis() };
                let payload = serde_json::to_string(&absence).unwrap_or_default();
                let key = format!("agent_offline:{agent_id}:{}", absence.since);
                let kind = crate::jobs::AGENT_OFFLINE;
                match store.enqueue_job(kind, &key, &payload, JobOrder::Any).await {
                    Ok(()) => crate::jobs::wake(),
                    Err(e) => tracing::error!(agent = agent_id, error = %e, "queueing an agent's absence"),
                }
            }
        }
    });
}
