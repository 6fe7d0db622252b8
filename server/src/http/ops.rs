//! Operational endpoints: `/healthz` for load balancers and `/metrics` for Prometheus.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;
use crate::store::job_kinds;
use crate::store::now_millis;
use crate::telemetry::StoredFigures;

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
    match stored_figures(&s).await {
        Ok(stored) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render(&stored)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot read the database's figures");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn stored_figures(s: &AppState) -> Result<StoredFigures, sqlx::Error> {
    Ok(StoredFigures {
        deployments_by_state: s.store.count_by_state().await?,
        jobs_waiting_by_kind: s.store.waiting_jobs_by_kind().await?,
        agents_online: s.store.connected_agents(now_millis()).await?.len() as i64,
        job_kinds: &job_kinds::ALL,
        retention: s.store.retention_totals().await?,
    })
}

/// Records every answered request of a matched route in `/metrics`.
pub async fn track_requests(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(route) = route {
        s.metrics.observe_request(method.as_str(), &route, response.status().as_u16(), started.elapsed());
    }
    response
}
