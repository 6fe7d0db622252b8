//! The agent: connects out to the server's agent websocket (so the host needs no open
//! port), registers with a one-time token or signs in with its credential, heartbeats,
//! runs the deployments it is given with the engine's executor in
//! `<workdir>/<project>/<environment>/`, and reports every step event. Reports the server has not
//! acknowledged are kept and sent again after a reconnect.

pub mod outbox;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_engine::executor::execute;
use ferry_engine::plan::DeploymentPlan;
use ferry_engine::protocol::{valid_label, AgentMessage, JobReport, ServerMessage, PROTOCOL_VERSION};
use ferry_engine::release_dir::ReleasePaths;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use outbox::Outbox;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The server's address, e.g. `http://ferry.internal:8080`; or several replicas'
    /// addresses, comma separated: a lost connection is made again to the next one.
    pub server: String,
    /// The name and labels it expects to have, if it was started with them: the
    /// server decides both and refuses an agent that presents others.
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub workdir: PathBuf,
    /// Needed only until the agent has its credential (kept in the workdir).
    pub registration_token: Option<String>,
    /// This host's own variables (e.g. its port); they win over the environment's.
    pub vars: BTreeMap<String, String>,
    /// When asked to stop, how long the jobs running may take to finish (and their
    /// reports to reach the server) before their steps are killed.
    pub shutdown_grace: Duration,
}

impl AgentConfig {
    /// The addresses it may connect to, in order.
    fn servers(&self) -> Vec<&str> {
        let listed: Vec<&str> =
            self.server.split(',').map(|s| s.trim().trim_end_matches('/')).filter(|s| !s.is_empty()).collect();
        if listed.is_empty() {
            vec![self.server.as_str()]
        } else {
            listed
        }
    }

    /// The address of the `attempt`-th connection: each lost one moves to the next.
    fn server_for(&self, attempt: usize) -> String {
        let servers = self.servers();
        servers[attempt % servers.len()].to_string()
    }

    fn socket_url(base: &str) -> String {
        let base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
        format!("{base}/agent/ws")
    }

    fn credential_file(&self) -> PathBuf {
        self.workdir.join(".ferry-agent-credential")
    }
}

/// What the agent shares between its connection and its running jobs.
#[derive(Default)]
struct Shared {
    outbox: Outbox,
    /// The current connection's sender; `None` while disconnected (reports then wait
    /// in the outbox).
    sender: Mutex<Option<mpsc::UnboundedSender<AgentMessage>>>,
    running: Mutex<HashMap<i64, CancellationToken>>,
    /// The name the server knows this agent by (its steps' `FERRY_AGENT`).
    name: Mutex<String>,
    /// Set once the agent was asked to stop: it takes no new job.
    stopping: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn send(&self, message: AgentMessage) {
        if let Some(sender) = self.sender.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = sender.send(message);
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No job runs and the server has every report.
    fn idle(&self) -> bool {
        self.running().is_empty() && self.outbox.unacked_count() == 0
    }
}

/// Once `stop` is cancelled: no new job is taken, the running ones may finish and
/// report within the grace, then their steps are killed; `done` is cancelled when the
/// agent may exit (everything reported, or the grace and a last moment to report the
/// kills are over).
fn drain_on_stop(shared: Arc<Shared>, stop: CancellationToken, grace: Duration, done: CancellationToken) {
    tokio::spawn(async move {
        stop.cancelled().await;
        shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(jobs = shared.running().len(), ?grace, "stopping: finishing the running jobs first");
        let until_idle = |limit: Duration| {
            let shared = shared.clone();
            tokio::time::timeout(limit, async move {
                while !shared.idle() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        if until_idle(grace).await.is_err() {
            tracing::warn!("the shutdown grace ran out: killing the running steps");
            for token in shared.running().values() {
                token.cancel();
            }
            let _ = until_idle(Duration::from_secs(10)).await;
        }
        done.cancel();
    });
}

enum SessionEnd {
    Lost(String),
    Refused(String),
    Stopped,
}

/// Runs until `stop` is cancelled and the jobs running then have finished and reported
/// (or the shutdown grace ran out), reconnecting with backoff (up to 10 s); an error
/// when the server refuses the agent (a bad token or credential).
pub async fn run(config: AgentConfig, stop: CancellationToken) -> Result<(), String> {
    std::fs::create_dir_all(&config.workdir)
        .map_err(|e| format!("cannot create the work directory {}: {e}", config.workdir.display()))?;
    let shared = Arc::new(Shared::default());
    let done = CancellationToken::new();
    drain_on_stop(shared.clone(), stop, config.shutdown_grace, done.clone());
    let stop = done;
    // Jittered, so that agents cut off together (a server restart) come back spread
    // out; a session that got in starts the sequence again.
    let mut delays = reconnect_delays();
    let mut attempt = 0usize;
    loop {
        let server = config.server_for(attempt);
        attempt = attempt.wrapping_add(1);
        let wait = match session(&config, &server, &shared, &stop, &mut delays).await {
            SessionEnd::Stopped => return Ok(()),
            SessionEnd::Refused(reason) => return Err(format!("the server refused this agent: {reason}")),
            SessionEnd::Lost(why) => {
                let wait = delays.next().unwrap_or(RECONNECT_CAP);
                let next = config.server_for(attempt);
                tracing::warn!(%why, server, next, retry_in = ?wait, "connection to the server lost");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return Ok(()),
        }
    }
}

const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_CAP: Duration = Duration::from_secs(10);

fn reconnect_delays() -> ferry_engine::retry::Delays {
    ferry_engine::retry::delays(RECONNECT_FIRST, RECONNECT_CAP)
}

fn hello(config: &AgentConfig) -> AgentMessage {
    let credential = std::fs::read_to_string(config.credential_file()).ok().map(|c| c.trim().to_string());
    AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        labels: config.labels.clone(),
        registration_token: if credential.is_none() { config.registration_token.clone() } else { None },
        credential,
    }
}

async fn session(
    config: &AgentConfig,
    server: &str,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
    delays: &mut ferry_engine::retry::Delays,
) -> SessionEnd {
    let (socket, _) = match tokio_tungstenite::connect_async(AgentConfig::socket_url(server)).await {
        Ok(connected) => connected,
        Err(e) => return SessionEnd::Lost(e.to_string()),
    };
    let (mut write, mut read) = socket.split();
    if let Err(e) = write.send(Message::Text(hello(config).to_json().into())).await {
        return SessionEnd::Lost(e.to_string());
    }
    let heartbeat_seconds = match next_server_message(&mut read).await {
        Some(ServerMessage::Welcome { agent_id, credential, heartbeat_seconds, name, labels }) => {
            if let Some(credential) = credential {
                if let Err(e) = std::fs::write(config.credential_file(), credential) {
                    return SessionEnd::Refused(format!("cannot keep the credential: {e}"));
                }
            }
            let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            tracing::info!(agent_id, name, labels = shown.join(","), server, "connected to the server");
            *shared.name.lock().unwrap_or_else(|p| p.into_inner()) = name;
            *delays = reconnect_delays();
            heartbeat_seconds.max(1)
        }
        Some(ServerMessage::Refused { reason }) => return SessionEnd::Refused(reason),
        _ => return SessionEnd::Lost("no welcome from the server".into()),
    };
    let (tx, mut outgoing) = mpsc::unbounded_channel();
    for pending in shared.outbox.pending() {
        let _ = tx.send(pending);
    }
    *shared.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(heartbeat_seconds));
    let end = loop {
        tokio::select! {
            incoming = next_server_message(&mut read) => match incoming {
                Some(message) => handle(config, server, shared, message),
                None => break SessionEnd::Lost("the server closed the connection".into()),
            },
            Some(message) = outgoing.recv() => {
                if let Err(e) = write.send(Message::Text(message.to_json().into())).await {
                    // Not acknowledged, so it is still in the outbox for next time.
                    break SessionEnd::Lost(e.to_string());
                }
            }
            _ = heartbeat.tick() => {
                let running = shared.running().keys().copied().collect();
                if let Err(e) = write.send(Message::Text(AgentMessage::Heartbeat { running }.to_json().into())).await {
                    break SessionEnd::Lost(e.to_string());
                }
            }
            _ = stop.cancelled() => {
                let _ = write.send(Message::Close(None)).await;
                break SessionEnd::Stopped;
            }
        }
    };
    *shared.sender.lock().unwrap_or_else(|p| p.into_inner()) = None;
    end
}

type Reader = futures::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// The next message the server sent; `None` when the connection ended. Messages this
/// agent cannot read are logged and skipped.
async fn next_server_message(read: &mut Reader) -> Option<ServerMessage> {
    loop {
        match read.next().await? {
            Ok(Message::Text(text)) => match serde_json::from_str(&text) {
                Ok(message) => return Some(message),
                Err(e) => tracing::warn!(error = %e, "ignoring a message this agent does not understand"),
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A message from `server` (its artifacts and uploads are there: the replica that
/// holds the job).
fn handle(config: &AgentConfig, server: &str, shared: &Arc<Shared>, message: ServerMessage) {
    match message {
        // A job it runs, or whose end is not acknowledged yet, is offered again: by a
        // server that took it over from one that stopped answering. It goes on; what
        // was not acknowledged is sent again (the server keeps each number once).
        ServerMessage::Run { job, .. }
            if shared.running().contains_key(&job) || shared.outbox.pending_for(job).is_some() =>
        {
            for report in shared.outbox.pending_for(job).unwrap_or_default() {
                shared.send(report);
            }
        }
        ServerMessage::Run { job, .. } if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) => {
            let outcome = ferry_engine::executor::Outcome {
                state: ferry_engine::DeploymentState::Failed,
                reason: Some("the agent is stopping and takes no new job".into()),
            };
            shared.send(shared.outbox.push(job, JobReport::Finished { outcome, before: None, moved: false }));
        }
        ServerMessage::Run { job, project, environment, release_id, plan, upload } => {
            start_job(config, server, shared, job, (project, environment), release_id, *plan, upload)
        }
        ServerMessage::Cancel { job } => {
            if let Some(token) = shared.running().get(&job) {
                token.cancel();
            }
        }
        ServerMessage::Ack { job, seq } => shared.outbox.ack(job, seq),
        ServerMessage::Welcome { .. } | ServerMessage::Refused { .. } => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn start_job(
    config: &AgentConfig,
    server: &str,
    shared: &Arc<Shared>,
    job: i64,
    (project, environment): (String, String),
    release_id: i64,
    plan: DeploymentPlan,
    upload: Option<String>,
) {
    let cancel = CancellationToken::new();
    {
        let mut running = shared.running();
        // The server asks again after a reconnect; the job is already here.
        if running.contains_key(&job) {
            return;
        }
        running.insert(job, cancel.clone());
    }
    let shared = shared.clone();
    let mut plan = plan;
    let credential = std::fs::read_to_string(config.credential_file()).ok().map(|c| c.trim().to_string());
    if let Some(artifact) = plan.artifact.as_mut().filter(|a| a.location.starts_with('/')) {
        // The server names its own path; the credential that admits this agent fetches it.
        artifact.location = format!("{server}{}", artifact.location);
        artifact.bearer = credential.clone();
    }
    let upload = upload.map(|path| format!("{server}{path}"));
    let workdir = config.workdir.clone();
    let host_vars = config.vars.clone();
    let host_name = shared.name.lock().unwrap_or_else(|p| p.into_inner()).clone();
    tokio::spawn(async move {
        // Names become directories here: nothing but a plain name is accepted.
        let refused = [("project", &project), ("environment", &environment)]
            .into_iter()
            .filter(|(what, _)| upload.is_none() || *what == "project")
            .find(|(_, name)| !valid_label(name) || name.starts_with('.'));
        if let Some((what, name)) = refused {
            let outcome = ferry_engine::executor::Outcome {
                state: ferry_engine::DeploymentState::Failed,
                reason: Some(format!("the agent refuses the {what} name `{name}`")),
            };
            shared.send(shared.outbox.push(job, JobReport::Finished { outcome, before: None, moved: false }));
            shared.running().remove(&job);
            return;
        }
        // Each environment of a project has its own releases on a host it shares with
        // another, so pruning one never removes the other's live release.
        // A build has a directory per project, apart from every environment's.
        let target_dir = match upload {
            Some(_) => workdir.join(".builds").join(&project),
            None => workdir.join(&project).join(&environment),
        };
        let paths = ReleasePaths::new(target_dir, release_id, job);
        let packed = paths.target_dir.join(format!(".artifact-{job}.tar.gz"));
        for step in plan.steps.iter_mut() {
            if let ferry_engine::plan::StepAction::Pack { to } = &mut step.action {
                *to = packed.display().to_string();
            }
        }
        // The server planned with its own paths; on this host the target is here.
        plan.env.extend(host_vars);
        plan.env.insert("FERRY_AGENT".into(), host_name);
        plan.env.insert("FERRY_TARGET_DIR".into(), paths.target_dir.display().to_string());
        let before = paths.current_release();
        let (tx, mut rx) = mpsc::channel(1024);
        let forwarder = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    // Back-pressure, not loss: a full outbox holds the step's output.
                    shared.outbox.room().await;
                    shared.send(shared.outbox.push(job, JobReport::Step { event }));
                }
            })
        };
        let mut outcome = execute(&plan, &paths, tx, cancel).await;
        let _ = forwarder.await;
        if let Some(url) = upload.filter(|_| outcome.state == ferry_engine::DeploymentState::Succeeded) {
            // The build is done when the server has the artifact.
            if let Err(why) = ferry_engine::upload::upload_artifact(&url, credential.as_deref(), &packed).await {
                outcome =
                    ferry_engine::executor::Outcome { state: ferry_engine::DeploymentState::Failed, reason: Some(why) };
            }
        }
        let _ = std::fs::remove_file(&packed);
        let moved = paths.current_release() != before;
        shared.send(shared.outbox.push(job, JobReport::Finished { outcome, before, moved }));
        shared.running().remove(&job);
    });
}
