//! Every job a deployment gives an agent goes through the database, so that it
//! outlives the replica that asked for it and the one the agent is connected to.
//! The deployment writes the job (`agent_jobs`, its plan sealed); the replica holding
//! the agent's connection claims it, sends it on, and keeps each report the agent
//! sends, numbered as the agent numbered it, before it acknowledges it. The deployment
//! reads the reports back in order. When the agent's replica dies, the agent
//! reconnects to another, whose relay claims the job once the dead one's hold lapses
//! and asks the agent again: the agent sends what was not acknowledged, and carries on.
//! When the deployment's replica dies, another carries the deployment on and reads the
//! reports from where its recorder stopped (`Progress`). Cancels travel the same way.
//! The artifact is fetched from the agent's replica: share `<data>/artifacts` between
//! replicas (docs/operating.md).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_engine::executor::{Outcome, RunnerEvent};
use ferry_engine::protocol::{JobReport, ServerMessage};
use ferry_engine::rollout::TargetRun;
use ferry_engine::{DeploymentState, StepState};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::AgentHub;
use crate::store::{now_millis, RelayedJob, Store};
use crate::vault::Vault;

/// How often a replica looks for jobs for its agents, and a deployment for reports,
/// when nothing in this process said there are some.
const TICK: Duration = Duration::from_millis(100);
/// How long a replica's hold on an agent, or on a job it relays, lasts unrenewed.
const HOLD: Duration = Duration::from_secs(10);
/// What a sealed job is bound to.
const SEAL_CONTEXT: &str = "agent-job";

/// A job was written in this process: its relay need not wait for the next look.
static JOB_WRITTEN: Notify = Notify::const_new();
/// The deployments of this process waiting for a job's reports, woken when this
/// process keeps some (others' are found by looking every `TICK`).
static WAITING: std::sync::LazyLock<Mutex<HashMap<i64, Arc<Notify>>>> = std::sync::LazyLock::new(Mutex::default);

fn waiting() -> std::sync::MutexGuard<'static, HashMap<i64, Arc<Notify>>> {
    WAITING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reports of `job` were kept: its deployment, if it waits in this process, reads them.
fn kept(job: i64) {
    if let Some(waiter) = waiting().get(&job) {
        waiter.notify_waiters();
    }
}

/// Sends on the jobs for the agents this replica holds, for as long as it runs.
pub fn start(store: Store, hub: AgentHub, vault: Arc<Vault>, replica: String) {
    tokio::spawn(async move {
        let relaying: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let mut cancelled: HashSet<i64> = HashSet::new();
        let mut held_at = Instant::now() - HOLD;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = JOB_WRITTEN.notified() => {}
            }
            let online = hub.online_ids();
            let now = now_millis();
            let until = now + HOLD.as_millis() as i64;
            if held_at.elapsed() > HOLD / 4 {
                if let Err(e) = store.hold_agents(&replica, &online, until).await {
                    tracing::warn!(error = %e, "recording the agents this replica holds");
                }
                held_at = Instant::now();
            }
            let waiting = match store.agents_with_open_jobs().await {
                Ok(waiting) => waiting,
                Err(e) => {
                    tracing::warn!(error = %e, "reading agent jobs");
                    continue;
                }
            };
            let mine: Vec<i64> = online.into_iter().filter(|a| waiting.contains(a)).collect();
            if mine.is_empty() {
                continue;
            }
            // Holds are renewed once half gone: one statement, most ticks writing nothing.
            let renew_before = now + (HOLD / 2).as_millis() as i64;
            let jobs = match store.claim_agent_jobs(&replica, &mine, (now, renew_before, until)).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming agent jobs");
                    continue;
                }
            };
            for job in jobs {
                if relaying.lock().unwrap_or_else(|p| p.into_inner()).insert(job.job) {
                    let relay = relay(store.clone(), hub.clone(), vault.clone(), job.clone());
                    let relaying = relaying.clone();
                    tokio::spawn(async move {
                        relay.await;
                        relaying.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.job);
                    });
                }
            }
            match store.relayed_cancels(&replica).await {
                Ok(asked) => {
                    for job in asked {
                        if cancelled.insert(job) {
                            hub.cancel(job);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading cancels of relayed jobs"),
            }
        }
    });
}

/// Sends one job to its agent and keeps what it reports, until its last report, or
/// until the agent has been away from this replica for a while (it is another's then).
async fn relay(store: Store, hub: AgentHub, vault: Arc<Vault>, job: RelayedJob) {
    let id = job.job;
    let after = match store.last_agent_job_report(id).await {
        Ok(after) => after as u64,
        Err(e) => return tracing::warn!(job = id, error = %e, "reading a relayed job's reports"),
    };
    let run = vault.open_value(SEAL_CONTEXT, &job.run).map_err(|e| e.to_string());
    let run: ServerMessage = match run.and_then(|json| serde_json::from_str(&json).map_err(|e| e.to_string())) {
        Ok(run) => run,
        Err(e) => {
            // Another replica sealed it with another key: it can never be sent from here.
            tracing::error!(job = id, error = %e, "a relayed job cannot be read");
            let why = format!(
                "the replica holding the agent cannot read the job ({e}); every replica needs the same \
                 secret key (FERRY_SECRET_KEY)"
            );
            let outcome = Outcome { state: DeploymentState::Failed, reason: Some(why) };
            let end = JobReport::Finished { outcome, before: None, moved: false };
            let end = vec![(after as i64 + 1, serde_json::to_string(&end).unwrap_or_default())];
            if let Err(e) = store.add_agent_job_reports(id, &end, true).await {
                tracing::warn!(job = id, error = %e, "ending an unreadable job");
            }
            kept(id);
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<(u64, JobReport)>(1024);
    hub.relay_job(job.agent_id, run, after, tx);
    let mut batch = Vec::with_capacity(512);
    let mut offline_since: Option<Instant> = None;
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, 512) => {
                if received == 0 {
                    return; // forgotten: another relay has it
                }
                let finished = batch.iter().any(|(_, r)| matches!(r, JobReport::Finished { .. }));
                let rows: Vec<(i64, String)> = batch
                    .drain(..)
                    .map(|(seq, report)| (seq as i64, serde_json::to_string(&report).unwrap_or_default()))
                    .collect();
                let last = rows.last().map(|(seq, _)| *seq as u64).unwrap_or(0);
                // Retried: the deployment waits for every report, in order; a report
                // kept twice (by a relay that took over) is the same report.
                while let Err(e) = store.add_agent_job_reports(id, &rows, finished).await {
                    tracing::warn!(job = id, error = %e, "keeping an agent's reports; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                kept(id);
                hub.ack(job.agent_id, id, last);
                if finished {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if hub.is_online(job.agent_id) {
                    offline_since = None;
                } else if offline_since.get_or_insert_with(Instant::now).elapsed() > HOLD / 2 {
                    // This replica no longer renews its hold: whichever replica the agent
                    // reconnects to takes the job over.
                    hub.forget(id);
                    return;
                }
            }
        }
    }
}

/// What the recorder kept of a host's steps (numbered as the host numbers them), so
/// that reports read again after a takeover are passed on only if they are new. The
/// recorder keeps a job's events in the order they came, so the first `lines` log lines
/// of a step, and a start or end it already has, are the ones it kept.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    steps: Vec<(StepState, i64)>,
}

impl Progress {
    /// `steps`: per host step, its recorded state and how many of its lines were kept.
    pub fn new(steps: Vec<(StepState, i64)>) -> Self {
        Self { steps }
    }

    /// Whether `event` is new to the recorder.
    fn is_new(&mut self, event: &RunnerEvent) -> bool {
        let index = match event {
            RunnerEvent::StepStarted { index }
            | RunnerEvent::Log { index, .. }
            | RunnerEvent::StepFinished { index, .. } => *index,
        };
        let Some((state, lines)) = self.steps.get_mut(index) else { return true };
        match event {
            RunnerEvent::StepStarted { .. } if *state == StepState::Queued => {
                *state = StepState::Running;
                true
            }
            RunnerEvent::StepStarted { .. } => false,
            RunnerEvent::Log { .. } if *lines > 0 => {
                *lines -= 1;
                false
            }
            RunnerEvent::Log { .. } => true,
            RunnerEvent::StepFinished { state: to, .. } if !state.is_terminal() => {
                *state = *to;
                true
            }
            RunnerEvent::StepFinished { .. } => false,
        }
    }
}

/// Runs a job on an agent, wherever it is connected: writes it (sealed) for the relay
/// of the agent's replica, passes on the reports it keeps that `progress` does not
/// have yet, and asks for a cancel when `cancel` fires. A job already written (the
/// deployment is carried on after its replica died) is picked up where it is. Fails
/// when no replica relays it for `grace` (the agent is connected nowhere).
#[allow(clippy::too_many_arguments)]
pub async fn run_job(
    store: &Store,
    vault: &Vault,
    (agent_id, agent_name): (i64, &str),
    run: &ServerMessage,
    mut progress: Progress,
    events: mpsc::Sender<RunnerEvent>,
    cancel: &CancellationToken,
    grace: Duration,
) -> TargetRun {
    let ServerMessage::Run { job, plan, .. } = run else { unreachable!("only Run messages are jobs") };
    let job = *job;
    let failed = |why: String| TargetRun {
        outcome: Outcome { state: DeploymentState::Failed, reason: Some(why) },
        before: None,
        moved: false,
    };
    let sealed = serde_json::to_string(run).map_err(|e| e.to_string()).and_then(|j| vault.seal(SEAL_CONTEXT, &j));
    let sealed = match sealed {
        Ok(sealed) => sealed,
        Err(e) => return failed(format!("could not hand the job to agent {agent_name}: {e}")),
    };
    if let Err(e) = store.create_agent_job(job, agent_id, &sealed, now_millis()).await {
        return failed(format!("could not hand the job to agent {agent_name}'s replica: {e}"));
    }
    JOB_WRITTEN.notify_waiters();
    let waiter = waiting().entry(job).or_default().clone();
    let ran = follow(store, (agent_name, plan), job, &mut progress, events, cancel, grace, &waiter).await;
    waiting().remove(&job);
    ran
}

/// Passes on the job's kept reports until its last one, or until no replica has relayed
/// it for `grace`.
#[allow(clippy::too_many_arguments)]
async fn follow(
    store: &Store,
    (agent_name, plan): (&str, &ferry_engine::plan::DeploymentPlan),
    job: i64,
    progress: &mut Progress,
    events: mpsc::Sender<RunnerEvent>,
    cancel: &CancellationToken,
    grace: Duration,
    waiter: &Notify,
) -> TargetRun {
    let failed = |why: String| TargetRun {
        outcome: Outcome { state: DeploymentState::Failed, reason: Some(why) },
        before: None,
        moved: false,
    };
    let (mut last, mut relayed_at, mut checked_at, mut cancel_asked) = (0, Instant::now(), Instant::now(), false);
    let mut running_step: Option<usize> = None;
    loop {
        let kept = waiter.notified();
        let reports = match store.agent_job_reports_after(job, last).await {
            Ok(reports) => reports,
            Err(e) => {
                tracing::warn!(job, error = %e, "reading an agent job's reports");
                Vec::new()
            }
        };
        for (seq, json) in reports {
            last = seq;
            match serde_json::from_str::<JobReport>(&json) {
                Ok(JobReport::Step { event }) => {
                    match &event {
                        RunnerEvent::StepStarted { index } => running_step = Some(*index),
                        RunnerEvent::StepFinished { .. } => running_step = None,
                        RunnerEvent::Log { .. } => {}
                    }
                    if progress.is_new(&event) {
                        let _ = events.send(event).await;
                    }
                }
                Ok(JobReport::Finished { outcome, before, moved }) => {
                    let _ = store.end_agent_job(job).await;
                    return TargetRun { outcome, before, moved };
                }
                Err(e) => tracing::error!(job, seq, error = %e, "a kept report cannot be read"),
            }
        }
        if checked_at.elapsed() >= Duration::from_secs(1) {
            checked_at = Instant::now();
            if store.agent_job_relayed(job, now_millis()).await.unwrap_or(true) {
                relayed_at = Instant::now();
            } else if relayed_at.elapsed() > grace {
                let silent = format!("agent {agent_name} lost: no contact for {}s", grace.as_secs());
                let (reason, last_events) = super::hub::lost_during(Some(plan), running_step, &silent);
                for event in last_events {
                    let _ = events.send(event).await;
                }
                let _ = store.end_agent_job(job).await;
                return failed(reason);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = kept => {}
            _ = cancel.cancelled(), if !cancel_asked => {
                cancel_asked = true;
                if let Err(e) = store.cancel_agent_job(job).await {
                    tracing::warn!(job, error = %e, "asking for a job's cancel");
                }
                JOB_WRITTEN.notify_waiters();
            }
        }
    }
}
