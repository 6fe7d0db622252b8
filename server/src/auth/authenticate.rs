//! Building the `Caller` of a request: an `Authorization: Bearer` API token when the
//! request has one (cookies are then ignored), otherwise the browser session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ferry_app::error::AppError;
use ferry_app::model::Role;
use tower_sessions::Session;

use super::secrets::sha256_hex;
use super::session_store::{SignedIn, SIGNED_IN};
use super::{Caller, TokenGrant};
use crate::error::{HttpError, OrInternal};
use crate::state::AppState;
use crate::store::{now_millis, UserRow};

/// How often a session's "last seen" is written back (and its idle expiry pushed on).
const SEEN_RESOLUTION_MS: i64 = 60_000;

pub async fn authenticate(s: &AppState, parts: &Parts) -> Result<Caller, AppError> {
    let address = client_address(parts);
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let value = header.to_str().map_err(|_| AppError::unauthenticated("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| AppError::unauthenticated("Authorization must be `Bearer <API token>`"))?;
        return from_token(s, token.trim(), address).await;
    }
    let session = parts.extensions.get::<Session>().ok_or_else(AppError::internal)?;
    from_session(s, session, address).await
}

/// The client's IP address as the connection shows it.
pub fn client_address(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

async fn from_token(s: &AppState, token: &str, address: Option<String>) -> Result<Caller, AppError> {
    let row = s.store.token_by_hash(&sha256_hex(token)).await.or_internal("looking up a token")?;
    let row = row.ok_or_else(|| AppError::unauthenticated("unknown API token"))?;
    let now = now_millis();
    if row.revoked_at.is_some() {
        return Err(AppError::unauthenticated("this API token was revoked"));
    }
    if row.expires_at <= now {
        return Err(AppError::unauthenticated("this API token has expired"));
    }
    if row.last_used_at.is_none_or(|t| now - t > SEEN_RESOLUTION_MS) {
        s.store.touch_token(row.id, now).await.or_internal("recording a token's use")?;
    }
    let user = user(s, row.user_id).await?;
    let ceiling = row.scopes().into_iter().map(|scope| scope.ceiling()).max().unwrap_or(Role::None);
    let grant = TokenGrant { id: row.id, ceiling, project_id: row.project_id };
    caller(s, user, Some(grant), address).await
}

async fn from_session(s: &AppState, session: &Session, address: Option<String>) -> Result<Caller, AppError> {
    let signed_in: Option<SignedIn> = session.get(SIGNED_IN).await.or_internal("reading the session")?;
    let Some(mut signed_in) = signed_in else {
        return Err(AppError::unauthenticated("sign in to use Ferry"));
    };
    let now = now_millis();
    if now - signed_in.since > s.auth.session_max_ms {
        session.flush().await.or_internal("ending a session")?;
        return Err(AppError::unauthenticated("your session has expired; sign in again"));
    }
    if now - signed_in.seen > SEEN_RESOLUTION_MS {
        signed_in.seen = now;
        session.insert(SIGNED_IN, &signed_in).await.or_internal("refreshing the session")?;
    }
    let user = user(s, signed_in.user_id).await?;
    Ok(Caller { forge_token: signed_in.forge, ..caller(s, user, None, address).await? })
}

/// What a caller authenticated with, kept by a connection that stays open (the live
/// websocket) to check again later.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The API token's hash.
    Token(String),
    /// The session's key in the store.
    Session(String),
}

impl Credential {
    pub fn of(headers: &axum::http::HeaderMap, session: Option<&Session>) -> Option<Self> {
        if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            return value.strip_prefix("Bearer ").map(|t| Credential::Token(sha256_hex(t.trim())));
        }
        session.and_then(Session::id).map(|id| Credential::Session(super::session_store::key(&id)))
    }
}

/// Whether `caller`, who authenticated with `credential`, is still that same caller:
/// the session not ended (signed out, everywhere, or expired), the token not revoked
/// or expired, and the user's role and memberships as they were. Anything else means
/// what the caller may see has changed, and an open connection must be dropped.
pub async fn still_valid(s: &AppState, credential: &Credential, caller: &Caller) -> bool {
    let now = now_millis();
    let user_id = match credential {
        Credential::Token(hash) => match s.store.token_by_hash(hash).await {
            Ok(Some(row)) if row.revoked_at.is_none() && row.expires_at > now => row.user_id,
            _ => return false,
        },
        Credential::Session(key) => {
            let Ok(Some((data, _))) = s.store.session_load(key, now).await else { return false };
            let signed_in = serde_json::from_str::<serde_json::Value>(&data)
                .ok()
                .and_then(|data| serde_json::from_value::<SignedIn>(data.get(SIGNED_IN)?.clone()).ok());
            match signed_in {
                Some(signed_in) if now - signed_in.since <= s.auth.session_max_ms => signed_in.user_id,
                _ => return false,
            }
        }
    };
    if user_id != caller.user_id {
        return false;
    }
    let Ok(Some(user)) = s.store.user(user_id).await else { return false };
    match caller_of(&s.store, &user).await {
        Ok(now) => now.role == caller.role && now.memberships == caller.memberships,
        Err(_) => false,
    }
}

async fn user(s: &AppState, id: i64) -> Result<UserRow, AppError> {
    let user = s.store.user(id).await.or_internal("loading a user")?;
    user.ok_or_else(|| AppError::unauthenticated("this account no longer exists"))
}

async fn caller(
    s: &AppState,
    user: UserRow,
    token: Option<TokenGrant>,
    address: Option<String>,
) -> Result<Caller, AppError> {
    Ok(Caller { token, address, ..caller_for(s, &user).await? })
}

/// The caller a user is when they act in their own name (no token).
pub async fn caller_for(s: &AppState, user: &UserRow) -> Result<Caller, AppError> {
    caller_of(&s.store, user).await
}

/// The same, from the store alone (for work done on someone's behalf, like mail).
pub async fn caller_of(store: &crate::store::Store, user: &UserRow) -> Result<Caller, AppError> {
    let memberships = store.memberships_of(user.id).await.or_internal("loading memberships")?;
    Ok(Caller {
        user_id: user.id,
        role: user.role(),
        login: user.login.clone(),
        memberships: memberships.into_iter().collect(),
        token: None,
        address: None,
        forge_token: None,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(authenticate(state, parts).await?)
    }
}
