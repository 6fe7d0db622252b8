//! REST API tests through the real server on port 0: projects, releases, promotion,
//! errors, restart and recovery, insights, and the OpenAPI document.

mod common;

use common::{assert_error, deploy, spawn_app, spawn_with};
use ferry_app::model::{DeploymentKind, DeploymentState};
use ferry_server::store::NewDeployment;
use serde_json::{json, Value};

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

    // A query that cannot mean what it says is refused, not ignored: a wrong type, an
    // unknown value of a choice, a misspelt parameter.
    for path in [
        "/api/v1/deployments?limit=ten",
        "/api/v1/deployments?state=exploded",
        "/api/v1/deployments?projetc=errs",
        "/api/v1/deployments?since=yesterday",
        "/api/v1/insights?days=many",
        "/api/v1/insights?projects=errs",
        "/api/v1/events?after=x",
        "/api/v1/events?from=3",
        "/api/v1/audit?format=xml",
        "/api/v1/audit?actors=admin",
        "/api/v1/deployments/1/logs?limit=-",
    ] {
        let (s, b) = app.get(path).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("bad_request")), "{path}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {b}");
    }
    // serde would read a struct from an array by position: that body must not deploy.
    let by_position = json!(["errs", release, "development"]);
    let (s, b) = app.post("/api/v1/deployments", by_position).await;
    assert_error(s, &b, 400, "bad_request");
    assert!(b["message"].as_str().unwrap().contains("JSON object"), "{b}");
    let (_, history) = app.get("/api/v1/deployments?project=errs").await;
    assert_eq!(history.as_array().map(Vec::len), Some(0), "nothing was deployed: {history}");
    let (s, b) = app.post("/api/v1/projects", json!("errs")).await;
    assert_error(s, &b, 400, "bad_request");
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
            .create_deployment(&NewDeployment::queued(
                (project.id, project.environments[1].id, release),
                DeploymentKind::Deploy,
                &["fetch".into()],
                "alex",
            ))
            .await
            .unwrap();
        store.transition_deployment(d.id, DeploymentState::Queued, DeploymentState::Running, None).await.unwrap();
        d.id
    };
    let config = app.config.clone();
    let tmp_keeper = app.stop_keeping_data(); // the data directory outlives the first server

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
        "/auth/login",
        "/auth/{provider}/callback",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["DeploymentView"].is_object());
    assert_eq!(doc["info"]["title"], "Ferry API");
    let sign_in = &doc["paths"]["/auth/login"]["post"];
    assert!(sign_in["responses"]["429"].is_object(), "sign-in's throttle is documented: {sign_in}");
    assert_eq!(sign_in["security"], serde_json::json!([{}]), "signing in takes no token");
    // Every operation documents the answers any request can get.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap().iter().filter(|(_, o)| o["responses"].is_object()) {
            let answers = &operation["responses"];
            let with_input = operation["parameters"].as_array().is_some_and(|p| !p.is_empty())
                || operation["requestBody"].is_object();
            let open = operation["security"] == serde_json::json!([{}]);
            let statuses = ["401", "403"].into_iter().filter(|&status| !(open && status == "401"));
            for status in statuses.chain(with_input.then_some("400")) {
                assert!(answers[status].is_object(), "{method} {path} does not document {status}");
            }
            if operation["requestBody"].is_object() {
                assert!(answers["413"].is_object(), "{method} {path} does not document 413");
            }
        }
    }
    // Editors check ferry.yml against the parser's own schema; no sign-in needed.
    let (s, schema) = app.get("/api/ferry.schema.json").await;
    assert_eq!(s, 200);
    assert_eq!(schema["title"], "ferry.yml");
    assert_eq!(schema["required"], serde_json::json!(["environments"]));
    assert!(schema["definitions"]["StepSpec"]["properties"]["if"].is_object(), "{schema}");
    let (s, _) = app.get("/api/v1/releases/not-a-number").await;
    assert_eq!(s, 400);
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let metrics = metrics.text().await.unwrap();
    // Requests by route pattern and status, never by the path a caller chose.
    for line in [
        "ferry_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "ferry_http_requests_total{method=\"GET\",route=\"/api/v1/releases/{id}\",status=\"400\"} 1",
        "ferry_websocket_clients 0",
        "ferry_agents_online 0",
        "ferry_deployments{state=\"running\"} 0",
        "ferry_jobs_waiting{kind=\"deliver_notification\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in:\n{metrics}");
    }
    assert!(!metrics.contains("not-a-number"), "{metrics}");
    assert!(metrics.contains("ferry_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\""));
    let resident = metrics.lines().find_map(|l| l.strip_prefix("process_resident_memory_bytes "));
    assert!(resident.is_some_and(|bytes| bytes.parse::<f64>().unwrap() > 1e6), "{metrics}");
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
    drop(app);
    // A second start finds the project and does not seed again.
    let again = spawn_with(config).await;
    let (_, projects) = again.get("/api/v1/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 1);
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
