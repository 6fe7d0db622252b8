//! The deployment and step state machines: which states exist and which moves between
//! them are legal. Every transition the server persists goes through `can_become`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Lifecycle of one deployment (a release going to one environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Held for the approvals its protected environment requires.
    AwaitingApproval,
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Lifecycle of one step inside a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Not run because an earlier step failed or the deployment was cancelled.
    Skipped,
    /// Its agent went away while it ran; whether it finished on the host is unknown.
    AgentLost,
}

/// Where one host of a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Its batch has not started.
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Not run: an earlier batch failed.
    Skipped,
    /// It ran the release, and was switched back after the rollout failed.
    RolledBack,
}

/// Which output stream of a step a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines Ferry itself writes about the step (what it runs, why it failed).
    System,
}

macro_rules! text_names {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_names!(DeploymentState {
    AwaitingApproval => "awaiting_approval", Queued => "queued", Running => "running", Succeeded => "succeeded",
    Failed => "failed", Cancelled => "cancelled",
});
text_names!(StepState {
    Queued => "queued", Running => "running", Succeeded => "succeeded",
    Failed => "failed", Skipped => "skipped", AgentLost => "agent_lost",
});
text_names!(TargetState {
    Pending => "pending", Running => "running", Succeeded => "succeeded", Failed => "failed",
    Cancelled => "cancelled", Skipped => "skipped", RolledBack => "rolled_back",
});
text_names!(LogStream { Stdout => "stdout", Stderr => "stderr", System => "system" });

impl DeploymentState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Legal moves: awaiting approval → queued (approved) | cancelled (rejected);
    /// queued → running | failed | cancelled; running → any terminal state.
    /// A queued deployment may fail without running (e.g. interrupted by a restart).
    pub fn can_become(self, next: Self) -> bool {
        use DeploymentState::*;
        matches!(
            (self, next),
            (AwaitingApproval, Queued)
                | (AwaitingApproval, Cancelled)
                | (Queued, Running)
                | (Queued, Failed)
                | (Queued, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
        )
    }
}

impl StepState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped | Self::AgentLost)
    }

    pub fn can_become(self, next: Self) -> bool {
        use StepState::*;
        matches!(
            (self, next),
            (Queued, Running) | (Queued, Skipped) | (Running, Succeeded) | (Running, Failed) | (Running, AgentLost)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DeploymentState; 6] = [
        DeploymentState::AwaitingApproval,
        DeploymentState::Queued,
        DeploymentState::Running,
        DeploymentState::Succeeded,
        DeploymentState::Failed,
        DeploymentState::Cancelled,
    ];

    #[test]
    fn terminal_states_never_move() {
        for from in ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ALL {
                assert!(!from.can_become(to), "{from} must not become {to}");
            }
        }
    }

    #[test]
    fn a_deployment_cannot_skip_running_to_succeed() {
        assert!(!DeploymentState::Queued.can_become(DeploymentState::Succeeded));
        assert!(DeploymentState::Queued.can_become(DeploymentState::Running));
        assert!(DeploymentState::Running.can_become(DeploymentState::Succeeded));
        assert!(!DeploymentState::Running.can_become(DeploymentState::Queued));
        assert!(!DeploymentState::AwaitingApproval.can_become(DeploymentState::Running), "approval queues it first");
        assert!(DeploymentState::AwaitingApproval.can_become(DeploymentState::Queued));
    }

    #[test]
    fn steps_run_before_they_finish() {
        assert!(!StepState::Queued.can_become(StepState::Succeeded));
        assert!(StepState::Queued.can_become(StepState::Skipped));
        assert!(!StepState::Running.can_become(StepState::Skipped));
        assert!(!StepState::Failed.can_become(StepState::Running));
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(DeploymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(StepState::parse("skipped"), Some(StepState::Skipped));
        assert_eq!(LogStream::parse("stderr"), Some(LogStream::Stderr));
        assert_eq!(DeploymentState::parse("done"), None);
    }
}
