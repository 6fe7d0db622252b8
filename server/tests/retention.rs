//! Retention, run by the server: each day's sweep is a durable job that queues the
//! next day's; maintainers set a project's own days; what a sweep removed shows in
//! `/metrics` for the whole installation.

mod common;

use std::time::Duration;

use common::{assert_error, deploy, spawn_app, wait_until};
use ferry_app::model::Role;
use ferry_server::store::now_millis;
use serde_json::json;

#[tokio::test]
async fn a_project_keeps_its_logs_as_long_as_it_says_and_the_sweeps_are_counted() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("kept").await;
    let id = deploy(&app, "kept", release, "development").await;
    app.wait_finished(id).await;
    let (_, lines) = app.get(&format!("/api/v1/deployments/{id}/logs")).await;
    let lines = lines.as_array().unwrap().len() as i64;
    assert!(lines > 0);
    let (_, detail) = app.get(&format!("/api/v1/deployments/{id}")).await;
    assert!(detail["log_removed_at"].is_null(), "{detail}");

    // Today's sweep ran at start and queued tomorrow's, once, whichever replica runs it.
    let store = app.running.state.store.clone();
    let tomorrow = format!("retention:{}", now_millis() / 86_400_000 + 1);
    wait_until("tomorrow's retention sweep to be queued", Duration::from_secs(20), || {
        let (store, tomorrow) = (store.clone(), tomorrow.clone());
        async move { store.pending_jobs().await.unwrap().iter().any(|(_, key, ..)| *key == tomorrow).then_some(()) }
    })
    .await;

    // Maintainers set it; a deployer may not; the number is checked.
    let (s, retention) = app.get("/api/v1/projects/kept/retention").await;
    assert_eq!((s, retention), (200, json!({"days": null, "server_days": 90})));
    let deployer = app.client_as("dora", Role::Deployer).await;
    let url = format!("{}/api/v1/projects/kept/retention", app.base);
    let refused = deployer.put(&url).json(&json!({"days": 1})).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    for bad in [json!({"days": -1}), json!({"days": 5000}), json!({"days": "a week"}), json!([7])] {
        let answer = app.client.put(&url).json(&bad).send().await.unwrap();
        let status = answer.status().as_u16();
        assert_error(status, &answer.json().await.unwrap(), 400, "bad_request");
    }
    let set = app.client.put(&url).json(&json!({"days": 7})).send().await.unwrap();
    assert_eq!(set.json::<serde_json::Value>().await.unwrap(), json!({"days": 7, "server_days": 90}));

    // Eight days on, the finished deployment's log is gone, and /metrics says how much went.
    store.sweep_retained(90, now_millis() + 8 * 86_400_000).await.unwrap();
    let (s, after) = app.get(&format!("/api/v1/deployments/{id}/logs")).await;
    assert_eq!((s, after), (200, json!([])));
    let (_, detail) = app.get(&format!("/api/v1/deployments/{id}")).await;
    assert!(detail["log_removed_at"].is_string(), "the page can say why its log is empty: {detail}");
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let removed = format!("ferry_retention_removed_rows_total{{kind=\"log_lines\"}} {lines}");
    assert!(metrics.lines().any(|l| l == removed), "{metrics}");
    let freed = metrics.lines().find_map(|l| l.strip_prefix("ferry_retention_freed_bytes_total{kind=\"log_lines\"} "));
    assert!(freed.is_some_and(|bytes| bytes.parse::<i64>().unwrap() > lines * 5), "{metrics}");
    let (_, audit) = app.get("/api/v1/audit?action=project.retention").await;
    assert_eq!(audit[0]["detail"]["days"], 7, "{audit}");
}
