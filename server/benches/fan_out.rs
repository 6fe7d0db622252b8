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
use std::process::Command;
use std::time::Duration;

use serde_json::json;

#[tokio::main]
async fn main() {
    let hosts: usize = std::env::var("FERRY_BENCH_HOSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = root.join("target/release/ferry-agent");
    assert!(agent.exists(), "build it first: cargo build --release -p ferry-agent");
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let api = support::Api::admin(&running, "fan").await;
    let repo = dir.path().join("fan");
    support::sleeper_app(&repo, ["twenty", "fleet"], 3600);
    let releases = api.project_with_two_releases(&repo).await;

    // The hosts: one agent process each; the first 20 also carry group=a.
    let mut fleet = support::Children(Vec::new());
    for n in 0..hosts {
        let labels = if n < 20 { "role=fan,group=a" } else { "role=fan" };
        let workdir = dir.path().join(format!("hosts/{n:03}"));
        fleet.0.push(api.start_agent(&agent, &format!("host-{n:03}"), labels, &workdir).await);
    }
    api.wait_online(hosts).await;
    for (environment, selector) in [("twenty", "role=fan,group=a"), ("fleet", "role=fan")] {
        let path = format!("/api/v1/projects/fan/environments/{environment}/agents");
        api.call(reqwest::Method::PUT, &path, json!({"selector": selector})).await;
    }

    println!("rolling deployment (batches of 10%) to {hosts} agents on loopback:");
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
    std::fs::write(work.join("deploy.yml"), support::sleeper_playbook("fleet", artifact, true)).unwrap();
    let quiet = [("ANSIBLE_HOST_KEY_CHECKING", "False".as_ref()), ("ANSIBLE_LOCALHOST_WARNING", "False".as_ref())];
    Some(support::time_playbook(&playbook_bin, &work, &quiet))
}
