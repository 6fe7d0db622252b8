//! Memory footprint of the release binaries: the `ferry` server idle (its defaults:
//! SQLite, the built-in agent, the demo project), then with 1,000 agents connected
//! over the agent websocket (each registered with its own token, heartbeating), and
//! a `ferry-agent` idle. Resident set size (VmRSS) from /proc.
//!
//! Needs `cargo build --release -p ferry-server -p ferry-agent` first (scripts/bench.sh
//! does it). `cargo bench -p ferry-server --bench footprint`; FERRY_BENCH_AGENTS sets
//! how many agents connect (default 1,000).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_engine::protocol::{AgentMessage, ServerMessage, PROTOCOL_VERSION};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "bench-password-123";

fn release_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release").join(name);
    assert!(path.exists(), "{} is missing: cargo build --release -p ferry-server -p ferry-agent", path.display());
    path
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A registration token for an agent called `name` with the label role=bench.
async fn registration(client: &reqwest::Client, base: &str, cookie: &str, name: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/agents/registrations"))
        .header("origin", base)
        .header("cookie", cookie)
        .json(&json!({"name": name, "labels": "role=bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

/// One agent's connection: says hello with its token, then heartbeats until dropped.
async fn connect_agent(url: String, token: String) -> tokio::task::JoinHandle<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("agent connects");
    let hello = AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
        name: None,
        version: "bench".into(),
        labels: None,
        registration_token: Some(token),
        credential: None,
    };
    socket.send(Message::text(serde_json::to_string(&hello).unwrap())).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Text(text))) => match serde_json::from_str(&text).unwrap() {
            ServerMessage::Welcome { .. } => {}
            other => panic!("not welcomed: {other:?}"),
        },
        other => panic!("no answer: {other:?}"),
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let beat = AgentMessage::Heartbeat { running: Vec::new() };
            if socket.send(Message::text(serde_json::to_string(&beat).unwrap())).await.is_err() {
                return;
            }
        }
    })
}

#[tokio::main]
async fn main() {
    let agents: usize = std::env::var("FERRY_BENCH_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Killed(
        Command::new(release_binary("ferry"))
            .env("FERRY_BIND", format!("127.0.0.1:{port}"))
            .env("FERRY_DATA_DIR", dir.path())
            .env("FERRY_ADMIN_PASSWORD", PASSWORD)
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(server.0.id());

    let login = client
        .post(format!("{base}/auth/login"))
        .header("origin", &base)
        .json(&json!({"login": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "sign-in: {}", login.status());
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let mut tokens = Vec::with_capacity(agents);
    for n in 0..agents {
        tokens.push(registration(&client, &base, &cookie, &format!("bench-{n}")).await);
    }
    let url = format!("ws://127.0.0.1:{port}/agent/ws");
    let mut connections = Vec::with_capacity(agents);
    for token in tokens {
        connections.push(connect_agent(url.clone(), token).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed: Value = client
        .get(format!("{base}/api/v1/agents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let online = listed.as_array().unwrap().iter().filter(|a| a["state"] == "online").count();
    let loaded = rss_kib(server.0.id());

    let workdir = dir.path().join("agent");
    let token = registration(&client, &base, &cookie, "idle").await;
    let agent = Killed(
        Command::new(release_binary("ferry-agent"))
            .args(["--server", &base, "--registration-token", &token])
            .arg("--workdir")
            .arg(&workdir)
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let agent_idle = rss_kib(agent.0.id());

    println!("resident memory (VmRSS) of the release binaries:");
    println!("  ferry server, idle (SQLite, built-in agent, demo project)   {:6.1} MiB", idle as f64 / 1024.0);
    println!("  ferry server, {online} agents online                          {:6.1} MiB", loaded as f64 / 1024.0);
    println!(
        "    per connected agent                                      {:6.1} KiB",
        (loaded - idle) as f64 / online.max(1) as f64
    );
    println!("  ferry-agent, idle and connected                            {:6.1} MiB", agent_idle as f64 / 1024.0);
    drop(connections);
}
