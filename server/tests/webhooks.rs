//! Webhooks from GitHub and GitLab, with payloads shaped as their documentation shows:
//! a signed push makes a release and deploys it as `ferry.yml`'s triggers say; forged
//! signatures and wrong tokens are refused before the body is parsed; a delivery is
//! handled once, even sent 50 times at once; an oversized body is refused without
//! being read whole.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::hooks::{deployments, github_push, send_github, sign};
use common::{assert_error, spawn_app, wait_until, TestApp};
use ferry_app::model::ForgeKind;
use futures::StreamExt;
use serde_json::{json, Value};

const TRIGGERS: &str = "
triggers:
  - on: push
    branch: main
    deploy: development
  - on: tag
    tag: \"v*\"
  - on: push
    branch: \"release/*\"
    deploy: development
    wait_for_ci: true
";

/// A hello project whose ferry.yml has triggers, linked to `repo` on `forge`; returns
/// the webhook secret and the head commit.
async fn linked_project(app: &TestApp, slug: &str, forge: &str, repo: &str) -> (String, String) {
    app.hello_project(slug).await;
    let dir = app.data_dir.join(format!("src-{slug}"));
    let pipeline = std::fs::read_to_string(dir.join("ferry.yml")).unwrap() + TRIGGERS;
    std::fs::write(dir.join("ferry.yml"), pipeline).unwrap();
    common::git(&dir, &["commit", "--quiet", "-am", "deploy on push"]);
    let link = app
        .client
        .put(format!("{}/api/v1/projects/{slug}/forge", app.base))
        .json(&json!({"forge": forge, "repo": repo}));
    let linked: Value = link.send().await.unwrap().json().await.unwrap();
    assert_eq!(linked["link"]["hook_url"], format!("{}/hooks/{forge}", app.base), "{linked}");
    let head = common::git(&dir, &["rev-parse", "HEAD"]).trim().to_string();
    (linked["secret"].as_str().unwrap().to_string(), head)
}

/// What handling `delivery` came to, once the server has recorded it: an accepted
/// delivery's work (release, deployments) goes on after the answer, and its outcome is
/// written when that work ends.
async fn handled(app: &TestApp, forge: ForgeKind, delivery: &str) -> String {
    let store = &app.running.state.store;
    let what = format!("{} delivery {delivery} to be handled", forge.as_str());
    wait_until(&what, Duration::from_secs(30), || async move {
        store.forge_delivery_outcome(forge, delivery).await.unwrap()
    })
    .await
}

async fn releases(app: &TestApp, slug: &str) -> Vec<String> {
    let (_, listed) = app.get(&format!("/api/v1/projects/{slug}/releases")).await;
    listed.as_array().unwrap().iter().map(|r| r["version"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_signed_push_to_main_makes_a_release_and_deploys_it_once() {
    let app = spawn_app().await;
    let (secret, head) = linked_project(&app, "hooked", "github", "octo-org/hooked").await;
    let body = serde_json::to_vec(&github_push("octo-org/hooked", "refs/heads/main", &head)).unwrap();
    let (status, answer) =
        send_github(&app, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body, &sign(&secret, &body)).await;
    assert_eq!((status, &answer["status"]), (202, &json!("accepted")), "{answer}");

    let deployed = deployments(&app, "hooked", 1).await;
    assert_eq!((deployed.len(), &deployed[0]["state"]), (1, &json!("succeeded")), "{deployed:?}");
    assert_eq!(deployed[0]["environment"], "development");
    assert_eq!(deployed[0]["requested_by"], "github:octocat");
    let version = format!("main-{}", &head[..7]);
    assert_eq!(deployed[0]["release_version"], version);
    let (_, listed) = app.get("/api/v1/projects/hooked/releases").await;
    let release = listed.as_array().unwrap().iter().find(|r| r["version"] == version.as_str()).unwrap().clone();
    assert_eq!((&release["git_commit"], &release["source"]), (&json!(head), &json!("github push by octocat")));

    // The same delivery again, and the same push by another delivery: nothing new.
    let (status, answer) =
        send_github(&app, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", &body, &sign(&secret, &body)).await;
    assert_eq!((status, &answer["status"]), (200, &json!("duplicate")));
    let (status, _) = send_github(&app, "push", "a-second-delivery", &body, &sign(&secret, &body)).await;
    assert_eq!(status, 202);
    let outcome = handled(&app, ForgeKind::Github, "a-second-delivery").await;
    assert!(outcome.starts_with("duplicate event"), "{outcome}");
    assert_eq!(deployments(&app, "hooked", 1).await.len(), 1);
    assert_eq!(releases(&app, "hooked").await.iter().filter(|v| **v == version).count(), 1);
}

#[tokio::test]
async fn forged_signatures_wrong_tokens_and_other_repositories_are_refused() {
    let app = spawn_app().await;
    let (secret, head) = linked_project(&app, "guarded", "github", "octo-org/guarded").await;
    let body = serde_json::to_vec(&github_push("octo-org/guarded", "refs/heads/main", &head)).unwrap();
    let forged = sign("not-the-secret-at-all", &body);
    let (status, answer) = send_github(&app, "push", "d1", &body, &forged).await;
    assert_error(status, &answer, 401, "unauthenticated");
    let (status, answer) = send_github(&app, "push", "d2", &body, "sha1=abc").await;
    assert_error(status, &answer, 401, "unauthenticated");
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let (status, answer) = send_github(&app, "push", "d3", &tampered, &sign(&secret, &body)).await;
    assert_error(status, &answer, 401, "unauthenticated");
    // Signed, but not JSON; signed, but about another repository.
    let (status, answer) = send_github(&app, "push", "d4", b"{not json", &sign(&secret, b"{not json")).await;
    assert_error(status, &answer, 400, "bad_request");
    let other = serde_json::to_vec(&github_push("evil-org/guarded", "refs/heads/main", &head)).unwrap();
    let (status, answer) = send_github(&app, "push", "d5", &other, &sign(&secret, &other)).await;
    assert_error(status, &answer, 422, "unprocessable");
    // A pull request is acknowledged and starts nothing.
    let pr = serde_json::to_vec(&json!({"action": "opened", "number": 2, "pull_request": {"head": {"sha": head}},
        "repository": {"full_name": "octo-org/guarded"}}))
    .unwrap();
    let (status, answer) = send_github(&app, "pull_request", "d6", &pr, &sign(&secret, &pr)).await;
    assert_eq!((status, &answer["status"]), (200, &json!("ignored")), "{answer}");

    let response = reqwest::Client::new()
        .post(format!("{}/hooks/gitlab", app.base))
        .header("x-gitlab-event", "Push Hook")
        .header("x-gitlab-token", &secret)
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, answer) = common::browser::json_of(response).await;
    assert_error(status, &answer, 401, "unauthenticated");
    // None of them left work going on after the answer: the refused ones were refused
    // before anything was recorded, and the pull request was recorded as ignored.
    let store = &app.running.state.store;
    for refused in ["d1", "d2", "d3", "d4", "d5"] {
        assert_eq!(store.forge_delivery_outcome(ForgeKind::Github, refused).await.unwrap(), None, "{refused}");
    }
    let outcome = handled(&app, ForgeKind::Github, "d6").await;
    assert!(outcome.starts_with("ignored: "), "{outcome}");
    assert!(deployments(&app, "guarded", 0).await.is_empty());
    assert_eq!(releases(&app, "guarded").await, ["1.0.0"]);
}

#[tokio::test]
async fn fifty_concurrent_copies_of_one_delivery_are_handled_once() {
    let app = Arc::new(spawn_app().await);
    let (secret, head) = linked_project(&app, "busy", "github", "octo-org/busy").await;
    let body = serde_json::to_vec(&github_push("octo-org/busy", "refs/heads/main", &head)).unwrap();
    let signature = sign(&secret, &body);
    let mut sends = Vec::new();
    for _ in 0..50 {
        let (app, body, signature) = (app.clone(), body.clone(), signature.clone());
        sends.push(tokio::spawn(async move { send_github(&app, "push", "same-delivery", &body, &signature).await.0 }));
    }
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 49, "{statuses:?}");
    assert_eq!(deployments(&app, "busy", 1).await.len(), 1);
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_being_read_whole() {
    let app = spawn_app().await;
    linked_project(&app, "big", "github", "octo-org/big").await;
    let declared = reqwest::Client::new()
        .post(format!("{}/hooks/github", app.base))
        .header("content-length", (50 * 1024 * 1024).to_string())
        .header("x-hub-signature-256", "sha256=00")
        .body(vec![b' '; 1024])
        .send()
        .await;
    // Refused from the header alone (the connection may close before the short body).
    if let Ok(response) = declared {
        assert_eq!(response.status().as_u16(), 413);
    }
    // Streamed without a length: the server stops reading at its limit.
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunks = futures::stream::iter(0..800).map(move |_| {
        counter.fetch_add(64 * 1024, Ordering::SeqCst);
        Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])
    });
    let response = reqwest::Client::new()
        .post(format!("{}/hooks/github", app.base))
        .header("x-hub-signature-256", "sha256=00")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    let (status, answer) = common::browser::json_of(response.expect("the server answers")).await;
    assert_error(status, &answer, 413, "payload_too_large");
    assert!(pulled.load(Ordering::SeqCst) < 20 * 1024 * 1024, "read {} bytes", pulled.load(Ordering::SeqCst));
}

#[tokio::test]
async fn tags_make_releases_and_ci_passing_gates_a_branch() {
    let app = spawn_app().await;
    let (secret, head) = linked_project(&app, "gated", "github", "octo-org/gated").await;
    let dir = app.data_dir.join("src-gated");
    common::git(&dir, &["tag", "v1.2.0"]);
    let tag = serde_json::to_vec(&github_push("octo-org/gated", "refs/tags/v1.2.0", &head)).unwrap();
    assert_eq!(send_github(&app, "push", "t1", &tag, &sign(&secret, &tag)).await.0, 202);

    // A push to release/* waits for CI: nothing until the workflow run passes.
    let push = serde_json::to_vec(&github_push("octo-org/gated", "refs/heads/release/2026-11", &head)).unwrap();
    assert_eq!(send_github(&app, "push", "t2", &push, &sign(&secret, &push)).await.0, 202);
    let run = |conclusion: &str| {
        serde_json::to_vec(&json!({
            "action": "completed",
            "workflow_run": {"id": 30433642, "name": "CI", "head_branch": "release/2026-11", "head_sha": head,
                "event": "push", "status": "completed", "conclusion": conclusion},
            "repository": {"full_name": "octo-org/gated"}, "sender": {"login": "octocat"}
        }))
        .unwrap()
    };
    let failed = run("failure");
    let (status, answer) = send_github(&app, "workflow_run", "t3", &failed, &sign(&secret, &failed)).await;
    assert_eq!((status, &answer["reason"]), (200, &json!("CI has not passed")));
    assert_eq!(handled(&app, ForgeKind::Github, "t1").await, "release v1.2.0", "a release, no deployment");
    let outcome = handled(&app, ForgeKind::Github, "t2").await;
    assert!(outcome.starts_with("no trigger of ferry.yml fires"), "{outcome}");
    assert_eq!(handled(&app, ForgeKind::Github, "t3").await, "ignored: CI has not passed");
    assert!(deployments(&app, "gated", 0).await.is_empty(), "neither the tag nor the gated push deploys");
    assert!(releases(&app, "gated").await.contains(&"v1.2.0".to_string()));

    let passed = run("success");
    assert_eq!(send_github(&app, "workflow_run", "t4", &passed, &sign(&secret, &passed)).await.0, 202);
    let deployed = deployments(&app, "gated", 1).await;
    assert_eq!(deployed[0]["release_version"], format!("release-2026-11-{}", &head[..7]));
    assert_eq!(deployed[0]["state"], "succeeded");
}

#[tokio::test]
async fn a_gitlab_push_with_the_projects_token_deploys_and_its_pipeline_tags_release() {
    let app = spawn_app().await;
    let (token, head) = linked_project(&app, "lab", "gitlab", "platform/lab").await;
    let push = json!({
        "object_kind": "push", "event_name": "push", "before": "0000000000000000000000000000000000000000",
        "after": head, "ref": "refs/heads/main", "checkout_sha": head, "user_id": 4, "user_name": "John Smith",
        "user_username": "jsmith", "project_id": 15,
        "project": {"id": 15, "name": "lab", "path_with_namespace": "platform/lab", "default_branch": "main",
            "web_url": "https://gitlab.example.com/platform/lab"},
        "commits": [{"id": head, "message": "deploy on push"}], "total_commits_count": 1
    });
    let send = |event: &'static str, uuid: &'static str, body: Value, token: String| {
        let base = app.base.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/hooks/gitlab"))
                .header("x-gitlab-event", event)
                .header("x-gitlab-token", token)
                .header("x-gitlab-event-uuid", uuid)
                .json(&body)
                .send()
                .await
                .unwrap();
            common::browser::json_of(response).await
        }
    };
    let (status, answer) = send("Push Hook", "u1", push.clone(), "wrong-token-wrong-token".into()).await;
    assert_error(status, &answer, 401, "unauthenticated");
    assert_eq!(send("Push Hook", "u1", push, token.clone()).await.0, 202);
    let deployed = deployments(&app, "lab", 1).await;
    assert_eq!((&deployed[0]["state"], &deployed[0]["requested_by"]), (&json!("succeeded"), &json!("gitlab:jsmith")));

    let pipeline = json!({
        "object_kind": "pipeline",
        "object_attributes": {"id": 31, "ref": "v3.0.0", "tag": true, "sha": head, "status": "success",
            "stages": ["build", "test"]},
        "user": {"name": "John Smith", "username": "jsmith"},
        "project": {"id": 15, "path_with_namespace": "platform/lab"}
    });
    // Tags with `wait_for_ci` are not configured here: the pipeline passing makes no release.
    let (status, _) = send("Pipeline Hook", "u2", pipeline, token).await;
    assert_eq!(status, 202);
    let outcome = handled(&app, ForgeKind::Gitlab, "u2").await;
    assert!(outcome.starts_with("no trigger of ferry.yml fires"), "{outcome}");
    assert!(!releases(&app, "lab").await.contains(&"v3.0.0".to_string()));
}

#[tokio::test]
async fn an_event_that_made_nothing_can_be_delivered_again() {
    let app = spawn_app().await;
    let (secret, _) = linked_project(&app, "retry", "github", "octo-org/retry").await;
    // A commit the repository does not have (yet): the release cannot be made.
    let missing = "1111111111111111111111111111111111111111";
    let body = serde_json::to_vec(&github_push("octo-org/retry", "refs/heads/main", missing)).unwrap();
    for delivery in ["first", "second"] {
        assert_eq!(send_github(&app, "push", delivery, &body, &sign(&secret, &body)).await.0, 202);
        let outcome = handled(&app, ForgeKind::Github, delivery).await;
        assert!(outcome.starts_with("failed: ") && outcome.contains(missing), "{delivery}: {outcome}");
    }
}
