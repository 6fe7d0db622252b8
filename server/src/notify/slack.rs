//! Slack incoming webhooks: one message in Block Kit (a header, the facts as fields,
//! the failing step with its last lines, and a button to the deployment), with the
//! title as the plain `text` that notifications and old clients show.

use serde_json::{json, Value};

use super::notice::facts;
use super::outbox::{http_attempt, network_attempt, Attempt};
use super::Notice;
use ferry_app::model::NotifyEvent;

/// Slack's limits: header text 150 characters, section text 3000, ten fields.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELDS_MAX: usize = 10;

pub async fn send(http: &reqwest::Client, webhook_url: &str, notice: &Notice) -> Attempt {
    match http.post(webhook_url).json(&message(notice)).send().await {
        Ok(response) => {
            let status = response.status();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
            let body = response.text().await.unwrap_or_default();
            http_attempt(status, retry_after.as_deref(), &body)
        }
        Err(e) => network_attempt(&e),
    }
}

/// The Block Kit payload.
pub fn message(n: &Notice) -> Value {
    let fields: Vec<Value> = facts(n)
        .into_iter()
        .take(FIELDS_MAX)
        .map(|(label, value)| json!({"type": "mrkdwn", "text": clip(&format!("*{label}*\n{}", escape(&value)), 2000)}))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&n.title, HEADER_MAX), "emoji": true}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(step) = &n.failing_step {
        let mut text = format!("*Failed step:* `{}`", escape(step));
        if !n.log_excerpt.is_empty() {
            // Leave room for the fences; keep the end of the log, where the error is.
            let log = escape(&n.log_excerpt.join("\n"));
            let room = SECTION_MAX.saturating_sub(text.len() + 16);
            let tail: String = log.chars().rev().take(room).collect::<Vec<_>>().into_iter().rev().collect();
            text.push_str(&format!("\n```{tail}```"));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    let mut buttons = vec![json!({
        "type": "button",
        "text": {"type": "plain_text", "text": if n.deployment_id.is_some() { "Open deployment" } else { "Open Ferry" }},
        "url": n.link,
    })];
    if n.event == NotifyEvent::ApprovalNeeded {
        buttons.insert(
            0,
            json!({"type": "button", "style": "primary", "text": {"type": "plain_text", "text": "Review and approve"}, "url": n.link}),
        );
    }
    blocks.push(json!({"type": "actions", "elements": buttons}));
    json!({"text": n.title, "blocks": blocks})
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; the rest is literal.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(max - 1).collect();
        clipped.push('…');
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Notice {
        Notice {
            event: NotifyEvent::Failed,
            title: "✗ api failed in production: v1.4.2".into(),
            project: Some("api".into()),
            environment: Some("production".into()),
            release: Some("v1.4.2".into()),
            deployment_id: Some(7),
            requested_by: Some("alex".into()),
            status: "failed".into(),
            duration_seconds: Some(65),
            reason: Some("step `migrate` exited with 1".into()),
            failing_step: Some("migrate".into()),
            log_excerpt: vec!["error: relation <users> exists".into()],
            agent: None,
            link: "https://ferry.example.com/deployments/7".into(),
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_failure_names_the_step_quotes_the_log_and_links_the_deployment() {
        let message = message(&failed());
        assert_eq!(message["text"], "✗ api failed in production: v1.4.2");
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        let fields: Vec<&str> =
            blocks[1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
        assert!(fields.contains(&"*Environment*\nproduction") && fields.contains(&"*Duration*\n1m 05s"), "{fields:?}");
        let failure = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(failure.contains("`migrate`") && failure.contains("relation &lt;users&gt; exists"), "{failure}");
        assert_eq!(blocks[3]["elements"][0]["url"], "https://ferry.example.com/deployments/7");
    }

    #[test]
    fn a_huge_log_is_cut_to_slacks_limit_keeping_its_end() {
        let mut notice = failed();
        notice.log_excerpt = vec!["x".repeat(10_000), "the error".into()];
        let message = message(&notice);
        let text = message["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= SECTION_MAX && text.ends_with("the error```"), "{}", text.len());
    }
}
