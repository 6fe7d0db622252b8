//! Agents across replicas (PostgreSQL). An agent holds one connection, to one replica;
//! a deployment may run on another. Each replica records which agents it holds
//! (renewed every couple of seconds), so every replica can choose any agent; a job
//! for an agent held elsewhere is written to the database, the agent's replica claims
//! it, sends it on, and writes back each report of the agent's, in order; the replica
//! running the deployment reads them as if the agent were its own.
//! Cancels travel the same way. The artifact is fetched from the agent's replica:
//! share `<data>/artifacts` between replicas (docs/operating.md).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_engine::executor::{Outcome, RunnerEvent};
use ferry_engine::protocol::{JobReport, ServerMessage};
use ferry_engine::rollout::HostRun;
use ferry_engine::DeploymentState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::AgentHub;
use crate::store::{now_millis, RelayedJob, Store};

/// How often a replica looks for jobs for its agents, and a deployment for reports.
const TICK: Duration = Duration::from_millis(100);
/// How long a replica's hold on an agent, or on a job it relays, lasts unrenewed.
const HOLD: Duration = Duration::from_secs(10);

/// Sends on the jobs for the agents this replica holds, for as long as it runs.
pub fn start(store: Store, hub: AgentHub, replica: String) {
    tokio::spawn(async move {
        let relaying: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let mut cancelled: HashSet<i64> = HashSet::new();
        let mut held_at = Instant::now() - HOLD;
        loop {
            tokio::time::sleep(TICK).await;
            let online = hub.online_ids();
            let now = now_millis();
            let until = now + HOLD.as_millis() as i64;
            if held_at.elapsed() > HOLD / 4 {
                if let Err(e) = store.hold_agents(&replica, &online, until).await {
                    tracing::warn!(error = %e, "recording the agents this replica holds");
                }
                held_at = Instant::now();
            }
            for agent in online {
                let jobs = match store.claim_agent_jobs(&replica, agent, now, until).await {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming agent jobs");
                        continue;
                    }
                };
                for job in jobs {
                    if job.cancel_requested != 0 && cancelled.insert(job.job) {
                        hub.cancel(job.job);
                    }
                    if relaying.lock().unwrap_or_else(|p| p.into_inner()).insert(job.job) {
                        tokio::spawn(relay(store.clone(), hub.clone(), job, relaying.clone()));
                    }
                }
            }
        }
    });
}

/// Sends one job to its agent and writes back what it reports.
async fn relay(store: Store, hub: AgentHub, job: RelayedJob, relaying: Arc<Mutex<HashSet<i64>>>) {
    let id = job.job;
    let run: ServerMessage = match serde_json::from_str(&job.run) {
        Ok(run) => run,
        Err(e) => return tracing::error!(job = id, error = %e, "a relayed job is not a Run message"),
    };
    let mut seq = store.last_agent_job_report(id).await.unwrap_or(0);
    let (tx, mut rx) = mpsc::channel::<RunnerEvent>(1024);
    let done = hub.run(job.agent_id, run, tx);
    while let Some(event) = rx.recv().await {
        seq += 1;
        write(&store, id, seq, &JobReport::Step { event }).await;
    }
    let (outcome, before, moved) = done.await.unwrap_or_else(|_| {
        (Outcome { state: DeploymentState::Failed, reason: Some("the job ended without a result".into()) }, None, false)
    });
    write(&store, id, seq + 1, &JobReport::Finished { outcome, before, moved }).await;
    relaying.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
}

async fn write(store: &Store, job: i64, seq: i64, report: &JobReport) {
    let json = serde_json::to_string(report).unwrap_or_default();
    // Retried: the deployment waits for every report, in order.
    while let Err(e) = store.add_agent_job_report(job, seq, &json).await {
        tracing::warn!(job, seq, error = %e, "writing back an agent's report; trying again");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs a job on an agent held by another replica: writes it for that replica, passes
/// on the reports it writes back, and asks for a cancel when `cancel` fires. Fails when
/// no replica relays it for `grace` (the agent is connected nowhere).
pub async fn run_remote(
    store: &Store,
    (agent_id, agent_name): (i64, &str),
    run: &ServerMessage,
    events: mpsc::Sender<RunnerEvent>,
    cancel: &CancellationToken,
    grace: Duration,
) -> HostRun {
    let ServerMessage::Run { job, .. } = run else { unreachable!("only Run messages are jobs") };
    let job = *job;
    let failed = |why: String| HostRun {
        outcome: Outcome { state: DeploymentState::Failed, reason: Some(why) },
        before: None,
        moved: false,
    };
    let json = serde_json::to_string(run).unwrap_or_default();
    if let Err(e) = store.create_agent_job(job, agent_id, &json, now_millis()).await {
        return failed(format!("could not hand the job to agent {agent_name}'s replica: {e}"));
    }
    let (mut last, mut relayed_at, mut cancel_asked) = (0, Instant::now(), false);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = cancel.cancelled(), if !cancel_asked => {
                cancel_asked = true;
                if let Err(e) = store.cancel_agent_job(job).await {
                    tracing::warn!(job, error = %e, "asking for a relayed job's cancel");
                }
            }
        }
        let reports = store.agent_job_reports_after(job, last).await.unwrap_or_default();
        for (seq, json) in reports {
            last = seq;
            match serde_json::from_str::<JobReport>(&json) {
                Ok(JobReport::Step { event }) => {
                    let _ = events.send(event).await;
                }
                Ok(JobReport::Finished { outcome, before, moved }) => {
                    let _ = store.end_agent_job(job).await;
                    return HostRun { outcome, before, moved };
                }
                Err(e) => tracing::error!(job, seq, error = %e, "a relayed report cannot be read"),
            }
        }
        if store.agent_job_relayed(job, now_millis()).await.unwrap_or(true) {
            relayed_at = Instant::now();
        } else if relayed_at.elapsed() > grace {
            let _ = store.end_agent_job(job).await;
            return failed(format!("agent {agent_name} lost: connected to no replica for {}s", grace.as_secs()));
        }
    }
}
