//! One host's part of a deployment: mark it running, run its plan where the target
//! is (the built-in agent, an agent, an SSH host) with its step numbers shifted to the
//! deployment's, and record how it ended. The engine's rollout calls this once per
//! host, batch by batch.

use std::sync::Arc;

use ferry_app::model::{DeploymentView, EventPayload, TargetKind, TargetState, TargetView};
use ferry_engine::executor::{execute, execute_on, Outcome, RunnerEvent};
use ferry_engine::machine::Machine;
use ferry_engine::plan::DeploymentPlan;
use ferry_engine::protocol::ServerMessage;
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::rollout::{TargetRun, TargetRunner};
use ferry_engine::DeploymentState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deployer::Deployer;
use super::masking::Masker;
use crate::agents::relay::Progress;
use crate::ssh::connector::SshConnections;
use crate::ssh::machine::SshMachine;
use crate::store::TargetEnd;

/// A target a deployment runs on, by name and kind.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
}

impl Target {
    /// Whether it fetches the artifact from the server's URL (an agent), rather than
    /// being given it by the server (the built-in agent reads the file, an SSH host is
    /// sent it).
    pub fn downloads_artifact(&self) -> bool {
        matches!(self.kind, TargetKind::Agent(_))
    }
}

/// Everything the hosts of one deployment share while it rolls out.
pub struct DeploymentTargets {
    pub deployer: Arc<Deployer>,
    pub deployment: DeploymentView,
    pub project: String,
    pub hosts: Vec<Target>,
    /// Per host: its job number (the host's row id), its plan, and the deployment
    /// position of its first step.
    pub jobs: Vec<i64>,
    pub plans: Vec<DeploymentPlan>,
    pub first_step: Vec<usize>,
    pub events: mpsc::Sender<RunnerEvent>,
    pub cancel: CancellationToken,
    /// Hides secrets in a host's failure reason, as in its log.
    pub masker: Arc<Masker>,
    /// The connections to its SSH hosts.
    pub ssh: SshConnections,
}

impl TargetRunner for DeploymentTargets {
    async fn run(&self, host: usize) -> TargetRun {
        let d = &self.deployer;
        let id = self.deployment.id;
        // Carried on after its replica stopped: a host may have ended, or be running.
        let recorded = match d.store.targets(id).await {
            Ok(targets) => targets.into_iter().find(|t| t.position == host as i32),
            Err(e) => {
                tracing::error!(deployment = id, host, error = %e, "reading a host");
                None
            }
        };
        match recorded.as_ref() {
            Some(target) if target.state == TargetState::Running => {}
            Some(done) if done.state != TargetState::Pending => return recorded_run(done),
            _ => {
                if let Ok(Some(target)) = d.store.target_started(id, host as i32).await {
                    publish(d, target).await;
                }
            }
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
        let mut run = match self.hosts[host].kind {
            TargetKind::BuiltIn => self.run_here(plan, tx).await,
            TargetKind::Agent(agent_id) => self.run_on_agent(agent_id, host, plan, tx).await,
            TargetKind::Ssh(host_id) => self.run_over_ssh(host_id, plan, tx).await,
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

impl DeploymentTargets {
    /// The built-in agent: the engine's executor in this process.
    async fn run_here(&self, plan: DeploymentPlan, events: mpsc::Sender<RunnerEvent>) -> TargetRun {
        let owner = match self.deployer.step_users.for_project(self.deployment.project_id) {
            Ok(owner) => owner,
            Err(why) => {
                let outcome = Outcome { state: DeploymentState::Failed, reason: Some(why) };
                return TargetRun { outcome, before: None, moved: false };
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
        TargetRun { outcome, before, moved: paths.current_release() != before }
    }

    /// A remote agent: the plan goes over its websocket, the events come back.
    async fn run_on_agent(
        &self,
        agent_id: i64,
        host: usize,
        plan: DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
    ) -> TargetRun {
        let hub = &self.deployer.agents;
        let run = ServerMessage::Run {
            job: self.jobs[host],
            project: self.project.clone(),
            environment: self.deployment.environment.clone(),
            release_id: self.deployment.release_id,
            plan: Box::new(plan),
            upload: None,
        };
        let name = self.hosts.iter().find(|h| h.kind == TargetKind::Agent(agent_id)).map(|h| h.name.clone());
        let name = name.unwrap_or_else(|| format!("#{agent_id}"));
        let d = &self.deployer;
        let progress = self.progress(host).await;
        let agent = (agent_id, name.as_str());
        crate::agents::relay::run_job(&d.store, &d.vault, agent, &run, progress, events, &self.cancel, hub.grace())
            .await
    }

    /// An SSH host: one connection for all its steps, driven from here. Its turn on the
    /// host is waited for first (a host runs a bounded number of deployments at once).
    async fn run_over_ssh(
        &self,
        host_id: i64,
        mut plan: DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
    ) -> TargetRun {
        let failed = |why: String| TargetRun {
            outcome: Outcome { state: DeploymentState::Failed, reason: Some(why) },
            before: None,
            moved: false,
        };
        let d = &self.deployer;
        let cancelled = || TargetRun {
            outcome: Outcome { state: DeploymentState::Cancelled, reason: Some("cancelled".into()) },
            before: None,
            moved: false,
        };
        let _turn = tokio::select! {
            turn = d.ssh.turn(host_id, self.deployment.id) => turn,
            _ = self.cancel.cancelled() => return cancelled(),
        };
        let (row, session) = tokio::select! {
            connected = self.ssh.session(&d.ssh, host_id) => match connected {
                Ok(connected) => connected,
                Err(why) => return failed(why),
            },
            _ = self.cancel.cancelled() => return cancelled(),
        };
        let target_dir = std::path::Path::new(&row.deploy_dir).join(&self.project).join(&self.deployment.environment);
        // The host's own variables win over the environment's.
        plan.env.extend(row.vars());
        plan.env.insert("FERRY_TARGET_DIR".into(), target_dir.display().to_string());
        let paths = ReleasePaths::new(target_dir, self.deployment.release_id, self.deployment.id);
        let machine = SshMachine::new(session, paths);
        let before = machine.current_release().await;
        let outcome = execute_on(&machine, &plan, events, self.cancel.clone()).await;
        let now = machine.current_release().await;
        TargetRun { outcome, before, moved: now != before }
    }

    /// What the recorder kept of the host's steps: nothing for a host that starts now,
    /// everything up to where it stopped for one carried on after a replica died.
    async fn progress(&self, host: usize) -> Progress {
        let first = self.first_step[host] as i32;
        let count = self.plans[host].steps.len() as i32;
        match self.deployer.store.recorded_steps(self.deployment.id).await {
            Ok(steps) => Progress::new(
                steps
                    .into_iter()
                    .filter(|s| s.position >= first && s.position < first + count)
                    .map(|s| (s.state, s.lines))
                    .collect(),
            ),
            Err(e) => {
                tracing::error!(deployment = self.deployment.id, error = %e, "reading the recorded steps");
                Progress::default()
            }
        }
    }
}

/// How a host that already ended went, as recorded.
fn recorded_run(target: &TargetView) -> TargetRun {
    let state = match target.state {
        TargetState::Succeeded => DeploymentState::Succeeded,
        TargetState::Cancelled => DeploymentState::Cancelled,
        _ => DeploymentState::Failed,
    };
    TargetRun {
        outcome: Outcome { state, reason: target.reason.clone() },
        before: target.before_release_id,
        moved: target.moved,
    }
}

pub(super) async fn publish(deployer: &Deployer, target: TargetView) {
    if let Err(e) = deployer.bus.publish(EventPayload::Target(target)).await {
        tracing::error!(error = %e, "publishing a host event");
    }
}

/// The states a host can be rolled back from: it ran the new release, well or not.
pub(super) const ROLLED_BACK_FROM: [TargetState; 2] = [TargetState::Succeeded, TargetState::Failed];
