//! The audit log, for administrators: filtered pages as JSON, or everything that
//! matches as JSON lines for export.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ferry_app::error::AppError;
use ferry_app::model::{AuditEntry, AuditQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::Query;
use crate::services::audit;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor: Option<String>,
    /// e.g. `deployment.start`, `token.create`, `sign_in.failed`.
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
    /// 1-1000, default 100; ignored for `jsonl`, which exports every match.
    pub limit: Option<i64>,
    /// `json` (default) or `jsonl`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/audit", params(AuditParams),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn list_audit(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<AuditParams>,
) -> Result<Response, HttpError> {
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        since: q.since,
        until: q.until,
        before: q.before,
        limit: q.limit,
    };
    match q.format.as_deref() {
        None | Some("json") => Ok(axum::Json(audit::list(&s, &c, &query).await?).into_response()),
        Some("jsonl") => {
            let mut text = String::new();
            for entry in audit::export(&s, &c, &query).await? {
                text.push_str(&serde_json::to_string(&entry).or_internal("encoding the audit log")?);
                text.push('\n');
            }
            let headers = [
                (header::CONTENT_TYPE, "application/x-ndjson"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"ferry-audit.jsonl\""),
            ];
            Ok((headers, text).into_response())
        }
        Some(other) => Err(AppError::bad_request(format!("format: `{other}` is not json or jsonl")).into()),
    }
}
