//! The chain as Alex sets it up: a push to a private GitHub repository reaches Ferry
//! as a signed webhook; Ferry fetches the commit with the link's token, makes the
//! release and deploys it to development as ferry.yml's trigger says; GitHub hears of
//! each step; `ferry deploy --wait` takes the release to staging and exits 0; a push
//! whose health check fails is reported to GitHub as a failure, and `ferry deploy
//! --wait` of it exits non-zero.

mod common;

use base64::Engine;
use common::cli::{admin_token, ferry};
use common::fake_forges::FakeForge;
use common::git_server::GitServer;
use common::hooks::{github_push, send_github, sign};
use common::{git, TestApp};
use serde_json::{json, Value};

const TOKEN: &str = "ghp_ChainTestToken0123456789abcdefABCDEF";
const TRIGGER: &str = "\ntriggers:\n  - on: push\n    branch: main\n    deploy: development\n";

/// A developer's commit, pushed to the private repository; returns its sha.
fn push(dev: &std::path::Path, bare: &std::path::Path, change: impl Fn(&std::path::Path), message: &str) -> String {
    change(dev);
    git(dev, &["commit", "--quiet", "-am", message]);
    git(dev, &["push", "--quiet", "origin", "HEAD"]);
    git(bare, &["update-server-info"]);
    git(dev, &["rev-parse", "HEAD"])
}

async fn webhook(app: &TestApp, secret: &str, delivery: &str, before: &str, sha: &str) {
    let body = serde_json::to_vec(&github_push("octo-org/shop", "refs/heads/main", before, sha)).unwrap();
    let (status, answer) = send_github(app, "push", delivery, &body, &sign(secret, &body)).await;
    assert_eq!(status, 202, "{answer}");
}

fn commit_status(sha: &str, environment: &str, state: &str) -> impl Fn(&common::fake_forges::Call) -> bool {
    let (path, context, state) =
        (format!("/repos/octo-org/shop/statuses/{sha}"), format!("ferry/{environment}"), state.to_string());
    move |c| c.path == path && c.body["context"] == context.as_str() && c.body["state"] == state.as_str()
}

#[tokio::test]
async fn a_push_reaches_development_github_hears_and_the_cli_gates_staging() {
    let github = FakeForge::github(TOKEN, &["octo-org/shop"]).await;
    let data = tempfile::tempdir().unwrap();
    let config =
        ferry_server::config::Config { github_api_url: github.base.clone(), ..common::test_config(data.path()) };
    let app = common::spawn_with(config).await;
    let (_, ports) = app.hello_project("shop").await;
    let src = app.data_dir.join("src-shop");
    let yml = std::fs::read_to_string(src.join("ferry.yml")).unwrap() + TRIGGER;
    std::fs::write(src.join("ferry.yml"), yml).unwrap();
    git(&src, &["commit", "--quiet", "-am", "deploy main on push"]);
    // The default branch, whose ferry.yml holds the triggers.
    git(&src, &["branch", "-M", "main"]);
    let first = git(&src, &["rev-parse", "HEAD"]);

    // The private repository: a bare copy that answers only to the token.
    let bare = app.data_dir.join("shop.git");
    git(&app.data_dir, &["clone", "--quiet", "--bare", src.to_str().unwrap(), bare.to_str().unwrap()]);
    git(&bare, &["update-server-info"]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"));
    let server = GitServer::start(&bare, &format!("Basic {basic}")).await;
    git(&src, &["remote", "add", "origin", &server.url]);
    let dev = app.data_dir.join("dev");
    git(&app.data_dir, &["clone", "--quiet", bare.to_str().unwrap(), dev.to_str().unwrap()]);

    let link = json!({"forge": "github", "repo": "octo-org/shop", "token": TOKEN});
    let linked: Value = app
        .client
        .put(format!("{}/api/v1/projects/shop/forge", app.base))
        .json(&link)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = linked["secret"].as_str().expect("linked").to_string();

    // 2.0.0 is pushed: Ferry fetches it with the token and deploys it to development.
    let sha = push(&dev, &bare, |d| std::fs::write(d.join("VERSION"), "2.0.0\n").unwrap(), "2.0.0");
    webhook(&app, &secret, "3f5a1c9e-0001", &first, &sha).await;
    github.wait_for(1, commit_status(&sha, "development", "success")).await;
    assert!(
        server.seen.lock().unwrap().iter().any(|given| given == &format!("Basic {basic}")),
        "fetched with the token"
    );
    assert!(common::page(ports[0]).await.contains("2.0.0"));
    let version = format!("main-{}", &sha[..7]);

    // The CI job promotes it to staging and waits.
    let token = admin_token(&app).await;
    let home = tempfile::tempdir().unwrap();
    let env = [("FERRY_URL", app.base.as_str()), ("FERRY_TOKEN", token.as_str())];
    let staged =
        ferry(home.path(), &env, &["deploy", "--project", "shop", "--env", "staging", "--release", &version, "--wait"])
            .await;
    assert_eq!(staged.code, 0, "{}{}", staged.stdout, staged.stderr);
    github.wait_for(1, commit_status(&sha, "staging", "success")).await;
    assert!(common::page(ports[1]).await.contains("2.0.0"));

    // A push whose health check never passes: failed on GitHub, and the CLI says so.
    let broken = push(
        &dev,
        &bare,
        |d| {
            let yml = std::fs::read_to_string(d.join("ferry.yml")).unwrap();
            let yml = yml.replace("expect_status: 200", "expect_status: 204").replace("timeout: 20s", "timeout: 2s");
            std::fs::write(d.join("ferry.yml"), yml).unwrap();
        },
        "expect 204",
    );
    webhook(&app, &secret, "3f5a1c9e-0002", &sha, &broken).await;
    github.wait_for(1, commit_status(&broken, "development", "failure")).await;
    let again = format!("main-{}", &broken[..7]);
    let failed = ferry(
        home.path(),
        &env,
        &["deploy", "--project", "shop", "--env", "development", "--release", &again, "--wait"],
    )
    .await;
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stdout.contains("health"), "{}", failed.stdout);
    assert!(github.problems().is_empty(), "{:?}", github.problems());
}
