//! Signing in and out, shared by the `/auth` routes and the server functions: who is
//! signed in, the local password check, starting a session and ending it.

use ferry_app::error::{AppError, ErrorCode};
use ferry_app::model::{ForgeKind, Me, PasswordSignIn, Role};
use serde_json::json;
use tower_sessions::Session;

use super::authenticate::caller_for;
use super::providers::settings::ProviderKind;
use super::providers::{mapped_role, ExternalIdentity, Provider};
use super::session_store::{ForgeToken, SignedIn, SIGNED_IN};
use super::Caller;
use super::{passwords, throttle};
use crate::error::OrInternal;
use crate::services::audit;
use crate::state::AppState;
use crate::store::{now_millis, Identity, UserRow};

/// What the sign-in page and the top bar need; `caller` is the request's
/// authentication outcome, where "not signed in" is not an error.
pub async fn me(s: &AppState, caller: &Result<Caller, AppError>) -> Result<Me, AppError> {
    let user = match caller {
        Ok(c) => s.store.user(c.user_id).await.or_internal("loading a user")?,
        Err(e) if e.error == ErrorCode::Unauthenticated => None,
        Err(e) => return Err(e.clone()),
    };
    // Only a token good where Ferry imports from counts.
    let forges = s.notifier.forges();
    let usable = |t: &&ForgeToken| t.api.eq_ignore_ascii_case(forges.api_url(t.kind).trim_end_matches('/'));
    let forge_sign_in = caller.as_ref().ok().and_then(|c| c.forge_token.as_ref()).filter(usable).map(|t| t.kind);
    Ok(Me { forge_sign_in, ..me_for(s, user.as_ref()) })
}

fn me_for(s: &AppState, user: Option<&UserRow>) -> Me {
    Me {
        user: user.map(UserRow::view),
        local_mode: s.providers.is_empty(),
        password_sign_in: s.auth.password_sign_in,
        providers: s.providers.options(),
        forge_sign_in: None,
    }
}

/// Starts a session for `user`, under a new session id (against session fixation),
/// keeping the sign-in's forge token when there is one.
pub async fn start_session(
    s: &AppState,
    session: &Session,
    user: &UserRow,
    forge: Option<ForgeToken>,
) -> Result<(), AppError> {
    session.cycle_id().await.or_internal("renewing the session id")?;
    let now = now_millis();
    let signed_in = SignedIn { user_id: user.id, since: now, seen: now, forge };
    session.insert(SIGNED_IN, signed_in).await.or_internal("saving the session")?;
    s.store.record_sign_in(user.id).await.or_internal("recording a sign-in")
}

pub async fn password_sign_in(
    s: &AppState,
    session: &Session,
    address: Option<String>,
    form: &PasswordSignIn,
) -> Result<Me, AppError> {
    if !s.auth.password_sign_in {
        return Err(AppError::forbidden("password sign-in is turned off; use a sign-in provider"));
    }
    throttle::check(&s.store, &form.login, address.as_deref(), s.auth.sign_in_max_failures).await?;
    let user = passwords::check(&s.store, &form.login, &form.password).await.or_internal("checking a password")?;
    let Some(user) = user else {
        throttle::failed(&s.store, &form.login, address.as_deref()).await?;
        let detail = json!({"method": "password"});
        audit::record_anonymous(&s.store, &form.login, "sign_in.failed", address, detail).await;
        return Err(AppError::unauthenticated("wrong login or password"));
    };
    throttle::succeeded(&s.store, &form.login).await?;
    start_session(s, session, &user, None).await?;
    let caller = Caller { address, ..caller_for(s, &user).await? };
    audit::record(&s.store, &caller, "sign_in", &user.login, json!({"method": "password"})).await;
    Ok(me_for(s, Some(&user)))
}

pub async fn sign_out(s: &AppState, session: &Session, caller: &Result<Caller, AppError>) -> Result<(), AppError> {
    if let Ok(c) = caller {
        audit::record(&s.store, c, "sign_out", &c.login, json!({})).await;
    }
    session.flush().await.or_internal("ending a session")
}

pub async fn sign_out_everywhere(s: &AppState, session: &Session, c: &Caller) -> Result<(), AppError> {
    c.require_session("signing out everywhere")?;
    let ended = s.store.sessions_delete_for_user(c.user_id).await.or_internal("ending sessions")?;
    session.flush().await.or_internal("ending a session")?;
    audit::record(&s.store, c, "sign_out.everywhere", &c.login, json!({"sessions": ended})).await;
    Ok(())
}

/// Signs in someone a provider vouched for: finds or creates their user (keyed on
/// the provider's stable id), applies the provider's role mapping, starts a session.
pub async fn provider_sign_in(
    s: &AppState,
    session: &Session,
    address: Option<String>,
    provider: &Provider,
    who: &ExternalIdentity,
) -> Result<(), AppError> {
    let identity = Identity {
        provider: &provider.user_provider(),
        subject: &who.subject,
        login: &who.login,
        name: &who.name,
        email: who.email.as_deref(),
    };
    let new_user_role = provider.settings.new_user_role.unwrap_or(Role::Viewer);
    let mut user = s.store.upsert_user(&identity, new_user_role).await.or_internal("recording a user")?;
    let system = Caller { address: address.clone(), ..caller_for(s, &user).await? };
    if let Some(role) = mapped_role(&provider.settings, who).filter(|r| *r != user.role()) {
        s.store.set_user_role(user.id, role).await.or_internal("setting a role")?;
        let detail = json!({"before": user.role, "after": role.as_str(), "from": "provider groups"});
        audit::record(&s.store, &system, "user.role", &user.login, detail).await;
        user.role = role.as_str().to_string();
    }
    let forge = match (&who.forge_token, provider.settings.kind) {
        (Some(token), ProviderKind::Github | ProviderKind::Gitlab) => {
            let (kind, api) = match provider.settings.kind {
                ProviderKind::Github => (ForgeKind::Github, provider.settings.github_api()),
                _ => (ForgeKind::Gitlab, provider.settings.web_base()),
            };
            let sealed = s.vault.seal(&ForgeToken::context(user.id), token).or_internal("sealing a token")?;
            Some(ForgeToken { kind, api, sealed })
        }
        _ => None,
    };
    start_session(s, session, &user, forge).await?;
    audit::record(&s.store, &system, "sign_in", &user.login, json!({"method": provider.settings.id})).await;
    Ok(())
}
