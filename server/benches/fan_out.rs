//! Fan-out: a rolling deployment (batches of 10%) to 100 `ferry-agent` processes on
//! loopback, each its own host with its own work directory, against Ansible
//! (ansible-core) doing the same unpack, switch, restart and check on the same 100
//! hosts (`connection: local`, `serial: 10%`, 10 forks). The "app" is a `sleep`
//! process the restart replaces and the check finds alive, so what is measured is the
//! orchestration, not an app's start-up. Also the server's CPU time per extra host:
//! the same deployment to 20 hosts and to 100.
//!
//! `cargo bench -p ferry-server --bench fan_out` after `cargo build --release -p
//! ferry-agent` (scripts/bench.sh does both and installs ansible-core in
//! `.tools/ansible`). FERRY_BENCH_HOSTS sets the number of hosts (default 100).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::json;

const RESTART: &str = "pid=\"$FERRY_TARGET_DIR/app.pid\"\n[ -f \"$pid\" ] && kill \"$(cat \"$pid\")\" 2>/dev/null || true\nsetsid sleep 3600 >/dev/null 2>&1 < /dev/null &\necho $! > \"$pid\"\n";
const CHECK: &str = "kill -0 \"$(cat \"$FERRY_TARGET_DIR/app.pid\")\"\n";

fn pipeline() -> String {
    let rollout = "    rollout: { strategy: rolling, batch: 10% }\n";
    format!(
        "environments:\n  - name: twenty\n{rollout}  - name: fleet\n{rollout}\
         deploy:\n  - name: restart\n    run: sh restart.sh\n\
         health_check:\n  command: sh check.sh\n  interval: 1s\n  timeout: 10s\n"
    )
}

struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::main]
async fn main() {
    let hosts: usize = std::env::var("FERRY_BENCH_HOSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = root.join("target/release/ferry-agent");
    assert!(agent.exists(), "build it first: cargo build --release -p ferry-agent");
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let token = support::admin_token(&running.state, &ferry_app::model::TokenScope::ALL).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let client = reqwest::Client::builder().default_headers(headers).build().unwrap();
    let api = support::Api { base: format!("http://{}", running.addr), client, project: "fan".into() };

    let repo = dir.path().join("fan");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("ferry.yml"), pipeline()).unwrap();
    std::fs::write(repo.join("restart.sh"), RESTART).unwrap();
    std::fs::write(repo.join("check.sh"), CHECK).unwrap();
    support::git(&repo, &["init", "--quiet"]);
    support::git(&repo, &["add", "."]);
    support::git(&repo, &["commit", "--quiet", "-m", "fan"]);
    let project = json!({"slug": "fan", "name": "fan", "repo_url": repo.display().to_string()});
    api.call(reqwest::Method::POST, "/api/v1/projects", project).await;

    // The hosts: one agent process each; the first 20 also carry group=a.
    let mut fleet = Fleet(Vec::new());
    for n in 0..hosts {
        let labels = if n < 20 { "role=fan,group=a" } else { "role=fan" };
        let identity = json!({"name": format!("host-{n:03}"), "labels": labels});
        let registration = api.call(reqwest::Method::POST, "/api/v1/agents/registrations", identity).await;
        let child = Command::new(&agent)
            .args(["--server", &api.base])
            .arg("--workdir")
            .arg(dir.path().join(format!("hosts/{n:03}")))
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap();
        fleet.0.push(child);
    }
    for _ in 0..600 {
        let agents = api.call(reqwest::Method::GET, "/api/v1/agents", json!(null)).await;
        let online = agents.as_array().unwrap().iter().filter(|a| a["state"] == "online").count();
        if online >= hosts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (environment, selector) in [("twenty", "role=fan,group=a"), ("fleet", "role=fan")] {
        let path = format!("/api/v1/projects/fan/environments/{environment}/agents");
        api.call(reqwest::Method::PUT, &path, json!({"selector": selector})).await;
    }

    println!("rolling deployment (batches of 10%) to {hosts} agents on loopback:");
    let mut releases = Vec::new();
    for version in ["1", "2"] {
        let body = json!({"version": version, "git_commit": "HEAD"});
        let release = api.call(reqwest::Method::POST, "/api/v1/projects/fan/releases", body).await;
        releases.push(release["id"].as_i64().unwrap());
    }
    // Release 1 is built (once) here, then goes everywhere; the timed runs replace it.
    api.deploy(releases[0], "twenty").await;
    api.deploy(releases[0], "fleet").await;
    let (small, small_cpu) = api.deploy(releases[1], "twenty").await;
    let (wall, cpu) = api.deploy(releases[1], "fleet").await;
    println!("  Ferry, 20 hosts              {:7.2} s   server CPU {small_cpu:.2} s", small.as_secs_f64());
    println!("  Ferry, {hosts} hosts             {:7.2} s   server CPU {cpu:.2} s", wall.as_secs_f64());
    let per_host = (cpu - small_cpu) / (hosts as f64 - 20.0) * 1000.0;
    println!("  server CPU per extra host    {per_host:7.1} ms");

    let sha = running.state.store.release(releases[1]).await.unwrap().unwrap().artifact_sha256.unwrap();
    let artifact = dir.path().join(format!("artifacts/{sha}.tar.gz"));
    match ansible(&root, dir.path(), hosts, &artifact) {
        Some(took) => println!(
            "  Ansible (ansible-core), {hosts} hosts, same work: {:7.2} s  (Ferry takes {:.2}x its time)",
            took.as_secs_f64(),
            wall.as_secs_f64() / took.as_secs_f64()
        ),
        None => println!("  Ansible: not installed (scripts/bench.sh installs ansible-core in .tools/ansible)"),
    }
    drop(fleet);
    // The "apps" outlive their agents; stop them.
    let _ = Command::new("pkill").args(["-f", "sleep 3600"]).status();
}

/// Runs the same rollout with Ansible: per host, unpack the artifact into a new release
/// directory, switch `current`, restart, check; 10% of the hosts at a time. Its time
/// for a second release (the first run puts release 1 in place).
fn ansible(root: &Path, dir: &Path, hosts: usize, artifact: &Path) -> Option<Duration> {
    let playbook_bin = root.join(".tools/ansible/bin/ansible-playbook");
    if !playbook_bin.exists() {
        return None;
    }
    let work = dir.join("ansible");
    std::fs::create_dir_all(&work).unwrap();
    let python = root.join(".tools/ansible/bin/python3");
    let mut inventory = String::from("[fleet]\n");
    for n in 0..hosts {
        let home = work.join(format!("host-{n:03}"));
        inventory.push_str(&format!(
            "host-{n:03} ansible_connection=local ansible_python_interpreter={} workdir={}\n",
            python.display(),
            home.display()
        ));
    }
    std::fs::write(work.join("inventory.ini"), inventory).unwrap();
    let playbook = format!(
        r#"- hosts: fleet
  serial: "10%"
  gather_facts: false
  tasks:
    - name: unpack
      ansible.builtin.file: {{ path: "{{{{ workdir }}}}/releases/{{{{ release }}}}", state: directory }}
    - ansible.builtin.unarchive: {{ src: "{artifact}", dest: "{{{{ workdir }}}}/releases/{{{{ release }}}}", remote_src: true }}
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
    );
    std::fs::write(work.join("deploy.yml"), playbook).unwrap();
    let run = |release: &str| {
        let began = Instant::now();
        let status = Command::new(&playbook_bin)
            .args(["-i", "inventory.ini", "deploy.yml", "--forks", "10", "-e", &format!("release={release}")])
            .current_dir(&work)
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_LOCALHOST_WARNING", "False")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "ansible-playbook failed");
        began.elapsed()
    };
    run("1");
    Some(run("2"))
}
