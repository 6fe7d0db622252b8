//! One host's part of a deployment: mark it running, run its plan on the built-in
//! agent or on its remote agent with its step numbers shifted to the deployment's,
//! and record how it ended. The engine's rollout calls this once per host, batch by
//! batch.

use std::sync::Arc;

use ferry_app::model::{DeploymentView, EventPayload, TargetState, TargetView};
use ferry_engine::executor::{execute, Outcome, RunnerEvent};
use ferry_engine::plan::DeploymentPlan;
use ferry_engine::protocol::ServerMessage;
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::rollout::{HostRun, HostRunner};
use ferry_engine::DeploymentState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deployer::Deployer;
use super::masking::Masker;
use crate::store::TargetEnd;

/// A host a deployment runs on: Ferry's built-in agent (`agent_id` None) or an agent.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub agent_id: Option<i64>,
}

/// Everything the hosts of one deployment share while it rolls out.
pub struct DeploymentHosts {
    pub deployer: Arc<Deployer>,
    pub deployment: DeploymentView,
    pub project: String,
    pub hosts: Vec<Host>,
    /// Per host: its job number (the host's row id), its plan, and the deployment
    /// position of its first step.
    pub jobs: Vec<i64>,
    pub plans: Vec<DeploymentPlan>,
    pub first_step: Vec<usize>,
    pub events: mpsc::Sender<RunnerEvent>,
    pub cancel: CancellationToken,
    /// Hides secrets in a host's failure reason, as in its log.
    pub masker: Arc<Masker>,
}

impl HostRunner for DeploymentHosts {
    async fn run(&self, host: usize) -> HostRun {
        let d = &self.deployer;
        let id = self.deployment.id;
        if let Ok(Some(target)) = d.store.target_started(id, host as i32).await {
            publish(d, target).await;
        }
        let (tx, mut rx) = mpsc::channel::<RunnerEvent>(1024);
        let offset = self.first_step[host];
        let events = self.events.clone();
        // The host numbers its steps from 0; the deployment numbers all hosts' steps.
        let forward = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let shifted = match event {
                    RunnerEvent::StepStarted { index } => RunnerEvent::StepStarted { index: index + offset },
                    RunnerEvent::Log { index, stream, text } => {
                        RunnerEvent::Log { index: index + offset, stream, text }
                    }
                    RunnerEvent::StepFinished { index, state, exit_code } => {
                        RunnerEvent::StepFinished { index: index + offset, state, exit_code }
                    }
                };
                let _ = events.send(shifted).await;
            }
        });
        let plan = self.plans[host].clone();
        let mut run = match self.hosts[host].agent_id {
            None => self.run_here(plan, tx).await,
            Some(agent_id) => self.run_on_agent(agent_id, self.jobs[host], plan, tx).await,
        };
        run.outcome.reason = self.masker.mask_opt(run.outcome.reason.take());
        let _ = forward.await;
        let end = TargetEnd {
            state: run.state(),
            before_release_id: run.before,
            moved: run.moved,
            reason: run.outcome.reason.as_deref(),
        };
        match d.store.target_finished(id, host as i32, &end).await {
            Ok(Some(target)) => publish(d, target).await,
            Ok(None) => {}
            Err(e) => tracing::error!(deployment = id, host, error = %e, "recording a host's end"),
        }
        run
    }
}

impl DeploymentHosts {
    /// The built-in agent: the engine's executor in this process.
    async fn run_here(&self, plan: DeploymentPlan, events: mpsc::Sender<RunnerEvent>) -> HostRun {
        let owner = match self.deployer.step_users.for_project(self.deployment.project_id) {
            Ok(owner) => owner,
            Err(why) => {
                let outcome = Outcome { state: DeploymentState::Failed, reason: Some(why) };
                return HostRun { outcome, before: None, moved: false };
            }
        };
        let paths = ReleasePaths {
            target_dir: self.deployer.target_dir(&self.deployment.environment, &self.project),
            release_id: self.deployment.release_id,
            deployment_id: self.deployment.id,
            owner,
        };
        let before = paths.current_release();
        let outcome = execute(&plan, &paths, events, self.cancel.clone()).await;
        HostRun { outcome, before, moved: paths.current_release() != before }
    }

    /// A remote agent: the plan goes over its websocket, the events come back.
    async fn run_on_agent(
        &self,
        agent_id: i64,
        job: i64,
        plan: DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
    ) -> HostRun {
        let hub = &self.deployer.agents;
        let run = ServerMessage::Run {
            job,
            project: self.project.clone(),
            environment: self.deployment.environment.clone(),
            release_id: self.deployment.release_id,
            plan: Box::new(plan),
            upload: None,
        };
        if !hub.is_online(agent_id) && !self.deployer.replica.exclusive {
            // Perhaps connected to another replica: the job goes through the database.
            let name = self.hosts.iter().find(|h| h.agent_id == Some(agent_id)).map(|h| h.name.clone());
            let name = name.unwrap_or_else(|| format!("#{agent_id}"));
            let store = &self.deployer.store;
            return crate::agents::relay::run_remote(store, (agent_id, &name), &run, events, &self.cancel, hub.grace())
                .await;
        }
        match hub.run_to_end(agent_id, run, events, &self.cancel).await {
            Some((outcome, before, moved)) => HostRun { outcome, before, moved },
            None => HostRun {
                outcome: Outcome { state: DeploymentState::Failed, reason: Some("the agent's job was lost".into()) },
                before: None,
                moved: false,
            },
        }
    }
}

pub(super) async fn publish(deployer: &Deployer, target: TargetView) {
    if let Err(e) = deployer.bus.publish(EventPayload::Target(target)).await {
        tracing::error!(error = %e, "publishing a host event");
    }
}

/// The states a host can be rolled back from: it ran the new release, well or not.
pub(super) const ROLLED_BACK_FROM: [TargetState; 2] = [TargetState::Succeeded, TargetState::Failed];
