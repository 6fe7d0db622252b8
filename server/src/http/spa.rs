//! Serves the single-page application Trunk built: hashed assets with long-lived
//! caching, compressed, and `index.html` for every client-side route.

use std::path::Path;

use axum::http::{header, HeaderValue};
use axum::middleware::map_response;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

const NOT_BUILT: &str = "<!DOCTYPE html><title>Ferry</title><h1>Ferry is running</h1>\
<p>The web interface has not been built. Run <code>scripts/run.sh</code> from the repository, \
which builds it with Trunk. The REST API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>";

pub fn router(site_dir: &Path) -> Router {
    let index = site_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(dir = %site_dir.display(), "no built SPA found; serving a notice instead");
        return Router::new().fallback(get(|| async { Html(NOT_BUILT) }));
    }
    // Trunk puts a content hash in every asset name, so assets can be cached forever;
    // index.html itself is revalidated on every load.
    let assets = ServeDir::new(site_dir).precompressed_br().precompressed_gzip().fallback(ServeFile::new(&index));
    Router::new().fallback_service(assets).layer(map_response(cache_policy)).layer(CompressionLayer::new())
}

/// HTML (index.html, also served for client-side routes) is revalidated on every
/// load; every other file has a hashed name and never changes.
async fn cache_policy(mut response: Response) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if is_html { "no-cache" } else { "public, max-age=31536000, immutable" };
    if response.status().is_success() {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}
