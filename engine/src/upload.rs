//! An agent's build goes back to the server: the packed artifact is streamed to the
//! path the job named, with the agent's credential and the checksum the agent
//! computed, which the server checks against the bytes it received.

use std::path::Path;
use std::time::Duration;

/// The header that carries the sender's SHA-256 of the artifact (hex).
pub const CHECKSUM_HEADER: &str = "x-ferry-sha256";

/// Sends `file` to `url`; returns its checksum once the server has kept it.
pub async fn upload_artifact(url: &str, bearer: Option<&str>, file: &Path) -> Result<String, String> {
    let path = file.to_path_buf();
    let sha = tokio::task::spawn_blocking(move || crate::artifact::sha256_file(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot read the packed artifact: {e}"))?;
    let opened = tokio::fs::File::open(file).await.map_err(|e| format!("cannot read the packed artifact: {e}"))?;
    let length = opened.metadata().await.map_err(|e| e.to_string())?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(opened));
    let client =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let mut request = client
        .put(url)
        .timeout(Duration::from_secs(600))
        .header(CHECKSUM_HEADER, &sha)
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.map_err(|e| format!("cannot send the artifact to the server: {e}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(format!("the server did not keep the artifact ({status}): {}", text.trim()));
    }
    Ok(sha)
}
