//! What the benchmarks share: a server started in the benchmark's process on a fresh
//! data directory, and an API token of its local administrator, issued straight from
//! its store.

#![allow(dead_code)] // each benchmark uses what it needs

use std::path::Path;
use std::process::{Child, Command};
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
        site_dir: Some(data_dir.join("none")),
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

impl Api {
    /// The API as the local administrator of `running`, for `project`.
    pub async fn admin(running: &ferry_server::Running, project: &str) -> Api {
        let token = admin_token(&running.state, &ferry_app::model::TokenScope::ALL).await;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let client = reqwest::Client::builder().default_headers(headers).build().unwrap();
        Api { base: format!("http://{}", running.addr), client, project: project.into() }
    }

    /// Registers an agent and starts a `ferry-agent` process for it in `workdir`.
    pub async fn start_agent(&self, binary: &Path, name: &str, labels: &str, workdir: &Path) -> Child {
        let identity = json!({"name": name, "labels": labels});
        let registration = self.call(reqwest::Method::POST, "/api/v1/agents/registrations", identity).await;
        Command::new(binary)
            .args(["--server", &self.base])
            .arg("--workdir")
            .arg(workdir)
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap()
    }

    /// Waits until at least `count` agents are online (a minute at most).
    pub async fn wait_online(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let agents = self.call(reqwest::Method::GET, "/api/v1/agents", json!(null)).await;
            let online = agents.as_array().unwrap().iter().filter(|a| a["state"] == "online").count();
            if online >= count {
                return;
            }
            assert!(Instant::now() < deadline, "only {online} of {count} agents came online");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the project from `repo` and cuts releases 1 and 2 at its HEAD.
    pub async fn project_with_two_releases(&self, repo: &Path) -> [i64; 2] {
        let project = json!({"slug": self.project, "name": self.project, "repo_url": repo.display().to_string()});
        self.call(reqwest::Method::POST, "/api/v1/projects", project).await;
        let path = format!("/api/v1/projects/{}/releases", self.project);
        let mut releases = [0; 2];
        for (n, version) in ["1", "2"].into_iter().enumerate() {
            let body = json!({"version": version, "git_commit": "HEAD"});
            releases[n] = self.call(reqwest::Method::POST, &path, body).await["id"].as_i64().unwrap();
        }
        releases
    }
}

/// Child processes (agents) stopped when dropped.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The fan-out benchmarks' "app": a `sleep <seconds>` process that the restart replaces
/// and the check finds alive, so what is measured is the orchestration. Its repository
/// at `repo`, with two environments rolling out in batches of 10%.
pub fn sleeper_app(repo: &Path, environments: [&str; 2], seconds: u32) {
    let rollout = "    rollout: { strategy: rolling, batch: 10% }\n";
    let [first, second] = environments;
    let pipeline = format!(
        "environments:\n  - name: {first}\n{rollout}  - name: {second}\n{rollout}\
         deploy:\n  - name: restart\n    run: sh restart.sh\n\
         health_check:\n  command: sh check.sh\n  interval: 1s\n  timeout: 10s\n"
    );
    let restart = format!(
        "pid=\"$FERRY_TARGET_DIR/app.pid\"\n[ -f \"$pid\" ] && kill \"$(cat \"$pid\")\" 2>/dev/null || true\n\
         setsid sleep {seconds} >/dev/null 2>&1 < /dev/null &\necho $! > \"$pid\"\n"
    );
    std::fs::create_dir_all(repo).unwrap();
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    std::fs::write(repo.join("restart.sh"), restart).unwrap();
    std::fs::write(repo.join("check.sh"), "kill -0 \"$(cat \"$FERRY_TARGET_DIR/app.pid\")\"\n").unwrap();
    git(repo, &["init", "--quiet"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", "sleeper"]);
}

/// The Ansible playbook doing what Ferry does for `sleeper_app` on `group`, 10% of
/// the hosts at a time: unpack the artifact into a new release directory, switch
/// `current`, restart, check. `remote_src`: the artifact is already on the host.
pub fn sleeper_playbook(group: &str, artifact: &Path, remote_src: bool) -> String {
    let remote = if remote_src { ", remote_src: true" } else { "" };
    format!(
        r#"- hosts: {group}
  serial: "10%"
  gather_facts: false
  tasks:
    - name: unpack
      ansible.builtin.file: {{ path: "{{{{ workdir }}}}/releases/{{{{ release }}}}", state: directory }}
    - ansible.builtin.unarchive: {{ src: "{artifact}", dest: "{{{{ workdir }}}}/releases/{{{{ release }}}}"{remote} }}
    - name: switch
      ansible.builtin.file: {{ src: "releases/{{{{ release }}}}", dest: "{{{{ workdir }}}}/current", state: link, force: true }}
    - name: restart
      ansible.builtin.command: {{ cmd: sh restart.sh, chdir: "{{{{ workdir }}}}/current" }}
      environment: {{ FERRY_TARGET_DIR: "{{{{ workdir }}}}" }}
    - name: check
      ansible.builtin.command: {{ cmd: sh check.sh, chdir: "{{{{ workdir }}}}/current" }}
      environment: {{ FERRY_TARGET_DIR: "{{{{ workdir }}}}" }}
      retries: 10
      delay: 1
      register: checked
      until: checked.rc == 0
"#,
        artifact = artifact.display()
    )
}

/// Runs `deploy.yml` in `work` for release 1, then times it for release 2 (10 forks).
pub fn time_playbook(playbook: &Path, work: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Duration {
    let run = |release: &str| {
        let began = Instant::now();
        let status = Command::new(playbook)
            .args(["-i", "inventory.ini", "deploy.yml", "--forks", "10", "-e", &format!("release={release}")])
            .current_dir(work)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "ansible-playbook failed");
        began.elapsed()
    };
    run("1");
    run("2")
}
