//! Deploy freeze windows: once or weekly, checked field by field; while one covers
//! the present, deployments are refused (rollbacks are not), only an admin overrides
//! it, only with a reason, and the audit log keeps the reason.

mod common;

use chrono::{Datelike, Duration, Timelike, Utc};
use common::{assert_error, deploy, spawn_app, TestApp};
use ferry_app::model::Role;
use serde_json::{json, Value};

/// `ddd HH:MM` of a moment, as a weekly window takes it.
fn week_time(at: chrono::DateTime<Utc>) -> String {
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][at.weekday().num_days_from_monday() as usize];
    format!("{day} {:02}:{:02}", at.hour(), at.minute())
}

async fn add(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Value) {
    let response = client.post(format!("{}/api/v1/projects/cold/freezes", app.base)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_freeze_refuses_deployments_until_an_admin_overrides_it_with_a_reason() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("cold").await;
    let first = deploy(&app, "cold", release, "development").await;
    app.wait_finished(first).await;

    // Bad windows are named by their field; maintainers only.
    for (window, field) in [
        (json!({"kind": "weekly", "from": "funday 10:00", "to": "mon 08:00"}), "window.from"),
        (json!({"kind": "weekly", "from": "fri 16:00", "to": "mon 24:00"}), "window.to"),
        (json!({"kind": "once", "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}), "window.to"),
    ] {
        let (s, b) =
            add(&app, &app.client, json!({"environment": "development", "window": window, "reason": "x"})).await;
        assert_error(s, &b, 400, "bad_request");
        assert!(b["message"].as_str().unwrap().starts_with(field), "{b}");
    }
    let (s, b) =
        add(&app, &app.client, json!({"environment": "development", "window": {"kind": "sometimes"}, "reason": "x"}))
            .await;
    assert_eq!(s, 400, "{b}");
    let deployer = app.client_as("dora", Role::Deployer).await;
    let now = Utc::now();
    let around_now = json!({"kind": "weekly", "from": week_time(now - Duration::hours(1)), "to": week_time(now + Duration::hours(1))});
    let body = json!({"environment": "development", "window": around_now, "reason": "release week"});
    let (s, b) = add(&app, &deployer, body.clone()).await;
    assert_error(s, &b, 403, "forbidden");

    // A past window does not freeze; one around now does.
    let past = json!({"kind": "once", "from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"});
    let (s, _) = add(&app, &app.client, json!({"environment": "development", "window": past, "reason": "old"})).await;
    assert_eq!(s, 201);
    let (s, freeze) = add(&app, &app.client, body).await;
    assert_eq!(s, 201, "{freeze}");
    assert_eq!(freeze["active"], true);
    let (_, listed) = app.get("/api/v1/projects/cold/freezes").await;
    let actives: Vec<bool> = listed.as_array().unwrap().iter().map(|f| f["active"].as_bool().unwrap()).collect();
    assert_eq!(actives, [false, true]);

    let request = json!({"project": "cold", "release_id": release, "environment": "development"});
    let asked = |client: reqwest::Client, body: Value| {
        let url = format!("{}/api/v1/deployments", app.base);
        async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (s, b) = asked(app.client.clone(), request.clone()).await;
    assert_error(s, &b, 409, "conflict");
    let message = b["message"].as_str().unwrap();
    assert!(message.starts_with("development is frozen until") && message.contains("release week"), "{message}");
    let (_, preview) = app.post("/api/v1/deployments/preview", request.clone()).await;
    assert!(preview["frozen"].as_str().unwrap().contains("release week"));

    // Only an admin overrides, and only with a reason.
    let mut overriding = request.clone();
    overriding["freeze_override"] = json!("hotfix for INC-42");
    let (s, b) = asked(deployer.clone(), overriding.clone()).await;
    assert_error(s, &b, 403, "forbidden");
    let mut empty = request.clone();
    empty["freeze_override"] = json!("  ");
    let (s, b) = asked(app.client.clone(), empty).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, started) = asked(app.client.clone(), overriding).await;
    assert_eq!(s, 202, "{started}");
    app.wait_finished(started["id"].as_i64().unwrap()).await;
    let (_, audit) = app.get("/api/v1/audit?action=freeze.override").await;
    let entry = &audit.as_array().unwrap()[0];
    assert_eq!(
        (entry["target"].as_str(), entry["detail"]["reason"].as_str()),
        (Some("cold/development"), Some("hotfix for INC-42"))
    );

    // Rollbacks are how incidents end: never frozen.
    let (s, rollback) = app.post("/api/v1/rollbacks", request.clone()).await;
    assert_eq!(s, 202, "{rollback}");
    app.wait_finished(rollback["id"].as_i64().unwrap()).await;

    // Removing the window thaws the environment.
    let id = freeze["id"].as_i64().unwrap();
    let removed = app.client.delete(format!("{}/api/v1/projects/cold/freezes/{id}", app.base)).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let (s, b) = asked(app.client.clone(), request).await;
    assert_eq!(s, 202, "{b}");
    app.wait_finished(b["id"].as_i64().unwrap()).await;
}

#[tokio::test]
async fn a_deployment_that_waited_into_a_freeze_does_not_start_unless_an_admin_overrode_one() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("cold").await;
    let url = format!("{}/api/v1/projects/cold/environments/development/protection", app.base);
    let protection = json!({"deploy_role": "deployer", "required_approvals": 1, "wait_minutes": 0});
    assert_eq!(app.client.put(url).json(&protection).send().await.unwrap().status(), 200);
    let request = |freeze_override: Option<&str>| json!({"project": "cold", "release_id": release, "environment": "development", "freeze_override": freeze_override});
    let ask = |client: reqwest::Client, body: Value| {
        let url = format!("{}/api/v1/deployments", app.base);
        async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    // Asked before any freeze, one of them with an "override" that counts for nothing.
    let deployer = app.client_as("dora", Role::Deployer).await;
    let (s, plain) = ask(deployer.clone(), request(None)).await;
    assert_eq!((s, plain["state"].as_str()), (202, Some("awaiting_approval")), "{plain}");
    let (s, sneaky) = ask(deployer.clone(), request(Some("my own override"))).await;
    assert_eq!((s, sneaky["state"].as_str()), (202, Some("awaiting_approval")), "{sneaky}");

    // Then the environment freezes; an admin deploys anyway, with a reason.
    let now = Utc::now();
    let window = json!({"kind": "weekly", "from": week_time(now - Duration::hours(1)), "to": week_time(now + Duration::hours(1))});
    let (s, _) =
        add(&app, &app.client, json!({"environment": "development", "window": window, "reason": "audit week"})).await;
    assert_eq!(s, 201);
    let (s, overridden) = ask(app.client.clone(), request(Some("INC-7 hotfix"))).await;
    assert_eq!(s, 202, "{overridden}");

    // Approved during the freeze: the two asked before it do not start; the override runs.
    let approver = app.client_as("ada", Role::Admin).await;
    for waiting in [&plain, &sneaky, &overridden] {
        let id = waiting["id"].as_i64().unwrap();
        let approve = approver.post(format!("{}/api/v1/deployments/{id}/approve", app.base)).json(&json!({}));
        assert_eq!(approve.send().await.unwrap().status(), 200);
        let done = app.wait_finished(id).await;
        let (state, reason) = (done["deployment"]["state"].as_str(), done["deployment"]["reason"].as_str());
        if waiting["id"] == overridden["id"] {
            assert_eq!(state, Some("succeeded"), "{done}");
        } else {
            assert_eq!(state, Some("failed"), "{done}");
            assert!(reason.unwrap().starts_with("not started: development is frozen until"), "{done}");
        }
    }
}

#[tokio::test]
async fn a_weekly_freeze_is_read_in_its_time_zone() {
    let app = spawn_app().await;
    app.hello_project("cold").await;
    let bad = json!({"kind": "weekly", "from": "fri 16:00", "to": "mon 08:00", "time_zone": "Mars/Olympus"});
    let (s, b) = add(&app, &app.client, json!({"environment": "development", "window": bad, "reason": "x"})).await;
    assert_error(s, &b, 400, "bad_request");
    assert!(b["message"].as_str().unwrap().starts_with("window.time_zone: `Mars/Olympus`"), "{b}");

    // Kiritimati is 14 hours ahead of UTC all year: its hour around now is not UTC's.
    let local = Utc::now() + Duration::hours(14);
    let (from, to) = (week_time(local - Duration::hours(1)), week_time(local + Duration::hours(1)));
    let there = json!({"kind": "weekly", "from": from, "to": to, "time_zone": "Pacific/Kiritimati"});
    let (s, freeze) =
        add(&app, &app.client, json!({"environment": "development", "window": there, "reason": "tz"})).await;
    assert_eq!((s, freeze["active"].as_bool()), (201, Some(true)), "{freeze}");
    assert_eq!(freeze["window"]["time_zone"], "Pacific/Kiritimati");
    let in_utc = json!({"kind": "weekly", "from": from, "to": to});
    let (s, freeze) =
        add(&app, &app.client, json!({"environment": "staging", "window": in_utc, "reason": "utc"})).await;
    assert_eq!((s, freeze["active"].as_bool()), (201, Some(false)), "{freeze}");
}
