//! Previews of pull and merge requests, against the local GitHub and GitLab stand-ins
//! (which check each request) and real git repositories served over HTTP: a request
//! opened deploys its head to `pr-<number>` on a port of its own, the request gets one
//! comment that Ferry keeps up to date, a push deploys again, and closing it runs the
//! teardown, removes the releases and frees the port, as does a `ttl` without a push;
//! a request beyond `max` waits for a place.
//! Code from a fork waits for a
//! deployer's approval, and the request's own ferry.yml cannot choose which
//! environment's settings its preview borrows.

mod common;

use std::path::Path;

use common::fake_forges::{spawn_with_forges, Call, FakeForge};
use common::git_server::{basic, serve};
use common::hooks::{github_pull_request, gitlab_merge_request, send_github, send_gitlab, sign};
use common::{git, make_hello_repo, wait_until, TestApp, DEPLOYMENT_TIMEOUT};
use serde_json::{json, Value};

const GITHUB_TOKEN: &str = "ghp_PreviewTestToken0123456789abcdefABCDEF";
const GITLAB_TOKEN: &str = "glpat-PreviewTestToken0123";

/// Two consecutive ports reserved for this test.
fn free_range() -> (u16, u16) {
    let first = common::ports::free_ports(2);
    (first, first + 1)
}

/// The hello app, with previews borrowing `development` on `ports`.
fn fill_with_previews(src: &Path, ports: (u16, u16)) {
    make_hello_repo(src, [common::free_port(), common::free_port(), common::free_port()]);
    let previews = format!(
        "\npreviews:\n  from: development\n  ports: {}-{}\n  url: http://127.0.0.1:${{PORT}}/\n  max: 2\n  \
         teardown:\n    - name: stop\n      run: kill \"$(cat \"$FERRY_TARGET_DIR/app.pid\")\"\n",
        ports.0, ports.1
    );
    let yml = std::fs::read_to_string(src.join("ferry.yml")).unwrap() + &previews;
    std::fs::write(src.join("ferry.yml"), yml).unwrap();
    git(src, &["commit", "--quiet", "-am", "previews"]);
}

/// Imports `repo` from the forge; answers the webhook secret the forge was given.
async fn import(app: &TestApp, forge: &FakeForge, kind: &str, repo: &str, slug: &str, token: &str) -> String {
    let source = json!({"kind": kind, "repo": repo});
    let (status, imported) =
        app.post("/api/v1/imports", json!({"slug": slug, "name": slug, "source": source, "token": token})).await;
    assert_eq!(status, 201, "{imported}");
    let hooks = forge.wait_for(1, |c: &Call| c.method == "POST" && c.path.ends_with("/hooks")).await;
    let config = &hooks[0].body;
    config["config"]["secret"].as_str().or(config["token"].as_str()).unwrap().to_string()
}

/// The comment on request `number` once it holds each of `texts` (there is only ever one).
async fn comment_with(forge: &FakeForge, number: u64, texts: &[&str]) -> String {
    wait_until(&format!("the comment on #{number} to say {texts:?}"), DEPLOYMENT_TIMEOUT, || async move {
        let comments = forge.comments_on(number);
        assert!(comments.len() <= 1, "one comment, kept up to date: {comments:?}");
        comments.first().filter(|c| texts.iter().all(|t| c.contains(t))).cloned()
    })
    .await
}

async fn comment_saying(forge: &FakeForge, number: u64, text: &str) -> String {
    comment_with(forge, number, &[text]).await
}

async fn environment(app: &TestApp, slug: &str, name: &str) -> Option<Value> {
    let (_, projects) = app.get("/api/v1/projects").await;
    let project = projects.as_array().unwrap().iter().find(|p| p["slug"] == slug).unwrap().clone();
    project["environments"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned()
}

async fn refused(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err()
}

fn github_event(action: &str, number: u64, (sha, branch): (&str, &str)) -> Vec<u8> {
    serde_json::to_vec(&github_pull_request("octo-org/shop", action, number, (sha, branch), "octo-org/shop")).unwrap()
}

#[tokio::test]
async fn a_pull_request_gets_a_preview_on_its_own_port_kept_in_one_comment_and_torn_down_when_closed() {
    let github = FakeForge::github(GITHUB_TOKEN, &["octo-org/shop"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), None).await;
    let ports = free_range();
    let shop =
        serve(&app.data_dir, "shop", |src| fill_with_previews(src, ports), &basic("x-access-token", GITHUB_TOKEN))
            .await;
    github.serve_repo("octo-org/shop", &shop.server.url);
    let secret = import(&app, &github, "github", "octo-org/shop", "shop", GITHUB_TOKEN).await;

    // Opened: the head is built and deployed to pr-7 on the range's first port.
    let first = shop.push_request("feature", "refs/pull/7/head", "1.1.0-pr");
    let body = github_event("opened", 7, (&first, "feature"));
    let (status, answer) = send_github(&app, "pull_request", "pr-7-opened", &body, &sign(&secret, &body)).await;
    assert_eq!(status, 202, "{answer}");
    let live = comment_saying(&github, 7, "✅ Live").await;
    assert!(live.contains(&format!("http://127.0.0.1:{}/", ports.0)), "{live}");
    assert!(live.contains(&first[..12]), "{live}");
    assert!(live.contains(&format!("{}/deployments/", app.base)), "links to the deployment: {live}");
    assert!(common::page(ports.0).await.contains("1.1.0-pr"));
    let preview = environment(&app, "shop", "pr-7").await.expect("pr-7 is an environment");
    assert_eq!(preview["preview"]["port"], ports.0);
    assert_eq!(preview["preview"]["from"], "development");
    assert_eq!(preview["preview"]["branch"], "feature");
    let (_, development) = app.get("/api/v1/deployments?project=shop&environment=development").await;
    assert_eq!(development.as_array().unwrap().len(), 0, "the request's code went nowhere else");
    let made = github.wait_for(1, |c: &Call| c.path == "/repos/octo-org/shop/deployments").await;
    assert_eq!(made[0].body["environment"], "pr-7");
    assert_eq!(made[0].body["transient_environment"], true);
    assert_eq!(made[0].body["production_environment"], false);

    // Pushed to: deployed again, and the same comment says so.
    let second = shop.push_request("feature", "refs/pull/7/head", "1.2.0-pr");
    let body = github_event("synchronize", 7, (&second, "feature"));
    assert_eq!(send_github(&app, "pull_request", "pr-7-pushed", &body, &sign(&secret, &body)).await.0, 202);
    comment_with(&github, 7, &["✅ Live", &second[..12]]).await;
    assert!(common::page(ports.0).await.contains("1.2.0-pr"));
    let edits = github.calls().iter().filter(|c| c.method == "PATCH").count();
    assert!(edits >= 2, "the comment is edited, not posted again ({edits} edits)");

    // Closed: the teardown stops the app, the releases go, the port is free.
    let body = github_event("closed", 7, (&second, "feature"));
    assert_eq!(send_github(&app, "pull_request", "pr-7-closed", &body, &sign(&secret, &body)).await.0, 202);
    comment_saying(&github, 7, "Removed").await;
    wait_until("the preview's port to be free", DEPLOYMENT_TIMEOUT, || async { refused(ports.0).await.then_some(()) })
        .await;
    assert!(environment(&app, "shop", "pr-7").await.is_none(), "a torn-down preview leaves the matrix");
    let target = app.data_dir.join("targets/pr-7/shop");
    assert!(!target.join("releases").exists() && !target.join("current").exists(), "its releases are gone");
    let inactive = |c: &Call| c.path.starts_with("/repos/octo-org/shop/deployments/") && c.body["state"] == "inactive";
    github.wait_for(1, inactive).await;
    let (_, history) = app.get("/api/v1/deployments?project=shop&environment=pr-7").await;
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["teardown", "deploy", "deploy"]);

    // Another request gets the freed port.
    let third = shop.push_request("other", "refs/pull/8/head", "2.0.0-pr");
    let body = github_event("opened", 8, (&third, "other"));
    assert_eq!(send_github(&app, "pull_request", "pr-8-opened", &body, &sign(&secret, &body)).await.0, 202);
    comment_saying(&github, 8, "✅ Live").await;
    assert!(common::page(ports.0).await.contains("2.0.0-pr"));

    // Two previews at most (`max: 2`): #9 takes the other port, #10 waits for a place.
    for number in [9, 10] {
        let (branch, reference) = (format!("change-{number}"), format!("refs/pull/{number}/head"));
        let head = shop.push_request(&branch, &reference, &format!("3.{number}.0-pr"));
        let body = github_event("opened", number, (&head, &branch));
        let delivery = format!("pr-{number}-opened");
        assert_eq!(send_github(&app, "pull_request", &delivery, &body, &sign(&secret, &body)).await.0, 202);
        if number == 9 {
            comment_saying(&github, 9, "✅ Live").await;
        }
    }
    let waiting = wait_until("#10 to wait for a place", DEPLOYMENT_TIMEOUT, || async {
        environment(&app, "shop", "pr-10").await.filter(|e| e["preview"]["state"] == "waiting")
    })
    .await;
    assert!(waiting["preview"]["port"].is_null());
    assert!(github.comments_on(10).is_empty(), "nothing to say before it runs");

    // #8 idle past its time to live (made due here: the shortest is an hour) goes, and
    // #10 gets its place and its port.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/ferry.db", app.data_dir.display())).await.unwrap();
    sqlx::query("UPDATE previews SET ttl_seconds = 0 WHERE number = 8").execute(&db).await.unwrap();
    let due = sqlx::query("UPDATE jobs SET run_after = 0 WHERE kind = 'preview_expiry' AND done_at IS NULL");
    assert!(due.execute(&db).await.unwrap().rows_affected() >= 1, "each push queues the preview's expiry");
    comment_saying(&github, 8, "Removed").await;
    let live = comment_saying(&github, 10, "✅ Live").await;
    assert!(live.contains(&format!("http://127.0.0.1:{}/", ports.0)), "{live}");
    assert!(environment(&app, "shop", "pr-9").await.is_some(), "#9 is not idle long enough to go");
    assert!(github.problems().is_empty(), "{:?}", github.problems());
    common::stop_apps(&app.data_dir);
}

#[tokio::test]
async fn a_merge_request_from_a_fork_waits_for_approval_and_cannot_borrow_another_environment() {
    let gitlab = FakeForge::gitlab(GITLAB_TOKEN, &["platform/shop"]).await;
    let (app, _data) = spawn_with_forges(None, Some(&gitlab)).await;
    let ports = free_range();
    let shop = serve(&app.data_dir, "shop", |src| fill_with_previews(src, ports), &basic("oauth2", GITLAB_TOKEN)).await;
    gitlab.serve_repo("platform/shop", &shop.server.url);
    let secret = import(&app, &gitlab, "gitlab", "platform/shop", "shop", GITLAB_TOKEN).await;
    for (environment, value) in [("development", "dev"), ("production", "production-only")] {
        let body = json!({"name": "WHO", "environment": environment, "value": value, "secret": false});
        let response = app.client.put(format!("{}/api/v1/projects/shop/variables", app.base)).json(&body);
        assert_eq!(response.send().await.unwrap().status(), 204);
    }

    // The fork's own ferry.yml asks for production's settings, and prints them.
    git(&shop.dev, &["checkout", "--quiet", "-b", "fork-change"]);
    let yml = std::fs::read_to_string(shop.dev.join("ferry.yml"))
        .unwrap()
        .replace("from: development", "from: production")
        .replace("deploy:\n", "deploy:\n  - name: who\n    run: echo \"who=$WHO\"\n");
    std::fs::write(shop.dev.join("ferry.yml"), yml).unwrap();
    git(&shop.dev, &["commit", "--quiet", "-am", "borrow production"]);
    let head = shop.push_request("fork-change", "refs/merge-requests/3/head", "6.6.6-fork");
    let event = gitlab_merge_request("platform/shop", "open", 3, (&head, "fork-change"), 99);
    let (status, answer) = send_gitlab(&app, "Merge Request Hook", "mr-3-open", event, secret.clone()).await;
    assert_eq!(status, 202, "{answer}");

    // Nothing runs until a deployer approves.
    comment_saying(&gitlab, 3, "Waiting for a deployer's approval").await;
    let waiting = wait_until("the fork's deployment to wait", DEPLOYMENT_TIMEOUT, || async {
        let (_, listed) = app.get("/api/v1/deployments?project=shop&environment=pr-3").await;
        listed.as_array().unwrap().first().filter(|d| d["state"] == "awaiting_approval").cloned()
    })
    .await;
    assert!(refused(ports.0).await, "nothing listens before the approval");
    let preview = environment(&app, "shop", "pr-3").await.unwrap();
    assert_eq!(preview["preview"]["from_fork"], true);
    assert_eq!(preview["preview"]["from"], "development", "the default branch's ferry.yml decides");
    let id = waiting["id"].as_i64().unwrap();
    let (status, body) = app.post(&format!("/api/v1/deployments/{id}/approve"), json!({"comment": "read it"})).await;
    assert_eq!(status, 200, "{body}");
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    comment_saying(&gitlab, 3, "✅ Live").await;
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.contains(&"who=dev"), "development's variables: {logs:?}");
    assert!(!logs.iter().any(|l| l.contains("production-only")), "{logs:?}");
    assert!(common::page(ports.0).await.contains("6.6.6-fork"));

    // Merged: torn down, the note says so.
    let event = gitlab_merge_request("platform/shop", "merge", 3, (&head, "fork-change"), 99);
    assert_eq!(send_gitlab(&app, "Merge Request Hook", "mr-3-merge", event, secret.clone()).await.0, 202);
    comment_saying(&gitlab, 3, "Removed").await;
    assert!(refused(ports.0).await, "the app was stopped");
    assert!(gitlab.calls().iter().any(|c| c.method == "PUT" && c.path.contains("/merge_requests/3/notes/")));
    let stopped = || async { (gitlab.environment_state("pr-3").as_deref() == Some("stopped")).then_some(()) };
    wait_until("GitLab's pr-3 environment to be stopped", DEPLOYMENT_TIMEOUT, stopped).await;

    // A request whose file drops `previews` and declares `pr-4` itself, with variables
    // of its choosing, still runs with the default branch's settings.
    git(&shop.dev, &["checkout", "--quiet", "-b", "fork-declares", "main"]);
    let yml = std::fs::read_to_string(shop.dev.join("ferry.yml")).unwrap();
    let yml = yml[..yml.find("\npreviews:").unwrap()]
        .replace("environments:\n", "environments:\n  - name: pr-4\n    vars: { WHO: fork-chosen, PORT: \"1\" }\n")
        .replace("deploy:\n", "deploy:\n  - name: who\n    run: echo \"who=$WHO\"\n");
    std::fs::write(shop.dev.join("ferry.yml"), yml + "\n").unwrap();
    git(&shop.dev, &["commit", "--quiet", "-am", "declare pr-4"]);
    let head = shop.push_request("fork-declares", "refs/merge-requests/4/head", "7.7.7-fork");
    let event = gitlab_merge_request("platform/shop", "open", 4, (&head, "fork-declares"), 99);
    assert_eq!(send_gitlab(&app, "Merge Request Hook", "mr-4-open", event, secret.clone()).await.0, 202);
    let waiting = wait_until("#4 to wait for approval", DEPLOYMENT_TIMEOUT, || async {
        let (_, listed) = app.get("/api/v1/deployments?project=shop&environment=pr-4").await;
        listed.as_array().unwrap().first().filter(|d| d["state"] == "awaiting_approval").cloned()
    })
    .await;
    let id = waiting["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/deployments/{id}/approve"), json!({})).await.0, 200);
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.contains(&"who=dev") && !logs.iter().any(|l| l.contains("fork-chosen")), "{logs:?}");
    assert!(common::page(ports.0).await.contains("7.7.7-fork"), "on the preview's own port, not the file's");
    assert!(gitlab.problems().is_empty(), "{:?}", gitlab.problems());
    common::stop_apps(&app.data_dir);
}
