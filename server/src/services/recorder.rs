//! Turns what the executor reports into persisted step states, numbered log lines and
//! events, in the order the executor reported them. Lines that arrive together are
//! stored and published in one transaction, so a chatty step does not wait on the
//! database line by line.

use std::sync::Arc;

use ferry_app::model::{EventPayload, StepState};
use ferry_engine::executor::RunnerEvent;
use tokio::sync::mpsc;

use super::masking::Masker;
use crate::events::EventBus;
use crate::store::{NewLogLine, StepChange, Store};
use crate::telemetry::Metrics;

pub struct Recorder {
    store: Store,
    bus: EventBus,
    metrics: Arc<Metrics>,
    deployment_id: i64,
    step_names: Vec<String>,
    next_seq: i64,
    /// Hides secret values in every line before it is stored or sent.
    masker: Arc<Masker>,
}

impl Recorder {
    /// Most events handled per transaction.
    const BATCH: usize = 512;

    pub fn new(
        store: Store,
        bus: EventBus,
        metrics: Arc<Metrics>,
        deployment_id: i64,
        step_names: Vec<String>,
    ) -> Self {
        Self { store, bus, metrics, deployment_id, step_names, next_seq: 1, masker: Arc::default() }
    }

    /// Numbers its lines on from `next_seq` (a deployment carried on after its replica
    /// stopped already has lines).
    pub fn continuing_at(mut self, next_seq: i64) -> Self {
        self.next_seq = next_seq;
        self
    }

    pub fn masking(mut self, masker: Arc<Masker>) -> Self {
        self.masker = masker;
        self
    }

    pub async fn record(mut self, mut events: mpsc::Receiver<RunnerEvent>) {
        let mut batch = Vec::with_capacity(Self::BATCH);
        while events.recv_many(&mut batch, Self::BATCH).await > 0 {
            let mut lines = Vec::new();
            for event in batch.drain(..) {
                match event {
                    RunnerEvent::Log { index, stream, text } => {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        lines.push(NewLogLine {
                            deployment_id: self.deployment_id,
                            seq,
                            step: index as i32,
                            stream,
                            text: self.masker.mask(&text),
                        });
                    }
                    other => {
                        // Keep the order: lines printed before a step ended are stored first.
                        self.flush(&mut lines).await;
                        if let Err(e) = self.apply_step_event(other).await {
                            tracing::error!(deployment = self.deployment_id, error = %e, "recording a step event");
                        }
                    }
                }
            }
            self.flush(&mut lines).await;
        }
    }

    async fn flush(&self, lines: &mut Vec<NewLogLine>) {
        if lines.is_empty() {
            return;
        }
        let result = match self.store.append_logs(std::mem::take(lines)).await {
            Ok(stored) => self.bus.publish_all(stored.into_iter().map(EventPayload::Log).collect()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The run goes on; what could not be recorded is in the server log.
            tracing::error!(deployment = self.deployment_id, error = %e, "recording log lines");
        }
    }

    async fn apply_step_event(&mut self, event: RunnerEvent) -> Result<(), sqlx::Error> {
        let payload = match event {
            RunnerEvent::StepStarted { index } => self.step(index, StepState::Queued, StepState::Running, None).await?,
            RunnerEvent::StepFinished { index, state, exit_code } => {
                let from = if state == StepState::Skipped { StepState::Queued } else { StepState::Running };
                let payload = self.step(index, from, state, exit_code).await?;
                if let Some(EventPayload::Step(step)) = &payload {
                    if let (Some(start), Some(end)) = (step.started_at, step.finished_at) {
                        let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
                        self.metrics.observe_step(&step.name, seconds);
                    }
                }
                payload
            }
            RunnerEvent::Log { .. } => None,
        };
        if let Some(payload) = payload {
            self.bus.publish(payload).await?;
        }
        Ok(())
    }

    async fn step(
        &self,
        index: usize,
        from: StepState,
        to: StepState,
        exit_code: Option<i32>,
    ) -> Result<Option<EventPayload>, sqlx::Error> {
        let change = StepChange { deployment_id: self.deployment_id, position: index as i32, from, to, exit_code };
        let step = self.store.change_step(&change).await?;
        if step.is_none() {
            let name = self.step_names.get(index).map(String::as_str).unwrap_or("?");
            tracing::error!(deployment = self.deployment_id, step = name, %from, %to, "illegal step transition ignored");
        }
        Ok(step.map(EventPayload::Step))
    }
}
