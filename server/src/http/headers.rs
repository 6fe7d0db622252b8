//! Security headers on every response. The Content-Security-Policy lets the page run
//! its own script files and WebAssembly (`'wasm-unsafe-eval'`), and of inline code only
//! the exact bootstrap scripts of the built `index.html`, by hash: an injected script
//! or event handler does not run. The page cannot be framed (clickjacking), responses
//! are not sniffed into another type, and a link to elsewhere sends no path.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The policy for a site whose `index.html` is `index_html` (`None`: no SPA built).
pub fn content_security_policy(index_html: Option<&str>) -> String {
    let hashes: String = index_html
        .map(inline_scripts)
        .unwrap_or_default()
        .iter()
        .map(|script| {
            let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
            format!(" 'sha256-{digest}'")
        })
        .collect();
    // Style attributes are set by the views (bar widths, the log's virtual scroll);
    // style elements and sheets come only from Ferry itself.
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The bodies of the inline `<script>` elements of a page (those without `src`).
fn inline_scripts(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after_tag = &rest[start..];
        let Some(open_end) = after_tag.find('>') else { break };
        let attributes = &after_tag[..open_end];
        let body_and_rest = &after_tag[open_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else { break };
        if !attributes.contains(" src=") {
            found.push(body_and_rest[..close].to_string());
        }
        rest = &body_and_rest[close..];
    }
    found
}

/// Adds the headers to a response (those a handler set itself are kept).
pub fn secure(mut response: Response, policy: &HeaderValue) -> Response {
    let headers = response.headers_mut();
    let fixed: [(HeaderName, HeaderValue); 4] = [
        (header::CONTENT_SECURITY_POLICY, policy.clone()),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_own_inline_scripts_are_allowed() {
        let page = r#"<html><head><script type="module" src="/app.js"></script>
<script type="module">import init from '/app-1.js'; init('/app-1_bg.wasm');</script></head></html>"#;
        let policy = content_security_policy(Some(page));
        let expected = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(b"import init from '/app-1.js'; init('/app-1_bg.wasm');"));
        assert!(policy.contains(&format!("script-src 'self' 'wasm-unsafe-eval' 'sha256-{expected}';")), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 1, "the script with src needs no hash");
        assert!(!policy.contains("'unsafe-inline'; ") || policy.contains("style-src-attr 'unsafe-inline'"));
        assert!(!content_security_policy(None).contains("sha256"));
    }
}
