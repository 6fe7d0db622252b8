//! The server killed with SIGKILL at many points of a deployment, then started again
//! on the same data: every deployment ends in a terminal state with a reason, its steps
//! are all closed, its log numbering has no gap, and the environment deploys again. On
//! an agent, the job the dead server started is fenced: cancelled, never finished.

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{start, Reaped};
use common::{free_port, make_hello_repo};
use serde_json::{json, Value};

fn check_consistent(detail: &Value) {
    let state = detail["deployment"]["state"].as_str().unwrap();
    if state != "succeeded" {
        assert!(detail["deployment"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{detail}");
    }
    for step in detail["steps"].as_array().unwrap() {
        let state = step["state"].as_str().unwrap();
        assert!(["succeeded", "failed", "skipped", "agent_lost"].contains(&state), "open step: {step}");
    }
    for (i, line) in detail["logs"].as_array().unwrap().iter().enumerate() {
        assert_eq!(line["seq"], i as i64 + 1, "gap in the log: {detail}");
    }
}

#[tokio::test]
async fn killed_at_any_point_every_deployment_ends_with_a_reason_and_the_next_one_runs() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let ports = [free_port(), free_port(), free_port()];
    let repo = data.path().join("src-crash");
    make_hello_repo(&repo, ports);
    // The build (once) and the restart (each time) take a while and print as they go,
    // so kills land in different steps.
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("run: sh build.sh", "run: sh build.sh && for i in 1 2 3 4; do echo tick $i; sleep 0.1; done")
        .replace(
            "run: sh restart.sh",
            "run: sh restart.sh && for i in 1 2 3 4 5 6 7 8; do echo tock $i; sleep 0.1; done",
        );
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "slow build"]);

    let mut server = start(data.path(), port).await;
    let project = json!({"slug": "crash", "name": "crash", "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let (_, release) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/projects/crash/releases",
            Some(json!({"version": "1.0.0", "git_commit": "HEAD"})),
        )
        .await;
    let body = json!({"project": "crash", "release_id": release["id"], "environment": "development"});

    let mut interrupted = 0;
    for delay_ms in [0u64, 40, 150, 300, 500, 700, 900, 1200, 1600] {
        let (status, started) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body.clone())).await;
        assert_eq!(status, 202, "{started}");
        let id = started["id"].as_i64().unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill_hard();
        server = start(data.path(), port).await;
        let detail = server.finished(id).await;
        check_consistent(&detail);
        if detail["deployment"]["reason"].as_str().is_some_and(|r| r.starts_with("interrupted")) {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 3, "most kills landed mid-deployment");
    // The environment is not stuck: the next deployment runs to the end.
    let (status, started) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await;
    assert_eq!(status, 202);
    let detail = server.finished(started["id"].as_i64().unwrap()).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    common::stop_apps(data.path());
}

#[tokio::test]
async fn a_job_the_dead_server_started_on_an_agent_is_fenced_after_the_restart() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let repo = data.path().join("src-fence");
    make_hello_repo(&repo, [free_port(), free_port(), free_port()]);
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replace(
        "run: sh restart.sh",
        "run: sh restart.sh && for i in $(seq 1 40); do echo tick $i; sleep 0.1; done; touch \"$FERRY_TARGET_DIR/restarted\"",
    );
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "slow restart"]);

    let mut server = start(data.path(), port).await;
    let project = json!({"slug": "fence", "name": "fence", "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let selector = json!({"selector": "role=web"});
    let path = "/api/v1/projects/fence/environments/development/agents";
    assert_eq!(server.call(reqwest::Method::PUT, path, Some(selector)).await.0, 200);
    let (_, registration) = server.call(reqwest::Method::POST, "/api/v1/agents/registrations", Some(json!({}))).await;
    let workdir = data.path().join("host");
    let agent_binary = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("ferry-agent");
    assert!(agent_binary.exists(), "run `cargo build -p ferry-agent` first");
    let _agent = Reaped(
        Command::new(agent_binary)
            .args(["--server", &server.base, "--name", "web-1", "--labels", "role=web"])
            .arg("--workdir")
            .arg(&workdir)
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        let (_, agents) = server.call(reqwest::Method::GET, "/api/v1/agents", None).await;
        if agents.as_array().unwrap().iter().any(|a| a["name"] == "web-1" && a["state"] == "online") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, release) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/projects/fence/releases",
            Some(json!({"version": "1.0.0", "git_commit": "HEAD"})),
        )
        .await;
    let body = json!({"project": "fence", "release_id": release["id"], "environment": "development"});
    let (_, started) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await;
    let id = started["id"].as_i64().unwrap();
    // Kill the server once the agent is in the middle of the restart.
    for _ in 0..200 {
        let (_, detail) = server.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
        if detail["logs"].as_array().unwrap().iter().any(|l| l["text"] == "tick 3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill_hard();
    let server = start(data.path(), port).await;
    let detail = server.finished(id).await;
    assert_eq!(detail["deployment"]["state"], "failed");
    check_consistent(&detail);
    // The agent came back and resent what the dead server never acknowledged; the new
    // server does not know that job, so it was cancelled before the restart finished.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!workdir.join("fence/restarted").exists(), "the stale job ran to the end");
    common::stop_apps(data.path());
}
