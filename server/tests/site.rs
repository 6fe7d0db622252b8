//! The web interface's files: whatever path a client sends (`..`, encoded dots and
//! slashes, backslashes), nothing outside the interface's own files is served, from a
//! `site_dir` on disk or from the copy built into the binary.

mod common;

use common::{spawn_with, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `path` exactly as written (an HTTP client would normalize it) and returns
/// the status and the body.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

const ESCAPES: [&str; 9] = [
    "/../{file}",
    "/../../{file}",
    "/%2e%2e/{file}",
    "/%2E%2E%2F{file}",
    "/..%2f{file}",
    "/assets/..%2f..%2f{file}",
    "/..%5c{file}",
    "/.%2e/{file}",
    "//..//{file}",
];

#[tokio::test]
async fn no_path_leads_out_of_a_site_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>Ferry</title>").unwrap();
    std::fs::write(site.join("assets/app-1a2b.js"), "console.log('app')").unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
    let mut config = test_config(&tmp.path().join("data"));
    config.site_dir = Some(site);
    let app = spawn_with(config).await;

    assert_eq!(raw_get(app.addr, "/assets/app-1a2b.js").await, (200, "console.log('app')".to_string()));
    let (status, page) = raw_get(app.addr, "/projects/shop").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Ferry</title>"), "a client route gets the page");
    for escape in ESCAPES {
        let path = escape.replace("{file}", "secret.txt");
        let (status, body) = raw_get(app.addr, &path).await;
        assert!(!body.contains("TOP-SECRET"), "{path} answered {status} with the file outside the site");
    }
}

#[tokio::test]
async fn no_path_leads_out_of_the_built_in_interface() {
    // Debug builds read the built-in interface from `dist/` at the workspace's root,
    // beside Cargo.toml: the file a `..` would reach.
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path());
    config.site_dir = None;
    let app = spawn_with(config).await;
    for escape in ESCAPES {
        let path = escape.replace("{file}", "Cargo.toml");
        let (status, body) = raw_get(app.addr, &path).await;
        assert!(!body.contains("[workspace]"), "{path} answered {status} with the workspace's Cargo.toml");
    }
}
