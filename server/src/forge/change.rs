//! One deployment change as the forges are told of it: the commit and ref, the
//! environment and its URL, Ferry's page for the deployment, and the phase the
//! deployment reached, with a short description.

use ferry_app::model::{DeploymentKind, DeploymentView};
use ferry_engine::pipeline::{Pipeline, PIPELINE_FILE};
use ferry_engine::DeploymentState;

use crate::store::{PreviewRow, Store};

/// Starts the comment Ferry keeps on a preview's request.
pub const PREVIEW_MARK: &str = "<!-- ferry:preview -->";

/// The phases both forges know, in Ferry's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting: for approval, for its turn or for a wait timer.
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Phase {
    pub fn of(state: DeploymentState) -> Self {
        match state {
            DeploymentState::AwaitingApproval | DeploymentState::Queued => Phase::Queued,
            DeploymentState::Running => Phase::Running,
            DeploymentState::Succeeded => Phase::Succeeded,
            DeploymentState::Failed => Phase::Failed,
            DeploymentState::Cancelled => Phase::Cancelled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub deployment: DeploymentView,
    pub phase: Phase,
    /// The full commit deployed.
    pub sha: String,
    /// The branch or tag the release came from (else the commit).
    pub git_ref: String,
    /// Where people reach the environment (`url` in ferry.yml), if declared.
    pub environment_url: Option<String>,
    /// The last environment of the lifecycle is production.
    pub production: bool,
    /// Ferry's page for the deployment.
    pub log_url: String,
    /// At most 140 characters, as GitHub allows.
    pub description: String,
    /// The preview, when the environment is one: its request gets a comment.
    pub preview: Option<PreviewRow>,
    /// The deployment's state when the report was queued.
    pub state: DeploymentState,
}

impl Change {
    /// The change for a queued report, or `None` when its deployment or release is gone.
    pub async fn load(store: &Store, base_url: &str, deployment_id: i64, state: &str) -> Option<Self> {
        let deployment = store.deployment(deployment_id).await.ok().flatten()?;
        let release = store.release(deployment.release_id).await.ok().flatten()?;
        let state = DeploymentState::parse(state).unwrap_or(deployment.state);
        let phase = Phase::of(state);
        let pipeline = Pipeline::parse(PIPELINE_FILE, &release.pipeline).ok();
        let environments = pipeline.as_ref().map(|p| p.environments.as_slice()).unwrap_or_default();
        let position = environments.iter().position(|e| e.name.as_str() == deployment.environment);
        let mut environment_url = position.and_then(|i| environments[i].url.as_ref()).map(|u| u.as_str().to_string());
        let mut production = position.is_some_and(|i| i + 1 == environments.len());
        let preview = store.preview(deployment.environment_id).await.ok().flatten();
        if let Some(preview) = &preview {
            environment_url = preview.url.clone();
            production = false;
        }
        let description = describe(&deployment, state);
        Some(Change {
            phase,
            sha: release.git_commit.clone(),
            git_ref: release.git_ref.clone().unwrap_or_else(|| release.git_commit.clone()),
            environment_url,
            production,
            log_url: format!("{base_url}/deployments/{deployment_id}"),
            description,
            deployment,
            preview,
            state,
        })
    }

    /// The text of the one comment Ferry keeps on a preview's request, as of this change.
    pub fn preview_comment(&self) -> Option<String> {
        let preview = self.preview.as_ref()?;
        let d = &self.deployment;
        let teardown = d.kind == DeploymentKind::Teardown;
        let reason = d.reason.as_deref().unwrap_or("no reason given");
        let status = match (teardown, self.state) {
            (false, DeploymentState::AwaitingApproval) => {
                "⏸️ Waiting for a deployer's approval in Ferry (the code comes from a fork)".to_string()
            }
            (false, DeploymentState::Queued) => "⏳ Queued".to_string(),
            (false, DeploymentState::Running) => "🚀 Deploying".to_string(),
            (false, DeploymentState::Succeeded) => "✅ Live".to_string(),
            (false, DeploymentState::Failed) => format!("❌ Failed: {reason}"),
            (false, DeploymentState::Cancelled) => format!("⚪ Not deployed: {reason}"),
            (true, DeploymentState::Succeeded) => "🧹 Removed: the request was closed".to_string(),
            (true, DeploymentState::Failed | DeploymentState::Cancelled) => {
                format!("❌ Teardown failed: {reason}")
            }
            (true, _) => "🧹 Tearing down".to_string(),
        };
        let mut rows = vec![format!("| Commit | `{}` |", &self.sha[..self.sha.len().min(12)])];
        if let Some(url) = self.environment_url.as_ref().filter(|_| !teardown) {
            rows.push(format!("| URL | {url} |"));
        }
        rows.push(format!("| Deployment | [#{} ({})]({}) |", d.id, d.release_version, self.log_url));
        Some(format!(
            "{PREVIEW_MARK}\n**Ferry preview `{}`**: {status}\n\n| | |\n|---|---|\n{}\n",
            d.environment,
            rows.join("\n"),
        ))
        .filter(|_| preview.number > 0)
    }

    /// The commit status's name: one per environment, so a commit shows where it went.
    pub fn context(&self) -> String {
        format!("ferry/{}", self.deployment.environment)
    }
}

fn describe(d: &DeploymentView, state: DeploymentState) -> String {
    let version = &d.release_version;
    if d.kind == DeploymentKind::Teardown {
        let text = match state {
            DeploymentState::Succeeded => format!("{} was removed", d.environment),
            DeploymentState::Failed | DeploymentState::Cancelled => format!("{} could not be removed", d.environment),
            _ => format!("Removing {}", d.environment),
        };
        return shorten(&text, 140);
    }
    let text = match state {
        DeploymentState::AwaitingApproval => format!("{version} is waiting for approval"),
        DeploymentState::Queued => format!("{version} is queued"),
        DeploymentState::Running => format!("Deploying {version}"),
        DeploymentState::Succeeded => format!("{version} is live"),
        DeploymentState::Failed => match &d.reason {
            Some(reason) => format!("{version} failed: {reason}"),
            None => format!("{version} failed"),
        },
        DeploymentState::Cancelled => format!("{version} was cancelled"),
    };
    shorten(&text, 140)
}

/// Cuts text to `limit` characters, marking the cut.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_githubs_limit() {
        let long = "x".repeat(300);
        assert_eq!(shorten(&long, 140).chars().count(), 140);
        assert_eq!(shorten("short", 140), "short");
    }

    #[test]
    fn every_waiting_state_is_queued() {
        assert_eq!(Phase::of(DeploymentState::AwaitingApproval), Phase::Queued);
        assert_eq!(Phase::of(DeploymentState::Queued), Phase::Queued);
        assert_eq!(Phase::of(DeploymentState::Failed), Phase::Failed);
    }
}
