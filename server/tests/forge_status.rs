//! Statuses back to the forge, against local GitHub and GitLab APIs that check each
//! request against the providers' documentation: a GitHub Deployment per Ferry
//! deployment with queued → in_progress → success (and inactive for the one it
//! replaced), commit statuses per environment; GitLab commit statuses and deployments;
//! forge failures and rate limits retried without holding the deployment; linking that
//! checks the token and creates the webhook.

mod common;

use common::fake_forges::{spawn_with_forges, Call, FakeForge};
use common::{assert_error, deploy, release_at_head, TestApp};
use serde_json::{json, Value};

const TOKEN: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";

async fn link(app: &TestApp, slug: &str, body: Value) -> (u16, Value) {
    let response = app.client.put(format!("{}/api/v1/projects/{slug}/forge", app.base)).json(&body).send().await;
    common::browser::json_of(response.unwrap()).await
}

fn posts_to<'a>(calls: &'a [Call], suffix: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
    calls.iter().filter(move |c| c.method == "POST" && c.path.ends_with(suffix))
}

fn states(calls: &[&Call]) -> Vec<String> {
    calls.iter().map(|c| c.body["state"].as_str().unwrap_or("").to_string()).collect()
}

fn head(app: &TestApp, slug: &str) -> String {
    common::git(&app.data_dir.join(format!("src-{slug}")), &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn github_sees_each_deployment_and_a_replaced_one_goes_inactive() {
    let github = FakeForge::github(TOKEN, &["octo-org/hello"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), None).await;
    let (first, ports) = app.hello_project("hello").await;
    let (s, linked) = link(&app, "hello", json!({"forge": "github", "repo": "octo-org/hello", "token": TOKEN})).await;
    assert_eq!(s, 200, "{linked}");
    assert_eq!(linked["link"]["reports_statuses"], true);
    let sha = head(&app, "hello");

    let id = deploy(&app, "hello", first, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let path = format!("/repos/octo-org/hello/statuses/{sha}");
    github.wait_for(1, |c| c.path == path && c.body["state"] == "success").await;
    let calls = github.calls();
    let created: Vec<&Call> = posts_to(&calls, "/deployments").collect();
    assert_eq!(created.len(), 1, "{calls:#?}");
    let body = &created[0].body;
    assert_eq!((&body["ref"], &body["environment"]), (&json!(sha), &json!("development")), "{body}");
    assert_eq!((&body["production_environment"], &body["required_contexts"]), (&json!(false), &json!([])));
    let statuses: Vec<Call> =
        posts_to(&calls, "/statuses").filter(|c| c.path.contains("/deployments/")).cloned().collect();
    assert_eq!(states(&statuses.iter().collect::<Vec<_>>()), ["queued", "in_progress", "success"]);
    let log_url = format!("{}/deployments/{id}", app.base);
    assert!(statuses.iter().all(|c| c.body["log_url"] == log_url), "{statuses:#?}");
    let commit: Vec<&Call> = posts_to(&calls, &path).collect();
    assert_eq!(states(&commit), ["pending", "pending", "success"]);
    assert!(commit.iter().all(|c| c.body["context"] == "ferry/development" && c.body["target_url"] == log_url));

    // 2.0.0 declares where development is reached, and replaces 1.0.0 there.
    let repo = app.data_dir.join("src-hello");
    let url = format!("http://127.0.0.1:{}/", ports[0]);
    let yml = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replacen(
        "  - name: development\n",
        &format!("  - name: development\n    url: {url}\n"),
        1,
    );
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "development's address"]);
    let second = release_at_head(&app, "hello", "2.0.0").await;
    let id2 = deploy(&app, "hello", second, "development").await;
    assert_eq!(app.wait_finished(id2).await["deployment"]["state"], "succeeded");
    let inactive = github.wait_for(1, |c| c.body["state"] == "inactive").await;
    assert_eq!(inactive[0].path, statuses[0].path, "the first deployment is the one replaced");
    assert_eq!(inactive[0].body["description"], "Replaced by 2.0.0");
    assert_eq!(github.calls().iter().filter(|c| c.path.ends_with("/deployments")).count(), 2);
    let all = github.calls();
    let success =
        posts_to(&all, "/statuses").filter(|c| c.body["state"] == "success" && c.path.contains("/deployments/"));
    assert_eq!(success.last().unwrap().body["environment_url"], url);
    assert!(github.problems().is_empty(), "{:?}", github.problems());
}

#[tokio::test]
async fn forge_failures_are_retried_and_never_hold_a_deployment() {
    let github = FakeForge::github(TOKEN, &["octo-org/hello"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), None).await;
    let (release, _) = app.hello_project("hello").await;
    let (s, linked) = link(&app, "hello", json!({"forge": "github", "repo": "octo-org/hello", "token": TOKEN})).await;
    assert_eq!(s, 200, "{linked}");
    let reset = (chrono::Utc::now().timestamp() + 1).to_string();
    let limited: &[(&str, &str)] = &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)];
    github.fail_next(&[(502, &[]), (403, limited)]);

    let id = deploy(&app, "hello", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let sha = head(&app, "hello");
    github.wait_for(1, |c| c.path.ends_with(&sha) && c.body["state"] == "success").await;
    let (_, view) = app.get("/api/v1/projects/hello/forge").await;
    let reports = view["reports"].as_array().unwrap();
    assert!(reports.iter().all(|r| r["state"] == "delivered"), "{view}");
    let queued = reports.iter().find(|r| r["deployment_state"] == "queued").unwrap();
    assert_eq!(queued["attempts"], 3, "a 502, then a rate limit, then accepted: {view}");

    // A refusal is final for that report only; the deployment and later reports go on.
    github.fail_next(&[(422, &[])]);
    let id2 = deploy(&app, "hello", release, "staging").await;
    assert_eq!(app.wait_finished(id2).await["deployment"]["state"], "succeeded");
    github
        .wait_for(1, |c| c.path.ends_with(&sha) && c.body["context"] == "ferry/staging" && c.body["state"] == "success")
        .await;
    let (_, view) = app.get("/api/v1/projects/hello/forge").await;
    let refused = view["reports"].as_array().unwrap().iter().find(|r| r["state"] == "failed").cloned().unwrap();
    assert_eq!((refused["deployment_id"].as_i64(), refused["environment"].as_str()), (Some(id2), Some("staging")));
    assert!(refused["last_error"].as_str().unwrap().contains("422"), "{refused}");
}

#[tokio::test]
async fn gitlab_gets_commit_statuses_and_deployments() {
    let gitlab = FakeForge::gitlab(TOKEN, &["platform/hello"]).await;
    let (app, _data) = spawn_with_forges(None, Some(&gitlab)).await;
    let (release, _) = app.hello_project("hello").await;
    let (s, linked) = link(&app, "hello", json!({"forge": "gitlab", "repo": "platform/hello", "token": TOKEN})).await;
    assert_eq!(s, 200, "{linked}");
    let sha = head(&app, "hello");

    let id = deploy(&app, "hello", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let edited = gitlab.wait_for(1, |c| c.method == "PUT").await;
    assert_eq!(edited[0].body["status"], "success");
    let calls = gitlab.calls();
    let path = format!("/projects/platform%2Fhello/statuses/{sha}");
    let commit: Vec<&Call> = calls.iter().filter(|c| c.path == path).collect();
    assert_eq!(states(&commit), ["pending", "running", "success"]);
    assert!(commit.iter().all(|c| c.body["name"] == "ferry/development"));
    assert_eq!(commit[0].body["target_url"], format!("{}/deployments/{id}", app.base));
    let created: Vec<&Call> = posts_to(&calls, "/projects/platform%2Fhello/deployments").collect();
    assert_eq!(created.len(), 1);
    let expected = json!({"environment": "development", "sha": sha, "ref": sha, "tag": "false", "status": "running"});
    assert_eq!(created[0].body, expected);

    // A failing build ends in failed, on the commit and on the deployment.
    let repo = app.data_dir.join("src-hello");
    let yml = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replace("run: sh build.sh", "run: \"exit 3\"");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "broken build"]);
    let broken = release_at_head(&app, "hello", "2.0").await;
    let id2 = deploy(&app, "hello", broken, "development").await;
    assert_eq!(app.wait_finished(id2).await["deployment"]["state"], "failed");
    gitlab.wait_for(2, |c| c.method == "PUT").await;
    let calls = gitlab.calls();
    let last = calls.iter().rev().find(|c| c.method == "PUT").unwrap();
    assert_eq!(last.body["status"], "failed");
    let new_sha = head(&app, "hello");
    let failed = calls.iter().rfind(|c| c.path.ends_with(&new_sha)).unwrap();
    assert_eq!(failed.body["state"], "failed");
    assert!(failed.body["description"].as_str().unwrap().starts_with("2.0 failed"), "{:?}", failed.body);
    assert!(gitlab.problems().is_empty(), "{:?}", gitlab.problems());
}

#[tokio::test]
async fn linking_checks_the_token_and_creates_the_webhook() {
    let github = FakeForge::github(TOKEN, &["octo-org/hello"]).await;
    let gitlab = FakeForge::gitlab(TOKEN, &["platform/hello"]).await;
    let (app, _data) = spawn_with_forges(Some(&github), Some(&gitlab)).await;
    app.hello_project("hello").await;

    let (s, b) = link(&app, "hello", json!({"forge": "github", "repo": "octo-org/hello", "token": "wrong"})).await;
    assert_error(s, &b, 422, "unprocessable");
    assert!(b["message"].as_str().unwrap().contains("Bad credentials"), "{b}");
    let (s, b) = link(&app, "hello", json!({"forge": "github", "repo": "octo-org/other", "token": TOKEN})).await;
    assert_error(s, &b, 422, "unprocessable");
    assert!(b["message"].as_str().unwrap().contains("Not Found"), "{b}");
    let (s, b) = link(&app, "hello", json!({"forge": "github", "repo": "octo-org/hello", "create_hook": true})).await;
    assert_error(s, &b, 400, "bad_request");
    assert_eq!(app.get("/api/v1/projects/hello/forge").await.1, Value::Null, "nothing was linked");

    let wanted = json!({"forge": "github", "repo": "octo-org/hello", "token": TOKEN, "create_hook": true});
    let (s, linked) = link(&app, "hello", wanted).await;
    assert_eq!(s, 200, "{linked}");
    let calls = github.calls();
    let hook = posts_to(&calls, "/repos/octo-org/hello/hooks").next().expect("the webhook was created");
    let config = &hook.body["config"];
    assert_eq!(config["url"], format!("{}/hooks/github", app.base));
    assert_eq!((&config["secret"], &config["content_type"]), (&linked["secret"], &json!("json")));
    assert!(hook.body["events"].as_array().unwrap().contains(&json!("push")));

    let wanted = json!({"forge": "gitlab", "repo": "platform/hello", "token": TOKEN, "create_hook": true});
    let (s, linked) = link(&app, "hello", wanted).await;
    assert_eq!(s, 200, "{linked}");
    let calls = gitlab.calls();
    let hook = posts_to(&calls, "/projects/platform%2Fhello/hooks").next().expect("the webhook was created");
    assert_eq!(hook.body["url"], format!("{}/hooks/gitlab", app.base));
    assert_eq!((&hook.body["token"], &hook.body["push_events"]), (&linked["secret"], &json!("true")));
    assert!(github.problems().is_empty() && gitlab.problems().is_empty());
}
