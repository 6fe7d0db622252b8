//! Signing in and out under `/auth`, for programs and forms: who am I, the local
//! password form, sign-out and sign-out everywhere. The SPA does the same through
//! server functions; both use `auth::flows`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::model::{Me, PasswordSignIn};
use tower_sessions::Session;

use super::extract::{Json, Path, Query};
use crate::auth::authenticate::client_address;
use crate::auth::providers::{Callback, Pending, PENDING};
use crate::auth::{authenticate, flows, Caller};
use crate::error::{HttpError, OrInternal};
use crate::services::audit;
use crate::state::AppState;
use crate::store::now_millis;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(me))
        .route("/auth/login", post(password_sign_in))
        .route("/auth/logout", post(sign_out))
        .route("/auth/logout-everywhere", post(sign_out_everywhere))
        .route("/auth/{provider}/start", get(provider_start))
        .route("/auth/{provider}/callback", get(provider_callback))
}

async fn me(State(s): State<AppState>, parts: Parts) -> Result<axum::Json<Me>, HttpError> {
    Ok(axum::Json(flows::me(&s, &authenticate(&s, &parts).await).await?))
}

async fn password_sign_in(
    State(s): State<AppState>,
    session: Session,
    parts: Parts,
    Json(form): Json<PasswordSignIn>,
) -> Result<axum::Json<Me>, HttpError> {
    Ok(axum::Json(flows::password_sign_in(&s, &session, client_address(&parts), &form).await?))
}

async fn sign_out(State(s): State<AppState>, session: Session, parts: Parts) -> Result<StatusCode, HttpError> {
    flows::sign_out(&s, &session, &authenticate(&s, &parts).await).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_everywhere(State(s): State<AppState>, session: Session, c: Caller) -> Result<StatusCode, HttpError> {
    flows::sign_out_everywhere(&s, &session, &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the browser to the provider, remembering the flow in its session.
async fn provider_start(
    State(s): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Redirect, HttpError> {
    let provider = s.providers.get(&id)?;
    let (url, pending) = s.providers.begin(&provider, now_millis()).await?;
    session.insert(PENDING, pending).await.or_internal("saving the sign-in")?;
    Ok(Redirect::to(&url))
}

/// The provider's answer: accepted once, and only for the flow this browser started
/// with this provider.
async fn provider_callback(
    State(s): State<AppState>,
    session: Session,
    parts: Parts,
    Path(id): Path<String>,
    Query(callback): Query<Callback>,
) -> Result<Redirect, HttpError> {
    let provider = s.providers.get(&id)?;
    // Removed before anything else, so no answer is ever accepted twice.
    let pending: Option<Pending> = session.remove(PENDING).await.or_internal("reading the sign-in")?;
    let address = client_address(&parts);
    let who = match s.providers.finish(&provider, pending, &callback, now_millis()).await {
        Ok(who) => who,
        Err(e) => {
            let detail = serde_json::json!({"method": id, "reason": e.message});
            audit::record_anonymous(&s.store, &format!("({id})"), "sign_in.failed", address, detail).await;
            return Err(e.into());
        }
    };
    flows::provider_sign_in(&s, &session, address, &provider, &who).await?;
    Ok(Redirect::to("/"))
}
