//! A private git repository over HTTP (git's "dumb" protocol: the bare repository's
//! files, after `git update-server-info`) that wants HTTP Basic credentials, as
//! GitHub does for a private repository fetched with a token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub struct GitServer {
    /// The repository's URL, e.g. `http://127.0.0.1:PORT/repo.git`.
    pub url: String,
    /// The `Authorization` headers it was sent, refused ones included.
    pub seen: Arc<Mutex<Vec<String>>>,
}

struct Files {
    root: PathBuf,
    authorization: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl GitServer {
    /// Serves the bare repository at `bare` to whoever sends `authorization`.
    pub async fn start(bare: &Path, authorization: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/repo.git", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let served =
            Arc::new(Files { root: bare.to_path_buf(), authorization: authorization.into(), seen: seen.clone() });
        let app = Router::new().route("/repo.git/{*path}", get(file)).with_state(served);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }
}

async fn file(State(served): State<Arc<Files>>, uri: Uri, headers: HeaderMap) -> Response {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    served.seen.lock().unwrap().push(given.to_string());
    if given != served.authorization {
        let challenge = [("www-authenticate", "Basic realm=\"GitHub\"")];
        return (StatusCode::UNAUTHORIZED, challenge, "authentication required").into_response();
    }
    let relative = uri.path().trim_start_matches("/repo.git/");
    if relative.split('/').any(|part| part == ".." || part.is_empty()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match std::fs::read(served.root.join(relative)) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A repository on the forge: a developer's clone, and the bare copy served over HTTP
/// to whoever sends `authorization` (empty: a public repository).
pub struct ServedRepo {
    pub dev: PathBuf,
    pub bare: PathBuf,
    pub server: GitServer,
}

/// Serves a repository that `fill` makes (on `main`) in `dir/src-<name>`.
pub async fn serve(dir: &Path, name: &str, fill: impl Fn(&Path), authorization: &str) -> ServedRepo {
    let src = dir.join(format!("src-{name}"));
    fill(&src);
    super::git(&src, &["branch", "-M", "main"]);
    let bare = dir.join(format!("{name}.git"));
    super::git(dir, &["clone", "--quiet", "--bare", src.to_str().unwrap(), bare.to_str().unwrap()]);
    super::git(&bare, &["update-server-info"]);
    let server = GitServer::start(&bare, authorization).await;
    let dev = dir.join(format!("dev-{name}"));
    super::git(dir, &["clone", "--quiet", bare.to_str().unwrap(), dev.to_str().unwrap()]);
    ServedRepo { dev, bare, server }
}

impl ServedRepo {
    /// Commits `version` on `branch` of the developer's clone, pushes it, and points the
    /// forge's `reference` (a request's head, `refs/pull/7/head`) at it. Returns the commit.
    pub fn push_request(&self, branch: &str, reference: &str, version: &str) -> String {
        let dev = &self.dev;
        if super::git(dev, &["branch", "--list", branch]).is_empty() {
            super::git(dev, &["checkout", "--quiet", "-b", branch]);
        }
        std::fs::write(dev.join("VERSION"), format!("{version}\n")).unwrap();
        super::git(dev, &["commit", "--quiet", "-am", version]);
        super::git(dev, &["push", "--quiet", "origin", branch]);
        let sha = super::git(dev, &["rev-parse", "HEAD"]);
        super::git(&self.bare, &["update-ref", reference, &sha]);
        super::git(&self.bare, &["update-server-info"]);
        sha
    }
}

/// HTTP Basic credentials, as git sends a token.
pub fn basic(user: &str, token: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")))
}
