//! The connected agents and the jobs running on them. A job's reports are numbered;
//! the hub passes each number on once (to the deployment's recorder) and acknowledges
//! it, so reports the agent sends again after a reconnect are not recorded twice. A
//! job whose agent stays away longer than the grace period fails with that reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_engine::executor::{Outcome, RunnerEvent};
use ferry_engine::protocol::{selector_matches, JobReport, ServerMessage};
use ferry_engine::{DeploymentState, LogStream, StepState};
use tokio::sync::{mpsc, oneshot};

/// How a job on an agent ended: the outcome, and `current` before and whether it moved.
pub type JobResult = (Outcome, Option<i64>, bool);

struct Online {
    /// Tells connections apart when an agent reconnects before its old one closed.
    connection: u64,
    sender: mpsc::UnboundedSender<ServerMessage>,
    labels: BTreeMap<String, String>,
    name: String,
}

struct Job {
    agent_id: i64,
    /// The step the agent last said it started and has not finished.
    running_step: Option<usize>,
    last_seq: u64,
    sink: Sink,
    run: ServerMessage,
}

/// Where a job's reports go.
enum Sink {
    /// To a task of this process that waits for the job (a build): events as they come,
    /// acknowledged once passed on, and the result at the end.
    Direct { events: mpsc::Sender<RunnerEvent>, done: Option<oneshot::Sender<JobResult>> },
    /// Every report with the agent's number, to the relay (`relay.rs`), which keeps it
    /// in the database before it acknowledges it (`ack`): a report acknowledged is
    /// never lost, whichever replica dies.
    Relayed(mpsc::Sender<(u64, JobReport)>),
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
    /// `grace`: how long a job waits for its agent to come back.
    pub fn new(grace: Duration) -> Self {
        let hub = Self { state: Arc::default(), grace };
        let watchdog = hub.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1).min(watchdog.grace)).await;
                watchdog.fail_abandoned_jobs().await;
            }
        });
        hub
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

    /// Sends a job (a `ServerMessage::Run`) to an agent; its step events go to
    /// `events`, and the returned receiver gets the result.
    pub fn run(
        &self,
        agent_id: i64,
        run: ServerMessage,
        events: mpsc::Sender<RunnerEvent>,
    ) -> oneshot::Receiver<JobResult> {
        let (done, result) = oneshot::channel();
        let ServerMessage::Run { job, .. } = run else {
            tracing::error!(agent = agent_id, "only a Run message is a job");
            return result;
        };
        let mut state = self.lock();
        if let Some(online) = state.online.get(&agent_id) {
            let _ = online.sender.send(run.clone());
        } else {
            state.offline_since.entry(agent_id).or_insert_with(Instant::now);
        }
        let sink = Sink::Direct { events, done: Some(done) };
        state.jobs.insert(job, Job { agent_id, running_step: None, last_seq: 0, sink, run });
        result
    }

    /// Sends a job to an agent for the relay: its reports after `after_seq` (the ones
    /// already kept) go to `reports`, unacknowledged until the relay calls `ack`.
    pub fn run_relayed(
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
        let sink = Sink::Relayed(reports);
        state.jobs.insert(job, Job { agent_id, running_step: None, last_seq: after_seq, sink, run });
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

    /// `run`, passing on `cancel` to the agent, until the job ends; `None` when its
    /// result was lost.
    pub async fn run_to_end(
        &self,
        agent_id: i64,
        run: ServerMessage,
        events: mpsc::Sender<RunnerEvent>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Option<JobResult> {
        let ServerMessage::Run { job, .. } = &run else { return None };
        let job = *job;
        let done = self.run(agent_id, run, events);
        let forward_cancel = {
            let (hub, cancel) = (self.clone(), cancel.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                hub.cancel(job);
            })
        };
        let result = done.await;
        forward_cancel.abort();
        result.ok()
    }

    pub fn cancel(&self, job: i64) {
        let state = self.lock();
        if let Some(online) = state.jobs.get(&job).and_then(|j| state.online.get(&j.agent_id)) {
            let _ = online.sender.send(ServerMessage::Cancel { job });
        }
    }

    /// A numbered report from an agent: passed on once, in order.
    pub async fn report(&self, agent_id: i64, job: i64, seq: u64, report: JobReport) -> Reported {
        enum Forward {
            Event(mpsc::Sender<RunnerEvent>, RunnerEvent),
            Relay(mpsc::Sender<(u64, JobReport)>, JobReport),
        }
        let forward = {
            let mut state = self.lock();
            let ack = |state: &State| {
                if let Some(online) = state.online.get(&agent_id) {
                    let _ = online.sender.send(ServerMessage::Ack { job, seq });
                }
            };
            let Some(entry) = state.jobs.get_mut(&job).filter(|j| j.agent_id == agent_id) else {
                return Reported::Unknown;
            };
            if seq <= entry.last_seq {
                ack(&state);
                return Reported::Taken;
            }
            if seq != entry.last_seq + 1 {
                tracing::warn!(job, seq, last = entry.last_seq, "a report arrived out of order; waiting for the gap");
                return Reported::Taken;
            }
            entry.last_seq = seq;
            if let JobReport::Step { event } = &report {
                match event {
                    RunnerEvent::StepStarted { index } => entry.running_step = Some(*index),
                    RunnerEvent::StepFinished { .. } => entry.running_step = None,
                    RunnerEvent::Log { .. } => {}
                }
            }
            let finished = matches!(report, JobReport::Finished { .. });
            let forward = match (&mut entry.sink, report) {
                (Sink::Relayed(reports), report) => Some(Forward::Relay(reports.clone(), report)),
                (Sink::Direct { events, .. }, JobReport::Step { event }) => Some(Forward::Event(events.clone(), event)),
                (Sink::Direct { done, .. }, JobReport::Finished { outcome, before, moved }) => {
                    if let Some(done) = done.take() {
                        let _ = done.send((outcome, before, moved));
                    }
                    None
                }
            };
            if finished {
                state.jobs.remove(&job);
                if forward.is_none() {
                    ack(&state);
                }
            }
            forward
        };
        match forward {
            Some(Forward::Event(events, event)) => {
                // Queued to the waiting task before it is acknowledged.
                let _ = events.send(event).await;
                self.ack(agent_id, job, seq);
            }
            // The relay acknowledges once the report is kept.
            Some(Forward::Relay(reports, report)) => {
                let _ = reports.send((seq, report)).await;
            }
            None => {}
        }
        Reported::Taken
    }

    /// Jobs whose agent stayed away longer than the grace period: the step it was
    /// running is marked `agent_lost`, with a last log line saying so, and the job fails.
    async fn fail_abandoned_jobs(&self) {
        let grace = self.grace;
        let lost: Vec<(Job, String)> = {
            let mut state = self.lock();
            let gone: Vec<i64> = state
                .jobs
                .iter()
                .filter(|(_, j)| matches!(j.sink, Sink::Direct { .. }))
                .filter(|(_, j)| state.offline_since.get(&j.agent_id).is_some_and(|t| t.elapsed() > grace))
                .map(|(id, _)| *id)
                .collect();
            let mut lost = Vec::new();
            for id in gone {
                if let Some(job) = state.jobs.remove(&id) {
                    let name = state.names.get(&job.agent_id).cloned().unwrap_or_else(|| format!("#{}", job.agent_id));
                    lost.push((job, name));
                }
            }
            lost
        };
        for (job, name) in lost {
            let Sink::Direct { events, mut done } = job.sink else { continue };
            let silent = format!("agent {name} lost: no contact for {}s", grace.as_secs());
            let plan = match &job.run {
                ServerMessage::Run { plan, .. } => Some(plan.as_ref()),
                _ => None,
            };
            let (reason, last_events) = lost_during(plan, job.running_step, &silent);
            for event in last_events {
                let _ = events.send(event).await;
            }
            if let Some(done) = done.take() {
                let outcome = Outcome { state: DeploymentState::Failed, reason: Some(reason) };
                let _ = done.send((outcome, None, false));
            }
        }
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
