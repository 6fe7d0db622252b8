//! Signing in and out under `/auth`: who am I, the local password form, sign-out
//! and sign-out everywhere. OAuth and OIDC providers add their routes here too.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::error::AppError;
use ferry_app::model::{Me, PasswordSignIn};
use serde_json::json;
use tower_sessions::Session;

use super::extract::Json;
use crate::auth::session_store::{SignedIn, SIGNED_IN};
use crate::auth::{authenticate, passwords, Caller};
use crate::error::{HttpError, OrInternal};
use crate::services::audit;
use crate::state::AppState;
use crate::store::{now_millis, UserRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(me))
        .route("/auth/login", post(password_sign_in))
        .route("/auth/logout", post(sign_out))
        .route("/auth/logout-everywhere", post(sign_out_everywhere))
}

fn me_for(s: &AppState, user: Option<&UserRow>) -> Me {
    Me {
        user: user.map(UserRow::view),
        local_mode: true,
        password_sign_in: s.auth.password_sign_in,
        providers: Vec::new(),
    }
}

/// Who is signed in; answers (with no user) when nobody is.
pub async fn me(State(s): State<AppState>, parts: Parts) -> Result<axum::Json<Me>, HttpError> {
    let user = match authenticate(&s, &parts).await {
        Ok(caller) => s.store.user(caller.user_id).await.or_internal("loading a user")?,
        Err(e) if e.error == ferry_app::error::ErrorCode::Unauthenticated => None,
        Err(e) => return Err(e.into()),
    };
    Ok(axum::Json(me_for(&s, user.as_ref())))
}

/// Starts a session for `user`, under a new session id (against session fixation).
pub async fn start_session(s: &AppState, session: &Session, user: &UserRow) -> Result<(), AppError> {
    session.cycle_id().await.or_internal("renewing the session id")?;
    let now = now_millis();
    session.insert(SIGNED_IN, SignedIn { user_id: user.id, since: now, seen: now }).await.or_internal("saving the session")?;
    s.store.record_sign_in(user.id).await.or_internal("recording a sign-in")
}

async fn password_sign_in(
    State(s): State<AppState>,
    session: Session,
    parts: Parts,
    Json(body): Json<PasswordSignIn>,
) -> Result<axum::Json<Me>, HttpError> {
    if !s.auth.password_sign_in {
        return Err(AppError::forbidden("password sign-in is turned off; use a sign-in provider").into());
    }
    let address = crate::auth::authenticate::client_address(&parts);
    let Some(user) = passwords::check(&s.store, &body.login, &body.password).await.or_internal("checking a password")?
    else {
        audit::record_anonymous(&s.store, &body.login, "sign_in.failed", address, json!({"method": "password"})).await;
        return Err(AppError::unauthenticated("wrong login or password").into());
    };
    start_session(&s, &session, &user).await?;
    let caller = Caller { address, ..crate::auth::authenticate::caller_for(&s, &user).await? };
    audit::record(&s.store, &caller, "sign_in", &user.login, json!({"method": "password"})).await;
    Ok(axum::Json(me_for(&s, Some(&user))))
}

async fn sign_out(State(s): State<AppState>, session: Session, parts: Parts) -> Result<StatusCode, HttpError> {
    if let Ok(caller) = authenticate(&s, &parts).await {
        audit::record(&s.store, &caller, "sign_out", &caller.login, json!({})).await;
    }
    session.flush().await.or_internal("ending a session")?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_everywhere(State(s): State<AppState>, session: Session, c: Caller) -> Result<StatusCode, HttpError> {
    c.require_session("signing out everywhere")?;
    let ended = s.store.sessions_delete_for_user(c.user_id).await.or_internal("ending sessions")?;
    session.flush().await.or_internal("ending a session")?;
    audit::record(&s.store, &c, "sign_out.everywhere", &c.login, json!({"sessions": ended})).await;
    Ok(StatusCode::NO_CONTENT)
}
