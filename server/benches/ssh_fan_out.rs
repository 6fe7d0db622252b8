//! A rolling deployment (batches of 10%) of the same artifact to 20 SSH hosts — real
//! OpenSSH servers, each in a network namespace of its own when run as root (else on
//! loopback ports) — three ways in one run:
//!  - Ferry over SSH (one connection per host, nothing installed there);
//!  - Ansible over SSH (ansible-core, its native ssh connection with pipelining and
//!    ControlPersist, the same hosts and authorized keys, `serial: 10%`), doing the
//!    same unpack, switch, restart and check;
//!  - Ferry agents, one per host, in the same host directories.
//!
//! The "app" is a `sleep` process the restart replaces and the check finds alive, so
//! what is measured is the orchestration. Each is timed on its second release (the
//! first puts release 1 in place).
//!
//! `cargo bench -p ferry-server --bench ssh_fan_out` after `cargo build --release -p
//! ferry-agent` (scripts/bench.sh does both and installs ansible-core in
//! `.tools/ansible`). FERRY_BENCH_SSH_HOSTS sets the number of hosts (default 20).

#[allow(dead_code)] // the tests use the rest
#[path = "../tests/common/sshd.rs"]
mod sshd;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::json;

const RESTART: &str = "pid=\"$FERRY_TARGET_DIR/app.pid\"\n[ -f \"$pid\" ] && kill \"$(cat \"$pid\")\" 2>/dev/null || true\nsetsid sleep 3601 >/dev/null 2>&1 < /dev/null &\necho $! > \"$pid\"\n";
const CHECK: &str = "kill -0 \"$(cat \"$FERRY_TARGET_DIR/app.pid\")\"\n";

/// Where the sshd fixture asks for a free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn pipeline() -> String {
    let rollout = "    rollout: { strategy: rolling, batch: 10% }\n";
    format!(
        "environments:\n  - name: ssh\n{rollout}  - name: agents\n{rollout}\
         deploy:\n  - name: restart\n    run: sh restart.sh\n\
         health_check:\n  command: sh check.sh\n  interval: 1s\n  timeout: 10s\n"
    )
}

struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("FERRY_BENCH_SSH_HOSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = root.join("target/release/ferry-agent");
    assert!(agent.exists(), "build it first: cargo build --release -p ferry-agent");
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let token = support::admin_token(&running.state, &ferry_app::model::TokenScope::ALL).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let client = reqwest::Client::builder().default_headers(headers).build().unwrap();
    let api = support::Api { base: format!("http://{}", running.addr), client, project: "ships".into() };

    let repo = dir.path().join("ships");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("ferry.yml"), pipeline()).unwrap();
    std::fs::write(repo.join("restart.sh"), RESTART).unwrap();
    std::fs::write(repo.join("check.sh"), CHECK).unwrap();
    support::git(&repo, &["init", "--quiet"]);
    support::git(&repo, &["add", "."]);
    support::git(&repo, &["commit", "--quiet", "-m", "ships"]);
    let project = json!({"slug": "ships", "name": "ships", "repo_url": repo.display().to_string()});
    api.call(reqwest::Method::POST, "/api/v1/projects", project).await;

    // The hosts accept Ferry's key and the one Ansible signs in with.
    let ferry_key = api.call(reqwest::Method::GET, "/api/v1/ssh-key", json!(null)).await;
    let (ansible_public, ansible_private) = ferry_server::ssh::keys::generate("ansible").unwrap();
    let keys = format!("{}\n{ansible_public}", ferry_key["public_key"].as_str().unwrap());
    let hosts = sshd::TestHosts::start(count, &keys);
    let mode = if sshd::namespaces_available() { "each in its own network namespace" } else { "on loopback ports" };
    for (n, host) in hosts.hosts.iter().enumerate() {
        let body = json!({
            "name": format!("ship-{n:02}"), "address": host.address, "port": host.port, "user": host.user,
            "deploy_dir": host.deploy_dir, "known_hosts": host.host_key,
        });
        api.call(reqwest::Method::POST, "/api/v1/projects/ships/environments/ssh/ssh-hosts", body).await;
    }

    let mut agents = Agents(Vec::new());
    for (n, host) in hosts.hosts.iter().enumerate() {
        let identity = json!({"name": format!("ship-{n:02}"), "labels": "role=ship"});
        let registration = api.call(reqwest::Method::POST, "/api/v1/agents/registrations", identity).await;
        let child = Command::new(&agent)
            .args(["--server", &api.base])
            .arg("--workdir")
            .arg(host.deploy_dir.join("agent"))
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap();
        agents.0.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = api.call(reqwest::Method::GET, "/api/v1/agents", json!(null)).await;
        let online = listed.as_array().unwrap().iter().filter(|a| a["state"] == "online").count();
        if online > count {
            break;
        }
        assert!(Instant::now() < deadline, "the agents did not come online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = "/api/v1/projects/ships/environments/agents/agents";
    api.call(reqwest::Method::PUT, path, json!({"selector": "role=ship"})).await;

    let mut releases = Vec::new();
    for version in ["1", "2"] {
        let body = json!({"version": version, "git_commit": "HEAD"});
        let release = api.call(reqwest::Method::POST, "/api/v1/projects/ships/releases", body).await;
        releases.push(release["id"].as_i64().unwrap());
    }
    println!("rolling deployment (batches of 10%) of one artifact to {count} SSH hosts ({mode}):");
    api.deploy(releases[0], "ssh").await;
    let (over_ssh, ssh_cpu) = api.deploy(releases[1], "ssh").await;
    println!("  Ferry over SSH               {:7.2} s   server CPU {ssh_cpu:.2} s", over_ssh.as_secs_f64());
    api.deploy(releases[0], "agents").await;
    let (on_agents, agents_cpu) = api.deploy(releases[1], "agents").await;
    println!("  Ferry agents, same hosts     {:7.2} s   server CPU {agents_cpu:.2} s", on_agents.as_secs_f64());
    println!("  Ferry over SSH / agents      {:7.2}x", over_ssh.as_secs_f64() / on_agents.as_secs_f64());

    let sha = running.state.store.release(releases[1]).await.unwrap().unwrap().artifact_sha256.unwrap();
    let artifact = dir.path().join(format!("artifacts/{sha}.tar.gz"));
    match ansible(&root, dir.path(), &hosts, &ansible_private, &artifact) {
        Some(took) => println!(
            "  Ansible over SSH (pipelining) {:7.2} s   (Ferry over SSH is {:.1}x faster)",
            took.as_secs_f64(),
            took.as_secs_f64() / over_ssh.as_secs_f64()
        ),
        None => println!("  Ansible: not installed (scripts/bench.sh installs ansible-core in .tools/ansible)"),
    }
    drop(agents);
    // The "apps" outlive their deployments; the hosts stop what runs in them.
    drop(hosts);
    let _ = Command::new("pkill").args(["-f", "sleep 3601"]).status();
}

/// The same rollout with Ansible over SSH: per host, send and unpack the artifact into
/// a new release directory, switch `current`, restart, check; 10% of the hosts at a
/// time. Its time for a second release (the first run puts release 1 in place).
fn ansible(root: &Path, dir: &Path, hosts: &sshd::TestHosts, key: &str, artifact: &Path) -> Option<Duration> {
    let playbook_bin = root.join(".tools/ansible/bin/ansible-playbook");
    if !playbook_bin.exists() {
        return None;
    }
    let work = dir.join("ansible");
    std::fs::create_dir_all(&work).unwrap();
    let key_file = work.join("id_ed25519");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut known_hosts = String::new();
    let mut inventory = String::from("[ships]\n");
    for (n, host) in hosts.hosts.iter().enumerate() {
        let home = host.deploy_dir.join("ansible");
        inventory.push_str(&format!(
            "ship-{n:02} ansible_host={} ansible_port={} ansible_user={} ansible_python_interpreter=/usr/bin/python3 \
             workdir={}\n",
            host.address,
            host.port,
            host.user,
            home.display()
        ));
        let name = if host.port == 22 { host.address.clone() } else { format!("[{}]:{}", host.address, host.port) };
        known_hosts.push_str(&format!("{name} {}\n", host.host_key));
    }
    std::fs::write(work.join("inventory.ini"), inventory).unwrap();
    std::fs::write(work.join("known_hosts"), known_hosts).unwrap();
    std::fs::write(
        work.join("ansible.cfg"),
        format!(
            "[defaults]\nprivate_key_file = {}\n# The hosts' user has no home directory.\nremote_tmp = /tmp/.ansible-ferry-bench\n\n[ssh_connection]\npipelining = True\n\
             ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={}\n",
            key_file.display(),
            work.join("known_hosts").display()
        ),
    )
    .unwrap();
    let playbook = format!(
        r#"- hosts: ships
  serial: "10%"
  gather_facts: false
  tasks:
    - name: unpack
      ansible.builtin.file: {{ path: "{{{{ workdir }}}}/releases/{{{{ release }}}}", state: directory }}
    - ansible.builtin.unarchive: {{ src: "{artifact}", dest: "{{{{ workdir }}}}/releases/{{{{ release }}}}" }}
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
            .env("ANSIBLE_CONFIG", work.join("ansible.cfg"))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "ansible-playbook failed");
        began.elapsed()
    };
    run("1");
    Some(run("2"))
}
