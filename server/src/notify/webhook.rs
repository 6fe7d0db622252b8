//! Signed webhooks: the notice as JSON, posted to any URL. The receiver checks
//! `X-Ferry-Signature: sha256=<hex>`, the HMAC-SHA256 under the channel's secret of
//! `{X-Ferry-Timestamp}.{body}`, and refuses old timestamps, so a captured request
//! can neither be altered nor replayed later.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::outbox::{http_attempt, network_attempt, Attempt};
use super::Notice;

pub async fn send(http: &reqwest::Client, url: &str, secret: &str, delivery_id: i64, notice: &Notice) -> Attempt {
    let body = body(delivery_id, notice);
    let timestamp = chrono::Utc::now().timestamp();
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-ferry-event", notice.event.as_str())
        .header("x-ferry-delivery", delivery_id.to_string())
        .header("x-ferry-timestamp", timestamp.to_string())
        .header("x-ferry-signature", signature(secret, timestamp, &body))
        .body(body);
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
            let text = response.text().await.unwrap_or_default();
            http_attempt(status, retry_after.as_deref(), &text)
        }
        Err(e) => network_attempt(&e),
    }
}

/// The notice with the delivery's id, which stays the same across retries (receivers
/// use it to drop a duplicate).
pub fn body(delivery_id: i64, notice: &Notice) -> String {
    let mut value = serde_json::to_value(notice).unwrap_or_else(|_| json!({}));
    value["delivery_id"] = json!(delivery_id);
    value.to_string()
}

pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("0123456789abcdef", 1_700_000_000, "{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("0123456789abcdef", 1_700_000_001, "{}"));
        assert_ne!(a, signature("0123456789abcdef", 1_700_000_000, "{ }"));
        assert_ne!(a, signature("0123456789abcdeF", 1_700_000_000, "{}"));
    }
}
