//! The server killed with SIGKILL at many points of a deployment, then started again
//! on the same data: every deployment ends in a terminal state with a reason, its steps
//! are all closed, its log numbering has no gap, and the environment deploys again. On
//! an agent, the job the dead server started is fenced: cancelled, never finished.

mod common;

use std::time::Duration;

use common::process::start;
use common::{free_port, make_hello_repo, wait_until};
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

/// Whether a step's shell whose command line contains `marker` still runs for a target
/// under `dir`: a process of this user whose environment names such a target.
fn step_running(dir: &std::path::Path, marker: &str) -> bool {
    let target = format!("FERRY_TARGET_DIR={}", dir.display());
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let read = |file: &str| std::fs::read(entry.path().join(file)).unwrap_or_default();
        let (cmdline, environ) = (String::from_utf8_lossy(&read("cmdline")).into_owned(), read("environ"));
        cmdline.contains(marker)
            && environ.split(|b| *b == 0).any(|var| String::from_utf8_lossy(var).starts_with(&target))
    })
}

/// Whether the slow restart step's shell (`sh -c …touch …/restarted`) still runs for
/// an agent working in `workdir`.
fn restart_running(workdir: &std::path::Path) -> bool {
    step_running(workdir, "/restarted")
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
    // A step the killed server was running goes on without it (its process group is
    // not the server's); the last one may still be restarting the app, and a second
    // restart beside it would find the port taken.
    let targets = data.path().join("targets");
    wait_until("the killed server's last step to end", Duration::from_secs(30), || {
        std::future::ready((!step_running(&targets, "tock")).then_some(()))
    })
    .await;
    // The environment is not stuck: the next deployment runs to the end.
    let (status, started) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await;
    assert_eq!(status, 202);
    let detail = server.finished(started["id"].as_i64().unwrap()).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    common::stop_apps(data.path());
}

#[tokio::test]
async fn a_deployment_on_an_agent_goes_on_through_a_crash_of_the_server() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let repo = data.path().join("src-fence");
    make_hello_repo(&repo, [free_port(), free_port(), free_port()]);
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replace(
        "run: sh restart.sh",
        "run: echo run >> \"$FERRY_TARGET_DIR/restart-runs\" && sh restart.sh && for i in $(seq 1 40); do echo tick $i; sleep 0.1; done; touch \"$FERRY_TARGET_DIR/restarted\"",
    );
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "slow restart"]);

    let mut server = start(data.path(), port).await;
    let project = json!({"slug": "fence", "name": "fence", "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let selector = json!({"selector": "role=web"});
    let path = "/api/v1/projects/fence/environments/development/agents";
    assert_eq!(server.call(reqwest::Method::PUT, path, Some(selector)).await.0, 200);
    let token = common::process::register_agent(&server, "web-1", "role=web").await;
    let workdir = data.path().join("host");
    let _agent = common::process::spawn_agent(&server.base, "web-1", "role=web", &workdir, &token);
    common::process::wait_agent_online(&server, "web-1").await;
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
    let running = &server;
    wait_until("the restart on the agent to print `tick 3`", Duration::from_secs(60), || async move {
        let (_, detail) = running.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
        detail["logs"].as_array().unwrap().iter().any(|l| l["text"] == "tick 3").then_some(())
    })
    .await;
    assert!(restart_running(&workdir), "the restart step runs on the agent's host");
    server.kill_hard();
    let server = start(data.path(), port).await;
    // The restarted server carries the deployment on: the agent reconnects, sends what
    // the dead server never acknowledged, and the step ends where it was running.
    let detail = server.finished(id).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    check_consistent(&detail);
    let runs = std::fs::read_to_string(workdir.join("fence/development/restart-runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the restart step ran once");
    assert!(workdir.join("fence/development/restarted").exists(), "it ran to its end");
    let ticks: Vec<String> = detail["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str().filter(|t| t.starts_with("tick ")).map(str::to_string))
        .collect();
    let expected: Vec<String> = (1..=40).map(|i| format!("tick {i}")).collect();
    assert_eq!(ticks, expected, "every line once, in order, across the crash");
    common::stop_apps(data.path());
}

#[tokio::test]
async fn a_step_the_killed_server_left_running_is_killed_when_it_starts_again() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let repo = data.path().join("src-orphan");
    std::fs::create_dir_all(&repo).unwrap();
    let pipeline = "environments:\n  - name: development\nbuild:\n  - name: build\n    run: echo built\n\
                    deploy:\n  - name: linger\n    run: echo started; sleep 120; touch \"$FERRY_TARGET_DIR/late\"\n";
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["init", "--quiet"]);
    common::git(&repo, &["add", "."]);
    common::git(&repo, &["commit", "--quiet", "-m", "linger"]);
    let mut server = start(data.path(), port).await;
    let project = json!({"slug": "orphan", "name": "orphan", "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let release = json!({"version": "1.0.0", "git_commit": "HEAD"});
    let (_, release) = server.call(reqwest::Method::POST, "/api/v1/projects/orphan/releases", Some(release)).await;
    let body = json!({"project": "orphan", "release_id": release["id"], "environment": "development"});
    let (_, started) = server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await;
    let id = started["id"].as_i64().unwrap();
    let running = &server;
    wait_until("the step to start", Duration::from_secs(60), || async move {
        let (_, detail) = running.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
        detail["logs"].as_array()?.iter().any(|l| l["text"] == "started").then_some(())
    })
    .await;
    server.kill_hard();
    let targets = data.path().join("targets");
    assert!(step_running(&targets, "sleep 120"), "the step outlives the killed server");

    let server = start(data.path(), port).await;
    let detail = server.finished(id).await;
    assert!(detail["deployment"]["reason"].as_str().unwrap().starts_with("interrupted"), "{detail}");
    wait_until("the left step to be gone", Duration::from_secs(5), || {
        std::future::ready((!step_running(&targets, "sleep 120")).then_some(()))
    })
    .await;
    assert!(!targets.join("development/orphan/late").exists());
}
