//! What the benchmarks share: a server started in the benchmark's process on a fresh
//! data directory, and an API token of its local administrator, issued straight from
//! its store.

#![allow(dead_code)] // each benchmark uses what it needs

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_app::model::TokenScope;
use ferry_server::state::AppState;
use serde_json::{json, Value};

pub async fn admin_token(state: &AppState, scopes: &[TokenScope]) -> String {
    let admin = state.store.local_user("admin").await.unwrap().unwrap();
    let secret = ferry_server::auth::secrets::new_api_token();
    let new = ferry_server::store::NewToken {
        user_id: admin.id,
        name: "bench",
        token_hash: &secret.hash,
        prefix: &secret.prefix,
        scopes,
        project_id: None,
        expires_at: ferry_server::store::now_millis() + 3_600_000,
    };
    state.store.create_token(&new).await.unwrap();
    secret.token
}

/// A server on a free port with its data in `data_dir`: SQLite, or the database
/// `FERRY_BENCH_DATABASE_URL` names; no demo project.
pub async fn start_server(data_dir: &std::path::Path) -> ferry_server::Running {
    let config = ferry_server::config::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.into(),
        database_url: std::env::var("FERRY_BENCH_DATABASE_URL").ok(),
        site_dir: data_dir.join("none"),
        demo: false,
        demo_source: data_dir.join("none"),
        admin_password: Some("bench-password".into()),
        // The benchmarks' repositories are in private temporary directories.
        step_user: String::new(),
        ..ferry_server::config::Config::default()
    };
    ferry_server::start(&config).await.expect("server starts")
}

pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(ok.success(), "git {args:?}");
}

/// CPU seconds (user + system) this process has used: the server runs in it.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The REST API as the benchmark's administrator, for one project.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub project: String,
}

impl Api {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self.client.request(method, format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// Deploys and waits; the wall time and the server's CPU time it took.
    pub async fn deploy(&self, release: i64, environment: &str) -> (Duration, f64) {
        let (began, cpu) = (Instant::now(), cpu_seconds());
        let body = json!({"project": self.project, "release_id": release, "environment": environment});
        let id = self.call(reqwest::Method::POST, "/api/v1/deployments", body).await["id"].as_i64().unwrap();
        loop {
            let detail = self.call(reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), json!(null)).await;
            match detail["deployment"]["state"].as_str().unwrap_or("") {
                "succeeded" => return (began.elapsed(), cpu_seconds() - cpu),
                "failed" | "cancelled" => panic!("{}", detail["deployment"]),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}
