//! Protected environments: who may deploy, approvals by someone else than the
//! requester, rejection, the wait timer, and the settings' validation.

mod common;

use std::time::Duration;

use common::browser::json_of;
use common::{assert_error, deploy, spawn_app, TestApp};
use ferry_app::model::Role;
use serde_json::{json, Value};

async fn call(client: &reqwest::Client, app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    json_of(client.post(format!("{}{path}", app.base)).json(&body).send().await.unwrap()).await
}

async fn protect(app: &TestApp, env: &str, protection: Value) -> (u16, Value) {
    let url = format!("{}/api/v1/projects/shop/environments/{env}/protection", app.base);
    json_of(app.client.put(url).json(&protection).send().await.unwrap()).await
}

/// The `shop` project with release 1.0.0 live in development and staging.
async fn shop(app: &TestApp) -> i64 {
    let (release, _) = app.hello_project("shop").await;
    for env in ["development", "staging"] {
        let id = deploy(app, "shop", release, env).await;
        assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    }
    release
}

#[tokio::test]
async fn production_needs_a_maintainer_and_someone_elses_approval() {
    let app = spawn_app().await;
    let release = shop(&app).await;
    let (s, env) =
        protect(&app, "production", json!({"deploy_role": "maintainer", "required_approvals": 1, "wait_minutes": 0}))
            .await;
    assert_eq!(s, 200, "{env}");
    assert_eq!(env["protection"]["required_approvals"], 1);
    let to_production = json!({"project": "shop", "release_id": release, "environment": "production"});

    let dan = app.client_as("dan", Role::Deployer).await;
    let (s, b) = call(&dan, &app, "/api/v1/deployments", to_production.clone()).await;
    assert_error(s, &b, 403, "forbidden");
    assert!(b["message"].as_str().unwrap().contains("to production"), "{b}");

    let mia = app.client_as("mia", Role::Maintainer).await;
    let (s, waiting) = call(&mia, &app, "/api/v1/deployments", to_production.clone()).await;
    assert_eq!(s, 202, "{waiting}");
    assert_eq!(waiting["state"], "awaiting_approval");
    let id = waiting["id"].as_i64().unwrap();
    let detail: Value =
        mia.get(format!("{}/api/v1/deployments/{id}", app.base)).send().await.unwrap().json().await.unwrap();
    let approval = &detail["approval"];
    assert_eq!(approval["required"], 1);
    let approvers: Vec<&str> = approval["approvers"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(
        approvers.contains(&"admin") && !approvers.contains(&"mia") && !approvers.contains(&"dan"),
        "{approvers:?}"
    );
    assert_eq!(approval["you_may_decide"], false, "not for the requester");
    // The request reaches the center through a job it queued: waited for, not assumed.
    let notifications = common::wait_until("the approval request in the center", Duration::from_secs(20), || async {
        let (_, notifications) = app.get("/api/v1/notifications").await;
        (notifications["items"][0]["kind"] == "approval_requested").then_some(notifications)
    })
    .await;
    assert!(notifications["items"][0]["title"].as_str().unwrap().contains("asked by mia"));

    let (s, b) = call(&mia, &app, &format!("/api/v1/deployments/{id}/approve"), json!({})).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = call(&dan, &app, &format!("/api/v1/deployments/{id}/approve"), json!({})).await;
    assert_error(s, &b, 403, "forbidden");
    let (_, still) = app.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(still["deployment"]["state"], "awaiting_approval");
    assert_eq!(still["approval"]["you_may_decide"], true, "the admin may");

    let (s, approved) = app.post(&format!("/api/v1/deployments/{id}/approve"), json!({"comment": "go"})).await;
    assert_eq!(s, 200, "{approved}");
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded");
    assert_eq!(done["approval"]["decisions"][0]["login"], "admin");
    assert_eq!(done["approval"]["decisions"][0]["comment"], "go");
    let (s, b) = app.post(&format!("/api/v1/deployments/{id}/approve"), json!({})).await;
    assert_error(s, &b, 409, "conflict");

    // A rejection cancels, with the reason.
    let (_, second) = call(&mia, &app, "/api/v1/deployments", to_production.clone()).await;
    let second = second["id"].as_i64().unwrap();
    let (s, rejected) =
        app.post(&format!("/api/v1/deployments/{second}/reject"), json!({"comment": "not today"})).await;
    assert_eq!(s, 200);
    assert_eq!(rejected["state"], "cancelled");
    assert_eq!(rejected["reason"], "rejected by admin: not today");

    // Rolling back needs the deploy role but no approval: it ends incidents.
    let (s, b) = call(&dan, &app, "/api/v1/rollbacks", to_production.clone()).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, rollback) = call(&mia, &app, "/api/v1/rollbacks", to_production).await;
    assert_eq!(s, 202, "{rollback}");
    assert_eq!(rollback["state"], "queued");
    app.wait_finished(rollback["id"].as_i64().unwrap()).await;

    let (_, log) = app.get("/api/v1/audit?action=deployment.approve").await;
    assert_eq!(log[0]["detail"]["deployment"], id);
    let (_, log) = app.get("/api/v1/audit?action=environment.protect").await;
    assert_eq!(log[0]["detail"]["after"]["deploy_role"], "maintainer");
    assert_eq!(log[0]["detail"]["before"]["deploy_role"], "deployer");
}

#[tokio::test]
async fn the_wait_timer_holds_an_approved_deployment_and_a_cancel_ends_the_wait() {
    let app = spawn_app().await;
    let release = shop(&app).await;
    let (s, _) =
        protect(&app, "production", json!({"deploy_role": "deployer", "required_approvals": 0, "wait_minutes": 5}))
            .await;
    assert_eq!(s, 200);
    let started = deploy(&app, "shop", release, "production").await;
    let (_, detail) = app.get(&format!("/api/v1/deployments/{started}")).await;
    let not_before =
        chrono::DateTime::parse_from_rfc3339(detail["deployment"]["not_before"].as_str().unwrap()).unwrap();
    let wait = not_before.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((290..=300).contains(&wait), "starts in about 5 minutes, not {wait}s");
    // A deployment to staging (no wait timer), asked for after it, runs to the end;
    // production's, started first without its timer, would have run by then.
    let after = deploy(&app, "shop", release, "staging").await;
    assert_eq!(app.wait_finished(after).await["deployment"]["state"], "succeeded");
    let (_, detail) = app.get(&format!("/api/v1/deployments/{started}")).await;
    assert_eq!(detail["deployment"]["state"], "queued", "still waiting");
    assert!(detail["deployment"]["started_at"].is_null(), "{detail}");
    let (s, cancelled) = app.post(&format!("/api/v1/deployments/{started}/cancel"), json!({})).await;
    assert_eq!(s, 202);
    assert_eq!(cancelled["state"], "cancelled");
}

#[tokio::test]
async fn protection_settings_are_checked_and_kept_for_maintainers() {
    let app = spawn_app().await;
    app.hello_project("shop").await;
    for (bad, field) in [
        (json!({"deploy_role": "viewer", "required_approvals": 0, "wait_minutes": 0}), "deploy_role"),
        (json!({"deploy_role": "deployer", "required_approvals": 11, "wait_minutes": 0}), "required_approvals"),
        (json!({"deploy_role": "deployer", "required_approvals": 0, "wait_minutes": -1}), "wait_minutes"),
        (json!({"deploy_role": "root", "required_approvals": 0, "wait_minutes": 0}), "deploy_role"),
    ] {
        let (s, b) = protect(&app, "production", bad).await;
        assert_error(s, &b, 400, "bad_request");
        assert!(b["message"].as_str().unwrap().contains(field), "{field}: {b}");
    }
    let (s, b) =
        protect(&app, "moon", json!({"deploy_role": "deployer", "required_approvals": 0, "wait_minutes": 0})).await;
    assert_error(s, &b, 404, "not_found");
    let dan = app.client_as("dan", Role::Deployer).await;
    let url = format!("{}/api/v1/projects/shop/environments/production/protection", app.base);
    let body = json!({"deploy_role": "deployer", "required_approvals": 0, "wait_minutes": 0});
    let (s, b) = json_of(dan.put(&url).json(&body).send().await.unwrap()).await;
    assert_error(s, &b, 403, "forbidden");
    let (_, matrix) = app.get("/api/v1/matrix").await;
    assert_eq!(matrix["rows"][0]["cells"][2]["environment"]["protection"]["deploy_role"], "deployer", "unchanged");
}

#[tokio::test]
async fn a_release_marked_bad_goes_nowhere_until_a_maintainer_clears_it() {
    let app = spawn_app().await;
    let release = shop(&app).await;
    let dan = app.client_as("dan", Role::Deployer).await;
    let vera = app.client_as("vera", Role::Viewer).await;
    let bad = format!("/api/v1/releases/{release}/bad");
    let (s, b) = call(&vera, &app, &bad, json!({"reason": "leaks"})).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = call(&dan, &app, &bad, json!({"reason": "  "})).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, marked) = call(&dan, &app, &bad, json!({"reason": "memory leak"})).await;
    assert_eq!(s, 200, "{marked}");
    assert_eq!(marked["bad"]["by"], "dan");

    let to = |env: &str| json!({"project": "shop", "release_id": release, "environment": env});
    let (s, b) = app.post("/api/v1/deployments", to("production")).await;
    assert_error(s, &b, 409, "conflict");
    assert!(b["message"].as_str().unwrap().contains("marked bad by dan: memory leak"), "{b}");
    let (s, _) = app.post("/api/v1/rollbacks", to("staging")).await;
    assert_eq!(s, 409, "nothing rolls back to it either");
    let (_, preview) = app.post("/api/v1/deployments/preview", to("production")).await;
    assert!(preview["blocked"].as_str().unwrap().contains("marked bad"));

    let clear = |client: &reqwest::Client| client.delete(format!("{}{bad}", app.base)).send();
    assert_eq!(clear(&dan).await.unwrap().status().as_u16(), 403, "clearing takes a maintainer");
    let cleared = clear(&app.client).await.unwrap();
    assert_eq!(cleared.status().as_u16(), 200);
    let (s, started) = app.post("/api/v1/deployments", to("production")).await;
    assert_eq!(s, 202, "{started}");
    app.wait_finished(started["id"].as_i64().unwrap()).await;
    let (_, log) = app.get("/api/v1/audit?action=release.bad").await;
    assert!(log[0]["actor"].as_str().unwrap().starts_with("dan (token "), "{log}");
}
