//! Serves the single-page application Trunk built: from inside the binary (embedded at
//! build time from `dist/`), or from `site_dir` when one is configured (development).
//! Hashed assets are cached forever, `index.html` is revalidated on every load and is
//! served for every client-side route; the brotli and gzip copies that the post-build
//! step wrote are sent to clients that accept them, each with its own `ETag`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::map_response;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

const NOT_BUILT: &str = "<!DOCTYPE html><title>Ferry</title><h1>Ferry is running</h1>\
<p>The web interface has not been built. Run <code>scripts/run.sh</code> from the repository, \
which builds it with Trunk. The REST API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The web interface built into the binary. In debug builds rust-embed reads the same
/// files from disk on each request instead, so a rebuilt SPA shows without a rebuilt server.
#[derive(rust_embed::Embed)]
#[folder = "../dist/"]
#[allow_missing = true]
struct Embedded;

/// Where the web interface comes from.
#[derive(Debug, Clone)]
pub enum Site {
    /// The copy built into the binary.
    Embedded,
    /// A directory Trunk builds into (`site_dir`), for working on the interface.
    Dir(PathBuf),
}

impl Site {
    pub fn new(site_dir: Option<&Path>) -> Self {
        site_dir.map_or(Site::Embedded, |dir| Site::Dir(dir.to_path_buf()))
    }

    /// The page every route starts from, if the interface was built.
    pub fn index_html(&self) -> Option<String> {
        match self {
            Site::Embedded => Embedded::get("index.html").map(|file| String::from_utf8_lossy(&file.data).into_owned()),
            Site::Dir(dir) => std::fs::read_to_string(dir.join("index.html")).ok(),
        }
    }

    pub fn router(&self) -> Router {
        if self.index_html().is_none() {
            tracing::warn!(site = ?self, "no built web interface found; serving a notice instead");
            return Router::new().fallback(get(|| async { Html(NOT_BUILT) }));
        }
        match self {
            // No compression on the fly: every compressible file has brotli and gzip
            // copies (scripts/precompress.mjs), each with its own ETag, and a copy
            // compressed here would carry the plain file's.
            Site::Embedded => Router::new().fallback(get(embedded)),
            Site::Dir(dir) => {
                let index = dir.join("index.html");
                let files = ServeDir::new(dir).precompressed_br().precompressed_gzip().fallback(ServeFile::new(&index));
                Router::new().fallback_service(files).layer(map_response(cache_policy)).layer(CompressionLayer::new())
            }
        }
    }
}

/// A file of the embedded interface, in the best encoding the client accepts.
async fn embedded(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let Some(name) = embedded_name(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let accepted = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (file, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(accepted, coding))
        .find_map(|(coding, suffix)| Embedded::get(&format!("{name}{suffix}")).map(|file| (file, Some(coding))))
        .or_else(|| Embedded::get(&name).map(|file| (file, None)))
        .expect("embedded_name answers only files that exist");
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = if name.ends_with(".html") { REVALIDATE } else { IMMUTABLE };
    let mut response = if if_none_match(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(&name).first_or_octet_stream();
        let mut response = match (method, file.data) {
            (Method::HEAD, _) => Response::new(Body::empty()),
            (_, Cow::Borrowed(bytes)) => Response::new(Body::from(bytes)),
            (_, Cow::Owned(bytes)) => Response::new(Body::from(bytes)),
        };
        let content_type = HeaderValue::from_str(mime.as_ref()).expect("a MIME type is a valid header");
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
        if let Some(coding) = encoding {
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex in quotes is a valid header"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// The embedded file a path names: the file itself, or `index.html` for client-side
/// routes. A missing file with an extension is a 404, not the page: a stale asset name
/// must not come back as HTML.
fn embedded_name(path: &str) -> Option<String> {
    let path = path.trim_start_matches('/');
    if !path.is_empty() && !path.ends_with('/') && Embedded::get(path).is_some() {
        return Some(path.to_string());
    }
    let last = path.rsplit('/').next().unwrap_or("");
    (!last.contains('.')).then(|| "index.html".to_string())
}

/// Whether an `Accept-Encoding` value accepts `coding` (not with `q=0`).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|entry| {
        let mut parts = entry.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
        (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
    })
}

/// Whether the client already holds this version (`If-None-Match`, weak or strong, or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
}

/// From `site_dir`: HTML (index.html, also served for client-side routes) is
/// revalidated on every load; every other file has a hashed name and never changes.
async fn cache_policy(mut response: Response) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if is_html { REVALIDATE } else { IMMUTABLE };
    if response.status().is_success() {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("gzip;q=1.0, br;q=0.5", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(accepts("*", "gzip"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "br"));
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_any() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(if_none_match(&headers, "\"b\""));
        assert!(!if_none_match(&headers, "\"c\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&headers, "\"c\""));
    }
}
