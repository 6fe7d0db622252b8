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

struct Served {
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
            Arc::new(Served { root: bare.to_path_buf(), authorization: authorization.into(), seen: seen.clone() });
        let app = Router::new().route("/repo.git/{*path}", get(file)).with_state(served);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }
}

async fn file(State(served): State<Arc<Served>>, uri: Uri, headers: HeaderMap) -> Response {
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
