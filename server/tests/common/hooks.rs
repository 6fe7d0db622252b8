//! Webhooks as GitHub sends them: the signature, push and workflow run payloads shaped
//! as GitHub's documentation shows them, the delivery with GitHub's headers, and
//! waiting for the deployments a delivery starts.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{wait_until, TestApp, DEPLOYMENT_TIMEOUT, FINISHED};

/// Adds `triggers` to the repository's `ferry.yml` on `main`, then makes one more
/// commit, as a push to main brings it (a push is judged by main's ferry.yml before
/// it). Returns the commits before and after the push.
pub fn triggers_then_a_push(dir: &std::path::Path, triggers: &str) -> (String, String) {
    let pipeline = std::fs::read_to_string(dir.join("ferry.yml")).unwrap() + triggers;
    std::fs::write(dir.join("ferry.yml"), pipeline).unwrap();
    super::git(dir, &["commit", "--quiet", "-am", "deploy on push"]);
    super::git(dir, &["branch", "-M", "main"]);
    let before = super::git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("NOTES"), "a change\n").unwrap();
    super::git(dir, &["add", "NOTES"]);
    super::git(dir, &["commit", "--quiet", "-m", "a change"]);
    (before, super::git(dir, &["rev-parse", "HEAD"]))
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A push of `reference` from `before` (40 zeros for a new ref) to `sha`.
pub fn github_push(repo: &str, reference: &str, before: &str, sha: &str) -> Value {
    json!({
        "ref": reference, "before": before, "after": sha,
        "created": before.bytes().all(|b| b == b'0'), "deleted": false, "forced": false, "base_ref": null,
        "compare": format!("https://github.com/{repo}/compare/{}...{}", &before[..12], &sha[..12]),
        "commits": [{"id": sha, "message": "deploy on push", "author": {"name": "Monalisa Octocat", "email": "octocat@github.com"}}],
        "head_commit": {"id": sha, "message": "deploy on push"},
        "repository": {"id": 1296269, "name": repo.split('/').nth(1), "full_name": repo, "private": false,
            "owner": {"login": repo.split('/').next(), "type": "Organization"},
            "clone_url": format!("https://github.com/{repo}.git"), "default_branch": "main"},
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "sender": {"login": "octocat", "id": 1, "type": "User"}
    })
}

/// A new ref's `before`.
pub const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// A completed workflow run of `repo`'s CI on `branch` at `sha`, run for `event` on
/// `head_repository`'s commit (the repository itself for its own pushes).
pub fn github_workflow_run(repo: &str, branch: &str, sha: &str, event: &str, head_repository: &str) -> Value {
    json!({
        "action": "completed",
        "workflow_run": {"id": 30433642, "name": "CI", "head_branch": branch, "head_sha": sha, "event": event,
            "status": "completed", "conclusion": "success", "pull_requests": [],
            "head_repository": {"id": 1296270, "full_name": head_repository, "name": head_repository.split('/').nth(1)},
            "repository": {"id": 1296269, "full_name": repo}},
        "repository": {"id": 1296269, "full_name": repo, "default_branch": "main"},
        "sender": {"login": "octocat", "id": 1, "type": "User"}
    })
}

/// A `pull_request` event (`opened`, `synchronize`, `closed`…) of request `number` of
/// `repo`, whose head is `sha` on `branch` of `head_repo` (`repo` itself, or a fork).
pub fn github_pull_request(
    repo: &str,
    action: &str,
    number: u64,
    (sha, branch): (&str, &str),
    head_repo: &str,
) -> Value {
    let owner = |r: &str| r.split('/').next().unwrap_or_default().to_string();
    json!({
        "action": action,
        "number": number,
        "pull_request": {
            "url": format!("https://api.github.com/repos/{repo}/pulls/{number}"), "id": 1_000_000 + number,
            "html_url": format!("https://github.com/{repo}/pull/{number}"), "number": number, "state":
            if action == "closed" { "closed" } else { "open" }, "locked": false, "title": format!("Change {number}"),
            "user": {"login": owner(head_repo), "id": 2, "type": "User"}, "draft": false, "merged": false,
            "head": {"label": format!("{}:{branch}", owner(head_repo)), "ref": branch, "sha": sha,
                "repo": {"id": 1296270, "full_name": head_repo, "name": head_repo.split('/').nth(1)}},
            "base": {"label": format!("{}:main", owner(repo)), "ref": "main",
                "repo": {"id": 1296269, "full_name": repo, "default_branch": "main"}}
        },
        "repository": {"id": 1296269, "name": repo.split('/').nth(1), "full_name": repo, "private": true,
            "owner": {"login": owner(repo), "type": "Organization"}, "default_branch": "main"},
        "sender": {"login": owner(head_repo), "id": 2, "type": "User"}
    })
}

/// A `Merge Request Hook` of merge request `iid` of `project` (`action`: `open`,
/// `update`, `close`, `merge`), from the project with id `source_project_id` (a fork
/// when it is not the project's own, 15).
pub fn gitlab_merge_request(
    project: &str,
    action: &str,
    iid: u64,
    (sha, branch): (&str, &str),
    source_project_id: u64,
) -> Value {
    json!({
        "object_kind": "merge_request", "event_type": "merge_request",
        "user": {"id": 2, "name": "Mallory", "username": "mallory"},
        "project": {"id": 15, "path_with_namespace": project, "default_branch": "main",
            "web_url": format!("https://gitlab.example.com/{project}")},
        "object_attributes": {
            "iid": iid, "id": 90 + iid, "action": action, "title": format!("Change {iid}"),
            "source_branch": branch, "target_branch": "main", "source_project_id": source_project_id,
            "target_project_id": 15, "state": if action == "close" { "closed" } else { "opened" },
            "url": format!("https://gitlab.example.com/{project}/-/merge_requests/{iid}"),
            "last_commit": {"id": sha, "message": "a change"},
            "oldrev": if action == "update" { json!("0000000000000000000000000000000000000001") } else { Value::Null }
        }
    })
}

/// Sends a GitLab webhook with its token and event UUID.
pub async fn send_gitlab(app: &TestApp, event: &str, uuid: &str, body: Value, token: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/hooks/gitlab", app.base))
        .header("x-gitlab-event", event)
        .header("x-gitlab-token", token)
        .header("x-gitlab-event-uuid", uuid)
        .json(&body)
        .send()
        .await
        .unwrap();
    super::browser::json_of(response).await
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
