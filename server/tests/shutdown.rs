//! Stopping Ferry the way systemd and container runtimes do (SIGTERM): it takes no new
//! deployment and says so on `/healthz`, lets the running one finish, keeps the queued
//! one for the next start, and exits 0 — nothing ends "interrupted". When the grace runs
//! out, what still runs is stopped with a reason. With SQLite, a second process on the
//! same data directory is refused.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::process::{command, configured, start, start_command, Server};
use common::{free_port, make_hello_repo, wait_until};
use serde_json::{json, Value};

/// A hello project `slug` whose build prints for about `build_seconds` (0.1 s a tick)
/// and whose development queue runs every request in turn; returns the release id.
async fn slow_project(server: &Server, data: &Path, slug: &str, build: &str) -> i64 {
    let repo = data.join(format!("src-{slug}"));
    let ports = [free_port(), free_port(), free_port()];
    make_hello_repo(&repo, ports);
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("run: sh build.sh", &format!("run: sh build.sh && {build}"))
        .replacen(
            &format!("vars: {{ PORT: \"{}\" }}", ports[0]),
            &format!("vars: {{ PORT: \"{}\" }}\n    queue: in-order", ports[0]),
            1,
        );
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "slow build"]);
    let project = json!({"slug": slug, "name": slug, "repo_url": repo.display().to_string()});
    assert_eq!(server.call(reqwest::Method::POST, "/api/v1/projects", Some(project)).await.0, 201);
    let release = json!({"version": "1.0.0", "git_commit": "HEAD"});
    let (_, release) =
        server.call(reqwest::Method::POST, &format!("/api/v1/projects/{slug}/releases"), Some(release)).await;
    release["id"].as_i64().unwrap()
}

async fn deploy(server: &Server, slug: &str, release: i64) -> (u16, Value) {
    let body = json!({"project": slug, "release_id": release, "environment": "development"});
    server.call(reqwest::Method::POST, "/api/v1/deployments", Some(body)).await
}

async fn detail(server: &Server, id: i64) -> Value {
    server.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await.1
}

/// Waits until the deployment's build step (step 1, after fetch) runs.
async fn building(server: &Server, id: i64) {
    wait_until(&format!("deployment {id} to be building"), Duration::from_secs(60), || async move {
        (detail(server, id).await["steps"][1]["state"] == "running").then_some(())
    })
    .await
}

fn terminate(server: &Server) {
    // SAFETY: kill(2) with SIGTERM to the child this test started.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) }, 0);
}

/// Waits (loudly) for the server process to exit; its exit code.
async fn exited(server: &mut Server, within: Duration) -> Option<i32> {
    let child = &mut server.child;
    wait_until("the server to exit", within, || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await
    .code()
}

#[tokio::test]
async fn sigterm_finishes_the_running_deployment_keeps_the_queued_one_and_exits_0() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(data.path(), port).await;
    let release =
        slow_project(&server, data.path(), "calm", "for i in $(seq 1 20); do echo tick $i; sleep 0.1; done").await;
    let (_, running) = deploy(&server, "calm", release).await;
    let running = running["id"].as_i64().unwrap();
    building(&server, running).await;
    let (_, queued) = deploy(&server, "calm", release).await;
    let queued = queued["id"].as_i64().unwrap();
    assert_eq!(detail(&server, queued).await["deployment"]["state"], "queued");

    terminate(&server);
    // Draining: load balancers are told, and new work is refused with a clear answer.
    let health = format!("{}/healthz", server.base);
    let (http, health) = (&server.http, health.as_str());
    wait_until("/healthz to say draining", Duration::from_secs(10), || async move {
        let response = http.get(health).send().await.ok()?;
        (response.status() == 503).then_some(())
    })
    .await;
    let (status, refused) = deploy(&server, "calm", release).await;
    assert_eq!((status, refused["error"].as_str()), (503, Some("unavailable")), "{refused}");
    assert_eq!(exited(&mut server, Duration::from_secs(60)).await, Some(0), "a clean exit");

    // Nothing was interrupted: the running one finished, the queued one runs now.
    let server = start(data.path(), port).await;
    let done = detail(&server, running).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let next = server.finished(queued).await;
    assert_eq!(next["deployment"]["state"], "succeeded", "{next}");
    common::stop_apps(data.path());
}

#[tokio::test]
async fn when_the_grace_runs_out_the_running_deployment_is_stopped_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_command(configured(data.path(), port, "shutdown_grace_seconds = 1\n"), port).await;
    let release = slow_project(&server, data.path(), "stuck", "sleep 60").await;
    let (_, running) = deploy(&server, "stuck", release).await;
    let running = running["id"].as_i64().unwrap();
    building(&server, running).await;

    terminate(&server);
    assert_eq!(exited(&mut server, Duration::from_secs(30)).await, Some(0));
    let server = start(data.path(), port).await;
    let stopped = detail(&server, running).await;
    assert_eq!(stopped["deployment"]["state"], "cancelled", "{stopped}");
    let reason = stopped["deployment"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Ferry was stopped and its shutdown grace ran out"), "{reason}");
    assert_eq!(stopped["steps"][1]["state"], "failed", "the sleeping build was killed");
}

#[tokio::test]
async fn a_second_ferry_on_the_same_sqlite_data_directory_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(data.path(), port).await;
    let second = command(data.path(), free_port()).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains(&format!("Ferry (pid {}) is already serving the data directory", server.child.id())),
        "{said}"
    );
    assert!(said.contains("PostgreSQL"), "{said}");
    // The first one is untouched.
    let (status, _) = server.call(reqwest::Method::GET, "/api/v1/projects", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn when_the_grace_runs_out_a_deployment_on_an_agent_is_handed_over_and_the_next_start_finishes_it() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = "shutdown_grace_seconds = 1\n";
    let mut server = start_command(configured(data.path(), port, config), port).await;
    // The step waits for the test's word, long past the grace.
    let gate = data.path().join("gate");
    let step = format!(
        "echo run >> $FERRY_TARGET_DIR/runs; echo waiting; while [ ! -e {} ]; do sleep 0.05; done; echo done",
        gate.display()
    );
    let release = slow_project(&server, data.path(), "handed", "true").await;
    let repo = data.path().join("src-handed");
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml")).unwrap();
    let pipeline = pipeline.replacen("run: sh restart.sh", &format!("run: sh restart.sh && {step}"), 1);
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "waits"]);
    let (_, release_at_head) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/projects/handed/releases",
            Some(json!({"version": "1.1.0", "git_commit": "HEAD"})),
        )
        .await;
    assert!(release_at_head["id"].as_i64().unwrap() > release);
    let path = "/api/v1/projects/handed/environments/development/agents";
    assert_eq!(server.call(reqwest::Method::PUT, path, Some(json!({"selector": "role=web"}))).await.0, 200);
    let token = common::process::register_agent(&server, "web-1", "role=web").await;
    let workdir = data.path().join("host");
    let _agent = common::process::spawn_agent(&server.base, "web-1", "role=web", &workdir, &token);
    common::process::wait_agent_online(&server, "web-1").await;
    let (status, started) = deploy(&server, "handed", release_at_head["id"].as_i64().unwrap()).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_i64().unwrap();
    let running = &server;
    wait_until("the step to wait on the agent", Duration::from_secs(60), || async move {
        detail(running, id).await["logs"].as_array()?.iter().any(|l| l["text"] == "waiting").then_some(())
    })
    .await;

    // SIGTERM; the grace runs out while the step waits: Ferry exits 0 and leaves the
    // deployment running on the agent, neither cancelled nor failed.
    terminate(&server);
    assert_eq!(exited(&mut server, Duration::from_secs(30)).await, Some(0));
    let server = start_command(configured(data.path(), port, config), port).await;
    let now = detail(&server, id).await;
    assert_eq!(now["deployment"]["state"], "running", "{now}");
    std::fs::write(&gate, "go").unwrap();
    let done = server.finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let lines: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| **l == "waiting").count(), 1, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| **l == "done").count(), 1, "{lines:?}");
    let runs = std::fs::read_to_string(workdir.join("handed/development/runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the step ran once");
    common::stop_apps(data.path());
}
