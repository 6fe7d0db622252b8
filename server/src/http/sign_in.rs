//! Signing in and out under `/auth`, for programs and forms: who am I, the local
//! password form, sign-out and sign-out everywhere. The SPA does the same through
//! server functions; both use `auth::flows`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Redirect;
use ferry_app::error::AppError;
use ferry_app::model::{Me, PasswordSignIn};
use tower_sessions::Session;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{Json, Path, Query};
use crate::auth::authenticate::client_address;
use crate::auth::providers::{Callback, Pending, PENDING};
use crate::auth::{authenticate, flows, Caller};
use crate::error::{HttpError, OrInternal};
use crate::services::audit;
use crate::state::AppState;
use crate::store::now_millis;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(password_sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(sign_out_everywhere))
        .routes(routes!(provider_start))
        .routes(routes!(provider_callback))
}

/// Who the caller is signed in as (if anyone), and the ways to sign in.
#[utoipa::path(get, path = "/auth/me", tag = "sign-in", security(()), responses((status = 200, body = Me)))]
async fn me(State(s): State<AppState>, parts: Parts) -> Result<axum::Json<Me>, HttpError> {
    Ok(axum::Json(flows::me(&s, &authenticate(&s, &parts).await).await?))
}

/// Signs in with the local password; the answer sets the session cookie.
#[utoipa::path(post, path = "/auth/login", tag = "sign-in", security(()), request_body = PasswordSignIn,
    responses((status = 200, body = Me), (status = 401, body = AppError, description = "Wrong login or password."),
        (status = 403, body = AppError, description = "Password sign-in is off, or the request is cross-site."),
        (status = 429, body = AppError, description = "Too many failed attempts for this login or address; \
            `Retry-After` says when to try again.")))]
async fn password_sign_in(
    State(s): State<AppState>,
    session: Session,
    parts: Parts,
    Json(form): Json<PasswordSignIn>,
) -> Result<axum::Json<Me>, HttpError> {
    Ok(axum::Json(flows::password_sign_in(&s, &session, client_address(&parts), &form).await?))
}

/// Ends this session.
#[utoipa::path(post, path = "/auth/logout", tag = "sign-in", responses((status = 204)))]
async fn sign_out(State(s): State<AppState>, session: Session, parts: Parts) -> Result<StatusCode, HttpError> {
    flows::sign_out(&s, &session, &authenticate(&s, &parts).await).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the signed-in user.
#[utoipa::path(post, path = "/auth/logout-everywhere", tag = "sign-in", responses((status = 204)))]
async fn sign_out_everywhere(State(s): State<AppState>, session: Session, c: Caller) -> Result<StatusCode, HttpError> {
    flows::sign_out_everywhere(&s, &session, &c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the browser to the provider, remembering the flow in its session.
#[utoipa::path(get, path = "/auth/{provider}/start", tag = "sign-in", security(()),
    params(("provider" = String, Path, description = "A configured provider's id: `github`, `gitlab` or an OIDC provider's.")),
    responses((status = 303, description = "To the provider's sign-in page."), (status = 404, body = AppError)))]
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
#[utoipa::path(get, path = "/auth/{provider}/callback", tag = "sign-in", security(()),
    params(("provider" = String, Path), Callback),
    responses((status = 303, description = "Signed in: to the dashboard."),
        (status = 400, body = AppError, description = "The provider's answer was refused."), (status = 404, body = AppError)))]
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
