//! A project's link to its repository on GitHub or GitLab: where webhooks come from
//! and, given an API token, where deployment statuses go. The webhook secret is shown
//! once, when the link is made; the token is never shown again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::DeliveryState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    Github,
    Gitlab,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
        }
    }

    /// The forge's name as people write it.
    pub fn title(self) -> &'static str {
        match self {
            ForgeKind::Github => "GitHub",
            ForgeKind::Gitlab => "GitLab",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Github, Self::Gitlab].into_iter().find(|k| k.as_str() == text)
    }

    /// Refuses what cannot be a repository path: `owner/name` on GitHub,
    /// `group/…/project` on GitLab.
    pub fn check_repo(self, repo: &str) -> Result<(), String> {
        let parts: Vec<&str> = repo.split('/').collect();
        let part_ok = |p: &&str| {
            !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let shape_ok = match self {
            ForgeKind::Github => parts.len() == 2,
            ForgeKind::Gitlab => (2..=20).contains(&parts.len()),
        };
        if shape_ok && parts.iter().all(part_ok) && repo.len() <= 255 {
            Ok(())
        } else {
            let example = if self == ForgeKind::Github { "owner/name" } else { "group/project" };
            Err(format!("repo: `{repo}` is not a repository path like `{example}`"))
        }
    }
}

/// Links a project to its repository. Without `secret`, Ferry makes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkForge {
    pub forge: ForgeKind,
    pub repo: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// An API token (GitHub: `repo_deployment` and `repo:status`, plus `admin:repo_hook`
    /// to create the webhook, and `repo` to fetch a private repository; GitLab: `api`).
    /// With it, Ferry reports deployments and commit statuses to the repository.
    #[serde(default)]
    pub token: Option<String>,
    /// Create the webhook on the repository with the token (else paste the URL and
    /// secret into the repository's settings).
    #[serde(default)]
    pub create_hook: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForgeLinkView {
    pub forge: ForgeKind,
    pub repo: String,
    /// Where the forge sends webhooks (`…/hooks/github` or `…/hooks/gitlab`).
    pub hook_url: String,
    /// Whether a token is kept: deployments are then reported to the repository.
    #[serde(default)]
    pub reports_statuses: bool,
    pub created_at: DateTime<Utc>,
    /// The latest reports to the forge, newest first.
    #[serde(default)]
    pub reports: Vec<ForgeReportView>,
}

/// One deployment change reported (or being reported) to the forge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForgeReportView {
    pub deployment_id: i64,
    pub environment: String,
    /// The deployment's state that was reported.
    pub deployment_state: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A new link, with the webhook secret to paste into the forge (shown only now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForgeLinked {
    pub link: ForgeLinkView,
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_are_checked_per_forge() {
        assert!(ForgeKind::Github.check_repo("octo-org/hello-web").is_ok());
        assert!(ForgeKind::Github.check_repo("octo-org/group/x").is_err());
        assert!(ForgeKind::Gitlab.check_repo("platform/backend/api").is_ok());
        assert!(ForgeKind::Github.check_repo("../etc").is_err());
        assert!(ForgeKind::Gitlab.check_repo("a b/c").is_err());
    }
}
