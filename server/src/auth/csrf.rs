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
    let Some(origin) = origin else {
        return true;
    };
    if trusted(origin) {
        return true;
    }
    // Same origin: the Origin's host and port are those the request was sent to.
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
}
