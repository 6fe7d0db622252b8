//! Repository code run by a Ferry that runs as root: each project's steps run as a
//! user of its own (step_user's subordinate ids), and cannot read Ferry's key, its
//! database, another project's releases or processes, nor anything of the server's
//! environment.

mod common;

use common::{deploy, git, release_at_head, spawn_with, test_config};

/// Whether this run can test step users: it must be root, with the `ferry-build` user
/// that scripts/setup.sh creates. CI has both; elsewhere the test says why it skips.
fn can_switch_users() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let user = std::process::Command::new("id").arg("ferry-build").output().is_ok_and(|o| o.status.success());
    if std::env::var("CI").is_ok() {
        assert!(root && user, "CI runs as root with the ferry-build user (scripts/setup.sh --test)");
    }
    if !(root && user) {
        eprintln!("skipping: needs root and the ferry-build user (scripts/setup.sh --test creates it)");
    }
    root && user
}

/// The uid of a running process.
fn uid_of(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_projects_steps_reach_neither_ferrys_secrets_nor_another_projects_files() {
    if !can_switch_users() {
        return;
    }
    // Something of the server's environment that must not reach a step.
    std::env::set_var("FERRY_TEST_SERVER_ONLY", "server-environment-canary");
    let tmp = tempfile::tempdir().unwrap();
    let config = ferry_server::config::Config { step_user: "ferry-build".into(), ..test_config(tmp.path()) };
    let app = spawn_with(config).await;
    let data = app.data_dir.clone();

    // Another project, deployed first: its app keeps running as its own user.
    let (beta_release, _) = app.hello_project("beta").await;
    let id = deploy(&app, "beta", beta_release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let beta_target = data.join("targets/development/beta");
    let beta_pid = std::fs::read_to_string(beta_target.join("app.pid")).unwrap().trim().to_string();
    let beta_uid = uid_of(&beta_pid);
    assert_ne!(beta_uid, 0, "the deployed app runs as its project's user");

    let repo = data.join("src-alpha");
    std::fs::create_dir_all(&repo).unwrap();
    let key = data.join("secret.key");
    let database = data.join("ferry.db");
    let pipeline = format!(
        "environments:\n  - name: development\nbuild:\n  - name: build\n    run: echo built as $(id -u)\n\
         deploy:\n  - name: probe\n    run: |\n\
        \x20     env | sed 's/^/env: /'\n\
        \x20     echo uid $(id -u) groups $(id -G)\n\
        \x20     cat {key} || echo key-denied\n\
        \x20     head -c 200 {database} || echo database-denied\n\
        \x20     ls {data} || echo listing-denied\n\
        \x20     cat {beta}/current/VERSION || echo release-denied\n\
        \x20     tr '\\0' ' ' < /proc/{pid}/environ || echo environ-denied\n\
        \x20     kill -0 {pid} || echo signal-denied\n",
        key = key.display(),
        database = database.display(),
        data = data.display(),
        beta = beta_target.display(),
        pid = beta_pid,
    );
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "probe"]);
    let body = serde_json::json!({"slug": "alpha", "name": "alpha", "repo_url": repo.display().to_string()});
    assert_eq!(app.post("/api/v1/projects", body).await.0, 201);
    let release = release_at_head(&app, "alpha", "1.0.0").await;
    let id = deploy(&app, "alpha", release, "development").await;
    let detail = app.wait_finished(id).await;
    assert_eq!(detail["deployment"]["state"], "succeeded", "{detail}");
    let logs: Vec<String> =
        detail["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_string()).collect();

    for denied in
        ["key-denied", "database-denied", "listing-denied", "release-denied", "environ-denied", "signal-denied"]
    {
        assert!(logs.iter().any(|l| l == denied), "{denied} missing: {logs:#?}");
    }
    let key_text = String::from_utf8_lossy(&std::fs::read(&key).unwrap()).trim().to_string();
    assert!(!logs.iter().any(|l| l.contains(&key_text)), "a step read Ferry's key");
    assert!(!logs.iter().any(|l| l.contains("SQLite format")), "a step read Ferry's database");
    assert!(!logs.iter().any(|l| l.contains("server-environment-canary")), "the server's environment leaked");
    let alpha = logs.iter().find_map(|l| l.strip_prefix("uid ")).expect("the step printed its ids");
    let (uid, groups) = alpha.split_once(" groups ").unwrap();
    let uid: u32 = uid.parse().unwrap();
    assert!(uid != 0 && uid != beta_uid, "each project has its own user: {uid} vs {beta_uid}");
    assert!(!groups.split(' ').any(|g| g == "0"), "no root group: {groups}");
    assert!(logs.iter().any(|l| l == &format!("built as {uid}")), "the build ran as the project's user");
    let names: Vec<&str> =
        logs.iter().filter_map(|l| l.strip_prefix("env: ")).filter_map(|l| l.split_once('=')).map(|(n, _)| n).collect();
    let allowed = |name: &str| {
        name.starts_with("FERRY_") || ["PATH", "HOME", "LANG", "LC_ALL", "PWD", "SHLVL", "_", "OLDPWD"].contains(&name)
    };
    assert!(names.contains(&"HOME") && names.iter().all(|n| allowed(n)), "{names:?}");
}
