//! The durable job queue's runner: claims due jobs from the database (any replica may;
//! `store/jobs.rs`), runs each kind's handler, and marks it done, or gives it back
//! with a jittered backoff when the handler fails. Jobs are enqueued in the same
//! transaction as the change that asks for them, so a crash between the change and
//! its consequences loses nothing: the job waits in the table for the next claim.
//!
//! Kinds today: the notifications of a deployment's start, end, and request for
//! approvals, enqueued with the state change (`store::transition_enqueuing`, and
//! `create_deployment` for one that awaits approval); each message of the outbox to its
//! channel, one at a time per channel; and each report of a change to the project's
//! repository, one at a time per project, queued with the change itself. Claimed jobs
//! run side by side (jobs of one queue key never do: the claim takes only its oldest).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{now_millis, JobRow, Store};

pub use crate::store::job_kinds::*;

/// How long a claim lasts: longer than a handler takes (they enqueue, not send).
const LEASE: Duration = Duration::from_secs(60);
/// How often the runner looks for due jobs.
const POLL: Duration = Duration::from_millis(250);
const BATCH: i64 = 20;
/// Most jobs a runner works on at once.
const PARALLEL: usize = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Wakes the runners of this process: a job was just enqueued.
static ENQUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Says a job was enqueued, so this process's runner looks at once.
pub fn wake() {
    ENQUEUED.notify_waiters();
}

/// How a job's work ended, when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Done,
    /// Done; the next jobs of its queue key wait until this time (ms; a receiver's pace).
    DoneHoldingKeyUntil(i64),
    /// To be tried again at this time (ms), having recorded why itself.
    RetryAt(i64, String),
}

/// What a handler's work is; an error is retried with the backoff.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<JobEnd, String>> + Send>>;

type Handler = Arc<dyn Fn(String) -> JobFuture + Send + Sync>;

/// The runner, with a handler per kind.
#[derive(Clone)]
pub struct Runner {
    store: Store,
    owner: Arc<str>,
    handlers: HashMap<&'static str, Handler>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Runner {
    pub fn new(store: Store) -> Self {
        let owner = format!("jobs-{}-{}", std::process::id(), crate::auth::secrets::random_text(6));
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        Self { store, owner: owner.into(), handlers: HashMap::new(), slots }
    }

    /// Runs `handler(payload)` for jobs of `kind`.
    pub fn handle<F, Fut>(mut self, kind: &'static str, handler: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<JobEnd, String>> + Send + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |payload| Box::pin(handler(payload))));
        self
    }

    /// Claims and runs jobs until the process ends.
    pub fn start(self) {
        tokio::spawn(async move {
            loop {
                let enqueued = ENQUEUED.notified();
                match self.run_due().await {
                    Ok(0) => {
                        tokio::select! {
                            _ = enqueued => {}
                            _ = tokio::time::sleep(POLL) => {}
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "claiming jobs");
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
        });
    }

    /// Starts the jobs due now, as many as there are free slots; returns how many.
    pub async fn run_due(&self) -> Result<usize, sqlx::Error> {
        let free = self.slots.available_permits() as i64;
        if free == 0 {
            return Ok(0);
        }
        let claimed =
            self.store.claim_jobs(&self.owner, now_millis(), LEASE.as_millis() as i64, BATCH.min(free)).await?;
        for job in &claimed {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else { break };
            let (runner, job) = (self.clone(), job.clone());
            tokio::spawn(async move {
                runner.run(&job).await;
                drop(slot);
                wake(); // its key's next job may be due now
            });
        }
        Ok(claimed.len())
    }

    async fn run(&self, job: &JobRow) {
        let result = match self.handlers.get(job.kind.as_str()) {
            Some(handler) => handler(job.payload.clone()).await,
            None => Err(format!("no handler for jobs of kind `{}`", job.kind)),
        };
        let recorded = match result {
            Ok(JobEnd::Done) => self.store.complete_job(job.id, &self.owner).await.map(|_| ()),
            Ok(JobEnd::DoneHoldingKeyUntil(until)) => {
                // Held back before this one is done, so no runner sees the next one due.
                let paced = match &job.queue_key {
                    Some(key) => self.store.pace_queue(key, until).await,
                    None => Ok(()),
                };
                match paced {
                    Ok(()) => self.store.complete_job(job.id, &self.owner).await.map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            Ok(JobEnd::RetryAt(at, why)) => self.store.retry_job(job.id, &self.owner, at, &why).await,
            Err(why) => {
                tracing::warn!(job = job.id, kind = job.kind, attempts = job.attempts, %why, "a job failed; retrying");
                let after = now_millis() + backoff(job.attempts, MAX_BACKOFF).as_millis() as i64;
                self.store.retry_job(job.id, &self.owner, after, &why).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(job = job.id, error = %e, "recording a job's end");
        }
    }
}

/// The retry backoff of jobs, notification deliveries and forge reports: 1 s after the
/// first failure, doubling up to `cap`, jittered (`ferry_engine::retry`).
pub fn backoff(attempts: i64, cap: Duration) -> Duration {
    ferry_engine::retry::backoff(attempts.clamp(1, 64) as u32, Duration::from_secs(1), cap)
}
