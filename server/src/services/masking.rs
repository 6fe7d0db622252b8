//! Hides a deployment's secret values in every text derived from its run: log lines,
//! failure reasons of the deployment and of each host (which notifications, the
//! notification center and forge statuses quote). Besides each value as it is, its
//! lines (a multi-line key shows up one line at a time in a log) and its common
//! encodings (base64, URL-encoded, JSON-escaped) are hidden too.
//!
//! What it cannot catch is in docs/security.md: a value printed in pieces, reversed,
//! hashed, encrypted, or encoded some other way (hex, base64 of a larger text that
//! includes it at an offset that is not a multiple of three).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// What a secret looks like in a log.
pub const MASK: &str = "••••••";

/// Values shorter than this are not searched for: they would mask ordinary text.
const SHORTEST: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Every form to hide, longest first so that a form containing another is hidden whole.
    forms: Vec<String>,
}

impl Masker {
    pub fn new(secrets: &[String]) -> Self {
        let mut forms = Vec::new();
        for secret in secrets {
            let value = secret.trim_end_matches(['\n', '\r']);
            let mut add = |form: String| {
                if form.chars().count() >= SHORTEST {
                    forms.push(form);
                }
            };
            add(value.to_string());
            for line in value.lines() {
                add(line.trim_end_matches('\r').to_string());
            }
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                add(engine.encode(value));
            }
            add(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
            add(percent_encoded(value));
            let json = serde_json::to_string(value).unwrap_or_default();
            add(json.trim_matches('"').to_string());
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Self { forms }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for form in &self.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), MASK);
            }
        }
        text
    }

    pub fn mask_opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| self.mask(&t))
    }
}

/// Every byte but unreserved ones as `%XX` (as `encodeURIComponent` writes, which
/// `form_urlencoded` does not: it writes spaces as `+`).
fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_its_lines_and_its_encodings_are_hidden() {
        let key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2E\n-----END KEY-----\n".to_string();
        let token = "p@ss word/+?".to_string();
        let masker = Masker::new(&[key, token.clone(), "ab".into()]);
        assert_eq!(masker.mask("line AAAAB3NzaC1yc2E here"), format!("line {MASK} here"));
        assert_eq!(masker.mask("token=p@ss word/+?"), format!("token={MASK}"));
        let b64 = STANDARD.encode(&token);
        assert_eq!(masker.mask(&format!("Authorization: Basic {b64}")), format!("Authorization: Basic {MASK}"));
        assert_eq!(masker.mask("https://x/?t=p%40ss%20word%2F%2B%3F"), format!("https://x/?t={MASK}"));
        assert_eq!(masker.mask("https://x/?t=p%40ss+word%2F%2B%3F"), format!("https://x/?t={MASK}"));
        let json = serde_json::json!({ "t": "quote\"d\\secret" }).to_string();
        let masker = Masker::new(&["quote\"d\\secret".to_string()]);
        assert_eq!(masker.mask(&json), format!("{{\"t\":\"{MASK}\"}}"));
        // Short values would hide ordinary words: not searched for.
        assert_eq!(Masker::new(&["ab".into()]).mask("abc"), "abc");
    }
}
