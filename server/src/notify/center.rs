//! The in-app notification center: a notification for every deployment that
//! succeeded, failed or rolled an environment back, delivered live over the event
//! stream, and read state shared by every open browser. Agents going offline are
//! announced too. The routed channels are the rest of `crate::notify`; both hear of
//! changes through the jobs of the durable queue.

use ferry_app::error::AppError;
use ferry_app::model::{
    DeploymentView, EventPayload, NotificationKind, NotificationList, NotificationView, NotifyPreferences,
};

use crate::auth::Caller;
use crate::error::OrInternal;
use crate::events::EventBus;
use crate::store::Store;

/// How many notifications the center lists.
const LISTED: i64 = 50;

/// What to say about a finished deployment, if anything: the same events the routed
/// channels hear of (cancellations are not news), in the center's words.
pub fn describe(d: &DeploymentView) -> Option<(NotificationKind, String)> {
    let event = super::finished_event(d)?;
    let kind = NotificationKind::ALL.into_iter().find(|k| k.event() == event)?;
    let (project, version, environment) = (&d.project, &d.release_version, &d.environment);
    let title = match kind {
        NotificationKind::RolledBack => format!("↩ {project} rolled back to {version} in {environment}"),
        NotificationKind::DeploymentSucceeded => format!("✓ {project} {version} deployed to {environment}"),
        _ => format!("✗ {project} {version} failed in {environment}"),
    };
    Some((kind, title))
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

/// The kinds a person sees in the app, by their preferences (or the defaults).
async fn kinds_for(store: &Store, user_id: i64) -> Result<Vec<NotificationKind>, AppError> {
    let in_app = match store.notify_preferences(user_id).await.or_internal("reading preferences")? {
        Some((in_app, _)) => in_app,
        None => NotifyPreferences::defaults().0,
    };
    Ok(NotificationKind::ALL.into_iter().filter(|k| in_app.contains(&k.event())).collect())
}

/// The caller's newest notifications of the kinds they want, about projects they can
/// see, with their own read marks.
pub async fn list(store: &Store, c: &Caller) -> Result<NotificationList, AppError> {
    let kinds = kinds_for(store, c.user_id).await?;
    let (items, unread) = if c.sees_everything() {
        let items = store.notifications_for(c.user_id, &kinds, LISTED).await.or_internal("listing notifications")?;
        let unread = store.unread_for(c.user_id, &kinds).await.or_internal("counting notifications")?;
        (items.into_iter().map(|(n, _)| n).collect(), unread)
    } else {
        // Few enough to filter here: a restricted person's count covers the newest ones.
        let candidates = store.notifications_for(c.user_id, &kinds, 500).await.or_internal("listing notifications")?;
        let visible: Vec<NotificationView> = candidates
            .into_iter()
            .filter(|(_, project)| project.is_none_or(|p| c.can_view(p)))
            .map(|(n, _)| n)
            .collect();
        let unread = visible.iter().filter(|n| !n.read).count() as i64;
        (visible.into_iter().take(LISTED as usize).collect(), unread)
    };
    Ok(NotificationList { items, unread, user_id: c.user_id, kinds })
}

/// Marks the caller's notifications read (all when `ids` is `None`) and tells their
/// other browsers.
pub async fn mark_read(
    store: &Store,
    bus: &EventBus,
    c: &Caller,
    ids: Option<Vec<i64>>,
) -> Result<NotificationList, AppError> {
    if ids.as_ref().is_some_and(|ids| ids.len() > 1000) {
        return Err(AppError::bad_request("ids: at most 1000 at a time"));
    }
    let changed = store.mark_read_for(c.user_id, ids.as_deref()).await.or_internal("marking notifications read")?;
    if !changed.is_empty() {
        let read = EventPayload::NotificationsRead { user_id: c.user_id, ids: changed };
        bus.publish(read).await.or_internal("publishing read state")?;
    }
    list(store, c).await
}

/// The caller's preferences, with where their email goes.
pub async fn preferences(store: &Store, c: &Caller, email_available: bool) -> Result<NotifyPreferences, AppError> {
    let (in_app, email) = match store.notify_preferences(c.user_id).await.or_internal("reading preferences")? {
        Some(saved) => saved,
        None => NotifyPreferences::defaults(),
    };
    let email_address = store.user(c.user_id).await.or_internal("reading a user")?.and_then(|u| u.email);
    Ok(NotifyPreferences { in_app, email, email_address, email_available })
}

pub async fn set_preferences(
    store: &Store,
    c: &Caller,
    wanted: &NotifyPreferences,
    email_available: bool,
) -> Result<NotifyPreferences, AppError> {
    let current = preferences(store, c, email_available).await?;
    if !wanted.email.is_empty() && current.email_address.is_none() {
        return Err(AppError::bad_request("email: your profile has no email address to send to"));
    }
    if !wanted.email.is_empty() && !email_available {
        return Err(AppError::bad_request("email: this Ferry has no mail server configured (mail_smtp_url)"));
    }
    store.set_notify_preferences(c.user_id, &wanted.in_app, &wanted.email).await.or_internal("saving preferences")?;
    preferences(store, c, email_available).await
}
