//! Real deployments of the hello-web app through the REST API: what they put on the
//! target, queueing per environment, failure, cancellation and rollback.

mod common;

use std::time::Duration;

use common::{assert_error, deploy, page, release_at_head, spawn_app};
use serde_json::json;

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
            ("pack", "succeeded"),
            ("unpack", "succeeded"),
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

    // Built once: staging unpacks the very artifact development got, and builds nothing.
    let (_, listed) = app.get("/api/v1/projects/hello/releases").await;
    let sha = listed[0]["artifact_sha256"].as_str().expect("the release's artifact is recorded").to_string();
    assert!(app.data_dir.join(format!("artifacts/{sha}.tar.gz")).is_file());
    assert!(text.contains(&format!("packed the artifact sha256:{sha}")), "{text}");
    let staged = app.wait_finished(deploy(&app, "hello", release, "staging").await).await;
    let steps: Vec<&str> = staged["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["unpack", "switch", "restart", "health-check"], "no fetch, no build");
    let logs: Vec<&str> = staged["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.iter().any(|l| l.starts_with(&format!("unpacked sha256:{sha}"))), "{logs:?}");
    assert!(common::page(ports[1]).await.contains("1.0.0"));

    // A damaged artifact is refused before anything of it is unpacked.
    let stored = app.data_dir.join(format!("artifacts/{sha}.tar.gz"));
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let refused = app.wait_finished(deploy(&app, "hello", release, "production").await).await;
    assert_eq!(refused["deployment"]["state"], "failed");
    let reason = refused["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("step unpack") && reason.contains("checksum"), "{reason}");
    assert!(!app.data_dir.join("targets/production/hello/current").exists());
}

#[tokio::test]
async fn artifacts_are_served_only_to_agents() {
    let app = spawn_app().await;
    let sha = "a".repeat(64);
    let url = format!("{}/agent/artifacts/{sha}", app.base);
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let stranger = reqwest::Client::new().get(&url).bearer_auth("ferry_agent_not-a-credential").send().await.unwrap();
    assert_eq!(stranger.status(), 401);
    // A person's API token is not an agent's credential either.
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_second_deployment_to_the_same_environment_waits_for_the_first() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("queue").await;
    let first = deploy(&app, "queue", release, "development").await;
    // The environment's queue supersedes requests still queued: the first must hold
    // the environment when the second arrives, or the second would cancel it.
    app.wait_deployment_state(first, "running").await;
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
    assert_eq!(detail["deployment"]["state"], "failed", "{detail}");
    assert!(detail["deployment"]["reason"].as_str().unwrap().contains("health-check"), "{detail}");
    assert_eq!(detail["steps"][6]["state"], "failed");

    // The notification center hears of it (a job the failure queued); marking it read
    // is remembered.
    let list = common::wait_until("the failure in the notification center", Duration::from_secs(20), || async {
        let (_, list) = app.get("/api/v1/notifications").await;
        list["items"].as_array().unwrap().iter().any(|n| n["kind"] == "deployment_failed").then_some(list)
    })
    .await;
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
    // Wait until the slow build step runs; only then does the second request queue
    // behind it (a request arriving while the first is still queued supersedes it).
    common::wait_until(&format!("the build step of deployment {running} to run"), Duration::from_secs(60), || {
        let app = &app;
        async move { (app.deployment(running).await["steps"][1]["state"] == "running").then_some(()) }
    })
    .await;
    let queued = deploy(&app, "slow", release, "development").await;
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
