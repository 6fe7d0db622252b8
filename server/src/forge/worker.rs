//! Sends one queued report (a job of the durable queue, keyed by its project: a
//! project's reports go out one at a time, oldest first, so a status never overtakes
//! the report that creates the forge's deployment; projects in parallel). A failed
//! report is retried with the notification outbox's backoff and holds back only its
//! own project's later reports.

use ferry_app::model::{DeliveryState, ForgeKind};

use super::{github, gitlab, Change, Reporter};
use crate::jobs::JobEnd;
use crate::notify::{after_attempt, Attempt};
use crate::store::ForgeReportRow;

pub async fn send_report(reporter: &Reporter, id: i64) -> Result<JobEnd, String> {
    let Some(report) = reporter.store.pending_forge_report(id).await.map_err(|e| e.to_string())? else {
        return Ok(JobEnd::Done);
    };
    let attempt = send(reporter, &report).await;
    let (state, error, next_at) = after_attempt(report.attempts + 1, &attempt);
    if let Some(error) = &error {
        tracing::warn!(deployment = report.deployment_id, state = state.as_str(), error, "forge report not delivered");
    }
    let recorded = reporter.store.record_forge_report(report.id, state, error.as_deref(), next_at).await;
    recorded.map_err(|e| e.to_string())?;
    Ok(match state {
        DeliveryState::Pending => JobEnd::RetryAt(next_at, error.unwrap_or_default()),
        _ => JobEnd::Done,
    })
}

async fn send(reporter: &Reporter, report: &ForgeReportRow) -> Attempt {
    let store = &reporter.store;
    let link = match store.forge_link(report.project_id).await {
        Ok(Some(link)) => link,
        Ok(None) => return Attempt::Refused("the project is no longer linked to a repository".into()),
        Err(e) => return Attempt::Retry { error: format!("database: {e}"), after: None },
    };
    let token = match reporter.token(&link) {
        Ok(Some(token)) => token,
        Ok(None) => return Attempt::Refused("the link keeps no API token any more".into()),
        Err(why) => return Attempt::Refused(why),
    };
    let loaded = Change::load(store, &reporter.base_url, report.deployment_id, &report.deployment_state).await;
    let Some(change) = loaded else { return Attempt::Refused("the deployment or its release is gone".into()) };
    let sent = match ForgeKind::parse(&link.forge) {
        Some(ForgeKind::Github) => match reporter.github(Some(link.project_id), &token) {
            Ok(crab) => github::report(&crab, store, &link.repo, &change).await,
            Err(refused) => Err(refused),
        },
        Some(ForgeKind::Gitlab) => match reporter.gitlab(Some(link.project_id), &token).await {
            Ok(client) => gitlab::report(&client, store, &link.repo, &change).await,
            Err(refused) => Err(refused),
        },
        None => Err(Attempt::Refused(format!("unknown forge `{}`", link.forge))),
    };
    sent.map(|()| Attempt::Delivered).unwrap_or_else(|failed| failed)
}
