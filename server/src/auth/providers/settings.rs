//! How a sign-in provider is configured (`[[sign_in]]` tables in the TOML file), with
//! the defaults of github.com, gitlab.com and the scopes each kind needs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_app::model::Role;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Github,
    Gitlab,
    Oidc,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Names the provider in URLs: `/auth/<id>/start`, `/auth/<id>/callback`.
    pub id: String,
    pub kind: ProviderKind,
    /// On the sign-in button: "Sign in with <label>".
    pub label: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// A file holding the client secret, instead of `client_secret`.
    pub client_secret_file: Option<PathBuf>,
    /// GitHub: the web address (GitHub Enterprise: `https://github.example.com`);
    /// GitLab: the instance (`https://gitlab.example.com`).
    pub base_url: Option<String>,
    /// GitHub only: the REST API (GitHub Enterprise: `<base_url>/api/v3`).
    pub api_url: Option<String>,
    /// OIDC only: the issuer, exactly as the provider names itself.
    pub issuer: Option<String>,
    /// Scopes beyond the ones Ferry needs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Only members of these GitHub organisations or GitLab groups may sign in.
    #[serde(default)]
    pub allowed_organizations: Vec<String>,
    /// Only people whose (verified) email is in one of these domains may sign in.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// OIDC: the ID-token claim listing the user's groups [default: groups].
    pub groups_claim: Option<String>,
    /// Groups (OIDC group claim values, GitHub organisations and `org/team` teams,
    /// GitLab group paths) to Ferry roles; the highest match becomes the user's role
    /// at each sign-in.
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
    /// The role of a new user no `role_map` entry matches [default: viewer].
    pub new_user_role: Option<Role>,
    /// GitHub and GitLab: also ask for the scopes that import repositories (GitHub
    /// `repo` and `admin:repo_hook`, GitLab `api`) and keep the sign-in's token, sealed
    /// in the session, so an admin can import without pasting a token.
    #[serde(default)]
    pub imports: bool,
}

impl ProviderSettings {
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| match self.kind {
            ProviderKind::Github => "GitHub".into(),
            ProviderKind::Gitlab => "GitLab".into(),
            ProviderKind::Oidc => self.id.clone(),
        })
    }

    /// Where the browser is sent to sign in, and where the code is exchanged.
    pub fn web_base(&self) -> String {
        let default = match self.kind {
            ProviderKind::Github => "https://github.com",
            ProviderKind::Gitlab => "https://gitlab.com",
            ProviderKind::Oidc => "",
        };
        self.base_url.as_deref().unwrap_or(default).trim_end_matches('/').to_string()
    }

    pub fn github_api(&self) -> String {
        self.api_url.as_deref().unwrap_or("https://api.github.com").trim_end_matches('/').to_string()
    }

    /// Groups are read only when something depends on them.
    pub fn needs_groups(&self) -> bool {
        !self.allowed_organizations.is_empty() || !self.role_map.is_empty()
    }

    pub fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = match self.kind {
            ProviderKind::Github if self.needs_groups() => {
                vec!["read:user".into(), "user:email".into(), "read:org".into()]
            }
            ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
            ProviderKind::Gitlab if self.needs_groups() => vec!["read_user".into(), "read_api".into()],
            ProviderKind::Gitlab => vec!["read_user".into()],
            ProviderKind::Oidc => vec!["openid".into(), "profile".into(), "email".into()],
        };
        if self.imports {
            match self.kind {
                ProviderKind::Github => scopes.extend(["repo".into(), "admin:repo_hook".into()]),
                ProviderKind::Gitlab => scopes.push("api".into()),
                ProviderKind::Oidc => {}
            }
        }
        for extra in &self.scopes {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        scopes
    }

    /// The client secret, from the file when one is named.
    pub fn secret(&self) -> Result<String, String> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), None) => Ok(secret.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("sign_in `{}`: cannot read {}: {e}", self.id, path.display())),
            _ => Err(format!("sign_in `{}`: set exactly one of client_secret and client_secret_file", self.id)),
        }
    }

    /// Refuses settings that cannot work, naming the provider and the key.
    pub fn check(&self) -> Result<(), String> {
        let id = &self.id;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("sign_in id `{id}`: use lowercase letters, digits and dashes"));
        }
        if self.client_id.trim().is_empty() {
            return Err(format!("sign_in `{id}`: client_id is empty"));
        }
        self.secret()?;
        let urls = [("base_url", &self.base_url), ("api_url", &self.api_url), ("issuer", &self.issuer)];
        for (key, value) in urls {
            if let Some(value) = value {
                url::Url::parse(value).map_err(|e| format!("sign_in `{id}`: {key} `{value}`: {e}"))?;
            }
        }
        if self.kind == ProviderKind::Oidc && self.issuer.is_none() {
            return Err(format!("sign_in `{id}`: an oidc provider needs its issuer"));
        }
        Ok(())
    }
}
