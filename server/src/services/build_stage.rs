//! Building a release once. The first deployment of a release runs the build plan on
//! the build agent: Ferry's built-in one (in `<data>/builds/`), or, when the project's
//! `build_selector` names labels, an online agent with those labels (connected to any
//! replica: the job goes through the database, as hosts' jobs do), which sends the
//! packed artifact back to its replica (`agents::artifacts::upload`), so the server
//! only stores it.
//! Either way: fetch the commit, run the build steps, pack the result. The artifact is
//! kept content-addressed as `<data>/artifacts/<sha256>.tar.gz` and recorded on the
//! release; every target of every deployment of the release unpacks those same bytes
//! after checking the checksum.

use std::path::PathBuf;

use ferry_app::model::{DeploymentKind, DeploymentView, ProjectView};
use ferry_engine::executor::{execute, Outcome, RunnerEvent};
use ferry_engine::pipeline::Pipeline;
use ferry_engine::plan::{build_plan, ArtifactSource, DeploymentFacts, DeploymentPlan};
use ferry_engine::protocol::ServerMessage;
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::{DeploymentState, LogStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deployer::Deployer;
use crate::store::ReleaseRow;

/// What a remote agent asks the server for (its credential authorizes it).
pub fn artifact_url(sha256: &str) -> String {
    format!("/agent/artifacts/{sha256}")
}

fn failed(why: String) -> Outcome {
    Outcome { state: DeploymentState::Failed, reason: Some(why) }
}

/// Where an agent sends the artifact of build job `job`.
pub fn build_upload_url(job: i64) -> String {
    format!("/agent/builds/{job}/artifact")
}

impl Deployer {
    pub(crate) fn artifacts_dir(&self) -> PathBuf {
        self.targets.with_file_name("artifacts")
    }

    /// The artifact file of a checksum (which names it).
    pub(crate) fn artifact_file(&self, sha256: &str) -> PathBuf {
        self.artifacts_dir().join(format!("{sha256}.tar.gz"))
    }

    /// The release's artifact, when it is built and still on disk.
    pub(super) fn built_artifact(&self, release: &ReleaseRow) -> Option<String> {
        let sha = release.artifact_sha256.as_ref()?;
        self.artifact_file(sha).is_file().then(|| sha.clone())
    }

    /// The build plan a deployment runs first, when its release has no artifact yet;
    /// `None` for rollbacks, teardowns and built releases. It uses the deployment's variables.
    pub(super) fn build_plan_for(
        &self,
        pipeline: &Pipeline,
        release: &ReleaseRow,
        kind: DeploymentKind,
        facts: &DeploymentFacts,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<DeploymentPlan>, String> {
        if kind != DeploymentKind::Deploy || self.built_artifact(release).is_some() {
            return Ok(None);
        }
        let partial = self.artifacts_dir().join(format!(".partial-{}.tar.gz", facts.deployment_id));
        let mut plan = build_plan(pipeline, facts, &partial.display().to_string())?;
        plan.env = env.clone();
        Ok(Some(plan))
    }

    /// Runs the build plan (its steps are the deployment's first ones) and keeps the
    /// artifact; returns its checksum, or how the build ended when it failed.
    pub(super) async fn build_release(
        &self,
        deployment: &DeploymentView,
        project: &ProjectView,
        plan: &DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
        cancel: CancellationToken,
    ) -> Result<String, Outcome> {
        if !project.build_selector.is_empty() {
            return self.build_on_agent(deployment, project, plan, events, cancel).await;
        }
        let project = project.slug.as_str();
        std::fs::create_dir_all(self.artifacts_dir()).map_err(|e| failed(format!("cannot store artifacts: {e}")))?;
        let owner = self.step_users.for_project(deployment.project_id).map_err(failed)?;
        let paths = ReleasePaths {
            target_dir: self.targets.with_file_name("builds").join(project),
            release_id: deployment.release_id,
            deployment_id: deployment.id,
            owner,
        };
        let outcome = execute(plan, &paths, events, cancel).await;
        let partial = self.artifacts_dir().join(format!(".partial-{}.tar.gz", deployment.id));
        if outcome.state != DeploymentState::Succeeded {
            let _ = std::fs::remove_file(&partial);
            return Err(outcome);
        }
        let stored =
            tokio::task::spawn_blocking(move || ferry_engine::artifact::sha256_file(&partial).map(|s| (s, partial)));
        let (sha, partial) = match stored.await {
            Ok(Ok(done)) => done,
            _ => return Err(failed("the packed artifact could not be read".into())),
        };
        std::fs::rename(&partial, self.artifact_file(&sha))
            .map_err(|e| failed(format!("cannot keep the artifact: {e}")))?;
        if let Err(e) = self.store.set_release_artifact(deployment.release_id, &sha).await {
            tracing::error!(deployment = deployment.id, error = %e, "recording a release's artifact");
        }
        Ok(sha)
    }

    /// Runs the build plan on an online agent with the project's build labels, which
    /// sends the artifact back before it reports the end; returns its checksum.
    async fn build_on_agent(
        &self,
        deployment: &DeploymentView,
        project: &ProjectView,
        plan: &DeploymentPlan,
        events: mpsc::Sender<RunnerEvent>,
        cancel: CancellationToken,
    ) -> Result<String, Outcome> {
        let selector = &project.build_selector;
        // Any replica's agent: the artifact goes to its replica (share `<data>/artifacts`).
        let Some((agent_id, name)) = self.online_agents(selector).await.into_iter().next() else {
            return Err(failed(format!("no online agent matches the project's build labels `{selector}`")));
        };
        let text = format!("building on agent {name} ({selector})");
        let _ = events.send(RunnerEvent::Log { index: 0, stream: LogStream::System, text }).await;
        // Build jobs are numbered apart from hosts' jobs (target ids, all positive).
        let job = -deployment.id;
        let run = ServerMessage::Run {
            job,
            project: project.slug.clone(),
            environment: String::new(),
            release_id: deployment.release_id,
            plan: Box::new(plan.clone()),
            upload: Some(build_upload_url(job)),
        };
        // The build's steps come first: none is recorded yet (a build is not carried on).
        let progress = crate::agents::relay::Progress::default();
        let (store, vault, grace) = (&self.store, &self.vault, self.agents.grace());
        let built =
            crate::agents::relay::run_job(store, vault, (agent_id, &name), &run, progress, events, &cancel, grace);
        let outcome = built.await.outcome;
        if outcome.state != DeploymentState::Succeeded {
            return Err(outcome);
        }
        let release = self.store.release(deployment.release_id).await.ok().flatten();
        match release.as_ref().and_then(|r| self.built_artifact(r)) {
            Some(sha) => Ok(sha),
            None => Err(failed(format!("agent {name} finished the build, but no artifact of it reached the server"))),
        }
    }

    /// Where a host gets the artifact: the file itself on the built-in agent, the
    /// server's artifact URL on a remote one.
    pub(super) fn artifact_source(&self, sha256: &str, remote: bool) -> ArtifactSource {
        let location = match remote {
            true => artifact_url(sha256),
            false => self.artifact_file(sha256).display().to_string(),
        };
        ArtifactSource { sha256: sha256.to_string(), location, bearer: None }
    }
}
