//! The real `ferry` binary as a child process, for tests that kill or restart it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::{wait_until, ADMIN_PASSWORD, DEPLOYMENT_TIMEOUT, FINISHED};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub cookie: String,
    pub http: reqwest::Client,
}

/// A child process killed when the test ends, even by a failed assertion.
pub struct Reaped(pub Child);

/// A registration for agent `name` with `labels`, made by the administrator of `server`.
pub async fn register_agent(server: &Server, name: &str, labels: &str) -> String {
    let identity = json!({"name": name, "labels": labels});
    let (status, registration) =
        server.call(reqwest::Method::POST, "/api/v1/agents/registrations", Some(identity)).await;
    assert_eq!(status, 201, "{registration}");
    registration["token"].as_str().unwrap().to_string()
}

/// Waits (loudly) until `server` lists agent `name` as online.
pub async fn wait_agent_online(server: &Server, name: &str) {
    wait_until(&format!("agent {name} to be online"), Duration::from_secs(20), || async move {
        let (_, agents) = server.call(reqwest::Method::GET, "/api/v1/agents", None).await;
        agents.as_array()?.iter().any(|a| a["name"] == name && a["state"] == "online").then_some(())
    })
    .await;
}

/// The real `ferry-agent` binary, registered with `token`, connecting to `servers`
/// (comma separated, tried in turn), working in `workdir`.
pub fn spawn_agent(servers: &str, name: &str, labels: &str, workdir: &Path, token: &str) -> Reaped {
    let binary = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("ferry-agent");
    assert!(binary.exists(), "run `cargo build -p ferry-agent` first");
    Reaped(
        Command::new(binary)
            .args(["--server", servers, "--name", name, "--labels", labels])
            .arg("--workdir")
            .arg(workdir)
            .args(["--registration-token", token])
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap(),
    )
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real `ferry` binary set up to serve `data` on `port` (not started yet).
pub fn command(data: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .env("FERRY_BIND", format!("127.0.0.1:{port}"))
        .env("FERRY_DATA_DIR", data)
        .env("FERRY_DEMO", "false")
        .env("FERRY_STEP_USER", "")
        .env("FERRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::null());
    command
}

/// `command`, with `toml` as its configuration file (written into `data`).
pub fn configured(data: &Path, port: u16, toml: &str) -> Command {
    let file = data.join("ferry.toml");
    std::fs::write(&file, toml).unwrap();
    let mut command = command(data, port);
    command.arg("--config").arg(file);
    command
}

/// Starts the real `ferry` binary on `data` and signs in as the administrator.
pub async fn start(data: &Path, port: u16) -> Server {
    start_command(command(data, port), port).await
}

/// Starts `command` (see `command`), which listens on `port`, and signs in.
pub async fn start_command(mut command: Command, port: u16) -> Server {
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let health = format!("{base}/healthz");
    let (client, health) = (&http, health.as_str());
    wait_until(&format!("the server on {base} to answer /healthz"), Duration::from_secs(30), || async move {
        client.get(health).send().await.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;
    let login = http
        .post(format!("{base}/auth/login"))
        .header("origin", &base)
        .json(&json!({"login": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success());
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    Server { child, base, cookie, http }
}

impl Server {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    pub async fn finished(&self, id: i64) -> Value {
        wait_until(&format!("deployment {id} to finish"), DEPLOYMENT_TIMEOUT, || async move {
            let (_, detail) = self.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await;
            let finished = FINISHED.contains(&detail["deployment"]["state"].as_str().unwrap_or(""));
            finished.then_some(detail)
        })
        .await
    }

    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}
