//! Delivers the outbox: a dispatcher wakes when a message is enqueued or a retry falls
//! due, and starts one drain task per channel with due messages. A channel sends its
//! messages one at a time, oldest first, so one slow channel delays only itself; Slack
//! webhooks get at most one message a second. Failures are retried with exponential
//! backoff (a `Retry-After` is honoured), refusals and exhausted retries are marked
//! failed. Pending messages survive a restart: the outbox is a table. With several
//! replicas, one at a time drains a channel (a claim in the database, `claims.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_app::model::{ChannelSettings, DeliveryState};
use tokio::time::Instant;

use super::{email, slack, webhook, Notice, Notifier};
use crate::store::{now_millis, OutboxRow};

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again: after `after` if the receiver said so, else by backoff.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Refused for good (bad address, revoked webhook, …).
    Refused(String),
}

/// After this many attempts a message is failed.
const MAX_ATTEMPTS: i64 = 12;
/// The longest wait between attempts, and the longest `Retry-After` believed.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Slack's limit for incoming webhooks is about one message a second.
const SLACK_SPACING: Duration = Duration::from_secs(1);
/// The dispatcher looks again at least this often (a retry falling due).
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// When each channel last sent, kept across drains: Slack's pace holds between bursts.
type LastSent = Arc<Mutex<HashMap<i64, Instant>>>;

pub async fn run(notifier: Notifier) {
    let draining: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let last_sent: LastSent = Arc::default();
    loop {
        match notifier.store.due_channels(now_millis()).await {
            Ok(channels) => {
                for channel in channels {
                    if draining.lock().unwrap_or_else(|p| p.into_inner()).insert(channel) {
                        let (notifier, draining, last_sent) = (notifier.clone(), draining.clone(), last_sent.clone());
                        tokio::spawn(async move {
                            // Another replica may be draining it: then it is theirs.
                            let key = format!("notify-channel:{channel}");
                            if notifier.claims.claim(&key).await {
                                if drain(&notifier, channel, &last_sent, &key).await.is_err() {
                                    // The database failed us; the messages stay pending.
                                    // Wait before the next look rather than spin.
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                }
                                notifier.claims.release(&key).await;
                            }
                            draining.lock().unwrap_or_else(|p| p.into_inner()).remove(&channel);
                            // Messages enqueued while it drained wait for a look.
                            notifier.wake.notify_one();
                        });
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the notification outbox"),
        }
        let wait = match notifier.store.next_delivery_due().await {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_millis()).clamp(0, 30_000) as u64),
            _ => IDLE_CHECK,
        };
        tokio::select! {
            _ = notifier.wake.notified() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
        }
    }
}

/// The outbox's name for personal email, which has no channel row.
const PERSONAL: i64 = 0;

/// Personal email goes through the configured mail server to the person's address.
fn personal_settings(notifier: &Notifier, message: &OutboxRow) -> Result<ChannelSettings, String> {
    let (smtp_url, from) =
        notifier.personal_mail.as_deref().ok_or_else(|| "no mail server is configured any more".to_string())?;
    let to = message.recipient.clone().ok_or_else(|| "the message has no recipient".to_string())?;
    Ok(ChannelSettings::Email { smtp_url: smtp_url.clone(), from: from.clone(), to: vec![to] })
}

/// Sends a channel's due messages until none is left.
async fn drain(notifier: &Notifier, channel_id: i64, last_sent: &LastSent, claim: &str) -> Result<(), sqlx::Error> {
    loop {
        let due = match notifier.store.due_deliveries(channel_id, now_millis(), 20).await {
            Ok(due) if !due.is_empty() => due,
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::error!(channel_id, error = %e, "reading due notifications");
                return Err(e);
            }
        };
        let channel = match channel_id {
            PERSONAL => None,
            _ => match notifier.store.channel_secret(channel_id).await {
                Ok(Some(channel)) => Some(notifier.open(&channel.name, &channel.sealed_settings)),
                Ok(None) => return Ok(()), // removed meanwhile, with its messages
                Err(e) => {
                    tracing::error!(channel_id, error = %e, "reading a channel");
                    return Err(e);
                }
            },
        };
        for message in due {
            // Renewed before each message; lost (taken over after it expired), the
            // channel is another replica's now.
            if !notifier.claims.claim(claim).await {
                return Ok(());
            }
            let settings = match &channel {
                Some(settings) => settings.clone(),
                None => personal_settings(notifier, &message),
            };
            let previous = last_sent.lock().unwrap_or_else(|p| p.into_inner()).get(&channel_id).copied();
            if let (Ok(ChannelSettings::Slack { .. }), Some(last)) = (&settings, previous) {
                tokio::time::sleep_until(last + SLACK_SPACING).await;
            }
            let attempt = match &settings {
                Ok(settings) => send(notifier, settings, &message).await,
                Err(why) => Attempt::Refused(why.clone()),
            };
            last_sent.lock().unwrap_or_else(|p| p.into_inner()).insert(channel_id, Instant::now());
            if let Err(e) = record(notifier, &message, &attempt).await {
                tracing::error!(channel_id, error = %e, "recording a delivery attempt");
                return Err(e);
            }
        }
    }
}

async fn send(notifier: &Notifier, settings: &ChannelSettings, message: &OutboxRow) -> Attempt {
    let notice: Notice = match serde_json::from_str(&message.notice) {
        Ok(notice) => notice,
        Err(_) => return Attempt::Refused("the stored message is damaged".into()),
    };
    match settings {
        ChannelSettings::Slack { webhook_url } => slack::send(&notifier.http, webhook_url, &notice).await,
        ChannelSettings::Webhook { url, secret } => {
            webhook::send(&notifier.http, url, secret, message.id, &notice).await
        }
        ChannelSettings::Email { smtp_url, from, to } => email::send(smtp_url, from, to, &notice).await,
    }
}

async fn record(notifier: &Notifier, message: &OutboxRow, attempt: &Attempt) -> Result<(), sqlx::Error> {
    let attempts = message.attempts + 1;
    let (state, error, retry_at) = after_attempt(attempts, attempt);
    if let Some(error) = &error {
        tracing::warn!(delivery = message.id, attempts, state = state.as_str(), error, "notification not delivered");
    }
    notifier.store.record_attempt(message.id, state, error.as_deref(), retry_at).await
}

/// What the `attempts`th attempt means for a queued message: its new state, the error
/// to keep, and when it is tried next (backoff, or the receiver's `Retry-After`).
pub fn after_attempt(attempts: i64, attempt: &Attempt) -> (DeliveryState, Option<String>, i64) {
    match attempt {
        Attempt::Delivered => (DeliveryState::Delivered, None, now_millis()),
        Attempt::Refused(why) => (DeliveryState::Failed, Some(why.clone()), now_millis()),
        Attempt::Retry { error, .. } if attempts >= MAX_ATTEMPTS => {
            (DeliveryState::Failed, Some(format!("gave up after {attempts} attempts: {error}")), now_millis())
        }
        Attempt::Retry { error, after } => {
            let wait =
                after.map(|a| a.min(MAX_RETRY_AFTER)).unwrap_or_else(|| crate::jobs::backoff(attempts, MAX_BACKOFF));
            (DeliveryState::Pending, Some(error.clone()), now_millis() + wait.as_millis() as i64)
        }
    }
}

/// How an HTTP receiver's answer is taken: 2xx delivered; 429 and 5xx retried (with the
/// `Retry-After` seconds when given); other statuses refused.
pub fn http_attempt(status: reqwest::StatusCode, retry_after: Option<&str>, body: &str) -> Attempt {
    let said = body.chars().take(200).collect::<String>();
    if status.is_success() {
        Attempt::Delivered
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let after = retry_after.and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs);
        Attempt::Retry { error: format!("{status}: {said}"), after }
    } else {
        Attempt::Refused(format!("{status}: {said}"))
    }
}

/// A connection or timeout error: retried.
pub fn network_attempt(error: &reqwest::Error) -> Attempt {
    let what = if error.is_timeout() { "timed out" } else { "cannot connect" };
    Attempt::Retry { error: format!("{what}: {}", without_url(error)), after: None }
}

/// reqwest's message names the URL, which can hold the webhook's secret token.
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| "request failed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_answers_map_to_retry_or_refusal() {
        assert_eq!(http_attempt(reqwest::StatusCode::OK, None, "ok"), Attempt::Delivered);
        let limited = http_attempt(reqwest::StatusCode::TOO_MANY_REQUESTS, Some("3"), "");
        assert!(matches!(limited, Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(3)));
        assert!(matches!(http_attempt(reqwest::StatusCode::BAD_GATEWAY, None, ""), Attempt::Retry { after: None, .. }));
        assert!(
            matches!(http_attempt(reqwest::StatusCode::NOT_FOUND, None, "no_service"), Attempt::Refused(m) if m.contains("no_service"))
        );
    }
}
