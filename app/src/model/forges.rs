//! A project's link to its repository on GitHub or GitLab: where webhooks come from
//! (and, later, where deployment statuses go). The webhook secret is shown once, when
//! the link is made.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForgeLinkView {
    pub forge: ForgeKind,
    pub repo: String,
    /// Where the forge sends webhooks (`…/hooks/github` or `…/hooks/gitlab`).
    pub hook_url: String,
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
