//! Deployment logs (paged and as a download) and the numbered event log.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ferry_app::ansi;
use ferry_app::error::AppError;
use ferry_app::model::{Event, LogLineView, Role};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiResult;
use crate::auth::Caller;
use crate::error::{HttpError, OrInternal};
use crate::http::extract::{Path, Query};
use crate::services::gate;
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_logs)).routes(routes!(download_log)).routes(routes!(list_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Only items with a sequence number above this one.
    pub after: Option<i64>,
    /// At most this many (1-10000, default 1000).
    pub limit: Option<i64>,
}

impl PageQuery {
    fn limit(&self) -> Result<i64, AppError> {
        let limit = self.limit.unwrap_or(1000);
        if (1..=10_000).contains(&limit) {
            Ok(limit)
        } else {
            Err(AppError::bad_request("limit: must be between 1 and 10000"))
        }
    }
}

#[utoipa::path(get, path = "/deployments/{id}/logs", params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = [LogLineView]), (status = 404, body = AppError)))]
pub async fn get_logs(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Vec<LogLineView>> {
    Ok(axum::Json(gate::log_page(&s, &c, id, q.after.unwrap_or(0), q.limit()?).await?))
}

#[utoipa::path(get, path = "/deployments/{id}/log.txt", params(("id" = i64, Path)),
    responses((status = 200, description = "The whole log as text, one `[step] line` per line", content_type = "text/plain"),
        (status = 404, body = AppError)))]
pub async fn download_log(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, HttpError> {
    gate::deployment(&s, &c, id, Role::Viewer, "reading logs").await?;
    let steps = s.store.steps(id).await.or_internal("loading steps")?;
    let mut text = String::new();
    let mut after = 0;
    loop {
        let page = s.store.logs(id, after, 10_000).await.or_internal("loading logs")?;
        for line in &page {
            let step = steps.iter().find(|st| st.position == line.step).map_or("?", |st| st.name.as_str());
            text.push_str(&format!("[{step}] {}\n", ansi::plain(&line.text)));
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => after = last.seq,
            _ => break,
        }
    }
    let disposition = format!("attachment; filename=\"deployment-{id}.log\"");
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        text,
    ))
}

#[utoipa::path(get, path = "/events", params(PageQuery), responses((status = 200, body = [Event])))]
pub async fn list_events(State(s): State<AppState>, c: Caller, Query(q): Query<PageQuery>) -> ApiResult<Vec<Event>> {
    let limit = q.limit()?;
    Ok(axum::Json(gate::events(&s, &c, q.after.unwrap_or(0), limit).await?))
}
