//! Cross-site request forgery protection for every state-changing request that a
//! browser's cookies could authenticate, server functions included. Modern browsers
//! say where a request comes from (`Sec-Fetch-Site`, `Origin`); a request from another
//! site is refused. Requests with neither header come from programs, not browsers, and
//! carry no one's cookies unless they hold them; requests with a bearer token do not
//! use cookies at all.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_app::error::AppError;

use crate::error::HttpError;
use crate::state::AppState;

pub async fn protect(State(s): State<AppState>, request: Request<Body>, next: Next) -> Response {
    if is_allowed(request.method(), request.headers(), s.auth.public_origin.as_deref()) {
        next.run(request).await
    } else {
        HttpError(AppError::forbidden("refused a cross-site request (CSRF protection): use Ferry from its own address"))
            .into_response()
    }
}

pub fn is_allowed(method: &Method, headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || headers.contains_key(AUTHORIZATION) {
        return true;
    }
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let trusted = |o: &str| public_origin.is_some_and(|p| p.eq_ignore_ascii_case(o));
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") => return true,
        Some(_) => return origin.is_some_and(trusted),
        None => {}
    }
    origin.is_none_or(|origin| is_own_origin(origin, headers, public_origin))
}

/// Whether a websocket handshake may go on. Browsers send `Origin` with every one and
/// attach Ferry's cookie whatever page opened it; `SameSite` does not help, because an
/// app on another port of the same host is the same *site*. So a handshake carrying an
/// `Origin` must come from Ferry's own; one with a bearer token, or from a program that
/// sends no `Origin`, carries no one else's cookie.
pub fn websocket_allowed(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if headers.contains_key(AUTHORIZATION) {
        return true;
    }
    match headers.get(ORIGIN).map(|v| v.to_str()) {
        None => true,
        Some(Ok(origin)) => is_own_origin(origin, headers, public_origin),
        Some(Err(_)) => false,
    }
}

/// The configured public origin, or the very host and port the request was sent to.
fn is_own_origin(origin: &str, headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if public_origin.is_some_and(|p| p.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn cross_site_posts_are_refused_and_same_origin_ones_pass() {
        let post = Method::POST;
        assert!(is_allowed(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")]), None));
        assert!(is_allowed(&post, &headers(&[("sec-fetch-site", "same-origin")]), None));
        assert!(!is_allowed(
            &post,
            &headers(&[("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")]),
            None
        ));
        assert!(!is_allowed(
            &post,
            &headers(&[("sec-fetch-site", "same-site"), ("origin", "https://a.corp.test")]),
            None
        ));
        let own = [("host", "ferry.corp.test"), ("origin", "https://ferry.corp.test")];
        assert!(is_allowed(&post, &headers(&own), None));
        let evil = [("host", "ferry.corp.test"), ("origin", "https://evil.test")];
        assert!(!is_allowed(&post, &headers(&evil), None));
        assert!(is_allowed(&post, &headers(&evil), Some("https://evil.test")), "a configured origin is trusted");
        assert!(is_allowed(&post, &headers(&[("host", "x")]), None), "programs send neither header");
        assert!(is_allowed(&post, &headers(&[("authorization", "Bearer x"), ("origin", "https://evil.test")]), None));
    }

    #[test]
    fn websockets_from_another_port_of_the_same_host_are_refused() {
        let own = [("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")];
        assert!(websocket_allowed(&headers(&own), None));
        let app_next_door = [("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8081")];
        assert!(!websocket_allowed(&headers(&app_next_door), None));
        let configured = [("host", "10.0.0.5:8080"), ("origin", "https://ferry.corp.test")];
        assert!(websocket_allowed(&headers(&configured), Some("https://ferry.corp.test")));
        assert!(!websocket_allowed(&headers(&[("host", "x"), ("origin", "null")]), None));
        assert!(websocket_allowed(&headers(&[("host", "x")]), None), "programs send no Origin");
    }
}
