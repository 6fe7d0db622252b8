//! Turns what the executor reports into persisted step states, numbered log lines and
//! events, in the order the executor reported them.

use std::sync::Arc;

use ferry_app::model::{EventPayload, StepState};
use ferry_engine::executor::RunnerEvent;
use ferry_engine::plan::DeploymentPlan;
use tokio::sync::mpsc;

use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::store::{NewLogLine, StepChange, Store};

pub struct Recorder {
    store: Store,
    bus: EventBus,
    metrics: Arc<Metrics>,
    deployment_id: i64,
    step_names: Vec<String>,
    next_seq: i64,
}

impl Recorder {
    pub fn new(store: Store, bus: EventBus, metrics: Arc<Metrics>, deployment_id: i64, plan: &DeploymentPlan) -> Self {
        let step_names = plan.steps.iter().map(|s| s.name.clone()).collect();
        Self { store, bus, metrics, deployment_id, step_names, next_seq: 1 }
    }

    pub async fn record(mut self, mut events: mpsc::Receiver<RunnerEvent>) {
        while let Some(event) = events.recv().await {
            if let Err(e) = self.apply(event).await {
                // The run goes on; what could not be recorded is in the server log.
                tracing::error!(deployment = self.deployment_id, error = %e, "recording a step event");
            }
        }
    }

    async fn apply(&mut self, event: RunnerEvent) -> Result<(), sqlx::Error> {
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
            RunnerEvent::Log { index, stream, text } => {
                let line = NewLogLine {
                    deployment_id: self.deployment_id,
                    seq: self.next_seq,
                    step: index as i32,
                    stream,
                    text,
                };
                self.next_seq += 1;
                Some(EventPayload::Log(self.store.append_log(line).await?))
            }
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
