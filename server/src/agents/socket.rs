//! `/agent/ws`: where agents connect. The first message must be a hello with a
//! registration token (the agent is created and gets its credential) or a credential;
//! then the agent's reports flow in and jobs, cancels and acknowledgements flow out.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use ferry_engine::protocol::{AgentMessage, ServerMessage, PROTOCOL_VERSION};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::hub::Reported;
use crate::auth::secrets::{random_text, sha256_hex};
use crate::services::audit;
use crate::state::AppState;
use crate::store::AgentRow;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
pub const HEARTBEAT_SECONDS: u64 = 10;
/// Heartbeats are written to the store at most this often.
const SEEN_EVERY: Duration = Duration::from_secs(30);

pub async fn upgrade(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Agents' messages are small: small buffers keep a thousand idle agents cheap (the
    // defaults, 128 KiB each way, would cost that much per agent).
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(16 * 1024 * 1024)
        .on_upgrade(move |socket| async move { serve(s, socket).await })
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    socket.send(Message::Text(message.to_json().into())).await.is_ok()
}

async fn next_message(socket: &mut WebSocket) -> Option<AgentMessage> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => match serde_json::from_str(&text) {
                Ok(message) => return Some(message),
                Err(e) => tracing::warn!(error = %e, "an agent sent a message Ferry cannot read"),
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Checks the hello; the agent, and its new credential when it just registered.
/// Who the agent is comes from its registration token, or from what an administrator
/// set since; an agent that presents another name or other labels is refused, and
/// the refusal is kept for the Agents page.
async fn admit(s: &AppState, hello: AgentMessage) -> Result<(AgentRow, Option<String>), String> {
    let AgentMessage::Hello { protocol, name, version, labels, registration_token, credential } = hello else {
        return Err("the first message must be a hello".into());
    };
    if protocol != PROTOCOL_VERSION {
        return Err(format!("this server speaks agent protocol {PROTOCOL_VERSION}, not {protocol}"));
    }
    if version.len() > 50 {
        return Err("the agent's version must be at most 50 characters".into());
    }
    let claim = Claim { name: name.as_deref().map(str::trim), labels: labels.as_ref() };
    let store_error = |e: sqlx::Error| {
        tracing::error!(error = %e, "admitting an agent");
        "the server could not check the agent; try again".to_string()
    };
    if let Some(credential) = credential {
        let agent = s.store.agent_by_credential(&sha256_hex(&credential)).await.map_err(store_error)?;
        let agent = agent.ok_or("unknown or revoked agent credential")?;
        if let Some(mismatch) = claim.differs_from(&agent.name, &agent.labels()) {
            let reason = format!("{mismatch}; an administrator changes an agent's name and labels on the Agents page");
            s.store.agent_refused(agent.id, &reason).await.map_err(store_error)?;
            let detail = json!({"agent": agent.id, "presented": {"name": name, "labels": labels}});
            audit::record_anonymous(&s.store, &format!("agent:{}", agent.name), "agent.refused", None, detail).await;
            return Err(reason);
        }
        s.store.agent_signed_in(agent.id, &version).await.map_err(store_error)?;
        return Ok((agent, None));
    }
    let token = registration_token.ok_or("a new agent needs a registration token")?;
    let token_hash = sha256_hex(&token);
    let registration = s.store.open_registration(&token_hash).await.map_err(store_error)?;
    let registration = registration.ok_or("the registration token is unknown, used or expired")?;
    if let Some(mismatch) = claim.differs_from(&registration.name, &registration.labels()) {
        return Err(format!("{mismatch}; the token decides (start the agent without --name and --labels)"));
    }
    let credential = format!("ferry_agent_{}", random_text(40));
    let agent = s.store.register_agent(&token_hash, &sha256_hex(&credential), &version).await.map_err(store_error)?;
    let agent = agent.ok_or("the registration token is unknown, used or expired")?;
    let detail = json!({"agent": agent.id, "labels": agent.labels(), "version": version});
    audit::record_anonymous(&s.store, &format!("agent:{}", agent.name), "agent.register", None, detail).await;
    Ok((agent, Some(credential)))
}

/// What an agent presented about itself (each part only if it was started with it).
struct Claim<'a> {
    name: Option<&'a str>,
    labels: Option<&'a BTreeMap<String, String>>,
}

impl Claim<'_> {
    /// Why the claim is not the identity Ferry holds, if it is not.
    fn differs_from(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<String> {
        let show = |labels: &BTreeMap<String, String>| match labels.is_empty() {
            true => "no labels".to_string(),
            false => labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        };
        let wrong_name = self.name.filter(|n| *n != name);
        let wrong_labels = self.labels.filter(|l| *l != labels);
        if wrong_name.is_none() && wrong_labels.is_none() {
            return None;
        }
        let presented =
            format!("`{}` with {}", wrong_name.unwrap_or(name), wrong_labels.map(show).unwrap_or_else(|| show(labels)));
        Some(format!("this agent is registered as `{name}` with {}, but presented {presented}", show(labels)))
    }
}

async fn serve(s: AppState, mut socket: WebSocket) {
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_message(&mut socket)).await {
        Ok(Some(hello)) => hello,
        _ => return,
    };
    let (agent, credential) = match admit(&s, hello).await {
        Ok(admitted) => admitted,
        Err(reason) => {
            tracing::warn!(%reason, "refused an agent");
            let _ = send(&mut socket, &ServerMessage::Refused { reason }).await;
            return;
        }
    };
    let welcome = ServerMessage::Welcome {
        agent_id: agent.id,
        credential,
        heartbeat_seconds: HEARTBEAT_SECONDS,
        name: agent.name.clone(),
        labels: agent.labels(),
    };
    if !send(&mut socket, &welcome).await {
        return;
    }
    let (tx, mut outgoing) = mpsc::unbounded_channel();
    let connection = s.agents.connect(agent.id, &agent.name, agent.labels(), tx);
    tracing::info!(agent = agent.id, name = agent.name, "agent connected");
    let (mut write, mut read) = socket.split();
    let mut last_written = std::time::Instant::now();
    loop {
        tokio::select! {
            message = outgoing.recv() => match message {
                Some(message) => {
                    if write.send(Message::Text(message.to_json().into())).await.is_err() {
                        break;
                    }
                }
                // The hub dropped this connection (the agent was revoked).
                None => break,
            },
            // An agent that misses three heartbeats is gone (its host may be down
            // without closing the connection): its jobs then wait out the grace period.
            incoming = tokio::time::timeout(Duration::from_secs(3 * HEARTBEAT_SECONDS), read.next()) => {
                let text = match incoming {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
                    Err(_) => {
                        tracing::warn!(agent = agent.id, "no heartbeat from the agent: dropping it");
                        break;
                    }
                    Ok(Some(Ok(_))) => continue,
                };
                match serde_json::from_str::<AgentMessage>(&text) {
                    Ok(AgentMessage::Report { job, seq, report }) => {
                        if s.agents.report(agent.id, job, seq, report).await == Reported::Unknown
                            && is_stale(&s.store, job).await
                        {
                            s.agents.fence_stale(agent.id, job, Some(seq));
                        }
                    }
                    Ok(AgentMessage::Heartbeat { running }) => {
                        for job in s.agents.unknown_jobs(&running) {
                            if is_stale(&s.store, job).await {
                                s.agents.fence_stale(agent.id, job, None);
                            }
                        }
                        if last_written.elapsed() > SEEN_EVERY {
                            last_written = std::time::Instant::now();
                            if let Err(e) = s.store.agent_seen(agent.id).await {
                                tracing::warn!(error = %e, "recording an agent's heartbeat");
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(agent = agent.id, error = %e, "an agent sent a message Ferry cannot read"),
                }
            }
        }
    }
    s.agents.disconnect(agent.id, connection);
    let _ = s.store.agent_seen(agent.id).await;
    tracing::info!(agent = agent.id, "agent disconnected");
}

/// A job an agent runs that this replica does not: stale (its deployment ended; a job
/// number is never given out twice), unless a deployment still waits for it in the
/// database. Then a relay, here or on another replica, claims it and asks the agent for
/// its reports again.
async fn is_stale(store: &crate::store::Store, job: i64) -> bool {
    match store.agent_job_open(job).await {
        Ok(open) => !open,
        Err(e) => {
            tracing::warn!(job, error = %e, "reading an agent job");
            false
        }
    }
}
