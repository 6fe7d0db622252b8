//! The `ferry` binary as people run it: `--version` names the commit it was built
//! from, `ferry config` prints the layered configuration with secrets redacted, and
//! `log_format = "json"` writes one JSON object per line whose deployment lines carry
//! the deployment's id, project and environment.

mod common;

use std::process::{Command, Stdio};

use common::process::{configured, start_command};
use common::{free_port, make_hello_repo};
use serde_json::{json, Value};

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry")).arg("--version").output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(printed.trim(), format!("ferry {} (commit {})", env!("CARGO_PKG_VERSION"), head.trim()));
}

#[test]
fn ferry_config_prints_file_variables_and_defaults_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:7000\"\nadmin_password = \"hunter2-secret\"\nlease_seconds = 20\n")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["config", "--file"])
        .arg(&file)
        .env("FERRY_LEASE_SECONDS", "30")
        .env("FERRY_DATABASE_URL", "postgres://ferry:db-secret@localhost/ferry")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let config: toml::Value = toml::from_str(&printed).unwrap();
    assert_eq!(config["bind"].as_str(), Some("127.0.0.1:7000"), "from the file");
    assert_eq!(config["lease_seconds"].as_integer(), Some(30), "the variable over the file");
    assert_eq!(config["shutdown_grace_seconds"].as_integer(), Some(60), "the default");
    assert!(!printed.contains("hunter2-secret") && !printed.contains("db-secret"), "{printed}");

    let refused = Command::new(env!("CARGO_BIN_EXE_ferry")).arg("config").env("FERRY_LEASE_SECONDS", "soon").output();
    let refused = refused.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(message.contains("FERRY_LEASE_SECONDS"), "{message}");
}

#[tokio::test]
async fn json_logs_carry_the_deployment_it_is_about() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("ferry.log");
    let port = free_port();
    let mut command = configured(data.path(), port, "log_format = \"json\"\n");
    command.env("FERRY_LOG", "info").stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let server = start_command(command, port).await;

    let repo = data.path().join("src");
    make_hello_repo(&repo, [free_port(), free_port(), free_port()]);
    let project = json!({"slug": "birds", "name": "birds", "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let release = json!({"version": "1.0.0", "git_commit": "HEAD"});
    let (_, release) = server.call(reqwest::Method::POST, "/api/v1/projects/birds/releases", Some(release)).await;
    let body = json!({"project": "birds", "release_id": release["id"], "environment": "development"});
    let (status, deployment) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await;
    assert_eq!(status, 202, "{deployment}");
    let id = deployment["id"].as_i64().unwrap();
    let detail = server.finished(id).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");

    // The line is written as the deployment ends, just before its state is recorded.
    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = lines
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.iter().all(|line| line["level"].is_string() && line["timestamp"].is_string()));
    let ended = lines.iter().find(|line| line["message"] == "deployment ended").expect("a line for the deployment");
    assert_eq!(ended["state"], "succeeded", "{ended}");
    let span = &ended["spans"][0];
    assert_eq!(
        (&span["deployment_id"], &span["project"], &span["environment"]),
        (&json!(id), &json!("birds"), &json!("development")),
        "{ended}"
    );
}
