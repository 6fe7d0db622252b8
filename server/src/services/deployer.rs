//! Starting deployments and driving them through the engine: validate the request,
//! record a queued deployment, wait for the environment's lock, run the plan with the
//! local executor, and persist every transition. Also recovers after a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, DeploymentState, DeploymentView, EventPayload};
use ferry_engine::executor::execute;
use ferry_engine::locks::EnvironmentLocks;
use ferry_engine::pipeline::{Pipeline, PIPELINE_FILE};
use ferry_engine::plan::{plan, DeploymentFacts, DeploymentPlan};
use ferry_engine::release_dir::ReleasePaths;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::recorder::Recorder;
use super::{catalog, promotion};
use crate::error::OrInternal;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::store::{ReleaseRow, Store};

pub const INTERRUPTED: &str = "interrupted: the Ferry server stopped while this deployment ran";

pub struct Deployer {
    pub store: Store,
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    locks: EnvironmentLocks,
    /// Cancellation handles of the deployments this process is running or queueing.
    cancels: Mutex<HashMap<i64, CancellationToken>>,
    /// Where targets live: `<targets>/<environment>/<project>/releases/<release>/`.
    targets: PathBuf,
}

impl Deployer {
    pub fn new(store: Store, bus: EventBus, metrics: Arc<Metrics>, targets: PathBuf) -> Arc<Self> {
        Arc::new(Self { store, bus, metrics, locks: EnvironmentLocks::default(), cancels: Mutex::default(), targets })
    }

    /// Records a queued deployment and starts it in the background.
    pub async fn start(self: &Arc<Self>, request: DeployRequest) -> Result<DeploymentView, AppError> {
        let (project, environment, release) = catalog::resolve_target(&self.store, &request).await?;
        promotion::check(&self.store, &project, &release, &environment).await?;
        // Planning now rejects a release whose pipeline does not declare the environment
        // before anything is recorded.
        let steps = self.plan_for(&release, &project.slug, &environment.name, &project.repo_url, 0)?.steps;
        let names: Vec<String> = steps.into_iter().map(|s| s.name).collect();
        let deployment = self
            .store
            .create_deployment(project.id, environment.id, release.id, &names)
            .await
            .or_internal("recording a deployment")?;
        self.announce(&deployment).await;
        self.spawn(deployment.clone());
        Ok(deployment)
    }

    fn plan_for(
        &self,
        release: &ReleaseRow,
        project: &str,
        environment: &str,
        repo_url: &str,
        deployment_id: i64,
    ) -> Result<DeploymentPlan, AppError> {
        let pipeline =
            Pipeline::parse(PIPELINE_FILE, &release.pipeline).map_err(|e| AppError::unprocessable(e.to_string()))?;
        let facts = DeploymentFacts {
            project: project.into(),
            environment: environment.into(),
            release_version: release.version.clone(),
            release_id: release.id,
            deployment_id,
            repo_url: repo_url.into(),
            commit: release.git_commit.clone(),
            target_dir: self.target_dir(environment, project).display().to_string(),
        };
        plan(&pipeline, &facts).map_err(AppError::unprocessable)
    }

    fn target_dir(&self, environment: &str, project: &str) -> PathBuf {
        self.targets.join(environment).join(project)
    }

    fn spawn(self: &Arc<Self>, deployment: DeploymentView) {
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

    fn cancel_handles(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.cancels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancels a queued deployment at once, or a running one by killing its step.
    pub async fn cancel(&self, id: i64) -> Result<DeploymentView, AppError> {
        let deployment = self
            .store
            .deployment(id)
            .await
            .or_internal("loading a deployment")?
            .ok_or_else(|| AppError::not_found(format!("no deployment {id}")))?;
        match deployment.state {
            DeploymentState::Queued => {
                if let Some(view) = self
                    .store
                    .transition_deployment(
                        id,
                        DeploymentState::Queued,
                        DeploymentState::Cancelled,
                        Some("cancelled while queued"),
                    )
                    .await
                    .or_internal("cancelling")?
                {
                    for step in self.store.close_open_steps(id).await.or_internal("closing steps")? {
                        let _ = self.bus.publish(EventPayload::Step(step)).await;
                    }
                    self.announce(&view).await;
                    return Ok(view);
                }
            }
            DeploymentState::Running => {
                if let Some(token) = self.cancel_handles().get(&id) {
                    token.cancel();
                    return Ok(deployment);
                }
            }
            _ => {}
        }
        let current = self.store.deployment(id).await.or_internal("loading a deployment")?.unwrap_or(deployment);
        Err(AppError::conflict(format!("deployment {id} is {} and cannot be cancelled", current.state)))
    }

    async fn run(self: &Arc<Self>, queued: DeploymentView, cancel: CancellationToken) -> Result<(), AppError> {
        let _guard = self.locks.acquire(queued.environment_id).await;
        // It may have been cancelled while it waited for the lock.
        let still_queued = self.store.deployment(queued.id).await.or_internal("loading a deployment")?;
        if still_queued.is_none_or(|d| d.state != DeploymentState::Queued) {
            return Ok(());
        }
        let release = self.store.release(queued.release_id).await.or_internal("loading a release")?;
        let project = catalog::project(&self.store, &queued.project).await?;
        let planned = release
            .as_ref()
            .ok_or_else(|| AppError::not_found("release vanished"))
            .and_then(|r| self.plan_for(r, &project.slug, &queued.environment, &project.repo_url, queued.id));
        let plan = match planned {
            Ok(plan) => plan,
            Err(e) => return self.finish_without_running(&queued, &e.message).await,
        };
        let transition =
            self.store.transition_deployment(queued.id, DeploymentState::Queued, DeploymentState::Running, None);
        match transition.await.or_internal("starting a deployment")? {
            Some(running) => self.announce(&running).await,
            None => return Ok(()), // cancelled meanwhile
        }

        let paths = ReleasePaths {
            target_dir: self.target_dir(&queued.environment, &project.slug),
            release_id: queued.release_id,
            deployment_id: queued.id,
        };
        let (tx, rx) = mpsc::channel(1024);
        let names = plan.steps.iter().map(|s| s.name.clone()).collect();
        let recorder = Recorder::new(self.store.clone(), self.bus.clone(), self.metrics.clone(), queued.id, names);
        let recording = tokio::spawn(recorder.record(rx));
        let outcome = execute(&plan, &paths, tx, cancel).await;
        if let Err(e) = recording.await {
            tracing::error!(deployment = queued.id, error = %e, "recording stopped");
        }
        self.transition(queued.id, DeploymentState::Running, outcome.state, outcome.reason.as_deref()).await?;
        Ok(())
    }

    async fn finish_without_running(&self, queued: &DeploymentView, reason: &str) -> Result<(), AppError> {
        for step in self.store.close_open_steps(queued.id).await.or_internal("closing steps")? {
            let _ = self.bus.publish(EventPayload::Step(step)).await;
        }
        self.transition(queued.id, DeploymentState::Queued, DeploymentState::Failed, Some(reason)).await
    }

    async fn transition(
        &self,
        id: i64,
        from: DeploymentState,
        to: DeploymentState,
        reason: Option<&str>,
    ) -> Result<(), AppError> {
        match self.store.transition_deployment(id, from, to, reason).await.or_internal("changing a deployment")? {
            Some(view) => {
                self.announce(&view).await;
                Ok(())
            }
            None => Err(AppError::conflict(format!("deployment {id} is no longer {from}"))),
        }
    }

    async fn announce(&self, deployment: &DeploymentView) {
        if let Err(e) = self.bus.publish(EventPayload::Deployment(deployment.clone())).await {
            tracing::error!(error = %e, "publishing a deployment event");
        }
    }

    /// After a restart: deployments that were running are failed with a reason (their
    /// processes died with the server); queued ones are started again.
    pub async fn recover(self: &Arc<Self>) -> Result<(), AppError> {
        for running in self.store.deployments_in_state(DeploymentState::Running).await.or_internal("recovery")? {
            for step in self.store.close_open_steps(running.id).await.or_internal("recovery")? {
                let _ = self.bus.publish(EventPayload::Step(step)).await;
            }
            self.transition(running.id, DeploymentState::Running, DeploymentState::Failed, Some(INTERRUPTED)).await?;
            tracing::warn!(deployment = running.id, "marked an interrupted deployment as failed");
        }
        for queued in self.store.deployments_in_state(DeploymentState::Queued).await.or_internal("recovery")? {
            self.spawn(queued);
        }
        Ok(())
    }
}
