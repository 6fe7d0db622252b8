//! OpenID Connect: discovery, the provider's signing keys, and validating the ID
//! token: signature by a published key (asymmetric algorithms only), issuer exactly as
//! configured, audience the client id, not expired, and the nonce of this sign-in.

use std::time::{Duration, Instant};

use ferry_app::error::{AppError, ErrorCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use super::settings::ProviderSettings;
use super::{refused, ExternalIdentity};
use crate::auth::secrets::constant_time_eq;

/// A new key is fetched at most this often (a token with an unknown key id makes
/// Ferry look, for when the provider rotated its keys).
const KEYS_REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Default)]
pub struct OidcState {
    discovery: OnceCell<Discovery>,
    keys: Mutex<Option<(Instant, JwkSet)>>,
}

fn unavailable(what: &str, e: &dyn std::fmt::Display) -> AppError {
    tracing::warn!("OIDC {what}: {e}");
    AppError::new(ErrorCode::Unavailable, format!("the sign-in provider's {what} is not available"))
}

async fn fetch<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str, what: &str) -> Result<T, AppError> {
    let response = http.get(url).send().await.map_err(|e| unavailable(what, &e))?;
    if !response.status().is_success() {
        return Err(unavailable(what, &response.status()));
    }
    response.json().await.map_err(|e| unavailable(what, &e))
}

impl OidcState {
    pub async fn discovery(&self, http: &reqwest::Client, settings: &ProviderSettings) -> Result<Discovery, AppError> {
        let issuer = settings.issuer.as_deref().unwrap_or_default();
        let found = self
            .discovery
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                let discovery: Discovery = fetch(http, &url, "discovery document").await?;
                if discovery.issuer != issuer {
                    let why = format!("names issuer `{}`, not `{issuer}`", discovery.issuer);
                    return Err(unavailable("discovery document", &why));
                }
                Ok(discovery)
            })
            .await?;
        Ok(found.clone())
    }

    async fn key(&self, http: &reqwest::Client, jwks_uri: &str, kid: Option<&str>) -> Result<DecodingKey, AppError> {
        let mut keys = self.keys.lock().await;
        let keep =
            keys.as_ref().is_some_and(|(at, _)| at.elapsed() < KEYS_REFRESH) || find(keys.as_ref(), kid).is_some();
        if !keep {
            *keys = Some((Instant::now(), fetch(http, jwks_uri, "signing keys").await?));
        }
        match find(keys.as_ref(), kid) {
            Some(jwk) => DecodingKey::from_jwk(jwk).map_err(|e| unavailable("signing keys", &e)),
            None => Err(refused("the ID token is signed with a key the provider does not publish")),
        }
    }

    pub async fn identity(
        &self,
        http: &reqwest::Client,
        settings: &ProviderSettings,
        discovery: &Discovery,
        id_token: &str,
        nonce: &str,
        now_ms: i64,
    ) -> Result<ExternalIdentity, AppError> {
        let header = decode_header(id_token).map_err(|_| refused("the ID token is malformed"))?;
        // Symmetric algorithms would make the client secret a signing key.
        let asymmetric = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ];
        if !asymmetric.contains(&header.alg) {
            return Err(refused("the ID token's signing algorithm is not accepted"));
        }
        let key = self.key(http, &discovery.jwks_uri, header.kid.as_deref()).await?;
        let claims = validate(id_token, &key, header.alg, &discovery.issuer, &settings.client_id, now_ms)?;
        let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), nonce.as_bytes()) {
            return Err(refused("the ID token was not issued for this sign-in (nonce)"));
        }
        Ok(identity_from(settings, &claims))
    }
}

/// The key named `kid`, or the only key when the token names none.
fn find<'a>(keys: Option<&'a (Instant, JwkSet)>, kid: Option<&str>) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    let (_, set) = keys?;
    match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

/// Signature, issuer, audience and times; the claims when all hold.
pub fn validate(
    id_token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    issuer: &str,
    client_id: &str,
    now_ms: i64,
) -> Result<serde_json::Map<String, Value>, AppError> {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let data = decode::<serde_json::Map<String, Value>>(id_token, key, &validation).map_err(|e| {
        tracing::warn!(error = %e, "ID token refused");
        refused(&format!("the ID token is not valid ({e})"))
    })?;
    let claims = data.claims;
    // With several audiences, the token must have been issued to Ferry (azp).
    if claims.get("azp").and_then(Value::as_str).is_some_and(|azp| azp != client_id) {
        return Err(refused("the ID token was issued to another client"));
    }
    if claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat * 1000 > now_ms + 300_000) {
        return Err(refused("the ID token is issued in the future"));
    }
    Ok(claims)
}

fn identity_from(settings: &ProviderSettings, claims: &serde_json::Map<String, Value>) -> ExternalIdentity {
    let text = |key: &str| claims.get(key).and_then(Value::as_str).map(str::to_string);
    let subject = text("sub").unwrap_or_default();
    let email = text("email");
    let login = text("preferred_username").or_else(|| email.clone()).unwrap_or_else(|| subject.clone());
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let groups_claim = settings.groups_claim.as_deref().unwrap_or("groups");
    let groups = match claims.get(groups_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    ExternalIdentity {
        name: text("name").unwrap_or_else(|| login.clone()),
        subject,
        login,
        email,
        email_verified: verified,
        groups,
        forge_token: None,
    }
}
