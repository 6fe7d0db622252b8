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
use std::process::Command;
use std::time::Duration;

use serde_json::json;

/// Where the sshd fixture asks for a free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("FERRY_BENCH_SSH_HOSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = root.join("target/release/ferry-agent");
    assert!(agent.exists(), "build it first: cargo build --release -p ferry-agent");
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let api = support::Api::admin(&running, "ships").await;
    let repo = dir.path().join("ships");
    support::sleeper_app(&repo, ["ssh", "agents"], 3601);
    let releases = api.project_with_two_releases(&repo).await;

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

    let mut agents = support::Children(Vec::new());
    for (n, host) in hosts.hosts.iter().enumerate() {
        let workdir = host.deploy_dir.join("agent");
        agents.0.push(api.start_agent(&agent, &format!("ship-{n:02}"), "role=ship", &workdir).await);
    }
    // The server's own built-in agent is online too.
    api.wait_online(count + 1).await;
    let path = "/api/v1/projects/ships/environments/agents/agents";
    api.call(reqwest::Method::PUT, path, json!({"selector": "role=ship"})).await;

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
    std::fs::write(work.join("deploy.yml"), support::sleeper_playbook("ships", artifact, false)).unwrap();
    let config = work.join("ansible.cfg");
    Some(support::time_playbook(&playbook_bin, &work, &[("ANSIBLE_CONFIG", config.as_os_str())]))
}
