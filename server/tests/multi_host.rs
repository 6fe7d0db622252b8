//! Deployments over several hosts: three real `ferry-agent` processes on loopback, each
//! with its own work directory and its own port for the hello app, deploy with the
//! rolling and canary strategies; a host whose health check fails stops the rollout
//! and only the hosts already switched are rolled back; a manual rollback reaches
//! every host. Needs `target/debug/ferry-agent` (scripts/test.sh builds it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{deploy, free_port, page, release_at_head, spawn_app, spawn_with, test_config, wait_until, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Agent processes, killed when the test ends.
struct Fleet {
    agents: Vec<Child>,
    ports: Vec<u16>,
    workdirs: Vec<PathBuf>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

fn agent_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let binary = deps.parent().unwrap().parent().unwrap().join("ferry-agent");
    assert!(binary.exists(), "{} is missing: run `cargo build -p ferry-agent` first", binary.display());
    binary
}

/// Starts `count` agents named web-1… labelled `role=web`, each on its own port.
async fn start_fleet(app: &TestApp, count: usize) -> Fleet {
    start_fleet_with(app, count, &[]).await
}

/// Same, with extra host variables: (host number from 1, `NAME=value`).
async fn start_fleet_with(app: &TestApp, count: usize, extra: &[(usize, &str)]) -> Fleet {
    let mut fleet = Fleet { agents: Vec::new(), ports: Vec::new(), workdirs: Vec::new() };
    for n in 1..=count {
        let identity = json!({"name": format!("web-{n}"), "labels": "role=web"});
        let (status, registration) = app.post("/api/v1/agents/registrations", identity).await;
        assert_eq!(status, 201, "{registration}");
        let port = free_port();
        let workdir = app.data_dir.join(format!("host-{n}"));
        let child = Command::new(agent_binary())
            .args(["--server", &app.base, "--name", &format!("web-{n}"), "--labels", "role=web"])
            .arg("--workdir")
            .arg(&workdir)
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .args(["--var", &format!("PORT={port}")])
            .args(extra.iter().filter(|(host, _)| *host == n).flat_map(|(_, var)| ["--var", var]))
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        fleet.agents.push(child);
        fleet.ports.push(port);
        fleet.workdirs.push(workdir);
    }
    wait_until(&format!("{count} agents to come online"), Duration::from_secs(30), || async move {
        let (_, agents) = app.get("/api/v1/agents").await;
        let online = agents.as_array().unwrap().iter().filter(|a| a["state"] == "online").count();
        (online == count + 1).then_some(())
    })
    .await;
    fleet
}

/// Waits until deployment `id` has logged the line `text`.
async fn wait_logged(app: &TestApp, id: i64, text: &str) {
    wait_until(&format!("deployment {id} to log `{text}`"), Duration::from_secs(60), || async move {
        let detail = app.deployment(id).await;
        detail["logs"].as_array().unwrap().iter().any(|l| l["text"] == text).then_some(())
    })
    .await
}

/// Waits until agent `name` is online.
async fn wait_online(app: &TestApp, name: &str) {
    wait_until(&format!("agent {name} to be online"), Duration::from_secs(30), || async move {
        let (_, agents) = app.get("/api/v1/agents").await;
        agents.as_array().unwrap().iter().any(|a| a["name"] == name && a["state"] == "online").then_some(())
    })
    .await
}

/// The hello project deploying to `role=web` hosts in development with `rollout`.
async fn fleet_project(app: &TestApp, slug: &str, rollout: &str) -> i64 {
    let (_, ports) = app.hello_project(slug).await;
    let repo = app.data_dir.join(format!("src-{slug}"));
    let development = format!("vars: {{ PORT: \"{}\" }}", ports[0]);
    edit_pipeline(&repo, &development, &format!("{development}\n    rollout: {rollout}"));
    std::fs::write(repo.join("VERSION"), "1.1.0\n").unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", "1.1.0 rolls out"]);
    let url = format!("{}/api/v1/projects/{slug}/environments/development/agents", app.base);
    let response = app.client.put(url).json(&json!({"selector": "role=web"})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    release_at_head(app, slug, "1.1.0").await
}

fn edit_pipeline(repo: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.join("ferry.yml")).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(repo.join("ferry.yml"), text.replace(from, to)).unwrap();
}

fn new_version(app: &TestApp, slug: &str, version: &str) {
    let repo = app.data_dir.join(format!("src-{slug}"));
    std::fs::write(repo.join("VERSION"), format!("{version}\n")).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", version]);
}

fn targets(detail: &Value) -> Vec<(String, i64, String)> {
    detail["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["name"].as_str().unwrap().into(), t["batch"].as_i64().unwrap(), t["state"].as_str().unwrap().into())
        })
        .collect()
}

fn time(target: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    target[field].as_str().unwrap().parse().unwrap()
}

/// The release live on a host for project `slug` in development.
fn current_release(workdir: &Path, slug: &str) -> String {
    let link = std::fs::read_link(workdir.join(slug).join("development/current")).unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// A stray process holding a port: answers every request with 200 "ok stray". It binds
/// the port as soon as the port is free.
async fn squat(port: u16) -> tokio::task::JoinHandle<()> {
    let listener = wait_until(&format!("port {port} to be free"), Duration::from_secs(10), || async move {
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.ok()
    })
    .await;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nok stray\n";
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    })
}

/// Stops the app `slug` on a host (`squat` then waits for its port to be free).
fn stop_app(workdir: &Path, slug: &str) {
    let pid = std::fs::read_to_string(workdir.join(slug).join("development/app.pid")).unwrap();
    Command::new("kill").arg(pid.trim()).status().unwrap();
}

#[tokio::test]
async fn a_rolling_deployment_goes_host_by_host_and_a_failing_host_rolls_back_only_the_switched_ones() {
    let app = spawn_app().await;
    let fleet = start_fleet(&app, 3).await;
    let first = fleet_project(&app, "fleet", "{ strategy: rolling, batch: 1 }").await;

    let id = deploy(&app, "fleet", first, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let hosts = targets(&done);
    let expected: Vec<(String, i64, String)> =
        (0..3).map(|i| (format!("web-{}", i + 1), i, "succeeded".to_string())).collect();
    assert_eq!(hosts, expected);
    // One host at a time: each started after the one before it finished.
    let listed = done["targets"].as_array().unwrap();
    for pair in listed.windows(2) {
        assert!(time(&pair[1], "started_at") >= time(&pair[0], "finished_at"), "{pair:?}");
    }
    for port in &fleet.ports {
        assert!(page(*port).await.contains("1.1.0"));
    }
    // The release was built once, on no host; every other step names its host.
    let steps = done["steps"].as_array().unwrap();
    let (built, on_hosts): (Vec<&Value>, Vec<&Value>) = steps.iter().partition(|s| s["target"].is_null());
    let built: Vec<&str> = built.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(built, ["fetch", "build", "pack"]);
    assert_eq!(on_hosts.len() % 3, 0);
    assert!(on_hosts.iter().all(|s| s["target"].is_i64() && s["name"] != "build"));

    // On web-2 a stray process holds the port, so the new server cannot start there
    // (and would the check pass, 2.0.0 also checks that the new version answers).
    let repo = app.data_dir.join("src-fleet");
    edit_pipeline(&repo, "timeout: 20s", "timeout: 3s\n  body_contains: ok ${FERRY_RELEASE}");
    new_version(&app, "fleet", "2.0.0");
    let second = release_at_head(&app, "fleet", "2.0.0").await;
    stop_app(&fleet.workdirs[1], "fleet");
    let stray = squat(fleet.ports[1]).await;

    let id = deploy(&app, "fleet", second, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("failed on web-2: step restart"), "{reason}");
    let logs = failed["logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["text"].as_str().unwrap().contains("EADDRINUSE")), "the log says why");
    assert!(reason.contains("(batch 2 of 3)") && reason.contains("rolling back web-1, web-2 to 1.1.0"), "{reason}");
    // web-3 never got 2.0.0; its steps were skipped.
    let web3_steps: Vec<&Value> = failed["steps"].as_array().unwrap().iter().filter(|s| s["target"] == 2).collect();
    assert!(!web3_steps.is_empty() && web3_steps.iter().all(|s| s["state"] == "skipped"), "{web3_steps:?}");

    // The rollback is its own deployment, of web-1 and web-2 only. The stray still
    // holds web-2's port, so the rollback fails there, and says exactly where.
    let (_, history) = app.get("/api/v1/deployments?project=fleet&limit=1").await;
    let rollback = app.wait_finished(history[0]["id"].as_i64().unwrap()).await;
    assert_eq!(rollback["deployment"]["kind"], "rollback");
    assert_eq!(rollback["deployment"]["state"], "failed", "{rollback}");
    let why = rollback["deployment"]["reason"].as_str().unwrap();
    assert!(why.starts_with("failed on web-2: step restart") && !why.contains("web-1"), "{why}");
    let back: Vec<(String, String)> = targets(&rollback).into_iter().map(|t| (t.0, t.2)).collect();
    assert_eq!(back, [("web-1".into(), "succeeded".into()), ("web-2".into(), "failed".into())]);
    let after = app.wait_finished(id).await;
    let states: Vec<String> = targets(&after).into_iter().map(|t| t.2).collect();
    assert_eq!(states, ["rolled_back", "failed", "skipped"]);
    assert!(page(fleet.ports[0]).await.contains("1.1.0"));
    assert!(page(fleet.ports[2]).await.contains("1.1.0"));
    for workdir in &fleet.workdirs {
        assert_eq!(current_release(workdir, "fleet"), first.to_string());
    }
    stray.abort();
}

#[tokio::test]
async fn a_canary_goes_first_the_rest_follow_together_and_a_rollback_reaches_every_host() {
    let app = spawn_app().await;
    let fleet = start_fleet(&app, 3).await;
    let first = fleet_project(&app, "birds", "{ strategy: canary, verify: 2s }").await;

    let id = deploy(&app, "birds", first, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let hosts = targets(&done);
    assert_eq!(hosts.iter().map(|t| t.1).collect::<Vec<_>>(), [0, 1, 1]);
    let listed = done["targets"].as_array().unwrap();
    let canary_done = time(&listed[0], "finished_at");
    assert!(time(&listed[1], "started_at") >= canary_done && time(&listed[2], "started_at") >= canary_done);
    let canary_steps: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["target"] == 0)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(canary_steps.last(), Some(&"canary-verify"));
    let watched = done["logs"].as_array().unwrap().iter().any(|l| l["text"] == "healthy for the whole 2s window");
    assert!(watched, "the canary was watched");

    new_version(&app, "birds", "2.0.0");
    let second = release_at_head(&app, "birds", "2.0.0").await;
    let id = deploy(&app, "birds", second, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    for port in &fleet.ports {
        assert!(page(*port).await.contains("2.0.0"));
    }

    // One call puts every host back on 1.1.0, without a rebuild.
    let body = json!({"project": "birds", "release_id": first, "environment": "development"});
    let (status, rollback) = app.post("/api/v1/rollbacks", body).await;
    assert_eq!(status, 202, "{rollback}");
    let back = app.wait_finished(rollback["id"].as_i64().unwrap()).await;
    assert_eq!(back["deployment"]["state"], "succeeded", "{back}");
    assert_eq!(targets(&back).len(), 3);
    assert!(back["steps"].as_array().unwrap().iter().all(|s| s["name"] != "fetch"));
    for port in &fleet.ports {
        assert!(page(*port).await.contains("1.1.0"));
    }
}

#[tokio::test]
async fn an_agent_killed_mid_step_is_marked_lost_and_the_hosts_already_switched_roll_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path());
    config.agent_grace_seconds = 2;
    let app = spawn_with(config).await;
    let mut fleet = start_fleet_with(&app, 2, &[(2, "SLOW=1")]).await;
    let hook = common::receiver::Receiver::start(0, vec![]).await;
    let channel = json!({"name": "ops", "settings": {"kind": "webhook", "url": hook.url, "secret": "s".repeat(16)}});
    let (status, channel) = app.post("/api/v1/notifications/channels", channel).await;
    assert_eq!(status, 201, "{channel}");
    let rule = json!({"channel_id": channel["id"], "events": ["agent_offline"]});
    assert_eq!(app.post("/api/v1/notifications/rules", rule).await.0, 201);
    let first = fleet_project(&app, "lost", "{ strategy: rolling, batch: 1 }").await;
    let id = deploy(&app, "lost", first, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");

    // 2.0.0's restart takes a minute on web-2, which dies in the middle of it.
    let repo = app.data_dir.join("src-lost");
    edit_pipeline(
        &repo,
        "run: sh restart.sh",
        "run: sh restart.sh && if [ -n \"${SLOW:-}\" ]; then echo slow host; sleep 60; fi",
    );
    new_version(&app, "lost", "2.0.0");
    let second = release_at_head(&app, "lost", "2.0.0").await;
    let id = deploy(&app, "lost", second, "development").await;
    wait_logged(&app, id, "slow host").await;
    fleet.agents[1].kill().unwrap(); // SIGKILL
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("failed on web-2: agent web-2 lost: no contact for 2s during step restart"), "{reason}");
    assert!(reason.contains("rolling back web-1 to 1.1.0"), "{reason}");
    let web2: Vec<&Value> = failed["steps"].as_array().unwrap().iter().filter(|s| s["target"] == 1).collect();
    let restart = web2.iter().find(|s| s["name"] == "restart").unwrap();
    assert_eq!(restart["state"], "agent_lost");
    let restart_lines: Vec<&str> = failed["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["step"] == restart["position"])
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(restart_lines.last(), Some(&"── agent web-2 lost: no contact for 2s; this log ends here ──"));
    let after: Vec<&&Value> = web2.iter().skip_while(|s| s["name"] != "restart").skip(1).collect();
    assert!(!after.is_empty() && after.iter().all(|s| s["state"] == "skipped"), "{after:?}");

    // The failure policy (rollback) applies to web-1, which had switched.
    let (_, history) = app.get("/api/v1/deployments?project=lost&limit=1").await;
    let rollback = app.wait_finished(history[0]["id"].as_i64().unwrap()).await;
    assert_eq!(rollback["deployment"]["state"], "succeeded", "{rollback}");
    assert_eq!(targets(&rollback).into_iter().map(|t| t.0).collect::<Vec<_>>(), ["web-1"]);
    assert!(page(fleet.ports[0]).await.contains("1.1.0"));

    // web-2 going offline was announced once: in the app and to the routed webhook.
    // web-1 stopped later is announced on a later look of the watcher, and the webhook
    // gets its messages oldest first: once web-1's announcement arrived, a second one
    // of web-2 would have come before it.
    let hook = &hook;
    let announcement_of = move |agent: &'static str| {
        move || {
            let got: Vec<Value> = hook.received().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
            std::future::ready(got.iter().any(|a| a["agent"] == agent).then_some(got))
        }
    };
    wait_until("web-2's offline announcement", Duration::from_secs(30), announcement_of("web-2")).await;
    fleet.agents[0].kill().unwrap(); // SIGKILL
    let announced = wait_until("web-1's offline announcement", Duration::from_secs(30), announcement_of("web-1")).await;
    let notifications = wait_until("both absences in the center", Duration::from_secs(30), || async {
        let (_, notifications) = app.get("/api/v1/notifications").await;
        let offline = notifications["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "agent_offline");
        (offline.count() == 2).then_some(notifications)
    })
    .await;
    let offline: Vec<&Value> =
        notifications["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "agent_offline").collect();
    let mut titles: Vec<&str> = offline.iter().map(|n| n["title"].as_str().unwrap()).collect();
    titles.sort();
    assert_eq!(titles, ["⚠ agent web-1 is offline", "⚠ agent web-2 is offline"], "{notifications}");
    let agents: Vec<(&Value, &Value)> = announced.iter().map(|a| (&a["event"], &a["agent"])).collect();
    let event = json!("agent_offline");
    assert_eq!(agents, [(&event, &json!("web-2")), (&event, &json!("web-1"))], "{announced:?}");
}

/// A TCP relay from a local port to the server, whose connections can all be cut.
struct Relay {
    port: u16,
    cut: tokio::sync::watch::Sender<u32>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

async fn relay(to: std::net::SocketAddr) -> Relay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (cut, cuts) = tokio::sync::watch::channel(0u32);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut cuts = cuts.clone();
            cuts.borrow_and_update();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cuts.changed() => {} // both sockets drop: the connection is gone
                }
            });
        }
    });
    Relay { port, cut, accepted }
}

#[tokio::test]
async fn a_dropped_agent_connection_loses_no_log_line_and_the_deployment_goes_on() {
    let app = spawn_app().await;
    let relay = relay(app.addr).await;
    let identity = json!({"name": "web-1", "labels": "role=web"});
    let (status, registration) = app.post("/api/v1/agents/registrations", identity).await;
    assert_eq!(status, 201);
    let port = free_port();
    let workdir = app.data_dir.join("host-relay");
    let mut agent = Command::new(agent_binary())
        .args(["--server", &format!("http://127.0.0.1:{}", relay.port), "--name", "web-1", "--labels", "role=web"])
        .arg("--workdir")
        .arg(&workdir)
        .args(["--registration-token", registration["token"].as_str().unwrap()])
        .args(["--var", &format!("PORT={port}")])
        .env("FERRY_LOG", "warn")
        .spawn()
        .unwrap();
    fleet_project(&app, "relay", "{ strategy: all-at-once }").await;
    // The restart on the agent prints 300 numbered lines over about three seconds.
    let repo = app.data_dir.join("src-relay");
    edit_pipeline(
        &repo,
        "run: sh restart.sh",
        "run: sh restart.sh && for i in $(seq 1 300); do echo line $i; sleep 0.01; done",
    );
    new_version(&app, "relay", "1.2.0");
    let release = release_at_head(&app, "relay", "1.2.0").await;
    wait_online(&app, "web-1").await;
    let id = deploy(&app, "relay", release, "development").await;
    // Cut the connection twice while the restart prints.
    for cut in 1..=2 {
        wait_logged(&app, id, &format!("line {}", cut * 80)).await;
        relay.cut.send_modify(|n| *n += 1);
    }
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    // Every line arrived once, in order, and the numbering has no gap.
    let (_, logs) = app.get(&format!("/api/v1/deployments/{id}/logs?limit=5000")).await;
    let lines = logs.as_array().unwrap();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as i64 + 1, "gap or repeat at {i}");
    }
    let numbered: Vec<String> = lines
        .iter()
        .filter_map(|l| l["text"].as_str())
        .filter(|t| t.starts_with("line "))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    assert_eq!(numbered, expected);
    assert!(page(port).await.contains("1.2.0"));
    // The agent really lost its connection twice, and came back each time.
    assert!(relay.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test]
async fn blue_green_starts_the_release_beside_the_live_one_and_switches_traffic_only_when_healthy() {
    let app = spawn_app().await;
    let fleet = start_fleet(&app, 1).await;
    let (blue, green) = (free_port(), free_port());
    // The traffic switch is a stand-in for a router reload: it records the live port.
    let rollout = format!(
        "{{ strategy: blue-green, slots: {{ blue: {{ PORT: \"{blue}\" }}, green: {{ PORT: \"{green}\" }} }}, \
         switch_traffic: 'echo $PORT > $FERRY_TARGET_DIR/router' }}"
    );
    let first = fleet_project(&app, "duo", &rollout).await;
    let router = fleet.workdirs[0].join("duo/development/router");
    let routed = || std::fs::read_to_string(&router).unwrap().trim().parse::<u16>().unwrap();

    let id = deploy(&app, "duo", first, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let steps: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let built_once =
        ["fetch", "build", "pack", "unpack", "stage", "restart", "health-check", "switch-traffic", "go-live"];
    assert_eq!(steps, built_once);
    assert_eq!(routed(), blue);
    assert!(page(blue).await.contains("1.1.0"));

    // 2.0.0 starts in green while blue keeps serving 1.1.0, then takes the traffic.
    new_version(&app, "duo", "2.0.0");
    let second = release_at_head(&app, "duo", "2.0.0").await;
    let id = deploy(&app, "duo", second, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    assert_eq!(routed(), green);
    assert!(page(green).await.contains("2.0.0"));
    assert!(page(blue).await.contains("1.1.0"), "the previous release still runs in blue");

    // 3.0.0 fails its check in blue: the traffic never moves, nothing needs rolling back.
    let repo = app.data_dir.join("src-duo");
    edit_pipeline(&repo, "timeout: 20s", "timeout: 2s\n  body_contains: not this");
    new_version(&app, "duo", "3.0.0");
    let third = release_at_head(&app, "duo", "3.0.0").await;
    let id = deploy(&app, "duo", third, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("step health-check") && !reason.contains("rolling back"), "{reason}");
    assert_eq!(routed(), green);
    assert!(page(green).await.contains("2.0.0"));
    assert_eq!(current_release(&fleet.workdirs[0], "duo"), second.to_string());

    // A rollback to 1.1.0 goes the same way: into the idle slot, checked, then switched.
    let body = json!({"project": "duo", "release_id": first, "environment": "development"});
    let (status, rollback) = app.post("/api/v1/rollbacks", body).await;
    assert_eq!(status, 202, "{rollback}");
    let back = app.wait_finished(rollback["id"].as_i64().unwrap()).await;
    assert_eq!(back["deployment"]["state"], "succeeded", "{back}");
    let steps: Vec<&str> = back["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["restage", "restart", "health-check", "switch-traffic", "go-live"]);
    assert_eq!(routed(), blue);
    assert!(page(blue).await.contains("1.1.0"));
    assert_eq!(current_release(&fleet.workdirs[0], "duo"), first.to_string());
}

#[tokio::test]
async fn an_agent_asked_to_stop_finishes_its_running_job_first_and_takes_no_new_one() {
    let app = spawn_app().await;
    let mut fleet = start_fleet(&app, 1).await;
    let slow = "run: sh restart.sh && for i in $(seq 1 50); do echo tock $i; sleep 0.1; done";
    fleet_project(&app, "calm", "{ strategy: all-at-once }").await;
    edit_pipeline(&app.data_dir.join("src-calm"), "run: sh restart.sh", slow);
    new_version(&app, "calm", "1.2.0");
    let release = release_at_head(&app, "calm", "1.2.0").await;
    let other = fleet_project(&app, "other", "{ strategy: all-at-once }").await;
    let id = deploy(&app, "calm", release, "development").await;
    wait_logged(&app, id, "tock 1").await;

    // SAFETY: kill(2) with SIGTERM to the agent process this test started.
    assert_eq!(unsafe { libc::kill(fleet.agents[0].id() as i32, libc::SIGTERM) }, 0);
    // While it finishes the running job, a new one is refused, saying why.
    let refused = app.wait_finished(deploy(&app, "other", other, "development").await).await;
    assert_eq!(refused["deployment"]["state"], "failed", "{refused}");
    let reason = refused["deployment"]["reason"].as_str().unwrap();
    assert!(reason.contains("the agent is stopping and takes no new job"), "{reason}");

    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "the running job finished: {done}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.contains(&"tock 50"), "every line reached the server: {logs:?}");
    let agent = &mut fleet.agents[0];
    let status = wait_until("the agent to exit", Duration::from_secs(30), || {
        let status = agent.try_wait().unwrap();
        async move { status }
    })
    .await;
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert_eq!(current_release(&fleet.workdirs[0], "calm"), release.to_string());
    stop_app(&fleet.workdirs[0], "calm");
}
