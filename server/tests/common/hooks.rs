//! Webhooks as GitHub sends them: the signature, a push payload shaped as GitHub's
//! documentation shows it, the delivery with GitHub's headers, and waiting for the
//! deployments a delivery starts.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{wait_until, TestApp, DEPLOYMENT_TIMEOUT, FINISHED};

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub fn github_push(repo: &str, reference: &str, sha: &str) -> Value {
    json!({
        "ref": reference, "before": "0000000000000000000000000000000000000000", "after": sha,
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": format!("https://github.com/{repo}/compare/000000000000...{}", &sha[..12]),
        "commits": [{"id": sha, "message": "deploy on push", "author": {"name": "Monalisa Octocat", "email": "octocat@github.com"}}],
        "head_commit": {"id": sha, "message": "deploy on push"},
        "repository": {"id": 1296269, "name": repo.split('/').nth(1), "full_name": repo, "private": false,
            "owner": {"login": repo.split('/').next(), "type": "Organization"},
            "clone_url": format!("https://github.com/{repo}.git"), "default_branch": "main"},
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "sender": {"login": "octocat", "id": 1, "type": "User"}
    })
}

pub async fn send_github(app: &TestApp, event: &str, delivery: &str, body: &[u8], signature: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/hooks/github", app.base))
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/044aadd")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    super::browser::json_of(response).await
}

/// The project's deployments, newest first, once `count` exist and all finished.
pub async fn deployments(app: &TestApp, slug: &str, count: usize) -> Vec<Value> {
    wait_until(&format!("{count} deployments of {slug} to finish"), DEPLOYMENT_TIMEOUT, || async move {
        let (_, listed) = app.get(&format!("/api/v1/deployments?project={slug}")).await;
        let listed = listed.as_array().unwrap().clone();
        let done = listed.iter().all(|d| FINISHED.contains(&d["state"].as_str().unwrap()));
        (listed.len() >= count && done).then_some(listed)
    })
    .await
}
