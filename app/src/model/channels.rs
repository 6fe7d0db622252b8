//! Notification channels (Slack, email, signed webhooks), the routing rules that send
//! deployment events to them, and the deliveries of the outbox. A channel's settings
//! hold its secrets: they go in when it is added and never come back out; a channel is
//! shown by a summary without them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    Email,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Slack, Self::Email, Self::Webhook].into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a channel sends, with its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSettings {
    /// A Slack incoming webhook (`https://hooks.slack.com/services/…`).
    Slack { webhook_url: String },
    /// Mail through an SMTP server: `smtp://user:password@host:587?tls=required`
    /// (STARTTLS), `smtps://…:465` (TLS) or `smtp://host:25` (plain, for local relays).
    Email {
        smtp_url: String,
        from: String,
        #[serde(default)]
        to: Vec<String>,
    },
    /// JSON posted to any URL, signed with HMAC-SHA256 of `{timestamp}.{body}` under
    /// `secret` (header `X-Ferry-Signature: sha256=<hex>`, `X-Ferry-Timestamp`).
    Webhook { url: String, secret: String },
}

impl ChannelSettings {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelSettings::Slack { .. } => ChannelKind::Slack,
            ChannelSettings::Email { .. } => ChannelKind::Email,
            ChannelSettings::Webhook { .. } => ChannelKind::Webhook,
        }
    }

    /// Refuses settings that cannot work, naming the field.
    pub fn check(&self) -> Result<(), String> {
        match self {
            ChannelSettings::Slack { webhook_url } => web_address("webhook_url", webhook_url),
            ChannelSettings::Webhook { url, secret } => {
                web_address("url", url)?;
                if secret.chars().count() < 16 || secret.len() > 200 {
                    return Err("secret: use 16 to 200 characters (e.g. `openssl rand -hex 32`)".into());
                }
                Ok(())
            }
            ChannelSettings::Email { smtp_url, from, to } => {
                let (scheme, rest) = smtp_url.split_once("://").unwrap_or(("", ""));
                if !matches!(scheme, "smtp" | "smtps") || host_of(rest).is_empty() {
                    return Err("smtp_url: give smtp://host:port or smtps://host:port (user:password@ before the host when the server needs them)".into());
                }
                mailbox("from", from)?;
                if to.is_empty() || to.len() > 50 {
                    return Err("to: give 1 to 50 addresses".into());
                }
                to.iter().try_for_each(|address| mailbox("to", address))
            }
        }
    }

    /// What the channel is shown as: where it sends, without any secret.
    pub fn summary(&self) -> String {
        match self {
            ChannelSettings::Slack { webhook_url } => {
                format!("Slack webhook at {}", host_of(after_scheme(webhook_url)))
            }
            ChannelSettings::Webhook { url, .. } => {
                let rest = after_scheme(url);
                let path = rest.split_once('/').map(|(_, p)| p.split(['?', '#']).next().unwrap_or("")).unwrap_or("");
                format!("POST {}/{path}", host_of(rest))
            }
            ChannelSettings::Email { smtp_url, to, .. } => {
                format!("email to {} via {}", to.join(", "), host_of(after_scheme(smtp_url)))
            }
        }
    }
}

fn after_scheme(url: &str) -> &str {
    url.split_once("://").map(|(_, rest)| rest).unwrap_or(url)
}

/// `host[:port]` of what follows the scheme, without any `user:password@`.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').map(|(_, host)| host).unwrap_or(authority)
}

fn web_address(field: &str, url: &str) -> Result<(), String> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !host_of(after_scheme(url)).is_empty()
        && url.len() <= 2000
        && !url.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: give an http:// or https:// address"))
    }
}

fn mailbox(field: &str, address: &str) -> Result<(), String> {
    let address = address.trim();
    let bare = address.rsplit_once('<').map(|(_, a)| a.trim_end_matches('>')).unwrap_or(address);
    let valid = bare.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
        && address.len() <= 254
        && !address.contains(['\r', '\n', ',']);
    if valid {
        Ok(())
    } else {
        Err(format!("{field}: `{address}` is not an email address"))
    }
}

/// Adds a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    pub settings: ChannelSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// Where it sends, without secrets.
    pub summary: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What happened, as routing rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Started,
    Succeeded,
    Failed,
    RolledBack,
    ApprovalNeeded,
    AgentOffline,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] =
        [Self::Started, Self::Succeeded, Self::Failed, Self::RolledBack, Self::ApprovalNeeded, Self::AgentOffline];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
            Self::ApprovalNeeded => "approval_needed",
            Self::AgentOffline => "agent_offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled back",
            Self::ApprovalNeeded => "approval needed",
            Self::AgentOffline => "agent offline",
        }
    }
}

/// Sends some events of a project (any when absent) and environment (any when absent)
/// to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub channel_id: i64,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub events: Vec<NotifyEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    pub id: i64,
    pub channel_id: i64,
    pub channel: String,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub events: Vec<NotifyEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Delivered,
    /// Refused for good, or out of retries.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One message to one channel, as the outbox tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub channel_id: i64,
    pub channel: String,
    pub event: String,
    pub title: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Everything the notification settings show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifySettings {
    pub channels: Vec<ChannelView>,
    pub rules: Vec<RuleView>,
    /// The newest deliveries.
    pub deliveries: Vec<DeliveryView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_show_where_but_no_secret() {
        let slack = ChannelSettings::Slack { webhook_url: "https://hooks.slack.com/services/T0/B0/SECRET".into() };
        assert_eq!(slack.summary(), "Slack webhook at hooks.slack.com");
        let mail = ChannelSettings::Email {
            smtp_url: "smtp://ops:hunter2@mail.example.com:587?tls=required".into(),
            from: "Ferry <ferry@example.com>".into(),
            to: vec!["oncall@example.com".into()],
        };
        assert_eq!(mail.summary(), "email to oncall@example.com via mail.example.com:587");
        let hook =
            ChannelSettings::Webhook { url: "https://ops.example.com/in?token=SECRET".into(), secret: "x".repeat(16) };
        assert_eq!(hook.summary(), "POST ops.example.com/in");
    }

    #[test]
    fn bad_settings_name_the_field() {
        let short = ChannelSettings::Webhook { url: "https://x.example".into(), secret: "short".into() };
        assert!(short.check().unwrap_err().starts_with("secret:"));
        let ftp = ChannelSettings::Slack { webhook_url: "ftp://hooks.slack.com/x".into() };
        assert!(ftp.check().unwrap_err().starts_with("webhook_url:"));
        let mail = ChannelSettings::Email {
            smtp_url: "smtp://mail.example.com:25".into(),
            from: "ferry@example.com".into(),
            to: vec!["nobody".into()],
        };
        assert_eq!(mail.check().unwrap_err(), "to: `nobody` is not an email address");
        let injected = ChannelSettings::Email {
            smtp_url: "smtp://mail.example.com".into(),
            from: "ferry@example.com\r\nBcc: x@evil.example".into(),
            to: vec!["a@example.com".into()],
        };
        assert!(injected.check().is_err());
    }
}
