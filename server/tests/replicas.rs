//! Several Ferry replicas on one PostgreSQL: they start together (migrations once), a
//! deployment asked of one may run on any, and one deployment per environment holds
//! across all of them — 100 deployments to 10 environments, submitted round-robin,
//! all end, none overlaps another of its environment, every step runs exactly once. A
//! cancel asked of a replica that does not run the deployment reaches the one that
//! does. A replica that dies mid-deployment is noticed when its lease runs out: its
//! deployment fails naming it, and the environment's queue moves on elsewhere.
//! Skipped without FERRY_TEST_POSTGRES_URL (CI always sets it).

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::live::Messages;
use common::process::{configured, start_command};
use common::{free_port, fresh_postgres, spawn_with, test_config, wait_until, TestApp};
use ferry_server::config::Config;
use serde_json::{json, Value};

/// A pipeline whose deploy step says which deployment ran it (once per run).
fn no_op_repo(dir: &Path, deploy: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let pipeline = format!(
        "environments:\n  - name: development\n    queue: in-order\nbuild:\n  - name: build\n    run: echo built\n\
         deploy:\n  - name: roll\n    run: {deploy}\n"
    );
    std::fs::write(dir.join("ferry.yml"), pipeline).unwrap();
    common::git(dir, &["init", "--quiet"]);
    common::git(dir, &["add", "."]);
    common::git(dir, &["commit", "--quiet", "-m", "no-op"]);
}

/// A `ferry-agent` in this process, registered with `registration`'s token, connected
/// to `server`; stop it with the token and await its handle.
fn in_process_agent(
    server: &str,
    registration: &Value,
    workdir: std::path::PathBuf,
) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<Result<(), String>>) {
    let config = ferry_agent::AgentConfig {
        server: server.to_string(),
        name: None,
        labels: None,
        workdir,
        registration_token: registration["token"].as_str().map(String::from),
        vars: Default::default(),
        shutdown_grace: Duration::from_secs(10),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(config, stop.clone()));
    (stop, agent)
}

/// Replicas share one secret key (docs/operating.md): what one seals, another opens.
fn replica_config(data: &Path, database_url: &str) -> Config {
    static KEY: std::sync::OnceLock<tempfile::TempPath> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("{}=", "k".repeat(43))).unwrap();
        file.into_temp_path()
    });
    Config {
        database_url: Some(database_url.to_string()),
        secret_key_file: Some(key.to_path_buf()),
        ..test_config(data)
    }
}

fn time(detail: &Value, field: &str) -> DateTime<Utc> {
    detail["deployment"][field].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn replicas_share_the_work_and_never_overlap_an_environment() {
    let Some(url) = fresh_postgres().await else { return };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Three replicas starting at once on an empty database.
    let started = futures::future::join_all(dirs.iter().map(|d| spawn_with(replica_config(d.path(), &url)))).await;
    let replicas: Vec<TestApp> = started;
    let first = &replicas[0];

    let sources = tempfile::tempdir().unwrap();
    let mut releases = Vec::new();
    for n in 0..10 {
        let repo = sources.path().join(format!("app-{n}"));
        no_op_repo(&repo, "sleep 0.1; echo ran deployment $FERRY_DEPLOYMENT_ID");
        let project =
            json!({"slug": format!("app-{n}"), "name": format!("app {n}"), "repo_url": repo.display().to_string()});
        let (status, body) = first.post("/api/v1/projects", project).await;
        assert_eq!(status, 201, "{body}");
        let (status, release) = first
            .post(&format!("/api/v1/projects/app-{n}/releases"), json!({"version": "1.0.0", "git_commit": "HEAD"}))
            .await;
        assert_eq!(status, 201, "{release}");
        releases.push(release["id"].as_i64().unwrap());
    }

    // 100 requests, round-robin over the replicas, all at once.
    let requests = (0..100).map(|i| {
        let (replica, project) = (&replicas[i % 3], i % 10);
        let body =
            json!({"project": format!("app-{project}"), "release_id": releases[project], "environment": "development"});
        async move {
            let (status, started) = replica.post("/api/v1/deployments", body).await;
            assert_eq!(status, 202, "{started}");
            started["id"].as_i64().unwrap()
        }
    });
    let ids = futures::future::join_all(requests).await;

    let mut runs: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let detail = replicas[(i + 1) % 3].wait_finished(*id).await;
        assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
        let logs: Vec<&str> = detail["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
        let ran = format!("ran deployment {id}");
        assert_eq!(logs.iter().filter(|l| **l == ran).count(), 1, "the deploy step ran once: {logs:?}");
        assert!(detail["steps"].as_array().unwrap().iter().all(|s| s["state"] == "succeeded"), "{detail}");
        runs.push((
            detail["deployment"]["environment_id"].as_i64().unwrap(),
            time(&detail, "started_at"),
            time(&detail, "finished_at"),
        ));
    }
    runs.sort();
    for pair in runs.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert!(pair[1].1 >= pair[0].2, "two deployments of environment {} overlap: {pair:?}", pair[0].0);
        }
    }
}

#[tokio::test]
async fn a_cancel_asked_of_another_replica_reaches_the_one_that_runs_it() {
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_with(replica_config(a_dir.path(), &url)).await;
    let b = spawn_with(replica_config(b_dir.path(), &url)).await;
    let repo = a_dir.path().join("src-slow");
    no_op_repo(&repo, "echo started; sleep 60");
    a.post("/api/v1/projects", json!({"slug": "slow", "name": "slow", "repo_url": repo.display().to_string()})).await;
    let (_, release) =
        a.post("/api/v1/projects/slow/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    let body = json!({"project": "slow", "release_id": release["id"], "environment": "development"});
    let (_, started) = a.post("/api/v1/deployments", body).await;
    let id = started["id"].as_i64().unwrap();
    wait_until("the slow step to start", Duration::from_secs(60), || async {
        let (_, d) = a.get(&format!("/api/v1/deployments/{id}")).await;
        d["logs"].as_array().unwrap().iter().any(|l| l["text"] == "started").then_some(())
    })
    .await;
    // Ask the replica that does not run it (the runner built the release in its own
    // data directory): the request reaches the runner through the database.
    let (a_runs, b_runs) = (a_dir.path().join("builds").exists(), b_dir.path().join("builds").exists());
    assert!(a_runs != b_runs, "exactly one replica runs it");
    let other = if a_runs { &b } else { &a };
    let (status, body) = other.post(&format!("/api/v1/deployments/{id}/cancel"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let done = other.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "cancelled", "{done}");
}

#[tokio::test]
async fn a_browser_on_one_replica_sees_the_live_steps_of_a_deployment_another_runs() {
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_with(replica_config(a_dir.path(), &url)).await;
    let b = spawn_with(replica_config(b_dir.path(), &url)).await;
    // Watching on both before it starts: whichever replica runs it, the other's
    // clients get its events through the database.
    let mut watchers =
        [Messages::connect(a.ws_request("/ws").await).await, Messages::connect(b.ws_request("/ws").await).await];
    let repo = a_dir.path().join("src-chatty");
    no_op_repo(&repo, "for n in $(seq 1 50); do echo live line $n; done");
    a.post("/api/v1/projects", json!({"slug": "chatty", "name": "chatty", "repo_url": repo.display().to_string()}))
        .await;
    let (_, release) =
        a.post("/api/v1/projects/chatty/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    let body = json!({"project": "chatty", "release_id": release["id"], "environment": "development"});
    let (_, started) = b.post("/api/v1/deployments", body).await;
    let id = started["id"].as_i64().unwrap();
    assert_eq!(a.wait_finished(id).await["deployment"]["state"], "succeeded");
    let runner = if a_dir.path().join("builds").exists() { "a" } else { "b" };

    for (name, watcher) in ["a", "b"].into_iter().zip(watchers.iter_mut()) {
        assert_eq!(watcher.next().await["type"], "hello");
        let (mut lines, mut last_seq, mut finished) = (Vec::new(), 0, false);
        while !finished {
            let event = watcher.next().await;
            let seq = event["seq"].as_i64().unwrap();
            assert!(seq > last_seq, "replica {name}: events in order ({seq} after {last_seq})");
            last_seq = seq;
            let payload = &event["payload"];
            if payload["event"] == "log" && payload["deployment_id"] == id {
                lines.extend(payload["text"].as_str().and_then(|t| t.strip_prefix("live line ")).map(String::from));
            }
            finished = payload["event"] == "deployment" && payload["id"] == id && payload["state"] == "succeeded";
        }
        let expected: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
        assert_eq!(lines, expected, "replica {name} (replica {runner} ran it) saw every line, live, in order");
    }
}

#[tokio::test]
async fn a_deployment_and_its_build_on_one_replica_run_on_an_agent_connected_to_another() {
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The replicas share their artifacts (docs/operating.md): the agent fetches the
    // release from its own replica, whichever built it.
    std::fs::create_dir(a_dir.path().join("artifacts")).unwrap();
    std::os::unix::fs::symlink(a_dir.path().join("artifacts"), b_dir.path().join("artifacts")).unwrap();
    let a = spawn_with(replica_config(a_dir.path(), &url)).await;
    let b = spawn_with(replica_config(b_dir.path(), &url)).await;
    let (s, registration) = a.post("/api/v1/agents/registrations", json!({"name": "edge", "labels": "env=edge"})).await;
    assert_eq!(s, 201, "{registration}");
    let workdir = a_dir.path().join("edge-host");
    let (stop, agent) = in_process_agent(&a.base, &registration, workdir.clone());
    // Replica B sees the agent that replica A holds.
    wait_until("replica B to see the agent online", Duration::from_secs(20), || async {
        let (_, agents) = b.get("/api/v1/agents").await;
        agents.as_array()?.iter().any(|a| a["name"] == "edge" && a["state"] == "online").then_some(())
    })
    .await;
    // And so do its metrics: they are the installation's, read from the database.
    let metrics = b.client.get(format!("{}/metrics", b.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "ferry_agents_online 1"), "{metrics}");

    let repo = a_dir.path().join("src-edge");
    no_op_repo(&repo, "echo ran on $FERRY_AGENT");
    a.post("/api/v1/projects", json!({"slug": "edge", "name": "edge", "repo_url": repo.display().to_string()})).await;
    let (_, release) =
        a.post("/api/v1/projects/edge/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    let url_agents = format!("{}/api/v1/projects/edge/environments/development/agents", a.base);
    let set = a.client.put(url_agents).json(&json!({"selector": "env=edge"})).send().await.unwrap();
    assert_eq!(set.status().as_u16(), 200);
    // The release is built on that agent too.
    let url_builders = format!("{}/api/v1/projects/edge/build-agents", a.base);
    let set = a.client.put(url_builders).json(&json!({"selector": "env=edge"})).send().await.unwrap();
    assert_eq!(set.status().as_u16(), 200);
    // Only replica B takes work now: the agent's replica is not the one that runs it.
    a.running.state.deployer.stop_taking_work();
    let body = json!({"project": "edge", "release_id": release["id"], "environment": "development"});
    let (status, started) = b.post("/api/v1/deployments", body).await;
    assert_eq!(status, 202, "{started}");
    let done = b.wait_finished(started["id"].as_i64().unwrap()).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(logs.iter().filter(|l| **l == "ran on edge").count(), 1, "{logs:?}");
    assert!(!b_dir.path().join("builds").exists(), "replica B ran it, but did not build it");
    assert!(workdir.join(".builds/edge").exists(), "the agent, held by replica A, built it");
    assert!(workdir.join("edge/development/current").exists(), "on the agent's host");
    stop.cancel();
    agent.await.unwrap().unwrap();
}

async fn post(server: &common::process::Server, path: &str, body: Value) -> (u16, Value) {
    server.call(reqwest::Method::POST, path, Some(body)).await
}

#[tokio::test]
async fn a_replica_killed_mid_deployment_is_noticed_and_the_queue_moves_on() {
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Real processes, so one can be killed outright; leases of 3 s.
    let start = |dir: &Path| {
        let port = free_port();
        let mut replica = configured(dir, port, "lease_seconds = 3\n");
        replica.env("FERRY_DATABASE_URL", &url);
        start_command(replica, port)
    };
    let a = start(a_dir.path()).await;
    let b = start(b_dir.path()).await;
    let repo = a_dir.path().join("src-lost");
    no_op_repo(&repo, "echo started on $FERRY_DEPLOYMENT_ID; sleep 60");
    let project = json!({"slug": "lost", "name": "lost", "repo_url": repo.display().to_string()});
    assert_eq!(post(&a, "/api/v1/projects", project).await.0, 201);
    let (_, release) =
        post(&a, "/api/v1/projects/lost/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    let body = json!({"project": "lost", "release_id": release["id"], "environment": "development"});

    // The first runs on whichever replica claims it; kill that one.
    let (_, first) = post(&a, "/api/v1/deployments", body.clone()).await;
    let first = first["id"].as_i64().unwrap();
    let (_, second) = post(&b, "/api/v1/deployments", body).await;
    let second = second["id"].as_i64().unwrap();
    let line = format!("started on {first}");
    let line = line.as_str();
    let a_ref = &a;
    wait_until("the first deployment's step to start", Duration::from_secs(60), || async move {
        let (_, d) = a_ref.call(reqwest::Method::GET, &format!("/api/v1/deployments/{first}"), None).await;
        d["logs"].as_array().unwrap().iter().any(|l| l["text"] == line).then_some(())
    })
    .await;
    // Kill the replica holding the environment (its id names its process).
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    let owner: String = sqlx::query_scalar("SELECT owner FROM environment_leases").fetch_one(&db).await.unwrap();
    let a_runs_it = owner.contains(&format!("-{}-", a.child.id()));
    assert!(a_runs_it || owner.contains(&format!("-{}-", b.child.id())), "{owner}");
    let (mut dead, alive) = if a_runs_it { (a, b) } else { (b, a) };
    let killed_at = std::time::Instant::now();
    dead.kill_hard();
    let failed = alive.finished(first).await;
    println!("failover: the lost replica's deployment ended {:?} after the kill", killed_at.elapsed());
    assert_eq!(failed["deployment"]["state"], "failed", "{failed}");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("stopped answering") && reason.contains("lease of 3 s"), "{reason}");
    assert!(failed["steps"].as_array().unwrap().iter().all(|s| s["state"] != "running"), "{failed}");
    // The queue moved on: the second one runs now, on the live replica.
    let line = format!("started on {second}");
    let (line, alive_ref) = (line.as_str(), &alive);
    wait_until("the second deployment to run on the live replica", Duration::from_secs(60), || async move {
        let (_, d) = alive_ref.call(reqwest::Method::GET, &format!("/api/v1/deployments/{second}"), None).await;
        d["logs"].as_array().unwrap().iter().any(|l| l["text"] == line).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_notification_is_sent_once_whichever_replica_enqueued_it() {
    let Some(url) = fresh_postgres().await else { return };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // The replicas share one secret key, as docs/operating.md asks: any of them opens
    // the channel's sealed settings.
    let key = dirs[0].path().join("shared.key");
    let config = |d: &Path| Config { secret_key_file: Some(key.clone()), ..replica_config(d, &url) };
    let mut replicas = Vec::new();
    for dir in &dirs {
        replicas.push(spawn_with(config(dir.path())).await);
    }
    // A slow consumer: drains last long enough that replicas would overlap.
    let hook = common::receiver::Receiver::start_answering_after(0, Vec::new(), Duration::from_millis(300)).await;
    let settings = json!({"kind": "webhook", "url": hook.url, "secret": "s".repeat(20)});
    let (status, channel) =
        replicas[0].post("/api/v1/notifications/channels", json!({"name": "hook", "settings": settings})).await;
    assert_eq!(status, 201, "{channel}");
    let rule = json!({"channel_id": channel["id"], "events": ["failed"]});
    assert_eq!(replicas[1].post("/api/v1/notifications/rules", rule).await.0, 201);

    let sources = tempfile::tempdir().unwrap();
    let mut failing = Vec::new();
    for n in 0..6 {
        let repo = sources.path().join(format!("fail-{n}"));
        no_op_repo(&repo, "exit 3");
        let project = json!({"slug": format!("fail-{n}"), "name": "fail", "repo_url": repo.display().to_string()});
        assert_eq!(replicas[n % 3].post("/api/v1/projects", project).await.0, 201);
        let (_, release) = replicas[n % 3]
            .post(&format!("/api/v1/projects/fail-{n}/releases"), json!({"version": "1.0.0", "git_commit": "HEAD"}))
            .await;
        let body = json!({"project": format!("fail-{n}"), "release_id": release["id"], "environment": "development"});
        let (_, started) = replicas[(n + 1) % 3].post("/api/v1/deployments", body).await;
        failing.push(started["id"].as_i64().unwrap());
    }
    for id in &failing {
        assert_eq!(replicas[0].wait_finished(*id).await["deployment"]["state"], "failed");
    }
    // Every failure is delivered, once; a second look finds nothing more pending.
    let deliveries = wait_until("six deliveries", Duration::from_secs(60), || async {
        let (_, settings) = replicas[2].get("/api/v1/notifications/settings").await;
        let listed: Vec<Value> = settings["deliveries"].as_array().unwrap().clone();
        (listed.len() == 6 && listed.iter().all(|d| d["state"] == "delivered")).then_some(listed)
    })
    .await;
    assert_eq!(deliveries.len(), 6);
    let received = hook.received();
    let mut ids: Vec<i64> = received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["deployment_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let mut expected = failing.clone();
    expected.sort();
    assert_eq!(ids, expected, "each failure sent exactly once");
}

#[tokio::test]
async fn one_push_delivered_to_two_replicas_at_once_makes_one_release_and_one_deployment() {
    use common::hooks::{github_push, send_github, sign};
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = a_dir.path().join("shared.key");
    let config = |d: &Path| Config { secret_key_file: Some(key.clone()), ..replica_config(d, &url) };
    let a = spawn_with(config(a_dir.path())).await;
    let b = spawn_with(config(b_dir.path())).await;

    // Triggers on main as it was before the push; then the pushed commit.
    let repo = a_dir.path().join("src-pushed");
    no_op_repo(&repo, "echo deployed $FERRY_DEPLOYMENT_ID");
    let triggers = "triggers:\n  - on: push\n    branch: main\n    deploy: development\n";
    let (before, head) = common::hooks::triggers_then_a_push(&repo, triggers);
    let project = json!({"slug": "pushed", "name": "pushed", "repo_url": repo.display().to_string()});
    assert_eq!(a.post("/api/v1/projects", project).await.0, 201);
    let link = a
        .client
        .put(format!("{}/api/v1/projects/pushed/forge", a.base))
        .json(&json!({"forge": "github", "repo": "octo-org/pushed"}));
    let linked: Value = link.send().await.unwrap().json().await.unwrap();
    let secret = linked["secret"].as_str().unwrap().to_string();

    let body = serde_json::to_vec(&github_push("octo-org/pushed", "refs/heads/main", &before, &head)).unwrap();
    let signature = sign(&secret, &body);
    let (to_a, to_b) = futures::join!(
        send_github(&a, "push", "same-delivery", &body, &signature),
        send_github(&b, "push", "same-delivery", &body, &signature)
    );
    let statuses = [to_a.0, to_b.0];
    assert!(statuses.contains(&202) && statuses.iter().all(|s| [200, 202].contains(s)), "{to_a:?} {to_b:?}");
    // The same push again under another delivery id, to the other replica.
    assert_eq!(send_github(&b, "push", "another-delivery", &body, &signature).await.0, 202);

    let one = wait_until("the push's deployment to finish", Duration::from_secs(60), || async {
        let (_, listed) = b.get("/api/v1/deployments?project=pushed").await;
        let listed = listed.as_array().unwrap().clone();
        (listed.len() == 1 && listed[0]["state"] == "succeeded").then_some(listed)
    })
    .await;
    let store = &b.running.state.store;
    let outcome = wait_until("the second delivery's outcome", Duration::from_secs(30), || async {
        store.forge_delivery_outcome(ferry_app::model::ForgeKind::Github, "another-delivery").await.unwrap()
    })
    .await;
    assert!(outcome.starts_with("duplicate event"), "{outcome}");
    let (_, releases) = a.get("/api/v1/projects/pushed/releases").await;
    assert_eq!(releases.as_array().unwrap().len(), 1, "{releases}");
    let (_, listed) = a.get("/api/v1/deployments?project=pushed").await;
    assert_eq!(listed.as_array().unwrap().len(), one.len(), "one deployment");
}

/// Two replicas (real processes, leases of 3 s, one key and one artifact store as
/// docs/operating.md asks), two agents `web-1` and `web-2`, each first connected to
/// another replica and knowing both, and project `onward` deploying to them with a
/// rolling batch of one; each host's step says where it runs and waits for the gate.
struct OnAgents {
    a: common::process::Server,
    b: common::process::Server,
    gate: std::path::PathBuf,
    hosts: tempfile::TempDir,
    _agents: Vec<common::process::Reaped>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    db: sqlx::AnyPool,
}

impl OnAgents {
    async fn start(url: &str, toml: &str) -> Self {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = a_dir.path().join("shared.key");
        std::fs::create_dir(a_dir.path().join("artifacts")).unwrap();
        std::os::unix::fs::symlink(a_dir.path().join("artifacts"), b_dir.path().join("artifacts")).unwrap();
        let start = |dir: &Path| {
            let port = free_port();
            let config = format!("lease_seconds = 3\nsecret_key_file = {key:?}\n{toml}");
            let mut replica = configured(dir, port, &config);
            replica.env("FERRY_DATABASE_URL", url);
            start_command(replica, port)
        };
        let a = start(a_dir.path()).await;
        let b = start(b_dir.path()).await;

        let gate = a_dir.path().join("gate");
        let repo = a_dir.path().join("src-onward");
        let step = format!(
            "echo run >> $FERRY_TARGET_DIR/runs; echo waiting on $FERRY_AGENT; \
             while [ ! -e {} ]; do sleep 0.05; done; echo done on $FERRY_AGENT",
            gate.display()
        );
        no_op_repo(&repo, &step);
        let rolling = "queue: in-order\n    rollout: { strategy: rolling, batch: 1 }";
        let pipeline = std::fs::read_to_string(repo.join("ferry.yml")).unwrap().replace("queue: in-order", rolling);
        std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
        common::git(&repo, &["commit", "--quiet", "-am", "rolling"]);
        let project = json!({"slug": "onward", "name": "onward", "repo_url": repo.display().to_string()});
        assert_eq!(post(&a, "/api/v1/projects", project).await.0, 201);
        let selector = json!({"selector": "role=web"});
        let path = "/api/v1/projects/onward/environments/development/agents";
        assert_eq!(a.call(reqwest::Method::PUT, path, Some(selector)).await.0, 200);

        let hosts = tempfile::tempdir().unwrap();
        let mut agents = Vec::new();
        for (n, servers) in [(1, format!("{},{}", a.base, b.base)), (2, format!("{},{}", b.base, a.base))] {
            let name = format!("web-{n}");
            let token = common::process::register_agent(&a, &name, "role=web").await;
            agents.push(common::process::spawn_agent(&servers, &name, "role=web", &hosts.path().join(&name), &token));
        }
        for replica in [&a, &b] {
            wait_until("both agents online, as every replica sees them", Duration::from_secs(30), || async move {
                let (_, agents) = replica.call(reqwest::Method::GET, "/api/v1/agents", None).await;
                let web = |a: &&Value| a["labels"]["role"] == "web" && a["state"] == "online";
                (agents.as_array()?.iter().filter(web).count() == 2).then_some(())
            })
            .await;
        }
        sqlx::any::install_default_drivers();
        let db = sqlx::AnyPool::connect(url).await.unwrap();
        Self { a, b, gate, hosts, _agents: agents, _dirs: (a_dir, b_dir), db }
    }

    /// Deploys through A (which then most often runs it too) and waits until the first
    /// batch's step waits; the deployment's id.
    async fn deploy_and_wait(&self) -> i64 {
        let a = &self.a;
        let (_, release) =
            post(a, "/api/v1/projects/onward/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
        let body = json!({"project": "onward", "release_id": release["id"], "environment": "development"});
        let (_, started) = post(a, "/api/v1/deployments", body).await;
        let id = started["id"].as_i64().unwrap();
        wait_until("the first batch's step to wait", Duration::from_secs(60), || async move {
            let (_, d) = a.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
            let waiting = |l: &&Value| l["text"].as_str().is_some_and(|t| t.starts_with("waiting on web-"));
            d["logs"].as_array()?.iter().any(|l| waiting(&l)).then_some(())
        })
        .await;
        id
    }

    /// Whether A holds the environment (its replica id names its process).
    async fn a_runs_it(&self) -> bool {
        let owner: String =
            sqlx::query_scalar("SELECT owner FROM environment_leases").fetch_one(&self.db).await.unwrap();
        let a_runs_it = owner.contains(&format!("-{}-", self.a.child.id()));
        assert!(a_runs_it || owner.contains(&format!("-{}-", self.b.child.id())), "{owner}");
        a_runs_it
    }

    /// Waits until `alive` holds the environment.
    async fn taken_over_by(&self, alive: &common::process::Server) {
        let (db, alive_id) = (&self.db, format!("-{}-", alive.child.id()));
        let alive_id = alive_id.as_str();
        wait_until("the live replica to take the deployment over", Duration::from_secs(30), || async move {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT owner FROM environment_leases").fetch_optional(db).await.ok()?;
            owner.filter(|o| o.contains(alive_id)).map(|_| ())
        })
        .await;
    }

    /// Opens the gate; the deployment then ends, on `alive`: succeeded, every step and
    /// every line once.
    async fn finishes_once(&self, alive: &common::process::Server, id: i64) {
        std::fs::write(&self.gate, "go").unwrap();
        let done = alive.finished(id).await;
        assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
        assert!(done["steps"].as_array().unwrap().iter().all(|s| s["state"] == "succeeded"), "{done}");
        let lines: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
        for host in ["web-1", "web-2"] {
            for said in [format!("waiting on {host}"), format!("done on {host}")] {
                assert_eq!(lines.iter().filter(|l| **l == said).count(), 1, "`{said}` once: {lines:?}");
            }
            let runs = std::fs::read_to_string(self.hosts.path().join(host).join("onward/development/runs")).unwrap();
            assert_eq!(runs.lines().count(), 1, "{host} ran its step once");
        }
        for (i, line) in done["logs"].as_array().unwrap().iter().enumerate() {
            assert_eq!(line["seq"], i as i64 + 1, "a gap or a repeat in the log: {lines:?}");
        }
    }
}

#[tokio::test]
async fn a_rolling_deployment_on_agents_goes_on_when_the_replica_running_it_is_killed() {
    let Some(url) = fresh_postgres().await else { return };
    let mut setup = OnAgents::start(&url, "").await;
    let id = setup.deploy_and_wait().await;
    // Killing A most often takes both the deployment's replica and the connection of
    // the agent running the first batch (web-1 connected to A first).
    let a_runs_it = setup.a_runs_it().await;
    let killed_at = std::time::Instant::now();
    if a_runs_it {
        setup.a.kill_hard()
    } else {
        setup.b.kill_hard()
    }
    let alive = if a_runs_it { &setup.b } else { &setup.a };
    setup.taken_over_by(alive).await;
    let case = if a_runs_it { "and web-1's connection" } else { "(web-1 stayed connected to the live one)" };
    println!("failover: the live replica carried the deployment on {:?} after the kill {case}", killed_at.elapsed());
    setup.finishes_once(alive, id).await;
}

#[tokio::test]
async fn a_replica_stopped_with_sigterm_hands_its_deployment_on_agents_to_another() {
    let Some(url) = fresh_postgres().await else { return };
    let mut setup = OnAgents::start(&url, "shutdown_grace_seconds = 1\n").await;
    let id = setup.deploy_and_wait().await;
    let a_runs_it = setup.a_runs_it().await;
    let stopping = if a_runs_it { &mut setup.a } else { &mut setup.b };
    // SAFETY: kill(2) with SIGTERM to the child this test started.
    assert_eq!(unsafe { libc::kill(stopping.child.id() as i32, libc::SIGTERM) }, 0);
    let child = &mut stopping.child;
    let status = wait_until("the stopped replica to exit", Duration::from_secs(30), || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert_eq!(status.code(), Some(0));
    // Handed over at once (its lease left expired), not after the lease would run out.
    let alive = if a_runs_it { &setup.b } else { &setup.a };
    setup.taken_over_by(alive).await;
    let (_, now) = alive.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
    assert_eq!(now["deployment"]["state"], "running", "neither cancelled nor failed: {now}");
    setup.finishes_once(alive, id).await;
}

#[tokio::test]
async fn a_replica_that_cannot_open_a_job_sealed_with_another_key_fails_it_saying_why() {
    let Some(url) = fresh_postgres().await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Misconfigured: each replica has a key of its own.
    let own_key = |d: &Path| Config { secret_key_file: Some(d.join("own.key")), ..replica_config(d, &url) };
    let a = spawn_with(own_key(a_dir.path())).await;
    let b = spawn_with(own_key(b_dir.path())).await;
    let (_, registration) = a.post("/api/v1/agents/registrations", json!({"name": "edge", "labels": "env=edge"})).await;
    let (stop, agent) = in_process_agent(&a.base, &registration, a_dir.path().join("edge-host"));
    wait_until("replica B to see the agent online", Duration::from_secs(20), || async {
        let (_, agents) = b.get("/api/v1/agents").await;
        agents.as_array()?.iter().any(|a| a["name"] == "edge" && a["state"] == "online").then_some(())
    })
    .await;
    let repo = b_dir.path().join("src-keys");
    no_op_repo(&repo, "echo ran");
    b.post("/api/v1/projects", json!({"slug": "keys", "name": "keys", "repo_url": repo.display().to_string()})).await;
    let (_, release) =
        b.post("/api/v1/projects/keys/releases", json!({"version": "1.0.0", "git_commit": "HEAD"})).await;
    let url_agents = format!("{}/api/v1/projects/keys/environments/development/agents", b.base);
    let set = b.client.put(url_agents).json(&json!({"selector": "env=edge"})).send().await.unwrap();
    assert_eq!(set.status().as_u16(), 200);
    a.running.state.deployer.stop_taking_work();
    let body = json!({"project": "keys", "release_id": release["id"], "environment": "development"});
    let (status, started) = b.post("/api/v1/deployments", body).await;
    assert_eq!(status, 202, "{started}");
    let done = b.wait_finished(started["id"].as_i64().unwrap()).await;
    assert_eq!(done["deployment"]["state"], "failed", "{done}");
    let reason = done["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("FERRY_SECRET_KEY"), "{reason}");
    stop.cancel();
    agent.await.unwrap().unwrap();
}
