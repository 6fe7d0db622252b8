//! The audit log, for administrators: filtered pages as JSON, or everything that
//! matches as JSON lines for export.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use ferry_app::error::AppError;
use ferry_app::model::{AuditEntry, Role};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::Query;
use crate::state::AppState;
use crate::store::AuditFilter;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
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

const EXPORT_PAGE: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = AppError), (status = 403, body = AppError)))]
pub async fn list_audit(
    State(s): State<AppState>,
    c: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Response, HttpError> {
    c.require_global(Role::Admin, "reading the audit log")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("limit: must be between 1 and 1000").into());
    }
    let mut filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        since: q.since.map(|t| t.timestamp_millis()),
        until: q.until.map(|t| t.timestamp_millis()),
        before: q.before,
        limit,
    };
    match q.format.as_deref() {
        None | Some("json") => {
            Ok(axum::Json(s.store.audit(&filter).await.or_internal("reading the audit log")?).into_response())
        }
        Some("jsonl") => {
            filter.limit = EXPORT_PAGE;
            let mut text = String::new();
            loop {
                let page = s.store.audit(&filter).await.or_internal("reading the audit log")?;
                for entry in &page {
                    text.push_str(&serde_json::to_string(entry).or_internal("encoding the audit log")?);
                    text.push('\n');
                }
                match page.last() {
                    Some(last) if page.len() as i64 == EXPORT_PAGE => filter.before = Some(last.id),
                    _ => break,
                }
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
