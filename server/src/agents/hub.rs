//! The agents connected to this replica and the jobs it relays to them (`relay.rs`).
//! A job's reports are numbered by the agent; the hub passes each number on once, in
//! order, to the job's relay, which keeps it in the database and then acknowledges it
//! (`ack`): reports the agent sends again after a reconnect are not kept twice, and a
//! report acknowledged is never lost, whichever replica dies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_engine::executor::RunnerEvent;
use ferry_engine::protocol::{selector_matches, JobReport, ServerMessage};
use ferry_engine::{LogStream, StepState};
use tokio::sync::mpsc;

struct Online {
    /// Tells connections apart when an agent reconnects before its old one closed.
    connection: u64,
    sender: mpsc::UnboundedSender<ServerMessage>,
    labels: BTreeMap<String, String>,
    name: String,
}

struct Job {
    agent_id: i64,
    last_seq: u64,
    /// Every report, with the agent's number, to the job's relay.
    reports: mpsc::Sender<(u64, JobReport)>,
    run: ServerMessage,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Taken,
    /// For a job this replica does not run: the caller decides whether it is stale
    /// (`fence_stale`) or waits for a relay to claim it.
    Unknown,
}

#[derive(Default)]
struct State {
    online: HashMap<i64, Online>,
    offline_since: HashMap<i64, Instant>,
    /// Names of the agents seen since the server started, for messages about them.
    names: HashMap<i64, String>,
    /// Their labels as they last connected with them, for routing those messages.
    labels: HashMap<i64, BTreeMap<String, String>>,
    /// Agents whose going offline has been announced (or needs no announcing: revoked).
    offline_announced: HashSet<i64>,
    jobs: HashMap<i64, Job>,
    next_connection: u64,
}

#[derive(Clone)]
pub struct AgentHub {
    state: Arc<Mutex<State>>,
    grace: Duration,
}

impl AgentHub {
    /// `grace`: how long a job waits for its agent to come back (to any replica).
    pub fn new(grace: Duration) -> Self {
        Self { state: Arc::default(), grace }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An agent connected; returns its connection number. Jobs it was running are
    /// sent again (it ignores the ones it still has, and resends their reports).
    pub fn connect(
        &self,
        agent_id: i64,
        name: &str,
        labels: BTreeMap<String, String>,
        sender: mpsc::UnboundedSender<ServerMessage>,
    ) -> u64 {
        let mut state = self.lock();
        state.next_connection += 1;
        let connection = state.next_connection;
        for job in state.jobs.values().filter(|j| j.agent_id == agent_id) {
            let _ = sender.send(job.run.clone());
        }
        state.offline_since.remove(&agent_id);
        state.offline_announced.remove(&agent_id);
        state.names.insert(agent_id, name.to_string());
        state.labels.insert(agent_id, labels.clone());
        state.online.insert(agent_id, Online { connection, sender, labels, name: name.to_string() });
        connection
    }

    /// An administrator renamed or relabelled an agent: deployments choose by its new
    /// labels from now on.
    pub fn relabel(&self, agent_id: i64, name: &str, labels: BTreeMap<String, String>) {
        let mut state = self.lock();
        state.names.insert(agent_id, name.to_string());
        state.labels.insert(agent_id, labels.clone());
        if let Some(online) = state.online.get_mut(&agent_id) {
            online.name = name.to_string();
            online.labels = labels;
        }
    }

    /// Whether the agent runs a job whose plan unpacks the artifact `sha256`: only
    /// such an agent may download it.
    pub fn has_job_for_artifact(&self, agent_id: i64, sha256: &str) -> bool {
        self.lock().jobs.values().any(|job| {
            job.agent_id == agent_id
                && matches!(&job.run, ServerMessage::Run { plan, .. }
                    if plan.artifact.as_ref().is_some_and(|a| a.sha256.eq_ignore_ascii_case(sha256)))
        })
    }

    /// The release an agent's build job `job` builds, when the agent runs that job:
    /// only then may it send the job's artifact.
    pub fn build_job(&self, agent_id: i64, job: i64) -> Option<i64> {
        let state = self.lock();
        match &state.jobs.get(&job).filter(|j| j.agent_id == agent_id)?.run {
            ServerMessage::Run { release_id, upload: Some(_), .. } => Some(*release_id),
            _ => None,
        }
    }

    pub fn disconnect(&self, agent_id: i64, connection: u64) {
        let mut state = self.lock();
        if state.online.get(&agent_id).is_some_and(|o| o.connection == connection) {
            state.online.remove(&agent_id);
            state.offline_since.insert(agent_id, Instant::now());
        }
    }

    /// Ends an agent's connection (it was revoked).
    pub fn drop_agent(&self, agent_id: i64) {
        let mut state = self.lock();
        state.offline_announced.insert(agent_id);
        if state.online.remove(&agent_id).is_some() {
            state.offline_since.insert(agent_id, Instant::now());
        }
    }

    /// Agents offline for longer than the grace period and not announced yet: their
    /// ids, names and labels. Each is returned once per absence.
    pub fn newly_offline(&self) -> Vec<(i64, String, BTreeMap<String, String>)> {
        let mut state = self.lock();
        let gone: Vec<i64> = state
            .offline_since
            .iter()
            .filter(|(id, since)| since.elapsed() > self.grace && !state.offline_announced.contains(id))
            .map(|(id, _)| *id)
            .collect();
        gone.into_iter()
            .map(|id| {
                state.offline_announced.insert(id);
                let name = state.names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
                (id, name, state.labels.get(&id).cloned().unwrap_or_default())
            })
            .collect()
    }

    /// The agents connected to this replica now.
    pub fn online_ids(&self) -> Vec<i64> {
        self.lock().online.keys().copied().collect()
    }

    /// How long a job waits for its agent to come back.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub fn is_online(&self, agent_id: i64) -> bool {
        self.lock().online.contains_key(&agent_id)
    }

    pub fn is_busy(&self, agent_id: i64) -> bool {
        self.lock().jobs.values().any(|j| j.agent_id == agent_id)
    }

    /// The online agents `selector` matches, idle ones first, then by name.
    pub fn matching(&self, selector: &str) -> Vec<(i64, String)> {
        let state = self.lock();
        let mut found: Vec<(bool, String, i64)> = state
            .online
            .iter()
            .filter(|(_, o)| selector_matches(selector, &o.labels))
            .map(|(id, o)| (state.jobs.values().any(|j| j.agent_id == *id), o.name.clone(), *id))
            .collect();
        found.sort();
        found.into_iter().map(|(_, name, id)| (id, name)).collect()
    }

    /// Sends a job (a `ServerMessage::Run`) to an agent for its relay: its reports
    /// after `after_seq` (the ones already kept) go to `reports`, unacknowledged until
    /// the relay calls `ack`. Sent again whenever the agent reconnects.
    pub fn relay_job(
        &self,
        agent_id: i64,
        run: ServerMessage,
        after_seq: u64,
        reports: mpsc::Sender<(u64, JobReport)>,
    ) {
        let ServerMessage::Run { job, .. } = run else { return };
        let mut state = self.lock();
        if let Some(online) = state.online.get(&agent_id) {
            let _ = online.sender.send(run.clone());
        }
        state.jobs.insert(job, Job { agent_id, last_seq: after_seq, reports, run });
    }

    /// Stops passing on a relayed job's reports (another replica relays it now).
    pub fn forget(&self, job: i64) {
        self.lock().jobs.remove(&job);
    }

    /// Tells the agent its reports of `job` up to `seq` are kept.
    pub fn ack(&self, agent_id: i64, job: i64, seq: u64) {
        if let Some(online) = self.lock().online.get(&agent_id) {
            let _ = online.sender.send(ServerMessage::Ack { job, seq });
        }
    }

    /// A job nobody waits for any more (it finished, or its deployment ended): its
    /// report is acknowledged, so the agent stops sending it, and the job cancelled.
    pub fn fence_stale(&self, agent_id: i64, job: i64, seq: Option<u64>) {
        let state = self.lock();
        if let Some(online) = state.online.get(&agent_id) {
            tracing::warn!(agent = agent_id, job, "cancelling a stale job on an agent");
            if let Some(seq) = seq {
                let _ = online.sender.send(ServerMessage::Ack { job, seq });
            }
            let _ = online.sender.send(ServerMessage::Cancel { job });
        }
    }

    /// The jobs of `running` this replica does not run.
    pub fn unknown_jobs(&self, running: &[i64]) -> Vec<i64> {
        let state = self.lock();
        running.iter().copied().filter(|job| !state.jobs.contains_key(job)).collect()
    }

    pub fn cancel(&self, job: i64) {
        let state = self.lock();
        if let Some(online) = state.jobs.get(&job).and_then(|j| state.online.get(&j.agent_id)) {
            let _ = online.sender.send(ServerMessage::Cancel { job });
        }
    }

    /// A numbered report from an agent: passed on once, in order, to the job's relay,
    /// which acknowledges it once kept; a report already passed on is acknowledged again.
    pub async fn report(&self, agent_id: i64, job: i64, seq: u64, report: JobReport) -> Reported {
        let reports = {
            let mut state = self.lock();
            let Some(entry) = state.jobs.get_mut(&job).filter(|j| j.agent_id == agent_id) else {
                return Reported::Unknown;
            };
            if seq <= entry.last_seq {
                drop(state);
                self.ack(agent_id, job, seq);
                return Reported::Taken;
            }
            if seq != entry.last_seq + 1 {
                tracing::warn!(job, seq, last = entry.last_seq, "a report arrived out of order; waiting for the gap");
                return Reported::Taken;
            }
            entry.last_seq = seq;
            let reports = entry.reports.clone();
            if matches!(report, JobReport::Finished { .. }) {
                state.jobs.remove(&job);
            }
            reports
        };
        let _ = reports.send((seq, report)).await;
        Reported::Taken
    }
}

/// When an agent is lost during a step: the job's failure reason, and the events that
/// close the step (a last log line saying so, and the step `agent_lost`).
pub fn lost_during(
    plan: Option<&ferry_engine::plan::DeploymentPlan>,
    running_step: Option<usize>,
    silent: &str,
) -> (String, Vec<RunnerEvent>) {
    let Some(index) = running_step else { return (silent.to_string(), Vec::new()) };
    let step = plan.and_then(|p| p.steps.get(index)).map(|s| s.name.clone()).unwrap_or_else(|| format!("#{index}"));
    let reason = format!("{silent} during step {step}; whether it finished there is unknown");
    let marker = format!("── {silent}; this log ends here ──");
    let events = vec![
        RunnerEvent::Log { index, stream: LogStream::System, text: marker },
        RunnerEvent::StepFinished { index, state: StepState::AgentLost, exit_code: None },
    ];
    (reason, events)
}
