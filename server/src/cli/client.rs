//! The CLI's side of the REST API: the server address and token (from flags, the
//! environment or the saved login), and requests whose errors read as sentences.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Remote;

/// What `ferry login` saves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub url: String,
    pub token: String,
}

pub fn saved_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ferry").join("cli.json"))
}

pub fn save(saved: &Saved) -> Result<PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = saved_path().ok_or("cannot tell where to save: set HOME or XDG_CONFIG_HOME")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let json = serde_json::to_string_pretty(saved).map_err(|e| e.to_string())?;
    file.write_all(json.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(url: &str, token: &str) -> Result<Self, String> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("--url `{url}`: give an http:// or https:// address"));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, base, token: token.to_string() })
    }

    /// From the flags or environment, else the saved login.
    pub fn from(remote: &Remote) -> Result<Self, String> {
        let saved = || -> Option<Saved> {
            let text = std::fs::read_to_string(saved_path()?).ok()?;
            serde_json::from_str(&text).ok()
        };
        match (&remote.url, &remote.token) {
            (Some(url), Some(token)) => Self::new(url, token),
            (url, token) => {
                let saved = saved()
                    .ok_or("not logged in: run `ferry login --url … --token …`, or set FERRY_URL and FERRY_TOKEN")?;
                Self::new(url.as_deref().unwrap_or(&saved.url), token.as_deref().unwrap_or(&saved.token))
            }
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, String> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// A request answered with no body (204).
    pub async fn delete(&self, path: &str) -> Result<(), String> {
        self.send::<Value>(self.http.delete(format!("{}{path}", self.base))).await.map(drop)
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, String> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {}", self.base, e.without_url()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("reading the answer: {e}"))?;
        if status.is_success() {
            let text = if text.is_empty() { "null" } else { text.as_str() };
            return serde_json::from_str(text).map_err(|e| format!("unexpected answer from {}: {e}", self.base));
        }
        // The API answers errors as {error, message}.
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(format!("{message} ({status})"))
    }
}
