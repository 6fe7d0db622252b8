//! Starting deployments and rollbacks: validate the request against the lifecycle,
//! record a queued deployment with its planned steps, and wake this replica's
//! dispatcher (`replica.rs`), which claims it (on any replica) and runs it
//! (`execution.rs`). Also cancellation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ferry_app::error::{AppError, ErrorCode};
use ferry_app::model::{
    DeployRequest, DeploymentKind, DeploymentState, DeploymentView, EnvironmentView, EventPayload, ProjectView,
};
use ferry_engine::pipeline::{Pipeline, QueuePolicy, PIPELINE_FILE};
use ferry_engine::plan::{plan, plan_rollback, plan_teardown, DeploymentFacts, DeploymentPlan};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::replica::Replica;
use super::step_users::StepUsers;
use super::{catalog, freezes, promotion};
use crate::agents::AgentHub;
use crate::error::OrInternal;
use crate::events::EventBus;
use crate::store::{NewDeployment, ReleaseRow, Store};
use crate::telemetry::Metrics;
use crate::vault::Vault;

/// Who asked for a deployment.
#[derive(Debug, Clone)]
pub struct Requester {
    /// `None` for Ferry itself (an automatic rollback).
    pub id: Option<i64>,
    pub login: String,
}

/// How a recorded deployment starts: at once, after a wait, or after approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Now,
    NotBefore(i64),
    AfterApproval,
}

/// What is being recorded: a deployment (when it starts, and whether it may replace a
/// newer release), or a rollback.
#[derive(Debug, Clone, Copy)]
pub enum Asked<'a> {
    Deploy { start: Start, allow_older: bool, freeze_override: Option<&'a str> },
    Rollback,
    Teardown,
}

pub const INTERRUPTED: &str = "interrupted: the Ferry server stopped while this deployment ran";

pub struct Deployer {
    pub store: Store,
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    /// Who this replica is, and how long its hold on an environment lasts unrenewed.
    pub(super) replica: Replica,
    /// Wakes the dispatcher: there may be work to claim.
    pub(super) wake: Notify,
    /// Cancellation handles of the deployments this replica is running.
    pub(super) cancels: Mutex<HashMap<i64, CancellationToken>>,
    /// Where targets live: `<targets>/<environment>/<project>/releases/<release>/`.
    pub(super) targets: PathBuf,
    /// Who runs each project's steps on this machine.
    pub(super) step_users: StepUsers,
    /// Agents on other hosts, for environments that select them.
    pub(super) agents: AgentHub,
    /// Opens the secrets a deployment's processes get.
    pub(super) vault: Arc<Vault>,
    /// Cancelled when the server is asked to stop: no deployment starts from then on
    /// (queued ones stay queued for the next start), running ones finish.
    pub(super) draining: CancellationToken,
    /// Set when the drain's grace ran out and the deployments still running were stopped.
    pub(super) stopped: AtomicBool,
    /// Cancelled when the drain's grace ran out: the deployments whose hosts are all
    /// agents stop following them here, and are left for another replica (or the next
    /// start) to carry on, their steps running on.
    pub(super) handing_over: CancellationToken,
    /// Connections to SSH hosts.
    pub ssh: Arc<crate::ssh::connector::Connector>,
}

/// Where deployments run on this machine, and as whom.
pub struct Workspace {
    /// The built-in agent's target directories (`<data>/targets`); builds go beside it.
    pub targets: PathBuf,
    pub step_users: StepUsers,
    /// How SSH hosts are reached.
    pub ssh: Arc<crate::ssh::connector::Connector>,
}

/// Why a deployment still running when the server's drain ran out ended.
pub const STOPPED: &str = "Ferry was stopped and its shutdown grace ran out while this deployment ran";

impl Deployer {
    /// The deployer tells nobody directly: what its changes cause (notifications, the
    /// notification center, forge reports) is queued with each change, as jobs.
    pub fn new(
        store: Store,
        bus: EventBus,
        metrics: Arc<Metrics>,
        workspace: Workspace,
        agents: AgentHub,
        vault: Arc<Vault>,
        replica: Replica,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            bus,
            metrics,
            replica,
            wake: Notify::new(),
            cancels: Mutex::default(),
            targets: workspace.targets,
            step_users: workspace.step_users,
            agents,
            vault,
            draining: CancellationToken::new(),
            stopped: AtomicBool::new(false),
            handing_over: CancellationToken::new(),
            ssh: workspace.ssh,
        })
    }

    /// Deploys a release (also how it is promoted), if the lifecycle allows it and
    /// the environment is not frozen. A protected environment holds it for approvals,
    /// or for its wait timer. Every way of deploying comes through here (people, the
    /// API and CLI through `gate`, webhooks, promotions), so these rules hold for all;
    /// a freeze override must have been authorized by `gate` (admins, with a reason).
    pub async fn start(self: &Arc<Self>, request: DeployRequest, by: &Requester) -> Result<DeploymentView, AppError> {
        self.refuse_while_draining()?;
        let (project, environment, release) = catalog::resolve_target(&self.store, &request).await?;
        if request.freeze_override.is_none() {
            if let Some(frozen) = freezes::active(&self.store, &environment).await? {
                return Err(AppError::conflict(frozen));
            }
        }
        promotion::check(&self.store, &project, &release, &environment).await?;
        if !request.allow_older {
            promotion::refuse_older(&self.store, &release, &environment).await?;
        }
        let protection = environment.protection;
        let start = match (protection.required_approvals, protection.wait_minutes) {
            (0, 0) => Start::Now,
            (0, wait) => Start::NotBefore(crate::store::now_millis() + wait * 60_000),
            _ => Start::AfterApproval,
        };
        let freeze_override = request.freeze_override.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let asked = Asked::Deploy { start, allow_older: request.allow_older, freeze_override };
        let deployment = self.record(&project, &environment, &release, asked, by).await?;
        match start {
            // Its notifications were enqueued with it.
            Start::AfterApproval => crate::jobs::wake(),
            _ => {
                if queue_policy(&release, &environment.name) == QueuePolicy::Supersede {
                    self.supersede_queued(&deployment).await?;
                }
                self.wake()
            }
        }
        Ok(deployment)
    }

    /// Rolls an environment back to a release that once succeeded there. It needs the
    /// deploy role, but no approvals and no wait: it is how an incident ends.
    pub async fn start_rollback(
        self: &Arc<Self>,
        request: DeployRequest,
        by: &Requester,
    ) -> Result<DeploymentView, AppError> {
        self.refuse_while_draining()?;
        let (project, environment, release) = catalog::resolve_target(&self.store, &request).await?;
        promotion::check_rollback(&self.store, &release, &environment).await?;
        let deployment = self.record(&project, &environment, &release, Asked::Rollback, by).await?;
        self.wake();
        Ok(deployment)
    }

    /// Takes a closed preview off its hosts (`previews.rs`): its teardown steps in
    /// `release`, then its releases go. It waits its turn behind what runs there.
    pub async fn start_teardown(
        self: &Arc<Self>,
        project: &ProjectView,
        environment: &EnvironmentView,
        release: &ReleaseRow,
        by: &Requester,
    ) -> Result<DeploymentView, AppError> {
        self.refuse_while_draining()?;
        let deployment = self.record(project, environment, release, Asked::Teardown, by).await?;
        self.wake();
        Ok(deployment)
    }

    /// Takes no more work from now on (the deployments running go on to their end).
    /// This replica's id (`<host>-<pid>-<random>`).
    pub fn replica_id(&self) -> &str {
        &self.replica.id
    }

    pub fn stop_taking_work(&self) {
        self.draining.cancel();
    }

    /// Whether the server is shutting down (and so takes no new deployments).
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    fn refuse_while_draining(&self) -> Result<(), AppError> {
        match self.draining.is_cancelled() {
            true => Err(AppError::new(ErrorCode::Unavailable, "Ferry is shutting down; ask again once it is back")),
            false => Ok(()),
        }
    }

    /// Stops taking work and waits, at most `grace`, for the running deployments to
    /// finish. Then those whose hosts are all agents are handed over (their steps go on;
    /// another replica, or the next start, carries them on), and the others are
    /// cancelled (their steps killed) and end with `STOPPED` as their reason.
    /// Deployments still queued stay queued. True when everything finished in time.
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        self.draining.cancel();
        let finished = tokio::time::timeout(grace, self.idle()).await.is_ok();
        if !finished {
            self.stopped.store(true, Ordering::SeqCst);
            let running: Vec<(i64, CancellationToken)> =
                self.cancel_handles().iter().map(|(id, token)| (*id, token.clone())).collect();
            tracing::warn!(deployments = running.len(), "the shutdown grace ran out: handing over or stopping");
            self.handing_over.cancel();
            for (id, token) in running {
                // On agents, the steps go on without this process: another replica, or
                // the next start, carries the deployment on.
                if !self.can_carry_on(id).await.unwrap_or(false) {
                    token.cancel();
                }
            }
            // Killing a step and recording the end takes a moment.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.idle()).await;
        }
        finished
    }

    /// Waits until no deployment task of this process is left.
    async fn idle(&self) {
        loop {
            if self.cancel_handles().is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Records a deployment with its planned steps and announces it.
    pub(super) async fn record(
        &self,
        project: &ProjectView,
        environment: &EnvironmentView,
        release: &ReleaseRow,
        asked: Asked<'_>,
        by: &Requester,
    ) -> Result<DeploymentView, AppError> {
        let (kind, start, allow_older, freeze_override) = match asked {
            Asked::Deploy { start, allow_older, freeze_override } => {
                (DeploymentKind::Deploy, start, allow_older, freeze_override)
            }
            // A rollback goes back to an older release by definition, at once.
            Asked::Rollback => (DeploymentKind::Rollback, Start::Now, true, None),
            Asked::Teardown => (DeploymentKind::Teardown, Start::Now, true, None),
        };
        // Planning first rejects a release whose pipeline does not declare the
        // environment, before anything is recorded.
        let pipeline = super::previews::pipeline_for(&self.store, release, environment.id, &environment.name).await?;
        let plan = self.plan_for(&pipeline, release, kind, &project.slug, &environment.name, &project.repo_url, 0)?;
        // An unbuilt release is built first: its build steps come before the hosts' steps.
        let facts = self.facts(release, &project.slug, &environment.name, &project.repo_url, 0);
        let build =
            self.build_plan_for(&pipeline, release, kind, &facts, &plan.env).map_err(AppError::unprocessable)?;
        let names: Vec<String> = build.into_iter().chain([plan]).flat_map(|p| p.steps).map(|s| s.name).collect();
        let new = NewDeployment {
            project_id: project.id,
            environment_id: environment.id,
            release_id: release.id,
            kind,
            steps: &names,
            requested_by: &by.login,
            requested_by_id: by.id,
            state: match start {
                Start::AfterApproval => DeploymentState::AwaitingApproval,
                _ => DeploymentState::Queued,
            },
            not_before: match start {
                Start::NotBefore(at) => Some(at),
                _ => None,
            },
            allow_older,
            freeze_override,
        };
        let deployment = self.store.create_deployment(&new).await.or_internal("recording a deployment")?;
        self.announce(&deployment).await;
        Ok(deployment)
    }

    /// Cancels the deployments of the same environment still queued before `newer`:
    /// only the newest request matters. Approved or running ones are left alone.
    async fn supersede_queued(&self, newer: &DeploymentView) -> Result<(), AppError> {
        let older =
            self.store.queued_before(newer.environment_id, newer.id).await.or_internal("finding queued work")?;
        for queued in older {
            let why = format!("superseded by #{} ({})", newer.id, newer.release_version);
            let cancelled = self.store.transition_deployment(
                queued.id,
                DeploymentState::Queued,
                DeploymentState::Cancelled,
                Some(&why),
            );
            if let Some(view) = cancelled.await.or_internal("superseding")? {
                // It may be sleeping through a wait timer.
                if let Some(token) = self.cancel_handles().get(&queued.id) {
                    token.cancel();
                }
                self.close_steps(queued.id).await?;
                self.announce(&view).await;
            }
        }
        Ok(())
    }

    /// The plan of a deployment of `release` with `pipeline` (see `previews::pipeline_for`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_for(
        &self,
        pipeline: &Pipeline,
        release: &ReleaseRow,
        kind: DeploymentKind,
        project: &str,
        environment: &str,
        repo_url: &str,
        deployment_id: i64,
    ) -> Result<DeploymentPlan, AppError> {
        let facts = self.facts(release, project, environment, repo_url, deployment_id);
        let planned = match kind {
            DeploymentKind::Deploy => plan(pipeline, &facts),
            DeploymentKind::Rollback => plan_rollback(pipeline, &facts),
            DeploymentKind::Teardown => plan_teardown(pipeline, &facts),
        };
        planned.map_err(AppError::unprocessable)
    }

    /// The facts about a deployment that its plans carry as `FERRY_*` variables.
    pub(super) fn facts(
        &self,
        release: &ReleaseRow,
        project: &str,
        environment: &str,
        repo_url: &str,
        deployment_id: i64,
    ) -> DeploymentFacts {
        DeploymentFacts {
            project: project.into(),
            environment: environment.into(),
            release_version: release.version.clone(),
            release_id: release.id,
            deployment_id,
            repo_url: repo_url.into(),
            commit: release.git_commit.clone(),
            target_dir: self.target_dir(environment, project).display().to_string(),
        }
    }

    pub(super) fn target_dir(&self, environment: &str, project: &str) -> PathBuf {
        self.targets.join(environment).join(project)
    }

    pub(super) fn cancel_handles(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
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
            from @ (DeploymentState::Queued | DeploymentState::AwaitingApproval) => {
                let why = match from {
                    DeploymentState::Queued => "cancelled while queued",
                    _ => "cancelled before approval",
                };
                let cancelled = self
                    .store
                    .transition_deployment(id, from, DeploymentState::Cancelled, Some(why))
                    .await
                    .or_internal("cancelling")?;
                // A queued deployment may be sleeping through its wait timer.
                if let Some(token) = self.cancel_handles().get(&id) {
                    token.cancel();
                }
                if let Some(view) = cancelled {
                    self.close_steps(id).await?;
                    self.announce(&view).await;
                    return Ok(view);
                }
            }
            DeploymentState::Running => {
                if let Some(token) = self.cancel_handles().get(&id) {
                    token.cancel();
                    return Ok(deployment);
                }
                // Another replica runs it: the request reaches it through the store.
                self.store.request_cancel(id).await.or_internal("asking for a cancel")?;
                return Ok(deployment);
            }
            _ => {}
        }
        let current = self.store.deployment(id).await.or_internal("loading a deployment")?.unwrap_or(deployment);
        Err(AppError::conflict(format!("deployment {id} is {} and cannot be cancelled", current.state)))
    }

    /// Closes a deployment's open steps and hosts (running ones fail, queued or pending
    /// ones are skipped).
    pub(super) async fn close_steps(&self, id: i64) -> Result<(), AppError> {
        for step in self.store.close_open_steps(id).await.or_internal("closing steps")? {
            let _ = self.bus.publish(EventPayload::Step(step)).await;
        }
        for target in self.store.close_open_targets(id).await.or_internal("closing hosts")? {
            let _ = self.bus.publish(EventPayload::Target(target)).await;
        }
        Ok(())
    }

    pub(super) async fn transition(
        &self,
        id: i64,
        from: DeploymentState,
        to: DeploymentState,
        reason: Option<&str>,
    ) -> Result<(), AppError> {
        // An end's notifications are a job, enqueued with the change itself.
        let changed = match to.is_terminal() {
            true => self.store.transition_enqueuing(id, (from, to), reason, crate::jobs::DEPLOYMENT_FINISHED).await,
            false => self.store.transition_deployment(id, from, to, reason).await,
        };
        match changed.or_internal("changing a deployment")? {
            Some(view) => {
                self.announce(&view).await;
                if to.is_terminal() {
                    // After the outcome's own event, which the notification follows.
                    crate::jobs::wake();
                }
                Ok(())
            }
            None => Err(AppError::conflict(format!("deployment {id} is no longer {from}"))),
        }
    }

    pub(super) async fn announce(&self, deployment: &DeploymentView) {
        if let Err(e) = self.bus.publish(EventPayload::Deployment(deployment.clone())).await {
            tracing::error!(error = %e, "publishing a deployment event");
        }
        // Its forge report was queued with the change: a job, due now.
        crate::jobs::wake();
    }
}

/// The environment's queue policy in the release's pipeline (superseding by default).
fn queue_policy(release: &ReleaseRow, environment: &str) -> QueuePolicy {
    Pipeline::parse(PIPELINE_FILE, &release.pipeline)
        .ok()
        .and_then(|p| p.environment(environment).map(|e| e.queue))
        .unwrap_or_default()
}
