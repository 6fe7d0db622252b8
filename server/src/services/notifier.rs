//! The in-app notification center: a notification for every deployment that
//! succeeded, failed or rolled an environment back, delivered live over the event
//! stream, and read state shared by every open browser. Agents going offline are
//! announced too. (The other channels are `crate::notify`'s.)

use ferry_app::error::AppError;
use ferry_app::model::{
    DeploymentKind, DeploymentState, DeploymentView, EventPayload, NotificationKind, NotificationList,
};

use crate::error::OrInternal;
use crate::events::EventBus;
use crate::store::Store;

/// How many notifications the center lists.
const LISTED: i64 = 50;

/// What to say about a finished deployment, if anything (cancellations are not news).
pub fn describe(d: &DeploymentView) -> Option<(NotificationKind, String)> {
    match (d.kind, d.state) {
        (DeploymentKind::Rollback, DeploymentState::Succeeded) => Some((
            NotificationKind::RolledBack,
            format!("↩ {} rolled back to {} in {}", d.project, d.release_version, d.environment),
        )),
        (_, DeploymentState::Succeeded) => Some((
            NotificationKind::DeploymentSucceeded,
            format!("✓ {} {} deployed to {}", d.project, d.release_version, d.environment),
        )),
        (_, DeploymentState::Failed) => Some((
            NotificationKind::DeploymentFailed,
            format!("✗ {} {} failed in {}", d.project, d.release_version, d.environment),
        )),
        _ => None,
    }
}

/// Records and publishes the notification for a finished deployment. Failing to
/// notify never fails the deployment: it is logged.
pub async fn deployment_finished(store: &Store, bus: &EventBus, d: &DeploymentView) {
    let Some((kind, title)) = describe(d) else { return };
    publish(store, bus, kind, &title, Some(d.id)).await;
}

/// Asks for approvals of a deployment waiting for them.
pub async fn approval_requested(store: &Store, bus: &EventBus, d: &DeploymentView) {
    let who = d.requested_by.as_deref().unwrap_or("someone");
    let title = format!("⏸ {} {} to {} needs approval (asked by {who})", d.project, d.release_version, d.environment);
    publish(store, bus, NotificationKind::ApprovalRequested, &title, Some(d.id)).await;
}

/// An agent stayed away longer than the grace period.
pub async fn agent_offline(store: &Store, bus: &EventBus, title: &str) {
    publish(store, bus, NotificationKind::AgentOffline, title, None).await;
}

async fn publish(store: &Store, bus: &EventBus, kind: NotificationKind, title: &str, deployment_id: Option<i64>) {
    let result = match store.create_notification(kind, title, deployment_id).await {
        Ok(notification) => bus.publish(EventPayload::Notification(notification)).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(deployment = ?deployment_id, error = %e, "recording a notification");
    }
}

pub async fn list(store: &Store) -> Result<NotificationList, AppError> {
    let items = store.notifications(LISTED).await.or_internal("listing notifications")?;
    let unread = store.unread_notifications().await.or_internal("counting notifications")?;
    Ok(NotificationList { items, unread })
}

/// Marks notifications read (all when `ids` is `None`) and tells every browser.
pub async fn mark_read(store: &Store, bus: &EventBus, ids: Option<Vec<i64>>) -> Result<NotificationList, AppError> {
    if ids.as_ref().is_some_and(|ids| ids.len() > 1000) {
        return Err(AppError::bad_request("ids: at most 1000 at a time"));
    }
    let changed = store.mark_notifications_read(ids.as_deref()).await.or_internal("marking notifications read")?;
    if !changed.is_empty() {
        bus.publish(EventPayload::NotificationsRead { ids: changed }).await.or_internal("publishing read state")?;
    }
    list(store).await
}
