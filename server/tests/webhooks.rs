//! Webhooks from GitHub and GitLab, with payloads shaped as their documentation shows:
//! a signed push makes a release and deploys it as the triggers of the default
//! branch's `ferry.yml` say (never those of the pushed commit); CI counts only when it
//! ran for a push to the repository itself (not a fork's pull request, a merge request
//! pipeline or a schedule); forged signatures and wrong tokens are refused before the
//! body is parsed; a delivery is handled once, even sent 50 times at once; an
//! oversized body is refused without being read whole.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::hooks::{deployments, github_push, github_workflow_run, send_github, send_gitlab, sign, NO_COMMIT};
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

/// Only CI passing on main deploys main.
const MAIN_AFTER_CI: &str = "
triggers:
  - on: push
    branch: main
    deploy: development
    wait_for_ci: true
";

/// A linked project: its webhook secret, the commit on `main` that added the triggers
/// and the one after it (`main`'s head).
struct Linked {
    secret: String,
    base: String,
    head: String,
}

/// A hello project whose ferry.yml has `triggers` on its default branch `main`, linked
/// to `repo` on `forge`.
async fn linked_with(app: &TestApp, slug: &str, forge: &str, repo: &str, triggers: &str) -> Linked {
    app.hello_project(slug).await;
    let dir = app.data_dir.join(format!("src-{slug}"));
    let (base, head) = common::hooks::triggers_then_a_push(&dir, triggers);
    let link = app
        .client
        .put(format!("{}/api/v1/projects/{slug}/forge", app.base))
        .json(&json!({"forge": forge, "repo": repo}));
    let linked: Value = link.send().await.unwrap().json().await.unwrap();
    assert_eq!(linked["link"]["hook_url"], format!("{}/hooks/{forge}", app.base), "{linked}");
    Linked { secret: linked["secret"].as_str().unwrap().to_string(), base, head }
}

/// A hello project with [`TRIGGERS`]; returns the webhook secret, and the commits
/// before and at main's head.
async fn linked_project(app: &TestApp, slug: &str, forge: &str, repo: &str) -> (String, String, String) {
    let Linked { secret, base, head } = linked_with(app, slug, forge, repo, TRIGGERS).await;
    (secret, base, head)
}

/// Makes the project's repository a mirror whose `origin` is "the forge's" repository
/// (a bare copy), and returns a developer's clone of the latter, on `main`.
fn mirrored(app: &TestApp, slug: &str) -> std::path::PathBuf {
    let src = app.data_dir.join(format!("src-{slug}"));
    let forge = app.data_dir.join(format!("{slug}.git"));
    let dev = app.data_dir.join(format!("dev-{slug}"));
    common::git(&app.data_dir, &["clone", "--quiet", "--bare", src.to_str().unwrap(), forge.to_str().unwrap()]);
    common::git(&src, &["remote", "add", "origin", forge.to_str().unwrap()]);
    common::git(&app.data_dir, &["clone", "--quiet", forge.to_str().unwrap(), dev.to_str().unwrap()]);
    dev
}

/// Commits what `change` did in `dev` and pushes it to the forge as `branch`.
fn push(dev: &std::path::Path, branch: &str, change: impl Fn(&std::path::Path), message: &str) -> String {
    change(dev);
    common::git(dev, &["commit", "--quiet", "-am", message]);
    common::git(dev, &["push", "--quiet", "origin", &format!("HEAD:refs/heads/{branch}")]);
    common::git(dev, &["rev-parse", "HEAD"])
}

fn edit_ferry_yml(dir: &std::path::Path, edit: impl Fn(String) -> String) {
    let yml = std::fs::read_to_string(dir.join("ferry.yml")).unwrap();
    std::fs::write(dir.join("ferry.yml"), edit(yml)).unwrap();
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
    let (secret, base, head) = linked_project(&app, "hooked", "github", "octo-org/hooked").await;
    let body = serde_json::to_vec(&github_push("octo-org/hooked", "refs/heads/main", &base, &head)).unwrap();
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
    let (secret, base, head) = linked_project(&app, "guarded", "github", "octo-org/guarded").await;
    let body = serde_json::to_vec(&github_push("octo-org/guarded", "refs/heads/main", &base, &head)).unwrap();
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
    let other = serde_json::to_vec(&github_push("evil-org/guarded", "refs/heads/main", &base, &head)).unwrap();
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
    let (secret, base, head) = linked_project(&app, "busy", "github", "octo-org/busy").await;
    let body = serde_json::to_vec(&github_push("octo-org/busy", "refs/heads/main", &base, &head)).unwrap();
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
    let (secret, _, head) = linked_project(&app, "gated", "github", "octo-org/gated").await;
    let dir = app.data_dir.join("src-gated");
    common::git(&dir, &["tag", "v1.2.0"]);
    let tag = serde_json::to_vec(&github_push("octo-org/gated", "refs/tags/v1.2.0", NO_COMMIT, &head)).unwrap();
    assert_eq!(send_github(&app, "push", "t1", &tag, &sign(&secret, &tag)).await.0, 202);

    // A push to release/* waits for CI: nothing until the workflow run passes.
    let push =
        serde_json::to_vec(&github_push("octo-org/gated", "refs/heads/release/2026-11", NO_COMMIT, &head)).unwrap();
    assert_eq!(send_github(&app, "push", "t2", &push, &sign(&secret, &push)).await.0, 202);
    let run = |conclusion: &str| {
        let mut run = github_workflow_run("octo-org/gated", "release/2026-11", &head, "push", "octo-org/gated");
        run["workflow_run"]["conclusion"] = json!(conclusion);
        serde_json::to_vec(&run).unwrap()
    };
    let failed = run("failure");
    let (status, answer) = send_github(&app, "workflow_run", "t3", &failed, &sign(&secret, &failed)).await;
    assert_eq!((status, &answer["reason"]), (200, &json!("CI has not passed")));
    assert_eq!(handled(&app, ForgeKind::Github, "t1").await, "release v1.2.0", "a release, no deployment");
    let outcome = handled(&app, ForgeKind::Github, "t2").await;
    assert!(outcome.starts_with("no trigger of ferry.yml (`main` at "), "{outcome}");
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
    let (token, base, head) = linked_project(&app, "lab", "gitlab", "platform/lab").await;
    let push = json!({
        "object_kind": "push", "event_name": "push", "before": base,
        "after": head, "ref": "refs/heads/main", "checkout_sha": head, "user_id": 4, "user_name": "John Smith",
        "user_username": "jsmith", "project_id": 15,
        "project": {"id": 15, "name": "lab", "path_with_namespace": "platform/lab", "default_branch": "main",
            "web_url": "https://gitlab.example.com/platform/lab"},
        "commits": [{"id": head, "message": "deploy on push"}], "total_commits_count": 1
    });
    let send = |event: &'static str, uuid: &'static str, body: Value, token: String| {
        send_gitlab(&app, event, uuid, body, token)
    };
    let (status, answer) = send("Push Hook", "u1", push.clone(), "wrong-token-wrong-token".into()).await;
    assert_error(status, &answer, 401, "unauthenticated");
    assert_eq!(send("Push Hook", "u1", push, token.clone()).await.0, 202);
    let deployed = deployments(&app, "lab", 1).await;
    assert_eq!((&deployed[0]["state"], &deployed[0]["requested_by"]), (&json!("succeeded"), &json!("gitlab:jsmith")));

    let pipeline = json!({
        "object_kind": "pipeline",
        "object_attributes": {"id": 31, "ref": "v3.0.0", "tag": true, "sha": head, "before_sha": NO_COMMIT,
            "source": "push", "status": "success", "stages": ["build", "test"]},
        "user": {"name": "John Smith", "username": "jsmith"},
        "project": {"id": 15, "path_with_namespace": "platform/lab", "default_branch": "main"}
    });
    // Tags with `wait_for_ci` are not configured here: the pipeline passing makes no release.
    let (status, _) = send("Pipeline Hook", "u2", pipeline, token).await;
    assert_eq!(status, 202);
    let outcome = handled(&app, ForgeKind::Gitlab, "u2").await;
    assert!(outcome.starts_with("no trigger of ferry.yml (`main` at "), "{outcome}");
    assert!(!releases(&app, "lab").await.contains(&"v3.0.0".to_string()));
}

#[tokio::test]
async fn an_event_that_made_nothing_can_be_delivered_again() {
    let app = spawn_app().await;
    let (secret, _, head) = linked_project(&app, "retry", "github", "octo-org/retry").await;
    // A commit the repository does not have (yet): the release cannot be made.
    let missing = "1111111111111111111111111111111111111111";
    let body = serde_json::to_vec(&github_push("octo-org/retry", "refs/heads/main", &head, missing)).unwrap();
    for delivery in ["first", "second"] {
        assert_eq!(send_github(&app, "push", delivery, &body, &sign(&secret, &body)).await.0, 202);
        let outcome = handled(&app, ForgeKind::Github, delivery).await;
        assert!(outcome.starts_with("failed: ") && outcome.contains(missing), "{delivery}: {outcome}");
    }
}

#[tokio::test]
async fn ci_on_a_forks_pull_request_never_deploys_even_from_a_branch_called_main() {
    let app = spawn_app().await;
    let Linked { secret, base, head } = linked_with(&app, "forked", "github", "octo-org/forked", MAIN_AFTER_CI).await;
    let send = |event: &'static str, delivery: &'static str, body: Value| {
        let (app, secret) = (&app, &secret);
        async move {
            let body = serde_json::to_vec(&body).unwrap();
            send_github(app, event, delivery, &body, &sign(secret, &body)).await
        }
    };
    let ignored = |(status, answer): (u16, Value), reason: &str| {
        assert_eq!((status, &answer["status"]), (200, &json!("ignored")), "{answer}");
        let said = answer["reason"].as_str().unwrap();
        assert!(said.contains(reason), "{said}");
    };
    // The fork's CI, on its branch `main`, for its pull request to the repository.
    let fork = github_workflow_run("octo-org/forked", "main", &head, "pull_request", "evil-fork/forked");
    ignored(send("workflow_run", "f1", fork).await, "a workflow run for a `pull_request` event");
    let target = github_workflow_run("octo-org/forked", "main", &head, "pull_request_target", "evil-fork/forked");
    ignored(send("workflow_run", "f2", target).await, "`pull_request_target`");
    // Even if it were named a push: the commit is the fork's.
    let elsewhere = github_workflow_run("octo-org/forked", "main", &head, "push", "evil-fork/forked");
    ignored(send("workflow_run", "f3", elsewhere).await, "`evil-fork/forked`'s commit");
    let suite = |head_branch: Value, pull_requests: Value| {
        json!({
            "action": "completed",
            "check_suite": {"id": 118578147, "head_branch": head_branch, "head_sha": head, "status": "completed",
                "conclusion": "success", "before": base, "after": head, "pull_requests": pull_requests,
                "app": {"id": 15368, "slug": "github-actions"}},
            "repository": {"id": 1296269, "full_name": "octo-org/forked", "default_branch": "main"},
            "sender": {"login": "octocat", "id": 1}
        })
    };
    // GitHub: a check suite on a fork's branch has no head_branch and no pull requests.
    ignored(send("check_suite", "f4", suite(Value::Null, json!([]))).await, "a fork's pull request");
    let theirs = json!([{"id": 2, "number": 7, "url": "https://api.github.com/repos/octo-org/forked/pulls/7",
        "head": {"ref": "main", "sha": head, "repo": {"id": 6661, "name": "forked"}},
        "base": {"ref": "main", "sha": base, "repo": {"id": 1296269, "name": "forked"}}}]);
    ignored(send("check_suite", "f5", suite(json!("main"), theirs)).await, "pull request #7 from another repository");
    for delivery in ["f1", "f2", "f3", "f4", "f5"] {
        let outcome = handled(&app, ForgeKind::Github, delivery).await;
        assert!(outcome.starts_with("ignored: "), "{delivery}: {outcome}");
    }
    assert!(deployments(&app, "forked", 0).await.is_empty());
    assert_eq!(releases(&app, "forked").await, ["1.0.0"]);

    // The repository's own CI for the push to main deploys, as ferry.yml says.
    let own = github_workflow_run("octo-org/forked", "main", &head, "push", "octo-org/forked");
    assert_eq!(send("workflow_run", "f6", own).await.0, 202);
    let deployed = deployments(&app, "forked", 1).await;
    assert_eq!(deployed[0]["release_version"], format!("main-{}", &head[..7]));
    assert_eq!((&deployed[0]["environment"], &deployed[0]["state"]), (&json!("development"), &json!("succeeded")));
}

#[tokio::test]
async fn a_check_suite_of_the_repositorys_own_push_deploys() {
    let app = spawn_app().await;
    let Linked { secret, base, head } = linked_with(&app, "suite", "github", "octo-org/suite", MAIN_AFTER_CI).await;
    // A branch of the repository with an open pull request counts: the branch is ours.
    let ours = json!([{"id": 3, "number": 8, "url": "https://api.github.com/repos/octo-org/suite/pulls/8",
        "head": {"ref": "main", "sha": head, "repo": {"id": 1296269, "name": "suite"}},
        "base": {"ref": "release", "sha": base, "repo": {"id": 1296269, "name": "suite"}}}]);
    let body = serde_json::to_vec(&json!({
        "action": "completed",
        "check_suite": {"id": 118578148, "head_branch": "main", "head_sha": head, "status": "completed",
            "conclusion": "success", "before": base, "after": head, "pull_requests": ours,
            "app": {"id": 15368, "slug": "github-actions"}},
        "repository": {"id": 1296269, "full_name": "octo-org/suite", "default_branch": "main"},
        "sender": {"login": "octocat", "id": 1}
    }))
    .unwrap();
    assert_eq!(send_github(&app, "check_suite", "s1", &body, &sign(&secret, &body)).await.0, 202);
    let deployed = deployments(&app, "suite", 1).await;
    assert_eq!(
        (&deployed[0]["release_version"], &deployed[0]["state"]),
        (&json!(format!("main-{}", &head[..7])), &json!("succeeded"))
    );
}

#[tokio::test]
async fn only_a_gitlab_pipeline_that_a_push_made_counts_as_ci_passing() {
    let app = spawn_app().await;
    let Linked { secret, base, head } = linked_with(&app, "piped", "gitlab", "platform/piped", MAIN_AFTER_CI).await;
    let pipeline = |source: &str| {
        json!({
            "object_kind": "pipeline",
            "object_attributes": {"id": 31, "iid": 3, "ref": "main", "tag": false, "sha": head, "before_sha": base,
                "source": source, "status": "success", "detailed_status": "passed", "stages": ["build", "test"]},
            "merge_request": null,
            "user": {"id": 1, "name": "Jane Doe", "username": "jdoe"},
            "project": {"id": 15, "name": "piped", "path_with_namespace": "platform/piped", "default_branch": "main",
                "web_url": "https://gitlab.example.com/platform/piped"}
        })
    };
    // A merge request pipeline (a fork's included), a schedule, a trigger, the web.
    let others = [("p1", "merge_request_event"), ("p2", "schedule"), ("p3", "trigger"), ("p4", "web"), ("p5", "api")];
    for (uuid, source) in others {
        let (status, answer) = send_gitlab(&app, "Pipeline Hook", uuid, pipeline(source), secret.clone()).await;
        assert_eq!((status, &answer["status"]), (200, &json!("ignored")), "{source}: {answer}");
        let reason = format!("a pipeline from `{source}`, not from a push to the repository");
        assert_eq!(answer["reason"], reason.as_str());
        assert_eq!(handled(&app, ForgeKind::Gitlab, uuid).await, format!("ignored: {reason}"));
    }
    assert!(deployments(&app, "piped", 0).await.is_empty());
    assert_eq!(releases(&app, "piped").await, ["1.0.0"]);

    let (status, _) = send_gitlab(&app, "Pipeline Hook", "p6", pipeline("push"), secret.clone()).await;
    assert_eq!(status, 202);
    let deployed = deployments(&app, "piped", 1).await;
    assert_eq!(
        (&deployed[0]["release_version"], &deployed[0]["state"]),
        (&json!(format!("main-{}", &head[..7])), &json!("succeeded"))
    );
    assert_eq!(deployed[0]["requested_by"], "gitlab:jdoe");
}

#[tokio::test]
async fn a_branchs_own_ferry_yml_cannot_send_it_anywhere() {
    let app = spawn_app().await;
    let Linked { secret, .. } = linked_with(&app, "branchy", "github", "octo-org/branchy", TRIGGERS).await;
    let dev = mirrored(&app, "branchy");
    let send_push = |delivery: &'static str, reference: String, before: String, sha: String| {
        let (app, secret) = (&app, &secret);
        async move {
            let body = serde_json::to_vec(&github_push("octo-org/branchy", &reference, &before, &sha)).unwrap();
            let (status, answer) = send_github(app, "push", delivery, &body, &sign(secret, &body)).await;
            assert_eq!(status, 202, "{answer}");
            handled(app, ForgeKind::Github, delivery).await
        }
    };
    // A branch whose own ferry.yml deploys it to production: it exists only on the
    // forge (Ferry fetches it), and main's ferry.yml has no trigger for it.
    common::git(&dev, &["checkout", "--quiet", "-b", "feature/x"]);
    let to_production = |d: &std::path::Path| {
        edit_ferry_yml(d, |yml| yml + "  - on: push\n    branch: \"feature/*\"\n    deploy: production\n")
    };
    let feature = push(&dev, "feature/x", to_production, "deploy me to production");
    let outcome = send_push("b1", "refs/heads/feature/x".into(), NO_COMMIT.into(), feature.clone()).await;
    assert!(outcome.starts_with("no trigger of ferry.yml (`main` at "), "{outcome}");
    assert!(outcome.ends_with("fires on this push of `feature/x`"), "{outcome}");
    assert!(deployments(&app, "branchy", 0).await.is_empty());
    assert_eq!(releases(&app, "branchy").await, ["1.0.0"]);

    // A payload that names no default branch starts nothing, and says why.
    let mut unnamed = github_push("octo-org/branchy", "refs/heads/feature/x", NO_COMMIT, &feature);
    unnamed["repository"].as_object_mut().unwrap().remove("default_branch");
    let unnamed = serde_json::to_vec(&unnamed).unwrap();
    assert_eq!(send_github(&app, "push", "b2", &unnamed, &sign(&secret, &unnamed)).await.0, 202);
    let outcome = handled(&app, ForgeKind::Github, "b2").await;
    assert!(outcome.starts_with("failed: the payload names no default branch"), "{outcome}");

    // Nor does a default branch without a valid ferry.yml.
    common::git(&dev, &["checkout", "--quiet", "main"]);
    push(&dev, "main", |d| edit_ferry_yml(d, |yml| yml.replace("environments:", "environmentz:")), "break it");
    common::git(&dev, &["checkout", "--quiet", "feature/x"]);
    let again = push(&dev, "feature/x", |d| std::fs::write(d.join("VERSION"), "1.0.1\n").unwrap(), "again");
    let outcome = send_push("b3", "refs/heads/feature/x".into(), feature, again).await;
    assert!(outcome.starts_with("failed: the default branch has no valid ferry.yml (`main` at "), "{outcome}");
    assert!(deployments(&app, "branchy", 0).await.is_empty());
    assert_eq!(releases(&app, "branchy").await, ["1.0.0"]);
}

#[tokio::test]
async fn a_push_to_main_cannot_drop_wait_for_ci_in_its_own_commit() {
    let app = spawn_app().await;
    let Linked { secret, head, .. } = linked_with(&app, "gate", "github", "octo-org/gate", MAIN_AFTER_CI).await;
    let dev = mirrored(&app, "gate");
    let ungated = push(
        &dev,
        "main",
        |d| edit_ferry_yml(d, |yml| yml.replace("    wait_for_ci: true\n", "")),
        "deploy main without waiting for CI",
    );
    let body = serde_json::to_vec(&github_push("octo-org/gate", "refs/heads/main", &head, &ungated)).unwrap();
    assert_eq!(send_github(&app, "push", "g1", &body, &sign(&secret, &body)).await.0, 202);
    let outcome = handled(&app, ForgeKind::Github, "g1").await;
    let (at, pushed) = (&head[..7], &ungated[..7]);
    let before = format!("no trigger of ferry.yml (`main` before {pushed}, at {at}) fires on this push of `main`");
    assert_eq!(outcome, before);
    assert!(deployments(&app, "gate", 0).await.is_empty());
    assert_eq!(releases(&app, "gate").await, ["1.0.0"]);

    // The commit still deploys once CI passes on it, with its own pipeline.
    let run =
        serde_json::to_vec(&github_workflow_run("octo-org/gate", "main", &ungated, "push", "octo-org/gate")).unwrap();
    assert_eq!(send_github(&app, "workflow_run", "g2", &run, &sign(&secret, &run)).await.0, 202);
    let deployed = deployments(&app, "gate", 1).await;
    assert_eq!(deployed[0]["release_version"], format!("main-{}", &ungated[..7]));
    assert_eq!(deployed[0]["state"], "succeeded");
    let id = deployed[0]["release_id"].as_i64().unwrap();
    let release = app.running.state.store.release(id).await.unwrap().unwrap();
    assert_eq!(release.git_commit, ungated);
    assert!(!release.pipeline.contains("wait_for_ci"), "the release keeps the commit's own ferry.yml");
}

#[tokio::test]
async fn a_push_into_a_frozen_environment_makes_its_release_but_does_not_deploy() {
    let app = spawn_app().await;
    let (secret, base, head) = linked_project(&app, "iced", "github", "octo-org/iced").await;
    let now = chrono::Utc::now();
    let window = json!({"kind": "once", "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "to": (now + chrono::Duration::hours(1)).to_rfc3339()});
    let freeze = json!({"environment": "development", "window": window, "reason": "quarter close"});
    let (status, body) = app.post("/api/v1/projects/iced/freezes", freeze).await;
    assert_eq!(status, 201, "{body}");

    let body = serde_json::to_vec(&github_push("octo-org/iced", "refs/heads/main", &base, &head)).unwrap();
    let (status, _) = send_github(&app, "push", "frozen-push", &body, &sign(&secret, &body)).await;
    assert_eq!(status, 202);
    let outcome = handled(&app, ForgeKind::Github, "frozen-push").await;
    assert!(outcome.contains("not deployed to development: development is frozen until"), "{outcome}");
    assert!(outcome.contains("quarter close"), "{outcome}");
    let (_, listed) = app.get("/api/v1/deployments?project=iced").await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "a trigger does not get around a freeze");
    assert!(releases(&app, "iced").await.contains(&format!("main-{}", &head[..7])));
}
