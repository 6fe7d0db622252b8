//! Importing a project from where its code lives: a repository on GitHub or GitLab
//! (picked from the ones a token can reach) or any git URL. Ferry clones it as its own
//! mirror, reads `ferry.yml` at the default branch, and creates the project, its
//! environments, the webhook and the link for statuses in one step; a repository
//! without the file gets a starter to copy.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ForgeKind, ForgeLinkView, ProjectView};

/// Where the repository is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RepositorySource {
    /// `owner/name` on the configured GitHub (github.com or GitHub Enterprise).
    Github { repo: String },
    /// `group/…/project` on the configured GitLab.
    Gitlab { repo: String },
    /// Any repository git can clone: over `https://` (or `http://`), public, no
    /// credentials sent; or over SSH (`ssh://git@host/team/app.git`,
    /// `git@host:team/app.git`) with a deploy key Ferry made (`deploy_key`).
    Git { url: String },
}

impl RepositorySource {
    pub fn forge(&self) -> Option<ForgeKind> {
        match self {
            RepositorySource::Github { .. } => Some(ForgeKind::Github),
            RepositorySource::Gitlab { .. } => Some(ForgeKind::Gitlab),
            RepositorySource::Git { .. } => None,
        }
    }

    /// What a person calls it: `owner/name` or the URL.
    pub fn name(&self) -> &str {
        match self {
            RepositorySource::Github { repo } | RepositorySource::Gitlab { repo } => repo,
            RepositorySource::Git { url } => url,
        }
    }

    /// Refuses what cannot be one, naming the field.
    pub fn check(&self) -> Result<(), String> {
        match self {
            RepositorySource::Github { repo } => ForgeKind::Github.check_repo(repo),
            RepositorySource::Gitlab { repo } => ForgeKind::Gitlab.check_repo(repo),
            RepositorySource::Git { url } => check_git_url(url),
        }
        .map_err(|e| format!("source.{e}"))
    }
}

/// Whether a git URL goes over SSH (`ssh://…` or scp-like `user@host:path`).
pub fn is_ssh_url(url: &str) -> bool {
    url.starts_with("ssh://")
        || (!url.contains("://") && url.split_once(':').is_some_and(|(host, _)| host.contains('@')))
}

/// An `https://host/path` (or `http://`) URL without credentials in it (they would be
/// kept in the mirror's configuration), or an SSH one naming its user and host; no
/// spaces or control characters. No other of git's transports: `file://` and `ext::`
/// would read this machine or run a command.
fn check_git_url(url: &str) -> Result<(), String> {
    if url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url: up to 500 characters, without spaces".into());
    }
    if is_ssh_url(url) {
        return check_ssh_url(url);
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("url: `{url}` is not an https://, http:// or ssh:// URL"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url: up to 500 characters, without spaces".into());
    }
    if host.is_empty() || host.contains('@') {
        return Err(format!("url: `{url}` names no host, or carries credentials (give them as a token instead)"));
    }
    if !rest.contains('/') {
        return Err(format!("url: `{url}` names no repository"));
    }
    Ok(())
}

/// `ssh://user@host[:port]/path` or `user@host:path`: a user, a host that cannot be
/// read as an option of ssh, and a path.
fn check_ssh_url(url: &str) -> Result<(), String> {
    let (user_host, path) = match url.strip_prefix("ssh://") {
        Some(rest) => rest.split_once('/').ok_or_else(|| format!("url: `{url}` names no repository"))?,
        None => url.split_once(':').unwrap_or_default(),
    };
    let (user, host) = user_host.split_once('@').ok_or_else(|| format!("url: `{url}` names no user (git@…)"))?;
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('-')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    // `host`, or with ssh:// also `host:port`, `[v6]` and `[v6]:port`.
    let (host, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let (address, rest) = v6.split_once(']').unwrap_or(("", "x"));
            let ok = !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
            (
                if ok { "v6" } else { "" },
                if rest.is_empty() { None } else { Some(rest.strip_prefix(':').unwrap_or("x")) },
            )
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|p| url.starts_with("ssh://") && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !plain(user) || !plain(host) || !port_ok {
        return Err(format!("url: `{url}` needs a plain user, host name and port"));
    }
    if path.is_empty() || path.starts_with('-') {
        return Err(format!("url: `{url}` names no repository"));
    }
    Ok(())
}

/// Lists the repositories a token can reach (a POST: the token is in the body, never
/// in a URL that logs keep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRepositories {
    pub forge: ForgeKind,
    /// A GitHub personal access token (`repo`, and `admin:repo_hook` for the webhook)
    /// or a GitLab one (`api`); empty: the token of this session's sign-in with that
    /// forge, when it keeps one.
    #[serde(default)]
    pub token: String,
    /// Only repositories whose path contains this (case does not matter).
    #[serde(default)]
    pub search: Option<String>,
}

/// A repository the token can reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RepositoryView {
    /// `owner/name` (GitHub) or `group/…/project` (GitLab).
    pub path: String,
    pub description: Option<String>,
    pub private: bool,
    pub default_branch: Option<String>,
    /// The page people open.
    pub web_url: String,
    /// What git clones (https).
    pub clone_url: String,
}

/// Creates a project from a repository. With `dry_run`, Ferry only reads it and says
/// what it would create (the preview), creating nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportProject {
    pub slug: String,
    pub name: String,
    pub source: RepositorySource,
    /// The token for a GitHub or GitLab repository: it clones a private repository,
    /// creates the webhook and reports deployments. Sealed; never shown again. None:
    /// the token of this session's sign-in with that forge, when it keeps one.
    #[serde(default)]
    pub token: Option<String>,
    /// Create the repository's webhook with the token (default); without, the answer
    /// carries the secret to paste into the repository's settings.
    #[serde(default = "yes")]
    pub create_hook: bool,
    /// For an SSH git URL: the deploy key Ferry made for it
    /// (`POST /api/v1/imports/deploy-keys`), added to the repository as read-only.
    #[serde(default)]
    pub deploy_key: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
}

/// A key pair Ferry made to read one repository over SSH; the private half is sealed
/// and never leaves Ferry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployKey {
    pub id: i64,
    /// The line to add to the repository's deploy keys (read-only).
    pub public_key: String,
}

fn yes() -> bool {
    true
}

/// What Ferry found in the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportPreview {
    pub default_branch: String,
    pub commit: String,
    /// The pipeline read from `ferry.yml`, when it is there and valid.
    pub pipeline: Option<PipelineSummary>,
    /// Why `ferry.yml` was refused: file, line and field.
    pub problem: Option<String>,
    /// When the repository has no `ferry.yml`: one to start from.
    pub starter: Option<Starter>,
}

/// A pipeline as the import shows it before creating anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PipelineSummary {
    pub environments: Vec<String>,
    /// Step names with their commands (`build: sh build.sh`).
    pub build: Vec<String>,
    pub deploy: Vec<String>,
    /// The URL or command, when there is a health check.
    pub health_check: Option<String>,
    /// Each trigger in words (`push to main → development`).
    pub triggers: Vec<String>,
}

/// A `ferry.yml` to start from, chosen from what the repository holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Starter {
    /// What Ferry recognised (`Node.js`, `Rust`, `Python`, `static site`, `Dockerfile`),
    /// or `unknown`.
    pub detected: String,
    /// Why: the file that told it.
    pub because: Option<String>,
    /// The file's text, to commit at the repository's root as `ferry.yml`.
    pub file: String,
    /// What the file does and what to change.
    pub explanation: String,
}

/// A dry run's answer, or an import's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    pub preview: ImportPreview,
    /// The project made (none for a dry run).
    pub project: Option<ProjectView>,
    /// The link to the forge (GitHub and GitLab imports).
    pub link: Option<ForgeLinkView>,
    /// Whether Ferry created the repository's webhook.
    pub hook_created: bool,
    /// The webhook secret, when the webhook is to be made by hand (shown only now).
    pub hook_secret: Option<String>,
    /// What did not work out, though the project was made (the forge refused the webhook).
    pub warning: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_url_is_https_without_credentials_or_ssh_with_plain_names() {
        let git = |url: &str| RepositorySource::Git { url: url.into() }.check();
        assert!(git("https://git.example.com/team/app.git").is_ok());
        assert!(git("http://git.example.com/team/app.git").is_ok());
        for ssh in ["ssh://git@git.example.com/a.git", "ssh://git@git.example.com:2222/a.git", "git@host:team/a.git"] {
            assert!(git(ssh).is_ok() && is_ssh_url(ssh), "{ssh}");
        }
        assert!(git("ssh://git@[fd00::1]:22/a.git").is_ok());
        assert!(!is_ssh_url("https://git.example.com/a.git"));
        for bad in ["ssh://git.example.com/a.git", "git@host:", "ssh://git@host:22x/a.git", "git@-o:a"] {
            assert!(git(bad).unwrap_err().starts_with("source.url"), "{bad}");
        }
        assert!(git("ftp://git.example.com/a.git").unwrap_err().contains("not an https://, http:// or ssh:// URL"));
        assert!(git("file:///etc").is_err() && git("ext::sh -c touch% /tmp/x").is_err());
        assert!(git("https://user:pass@git.example.com/a.git").unwrap_err().contains("credentials"));
        assert!(git("https://git.example.com").unwrap_err().contains("names no repository"));
        assert!(git("https://git.example.com/a b").is_err());
        let github = RepositorySource::Github { repo: "../x".into() };
        assert!(github.check().unwrap_err().starts_with("source.repo:"));
    }

    #[test]
    fn hooks_are_created_unless_asked_not_to() {
        let body = r#"{"slug":"a","name":"A","source":{"kind":"github","repo":"o/a"},"token":"t"}"#;
        let import: ImportProject = serde_json::from_str(body).unwrap();
        assert!(import.create_hook && !import.dry_run);
    }
}
