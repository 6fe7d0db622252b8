//! The HTTP surface: REST API, server functions, websocket, sign-in, health, metrics,
//! OpenAPI and the single-page application, assembled into one axum router.

pub mod api;
mod extract;
mod headers;
mod hooks;
mod openapi;
mod ops;
mod sign_in;
pub mod spa;
mod ws;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use ferry_app::backend::SharedBackend;
use leptos::prelude::provide_context;
use tower_http::trace::TraceLayer;

use crate::auth::{authenticate, csrf, session_store};
use crate::backend::ServerBackend;
use crate::state::AppState;

pub fn router(state: AppState, site: &spa::Site) -> Router {
    let index = site.index_html();
    let policy = headers::content_security_policy(index.as_deref());
    let policy = HeaderValue::from_str(&policy).expect("the policy is plain ASCII");
    let sessions = session_store::layer(state.store.clone(), state.auth.secure, state.auth.session_idle_minutes);
    // Everything that acts for a person goes through the session and CSRF layers; the
    // static files of the SPA, the health endpoints and the forges' webhooks (signed,
    // not signed in) need neither.
    let (rest_api, api_document) = openapi::rest_api();
    let personal = Router::new()
        .merge(rest_api)
        .route("/rpc/{*name}", post(server_function))
        .route("/ws", get(ws::upgrade))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(sessions);
    Router::new()
        .merge(personal)
        .route("/api/openapi.json", openapi::document_handler(&api_document))
        .route("/api/ferry.schema.json", get(openapi::pipeline_schema))
        .route("/agent/ws", get(crate::agents::socket::upgrade))
        .route("/agent/artifacts/{sha256}", get(crate::agents::artifacts::download))
        .route(
            "/agent/builds/{job}/artifact",
            put(crate::agents::artifacts::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .merge(hooks::router())
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), ops::track_requests))
        .with_state(state)
        .merge(site.router())
        .layer(middleware::map_response(move |response| {
            let policy = policy.clone();
            async move { headers::secure(response, &policy) }
        }))
        .layer(TraceLayer::new_for_http())
}

async fn server_function(State(state): State<AppState>, request: Request<Body>) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&state, &parts).await;
    let session = parts.extensions.get::<tower_sessions::Session>().cloned();
    let address = crate::auth::authenticate::client_address(&parts);
    let request = Request::from_parts(parts, body);
    let backend: SharedBackend = Arc::new(ServerBackend { state, caller, session, address });
    leptos_axum::handle_server_fns_with_context(move || provide_context(backend.clone()), request).await
}
