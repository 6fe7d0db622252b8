//! Spreading a deployment over an environment's hosts: the strategy cuts the hosts into
//! batches, each batch runs at once, and the first failed batch stops the rollout (the
//! hosts after it are skipped). What happens to hosts already switched is the failure
//! policy's business, which the caller applies with the per-host results returned here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::executor::Outcome;
use crate::states::{DeploymentState, TargetState};

/// How many hosts a rolling batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Count(u32),
    /// A share of the hosts, rounded up, at least one host.
    Percent(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Strategy {
    /// Every host at once.
    #[default]
    AllAtOnce,
    /// A batch at a time, each batch waiting for the one before it.
    Rolling(BatchSize),
    /// One host first, which must stay healthy for `verify`; then all the others.
    Canary { verify: Duration },
}

/// What a failure does to the hosts that already run the new release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Switch them back to the release they ran before.
    #[default]
    Rollback,
    /// Leave them as they are, for someone to look at.
    Stop,
}

/// The hosts of each batch, by index, in order.
pub fn batches(hosts: usize, strategy: &Strategy) -> Vec<Vec<usize>> {
    let all: Vec<usize> = (0..hosts).collect();
    let size = match *strategy {
        Strategy::AllAtOnce => hosts,
        Strategy::Rolling(BatchSize::Count(n)) => n as usize,
        Strategy::Rolling(BatchSize::Percent(p)) => (hosts * p as usize).div_ceil(100),
        Strategy::Canary { .. } => {
            let mut out = vec![all[..hosts.min(1)].to_vec()];
            if hosts > 1 {
                out.push(all[1..].to_vec());
            }
            return out.into_iter().filter(|b| !b.is_empty()).collect();
        }
    };
    all.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
}

/// How one host's part ended: the outcome, the release `current` pointed at before,
/// and whether `current` points elsewhere now.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRun {
    pub outcome: Outcome,
    pub before: Option<i64>,
    pub moved: bool,
}

impl TargetRun {
    pub fn state(&self) -> TargetState {
        match self.outcome.state {
            DeploymentState::Succeeded => TargetState::Succeeded,
            DeploymentState::Cancelled => TargetState::Cancelled,
            _ => TargetState::Failed,
        }
    }
}

/// Runs the deployment on one host; called once per host.
pub trait TargetRunner: Send + Sync + 'static {
    fn run(&self, host: usize) -> impl Future<Output = TargetRun> + Send;
}

/// Per host: its run, or `None` when it was skipped; and the whole rollout's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutResult {
    pub hosts: Vec<Option<TargetRun>>,
    pub outcome: Outcome,
}

/// Runs the batches in order; `names` name the hosts in the failure reason.
pub async fn roll_out<R: TargetRunner>(
    names: &[String],
    batches: &[Vec<usize>],
    runner: Arc<R>,
    cancel: &CancellationToken,
) -> RolloutResult {
    let mut hosts: Vec<Option<TargetRun>> = vec![None; names.len()];
    let mut outcome = Outcome { state: DeploymentState::Succeeded, reason: None };
    for (number, batch) in batches.iter().enumerate() {
        if cancel.is_cancelled() {
            outcome = Outcome { state: DeploymentState::Cancelled, reason: Some("cancelled".into()) };
            break;
        }
        let mut running = tokio::task::JoinSet::new();
        for &host in batch {
            let runner = runner.clone();
            running.spawn(async move { (host, runner.run(host).await) });
        }
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((host, run)) => hosts[host] = Some(run),
                Err(e) => tracing::error!(error = %e, "a host's run panicked"),
            }
        }
        let mut failed: Vec<String> = Vec::new();
        let mut cancelled = false;
        for &host in batch {
            match hosts[host].as_ref().map(|r| r.outcome.clone()) {
                Some(Outcome { state: DeploymentState::Succeeded, .. }) => {}
                Some(Outcome { state: DeploymentState::Cancelled, .. }) => cancelled = true,
                // With one host, naming it adds nothing.
                Some(Outcome { reason, .. }) if names.len() == 1 => {
                    failed.push(reason.unwrap_or_else(|| "failed".into()))
                }
                Some(Outcome { reason, .. }) => {
                    failed.push(format!("{}: {}", names[host], reason.unwrap_or_else(|| "failed".into())))
                }
                None => failed.push(format!("{}: its run was lost", names[host])),
            }
        }
        if !failed.is_empty() {
            let batch_text =
                if batches.len() > 1 { format!(" (batch {} of {})", number + 1, batches.len()) } else { String::new() };
            let reason = match names.len() {
                1 => failed.join("; "),
                _ => format!("failed on {}{batch_text}", failed.join("; ")),
            };
            outcome = Outcome { state: DeploymentState::Failed, reason: Some(reason) };
            break;
        }
        if cancelled {
            outcome = Outcome { state: DeploymentState::Cancelled, reason: Some("cancelled".into()) };
            break;
        }
    }
    RolloutResult { hosts, outcome }
}
