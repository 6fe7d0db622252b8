//! Sends the queued reports: each project's reports go out one at a time, oldest first
//! (a status never overtakes the report that creates the forge's deployment), projects
//! in parallel. A failed report is retried with the notification outbox's backoff; it
//! holds back only its own project's later reports. With several replicas, one at a
//! time sends a project's reports (a claim in the database, `claims.rs`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_app::model::ForgeKind;

use super::{github, gitlab, Change, Reporter};
use crate::notify::{after_attempt, Attempt};
use crate::store::{now_millis, ForgeReportRow};

/// The worker looks again at least this often (a retry falling due).
const IDLE_CHECK: Duration = Duration::from_secs(30);

pub async fn run(reporter: Reporter) {
    let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
    loop {
        let mut wait = IDLE_CHECK;
        match reporter.store.forge_report_heads().await {
            Ok(heads) => {
                let now = now_millis();
                for head in heads {
                    if head.next_attempt_at > now {
                        wait = wait.min(Duration::from_millis((head.next_attempt_at - now) as u64));
                        continue;
                    }
                    if busy.lock().unwrap_or_else(|p| p.into_inner()).insert(head.project_id) {
                        let (reporter, busy) = (reporter.clone(), busy.clone());
                        tokio::spawn(async move {
                            let project = head.project_id;
                            // One replica at a time sends a project's reports, in order.
                            let key = format!("forge-reports:{project}");
                            if reporter.claims.claim(&key).await {
                                // Read again under the claim: another replica may have
                                // sent it since the list above was read.
                                if let Some(head) = current_head(&reporter, project).await {
                                    deliver(&reporter, head).await;
                                }
                                reporter.claims.release(&key).await;
                            }
                            busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&project);
                            reporter.wake.notify_one();
                        });
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the forge report queue");
                wait = Duration::from_secs(1);
            }
        }
        tokio::select! {
            _ = reporter.wake.notified() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
        }
    }
}

/// The project's oldest report still to send, if it is due.
async fn current_head(reporter: &Reporter, project: i64) -> Option<ForgeReportRow> {
    match reporter.store.forge_report_heads().await {
        Ok(heads) => heads.into_iter().find(|h| h.project_id == project && h.next_attempt_at <= now_millis()),
        Err(e) => {
            tracing::error!(error = %e, "reading the forge report queue");
            None
        }
    }
}

async fn deliver(reporter: &Reporter, report: ForgeReportRow) {
    let attempt = send(reporter, &report).await;
    let (state, error, next_at) = after_attempt(report.attempts + 1, &attempt);
    if let Some(error) = &error {
        tracing::warn!(deployment = report.deployment_id, state = state.as_str(), error, "forge report not delivered");
    }
    if let Err(e) = reporter.store.record_forge_report(report.id, state, error.as_deref(), next_at).await {
        tracing::error!(error = %e, "recording a forge report");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
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
