//! Operational endpoints: `/healthz` for load balancers and `/metrics` for Prometheus.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// 200 while Ferry takes work; 503 when its database is unreachable, or while it is
/// shutting down (so a load balancer sends new requests to another replica).
pub async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    if s.deployer.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "draining"})));
    }
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "database unavailable"})))
        }
    }
}

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let counts = match s.store.count_by_state().await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot count deployments");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n".to_string()).into_response();
        }
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render(&counts)).into_response()
}
