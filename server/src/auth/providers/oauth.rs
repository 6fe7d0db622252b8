//! The OAuth 2.0 authorization code flow with PKCE (S256), through the `oauth2`
//! crate: the authorization URL, and the exchange of the code for tokens. The token
//! response keeps the OIDC `id_token` when there is one.

use ferry_app::error::AppError;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::settings::ProviderKind;
use super::{Pending, Provider};
use crate::auth::secrets::random_text;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OAuthClient = Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What the exchange yields.
pub struct Exchanged {
    pub access_token: String,
    pub id_token: Option<String>,
}

fn client(provider: &Provider, auth_url: &str, token_url: &str) -> Result<OAuthClient, AppError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(provider = provider.settings.id, "{what}: {e}");
        AppError::internal()
    };
    let client = Client::new(ClientId::new(provider.settings.client_id.clone()))
        .set_client_secret(ClientSecret::new(provider.secret.clone()))
        .set_auth_uri(AuthUrl::new(auth_url.to_string()).map_err(|e| bad("authorization URL", &e))?)
        .set_token_uri(TokenUrl::new(token_url.to_string()).map_err(|e| bad("token URL", &e))?)
        .set_redirect_uri(RedirectUrl::new(provider.redirect_uri.clone()).map_err(|e| bad("redirect URI", &e))?);
    // GitHub and GitLab document the client credentials as form fields; OIDC
    // providers take HTTP Basic (client_secret_basic) by default.
    Ok(match provider.settings.kind {
        ProviderKind::Oidc => client.set_auth_type(AuthType::BasicAuth),
        _ => client.set_auth_type(AuthType::RequestBody),
    })
}

pub fn authorize_url(
    provider: &Provider,
    auth_url: &str,
    token_url: &str,
    with_nonce: bool,
) -> Result<(String, Pending), AppError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = random_text(32);
    let client = client(provider, auth_url, token_url)?;
    let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
    for scope in provider.settings.scopes() {
        request = request.add_scope(Scope::new(scope));
    }
    if with_nonce {
        request = request.add_extra_param("nonce", nonce.clone());
    }
    let (url, state) = request.url();
    let pending = Pending {
        provider: provider.settings.id.clone(),
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
        nonce,
        started: 0,
    };
    Ok((url.to_string(), pending))
}

pub async fn exchange(
    http: &reqwest::Client,
    provider: &Provider,
    token_url: &str,
    code: &str,
    pending: &Pending,
) -> Result<Exchanged, AppError> {
    // The authorization URL is not needed for the exchange, but the client type wants one.
    let client = client(provider, token_url, token_url)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| {
            tracing::warn!(provider = provider.settings.id, error = %e, "code exchange failed");
            AppError::bad_request("sign-in refused: the provider did not accept the code (used already, or expired)")
        })?;
    Ok(Exchanged {
        access_token: tokens.access_token().secret().clone(),
        id_token: tokens.extra_fields().id_token.clone(),
    })
}
