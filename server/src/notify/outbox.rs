//! Delivers the outbox: each message is a job of the durable queue (`crate::jobs`,
//! enqueued with the message), keyed by its channel, so a channel sends its messages
//! one at a time, oldest first, and one slow channel delays only itself; Slack webhooks
//! get at most one message a second (the key's next job is held back, whichever
//! replica sends it). Failures are retried with exponential backoff (a `Retry-After`
//! is honoured), refusals and exhausted retries are marked failed. Pending messages
//! survive a restart and a replica's death: the job waits in the table.

use std::time::Duration;

use ferry_app::model::{ChannelSettings, DeliveryState};

use super::{email, slack, webhook, Notice, Notifier};
use crate::jobs::JobEnd;
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

/// Delivers message `id` of the outbox, if it is still pending (the job of
/// `DELIVER_NOTIFICATION`).
pub async fn deliver(notifier: &Notifier, id: i64) -> Result<JobEnd, String> {
    let store = &notifier.store;
    let Some(message) = store.pending_delivery(id).await.map_err(|e| e.to_string())? else {
        return Ok(JobEnd::Done); // delivered, failed, or its channel removed
    };
    let settings = match message.channel_id {
        None => personal_settings(notifier, &message),
        Some(channel_id) => match store.channel_secret(channel_id).await.map_err(|e| e.to_string())? {
            Some(channel) => notifier.open(&channel.name, &channel.sealed_settings),
            None => return Ok(JobEnd::Done), // removed meanwhile, with its messages
        },
    };
    let attempt = match &settings {
        Ok(settings) => send(notifier, settings, &message).await,
        Err(why) => Attempt::Refused(why.clone()),
    };
    let attempts = message.attempts + 1;
    let (state, error, retry_at) = after_attempt(attempts, &attempt);
    if let Some(error) = &error {
        tracing::warn!(delivery = message.id, attempts, state = state.as_str(), error, "notification not delivered");
    }
    store.record_attempt(message.id, state, error.as_deref(), retry_at).await.map_err(|e| e.to_string())?;
    Ok(match (state, &settings) {
        (DeliveryState::Pending, _) => JobEnd::RetryAt(retry_at, error.unwrap_or_default()),
        (_, Ok(ChannelSettings::Slack { .. })) => {
            JobEnd::DoneHoldingKeyUntil(now_millis() + SLACK_SPACING.as_millis() as i64)
        }
        _ => JobEnd::Done,
    })
}

/// Personal email goes through the configured mail server to the person's address.
fn personal_settings(notifier: &Notifier, message: &OutboxRow) -> Result<ChannelSettings, String> {
    let (smtp_url, from) =
        notifier.personal_mail.as_deref().ok_or_else(|| "no mail server is configured any more".to_string())?;
    let to = message.recipient.clone().ok_or_else(|| "the message has no recipient".to_string())?;
    Ok(ChannelSettings::Email { smtp_url: smtp_url.clone(), from: from.clone(), to: vec![to] })
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
