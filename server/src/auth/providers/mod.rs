//! Sign-in providers: GitHub, GitLab (OAuth 2.0) and any OpenID Connect provider.
//! A flow starts at `/auth/<id>/start` (authorization code with PKCE S256, a one-time
//! `state`, and a nonce for OIDC, all kept in the browser's session) and ends at
//! `/auth/<id>/callback`, which accepts only the response to the flow that this
//! session started with this provider.

mod forges;
mod oauth;
pub mod oidc;
pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_app::error::AppError;
use ferry_app::model::{Role, SignInOption};
use serde::{Deserialize, Serialize};

use settings::{ProviderKind, ProviderSettings};

/// The session key of a sign-in in progress.
pub const PENDING: &str = "sign_in_pending";
/// How long someone may take at the provider.
const PENDING_MAX_MS: i64 = 10 * 60_000;

/// A flow in progress, kept in the session between start and callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub provider: String,
    pub state: String,
    pub verifier: String,
    pub nonce: String,
    pub started: i64,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, Default)]
pub struct ExternalIdentity {
    pub subject: String,
    pub login: String,
    pub name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Organisations, group paths or group claims, for restrictions and roles.
    pub groups: Vec<String>,
    /// The sign-in's API token, kept when the provider has `imports` on.
    pub forge_token: Option<String>,
}

pub struct Provider {
    pub settings: ProviderSettings,
    secret: String,
    redirect_uri: String,
    oidc: oidc::OidcState,
}

impl Provider {
    /// How users of this provider are stored: `github`, `gitlab` or `oidc:<id>`.
    pub fn user_provider(&self) -> String {
        match self.settings.kind {
            ProviderKind::Github => "github".into(),
            ProviderKind::Gitlab => "gitlab".into(),
            ProviderKind::Oidc => format!("oidc:{}", self.settings.id),
        }
    }
}

#[derive(Clone, Default)]
pub struct Providers {
    by_id: Arc<HashMap<String, Arc<Provider>>>,
    order: Arc<Vec<String>>,
    http: reqwest::Client,
}

impl Providers {
    pub fn new(list: &[ProviderSettings], public_url: Option<&str>) -> Result<Self, String> {
        let base = public_url.unwrap_or("").trim_end_matches('/');
        let mut by_id = HashMap::new();
        for settings in list {
            let provider = Provider {
                secret: settings.secret()?,
                redirect_uri: format!("{base}/auth/{}/callback", settings.id),
                settings: settings.clone(),
                oidc: Default::default(),
            };
            by_id.insert(settings.id.clone(), Arc::new(provider));
        }
        // Never follow redirects: a provider's API answers directly.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let order = list.iter().map(|s| s.id.clone()).collect();
        Ok(Self { by_id: Arc::new(by_id), order: Arc::new(order), http })
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn options(&self) -> Vec<SignInOption> {
        self.order.iter().map(|id| SignInOption { id: id.clone(), label: self.by_id[id].settings.label() }).collect()
    }

    pub fn get(&self, id: &str) -> Result<Arc<Provider>, AppError> {
        self.by_id.get(id).cloned().ok_or_else(|| AppError::not_found(format!("no sign-in provider `{id}`")))
    }

    /// The provider's authorization URL for a new flow, and the flow to remember.
    pub async fn begin(&self, provider: &Provider, now: i64) -> Result<(String, Pending), AppError> {
        let (url, mut pending) = match provider.settings.kind {
            ProviderKind::Oidc => {
                let discovery = provider.oidc.discovery(&self.http, &provider.settings).await?;
                oauth::authorize_url(provider, &discovery.authorization_endpoint, &discovery.token_endpoint, true)?
            }
            _ => {
                let (auth, token) = forges::endpoints(&provider.settings);
                oauth::authorize_url(provider, &auth, &token, false)?
            }
        };
        pending.started = now;
        Ok((url, pending))
    }

    /// Checks a callback against the flow this session started, exchanges the code
    /// and returns who signed in, after the provider's restrictions.
    pub async fn finish(
        &self,
        provider: &Provider,
        pending: Option<Pending>,
        callback: &Callback,
        now: i64,
    ) -> Result<ExternalIdentity, AppError> {
        let pending =
            pending.ok_or_else(|| refused("no sign-in was started in this browser, or it was already used"))?;
        if pending.provider != provider.settings.id {
            return Err(refused("this answer comes from a different provider than the one the sign-in started with"));
        }
        if now - pending.started > PENDING_MAX_MS {
            return Err(refused("the sign-in took too long; start again"));
        }
        if let Some(error) = &callback.error {
            let detail = callback.error_description.as_deref().unwrap_or("");
            return Err(refused(&format!("the provider refused: {error} {detail}")));
        }
        let state = callback.state.as_deref().ok_or_else(|| refused("the answer has no state"))?;
        if !super::secrets::constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(refused("the answer's state does not match this browser's sign-in"));
        }
        let code = callback.code.as_deref().ok_or_else(|| refused("the answer has no code"))?;
        let identity = match provider.settings.kind {
            ProviderKind::Oidc => {
                let discovery = provider.oidc.discovery(&self.http, &provider.settings).await?;
                if callback.iss.as_deref().is_some_and(|iss| iss != discovery.issuer) {
                    return Err(refused("the answer names another issuer"));
                }
                let tokens = oauth::exchange(&self.http, provider, &discovery.token_endpoint, code, &pending).await?;
                let id_token = tokens.id_token.ok_or_else(|| refused("the provider sent no ID token"))?;
                provider
                    .oidc
                    .identity(&self.http, &provider.settings, &discovery, &id_token, &pending.nonce, now)
                    .await?
            }
            _ => {
                let (_, token_url) = forges::endpoints(&provider.settings);
                let tokens = oauth::exchange(&self.http, provider, &token_url, code, &pending).await?;
                let mut identity = forges::identity(&self.http, &provider.settings, &tokens.access_token).await?;
                if provider.settings.imports {
                    identity.forge_token = Some(tokens.access_token);
                }
                identity
            }
        };
        allow(&provider.settings, &identity)?;
        Ok(identity)
    }
}

/// What the provider sends back to the callback.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A sign-in answer Ferry does not accept, said the same way by every provider kind.
fn refused(message: &str) -> AppError {
    AppError::bad_request(format!("sign-in refused: {message}"))
}

/// The provider's restrictions: organisations or groups, and email domains.
fn allow(settings: &ProviderSettings, who: &ExternalIdentity) -> Result<(), AppError> {
    let allowed = &settings.allowed_organizations;
    if !allowed.is_empty() && !who.groups.iter().any(|g| allowed.iter().any(|a| a.eq_ignore_ascii_case(g))) {
        return Err(AppError::forbidden(format!("{} is not a member of an allowed organisation or group", who.login)));
    }
    let domains = &settings.allowed_email_domains;
    if !domains.is_empty() {
        let domain =
            who.email.as_deref().filter(|_| who.email_verified).and_then(|e| e.rsplit_once('@')).map(|(_, d)| d);
        if !domain.is_some_and(|d| domains.iter().any(|a| a.eq_ignore_ascii_case(d))) {
            return Err(AppError::forbidden("signing in needs a verified email address in an allowed domain"));
        }
    }
    Ok(())
}

/// The role the provider's groups give, when a `role_map` is configured.
pub fn mapped_role(settings: &ProviderSettings, who: &ExternalIdentity) -> Option<Role> {
    if settings.role_map.is_empty() {
        return None;
    }
    let matched = who.groups.iter().filter_map(|g| settings.role_map.get(g).copied()).max();
    Some(matched.unwrap_or(settings.new_user_role.unwrap_or(Role::Viewer)))
}

#[cfg(test)]
mod tests;
