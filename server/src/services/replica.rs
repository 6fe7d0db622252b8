//! This replica's part in running deployments when several share one database. Queued
//! deployments wait in the store; every replica's dispatcher claims the oldest runnable
//! one of each environment whose lease nobody holds, and runs it. A heartbeat renews
//! this replica's leases, applies cancels asked of other replicas, and ends the
//! deployments of replicas whose leases ran out (they died): their environments' queues
//! then move on. Start-up recovery touches only work no live replica holds.

use std::sync::Arc;
use std::time::Duration;

use ferry_app::error::AppError;
use ferry_app::model::{DeploymentState, DeploymentView};
use tokio_util::sync::CancellationToken;

use super::deployer::{Deployer, INTERRUPTED};
use crate::error::OrInternal;
use crate::store::now_millis;

/// Who this replica is, and the terms of its leases.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Unique per process start: `<host>-<pid>-<random>`.
    pub id: String,
    pub host: String,
    /// A lease not renewed for this long is taken to belong to a dead replica.
    pub lease: Duration,
    /// No other process can share the database (SQLite, with its data directory
    /// lock): every lease found at start-up is this process's own, from before.
    pub exclusive: bool,
}

impl Replica {
    pub fn new(lease: Duration, exclusive: bool) -> Self {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let host = if host.is_empty() { "ferry".to_string() } else { host };
        let id = format!("{host}-{}-{}", std::process::id(), crate::auth::secrets::random_text(6));
        Self { id, host, lease, exclusive }
    }

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// How often the dispatcher looks for work it was not woken for (wait timers ending,
/// other replicas' leases ending), and the heartbeat checks for cancels.
const TICK: Duration = Duration::from_millis(500);

impl Deployer {
    /// Asks the dispatcher to look for work now (a deployment was queued or approved).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Recovers what no live replica holds, then starts the dispatcher and heartbeat.
    pub async fn start_replica(self: &Arc<Self>) -> Result<(), AppError> {
        let now = now_millis();
        self.store.replica_alive(&self.replica.id, &self.replica.host, now).await.or_internal("announcing")?;
        self.recover().await?;
        tokio::spawn(self.clone().dispatch());
        tokio::spawn(self.clone().heartbeat());
        self.wake();
        Ok(())
    }

    /// After a start: deployments that were running and that no live replica holds
    /// are carried on when their hosts are agents (their steps went on there), and
    /// failed with a reason otherwise (their processes died with the server that ran them).
    async fn recover(self: &Arc<Self>) -> Result<(), AppError> {
        let now = now_millis();
        if self.replica.exclusive {
            self.store.drop_all_leases().await.or_internal("recovery")?;
        }
        for running in self.store.deployments_in_state(DeploymentState::Running).await.or_internal("recovery")? {
            if self.store.lease_owner(running.id, now).await.or_internal("recovery")?.is_some() {
                continue; // another replica runs it
            }
            // An expired lease is the heartbeat's to take over; none left: it is ours.
            let (environment, id) = (running.environment_id, running.id);
            let claimed = self.store.claim_environment(environment, id, &self.replica.id, now, self.replica.lease_ms());
            if claimed.await.or_internal("recovery")? {
                self.carry_on_or_end(running, INTERRUPTED).await?;
            }
        }
        Ok(())
    }

    /// A running deployment whose environment this replica just took from a replica
    /// that stopped (or from before its own restart): carried on when it can be,
    /// otherwise ended as failed with `reason`, and its environment let go.
    async fn carry_on_or_end(self: &Arc<Self>, deployment: DeploymentView, reason: &str) -> Result<(), AppError> {
        let (id, environment) = (deployment.id, deployment.environment_id);
        if deployment.state == DeploymentState::Running && self.can_carry_on(id).await? {
            tracing::warn!(deployment = id, "carrying on a deployment its replica left");
            self.spawn_run(deployment, Run::CarryOn);
            return Ok(());
        }
        if deployment.state == DeploymentState::Running {
            tracing::warn!(deployment = id, reason, "ending a deployment its replica left");
            self.close_steps(id).await?;
            match self.transition(id, DeploymentState::Running, DeploymentState::Failed, Some(reason)).await {
                // It ended after all (its replica was only slow): nothing to do.
                Err(e) if e.error != ferry_app::error::ErrorCode::Conflict => return Err(e),
                _ => {}
            }
            // Its steps on this host went on without the server that ran them.
            let killed = super::orphans::kill_orphaned_steps(&self.targets, id);
            if killed > 0 {
                tracing::warn!(deployment = id, killed, "killed the steps it left running");
            }
        }
        self.store.release_environment(environment, &self.replica.id).await.or_internal("letting go")?;
        Ok(())
    }

    /// Claims runnable deployments and runs them, until the replica drains.
    async fn dispatch(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = self.draining.cancelled() => return,
            }
            if let Err(e) = self.claim_runnable().await {
                tracing::error!(error = %e.message, "looking for deployments to run");
            }
        }
    }

    async fn claim_runnable(self: &Arc<Self>) -> Result<(), AppError> {
        let now = now_millis();
        let runnable = self.store.runnable_deployments(now, 100).await.or_internal("finding runnable deployments")?;
        for deployment in runnable {
            if self.draining.is_cancelled() {
                return Ok(());
            }
            if self.cancel_handles().contains_key(&deployment.id) {
                continue;
            }
            let (environment, id) = (deployment.environment_id, deployment.id);
            let claimed = self.store.claim_environment(environment, id, &self.replica.id, now, self.replica.lease_ms());
            if claimed.await.or_internal("claiming an environment")? {
                self.spawn_run(deployment, Run::Queued);
            }
        }
        Ok(())
    }

    /// Runs a deployment whose environment this replica holds, then lets go of it.
    fn spawn_run(self: &Arc<Self>, deployment: DeploymentView, how: Run) {
        let this = self.clone();
        let cancel = CancellationToken::new();
        self.cancel_handles().insert(deployment.id, cancel.clone());
        // Every line logged while it runs names it (the fields of FERRY_LOG_FORMAT=json).
        let span = tracing::info_span!(
            "deployment",
            deployment_id = deployment.id,
            project = %deployment.project,
            environment = %deployment.environment
        );
        let run = async move {
            let (id, environment) = (deployment.id, deployment.environment_id);
            let ran = match how {
                Run::Queued => this.run(deployment, cancel).await,
                Run::CarryOn => this.carry_on(deployment, cancel).await,
            };
            if let Err(e) = ran {
                tracing::error!(deployment = id, error = %e.message, "deployment could not run");
            }
            // A deployment handed over keeps its lease, expired, for another replica (or
            // the next start) to take over and carry it on.
            let let_go = match this.handing_over.is_cancelled() {
                true => this.store.expire_lease_if_running(environment, &this.replica.id).await,
                false => Ok(false),
            };
            let let_go = match let_go {
                Ok(true) => Ok(()),
                _ => this.store.release_environment(environment, &this.replica.id).await,
            };
            if let Err(e) = let_go {
                tracing::error!(deployment = id, error = %e, "letting go of an environment");
            }
            this.cancel_handles().remove(&id);
            this.wake();
        };
        tokio::spawn(tracing::Instrument::instrument(run, span));
    }

    /// Renews this replica's leases and says it is alive; applies cancels asked of
    /// other replicas; ends the deployments of replicas that died. Runs until the
    /// replica has drained (leases are held until its deployments finish).
    async fn heartbeat(self: Arc<Self>) {
        let renew_every = (self.replica.lease / 3).max(TICK);
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(TICK).await;
            if self.draining.is_cancelled() && self.cancel_handles().is_empty() {
                return; // drained: nothing of this replica's is left to hold
            }
            let now = now_millis();
            if last_renewal.elapsed() >= renew_every {
                last_renewal = tokio::time::Instant::now();
                let renewed = self.store.renew_leases(&self.replica.id, now, self.replica.lease_ms()).await;
                let alive = self.store.replica_alive(&self.replica.id, &self.replica.host, now).await;
                // Replicas gone for a day are forgotten (each start is a new one).
                let forgotten = self.store.replicas_forget(now - 86_400_000).await;
                if let Err(e) = renewed.and(alive).and(forgotten) {
                    tracing::error!(error = %e, "renewing this replica's leases");
                }
            }
            self.apply_requested_cancels().await;
            if let Err(e) = self.take_over_expired(now).await {
                tracing::error!(error = %e.message, "ending the deployments of a lost replica");
            }
        }
    }

    async fn apply_requested_cancels(&self) {
        let mine: Vec<i64> = self.cancel_handles().keys().copied().collect();
        match self.store.cancels_requested(&mine).await {
            Ok(asked) => {
                for id in asked {
                    if let Some(token) = self.cancel_handles().get(&id) {
                        token.cancel();
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading requested cancels"),
        }
    }

    /// Leases that ran out belong to replicas that stopped answering: this replica takes
    /// the lease over, and carries the deployment on or ends it (naming the lost replica).
    async fn take_over_expired(self: &Arc<Self>, now: i64) -> Result<(), AppError> {
        if self.draining.is_cancelled() {
            return Ok(()); // the other replicas take it
        }
        let expired = self.store.expired_leases(now).await.or_internal("reading leases")?;
        for lease in expired.into_iter().filter(|l| l.owner != self.replica.id) {
            let taken = self.store.take_expired_lease(&lease, &self.replica.id, now, self.replica.lease_ms());
            if !taken.await.or_internal("taking over a lease")? {
                continue;
            }
            let deployment = self.store.deployment(lease.deployment_id).await.or_internal("loading")?;
            match deployment {
                Some(deployment) => {
                    let reason = format!(
                        "the Ferry replica {} that ran this deployment stopped answering (its lease of {} s ran \
                         out); what its built-in agent was running is lost",
                        lease.owner,
                        self.replica.lease.as_secs()
                    );
                    self.carry_on_or_end(deployment, &reason).await?;
                }
                None => self
                    .store
                    .release_environment(lease.environment_id, &self.replica.id)
                    .await
                    .or_internal("letting go")?,
            }
            self.wake();
        }
        Ok(())
    }
}

/// How a claimed deployment runs.
enum Run {
    /// From the start.
    Queued,
    /// From where the replica that ran it stopped.
    CarryOn,
}
