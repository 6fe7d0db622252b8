//! Variables and secrets: environment values override project ones, secrets are
//! sealed at rest, write-only through the API, masked in every log line, and need the
//! key they were sealed with.

mod common;

use common::{assert_error, git, spawn_app, spawn_with, TestApp};
use ferry_app::model::Role;
use serde_json::{json, Value};

const SECRET: &str = "s3cr3t-value-123";

/// A project whose build prints its variables.
async fn printing_project(app: &TestApp) -> i64 {
    let repo = app.data_dir.join("src-printer");
    std::fs::create_dir_all(&repo).unwrap();
    let pipeline = "environments:\n  - name: development\n  - name: production\nbuild:\n  - name: show\n    run: echo \"greeting=$GREETING token=$API_TOKEN\"\n";
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "printer"]);
    let body = json!({"slug": "printer", "name": "Printer", "repo_url": repo.display().to_string()});
    assert_eq!(app.post("/api/v1/projects", body).await.0, 201);
    common::release_at_head(app, "printer", "1.0").await
}

async fn put(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Value) {
    let response =
        client.put(format!("{}/api/v1/projects/printer/variables", app.base)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn variables_reach_the_steps_and_secrets_never_show() {
    let app = spawn_app().await;
    let release = printing_project(&app).await;
    let admin = app.client.clone();
    assert_eq!(put(&app, &admin, json!({"name": "GREETING", "value": "hello"})).await.0, 204);
    let env_value = json!({"name": "GREETING", "environment": "development", "value": "hi dev"});
    assert_eq!(put(&app, &admin, env_value).await.0, 204);
    assert_eq!(put(&app, &admin, json!({"name": "API_TOKEN", "value": SECRET, "secret": true})).await.0, 204);

    for (bad, status, code) in [
        (json!({"name": "lower", "value": "x"}), 400, "bad_request"),
        (json!({"name": "FERRY_OWN", "value": "x"}), 400, "bad_request"),
        (json!({"name": "X", "environment": "moon", "value": "x"}), 404, "not_found"),
        (json!({"name": "X", "value": "x", "colour": "red"}), 400, "bad_request"),
    ] {
        let (s, b) = put(&app, &admin, bad).await;
        assert_error(s, &b, status, code);
    }
    let dan = app.client_as("dan", Role::Deployer).await;
    let (s, b) = put(&app, &dan, json!({"name": "X", "value": "x"})).await;
    assert_error(s, &b, 403, "forbidden");

    let (_, listed) = app.get("/api/v1/projects/printer/variables").await;
    let token = listed.as_array().unwrap().iter().find(|v| v["name"] == "API_TOKEN").unwrap();
    assert_eq!((token["secret"].clone(), token["value"].clone()), (json!(true), Value::Null), "write-only");
    assert!(!listed.to_string().contains(SECRET));

    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/ferry.db", app.data_dir.display())).await.unwrap();
    let stored: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT value, sealed FROM variables").fetch_all(&db).await.unwrap();
    assert!(stored
        .iter()
        .all(|(v, s)| !v.as_deref().unwrap_or("").contains(SECRET) && !s.as_deref().unwrap_or("").contains(SECRET)));
    assert!(stored.iter().any(|(v, s)| v.is_none() && s.is_some()), "the secret is sealed");

    let id = common::deploy(&app, "printer", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let lines: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(lines.contains(&"greeting=hi dev token=••••••"), "{lines:?}");
    let (_, events) = app.get("/api/v1/events?limit=10000").await;
    let text = app
        .client
        .get(format!("{}/api/v1/deployments/{id}/log.txt", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, audit) = app.get("/api/v1/audit").await;
    for (place, content) in [("events", events.to_string()), ("log.txt", text), ("audit", audit.to_string())] {
        assert!(!content.contains(SECRET), "the secret leaked into {place}");
    }
}

#[tokio::test]
async fn secrets_need_the_key_they_were_sealed_with() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::test_config(tmp.path());
    let release = {
        let app = spawn_with(config.clone()).await;
        let release = printing_project(&app).await;
        assert_eq!(put(&app, &app.client, json!({"name": "API_TOKEN", "value": SECRET, "secret": true})).await.0, 204);
        release
    };
    let other_key = tmp.path().join("other.key");
    let app = spawn_with(ferry_server::config::Config { secret_key_file: Some(other_key), ..config }).await;
    let id = common::deploy(&app, "printer", release, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("secret API_TOKEN") && reason.contains("secret key"), "{reason}");
}
