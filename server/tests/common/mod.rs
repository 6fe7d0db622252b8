//! Test harness: `spawn_app` starts the real server on port 0 with a fresh database
//! (SQLite by default, PostgreSQL when FERRY_TEST_POSTGRES_URL is set and asked for),
//! and helpers build throwaway app repositories.
//!
//! Tests wait for facts, not for time: `wait_until` polls for a condition and fails
//! loudly when it never comes; no fixed sleep stands in for "nothing happened".

#![allow(dead_code)]

pub mod browser;
pub mod cli;
pub mod fake_forges;
pub mod fake_providers;
pub mod git_server;
pub mod hooks;
pub mod live;
pub mod ports;
pub mod process;
pub mod receiver;
pub mod sshd;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry_app::model::{Role, TokenScope};
use ferry_server::auth::secrets::new_api_token;
use ferry_server::config::Config;
use ferry_server::store::{Identity, NewToken};
use serde_json::{json, Value};

/// The local administrator's password in tests.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub struct TestApp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub config: Config,
    /// Sends an administrator's API token with every request.
    pub client: reqwest::Client,
    pub running: ferry_server::Running,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Another server may open this data directory next: this one claims nothing more.
        self.running.state.deployer.stop_taking_work();
        self.running.server.abort();
        stop_apps(&self.data_dir);
    }
}

impl TestApp {
    /// Ends this server as if its process had stopped (with SQLite, another may then
    /// open its data directory), keeping the directory: it is returned, and goes when
    /// that is dropped.
    pub fn stop_keeping_data(mut self) -> Option<tempfile::TempDir> {
        let tmp = self._tmp.take();
        drop(self);
        tmp
    }
}

/// Kills the app servers deployments started under `data_dir` (their pid files),
/// by the built-in agent or by agents whose work directory is in there too.
pub fn stop_apps(data_dir: &Path) {
    let Ok(output) = Command::new("find").arg(data_dir).args(["-name", "app*.pid"]).output() else {
        return;
    };
    let root = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_path_buf());
    for pidfile in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(pid) = std::fs::read_to_string(pidfile) else { continue };
        // A pid file may outlive its server, and tests running beside this one start
        // servers all the time: a reused pid is killed only if it runs in here.
        let runs_here = std::fs::read_link(format!("/proc/{}/cwd", pid.trim())).is_ok_and(|cwd| cwd.starts_with(&root));
        if runs_here {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// How long a deployment of the hello app may take to reach a state.
pub const DEPLOYMENT_TIMEOUT: Duration = Duration::from_secs(90);

/// How often `wait_until` looks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Polls `probe` until it finds what it looks for (`Some`) and returns that; panics
/// when `timeout` passes first, naming `what` was awaited.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The final states of a deployment.
pub const FINISHED: [&str; 3] = ["succeeded", "failed", "cancelled"];

/// A port reserved for this test process (see `ports`).
pub fn free_port() -> u16 {
    ports::free_ports(1)
}

pub fn test_config(data_dir: &Path) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        database_url: None,
        site_dir: Some(data_dir.join("no-site")),
        demo: false,
        demo_source: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-web"),
        admin_password: Some(ADMIN_PASSWORD.into()),
        // Tests build from repositories in private temporary directories; the tests
        // of step users (step_users.rs) turn them on.
        step_user: String::new(),
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let config = test_config(tmp.path());
    let mut app = spawn_with(config).await;
    app._tmp = Some(tmp);
    app
}

pub async fn spawn_with(config: Config) -> TestApp {
    try_spawn_with(config).await.expect("server starts")
}

/// `spawn_with`, saying why the server did not start (e.g. its fixed port was taken).
pub async fn try_spawn_with(config: Config) -> Result<TestApp, String> {
    let running = ferry_server::start(&config).await?;
    let addr = running.addr;
    let admin = running.state.store.local_user("admin").await.unwrap().expect("the local admin exists");
    let token = issue_token(&running.state.store, admin.id, &TokenScope::ALL, None).await;
    Ok(TestApp {
        base: format!("http://{addr}"),
        addr,
        data_dir: config.data_dir.clone(),
        config,
        client: client_with_token(&token),
        running,
        _tmp: None,
    })
}

/// A token straight from the store, as if its owner had created it.
pub async fn issue_token(
    store: &ferry_server::store::Store,
    user_id: i64,
    scopes: &[TokenScope],
    project_id: Option<i64>,
) -> String {
    let secret = new_api_token();
    let new = NewToken {
        user_id,
        name: "test",
        token_hash: &secret.hash,
        prefix: &secret.prefix,
        scopes,
        project_id,
        expires_at: ferry_server::store::now_millis() + 3_600_000,
    };
    store.create_token(&new).await.unwrap();
    secret.token
}

pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

impl TestApp {
    /// A websocket handshake to `path` carrying the administrator's token.
    pub async fn ws_request(&self, path: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let admin = self.running.state.store.local_user("admin").await.unwrap().unwrap();
        let token = issue_token(&self.running.state.store, admin.id, &[TokenScope::Read], None).await;
        let mut request = format!("ws://{}{path}", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    /// A user with `role` on every project (signed in through a test provider), and
    /// their id.
    pub async fn user(&self, login: &str, role: Role) -> i64 {
        let who = Identity { provider: "test", subject: login, login, name: login, email: None };
        let user = self.running.state.store.upsert_user(&who, role).await.unwrap();
        self.running.state.store.set_user_role(user.id, role).await.unwrap();
        user.id
    }

    /// A client acting as a new user with `role`, through a token of every scope.
    pub async fn client_as(&self, login: &str, role: Role) -> reqwest::Client {
        let id = self.user(login, role).await;
        client_with_token(&issue_token(&self.running.state.store, id, &TokenScope::ALL, None).await)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A deployment's detail: {"deployment": {...}, "steps": [...], ...}.
    pub async fn deployment(&self, id: i64) -> Value {
        let (status, detail) = self.get(&format!("/api/v1/deployments/{id}")).await;
        assert_eq!(status, 200, "deployment {id}: {detail}");
        detail
    }

    /// Polls a deployment until it reaches a final state; returns its detail.
    pub async fn wait_finished(&self, id: i64) -> Value {
        wait_until(&format!("deployment {id} to finish"), DEPLOYMENT_TIMEOUT, || async move {
            let detail = self.deployment(id).await;
            let finished = FINISHED.contains(&detail["deployment"]["state"].as_str().unwrap_or(""));
            finished.then_some(detail)
        })
        .await
    }

    /// Polls a deployment until its state is `state`; returns its detail. Fails at once
    /// when it finishes in another state instead.
    pub async fn wait_deployment_state(&self, id: i64, state: &str) -> Value {
        wait_until(&format!("deployment {id} to be {state}"), DEPLOYMENT_TIMEOUT, || async move {
            let detail = self.deployment(id).await;
            let now = detail["deployment"]["state"].as_str().unwrap_or("");
            if now == state {
                return Some(detail);
            }
            assert!(!FINISHED.contains(&now), "deployment {id} finished {now} while waiting for {state}: {detail}");
            None
        })
        .await
    }

    /// Waits until no deployment is running or queued.
    pub async fn wait_idle(&self) {
        wait_until("no deployment to be running or queued", DEPLOYMENT_TIMEOUT, || async move {
            for state in ["running", "queued"] {
                let (_, listed) = self.get(&format!("/api/v1/deployments?state={state}")).await;
                if !listed.as_array().unwrap().is_empty() {
                    return None;
                }
            }
            Some(())
        })
        .await
    }

    /// Registers a copy of the hello-web demo app (on free ports) as project `slug`,
    /// with one release `1.0.0`. Returns the release id.
    pub async fn hello_project(&self, slug: &str) -> (i64, [u16; 3]) {
        let ports = [free_port(), free_port(), free_port()];
        let repo = self.data_dir.join(format!("src-{slug}"));
        make_hello_repo(&repo, ports);
        let (status, body) = self
            .post(
                "/api/v1/projects",
                serde_json::json!({"slug": slug, "name": slug, "repo_url": repo.display().to_string()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .post(
                &format!("/api/v1/projects/{slug}/releases"),
                serde_json::json!({"version": "1.0.0", "git_commit": "HEAD"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (body["id"].as_i64().unwrap(), ports)
    }
}

pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

pub async fn deploy(app: &TestApp, project: &str, release: i64, env: &str) -> i64 {
    let (status, body) =
        app.post("/api/v1/deployments", json!({"project": project, "release_id": release, "environment": env})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "queued");
    body["id"].as_i64().unwrap()
}

pub async fn page(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap().text().await.unwrap()
}

pub async fn release_at_head(app: &TestApp, slug: &str, version: &str) -> i64 {
    let body = json!({"version": version, "git_commit": "HEAD"});
    let (s, release) = app.post(&format!("/api/v1/projects/{slug}/releases"), body).await;
    assert_eq!(s, 201, "{release}");
    release["id"].as_i64().unwrap()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository holding the hello-web example with its ports replaced.
pub fn make_hello_repo(repo: &Path, ports: [u16; 3]) {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-web");
    std::fs::create_dir_all(repo).unwrap();
    for entry in std::fs::read_dir(&example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), repo.join(entry.file_name())).unwrap();
    }
    let pipeline = std::fs::read_to_string(repo.join("ferry.yml"))
        .unwrap()
        .replace("\"8081\"", &format!("\"{}\"", ports[0]))
        .replace("\"8082\"", &format!("\"{}\"", ports[1]))
        .replace("\"8083\"", &format!("\"{}\"", ports[2]));
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    std::fs::write(repo.join("VERSION"), "1.0.0\n").unwrap();
    git(repo, &["init", "--quiet"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", "hello 1.0.0"]);
}

/// A fresh, empty PostgreSQL database when FERRY_TEST_POSTGRES_URL points at a server.
/// In CI a missing server is an error, not a skip.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("FERRY_TEST_POSTGRES_URL") else {
        assert!(std::env::var("CI").is_err(), "CI must run the store tests on PostgreSQL: set FERRY_TEST_POSTGRES_URL");
        eprintln!("FERRY_TEST_POSTGRES_URL not set: skipping the PostgreSQL run");
        return None;
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to PostgreSQL");
    let name = format!("ferry_test_{}_{}", std::process::id(), rand_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

/// Unique within this test process: a counter plus the clock.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    nanos * 1000 + COUNTER.fetch_add(1, Ordering::Relaxed)
}
