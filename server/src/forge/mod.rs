//! Statuses back to the forge. Each change of a deployment of a project linked with an
//! API token is queued with the change itself (`store::forge_reports`: a deployment
//! never waits on GitHub or GitLab) and reported by a job of the durable queue, one at a
//! time per project: GitHub deployments, deployment statuses and
//! commit statuses through octocrab; GitLab deployments and commit statuses through the
//! gitlab crate's endpoints over Ferry's own HTTP client. Both clients have connect and
//! request timeouts. Failures and rate limits are retried with backoff and never touch the
//! deployment itself. The same clients create webhooks and check tokens when linking.

mod change;
mod github;
mod gitlab;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_app::model::{ForgeKind, RepositoryView};

pub use change::{Change, Phase};

use crate::notify::Attempt;
use crate::store::{ForgeLinkRow, Store};
use crate::vault::Vault;

/// Where the forges' APIs are (configurable for GitHub Enterprise and self-managed GitLab).
#[derive(Debug, Clone)]
pub struct ForgeUrls {
    /// GitHub's REST API root, e.g. `https://api.github.com`.
    pub github_api: String,
    /// The GitLab instance, e.g. `https://gitlab.com`.
    pub gitlab: String,
}

#[derive(Clone)]
pub struct Reporter {
    store: Store,
    vault: Arc<Vault>,
    urls: Arc<ForgeUrls>,
    /// Where links in statuses point: Ferry's public URL.
    base_url: Arc<str>,
    /// Clients per project, kept while the project's token stays the same.
    github_clients: Arc<Mutex<HashMap<i64, (String, octocrab::Octocrab)>>>,
    gitlab_clients: Arc<Mutex<HashMap<i64, (String, gitlab::Client)>>>,
}

impl Reporter {
    pub fn new(store: Store, vault: Arc<Vault>, urls: ForgeUrls, base_url: &str) -> Self {
        Self {
            store,
            vault,
            urls: Arc::new(urls),
            base_url: base_url.trim_end_matches('/').into(),
            github_clients: Arc::default(),
            gitlab_clients: Arc::default(),
        }
    }

    /// Where Ferry reaches `forge`: GitHub's API root, or the GitLab instance.
    pub fn api_url(&self, forge: ForgeKind) -> &str {
        match forge {
            ForgeKind::Github => &self.urls.github_api,
            ForgeKind::Gitlab => &self.urls.gitlab,
        }
    }

    /// Sends queued report `id` (a job of the durable queue).
    pub async fn send_report(&self, id: i64) -> Result<crate::jobs::JobEnd, String> {
        worker::send_report(self, id).await
    }

    /// Seals a project's API token for storing.
    pub fn seal_token(&self, project_id: i64, token: &str) -> Result<String, String> {
        self.vault.seal(&token_context(project_id), token)
    }

    /// The link's API token, if it has one.
    pub fn token(&self, link: &ForgeLinkRow) -> Result<Option<String>, String> {
        match &link.sealed_token {
            Some(sealed) => self.vault.open_value(&token_context(link.project_id), sealed).map(Some),
            None => Ok(None),
        }
    }

    /// The HTTP `Authorization` that lets git fetch the linked repository when it is
    /// private: the token as a password (GitHub's and GitLab's documented usernames).
    pub fn git_authorization(&self, link: &ForgeLinkRow) -> Option<String> {
        link_authorization(&self.vault, link)
    }

    /// One repository the token can see, with where git clones it.
    pub async fn repository(&self, forge: ForgeKind, repo: &str, token: &str) -> Result<RepositoryView, String> {
        let found = match forge {
            ForgeKind::Github => github::repository(&self.github(None, token).map_err(said)?, repo).await,
            ForgeKind::Gitlab => gitlab::repository(&self.gitlab(None, token).await.map_err(said)?, repo).await,
        };
        found.map_err(said)
    }

    /// The repositories the token can reach whose path contains `search`, up to `limit`.
    pub async fn repositories(
        &self,
        forge: ForgeKind,
        token: &str,
        search: &str,
        limit: usize,
    ) -> Result<Vec<RepositoryView>, String> {
        let found = match forge {
            ForgeKind::Github => github::repositories(&self.github(None, token).map_err(said)?, search, limit).await,
            ForgeKind::Gitlab => {
                gitlab::repositories(&self.gitlab(None, token).await.map_err(said)?, search, limit).await
            }
        };
        found.map_err(said)
    }

    /// Checks that the token can see the repository, before a link keeps it.
    pub async fn check_access(&self, forge: ForgeKind, repo: &str, token: &str) -> Result<(), String> {
        let checked = match forge {
            ForgeKind::Github => github::check_access(&self.github(None, token).map_err(said)?, repo).await,
            ForgeKind::Gitlab => gitlab::check_access(&self.gitlab(None, token).await.map_err(said)?, repo).await,
        };
        checked.map_err(said)
    }

    /// Creates the webhook on the repository, pointing at this Ferry.
    pub async fn create_hook(&self, forge: ForgeKind, repo: &str, token: &str, secret: &str) -> Result<(), String> {
        let url = format!("{}/hooks/{}", self.base_url, forge.as_str());
        let created = match forge {
            ForgeKind::Github => {
                github::create_hook(&self.github(None, token).map_err(said)?, repo, &url, secret).await
            }
            ForgeKind::Gitlab => {
                gitlab::create_hook(&self.gitlab(None, token).await.map_err(said)?, repo, &url, secret).await
            }
        };
        created.map_err(said)
    }

    /// A GitHub client for the token (kept per project while the token is the same).
    fn github(&self, project_id: Option<i64>, token: &str) -> Result<octocrab::Octocrab, Attempt> {
        let mut clients = self.github_clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((kept, client)) = project_id.and_then(|id| clients.get(&id)) {
            if kept == token {
                return Ok(client.clone());
            }
        }
        let client = github::client(&self.urls.github_api, token)?;
        if let Some(id) = project_id {
            clients.insert(id, (token.to_string(), client.clone()));
        }
        Ok(client)
    }

    /// A GitLab client for the token; making one checks the token with the instance.
    async fn gitlab(&self, project_id: Option<i64>, token: &str) -> Result<gitlab::Client, Attempt> {
        if let Some(id) = project_id {
            let clients = self.gitlab_clients.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, client)) = clients.get(&id).filter(|(kept, _)| kept == token) {
                return Ok(client.clone());
            }
        }
        let client = gitlab::client(&self.urls.gitlab, token).await?;
        if let Some(id) = project_id {
            let mut clients = self.gitlab_clients.lock().unwrap_or_else(|p| p.into_inner());
            clients.insert(id, (token.to_string(), client.clone()));
        }
        Ok(client)
    }
}

/// What a failed call to the forge said, for the person linking.
fn said(failed: Attempt) -> String {
    match failed {
        Attempt::Refused(why) | Attempt::Retry { error: why, .. } => why,
        Attempt::Delivered => String::new(),
    }
}

/// The `Authorization` git sends for a link's repository, when the link keeps a token.
pub fn link_authorization(vault: &Vault, link: &ForgeLinkRow) -> Option<String> {
    let sealed = link.sealed_token.as_ref()?;
    let token = vault.open_value(&token_context(link.project_id), sealed).ok()?;
    Some(git_authorization(ForgeKind::parse(&link.forge)?, &token))
}

/// The HTTP `Authorization` git sends to fetch a private repository with an API token:
/// the token as the password, with the user name each forge documents.
pub fn git_authorization(forge: ForgeKind, token: &str) -> String {
    use base64::Engine;
    let user = match forge {
        ForgeKind::Gitlab => "oauth2",
        ForgeKind::Github => "x-access-token",
    };
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")))
}

/// A sealed token opens only for the project it was sealed for.
fn token_context(project_id: i64) -> String {
    format!("forge-token:{project_id}")
}
