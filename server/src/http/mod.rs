//! The HTTP surface: REST API, server functions, websocket, health, metrics, OpenAPI
//! and the single-page application, assembled into one axum router.

pub mod api;
mod extract;
mod openapi;
mod ops;
mod spa;
mod ws;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use ferry_app::backend::SharedBackend;
use leptos::prelude::provide_context;
use tower_http::trace::TraceLayer;

use crate::backend::ServerBackend;
use crate::state::AppState;

pub fn router(state: AppState, site_dir: &Path) -> Router {
    Router::new()
        .nest("/api/v1", api::router())
        .route("/api/openapi.json", get(openapi::document))
        .route("/rpc/{*name}", post(server_function))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
        .merge(spa::router(site_dir))
        .layer(TraceLayer::new_for_http())
}

async fn server_function(State(state): State<AppState>, request: Request<Body>) -> impl IntoResponse {
    let backend: SharedBackend = Arc::new(ServerBackend(state));
    leptos_axum::handle_server_fns_with_context(move || provide_context(backend.clone()), request).await
}
