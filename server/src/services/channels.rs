//! Notification channels and routing rules: admins add, test and remove them, and see
//! the outbox's deliveries. A channel's settings are sealed before they are stored and
//! never come back out; the audit log records who changed what (without secrets).

use ferry_app::error::AppError;
use ferry_app::model::{ChannelView, NewChannel, NewRule, NotifySettings, Role, RuleView};
use serde_json::json;

use super::audit;
use super::Handles;
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::store::is_unique_violation;

/// How many deliveries the settings list.
const LISTED_DELIVERIES: i64 = 50;

pub async fn settings(s: &Handles, c: &Caller) -> Result<NotifySettings, AppError> {
    c.require_global(Role::Admin, "seeing notification channels")?;
    Ok(NotifySettings {
        channels: s.store.channels().await.or_internal("listing channels")?,
        rules: s.store.rules().await.or_internal("listing notification rules")?,
        deliveries: s.store.deliveries(LISTED_DELIVERIES).await.or_internal("listing deliveries")?,
    })
}

pub async fn add_channel(s: &Handles, c: &Caller, new: &NewChannel) -> Result<ChannelView, AppError> {
    c.require_global(Role::Admin, "adding a notification channel")?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(AppError::bad_request("name: give 1 to 60 characters"));
    }
    new.settings.check().map_err(AppError::bad_request)?;
    let sealed = s.notifier.seal(name, &new.settings).map_err(|e| {
        tracing::error!(error = %e, "sealing channel settings");
        AppError::internal()
    })?;
    let kind = new.settings.kind();
    let summary = new.settings.summary();
    let channel = match s.store.add_channel(name, kind, &sealed, &summary, &c.login).await {
        Ok(channel) => channel,
        Err(e) if is_unique_violation(&e) => {
            return Err(AppError::conflict(format!("a channel named `{name}` exists already")))
        }
        Err(e) => return Err(e).or_internal("adding a channel"),
    };
    audit::record(&s.store, c, "channel.add", name, json!({"kind": kind, "summary": summary})).await;
    Ok(channel)
}

pub async fn remove_channel(s: &Handles, c: &Caller, id: i64) -> Result<(), AppError> {
    c.require_global(Role::Admin, "removing a notification channel")?;
    if !s.store.remove_channel(id).await.or_internal("removing a channel")? {
        return Err(AppError::not_found(format!("there is no channel {id}")));
    }
    audit::record(&s.store, c, "channel.remove", &format!("#{id}"), json!({})).await;
    Ok(())
}

/// Sends a test message through the channel (it shows among the deliveries).
pub async fn test_channel(s: &Handles, c: &Caller, id: i64) -> Result<(), AppError> {
    c.require_global(Role::Admin, "testing a notification channel")?;
    if s.store.channel_secret(id).await.or_internal("reading a channel")?.is_none() {
        return Err(AppError::not_found(format!("there is no channel {id}")));
    }
    s.notifier.send_test(id, &c.login).await.or_internal("enqueueing a test message")
}

pub async fn add_rule(s: &Handles, c: &Caller, new: &NewRule) -> Result<RuleView, AppError> {
    c.require_global(Role::Admin, "adding a notification rule")?;
    if s.store.channel_secret(new.channel_id).await.or_internal("reading a channel")?.is_none() {
        return Err(AppError::bad_request(format!("channel_id: there is no channel {}", new.channel_id)));
    }
    if new.events.is_empty() {
        return Err(AppError::bad_request("events: choose at least one event"));
    }
    let project_id = match new.project.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(slug) => {
            let project = s.store.project_by_slug(slug).await.or_internal("finding a project")?;
            Some(project.ok_or_else(|| AppError::bad_request(format!("project: there is no project `{slug}`")))?.id)
        }
    };
    let environment = new.environment.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if environment.is_some_and(|e| e.len() > 100) {
        return Err(AppError::bad_request("environment: at most 100 characters"));
    }
    let mut events = new.events.clone();
    events.sort();
    events.dedup();
    let id = s.store.add_rule(new.channel_id, project_id, environment, &events).await.or_internal("adding a rule")?;
    audit::record(&s.store, c, "notify_rule.add", &format!("#{id}"), json!(new)).await;
    let rules = s.store.rules().await.or_internal("listing notification rules")?;
    rules.into_iter().find(|r| r.id == id).ok_or_else(|| AppError::not_found("the rule vanished"))
}

pub async fn remove_rule(s: &Handles, c: &Caller, id: i64) -> Result<(), AppError> {
    c.require_global(Role::Admin, "removing a notification rule")?;
    if !s.store.remove_rule(id).await.or_internal("removing a rule")? {
        return Err(AppError::not_found(format!("there is no notification rule {id}")));
    }
    audit::record(&s.store, c, "notify_rule.remove", &format!("#{id}"), json!({})).await;
    Ok(())
}
