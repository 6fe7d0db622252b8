//! GitHub and GitLab as sign-in providers: their OAuth endpoints, and who signed in
//! according to their REST APIs (the user, and their organisations or groups).

use ferry_app::error::AppError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::settings::{ProviderKind, ProviderSettings};
use super::ExternalIdentity;

/// (authorization URL, token URL)
pub fn endpoints(settings: &ProviderSettings) -> (String, String) {
    let web = settings.web_base();
    match settings.kind {
        ProviderKind::Gitlab => (format!("{web}/oauth/authorize"), format!("{web}/oauth/token")),
        _ => (format!("{web}/login/oauth/authorize"), format!("{web}/login/oauth/access_token")),
    }
}

async fn get<T: DeserializeOwned>(http: &reqwest::Client, url: &str, token: &str, github: bool) -> Result<T, AppError> {
    let mut request = http.get(url).bearer_auth(token);
    if github {
        request = request.header("accept", "application/vnd.github+json").header("x-github-api-version", "2022-11-28");
    }
    let response = request.send().await.map_err(|e| unavailable(url, &e))?;
    if !response.status().is_success() {
        return Err(unavailable(url, &response.status()));
    }
    response.json().await.map_err(|e| unavailable(url, &e))
}

fn unavailable(url: &str, e: &dyn std::fmt::Display) -> AppError {
    tracing::warn!(url, "sign-in provider API: {e}");
    AppError::new(ferry_app::error::ErrorCode::Unavailable, "the sign-in provider's API did not answer as expected")
}

#[derive(Deserialize)]
struct GithubUser {
    id: i64,
    login: String,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct GithubOrg {
    login: String,
}

#[derive(Deserialize)]
struct GithubTeam {
    slug: String,
    organization: GithubOrg,
}

#[derive(Deserialize)]
struct GitlabUser {
    id: i64,
    username: String,
    name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    confirmed_at: Option<String>,
}

#[derive(Deserialize)]
struct GitlabGroup {
    full_path: String,
}

pub async fn identity(
    http: &reqwest::Client,
    settings: &ProviderSettings,
    token: &str,
) -> Result<ExternalIdentity, AppError> {
    match settings.kind {
        ProviderKind::Gitlab => gitlab(http, settings, token).await,
        _ => github(http, settings, token).await,
    }
}

async fn github(
    http: &reqwest::Client,
    settings: &ProviderSettings,
    token: &str,
) -> Result<ExternalIdentity, AppError> {
    let api = settings.github_api();
    let user: GithubUser = get(http, &format!("{api}/user"), token, true).await?;
    // The profile email is public and unverified; the verified primary one is better.
    let emails: Vec<GithubEmail> = get(http, &format!("{api}/user/emails"), token, true).await.unwrap_or_default();
    let primary = emails.into_iter().find(|e| e.primary && e.verified);
    let groups = if settings.needs_groups() {
        // Organisations by name, teams as `org/team-slug`.
        let orgs: Vec<GithubOrg> = get(http, &format!("{api}/user/orgs?per_page=100"), token, true).await?;
        let teams: Vec<GithubTeam> = get(http, &format!("{api}/user/teams?per_page=100"), token, true).await?;
        let teams = teams.into_iter().map(|t| format!("{}/{}", t.organization.login, t.slug));
        orgs.into_iter().map(|o| o.login).chain(teams).collect()
    } else {
        Vec::new()
    };
    Ok(ExternalIdentity {
        subject: user.id.to_string(),
        name: user.name.filter(|n| !n.is_empty()).unwrap_or_else(|| user.login.clone()),
        login: user.login,
        email_verified: primary.is_some(),
        email: primary.map(|p| p.email).or(user.email),
        groups,
        forge_token: None,
    })
}

async fn gitlab(
    http: &reqwest::Client,
    settings: &ProviderSettings,
    token: &str,
) -> Result<ExternalIdentity, AppError> {
    let api = format!("{}/api/v4", settings.web_base());
    let user: GitlabUser = get(http, &format!("{api}/user"), token, false).await?;
    let groups = if settings.needs_groups() {
        let url = format!("{api}/groups?min_access_level=10&per_page=100");
        let groups: Vec<GitlabGroup> = get(http, &url, token, false).await?;
        groups.into_iter().map(|g| g.full_path).collect()
    } else {
        Vec::new()
    };
    Ok(ExternalIdentity {
        subject: user.id.to_string(),
        name: user.name.filter(|n| !n.is_empty()).unwrap_or_else(|| user.username.clone()),
        login: user.username,
        email_verified: user.confirmed_at.is_some(),
        email: user.email,
        groups,
        forge_token: None,
    })
}
