//! Small pieces shared by the pages: status badges and time formatting.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::model::{DeploymentState, StepState};

pub mod approval;
pub mod bad_mark;
pub mod channel_form;
pub mod forge_link;
pub mod freezes;
pub mod log_view;
pub mod notifications;
pub mod preferences;
pub mod promote;
pub mod retention;
pub mod ssh_hosts;
pub mod variables;

/// A state shown with icon and text, so it reads without colour too.
#[component]
pub fn StateBadge(#[prop(into)] state: Signal<String>) -> impl IntoView {
    let icon = move || match state.get().as_str() {
        "succeeded" => "✓",
        "failed" => "✗",
        "running" => "◐",
        "cancelled" | "skipped" => "–",
        "awaiting_approval" => "⏸",
        "rolled_back" => "↩",
        "agent_lost" => "⚠",
        "pending" => "·",
        _ => "…",
    };
    view! {
        <span class="badge" data-state=move || state.get()>
            <span aria-hidden="true">{icon}</span>
            " "
            {move || state.get()}
        </span>
    }
}

pub fn deployment_state_text(state: DeploymentState) -> String {
    state.as_str().to_string()
}

pub fn step_state_text(state: StepState) -> String {
    state.as_str().to_string()
}

/// `1.2s`, `45s`, `3m 05s`.
pub fn format_duration(millis: i64) -> String {
    let millis = millis.max(0);
    if millis < 10_000 {
        format!("{:.1}s", millis as f64 / 1000.0)
    } else if millis < 60_000 {
        format!("{}s", millis / 1000)
    } else {
        format!("{}m {:02}s", millis / 60_000, (millis / 1000) % 60)
    }
}

pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn short_commit(commit: &str) -> String {
    commit.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(1234), "1.2s");
        assert_eq!(format_duration(45_000), "45s");
        assert_eq!(format_duration(185_000), "3m 05s");
        assert_eq!(format_duration(-5), "0.0s");
    }
}
