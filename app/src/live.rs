//! The live event feed as the pages see it: the wasm entry feeds websocket events in,
//! pages subscribe for as long as they are mounted. Also the merge rules that let a
//! page apply events and snapshots in any order without going backwards.

use std::sync::{Arc, Mutex};

use leptos::prelude::*;

use crate::model::{DeploymentState, DeploymentView, Event, StepState, StepView, TargetState, TargetView};

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Listeners {
    next_id: u64,
    list: Vec<(u64, Listener)>,
}

/// Shared by every page through the Leptos context.
#[derive(Clone)]
pub struct LiveFeed {
    listeners: Arc<Mutex<Listeners>>,
    /// Whether the websocket is open right now (shown in the top bar).
    pub connected: RwSignal<bool>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self { listeners: Arc::default(), connected: RwSignal::new(false) }
    }
}

impl LiveFeed {
    /// Delivers one event to every current listener.
    pub fn dispatch(&self, event: &Event) {
        let listeners: Vec<Listener> = {
            let guard = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
            guard.list.iter().map(|(_, l)| l.clone()).collect()
        };
        for listener in listeners {
            listener(event);
        }
    }

    fn add(&self, listener: Listener) -> u64 {
        let mut guard = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        guard.next_id += 1;
        let id = guard.next_id;
        guard.list.push((id, listener));
        id
    }

    fn remove(&self, id: u64) {
        let mut guard = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        guard.list.retain(|(i, _)| *i != id);
    }
}

/// Calls `listener` for every event while the calling component is mounted.
pub fn on_live_event(listener: impl Fn(&Event) + Send + Sync + 'static) {
    let Some(feed) = use_context::<LiveFeed>() else { return };
    let id = feed.add(Arc::new(listener));
    on_cleanup(move || feed.remove(id));
}

fn deployment_rank(state: DeploymentState) -> u8 {
    match state {
        DeploymentState::AwaitingApproval => 0,
        DeploymentState::Queued => 1,
        DeploymentState::Running => 2,
        _ => 3,
    }
}

fn step_rank(state: StepState) -> u8 {
    match state {
        StepState::Queued => 0,
        StepState::Running => 1,
        _ => 2,
    }
}

/// True when `candidate` should replace `existing`: a newer deployment, or the same
/// one further along its lifecycle. Old news never overwrites new.
pub fn deployment_supersedes(candidate: &DeploymentView, existing: &DeploymentView) -> bool {
    (candidate.id, deployment_rank(candidate.state)) > (existing.id, deployment_rank(existing.state))
}

/// Same rule for a step of one deployment; a step placed on a host replaces the
/// planned step it came from.
pub fn step_supersedes(candidate: &StepView, existing: &StepView) -> bool {
    (candidate.target.is_some(), step_rank(candidate.state)) > (existing.target.is_some(), step_rank(existing.state))
}

fn target_rank(state: TargetState) -> u8 {
    match state {
        TargetState::Pending => 0,
        TargetState::Running => 1,
        TargetState::RolledBack => 3,
        _ => 2,
    }
}

/// Same rule for a host of one deployment.
pub fn target_supersedes(candidate: &TargetView, existing: &TargetView) -> bool {
    target_rank(candidate.state) > target_rank(existing.state)
}
