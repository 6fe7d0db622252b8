//! Email through SMTP (lettre): the title as the subject, a plain-text and an HTML
//! part. A temporary refusal (4xx) or a connection failure is retried; a permanent
//! one (5xx: unknown mailbox, relaying denied) fails the message.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::notice::facts;
use super::outbox::Attempt;
use super::Notice;

const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn send(smtp_url: &str, from: &str, to: &[String], notice: &Notice) -> Attempt {
    let message = match message(from, to, notice) {
        Ok(message) => message,
        Err(why) => return Attempt::Refused(why),
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url) {
        Ok(builder) => builder.timeout(Some(SMTP_TIMEOUT)).build(),
        // The error would quote the URL, password included.
        Err(_) => return Attempt::Refused("smtp_url is not a valid SMTP address".into()),
    };
    match transport.send(message).await {
        Ok(_) => Attempt::Delivered,
        Err(e) if e.is_permanent() => Attempt::Refused(format!("the mail server refused: {e}")),
        Err(e) => Attempt::Retry { error: format!("the mail server did not accept it yet: {e}"), after: None },
    }
}

pub fn message(from: &str, to: &[String], n: &Notice) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("from `{from}`: {e}"))?;
    let mut builder = Message::builder().from(from).subject(n.title.clone());
    for address in to {
        let mailbox: Mailbox = address.parse().map_err(|e| format!("to `{address}`: {e}"))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(plain(n), html(n)))
        .map_err(|e| format!("cannot build the message: {e}"))
}

fn plain(n: &Notice) -> String {
    let mut text = format!("{}\n\n", n.title);
    for (label, value) in facts(n) {
        text.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(step) = &n.failing_step {
        text.push_str(&format!("\nFailed step: {step}\n"));
        for line in &n.log_excerpt {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text.push_str(&format!("\n{}\n", n.link));
    text
}

fn html(n: &Notice) -> String {
    let mut rows = String::new();
    for (label, value) in facts(n) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding-right:1em\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        ));
    }
    let mut failure = String::new();
    if let Some(step) = &n.failing_step {
        failure = format!(
            "<p>Failed step: <code>{}</code></p><pre style=\"background:#f4f4f4;padding:8px\">{}</pre>",
            escape(step),
            escape(&n.log_excerpt.join("\n"))
        );
    }
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2><table>{rows}</table>{failure}\
         <p><a href=\"{}\">Open in Ferry</a></p></body></html>",
        escape(&n.title),
        escape(&n.link)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
