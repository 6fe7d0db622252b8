//! Running a deployment whose environment this replica holds (`replica.rs`): pick its hosts, roll
//! the plan out over them with the environment's strategy while the recorder persists
//! what they report, and finish the deployment. When a rollout fails, the hosts it had
//! already switched go back to the release they ran before, as a recorded rollback
//! deployment of just those hosts, before the environment's lock is released (unless
//! the environment says `on_failure: stop`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferry_app::error::AppError;
use ferry_app::model::{DeploymentKind, DeploymentState, DeploymentView, EventPayload, TargetKind, TargetState};
use ferry_engine::executor::{Outcome, RunnerEvent};
use ferry_engine::pipeline::{Pipeline, RolloutSpec, PIPELINE_FILE};
use ferry_engine::plan::with_canary_watch;
use ferry_engine::rollout::{batches, roll_out, FailurePolicy, Strategy, TargetRun};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deployer::{Asked, Deployer, Requester};
use super::masking::Masker;
use super::recorder::Recorder;
use super::targets::{publish, DeploymentTargets, Target, ROLLED_BACK_FROM};
use super::{catalog, freezes, promotion, variables};
use crate::agents::BUILT_IN_NAME;
use crate::error::OrInternal;
use crate::ssh::connector::SshConnections;
use crate::store::{ReleaseRow, TargetPlan};

/// What a host's kept plan is sealed to.
const HOST_PLAN: &str = "host-plan";

/// How a deployment spreads over its hosts, and what a failure does.
fn rollout_spec(kind: DeploymentKind, release: &ReleaseRow, environment: &str) -> RolloutSpec {
    match kind {
        // A rollback goes back everywhere at once, and a failure in it is only reported;
        // a teardown too.
        DeploymentKind::Rollback | DeploymentKind::Teardown => {
            RolloutSpec { strategy: Strategy::AllAtOnce, on_failure: FailurePolicy::Stop, blue_green: None }
        }
        DeploymentKind::Deploy => Pipeline::parse(PIPELINE_FILE, &release.pipeline)
            .ok()
            .and_then(|p| p.environment(environment).map(|e| e.rollout.clone()))
            .unwrap_or_default(),
    }
}

/// A rollout ready to run: per host its job number, plan and first step position.
struct Rollout {
    hosts: Vec<Target>,
    jobs: Vec<i64>,
    plans: Vec<ferry_engine::plan::DeploymentPlan>,
    first_step: Vec<usize>,
    batches: Vec<Vec<usize>>,
    on_failure: FailurePolicy,
}

/// Who is recorded as having asked for an automatic rollback.
fn automatic_rollback() -> Requester {
    Requester { id: None, login: "ferry".into() }
}

/// What a run needs before it starts.
struct Prepared {
    /// The hosts' plan (with Ferry's variables).
    plan: ferry_engine::plan::DeploymentPlan,
    /// The build that comes first, when the release has no artifact yet.
    build: Option<ferry_engine::plan::DeploymentPlan>,
    /// Hides the secret values in every text the run produces.
    masker: Arc<Masker>,
    rollout: RolloutSpec,
    hosts: Vec<Target>,
}

/// How a rollout ended, and each host's part (`None`: skipped).
struct RunResult {
    outcome: Outcome,
    hosts: Vec<Target>,
    runs: Vec<Option<TargetRun>>,
    on_failure: FailurePolicy,
}

impl Deployer {
    /// Runs a queued deployment, and the rollback its failure calls for, while this
    /// replica holds its environment.
    pub(super) async fn run(
        self: &Arc<Self>,
        queued: DeploymentView,
        cancel: CancellationToken,
    ) -> Result<(), AppError> {
        if self.draining.is_cancelled() {
            return Ok(()); // still queued: another replica, or the next start, runs it
        }
        let Some(done) = self.execute_one(&queued, cancel).await? else { return Ok(()) };
        self.conclude(&queued, done).await
    }

    /// Carries on a running deployment whose replica stopped (`replica.rs` took its
    /// environment's lease over): the hosts that ended stay as they are, a host running
    /// on an agent is followed from its last recorded report, the others run; then it
    /// ends as any other.
    pub(super) async fn carry_on(
        self: &Arc<Self>,
        deployment: DeploymentView,
        cancel: CancellationToken,
    ) -> Result<(), AppError> {
        let Some(done) = self.resume_one(&deployment, cancel).await? else { return Ok(()) };
        self.conclude(&deployment, done).await
    }

    /// Records how a run ended, and runs the rollback its failure calls for.
    async fn conclude(self: &Arc<Self>, queued: &DeploymentView, done: RunResult) -> Result<(), AppError> {
        let mut reason = done.outcome.reason.clone();
        if done.outcome.state == DeploymentState::Cancelled && self.stopped.load(Ordering::SeqCst) {
            reason = Some(super::deployer::STOPPED.to_string());
        }
        tracing::info!(state = %done.outcome.state, reason = reason.as_deref().unwrap_or(""), "deployment ended");
        let failed_live = queued.kind == DeploymentKind::Deploy && done.outcome.state == DeploymentState::Failed;
        let mut rollbacks = Vec::new();
        if failed_live {
            let (planned, note) = self.plan_rollbacks(queued, &done).await?;
            rollbacks = planned;
            if let Some(note) = note {
                // The rollback is recorded before the failure is, so the failure
                // already says where the environment is going.
                reason = Some(format!("{}; {note}", reason.unwrap_or_default()));
            }
        }
        self.transition(queued.id, DeploymentState::Running, done.outcome.state, reason.as_deref()).await?;
        if queued.kind == DeploymentKind::Teardown && done.outcome.state == DeploymentState::Succeeded {
            // Off its hosts: the preview's port is free, and it leaves the matrix. A
            // failed teardown keeps the port (the app may still hold it).
            self.store.retire_preview(queued.environment_id).await.or_internal("retiring a preview")?;
        }
        for (rollback, positions) in rollbacks {
            tracing::warn!(deployment = queued.id, rollback = rollback.id, "rolling back a failed deployment");
            // The environment stays held, now for the rollback.
            let handed = self.store.hand_lease_to(queued.environment_id, rollback.id, &self.replica.id);
            handed.await.or_internal("holding the environment for the rollback")?;
            let cancel = CancellationToken::new();
            self.cancel_handles().insert(rollback.id, cancel.clone());
            let result = self.execute_one(&rollback, cancel).await;
            self.cancel_handles().remove(&rollback.id);
            let Some(back) = result? else {
                if self.handing_over.is_cancelled() {
                    return Ok(()); // the rollback is carried on elsewhere, under its lease
                }
                continue;
            };
            // The failed deployment's hosts say which of them are back.
            for (run, &position) in back.runs.iter().zip(&positions) {
                if run.as_ref().is_some_and(|r| r.outcome.state == DeploymentState::Succeeded) {
                    let marked =
                        self.store.set_target_state(queued.id, position, &ROLLED_BACK_FROM, TargetState::RolledBack);
                    if let Some(target) = marked.await.or_internal("marking a host rolled back")? {
                        publish(self, target).await;
                    }
                }
            }
            let outcome = back.outcome;
            self.transition(rollback.id, DeploymentState::Running, outcome.state, outcome.reason.as_deref()).await?;
        }
        Ok(())
    }

    /// Records rollbacks of the hosts a failed rollout switched, one per release they
    /// go back to (normally one), with the failed deployment's positions of their hosts.
    /// Also returns what the failure's reason should add.
    async fn plan_rollbacks(
        &self,
        failed: &DeploymentView,
        done: &RunResult,
    ) -> Result<(Vec<(DeploymentView, Vec<i32>)>, Option<String>), AppError> {
        let mut back_to: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        let mut stranded = Vec::new();
        for (host, run) in done.runs.iter().enumerate() {
            match run {
                Some(TargetRun { moved: true, before: Some(before), .. }) => {
                    back_to.entry(*before).or_default().push(host)
                }
                Some(TargetRun { moved: true, before: None, .. }) => stranded.push(done.hosts[host].name.clone()),
                _ => {}
            }
        }
        let mut notes = Vec::new();
        let mut planned = Vec::new();
        if done.on_failure == FailurePolicy::Stop && !back_to.is_empty() {
            let names: Vec<&str> = back_to.values().flatten().map(|&h| done.hosts[h].name.as_str()).collect();
            notes.push(format!("left {} on the new release (on_failure: stop)", names.join(", ")));
            back_to.clear();
        }
        for (release_id, members) in back_to {
            let hosts: Vec<Target> = members.iter().map(|&h| done.hosts[h].clone()).collect();
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            match self.record_rollback(failed, release_id, &hosts).await? {
                Some((rollback, version)) => {
                    let which = if done.hosts.len() == 1 { String::new() } else { format!(" {}", names.join(", ")) };
                    notes.push(format!("rolling back{which} to {version} (deployment #{})", rollback.id));
                    planned.push((rollback, members.iter().map(|&h| h as i32).collect()));
                }
                None => notes.push(format!("cannot roll back {}: release {release_id} is gone", names.join(", "))),
            }
        }
        if !stranded.is_empty() {
            notes.push(format!("{} had no earlier release to go back to", stranded.join(", ")));
        }
        Ok((planned, (!notes.is_empty()).then(|| notes.join("; "))))
    }

    /// Records a rollback of some hosts of `failed`'s environment to `release_id`;
    /// returns it with the version it goes back to.
    async fn record_rollback(
        &self,
        failed: &DeploymentView,
        release_id: i64,
        hosts: &[Target],
    ) -> Result<Option<(DeploymentView, String)>, AppError> {
        let project = catalog::project(&self.store, &failed.project).await?;
        let release = self.store.release(release_id).await.or_internal("loading a release")?;
        let (Some(environment), Some(release)) =
            (project.environments.iter().find(|e| e.id == failed.environment_id), release)
        else {
            tracing::error!(deployment = failed.id, release_id, "cannot roll back: the release is gone");
            return Ok(None);
        };
        let rollback = self.record(&project, environment, &release, Asked::Rollback, &automatic_rollback()).await?;
        let chosen: Vec<(String, TargetKind)> = hosts.iter().map(|h| (h.name.clone(), h.kind)).collect();
        self.store.preassign_targets(rollback.id, &chosen).await.or_internal("choosing the rollback's hosts")?;
        Ok(Some((rollback, release.version)))
    }

    /// Runs a queued deployment up to its outcome (the caller records the outcome);
    /// `None` when it did not run (cancelled while waiting, or unplannable).
    async fn execute_one(
        self: &Arc<Self>,
        queued: &DeploymentView,
        cancel: CancellationToken,
    ) -> Result<Option<RunResult>, AppError> {
        let release = self.store.release(queued.release_id).await.or_internal("loading a release")?;
        let project = catalog::project(&self.store, &queued.project).await?;
        let prepared = match &release {
            Some(release) => self.prepare(queued, release, &project).await,
            None => Err("release vanished".to_string()),
        };
        let Prepared { plan, build, masker, rollout, hosts } = match prepared {
            Ok(prepared) => prepared,
            Err(why) => {
                self.close_steps(queued.id).await?;
                self.transition(queued.id, DeploymentState::Queued, DeploymentState::Failed, Some(&why)).await?;
                return Ok(None);
            }
        };
        let states = (DeploymentState::Queued, DeploymentState::Running);
        let transition = self.store.transition_enqueuing(queued.id, states, None, crate::jobs::DEPLOYMENT_STARTED);
        match transition.await.or_internal("starting a deployment")? {
            Some(running) => {
                self.announce(&running).await;
                crate::jobs::wake();
            }
            None => return Ok(None), // cancelled while it waited
        }

        // Each host gets the plan with the artifact; a canary's first host also its
        // verification window.
        let strategy = rollout.strategy;
        let batches = batches(hosts.len(), &strategy);
        let mut plans = vec![plan; hosts.len()];
        if let Some(sha) = plans.first().and_then(|p| p.artifact.as_ref()).map(|a| a.sha256.clone()) {
            // Remote hosts download it from the server.
            for (plan, host) in plans.iter_mut().zip(&hosts) {
                plan.artifact = Some(self.artifact_source(&sha, host.downloads_artifact()));
            }
        }
        if let (Strategy::Canary { verify }, Some(first)) = (strategy, plans.first_mut()) {
            *first = with_canary_watch(first.clone(), verify);
        }
        let host_plans: Vec<TargetPlan> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| TargetPlan {
                name: host.name.clone(),
                kind: host.kind,
                batch: batches.iter().position(|b| b.contains(&i)).unwrap_or(0) as i32,
                steps: plans[i].steps.iter().map(|s| s.name.clone()).collect(),
            })
            .collect();
        let build_steps: Vec<String> = build.iter().flat_map(|b| b.steps.iter().map(|s| s.name.clone())).collect();
        let (targets, steps) =
            self.store.assign_targets(queued.id, &build_steps, &host_plans).await.or_internal("recording the hosts")?;
        if let [(_, only)] = targets.as_slice() {
            if let Some(agent_id) = only.agent_id {
                self.store.set_deployment_agent(queued.id, agent_id).await.or_internal("recording the agent")?;
            }
        }
        let mut announced: Vec<EventPayload> = steps.iter().cloned().map(EventPayload::Step).collect();
        announced.extend(targets.iter().map(|(_, t)| EventPayload::Target(t.clone())));
        if let Err(e) = self.bus.publish_all(announced).await {
            tracing::error!(error = %e, "publishing a deployment's hosts");
        }

        let (tx, rx) = mpsc::channel(1024);
        let names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
        let recorder = Recorder::new(self.store.clone(), self.bus.clone(), self.metrics.clone(), queued.id, names)
            .masking(masker.clone());
        let recording = tokio::spawn(recorder.record(rx));
        // The build's steps come first; each host's follow.
        if let Some(build) = &build {
            match self.build_release(queued, &project, build, tx.clone(), cancel.clone()).await {
                Ok(sha) => {
                    for (plan, host) in plans.iter_mut().zip(&hosts) {
                        plan.artifact = Some(self.artifact_source(&sha, host.downloads_artifact()));
                    }
                }
                Err(mut outcome) => {
                    outcome.reason = masker.mask_opt(outcome.reason);
                    drop(tx);
                    let _ = recording.await;
                    self.close_steps(queued.id).await?;
                    let runs = vec![None; hosts.len()];
                    return Ok(Some(RunResult { outcome, hosts, runs, on_failure: rollout.on_failure }));
                }
            }
        }
        let mut first_step = Vec::with_capacity(plans.len());
        let mut next = build_steps.len();
        for plan in &plans {
            first_step.push(next);
            next += plan.steps.len();
        }
        // Final now: kept, so that another replica can carry the rollout on.
        self.save_host_plans(queued.id, &plans, &first_step).await?;
        let rollout = Rollout {
            hosts,
            jobs: targets.iter().map(|(job, _)| *job).collect(),
            plans,
            first_step,
            batches,
            on_failure: rollout.on_failure,
        };
        self.roll(queued, project.slug.clone(), rollout, (tx, recording), masker, cancel).await
    }

    /// Rolls the hosts out batch by batch while the recorder keeps what they report;
    /// `None` when it was handed over (the server is stopping).
    async fn roll(
        self: &Arc<Self>,
        deployment: &DeploymentView,
        project: String,
        rollout: Rollout,
        (events, recording): (mpsc::Sender<RunnerEvent>, tokio::task::JoinHandle<()>),
        masker: Arc<Masker>,
        cancel: CancellationToken,
    ) -> Result<Option<RunResult>, AppError> {
        let Rollout { hosts, jobs, plans, first_step, batches, on_failure } = rollout;
        let runner = Arc::new(DeploymentTargets {
            deployer: self.clone(),
            deployment: deployment.clone(),
            project,
            hosts: hosts.clone(),
            jobs,
            plans,
            first_step,
            events,
            cancel: cancel.clone(),
            masker,
            ssh: SshConnections::for_hosts(hosts.iter().filter_map(|h| h.kind.ssh_host_id())),
        });
        // SSH hosts are connected to while earlier batches run: a handshake is then
        // off each host's path.
        runner.ssh.connect_all(&self.ssh);
        let host_names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        let on_agents = hosts.iter().all(|h| h.kind.agent_id().is_some());
        let connections = runner.ssh.clone();
        let result = tokio::select! {
            result = roll_out(&host_names, &batches, runner, &cancel) => Some(result),
            // Shutting down: stop following the agents (the rollout's tasks end with
            // it); its steps go on, and the replica that carries it on follows them.
            _ = self.handing_over.cancelled(), if on_agents => None,
        };
        connections.close_all().await;
        if let Err(e) = recording.await {
            tracing::error!(deployment = deployment.id, error = %e, "recording stopped");
        }
        let Some(result) = result else {
            tracing::warn!(deployment = deployment.id, "handed over: another replica or the next start carries it on");
            return Ok(None);
        };
        // Hosts of batches that never started, and their steps.
        self.close_steps(deployment.id).await?;
        Ok(Some(RunResult { outcome: result.outcome, hosts, runs: result.hosts, on_failure }))
    }

    async fn save_host_plans(
        &self,
        id: i64,
        plans: &[ferry_engine::plan::DeploymentPlan],
        first_step: &[usize],
    ) -> Result<(), AppError> {
        let mut sealed = Vec::with_capacity(plans.len());
        for (position, (plan, first)) in plans.iter().zip(first_step).enumerate() {
            let json = serde_json::to_string(plan).or_internal("keeping a host's plan")?;
            let plan = self.vault.seal(HOST_PLAN, &json).or_internal("sealing a host's plan")?;
            sealed.push((position as i32, plan, *first as i64));
        }
        self.store.save_host_plans(id, &sealed).await.or_internal("keeping the hosts' plans")
    }

    /// Whether a running deployment can go on without the replica that ran it: every
    /// host is an agent (the built-in agent's processes died with its replica), and the
    /// hosts had their plans (it was not building).
    pub(super) async fn can_carry_on(&self, id: i64) -> Result<bool, AppError> {
        let hosts = self.store.resumable_hosts(id).await.or_internal("reading the hosts")?;
        Ok(!hosts.is_empty()
            && hosts.iter().all(|h| h.sealed_plan.is_some() && h.first_step.is_some() && h.view.agent_id.is_some()))
    }

    /// The rollout of a deployment carried on, as its first replica left it.
    async fn resume_one(
        self: &Arc<Self>,
        deployment: &DeploymentView,
        cancel: CancellationToken,
    ) -> Result<Option<RunResult>, AppError> {
        let id = deployment.id;
        let saved = self.store.resumable_hosts(id).await.or_internal("reading the hosts")?;
        let release = self.store.release(deployment.release_id).await.or_internal("loading a release")?;
        let project = catalog::project(&self.store, &deployment.project).await?;
        let Some(release) = release else { return Ok(None) };
        let mut plans = Vec::with_capacity(saved.len());
        for host in &saved {
            let sealed = host.sealed_plan.as_deref().unwrap_or_default();
            let json = self.vault.open_value(HOST_PLAN, sealed).or_internal("opening a host's plan")?;
            plans.push(serde_json::from_str(&json).or_internal("reading a host's plan")?);
        }
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for (position, host) in saved.iter().enumerate() {
            let batch = host.view.batch.max(0) as usize;
            if batches.len() <= batch {
                batches.resize(batch + 1, Vec::new());
            }
            batches[batch].push(position);
        }
        batches.retain(|b| !b.is_empty());
        let settings_of = project.settings_of(&deployment.environment);
        let (_, secrets) = variables::resolve(&self.store, &self.vault, project.id, settings_of)
            .await
            .or_internal("reading the secrets")?;
        let masker = Arc::new(Masker::new(&secrets));
        let names: Vec<String> =
            self.store.steps(id).await.or_internal("reading the steps")?.into_iter().map(|s| s.name).collect();
        let next_line = self.store.next_log_seq(id).await.or_internal("reading the log")?;
        let (tx, rx) = mpsc::channel(1024);
        let recorder = Recorder::new(self.store.clone(), self.bus.clone(), self.metrics.clone(), id, names)
            .masking(masker.clone())
            .continuing_at(next_line);
        let recording = tokio::spawn(recorder.record(rx));
        let rollout = Rollout {
            hosts: saved.iter().map(|h| Target { name: h.view.name.clone(), kind: h.view.kind() }).collect(),
            jobs: saved.iter().map(|h| h.job).collect(),
            plans,
            first_step: saved.iter().map(|h| h.first_step.unwrap_or_default() as usize).collect(),
            batches,
            on_failure: rollout_spec(deployment.kind, &release, &deployment.environment).on_failure,
        };
        self.roll(deployment, project.slug.clone(), rollout, (tx, recording), masker, cancel).await
    }

    /// Everything a run needs before it starts: the plan with Ferry's variables, the
    /// secrets to mask, the rollout and the hosts. An error is why it cannot run.
    async fn prepare(
        &self,
        queued: &DeploymentView,
        release: &ReleaseRow,
        project: &ferry_app::model::ProjectView,
    ) -> Result<Prepared, String> {
        let pipeline = super::previews::pipeline_for(&self.store, release, queued.environment_id, &queued.environment)
            .await
            .map_err(|e| e.message)?;
        let mut plan = self
            .plan_for(&pipeline, release, queued.kind, &project.slug, &queued.environment, &project.repo_url, queued.id)
            .map_err(|e| e.message)?;
        // Ferry's variables and secrets join the pipeline's, and override them (a
        // preview has those of the environment it borrows from).
        let settings_of = project.settings_of(&queued.environment);
        let (vars, secrets) = variables::resolve(&self.store, &self.vault, project.id, settings_of).await?;
        plan.env.extend(vars);
        // A built release's artifact is known now; an unbuilt one is built first.
        plan.artifact = self.built_artifact(release).map(|sha| self.artifact_source(&sha, false));
        let facts = self.facts(release, &project.slug, &queued.environment, &project.repo_url, queued.id);
        let build = self.build_plan_for(&pipeline, release, queued.kind, &facts, &plan.env)?;
        if build.is_some() {
            // The build clones the project's repository: an imported one's mirror may
            // be on another replica's disk only.
            super::imports::sync_mirror(&self.store, &self.vault, project, false).await?;
        }
        let rollout = rollout_spec(queued.kind, release, &queued.environment);
        if queued.kind == DeploymentKind::Deploy {
            // It may have waited (approvals, a wait timer, its turn) into a freeze.
            let environment = project.environments.iter().find(|e| e.id == queued.environment_id);
            if let Some(environment) = environment {
                let frozen = freezes::active(&self.store, environment).await.map_err(|e| e.message)?;
                if let Some(frozen) = frozen {
                    let overridden = self.store.overrides_freeze(queued.id).await.map_err(|e| {
                        tracing::error!(deployment = queued.id, error = %e, "reading a deployment");
                        "could not read the deployment".to_string()
                    })?;
                    if !overridden {
                        return Err(format!("not started: {frozen}"));
                    }
                }
            }
        }
        if queued.kind == DeploymentKind::Deploy && !self.allows_older(queued.id).await? {
            // A newer release may have gone live while this one waited its turn.
            let environment = project.environments.iter().find(|e| e.id == queued.environment_id);
            if let Some(environment) = environment {
                if let Some(live) =
                    promotion::newer_live(&self.store, release, environment).await.map_err(|e| e.message)?
                {
                    return Err(format!(
                        "{live} went live in {} while this deployment waited; {} is older, so it was not \
                         deployed (deploy it again to confirm)",
                        queued.environment, queued.release_version
                    ));
                }
            }
        }
        let hosts = self.choose_hosts(queued, project).await?;
        Ok(Prepared { plan, build, masker: Arc::new(Masker::new(&secrets)), rollout, hosts })
    }

    /// The online agents `selector` matches, whichever replica holds them: this one's
    /// first (idle ones first), then the others' by the labels Ferry holds for them.
    pub(super) async fn online_agents(&self, selector: &str) -> Vec<(i64, String)> {
        let mut found = self.agents.matching(selector);
        if !self.replica.exclusive {
            let connected = self.store.connected_agents(crate::store::now_millis()).await.unwrap_or_default();
            let rows = self.store.agents().await.unwrap_or_default();
            for row in rows.iter().filter(|r| connected.iter().any(|(id, _)| *id == r.id)) {
                let matches = ferry_engine::protocol::selector_matches(selector, &row.labels());
                if matches && !found.iter().any(|(id, _)| *id == row.id) {
                    found.push((row.id, row.name.clone()));
                }
            }
        }
        found
    }

    async fn allows_older(&self, id: i64) -> Result<bool, String> {
        self.store.allows_older(id).await.map_err(|e| {
            tracing::error!(deployment = id, error = %e, "reading a deployment");
            "could not read the deployment".to_string()
        })
    }

    /// The hosts chosen for it already (a rollback of some hosts), or the environment's
    /// targets: every online agent its selector matches and its SSH hosts, by name; the
    /// built-in agent when it has neither.
    async fn choose_hosts(
        &self,
        queued: &DeploymentView,
        project: &ferry_app::model::ProjectView,
    ) -> Result<Vec<Target>, String> {
        let chosen = self.store.targets(queued.id).await.map_err(|e| {
            tracing::error!(deployment = queued.id, error = %e, "loading a deployment's hosts");
            "could not load the deployment's hosts".to_string()
        })?;
        if !chosen.is_empty() {
            return Ok(chosen.into_iter().map(|t| Target { kind: t.kind(), name: t.name }).collect());
        }
        // A preview runs on the hosts of the environment it borrows from, and only
        // while its request is open (its teardown, while it closes).
        let preview = self.store.preview(queued.environment_id).await.map_err(|e| {
            tracing::error!(deployment = queued.id, error = %e, "loading a preview");
            "could not load the preview".to_string()
        })?;
        let hosts_of = match &preview {
            Some(row) if queued.kind != DeploymentKind::Teardown && row.state != "open" => {
                return Err(format!("the request of {} was closed: not deployed", queued.environment));
            }
            Some(row) => row.from_environment_id,
            None => queued.environment_id,
        };
        let selector = project
            .environments
            .iter()
            .find(|e| e.id == hosts_of)
            .map(|e| e.agent_selector.clone())
            .unwrap_or_default();
        let ssh_hosts = self.store.ssh_hosts(hosts_of).await.map_err(|e| {
            tracing::error!(deployment = queued.id, error = %e, "loading the environment's SSH hosts");
            "could not load the environment's SSH hosts".to_string()
        })?;
        if selector.is_empty() && ssh_hosts.is_empty() {
            return Ok(vec![Target { name: BUILT_IN_NAME.into(), kind: TargetKind::BuiltIn }]);
        }
        let mut found: Vec<Target> =
            ssh_hosts.into_iter().map(|h| Target { name: h.name, kind: TargetKind::Ssh(h.id) }).collect();
        if !selector.is_empty() {
            let agents = self.online_agents(&selector).await;
            if agents.is_empty() && found.is_empty() {
                return Err(format!("no online agent matches `{selector}`"));
            }
            found.extend(agents.into_iter().map(|(id, name)| Target { name, kind: TargetKind::Agent(id) }));
        }
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.agent_id().cmp(&b.kind.agent_id())));
        Ok(found)
    }
}
