//! Authorization: every role against every kind of action, project visibility, and
//! API tokens (shown once, scoped, pinned to a project, expiring, revocable).

mod common;

use common::browser::json_of;
use common::{assert_error, client_with_token, issue_token, spawn_app, TestApp, ADMIN_PASSWORD};
use ferry_app::model::{Role, TokenScope};
use serde_json::{json, Value};

async fn send(client: &reqwest::Client, app: &TestApp, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", app.base);
    let request = match method {
        "GET" => client.get(url),
        "PUT" => client.put(url).json(&body),
        "DELETE" => client.delete(url),
        _ => client.post(url).json(&body),
    };
    json_of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn each_role_may_do_exactly_what_it_should() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("acl").await;
    let done = common::deploy(&app, "acl", release, "development").await;
    app.wait_finished(done).await;
    let target = app.user("target", Role::Viewer).await;
    let deploy = json!({"project": "acl", "release_id": release, "environment": "development"});
    // (what, method, path, body, the least role that may do it)
    let actions: Vec<(&str, &str, String, Value, Role)> = vec![
        ("view a deployment", "GET", format!("/api/v1/deployments/{done}"), json!(null), Role::Viewer),
        ("read its log", "GET", format!("/api/v1/deployments/{done}/logs"), json!(null), Role::Viewer),
        ("list releases", "GET", "/api/v1/projects/acl/releases".into(), json!(null), Role::Viewer),
        ("preview", "POST", "/api/v1/deployments/preview".into(), deploy.clone(), Role::Viewer),
        ("insights of the project", "GET", "/api/v1/insights?project=acl".into(), json!(null), Role::Viewer),
        (
            "cut a release",
            "POST",
            "/api/v1/projects/acl/releases".into(),
            json!({"version": "x", "git_commit": "nope"}),
            Role::Deployer,
        ),
        ("deploy", "POST", "/api/v1/deployments".into(), deploy.clone(), Role::Deployer),
        ("roll back", "POST", "/api/v1/rollbacks".into(), deploy.clone(), Role::Deployer),
        ("cancel", "POST", format!("/api/v1/deployments/{done}/cancel"), json!(null), Role::Deployer),
        ("list freeze windows", "GET", "/api/v1/projects/acl/freezes".into(), json!(null), Role::Viewer),
        ("see the linked repository", "GET", "/api/v1/projects/acl/forge".into(), json!(null), Role::Viewer),
        (
            "link a repository",
            "PUT",
            "/api/v1/projects/acl/forge".into(),
            json!({"forge": "github", "repo": "not a repo"}),
            Role::Maintainer,
        ),
        (
            "add a freeze window",
            "POST",
            "/api/v1/projects/acl/freezes".into(),
            json!({"environment": "development", "window": {"kind": "weekly", "from": "sun 01:00", "to": "sun 01:01"}, "reason": "matrix"}),
            Role::Maintainer,
        ),
        ("list users", "GET", "/api/v1/users".into(), json!(null), Role::Maintainer),
        (
            "set a member",
            "PUT",
            "/api/v1/projects/acl/members".into(),
            json!({"user_id": target, "role": "viewer"}),
            Role::Maintainer,
        ),
        (
            "create a project",
            "POST",
            "/api/v1/projects".into(),
            json!({"slug": "Bad Slug", "name": "x", "repo_url": "/"}),
            Role::Admin,
        ),
        ("set a global role", "PUT", format!("/api/v1/users/{target}/role"), json!({"role": "viewer"}), Role::Admin),
        ("read the audit log", "GET", "/api/v1/audit".into(), json!(null), Role::Admin),
        ("own notifications", "GET", "/api/v1/notifications".into(), json!(null), Role::None),
        ("own preferences", "GET", "/api/v1/notifications/preferences".into(), json!(null), Role::None),
        ("notification channels", "GET", "/api/v1/notifications/settings".into(), json!(null), Role::Admin),
        (
            "add a channel",
            "POST",
            "/api/v1/notifications/channels".into(),
            json!({"name": "", "settings": {"kind": "slack", "webhook_url": "https://hooks.example.com/x"}}),
            Role::Admin,
        ),
        (
            "add a rule",
            "POST",
            "/api/v1/notifications/rules".into(),
            json!({"channel_id": 0, "events": []}),
            Role::Admin,
        ),
        ("test a channel", "POST", "/api/v1/notifications/channels/999/test".into(), json!(null), Role::Admin),
        ("remove a channel", "DELETE", "/api/v1/notifications/channels/999".into(), json!(null), Role::Admin),
    ];
    for role in Role::ALL {
        let client = app.client_as(&format!("user-{}", role.as_str()), role).await;
        for (what, method, path, body, least) in &actions {
            let (status, answer) = send(&client, &app, method, path, body.clone()).await;
            if role >= *least {
                assert!(status != 403 && status != 401 && status < 500, "{role:?} may {what}: {status} {answer}");
            } else {
                assert_error(status, &answer, 403, "forbidden");
            }
        }
        // Deployments started above finish before the next role's turn.
        app.wait_idle().await;
    }
}

#[tokio::test]
async fn people_see_only_the_projects_they_may_view() {
    let app = spawn_app().await;
    let (seen, _) = app.hello_project("seen").await;
    let (hidden, _) = app.hello_project("hidden").await;
    let hidden_deployment = common::deploy(&app, "hidden", hidden, "development").await;
    app.wait_finished(hidden_deployment).await;
    let outsider = app.user("outsider", Role::None).await;
    let (s, _) = app
        .client
        .put(format!("{}/api/v1/projects/seen/members", app.base))
        .json(&json!({"user_id": outsider, "role": "deployer"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 204);
    let client = client_with_token(&issue_token(&app.running.state.store, outsider, &TokenScope::ALL, None).await);

    let (_, matrix) = send(&client, &app, "GET", "/api/v1/matrix", json!(null)).await;
    let rows: Vec<&str> =
        matrix["rows"].as_array().unwrap().iter().map(|r| r["project"]["slug"].as_str().unwrap()).collect();
    assert_eq!(rows, ["seen"]);
    let (s, b) = send(&client, &app, "GET", &format!("/api/v1/deployments/{hidden_deployment}"), json!(null)).await;
    assert_error(s, &b, 403, "forbidden");
    let (_, events) = send(&client, &app, "GET", "/api/v1/events", json!(null)).await;
    assert!(events.as_array().unwrap().is_empty(), "no events of the hidden project: {events}");
    let (_, history) = send(&client, &app, "GET", "/api/v1/deployments", json!(null)).await;
    assert!(history.as_array().unwrap().is_empty());

    let started = send(
        &client,
        &app,
        "POST",
        "/api/v1/deployments",
        json!({"project": "seen", "release_id": seen, "environment": "development"}),
    )
    .await;
    assert_eq!(started.0, 202, "the membership makes them a deployer of `seen`");
    app.wait_finished(started.1["id"].as_i64().unwrap()).await;
    let (_, events) = send(&client, &app, "GET", "/api/v1/events", json!(null)).await;
    let events = events.as_array().unwrap();
    assert!(
        events.len() > 3
            && events.iter().all(|e| e["payload"]["event"] != "deployment" || e["payload"]["project"] == "seen")
    );
    let (_, insights) = send(&client, &app, "GET", "/api/v1/insights", json!(null)).await;
    let projects: Vec<&str> =
        insights["projects"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(projects, ["seen"]);
}

#[tokio::test]
async fn api_tokens_are_shown_once_scoped_pinned_and_revocable() {
    let app = spawn_app().await;
    let (first, _) = app.hello_project("one").await;
    let (other, _) = app.hello_project("two").await;
    let browser = app.sign_in("admin", ADMIN_PASSWORD).await;

    let (s, b) = browser.post("/api/v1/tokens", json!({"name": "", "scopes": ["read"]})).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = browser.post("/api/v1/tokens", json!({"name": "x", "scopes": ["root"]})).await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = browser.post("/api/v1/tokens", json!({"name": "x", "scopes": ["read"], "expires_in_days": 999})).await;
    assert_error(s, &b, 400, "bad_request");

    let (s, created) = browser.post("/api/v1/tokens", json!({"name": "dashboard", "scopes": ["read"]})).await;
    assert_eq!(s, 201, "{created}");
    let read_only = client_with_token(created["token"].as_str().unwrap());
    let (_, list) = browser.get("/api/v1/tokens").await;
    let listed = list.to_string();
    assert!(
        listed.contains("dashboard") && !listed.contains(created["token"].as_str().unwrap()),
        "shown once: {listed}"
    );
    assert!(created["token"].as_str().unwrap().starts_with(list[0]["prefix"].as_str().unwrap()));

    let (s, _) = send(&read_only, &app, "GET", "/api/v1/matrix", json!(null)).await;
    assert_eq!(s, 200);
    let deploy_one = json!({"project": "one", "release_id": first, "environment": "development"});
    let (s, b) = send(&read_only, &app, "POST", "/api/v1/deployments", deploy_one.clone()).await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = send(&read_only, &app, "POST", "/api/v1/tokens", json!({"name": "more", "scopes": ["manage"]})).await;
    assert_error(s, &b, 403, "forbidden");

    let (s, pinned) =
        browser.post("/api/v1/tokens", json!({"name": "ci", "scopes": ["deploy"], "project": "one"})).await;
    assert_eq!(s, 201);
    let ci = client_with_token(pinned["token"].as_str().unwrap());
    let (s, b) = send(
        &ci,
        &app,
        "POST",
        "/api/v1/deployments",
        json!({"project": "two", "release_id": other, "environment": "development"}),
    )
    .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, started) = send(&ci, &app, "POST", "/api/v1/deployments", deploy_one).await;
    assert_eq!(s, 202, "{started}");
    app.wait_finished(started["id"].as_i64().unwrap()).await;
    let (_, list) = browser.get("/api/v1/tokens").await;
    assert!(list[0]["last_used_at"].is_string(), "last use is shown: {list}");

    let id = created["details"]["id"].as_i64().unwrap();
    let revoke = browser.request(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}")).send().await.unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    let (s, b) = send(&read_only, &app, "GET", "/api/v1/matrix", json!(null)).await;
    assert_error(s, &b, 401, "unauthenticated");
    assert!(b["message"].as_str().unwrap().contains("revoked"));
    let again = browser.request(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}")).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);

    let admin = app.running.state.store.local_user("admin").await.unwrap().unwrap();
    let expired = issue_token(&app.running.state.store, admin.id, &[TokenScope::Read], None).await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/ferry.db", app.data_dir.display())).await.unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE id = (SELECT MAX(id) FROM api_tokens)")
        .execute(&db)
        .await
        .unwrap();
    let (s, b) = send(&client_with_token(&expired), &app, "GET", "/api/v1/matrix", json!(null)).await;
    assert_error(s, &b, 401, "unauthenticated");
    assert!(b["message"].as_str().unwrap().contains("expired"));

    let (_, log) = app.get("/api/v1/audit?format=jsonl").await;
    assert_eq!(log, Value::Null, "JSON lines are not one JSON document");
    let export =
        app.client.get(format!("{}/api/v1/audit?format=jsonl", app.base)).send().await.unwrap().text().await.unwrap();
    let actions: Vec<String> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].as_str().unwrap().to_string())
        .collect();
    for expected in ["token.create", "token.revoke", "deployment.start", "project.create", "release.create", "sign_in"]
    {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
}

/// A server function's arguments as form fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn each_role_meets_the_same_rules_through_the_server_functions() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("rpc").await;
    let done = common::deploy(&app, "rpc", release, "development").await;
    app.wait_finished(done).await;
    let target = app.user("target", Role::Viewer).await.to_string();
    let (release, done) = (release.to_string(), done.to_string());
    let to_dev = [("project", "rpc"), ("release_id", release.as_str()), ("environment", "development")];
    let preview = [to_dev[0], to_dev[1], to_dev[2], ("rollback", "false")];
    let protection = [
        ("project", "rpc"),
        ("environment", "production"),
        ("protection[deploy_role]", "deployer"),
        ("protection[required_approvals]", "0"),
        ("protection[wait_minutes]", "0"),
    ];
    // (server function, its form, the least role that may call it)
    let calls: Vec<(&str, Form, Role)> = vec![
        ("load_matrix", vec![], Role::None),
        ("load_tokens", vec![], Role::None),
        ("load_deployment", vec![("id", done.as_str())], Role::Viewer),
        ("load_release", vec![("id", release.as_str())], Role::Viewer),
        ("load_insights", vec![("project", "rpc"), ("days", "30")], Role::Viewer),
        ("preview_promotion", preview.to_vec(), Role::Viewer),
        ("start_deployment", to_dev.to_vec(), Role::Deployer),
        ("start_rollback", to_dev.to_vec(), Role::Deployer),
        ("cancel_deployment", vec![("id", done.as_str())], Role::Deployer),
        ("decide_deployment", vec![("id", done.as_str()), ("approve", "true")], Role::Deployer),
        ("protect_environment", protection.to_vec(), Role::Maintainer),
        ("load_freezes", vec![("project", "rpc")], Role::Viewer),
        ("remove_freeze", vec![("project", "rpc"), ("id", "999")], Role::Maintainer),
        ("load_users", vec![], Role::Maintainer),
        ("set_user_role", vec![("id", target.as_str()), ("role", "viewer")], Role::Admin),
        ("load_audit", vec![("query[limit]", "10")], Role::Admin),
        ("load_notify_preferences", vec![], Role::None),
        ("load_notify_settings", vec![], Role::Admin),
        ("test_channel", vec![("id", "999")], Role::Admin),
        ("remove_rule", vec![("id", "999")], Role::Admin),
    ];
    for role in Role::ALL {
        let login = format!("rpc-{}", role.as_str());
        app.local_user(&login, "password-123", role).await;
        let browser = app.sign_in(&login, "password-123").await;
        for (name, form, least) in &calls {
            let (status, body) = browser.server_fn(name, form).await;
            if role >= *least {
                assert!(status != 401 && status != 403 && status < 500, "{role:?} may call {name}: {status} {body}");
            } else {
                assert_eq!(status, 403, "{role:?} must not call {name}: {body}");
                assert_eq!(body["error"], "forbidden");
            }
        }
        app.wait_idle().await;
    }
}
