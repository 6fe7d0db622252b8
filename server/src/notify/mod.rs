//! Notifications beyond the in-app center: deployment and agent events become notices,
//! the routing rules pick the channels (Slack, email, signed webhooks) that hear of
//! them, and each message waits in the durable outbox until a job of the durable queue
//! delivers it. Enqueueing is one transaction; sending happens on the queue's tasks, so
//! a slow or failing channel never slows a deployment.

pub mod center;
mod email;
mod notice;
mod outbox;
mod slack;
mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_app::model::{ChannelSettings, DeploymentView, NotifyEvent, RuleView};

pub use notice::{finished_event, Notice};
pub use outbox::{after_attempt, Attempt};

use crate::auth::authenticate::caller_of;
use crate::events::EventBus;
use crate::forge::Reporter;
use crate::store::{NewDelivery, Store};
use crate::vault::Vault;

#[derive(Clone)]
pub struct Notifier {
    store: Store,
    bus: EventBus,
    vault: Arc<Vault>,
    /// Where links in messages point: the public URL, else the listening address.
    base_url: Arc<str>,
    http: reqwest::Client,
    /// The mail server and sender for people's own email, if configured.
    personal_mail: Option<Arc<(String, String)>>,
    /// Reports deployments to linked repositories on GitHub and GitLab.
    forges: Reporter,
}

impl Notifier {
    pub fn new(
        store: Store,
        bus: EventBus,
        vault: Arc<Vault>,
        base_url: &str,
        personal_mail: Option<(String, String)>,
        forges: Reporter,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let base_url = base_url.trim_end_matches('/').into();
        let personal_mail = personal_mail.map(Arc::new);
        Self { store, bus, vault, base_url, http, personal_mail, forges }
    }

    /// The reporter of deployments to linked repositories.
    pub fn forges(&self) -> &Reporter {
        &self.forges
    }

    /// Where Ferry is reached: its public URL, else the address it listens on.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether people can have notifications sent to their own address.
    pub fn personal_email(&self) -> bool {
        self.personal_mail.is_some()
    }

    /// Delivers message `id` of the outbox (a job of the durable queue).
    pub async fn deliver(&self, id: i64) -> Result<crate::jobs::JobEnd, String> {
        outbox::deliver(self, id).await
    }

    pub async fn deployment_started(&self, d: &DeploymentView) {
        let notice = notice::for_deployment(&self.store, &self.base_url, d, NotifyEvent::Started).await;
        self.route(&notice, &format!("deployment:{}:started", d.id)).await;
    }

    /// The in-app notification, and the routed ones, for a finished deployment.
    pub async fn deployment_finished(&self, d: &DeploymentView) {
        center::deployment_finished(&self.store, &self.bus, d).await;
        let Some(event) = finished_event(d) else { return };
        let notice = notice::for_deployment(&self.store, &self.base_url, d, event).await;
        self.route(&notice, &format!("deployment:{}:{}", d.id, event.as_str())).await;
    }

    pub async fn approval_requested(&self, d: &DeploymentView) {
        center::approval_requested(&self.store, &self.bus, d).await;
        let notice = notice::for_deployment(&self.store, &self.base_url, d, NotifyEvent::ApprovalNeeded).await;
        self.route(&notice, &format!("deployment:{}:approval_needed", d.id)).await;
    }

    /// An agent stayed away longer than the grace period.
    /// An agent stayed away longer than the grace period, from `since` (ms; names the
    /// absence, so a job run twice sends once).
    pub async fn agent_offline(&self, agent_id: i64, name: &str, labels: &BTreeMap<String, String>, since: i64) {
        let notice = notice::for_agent(&self.base_url, name, labels);
        center::agent_offline(&self.store, &self.bus, &notice.title).await;
        let key = format!("agent:{agent_id}:offline:{since}");
        self.route(&notice, &key).await;
    }

    /// Enqueues a test message to one channel.
    pub async fn send_test(&self, channel_id: i64, by: &str) -> Result<(), sqlx::Error> {
        let notice = notice::test(&self.base_url, by);
        let key = format!("test:{channel_id}:{}", notice.at.timestamp_nanos_opt().unwrap_or_default());
        self.enqueue(Some(channel_id), None, &notice, &key).await?;
        Ok(())
    }

    /// Seals settings for storing; opens them for sending.
    pub fn seal(&self, name: &str, settings: &ChannelSettings) -> Result<String, String> {
        let json = serde_json::to_string(settings).map_err(|e| e.to_string())?;
        self.vault.seal(&seal_context(name), &json)
    }

    fn open(&self, name: &str, sealed: &str) -> Result<ChannelSettings, String> {
        let json = self.vault.open_value(&seal_context(name), sealed)?;
        serde_json::from_str(&json).map_err(|_| "the stored channel settings are damaged".to_string())
    }

    /// Enqueues the notice for every channel a rule sends it to (each channel once).
    async fn route(&self, notice: &Notice, key: &str) {
        let rules = match self.store.rules().await {
            Ok(rules) => rules,
            Err(e) => return tracing::error!(error = %e, "reading notification rules"),
        };
        let mut channels: Vec<i64> = rules.iter().filter(|r| matches(r, notice)).map(|r| r.channel_id).collect();
        channels.sort_unstable();
        channels.dedup();
        for channel in channels {
            if let Err(e) = self.enqueue(Some(channel), None, notice, &format!("{key}:{channel}")).await {
                tracing::error!(channel, error = %e, "enqueueing a notification");
            }
        }
        if self.personal_mail.is_some() {
            self.email_people(notice, key).await;
        }
    }

    /// Emails the people who asked for this event and may see its project.
    async fn email_people(&self, notice: &Notice, key: &str) {
        let subscribers = match self.store.email_subscribers(notice.event).await {
            Ok(subscribers) => subscribers,
            Err(e) => return tracing::error!(error = %e, "reading email preferences"),
        };
        let project_id = match notice.deployment_id {
            Some(id) => self.store.deployment(id).await.ok().flatten().map(|d| d.project_id),
            None => None,
        };
        for (user_id, address) in subscribers {
            if let Some(project_id) = project_id {
                let Ok(Some(user)) = self.store.user(user_id).await else { continue };
                if !caller_of(&self.store, &user).await.is_ok_and(|c| c.can_view(project_id)) {
                    continue;
                }
            }
            if let Err(e) = self.enqueue(None, Some(&address), notice, &format!("{key}:user:{user_id}")).await {
                tracing::error!(user_id, error = %e, "enqueueing an email");
            }
        }
    }

    async fn enqueue(
        &self,
        channel_id: Option<i64>,
        recipient: Option<&str>,
        notice: &Notice,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        let json = serde_json::to_string(notice).unwrap_or_default();
        let (event, title) = (notice.event.as_str(), notice.title.as_str());
        let delivery = NewDelivery { channel_id, recipient, dedupe_key: key, event, title, notice: &json };
        if self.store.enqueue_delivery(&delivery).await? {
            crate::jobs::wake();
        }
        Ok(())
    }
}

/// A sealed value opens only for the channel it was sealed for.
fn seal_context(name: &str) -> String {
    format!("notify-channel:{name}")
}

/// Whether a rule sends this notice: its events include it, and its project and
/// environment (when set) are the notice's. An agent's environment is its `env` label;
/// the environment `previews` stands for every preview (`pr-<number>`).
fn matches(rule: &RuleView, notice: &Notice) -> bool {
    let same = |wanted: &Option<String>, actual: &Option<String>| wanted.is_none() || wanted == actual;
    let previews = rule.environment.as_deref() == Some(ferry_app::model::PREVIEWS_RULE)
        && notice.environment.as_deref().and_then(ferry_engine::pipeline::preview_number).is_some();
    rule.events.contains(&notice.event)
        && same(&rule.project, &notice.project)
        && (previews || same(&rule.environment, &notice.environment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_app::model::NotifyEvent;

    fn notice(environment: &str) -> Notice {
        Notice {
            event: NotifyEvent::Failed,
            title: String::new(),
            project: Some("shop".into()),
            environment: Some(environment.into()),
            release: None,
            deployment_id: None,
            requested_by: None,
            status: "failed".into(),
            duration_seconds: None,
            reason: None,
            failing_step: None,
            log_excerpt: Vec::new(),
            agent: None,
            link: String::new(),
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_rule_for_previews_routes_every_preview_and_nothing_else() {
        let rule = |environment: Option<&str>| RuleView {
            id: 1,
            channel_id: 1,
            channel: "team".into(),
            project: None,
            environment: environment.map(str::to_string),
            events: vec![NotifyEvent::Failed],
        };
        let previews = rule(Some("previews"));
        assert!(matches(&previews, &notice("pr-7")) && matches(&previews, &notice("pr-12")));
        assert!(!matches(&previews, &notice("production")));
        assert!(!matches(&rule(Some("production")), &notice("pr-7")));
        assert!(matches(&rule(None), &notice("pr-7")), "a rule for every environment includes previews");
    }
}
