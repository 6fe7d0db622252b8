//! Retention: once a day, on whichever replica claims the day's job, what has aged past
//! its project's (or the server's) `retention_days` is removed (`store::retention`),
//! and the next day's sweep is queued. Maintainers set a project's own number of days.

use ferry_app::error::AppError;
use ferry_app::model::{Retention, Role};
use serde_json::json;

use super::{audit, gate, Handles};
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::jobs::{JobEnd, RETENTION_SWEEP};
use crate::store::{now_millis, JobOrder, Store};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The most days a project may keep its logs for: ten years.
const MAX_DAYS: i64 = 3650;

/// Today, as days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    now_millis() / DAY_MS
}

/// Queues the sweep of `day` (once: every replica asks, the job's key is the day's).
pub async fn schedule(store: &Store, day: i64) -> Result<(), sqlx::Error> {
    store.enqueue_job(RETENTION_SWEEP, &format!("retention:{day}"), &day.to_string(), JobOrder::Any).await?;
    crate::jobs::wake();
    Ok(())
}

/// The job of one day: waits for its day, sweeps, and queues the next day's.
pub async fn sweep(s: &Handles, payload: &str) -> Result<JobEnd, String> {
    let day: i64 = payload.parse().map_err(|_| format!("not a day: {payload}"))?;
    let starts = day * DAY_MS;
    if now_millis() < starts {
        return Ok(JobEnd::RetryAt(starts, "waits for its day".into()));
    }
    let removed = s.store.sweep_retained(s.retention_days, now_millis()).await.map_err(|e| e.to_string())?;
    for r in removed.iter().filter(|r| r.rows > 0) {
        tracing::info!(kind = r.kind, rows = r.rows, bytes = r.bytes, "retention removed what aged");
    }
    schedule(&s.store, day + 1).await.map_err(|e| e.to_string())?;
    Ok(JobEnd::Done)
}

pub async fn get(s: &Handles, c: &Caller, slug: &str) -> Result<Retention, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "reading a project's retention").await?;
    let own = s.store.project_retention(project.id).await.or_internal("reading a project's retention")?;
    Ok(Retention { days: own, server_days: s.retention_days })
}

/// Sets the project's own number of days (`None`: the server's; 0: keep everything).
pub async fn set(s: &Handles, c: &Caller, slug: &str, days: Option<i64>) -> Result<Retention, AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "setting a project's retention").await?;
    if days.is_some_and(|d| !(0..=MAX_DAYS).contains(&d)) {
        return Err(AppError::bad_request(format!("days: from 0 (keep everything) to {MAX_DAYS}, or null")));
    }
    s.store.set_project_retention(project.id, days).await.or_internal("setting a project's retention")?;
    audit::record(&s.store, c, "project.retention", slug, json!({"days": days})).await;
    Ok(Retention { days, server_days: s.retention_days })
}
