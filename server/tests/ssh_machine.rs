//! A host reached over SSH, as the executor drives it, against real OpenSSH servers
//! (`common::sshd`): secrets stay off command lines and out of sshd's log, a cancel,
//! a timeout or a cut link leaves no process behind, host keys are pinned and a wrong
//! key is refused, and the release layout and artifact checks hold there too.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::sshd::{namespaces_available, TestHost, TestHosts};
use common::wait_until;
use ferry_engine::machine::{Machine, Placing, Shell};
use ferry_engine::plan::ArtifactSource;
use ferry_engine::process::Exit;
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::LogStream;
use ferry_server::ssh::keys::{generate, parse_private};
use ferry_server::ssh::machine::SshMachine;
use ferry_server::ssh::session::{ConnectError, Endpoint, Route, Session, Timing};
use russh::keys::PrivateKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn key_pair() -> (String, Arc<PrivateKey>) {
    let (public, private) = generate("test").unwrap();
    (public, Arc::new(parse_private(&private).unwrap()))
}

fn route(host: &TestHost, host_key: Option<String>) -> Route {
    let endpoint = Endpoint { address: host.address.clone(), port: host.port, user: host.user.clone(), host_key };
    Route { host: endpoint, jump: None }
}

fn quick() -> Timing {
    Timing { connect: Duration::from_secs(10), keepalive: Duration::from_secs(1), keepalive_max: 3 }
}

async fn machine(host: &TestHost, key: &Arc<PrivateKey>, deployment: i64, release: i64) -> SshMachine {
    machine_in(host, key, host.deploy_dir.join("app").join("production"), deployment, release).await
}

async fn machine_in(
    host: &TestHost,
    key: &Arc<PrivateKey>,
    dir: std::path::PathBuf,
    deployment: i64,
    release: i64,
) -> SshMachine {
    let session = Session::connect(&route(host, Some(host.host_key.clone())), std::slice::from_ref(key), quick())
        .await
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    SshMachine::new(Arc::new(session), ReleasePaths::new(dir, release, deployment))
}

/// Collects every line a step prints.
fn lines() -> (mpsc::Sender<(LogStream, String)>, tokio::task::JoinHandle<Vec<String>>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let collected = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some((_, text)) = rx.recv().await {
            all.push(text);
        }
        all
    });
    (tx, collected)
}

/// Processes whose command line starts with `start`, from the process table the test
/// hosts share with this one.
fn processes_with(start: &str) -> Vec<String> {
    let out = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(start)).map(str::to_string).collect()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    h.finish() % 1_000_000
}

#[tokio::test]
async fn a_secret_reaches_the_step_but_no_command_line_and_not_the_sshd_log() {
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let host = &hosts.hosts[0];
    let ssh = machine(host, &key, 1, 1).await;
    let secret = unique("s3cr3t-value-");
    let mark = host.deploy_dir.join("started");
    let env = BTreeMap::from([
        ("API_TOKEN".to_string(), secret.clone()),
        ("MARK".to_string(), mark.display().to_string()),
        ("QUOTED".to_string(), "it's \"odd\" $HOME `x`".to_string()),
    ]);
    let script = "echo \"length ${#API_TOKEN}\"; printf '%s\\n' \"$QUOTED\"; touch \"$MARK\"; sleep 120";
    let cwd = host.deploy_dir.clone();
    let (tx, collected) = lines();
    let cancel = CancellationToken::new();
    let running = {
        let cancel = cancel.clone();
        async move {
            let shell = Shell { script, cwd: &cwd, env: &env, timeout: Duration::from_secs(300) };
            ssh.run(shell, &cancel, &tx).await
        }
    };
    let running = tokio::spawn(running);
    wait_until("the step runs", Duration::from_secs(20), || async { mark.exists().then_some(()) }).await;
    let table = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(!table.contains(&secret), "the secret is on a command line:\n{table}");
    assert!(table.contains("sleep 120"), "the step's processes are in the table: {table}");
    cancel.cancel();
    assert_eq!(running.await.unwrap(), Exit::Cancelled);
    let printed = collected.await.unwrap();
    assert!(printed.contains(&format!("length {}", secret.len())), "{printed:?}");
    assert!(printed.contains(&"it's \"odd\" $HOME `x`".to_string()), "{printed:?}");
    assert!(!host.sshd_log().contains(&secret), "the secret is in sshd's log");
    assert!(host.sshd_log().contains("exec"), "the log shows the commands run (the check above means something)");
}

#[tokio::test]
async fn a_cancel_and_a_timeout_kill_the_steps_whole_process_group() {
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let host = &hosts.hosts[0];
    let ssh = machine(host, &key, 2, 1).await;
    let cwd = host.deploy_dir.clone();
    let env = BTreeMap::new();
    for (how, timeout) in [("cancel", Duration::from_secs(300)), ("timeout", Duration::from_secs(2))] {
        let marker = format!("{}", 100_000 + rand_suffix());
        // A child, a grandchild that left its parent, and the step's own.
        let script = format!("(sleep {marker}1 &); sh -c 'sleep {marker}2' & sleep {marker}3; wait");
        let (tx, collected) = lines();
        let cancel = CancellationToken::new();
        let step = {
            let (cancel, cwd, env, script) = (cancel.clone(), cwd.clone(), env.clone(), script.clone());
            let ssh = &ssh;
            async move {
                let shell = Shell { script: &script, cwd: &cwd, env: &env, timeout };
                ssh.run(shell, &cancel, &tx).await
            }
        };
        let watching = async {
            wait_until("the step's three sleeps run", Duration::from_secs(20), || async {
                (processes_with(&format!("sleep {marker}")).len() == 3).then_some(())
            })
            .await;
            if how == "cancel" {
                cancel.cancel();
            }
        };
        let (exit, ()) = tokio::join!(step, watching);
        let expected = if how == "cancel" { Exit::Cancelled } else { Exit::TimedOut };
        assert_eq!(exit, expected, "{how}");
        wait_until(&format!("no sleep is left after the {how}"), Duration::from_secs(10), || async {
            processes_with(&format!("sleep {marker}")).is_empty().then_some(())
        })
        .await;
        drop(collected);
    }
}

#[tokio::test]
async fn a_cut_link_fails_the_step_within_the_keepalive_deadline_and_the_host_kills_it() {
    if !namespaces_available() {
        eprintln!("skipped: cutting a link needs network namespaces (root)");
        return;
    }
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let host = &hosts.hosts[0];
    let ssh = machine(host, &key, 3, 1).await;
    let marker = format!("{}", 100_000 + rand_suffix());
    let script = format!("sleep {marker}");
    let (cwd, env) = (host.deploy_dir.clone(), BTreeMap::new());
    let (tx, _collected) = lines();
    let cancel = CancellationToken::new();
    let step = async {
        let shell = Shell { script: &script, cwd: &cwd, env: &env, timeout: Duration::from_secs(600) };
        ssh.run(shell, &cancel, &tx).await
    };
    let cutting = async {
        wait_until("the step runs", Duration::from_secs(20), || async {
            (!processes_with(&format!("sleep {marker}")).is_empty()).then_some(())
        })
        .await;
        host.cut_link();
    };
    // Keepalives every second, three unanswered: well within 30 s.
    let (exit, ()) = tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(step, cutting) })
        .await
        .expect("the step should fail once the connection is known dead");
    assert!(matches!(&exit, Exit::Lost(why) if why.contains("lost the connection")), "{exit:?}");
    wait_until("the host killed the orphaned step", Duration::from_secs(30), || async {
        processes_with(&format!("sleep {marker}")).is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn host_keys_are_pinned_and_a_wrong_client_key_is_refused() {
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let host = &hosts.hosts[0];
    let keys = std::slice::from_ref(&key);

    let untrusted = Session::connect(&route(host, None), keys, quick()).await.err().expect("no key trusted yet");
    let ConnectError::Untrusted { presented, .. } = &untrusted else { panic!("{untrusted}") };
    assert_eq!(presented.to_openssh().unwrap().split(' ').nth(1), host.host_key.split(' ').nth(1));
    assert!(untrusted.to_string().contains("SHA256:"), "{untrusted}");

    let impostor = host.other_host_key();
    let changed = Session::connect(&route(host, Some(impostor)), keys, quick()).await.err().expect("refused");
    assert!(matches!(changed, ConnectError::Changed { .. }), "{changed}");
    assert!(changed.to_string().contains("host key of") && changed.to_string().contains("changed"), "{changed}");

    let (_, stranger) = key_pair();
    let refused = Session::connect(&route(host, Some(host.host_key.clone())), &[stranger], quick()).await.err();
    assert!(matches!(refused, Some(ConnectError::Refused { .. })), "{:?}", refused.map(|e| e.to_string()));

    // A known_hosts line is read as the key it holds.
    let known = format!("{} {}", host.address, host.host_key);
    assert!(Session::connect(&route(host, Some(known)), keys, quick()).await.is_ok());
}

#[tokio::test]
async fn releases_are_sent_checked_switched_pruned_and_retired_on_the_host() {
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let host = &hosts.hosts[0];
    let build = tempfile::tempdir().unwrap();
    let (tx, _collected) = lines();
    let cancel = CancellationToken::new();
    for release in 1..=4i64 {
        std::fs::write(build.path().join("version"), format!("v{release}")).unwrap();
        let archive = build.path().join(format!("../artifact-{}-{release}.tar.gz", std::process::id()));
        let sha = ferry_engine::artifact::pack(build.path(), &archive).unwrap();
        let ssh = machine(host, &key, 10 + release, release).await;
        ssh.prepare().await.unwrap();
        let source = ArtifactSource { sha256: sha, location: archive.display().to_string(), bearer: None };
        let size = ssh.put_artifact(&source, &cancel, &tx).await.unwrap();
        assert_eq!(size, std::fs::metadata(&archive).unwrap().len());
        let _ = std::fs::remove_file(&archive);
        assert!(ssh.current_release().await != Some(release));
        ssh.place(Placing::Switch).await.unwrap();
        assert_eq!(ssh.current_release().await, Some(release));
        let current = ssh.paths().current().join("version");
        assert_eq!(std::fs::read_to_string(current).unwrap(), format!("v{release}"));
        ssh.clean_up(true).await;
    }
    let ssh = machine(host, &key, 20, 2).await;
    ssh.place(Placing::Activate).await.unwrap();
    assert_eq!(ssh.current_release().await, Some(2), "rolled back without sending anything");
    let mut removed = ssh.prune(2).await.unwrap();
    removed.sort();
    assert_eq!(removed, vec![1, 3], "the live release and the newest other stay");
    assert!(ssh.paths().releases().join("4").is_dir());
    let gone = machine(host, &key, 21, 1).await;
    let err = gone.place(Placing::Activate).await.unwrap_err();
    assert!(err.to_string().contains("no longer on this target"), "{err}");

    // A directory name is a value, never shell: `$(…)`, quotes and `;` stay in the name.
    let planted = host.deploy_dir.join("planted");
    let odd = host.deploy_dir.join(format!("it's $(touch {}); `touch {}` \"x\"", planted.display(), planted.display()));
    let ssh = machine_in(host, &key, odd.clone(), 30, 1).await;
    let archive = build.path().join("../odd.tar.gz");
    let sha = ferry_engine::artifact::pack(build.path(), &archive).unwrap();
    let source = ArtifactSource { sha256: sha, location: archive.display().to_string(), bearer: None };
    ssh.make_home().await.unwrap();
    ssh.put_artifact(&source, &cancel, &tx).await.unwrap();
    ssh.place(Placing::Switch).await.unwrap();
    assert_eq!(ssh.current_release().await, Some(1));
    assert!(odd.join("current/version").exists(), "the release is where the name says");
    assert!(!planted.exists(), "nothing in the name ran");
    let _ = std::fs::remove_file(&archive);

    // An artifact that does not match its checksum is not unpacked.
    let ssh = machine(host, &key, 22, 5).await;
    ssh.prepare().await.unwrap();
    let archive = build.path().join("../damaged.tar.gz");
    ferry_engine::artifact::pack(build.path(), &archive).unwrap();
    let source = ArtifactSource { sha256: "0".repeat(64), location: archive.display().to_string(), bearer: None };
    let err = ssh.put_artifact(&source, &cancel, &tx).await.unwrap_err();
    assert!(err.contains("checksum"), "{err}");
    assert!(!ssh.paths().incoming().exists(), "nothing was unpacked");
    let _ = std::fs::remove_file(&archive);

    // A preview's teardown retires the target: `current` and every release go.
    let ssh = machine(host, &key, 23, 2).await;
    let retired = ssh.place(Placing::Retire).await.unwrap();
    assert_eq!(retired, ssh.paths().target_dir);
    assert!(!ssh.paths().current().exists() && !ssh.paths().releases().exists(), "nothing of it is left");
    assert_eq!(ssh.current_release().await, None);
}

#[tokio::test]
async fn a_host_behind_a_jump_host_is_reached_through_it_with_both_host_keys_pinned() {
    if !namespaces_available() {
        eprintln!("skipped: a host behind a jump host needs network namespaces (root)");
        return;
    }
    let (public, key) = key_pair();
    let hosts = TestHosts::start(1, &public);
    let jump = &hosts.hosts[0];
    let inner = jump.behind();
    let endpoint = |h: &TestHost, host_key: Option<&str>| Endpoint {
        address: h.address.clone(),
        port: h.port,
        user: h.user.clone(),
        host_key: host_key.map(str::to_string),
    };
    let keys = std::slice::from_ref(&key);
    let through = |inner_key: Option<&str>, jump_key: Option<&str>| Route {
        host: endpoint(&inner, inner_key),
        jump: Some(endpoint(jump, jump_key)),
    };

    let session = Session::connect(&through(Some(&inner.host_key), Some(&jump.host_key)), keys, quick())
        .await
        .unwrap_or_else(|e| panic!("through the jump host: {e}"));
    let ssh = SshMachine::new(Arc::new(session), ReleasePaths::new(inner.deploy_dir.join("app"), 1, 1));
    let (tx, collected) = lines();
    let (cwd, env) = (inner.deploy_dir.clone(), BTreeMap::new());
    let shell = Shell { script: "echo \"$SSH_CONNECTION\"", cwd: &cwd, env: &env, timeout: Duration::from_secs(30) };
    assert_eq!(ssh.run(shell, &CancellationToken::new(), &tx).await, Exit::Code(0));
    drop((ssh, tx));
    let printed = collected.await.unwrap();
    assert!(printed.iter().any(|l| l.ends_with("127.0.0.1 2222")), "it ran on the inner host: {printed:?}");

    // Not reachable otherwise; and each host's key is checked.
    let direct = Route { host: endpoint(&inner, Some(&inner.host_key)), jump: None };
    assert!(matches!(Session::connect(&direct, keys, quick()).await, Err(ConnectError::Unreachable { .. })));
    let untrusted_jump = Session::connect(&through(Some(&inner.host_key), None), keys, quick()).await.err().unwrap();
    assert!(
        matches!(&untrusted_jump, ConnectError::Untrusted { endpoint, .. } if endpoint.contains(&jump.address)),
        "{untrusted_jump}"
    );
    let impostor = jump.other_host_key();
    let changed = Session::connect(&through(Some(&impostor), Some(&jump.host_key)), keys, quick()).await.err().unwrap();
    assert!(matches!(&changed, ConnectError::Changed { endpoint, .. } if endpoint.contains(":2222")), "{changed}");
}

#[tokio::test]
async fn a_host_that_answers_without_end_is_not_believed_and_not_kept_in_memory() {
    let (public, key) = key_pair();
    // Every command gets 50 MB on stdout, then stderr without end: what a hostile or
    // broken host could send back to Ferry's own commands.
    let flood = "ForceCommand cat >/dev/null; yes | head -c 50000000; yes >&2";
    let hosts = TestHosts::start_with(1, &public, flood);
    let host = &hosts.hosts[0];

    let ssh = machine(host, &key, 40, 1).await;
    let err = ssh.make_home().await.unwrap_err().to_string();
    assert!(err.contains("answered with more than"), "{}", &err[..err.len().min(300)]);
    assert!(err.len() < 1024, "the reason is short: {} bytes", err.len());

    let build = tempfile::tempdir().unwrap();
    std::fs::write(build.path().join("version"), "v1").unwrap();
    let archive = build.path().join("../flood.tar.gz");
    let sha = ferry_engine::artifact::pack(build.path(), &archive).unwrap();
    let source = ArtifactSource { sha256: sha, location: archive.display().to_string(), bearer: None };
    let (tx, _collected) = lines();
    let cancel = CancellationToken::new();
    let sending = ssh.put_artifact(&source, &cancel, &tx);
    let err = tokio::time::timeout(Duration::from_secs(60), sending).await.expect("an answer, not a hang").unwrap_err();
    let _ = std::fs::remove_file(&archive);
    assert!(err.contains("\ny\ny\n") && err.ends_with("(cut at 4096 bytes)"), "the host's reason, cut: {err}");
    assert!(err.len() < 8 * 1024, "the reason is kept short: {} bytes", err.len());
}
