//! Signing in and out under `/auth`, for programs and forms: who am I, the local
//! password form, sign-out and sign-out everywhere. The SPA does the same through
//! server functions; both use `auth::flows`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::model::{Me, PasswordSignIn};
use tower_sessions::Session;

use super::extract::Json;
use crate::auth::authenticate::client_address;
use crate::auth::{authenticate, flows, Caller};
use crate::error::HttpError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(me))
        .route("/auth/login", post(password_sign_in))
        .route("/auth/logout", post(sign_out))
        .route("/auth/logout-everywhere", post(sign_out_everywhere))
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
