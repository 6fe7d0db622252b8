//! Running a queued deployment: wait for the environment's lock, run the plan with the
//! local executor while the recorder persists what it reports, and finish the
//! deployment. A deployment that fails after it switched the environment to the new
//! release is rolled back to the release that ran before, as a recorded rollback
//! deployment, before the environment's lock is released.

use std::sync::Arc;

use ferry_app::error::AppError;
use ferry_app::model::{DeploymentKind, DeploymentState, DeploymentView};
use ferry_engine::executor::{execute, Outcome, RunnerEvent};
use ferry_engine::plan::DeploymentPlan;
use ferry_engine::release_dir::ReleasePaths;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deployer::{Deployer, Requester, Start};
use super::recorder::Recorder;
use super::{catalog, variables};
use crate::error::OrInternal;

/// Who is recorded as having asked for an automatic rollback.
fn automatic_rollback() -> Requester {
    Requester { id: None, login: "ferry".into() }
}

/// How the executor's run ended, and what it did to the environment.
struct RunResult {
    outcome: Outcome,
    /// The release `current` pointed at before the run.
    before: Option<i64>,
    /// Whether `current` points elsewhere after the run.
    moved: bool,
}

impl Deployer {
    pub(super) fn spawn(self: &Arc<Self>, deployment: DeploymentView) {
        let this = self.clone();
        let cancel = CancellationToken::new();
        self.cancel_handles().insert(deployment.id, cancel.clone());
        tokio::spawn(async move {
            let id = deployment.id;
            if let Err(e) = this.run(deployment, cancel).await {
                tracing::error!(deployment = id, error = %e.message, "deployment could not run");
            }
            this.cancel_handles().remove(&id);
        });
    }

    async fn run(self: &Arc<Self>, queued: DeploymentView, cancel: CancellationToken) -> Result<(), AppError> {
        if let Some(at) = queued.not_before {
            // The environment's wait timer; a cancel ends the wait (and the deployment).
            let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Ok(()),
            }
        }
        let _guard = self.locks.acquire(queued.environment_id).await;
        let Some(done) = self.execute_one(&queued, cancel).await? else { return Ok(()) };
        let mut reason = done.outcome.reason.clone();
        let failed_live = queued.kind == DeploymentKind::Deploy && done.outcome.state == DeploymentState::Failed;
        // The rollback is recorded before the failure is, so the failure already says
        // where the environment is going.
        let rollback = match (failed_live && done.moved, done.before) {
            (true, Some(before)) => self.record_rollback(&queued, before).await?,
            _ => None,
        };
        if let Some((rollback, version)) = &rollback {
            let why = reason.take().unwrap_or_default();
            reason = Some(format!("{why}; rolling back to {version} (deployment #{})", rollback.id));
        }
        self.transition(queued.id, DeploymentState::Running, done.outcome.state, reason.as_deref()).await?;
        if let Some((rollback, _)) = rollback {
            tracing::warn!(deployment = queued.id, rollback = rollback.id, "rolling back a failed deployment");
            let cancel = CancellationToken::new();
            self.cancel_handles().insert(rollback.id, cancel.clone());
            let result = self.execute_one(&rollback, cancel).await;
            self.cancel_handles().remove(&rollback.id);
            if let Some(done) = result? {
                let outcome = done.outcome;
                self.transition(rollback.id, DeploymentState::Running, outcome.state, outcome.reason.as_deref())
                    .await?;
            }
        }
        Ok(())
    }

    /// Records a rollback of `failed`'s environment to `release_id`; returns it with
    /// the version it goes back to.
    async fn record_rollback(
        &self,
        failed: &DeploymentView,
        release_id: i64,
    ) -> Result<Option<(DeploymentView, String)>, AppError> {
        let project = catalog::project(&self.store, &failed.project).await?;
        let release = self.store.release(release_id).await.or_internal("loading a release")?;
        let (Some(environment), Some(release)) =
            (project.environments.iter().find(|e| e.id == failed.environment_id), release)
        else {
            tracing::error!(deployment = failed.id, release_id, "cannot roll back: the release is gone");
            return Ok(None);
        };
        let rollback = self
            .record(&project, environment, &release, DeploymentKind::Rollback, &automatic_rollback(), Start::Now)
            .await?;
        Ok(Some((rollback, release.version)))
    }

    /// Runs a queued deployment up to its outcome (the caller records the outcome);
    /// `None` when it did not run (cancelled while waiting, or unplannable).
    async fn execute_one(
        &self,
        queued: &DeploymentView,
        cancel: CancellationToken,
    ) -> Result<Option<RunResult>, AppError> {
        let release = self.store.release(queued.release_id).await.or_internal("loading a release")?;
        let project = catalog::project(&self.store, &queued.project).await?;
        let planned = release.as_ref().ok_or_else(|| AppError::not_found("release vanished")).and_then(|r| {
            self.plan_for(r, queued.kind, &project.slug, &queued.environment, &project.repo_url, queued.id)
        });
        // Ferry's variables and secrets join the pipeline's, and override them.
        let planned = match planned {
            Ok(mut plan) => match variables::resolve(&self.store, &self.vault, project.id, &queued.environment).await {
                Ok((vars, secrets)) => {
                    plan.env.extend(vars);
                    Ok((plan, secrets))
                }
                Err(why) => Err(AppError::unprocessable(why)),
            },
            Err(e) => Err(e),
        };
        let (plan, secrets) = match planned {
            Ok(planned) => planned,
            Err(e) => {
                self.close_steps(queued.id).await?;
                self.transition(queued.id, DeploymentState::Queued, DeploymentState::Failed, Some(&e.message)).await?;
                return Ok(None);
            }
        };
        // Which agent runs it: the built-in one, or the first online agent the
        // environment's selector matches (idle ones first).
        let selector =
            project.environments.iter().find(|e| e.id == queued.environment_id).map(|e| e.agent_selector.clone());
        let agent = match selector.filter(|s| !s.is_empty()) {
            None => None,
            Some(selector) => match self.agents.matching(&selector).into_iter().next() {
                Some(found) => Some(found),
                None => {
                    let why = format!("no online agent matches `{selector}`");
                    self.close_steps(queued.id).await?;
                    self.transition(queued.id, DeploymentState::Queued, DeploymentState::Failed, Some(&why)).await?;
                    return Ok(None);
                }
            },
        };
        let transition =
            self.store.transition_deployment(queued.id, DeploymentState::Queued, DeploymentState::Running, None);
        match transition.await.or_internal("starting a deployment")? {
            Some(running) => self.announce(&running).await,
            None => return Ok(None), // cancelled while it waited
        }

        let (tx, rx) = mpsc::channel(1024);
        let names = plan.steps.iter().map(|s| s.name.clone()).collect();
        let recorder = Recorder::new(self.store.clone(), self.bus.clone(), self.metrics.clone(), queued.id, names)
            .masking(secrets);
        let recording = tokio::spawn(recorder.record(rx));
        let result = match agent {
            None => self.run_here(queued, &project.slug, &plan, tx, cancel).await,
            Some((agent_id, name)) => {
                tracing::info!(deployment = queued.id, agent = agent_id, name, "running on an agent");
                self.store.set_deployment_agent(queued.id, agent_id).await.or_internal("recording the agent")?;
                self.run_on_agent(queued, agent_id, &project.slug, plan, tx, cancel).await
            }
        };
        if let Err(e) = recording.await {
            tracing::error!(deployment = queued.id, error = %e, "recording stopped");
        }
        Ok(Some(result))
    }

    /// The built-in agent: the engine's executor in this process.
    async fn run_here(
        &self,
        queued: &DeploymentView,
        project: &str,
        plan: &DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
        cancel: CancellationToken,
    ) -> RunResult {
        let paths = ReleasePaths {
            target_dir: self.target_dir(&queued.environment, project),
            release_id: queued.release_id,
            deployment_id: queued.id,
        };
        let before = paths.current_release();
        let outcome = execute(plan, &paths, events, cancel).await;
        RunResult { outcome, before, moved: paths.current_release() != before }
    }

    /// A remote agent: the plan goes over its websocket, the events come back.
    async fn run_on_agent(
        &self,
        queued: &DeploymentView,
        agent_id: i64,
        project: &str,
        plan: DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
        cancel: CancellationToken,
    ) -> RunResult {
        let done = self.agents.run(agent_id, queued.id, project, queued.release_id, plan, events);
        let hub = self.agents.clone();
        let job = queued.id;
        let forward_cancel = tokio::spawn(async move {
            cancel.cancelled().await;
            hub.cancel(job);
        });
        let result = done.await;
        forward_cancel.abort();
        match result {
            Ok((outcome, before, moved)) => RunResult { outcome, before, moved },
            Err(_) => RunResult {
                outcome: Outcome { state: DeploymentState::Failed, reason: Some("the agent's job was lost".into()) },
                before: None,
                moved: false,
            },
        }
    }
}
