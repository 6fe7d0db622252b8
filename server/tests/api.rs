//! REST API tests through the real server on port 0: projects, releases, real
//! deployments of the hello-web app, queueing, errors, restart and recovery.

mod common;

use std::time::Duration;

use common::{spawn_app, spawn_with, TestApp};
use ferry_app::model::{DeploymentKind, DeploymentState};
use serde_json::{json, Value};

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

async fn deploy(app: &TestApp, project: &str, release: i64, env: &str) -> i64 {
    let (status, body) =
        app.post("/api/v1/deployments", json!({"project": project, "release_id": release, "environment": env})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "queued");
    body["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_deployment_really_deploys_the_app() {
    let app = spawn_app().await;
    let (release, ports) = app.hello_project("hello").await;
    let id = deploy(&app, "hello", release, "development").await;
    let detail = app.wait_finished(id).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");

    let steps: Vec<(&str, &str)> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("fetch", "succeeded"),
            ("build", "succeeded"),
            ("switch", "succeeded"),
            ("restart", "succeeded"),
            ("health-check", "succeeded")
        ]
    );
    let logs: Vec<&str> = detail["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.iter().any(|l| l.starts_with("building hello-web 1.0.0")), "{logs:?}");
    let seqs: Vec<i64> = detail["logs"].as_array().unwrap().iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "log numbers have no gaps");

    let current = app.data_dir.join(format!("targets/development/hello/releases/{release}"));
    assert_eq!(
        std::fs::read_link(app.data_dir.join("targets/development/hello/current")).unwrap(),
        std::path::Path::new("releases").join(release.to_string())
    );
    assert!(current.join("dist/index.html").is_file());
    let page = reqwest::get(format!("http://127.0.0.1:{}/", ports[0])).await.unwrap().text().await.unwrap();
    assert!(page.contains("1.0.0"), "{page}");

    // The whole log downloads as text.
    let text = app.client.get(format!("{}/api/v1/deployments/{id}/log.txt", app.base)).send().await.unwrap();
    assert!(text.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let text = text.text().await.unwrap();
    assert!(text.contains("[build] building hello-web 1.0.0"), "{text}");
    assert_eq!(text.lines().count(), logs.len());

    // The matrix shows it live in development and nothing elsewhere.
    let (_, matrix) = app.get("/api/v1/matrix").await;
    let cells = &matrix["rows"][0]["cells"];
    assert_eq!(cells[0]["current"]["release_version"], "1.0.0");
    assert!(cells[1]["current"].is_null());

    // Metrics count it.
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ferry_deployments{state=\"succeeded\"} 1"), "{metrics}");
    assert!(metrics.contains("ferry_step_duration_seconds_count{step=\"build\"} 1"), "{metrics}");
}

#[tokio::test]
async fn a_second_deployment_to_the_same_environment_waits_for_the_first() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("queue").await;
    let first = deploy(&app, "queue", release, "development").await;
    let second = deploy(&app, "queue", release, "development").await;
    let a = app.wait_finished(first).await;
    let b = app.wait_finished(second).await;
    assert_eq!(a["deployment"]["state"], "succeeded", "{a}");
    assert_eq!(b["deployment"]["state"], "succeeded", "{b}");
    let finished_first = a["deployment"]["finished_at"].as_str().unwrap().to_string();
    let started_second = b["deployment"]["started_at"].as_str().unwrap().to_string();
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert!(parse(&started_second) >= parse(&finished_first), "{started_second} < {finished_first}");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("errs").await;

    let (s, b) = app.post("/api/v1/projects", json!({"slug": "Bad Slug", "name": "x", "repo_url": "/tmp"})).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) =
        app.post("/api/v1/projects", json!({"slug": "nogit", "name": "x", "repo_url": "/definitely/not/here"})).await;
    assert_error(s, &b, 422, "unprocessable");
    let repo = app.data_dir.join("src-errs").display().to_string();
    let (s, b) = app.post("/api/v1/projects", json!({"slug": "errs", "name": "x", "repo_url": repo})).await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app.post("/api/v1/projects", json!({"slug": "x"})).await;
    assert_error(s, &b, 400, "bad_request");

    let raw = app
        .client
        .post(format!("{}/api/v1/deployments", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = raw.status().as_u16();
    let body: Value = raw.json().await.unwrap();
    assert_error(status, &body, 400, "bad_request");

    let (s, b) = app.post("/api/v1/projects/errs/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app.post("/api/v1/projects/errs/releases", json!({"version": "2.0", "git_commit": "0123abc"})).await;
    assert_error(s, &b, 422, "unprocessable");
    let (s, b) = app.post("/api/v1/projects/errs/releases", json!({"version": "2.0", "git_commit": "--help"})).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = app.post("/api/v1/projects/nope/releases", json!({"version": "2.0", "git_commit": "HEAD"})).await;
    assert_error(s, &b, 404, "not_found");

    let (s, b) =
        app.post("/api/v1/deployments", json!({"project": "errs", "release_id": release, "environment": "moon"})).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) =
        app.post("/api/v1/deployments", json!({"project": "errs", "release_id": 9999, "environment": "staging"})).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app.get("/api/v1/deployments/abc").await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = app.get("/api/v1/deployments/424242").await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = app.get("/api/v1/deployments?limit=0").await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = app.get("/api/v1/no-such-thing").await;
    assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn a_broken_pipeline_file_is_rejected_with_its_line() {
    let app = spawn_app().await;
    app.hello_project("broken").await;
    let repo = app.data_dir.join("src-broken");
    std::fs::write(repo.join("ferry.yml"), "environments:\n  - name: development\n  - name: Not Valid\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "break it"]);
    let (s, b) = app.post("/api/v1/projects/broken/releases", json!({"version": "2.0", "git_commit": "HEAD"})).await;
    assert_error(s, &b, 422, "unprocessable");
    let message = b["message"].as_str().unwrap();
    assert!(message.starts_with("ferry.yml:3:") && message.contains("environments[1].name"), "{message}");
}

#[tokio::test]
async fn a_failing_health_check_fails_the_deployment_with_the_reason() {
    let app = spawn_app().await;
    app.hello_project("sick").await;
    let repo = app.data_dir.join("src-sick");
    let yml = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("/healthz", "/healthz-missing")
        .replace("expect_status: 200", "expect_status: 204")
        .replace("timeout: 20s", "timeout: 3s");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "unhealthy"]);
    let (_, release) =
        app.post("/api/v1/projects/sick/releases", json!({"version": "2.0", "git_commit": "HEAD"})).await;
    let id = deploy(&app, "sick", release["id"].as_i64().unwrap(), "development").await;
    let detail = app.wait_finished(id).await;
    assert_eq!(detail["deployment"]["state"], "failed");
    assert!(detail["deployment"]["reason"].as_str().unwrap().contains("health-check"), "{detail}");
    assert_eq!(detail["steps"][4]["state"], "failed");

    // The notification center has heard of it; marking it read is remembered.
    let (_, list) = app.get("/api/v1/notifications").await;
    let failed = list["items"].as_array().unwrap().iter().find(|n| n["kind"] == "deployment_failed").unwrap();
    assert_eq!(failed["title"], "✗ sick 2.0 failed in development");
    assert_eq!(failed["deployment_id"], id);
    assert_eq!(list["unread"], 1, "{list}");
    let (s, after) = app.post("/api/v1/notifications/read", json!({"ids": [failed["id"]]})).await;
    assert_eq!((s, after["unread"].as_i64()), (200, Some(0)), "{after}");
    let (s, b) = app.post("/api/v1/notifications/read", json!({"ids": "all"})).await;
    assert_error(s, &b, 400, "bad_request");
}

#[tokio::test]
async fn history_and_logs_survive_a_restart_and_interrupted_work_is_failed() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("durable").await;
    let id = deploy(&app, "durable", release, "development").await;
    let before = app.wait_finished(id).await;
    // A deployment that was running when the server stopped.
    let store = app.running.state.store.clone();
    let interrupted = {
        let project = store.project_by_slug("durable").await.unwrap().unwrap();
        let d = store
            .create_deployment(
                project.id,
                project.environments[1].id,
                release,
                DeploymentKind::Deploy,
                &["fetch".into()],
            )
            .await
            .unwrap();
        store.transition_deployment(d.id, DeploymentState::Queued, DeploymentState::Running, None).await.unwrap();
        d.id
    };
    let config = app.config.clone();
    let tmp_keeper = app; // keeps the data directory while the second server runs
    tmp_keeper.running.server.abort();

    let second = spawn_with(config).await;
    let (_, after) = second.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(after["logs"], before["logs"]);
    assert_eq!(after["deployment"]["state"], "succeeded");
    let (_, failed) = second.get(&format!("/api/v1/deployments/{interrupted}")).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    assert!(failed["deployment"]["reason"].as_str().unwrap().contains("interrupted"), "{failed}");
    assert_eq!(failed["steps"][0]["state"], "skipped");
    let (_, history) = second.get("/api/v1/deployments?project=durable").await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    drop(tmp_keeper);
}

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    let (s, b) = app.get("/healthz").await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ok")));
    let (s, doc) = app.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/{slug}/releases",
        "/api/v1/releases/{id}",
        "/api/v1/matrix",
        "/api/v1/deployments",
        "/api/v1/deployments/preview",
        "/api/v1/deployments/{id}",
        "/api/v1/deployments/{id}/cancel",
        "/api/v1/deployments/{id}/logs",
        "/api/v1/deployments/{id}/log.txt",
        "/api/v1/events",
        "/api/v1/insights",
        "/api/v1/rollbacks",
        "/api/v1/rollbacks/preview",
        "/api/v1/notifications",
        "/api/v1/notifications/read",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["DeploymentView"].is_object());
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ferry_websocket_clients 0"), "{metrics}");
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn the_demo_project_is_created_on_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = common::test_config(tmp.path());
    config.demo = true;
    let app = spawn_with(config.clone()).await;
    let (_, matrix) = app.get("/api/v1/matrix").await;
    let row = &matrix["rows"][0];
    assert_eq!(row["project"]["slug"], "hello-web");
    let envs: Vec<&str> =
        row["cells"].as_array().unwrap().iter().map(|c| c["environment"]["name"].as_str().unwrap()).collect();
    assert_eq!(envs, ["development", "staging", "production"]);
    let versions: Vec<&str> =
        row["releases"].as_array().unwrap().iter().map(|r| r["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.1.0", "1.0.0"]);
    app.running.server.abort();
    // A second start finds the project and does not seed again.
    let again = spawn_with(config).await;
    let (_, projects) = again.get("/api/v1/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 1);
    drop(app);
}

#[tokio::test]
async fn deployments_can_be_cancelled_while_running_or_queued() {
    let app = spawn_app().await;
    app.hello_project("slow").await;
    let repo = app.data_dir.join("src-slow");
    let yml = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replace("run: sh build.sh", "run: sleep 60");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "slow build"]);
    let (_, release) =
        app.post("/api/v1/projects/slow/releases", json!({"version": "2.0", "git_commit": "HEAD"})).await;
    let release = release["id"].as_i64().unwrap();
    let running = deploy(&app, "slow", release, "development").await;
    let queued = deploy(&app, "slow", release, "development").await;

    // Wait until the slow build step runs.
    for _ in 0..100 {
        let (_, d) = app.get(&format!("/api/v1/deployments/{running}")).await;
        if d["steps"][1]["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, b) = app.post(&format!("/api/v1/deployments/{queued}/cancel"), json!({})).await;
    assert_eq!((s, b["state"].as_str()), (202, Some("cancelled")), "{b}");
    let started = std::time::Instant::now();
    let (s, _) = app.post(&format!("/api/v1/deployments/{running}/cancel"), json!({})).await;
    assert_eq!(s, 202);
    let detail = app.wait_finished(running).await;
    assert!(started.elapsed() < Duration::from_secs(10), "the sleeping step was killed");
    assert_eq!(detail["deployment"]["state"], "cancelled", "{detail}");
    assert_eq!(detail["steps"][1]["state"], "failed");
    assert_eq!(detail["steps"][2]["state"], "skipped");
    let (_, q) = app.get(&format!("/api/v1/deployments/{queued}")).await;
    assert_eq!(q["deployment"]["state"], "cancelled");
    assert!(q["steps"].as_array().unwrap().iter().all(|s| s["state"] == "skipped"));

    let (s, b) = app.post(&format!("/api/v1/deployments/{running}/cancel"), json!({})).await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = app.post("/api/v1/deployments/99999/cancel", json!({})).await;
    assert_error(s, &b, 404, "not_found");
}

#[tokio::test]
async fn releases_are_promoted_in_lifecycle_order_with_a_changelog() {
    let app = spawn_app().await;
    let (first, _) = app.hello_project("flow").await;
    let repo = app.data_dir.join("src-flow");
    std::fs::write(repo.join("VERSION"), "1.1.0\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "friendlier greeting"]);
    let (_, second) =
        app.post("/api/v1/projects/flow/releases", json!({"version": "1.1.0", "git_commit": "HEAD"})).await;
    let second = second["id"].as_i64().unwrap();

    // Straight to staging is refused, with what to do instead; the preview says the same.
    let request = json!({"project": "flow", "release_id": second, "environment": "staging"});
    let (s, b) = app.post("/api/v1/deployments", request.clone()).await;
    assert_error(s, &b, 409, "conflict");
    assert!(b["message"].as_str().unwrap().contains("has not succeeded in development"), "{b}");
    let (s, preview) = app.post("/api/v1/deployments/preview", request.clone()).await;
    assert_eq!(s, 200, "{preview}");
    assert!(preview["blocked"].as_str().unwrap().contains("development"));

    // 1.0.0 live in development; previewing 1.1.0 there lists the one new commit.
    let id = deploy(&app, "flow", first, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let (_, preview) = app
        .post(
            "/api/v1/deployments/preview",
            json!({"project": "flow", "release_id": second, "environment": "development"}),
        )
        .await;
    assert!(preview["blocked"].is_null(), "{preview}");
    assert_eq!(preview["replaces"], "1.0.0");
    let subjects: Vec<&str> =
        preview["added"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["friendlier greeting"]);
    assert!(preview["removed"].as_array().unwrap().is_empty());

    // Once it succeeded in development, it may go to staging.
    let id = deploy(&app, "flow", second, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let (_, preview) = app.post("/api/v1/deployments/preview", request.clone()).await;
    assert!(preview["blocked"].is_null(), "{preview}");
    assert!(preview["replaces"].is_null());
    assert_eq!(preview["added"].as_array().unwrap().len(), 2, "all history when nothing is live");
    let id = deploy(&app, "flow", second, "staging").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");

    // The release page: its changelog since 1.0.0 and everywhere it went.
    let (s, page) = app.get(&format!("/api/v1/releases/{second}")).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["previous"]["version"], "1.0.0");
    let changelog: Vec<&str> =
        page["changelog"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    assert_eq!(changelog, ["friendlier greeting"]);
    let envs: Vec<&str> =
        page["deployments"].as_array().unwrap().iter().map(|d| d["environment"].as_str().unwrap()).collect();
    assert_eq!(envs, ["staging", "development"]);
    let (s, b) = app.get("/api/v1/releases/777").await;
    assert_error(s, &b, 404, "not_found");

    // Insights count what finished: three successes, none in production yet.
    let (s, insights) = app.get("/api/v1/insights?project=flow&days=7").await;
    assert_eq!(s, 200, "{insights}");
    let envs: Vec<(&str, i64)> = insights["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["succeeded"].as_i64().unwrap()))
        .collect();
    assert_eq!(envs, [("development", 2), ("staging", 1)]);
    assert_eq!(insights["dora"]["production_deployments"], 0);
    assert!(insights["dora"]["change_failure_rate"].is_null());
    assert_eq!(insights["daily"].as_array().unwrap().len(), 7);
    assert_eq!(insights["daily"][6]["succeeded"], 3);
    let (s, b) = app.get("/api/v1/insights?days=0").await;
    assert_error(s, &b, 400, "bad_request");

    // Going back to 1.0.0 in development takes the newer commit back.
    let (_, back) = app
        .post(
            "/api/v1/deployments/preview",
            json!({"project": "flow", "release_id": first, "environment": "development"}),
        )
        .await;
    let removed: Vec<&str> =
        back["removed"].as_array().unwrap().iter().map(|c| c["subject"].as_str().unwrap()).collect();
    assert_eq!(removed, ["friendlier greeting"]);
}

async fn page(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap().text().await.unwrap()
}

async fn release_at_head(app: &TestApp, slug: &str, version: &str) -> i64 {
    let body = json!({"version": version, "git_commit": "HEAD"});
    let (s, release) = app.post(&format!("/api/v1/projects/{slug}/releases"), body).await;
    assert_eq!(s, 201, "{release}");
    release["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_release_failing_its_health_check_is_rolled_back_automatically() {
    let app = spawn_app().await;
    let (good, ports) = app.hello_project("safe").await;
    let id = deploy(&app, "safe", good, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");

    // 2.0 goes live but never passes its health check.
    let repo = app.data_dir.join("src-safe");
    let yml = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("expect_status: 200", "expect_status: 204")
        .replace("timeout: 20s", "timeout: 2s");
    std::fs::write(repo.join("ferry.yml"), yml).unwrap();
    std::fs::write(repo.join("VERSION"), "2.0.0\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "2.0 with a broken health check"]);
    let bad = release_at_head(&app, "safe", "2.0.0").await;
    let id = deploy(&app, "safe", bad, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("health-check") && reason.contains("rolling back to 1.0.0 (deployment #"), "{reason}");

    // The rollback is a recorded deployment of its own, and 1.0.0 serves again.
    let (_, history) = app.get("/api/v1/deployments?project=safe&limit=1").await;
    let rollback = &history[0];
    assert_eq!((rollback["kind"].as_str(), rollback["release_id"].as_i64()), (Some("rollback"), Some(good)));
    let detail = app.wait_finished(rollback["id"].as_i64().unwrap()).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    let steps: Vec<&str> = detail["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["activate", "restart", "health-check"], "no fetch, no build");
    assert!(page(ports[0]).await.contains("1.0.0"));
    let link = std::fs::read_link(app.data_dir.join("targets/development/safe/current")).unwrap();
    assert!(link.ends_with(good.to_string()), "{link:?}");
}

#[tokio::test]
async fn an_environment_can_be_rolled_back_to_an_earlier_release_in_one_call() {
    let app = spawn_app().await;
    let (first, ports) = app.hello_project("back").await;
    let id = deploy(&app, "back", first, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let repo = app.data_dir.join("src-back");
    std::fs::write(repo.join("VERSION"), "1.1.0\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "1.1.0"]);
    let second = release_at_head(&app, "back", "1.1.0").await;

    // Not yet: 1.1.0 never ran in development, so it cannot be rolled back to.
    let request = json!({"project": "back", "release_id": second, "environment": "development"});
    let (s, b) = app.post("/api/v1/rollbacks", request.clone()).await;
    assert_error(s, &b, 409, "conflict");
    let (_, preview) = app.post("/api/v1/rollbacks/preview", request).await;
    assert!(preview["blocked"].as_str().unwrap().contains("never ran successfully"), "{preview}");

    let id = deploy(&app, "back", second, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    assert!(page(ports[0]).await.contains("1.1.0"));
    let (_, matrix) = app.get("/api/v1/matrix").await;
    assert_eq!(matrix["rows"][0]["cells"][0]["previous"]["release_version"], "1.0.0");

    let request = json!({"project": "back", "release_id": first, "environment": "development"});
    let (_, preview) = app.post("/api/v1/rollbacks/preview", request.clone()).await;
    assert!(preview["blocked"].is_null(), "{preview}");
    assert_eq!(preview["removed"][0]["subject"], "1.1.0");
    let (s, rollback) = app.post("/api/v1/rollbacks", request).await;
    assert_eq!((s, rollback["kind"].as_str()), (202, Some("rollback")), "{rollback}");
    let detail = app.wait_finished(rollback["id"].as_i64().unwrap()).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    assert!(page(ports[0]).await.contains("1.0.0"));
    let (_, matrix) = app.get("/api/v1/matrix").await;
    let cell = &matrix["rows"][0]["cells"][0];
    assert_eq!(
        (cell["current"]["release_version"].as_str(), cell["previous"]["release_version"].as_str()),
        (Some("1.0.0"), Some("1.1.0"))
    );
}
