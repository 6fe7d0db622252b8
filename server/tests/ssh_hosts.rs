//! Deploying to SSH hosts through Ferry, against real OpenSSH servers (`common::sshd`):
//! an administrator adds hosts to an environment, checks a connection and trusts the
//! host key it shows; a rolling deployment over ten hosts with a failing health check
//! on one rolls the switched hosts back, host by host on the timeline; an untrusted,
//! changed or wrong key is refused with a reason; only administrators change hosts.

mod common;

use std::path::Path;

use common::cli::ferry;
use common::sshd::{TestHost, TestHosts};
use common::{assert_error, deploy, free_port, release_at_head, spawn_app, TestApp};
use ferry_app::model::Role;
use serde_json::{json, Value};

async fn ferry_public_key(app: &TestApp) -> String {
    let (status, key) = app.get("/api/v1/ssh-key").await;
    assert_eq!(status, 200, "{key}");
    assert!(key["fingerprint"].as_str().unwrap().starts_with("SHA256:"), "{key}");
    key["public_key"].as_str().unwrap().to_string()
}

fn hosts_path(slug: &str) -> String {
    format!("/api/v1/projects/{slug}/environments/development/ssh-hosts")
}

/// Adds `host` as `name` with its port for the app; trusted at once when `trusted`.
async fn add_host(app: &TestApp, slug: &str, name: &str, host: &TestHost, port: u16, trusted: bool) -> Value {
    let mut body = json!({
        "name": name, "address": host.address, "port": host.port, "user": host.user,
        "deploy_dir": host.deploy_dir, "vars": {"PORT": port.to_string(), "CHECK_PORT": port.to_string()},
    });
    if trusted {
        body["known_hosts"] = json!(format!("{} {}", host.address, host.host_key));
    }
    let (status, added) = app.post(&hosts_path(slug), body).await;
    assert_eq!(status, 201, "{added}");
    added
}

async fn put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.client.put(format!("{}{path}", app.base)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The hello app, its health check asking `CHECK_PORT`, rolled out with `rollout`.
async fn ssh_project(app: &TestApp, slug: &str, rollout: &str) -> i64 {
    app.hello_project(slug).await;
    let repo = app.data_dir.join(format!("src-{slug}"));
    let text = std::fs::read_to_string(repo.join("ferry.yml")).unwrap();
    let text = text
        .replacen("  - name: development\n", &format!("  - name: development\n    rollout: {rollout}\n"), 1)
        .replace("http://127.0.0.1:${PORT}/healthz", "http://127.0.0.1:${CHECK_PORT}/healthz")
        .replace("timeout: 20s", "timeout: 5s");
    std::fs::write(repo.join("ferry.yml"), text).unwrap();
    new_version(app, slug, "1.1.0");
    release_at_head(app, slug, "1.1.0").await
}

fn new_version(app: &TestApp, slug: &str, version: &str) {
    let repo = app.data_dir.join(format!("src-{slug}"));
    std::fs::write(repo.join("VERSION"), format!("{version}\n")).unwrap();
    common::git(&repo, &["commit", "--quiet", "-am", version]);
}

fn targets(detail: &Value) -> Vec<(String, i64, String)> {
    let listed = detail["targets"].as_array().unwrap();
    listed
        .iter()
        .map(|t| {
            (t["name"].as_str().unwrap().into(), t["batch"].as_i64().unwrap(), t["state"].as_str().unwrap().into())
        })
        .collect()
}

/// The release live on an SSH host for project `slug` in development.
fn live_release(host: &TestHost, slug: &str) -> String {
    let link = std::fs::read_link(host.deploy_dir.join(slug).join("development/current")).unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

fn live_version(host: &TestHost, slug: &str) -> String {
    let current = host.deploy_dir.join(slug).join("development/current/VERSION");
    std::fs::read_to_string(Path::new(&current)).unwrap().trim().to_string()
}

#[tokio::test]
async fn a_rolling_deployment_to_ten_ssh_hosts_rolls_back_the_switched_hosts_when_one_fails_its_health_check() {
    let app = spawn_app().await;
    let fleet = TestHosts::start(10, &ferry_public_key(&app).await);
    let first = ssh_project(&app, "ships", "{ strategy: rolling, batch: 20% }").await;
    let mut added = Vec::new();
    for (n, host) in fleet.hosts.iter().enumerate() {
        added.push(add_host(&app, "ships", &format!("web-{:02}", n + 1), host, free_port(), true).await);
    }
    let id = deploy(&app, "ships", first, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{}", done["deployment"]);
    let expected: Vec<(String, i64, String)> =
        (0..10).map(|n| (format!("web-{:02}", n + 1), n / 2, "succeeded".to_string())).collect();
    assert_eq!(targets(&done), expected, "five batches of two");
    for host in &fleet.hosts {
        assert_eq!(live_version(host, "ships"), "1.1.0");
    }
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.iter().any(|l| l.starts_with("sending sha256:")), "the artifact was sent");
    assert!(logs.iter().filter(|l| l.contains("checksum verified")).count() == 10, "checked on every host");
    assert!(logs.iter().any(|l| l.contains("GET http://127.0.0.1:") && l.contains("(healthy)")), "{logs:?}");

    // web-05's health check now asks a port nothing listens on.
    let web5 = &added[4];
    let mut vars = web5["vars"].clone();
    vars["CHECK_PORT"] = json!("1");
    let body = json!({"name": "web-05", "address": web5["address"], "port": web5["port"], "user": web5["user"],
        "deploy_dir": web5["deploy_dir"], "vars": vars});
    let (status, changed) = put(&app, &format!("{}/{}", hosts_path("ships"), web5["id"]), body).await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed["host_key"].is_string(), "the same address keeps its trusted key");
    new_version(&app, "ships", "1.2.0");
    let second = release_at_head(&app, "ships", "1.2.0").await;
    let id = deploy(&app, "ships", second, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["state"], "failed");
    let reason = failed["deployment"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("failed on web-05: step health-check"), "{reason}");
    assert!(reason.contains("(batch 3 of 5)"), "{reason}");
    assert!(reason.contains("rolling back web-01, web-02, web-03, web-04, web-05, web-06 to 1.1.0"), "{reason}");

    let (_, history) = app.get("/api/v1/deployments?project=ships&limit=1").await;
    let rollback = app.wait_finished(history[0]["id"].as_i64().unwrap()).await;
    assert_eq!(rollback["deployment"]["kind"], "rollback");
    let back: Vec<(String, String)> = targets(&rollback).into_iter().map(|t| (t.0, t.2)).collect();
    let expected: Vec<(String, String)> =
        (1..=6).map(|n| (format!("web-{n:02}"), if n == 5 { "failed" } else { "succeeded" }.to_string())).collect();
    assert_eq!(back, expected, "web-05 still fails its check on the old release");
    let after = app.wait_finished(id).await;
    let states: Vec<String> = targets(&after).into_iter().map(|t| t.2).collect();
    let mut expected = vec!["rolled_back"; 4];
    expected.extend(["failed", "rolled_back", "skipped", "skipped", "skipped", "skipped"]);
    assert_eq!(states, expected);
    for (n, host) in fleet.hosts.iter().enumerate() {
        assert_eq!(live_release(host, "ships"), first.to_string(), "web-{:02}", n + 1);
    }
    // Each host's steps are its own on the timeline.
    let steps = after["steps"].as_array().unwrap();
    for position in 0..10 {
        assert!(steps.iter().any(|s| s["target"] == position), "host {position} has steps");
    }
}

#[tokio::test]
async fn a_host_key_must_be_checked_and_trusted_and_a_changed_one_is_refused() {
    let app = spawn_app().await;
    let fleet = TestHosts::start(1, &ferry_public_key(&app).await);
    let host = &fleet.hosts[0];
    let release = ssh_project(&app, "keys", "{ strategy: all-at-once }").await;
    let added = add_host(&app, "keys", "web", host, free_port(), false).await;
    assert!(added["host_key"].is_null(), "nothing is trusted on first use");
    let base = format!("{}/{}", hosts_path("keys"), added["id"]);

    let id = deploy(&app, "keys", release, "development").await;
    let refused = app.wait_finished(id).await;
    assert_eq!(refused["deployment"]["state"], "failed");
    let why = refused["targets"][0]["reason"].as_str().unwrap();
    assert!(why.contains("no host key is trusted") && why.contains("SHA256:"), "{why}");

    let (status, check) = app.post(&format!("{base}/check"), json!({})).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["ok"], false);
    assert_eq!(check["trusted"], false);
    let presented = check["presented_key"].as_str().unwrap().to_string();
    assert_eq!(presented.split(' ').nth(1), host.host_key.split(' ').nth(1), "the key the host presents");
    let (status, trusted) = app.post(&format!("{base}/trust"), json!({"host_key": presented})).await;
    assert_eq!(status, 200, "{trusted}");
    assert_eq!(trusted["host_key"], check["presented_fingerprint"]);
    let (_, check) = app.post(&format!("{base}/check"), json!({})).await;
    assert_eq!(check["ok"], true, "{check}");

    let id = deploy(&app, "keys", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{}", done["deployment"]);
    assert_eq!(done["targets"][0]["ssh_host_id"], added["id"]);
    assert_eq!(live_version(host, "keys"), "1.1.0");

    // Another key at the same address (a reinstalled host, or someone in between).
    let impostor = host.other_host_key();
    let (status, _) = app.post(&format!("{base}/trust"), json!({"host_key": impostor})).await;
    assert_eq!(status, 200);
    let id = deploy(&app, "keys", release, "development").await;
    let refused = app.wait_finished(id).await;
    let why = refused["targets"][0]["reason"].as_str().unwrap();
    assert!(why.contains("host key of") && why.contains("changed") && why.contains("Refusing"), "{why}");
    let (_, check) = app.post(&format!("{base}/check"), json!({})).await;
    assert_eq!((check["ok"].clone(), check["trusted"].clone()), (json!(false), json!(false)), "{check}");
}

#[tokio::test]
async fn a_host_that_does_not_accept_ferrys_key_fails_saying_so_and_a_rotated_key_still_signs_in_once() {
    let app = spawn_app().await;
    let (stranger_public, _) = ferry_server::ssh::keys::generate("someone else").unwrap();
    let fleet = TestHosts::start(1, &stranger_public);
    let host = &fleet.hosts[0];
    let release = ssh_project(&app, "wrong", "{ strategy: all-at-once }").await;
    add_host(&app, "wrong", "web", host, free_port(), true).await;
    let id = deploy(&app, "wrong", release, "development").await;
    let refused = app.wait_finished(id).await;
    let why = refused["targets"][0]["reason"].as_str().unwrap();
    assert!(why.contains("refused Ferry's key") && why.contains("authorized_keys"), "{why}");

    // Given Ferry's key, it deploys; after a rotation the old key still signs in
    // (the hosts get the new one first), and after a second it no longer does.
    let old = ferry_public_key(&app).await;
    std::fs::write(&fleet.authorized, format!("{old}\n")).unwrap();
    let (status, rotated) = app.post("/api/v1/ssh-key/rotate", json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["previous"], json!(old));
    let id = deploy(&app, "wrong", release, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    let (status, _) = app.post("/api/v1/ssh-key/rotate", json!({})).await;
    assert_eq!(status, 200);
    let id = deploy(&app, "wrong", release, "development").await;
    let refused = app.wait_finished(id).await;
    assert!(refused["targets"][0]["reason"].as_str().unwrap().contains("refused Ferry's key"));
}

#[tokio::test]
async fn a_canary_and_blue_green_go_over_ssh_as_on_agents() {
    let app = spawn_app().await;
    let fleet = TestHosts::start(3, &ferry_public_key(&app).await);
    // A canary: the first host, watched for 2 s through its connection, then the others.
    let release = ssh_project(&app, "birds", "{ strategy: canary, verify: 2s }").await;
    for (n, host) in fleet.hosts.iter().enumerate() {
        add_host(&app, "birds", &format!("bird-{n}"), host, free_port(), true).await;
    }
    let id = deploy(&app, "birds", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{}", done["deployment"]);
    assert_eq!(targets(&done).iter().map(|t| t.1).collect::<Vec<_>>(), [0, 1, 1]);
    let canary: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["target"] == 0)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(canary.last(), Some(&"canary-verify"), "{canary:?}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.iter().any(|l| l.starts_with("healthy for the whole 2s window")), "{logs:?}");

    // Blue-green on one host: each release starts in the idle slot, is checked there,
    // then takes the traffic (the switch records the live port, as a router would).
    let (blue, green) = (free_port(), free_port());
    let rollout = format!(
        "{{ strategy: blue-green, slots: {{ blue: {{ PORT: \"{blue}\", CHECK_PORT: \"{blue}\" }}, \
         green: {{ PORT: \"{green}\", CHECK_PORT: \"{green}\" }} }}, \
         switch_traffic: 'echo $PORT > $FERRY_TARGET_DIR/router' }}"
    );
    let first = ssh_project(&app, "duo", &rollout).await;
    let host = &fleet.hosts[0];
    let body = json!({"name": "duo-1", "address": host.address, "port": host.port, "user": host.user,
        "deploy_dir": host.deploy_dir, "known_hosts": host.host_key});
    let (status, added) = app.post(&hosts_path("duo"), body).await;
    assert_eq!(status, 201, "{added}");
    let router = host.deploy_dir.join("duo/development/router");
    let routed = || std::fs::read_to_string(&router).unwrap().trim().parse::<u16>().unwrap();
    let id = deploy(&app, "duo", first, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{}", done["deployment"]);
    let steps: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        ["fetch", "build", "pack", "unpack", "stage", "restart", "health-check", "switch-traffic", "go-live"]
    );
    assert_eq!(routed(), blue);
    new_version(&app, "duo", "2.0.0");
    let second = release_at_head(&app, "duo", "2.0.0").await;
    let id = deploy(&app, "duo", second, "development").await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "succeeded");
    assert_eq!(routed(), green);
    assert_eq!(live_version(host, "duo"), "2.0.0");
    let slot = std::fs::read_to_string(host.deploy_dir.join("duo/development/live-slot")).unwrap();
    assert_eq!(slot.trim(), "green");

    // One click back: 1.1.0 again, into the idle slot, without sending anything.
    let body = json!({"project": "duo", "release_id": first, "environment": "development"});
    let (status, rollback) = app.post("/api/v1/rollbacks", body).await;
    assert_eq!(status, 202, "{rollback}");
    let back = app.wait_finished(rollback["id"].as_i64().unwrap()).await;
    assert_eq!(back["deployment"]["state"], "succeeded", "{}", back["deployment"]);
    let steps: Vec<&str> = back["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["restage", "restart", "health-check", "switch-traffic", "go-live"]);
    assert_eq!(routed(), blue);
    assert_eq!(live_version(host, "duo"), "1.1.0");
}

#[tokio::test]
async fn a_host_given_a_key_of_its_own_signs_in_with_it_and_never_shows_it() {
    let app = spawn_app().await;
    let (public, private) = ferry_server::ssh::keys::generate("deploy@web").unwrap();
    let fleet = TestHosts::start(1, &public);
    let host = &fleet.hosts[0];
    let release = ssh_project(&app, "own", "{ strategy: all-at-once }").await;
    let port = free_port().to_string();
    let body = json!({"name": "web", "address": host.address, "port": host.port, "user": host.user,
        "deploy_dir": host.deploy_dir, "known_hosts": host.host_key, "private_key": private,
        "vars": {"PORT": port, "CHECK_PORT": port}});
    let (status, added) = app.post(&hosts_path("own"), body).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["own_key"], true);
    let id = deploy(&app, "own", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{}", done["deployment"]);
    let (_, listed) = app.get(&hosts_path("own")).await;
    let (_, audit) = app.get("/api/v1/audit").await;
    for shown in [listed.to_string(), added.to_string(), audit.to_string()] {
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains(private.lines().nth(1).unwrap()), "{shown}");
    }
}

#[tokio::test]
async fn the_cli_adds_checks_trusts_and_deploys_to_an_ssh_host() {
    let app = spawn_app().await;
    let token = common::cli::admin_token(&app).await;
    let home = tempfile::tempdir().unwrap();
    let env = [("FERRY_URL", app.base.as_str()), ("FERRY_TOKEN", token.as_str())];
    let key = ferry(home.path(), &env, &["ssh", "key"]).await;
    assert_eq!(key.code, 0, "{}", key.stderr);
    assert!(
        key.stdout.starts_with("ssh-ed25519 ") && key.stderr.starts_with("SHA256:"),
        "{}{}",
        key.stdout,
        key.stderr
    );
    let fleet = TestHosts::start(1, key.stdout.trim());
    let host = &fleet.hosts[0];
    ssh_project(&app, "cli", "{ strategy: all-at-once }").await;
    let port = free_port().to_string();
    let (address, ssh_port, deploy_dir) =
        (host.address.as_str(), host.port.to_string(), host.deploy_dir.display().to_string());
    let (port_var, check_var) = (format!("PORT={port}"), format!("CHECK_PORT={port}"));
    let scope = ["--project", "cli", "--env", "development"];
    let mut add = vec!["ssh", "add"];
    add.extend(scope);
    add.extend(["--name", "web", "--address", address, "--port", &ssh_port, "--user", &host.user]);
    add.extend(["--deploy-dir", &deploy_dir, "--var", &port_var, "--var", &check_var]);
    let added = ferry(home.path(), &env, &add).await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(added.stdout.contains("--trust"), "it says what to do next: {}", added.stdout);
    let mut check = vec!["ssh", "check"];
    check.extend(scope);
    check.push("web");
    let untrusted = ferry(home.path(), &env, &check).await;
    assert_eq!(untrusted.code, 1, "not trusted yet: {}", untrusted.stdout);
    check.push("--trust");
    let trusted = ferry(home.path(), &env, &check).await;
    assert_eq!(trusted.code, 0, "{}{}", trusted.stdout, trusted.stderr);
    assert!(trusted.stdout.contains("host key: SHA256:") && trusted.stdout.contains("Signed in"), "{}", trusted.stdout);
    let mut hosts = vec!["ssh", "hosts"];
    hosts.extend(scope);
    let listed = ferry(home.path(), &env, &hosts).await;
    assert!(listed.stdout.contains("web") && listed.stdout.contains("SHA256:"), "{}", listed.stdout);
    let mut deploy = vec!["deploy"];
    deploy.extend(scope);
    deploy.extend(["--release", "1.1.0", "--wait"]);
    let deployed = ferry(home.path(), &env, &deploy).await;
    assert_eq!(deployed.code, 0, "{}{}", deployed.stdout, deployed.stderr);
    assert_eq!(live_version(host, "cli"), "1.1.0");
    let mut remove = vec!["ssh", "remove"];
    remove.extend(scope);
    remove.push("nowhere");
    let missing = ferry(home.path(), &env, &remove).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no SSH host named `nowhere`"), "{}", missing.stderr);
}

#[tokio::test]
async fn only_administrators_change_ssh_hosts_and_bad_input_is_refused_with_the_field() {
    let app = spawn_app().await;
    app.hello_project("guarded").await;
    let maintainer = app.client_as("mia", Role::Maintainer).await;
    let path = hosts_path("guarded");
    let body = json!({"name": "web", "address": "10.9.9.9", "user": "deploy"});
    let trust = json!({"host_key": "ssh-ed25519 AAAA"});
    for (method, url, sent) in [
        (reqwest::Method::POST, path.clone(), &body),
        (reqwest::Method::PUT, format!("{path}/1"), &body),
        (reqwest::Method::DELETE, format!("{path}/1"), &body),
        (reqwest::Method::POST, format!("{path}/1/check"), &body),
        (reqwest::Method::POST, format!("{path}/1/trust"), &trust),
        (reqwest::Method::POST, "/api/v1/ssh-key/rotate".to_string(), &body),
        (reqwest::Method::GET, "/api/v1/ssh-key".to_string(), &body),
    ] {
        let response =
            maintainer.request(method.clone(), format!("{}{url}", app.base)).json(sent).send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status == 403, "{method} {url}: {status} {answer}");
    }
    let (status, listed) =
        common::browser::json_of(maintainer.get(format!("{}{path}", app.base)).send().await.unwrap()).await;
    assert_eq!(status, 200, "maintainers see the hosts: {listed}");

    for (bad, field) in [
        (json!({"name": "web", "address": "10.9.9.9", "user": "deploy", "deploy_dir": "relative"}), "deploy_dir"),
        (json!({"name": "web", "address": "10.9.9.9", "user": "deploy", "port": 0}), "port"),
        (json!({"name": "web", "address": "10.9.9.9", "user": "deploy", "jump": "a:b:c"}), "jump"),
        (json!({"name": "web", "address": "10.9.9.9", "user": "deploy", "private_key": "x"}), "private_key"),
        (json!({"name": "web", "address": "10.9.9.9", "user": "deploy", "vars": {"9X": "1"}}), "vars"),
        (json!({"name": "w e b", "address": "10.9.9.9", "user": "deploy"}), "name"),
    ] {
        let (status, answer) = app.post(&path, bad).await;
        assert_error(status, &answer, 400, "bad_request");
        assert!(answer["message"].as_str().unwrap().starts_with(field), "{answer}");
    }
    let (status, answer) = app.post(&path, json!({"name": "web", "address": "x", "user": "u", "extra": 1})).await;
    assert_eq!(status, 400, "unknown fields are refused: {answer}");
    let (status, _) = app.post(&path, body.clone()).await;
    assert_eq!(status, 201);
    let (status, answer) = app.post(&path, body).await;
    assert_error(status, &answer, 409, "conflict");
    let (status, answer) = app.post("/api/v1/projects/guarded/environments/nowhere/ssh-hosts", json!({})).await;
    assert!(status == 404 || status == 400, "{status} {answer}");
    let (status, answer) = app.post(&format!("{path}/999/trust"), json!({"host_key": "x"})).await;
    assert_eq!(status, 404, "{answer}");
}
