//! One deployment per environment at a time, whatever arrives at once: twenty
//! concurrent requests never overlap and only the newest queued one survives (the
//! default `queue: supersede`), `queue: in-order` runs every one in turn, and an older
//! release never replaces a newer one unless the request says so.

mod common;

use chrono::{DateTime, Utc};
use common::{deploy, release_at_head, spawn_app, TestApp};
use serde_json::{json, Value};

async fn details(app: &TestApp, ids: &[i64]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(app.wait_finished(*id).await);
    }
    out
}

fn at(d: &Value, field: &str) -> Option<DateTime<Utc>> {
    d["deployment"][field].as_str().map(|t| t.parse().unwrap())
}

fn set_queue(app: &TestApp, slug: &str, policy: &str) {
    let repo = app.data_dir.join(format!("src-{slug}"));
    let text = std::fs::read_to_string(repo.join("ferry.yml")).unwrap();
    let text = text.replacen("  - name: development\n", &format!("  - name: development\n    queue: {policy}\n"), 1);
    std::fs::write(repo.join("ferry.yml"), text).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "queue policy"]);
}

#[tokio::test]
async fn twenty_requests_at_once_run_one_at_a_time_and_only_the_newest_waiting_one_survives() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("rush").await;
    let body = json!({"project": "rush", "release_id": release, "environment": "development"});
    let requests = (0..20).map(|_| app.client.post(format!("{}/api/v1/deployments", app.base)).json(&body).send());
    let mut ids = Vec::new();
    for response in futures::future::join_all(requests).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    ids.sort();
    let all = details(&app, &ids).await;
    app.wait_idle().await;

    let mut ran: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for d in &all {
        let state = d["deployment"]["state"].as_str().unwrap();
        match state {
            "succeeded" => ran.push((at(d, "started_at").unwrap(), at(d, "finished_at").unwrap())),
            "cancelled" => {
                let reason = d["deployment"]["reason"].as_str().unwrap();
                assert!(reason.starts_with("superseded by #"), "{reason}");
                assert!(at(d, "started_at").is_none(), "a superseded deployment never started");
            }
            other => panic!("unexpected {other}: {d}"),
        }
    }
    // Never two at once.
    ran.sort();
    for pair in ran.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlap: {pair:?}");
    }
    // The newest request always runs; the rest of the queue was superseded.
    assert_eq!(all.last().unwrap()["deployment"]["state"], "succeeded");
    assert!(ran.len() < 20, "queued requests were superseded");
}

#[tokio::test]
async fn in_order_runs_every_request_in_turn() {
    let app = spawn_app().await;
    let (_, _) = app.hello_project("line").await;
    set_queue(&app, "line", "in-order");
    let release = release_at_head(&app, "line", "1.0.1").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(deploy(&app, "line", release, "development").await);
    }
    let all = details(&app, &ids).await;
    assert!(all.iter().all(|d| d["deployment"]["state"] == "succeeded"));
    for pair in all.windows(2) {
        assert!(at(&pair[1], "started_at").unwrap() >= at(&pair[0], "finished_at").unwrap());
    }
}

#[tokio::test]
async fn the_old_spelling_still_works_and_the_release_says_to_change_it() {
    let app = spawn_app().await;
    app.hello_project("spelling").await;
    set_queue(&app, "spelling", "in_order");
    let release = release_at_head(&app, "spelling", "1.0.1").await;
    let (status, detail) = app.get(&format!("/api/v1/releases/{release}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["pipeline_warnings"],
        json!(["ferry.yml: `in_order` is an old spelling of `in-order`: it still works, but write `in-order`"])
    );
    let id = deploy(&app, "spelling", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    // The demo's own file uses today's spellings.
    let (_, first) = app.get("/api/v1/projects/spelling/releases").await;
    let oldest = first.as_array().unwrap().last().unwrap()["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/api/v1/releases/{oldest}")).await;
    assert_eq!(detail["pipeline_warnings"], json!([]));
}

#[tokio::test]
async fn an_older_release_never_replaces_a_newer_one_silently() {
    let app = spawn_app().await;
    app.hello_project("ages").await;
    set_queue(&app, "ages", "in-order");
    let old = release_at_head(&app, "ages", "1.5.0").await;
    let repo = app.data_dir.join("src-ages");
    std::fs::write(repo.join("VERSION"), "2.0.0\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "2.0.0"]);
    let new = release_at_head(&app, "ages", "2.0.0").await;

    let id = deploy(&app, "ages", new, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let body = json!({"project": "ages", "release_id": old, "environment": "development"});
    let (status, refused) = app.post("/api/v1/deployments", body.clone()).await;
    common::assert_error(status, &refused, 409, "conflict");
    assert!(refused["message"].as_str().unwrap().contains("older than 2.0.0"), "{refused}");
    let (_, preview) = app.post("/api/v1/deployments/preview", body.clone()).await;
    assert_eq!(preview["older_than_live"], true);

    // Saying so is enough.
    let mut confirmed = body.clone();
    confirmed["allow_older"] = json!(true);
    let (status, started) = app.post("/api/v1/deployments", confirmed).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(app.wait_finished(started["id"].as_i64().unwrap()).await["deployment"]["state"], "succeeded");

    // A request accepted while 1.5.0 was live, then overtaken by 2.0.0 going live while
    // it waited, does not put 1.5.0 back.
    let again = deploy(&app, "ages", new, "development").await;
    let (status, waiting) = app.post("/api/v1/deployments", body).await;
    assert_eq!(status, 202, "{waiting}");
    assert_eq!(app.wait_finished(again).await["deployment"]["state"], "succeeded");
    let overtaken = app.wait_finished(waiting["id"].as_i64().unwrap()).await;
    assert_eq!(overtaken["deployment"]["state"], "failed");
    let reason = overtaken["deployment"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("2.0.0 went live in development while this deployment waited"), "{reason}");
}
