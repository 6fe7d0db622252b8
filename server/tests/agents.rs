//! Agents: registration with a one-time token that carries the agent's name and
//! labels, then the agent's own credential; an agent that presents another identity
//! is refused, and only an administrator relabels agents or points environments at
//! them; environments deploying to agents by label, each in its own directory; the
//! agent list; revocation; and, at the protocol level, reports sent again after a
//! reconnect recorded once, artifacts only for an agent's own jobs, and cancels passed
//! on to the agent.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use common::{spawn_app, TestApp};
use ferry_agent::AgentConfig;
use ferry_engine::executor::{Outcome, RunnerEvent};
use ferry_engine::protocol::{AgentMessage, JobReport, ServerMessage, PROTOCOL_VERSION};
use ferry_engine::{DeploymentState, LogStream, StepState};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// A registration token for an agent called `name` with `labels`.
async fn registration(app: &TestApp, name: &str, labels: &str) -> String {
    let (s, body) = app.post("/api/v1/agents/registrations", json!({"name": name, "labels": labels})).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["name"], name);
    body["token"].as_str().unwrap().to_string()
}

/// An agent started without saying who it is: it is who its token (or an admin) says.
fn agent_config(app: &TestApp, workdir: PathBuf, token: Option<String>) -> AgentConfig {
    AgentConfig {
        server: app.base.clone(),
        name: None,
        labels: None,
        workdir,
        registration_token: token,
        vars: BTreeMap::new(),
        shutdown_grace: Duration::from_secs(10),
    }
}

/// An agent started with `--labels`.
fn claiming(config: AgentConfig, labels: &str) -> AgentConfig {
    let labels = ferry_engine::protocol::parse_selector(labels).unwrap().into_iter().collect();
    AgentConfig { labels: Some(labels), ..config }
}

async fn agent_state(app: &TestApp, name: &str) -> Option<String> {
    let (_, agents) = app.get("/api/v1/agents").await;
    agents.as_array().unwrap().iter().find(|a| a["name"] == name).map(|a| a["state"].as_str().unwrap().to_string())
}

async fn wait_state(app: &TestApp, name: &str, state: &str) {
    common::wait_until(&format!("agent {name} to be {state}"), Duration::from_secs(20), || async move {
        (agent_state(app, name).await.as_deref() == Some(state)).then_some(())
    })
    .await
}

async fn select(app: &TestApp, project: &str, env: &str, selector: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/projects/{project}/environments/{env}/agents", app.base);
    let response = app.client.put(url).json(&json!({"selector": selector})).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_registers_once_and_runs_the_deployments_its_labels_match() {
    let app = spawn_app().await;
    let (release, ports) = app.hello_project("remote").await;
    let token = registration(&app, "edge-1", "env=edge").await;
    let workdir = app.data_dir.join("agent-host");
    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(agent_config(&app, workdir.clone(), Some(token.clone())), stop.clone()));
    wait_state(&app, "edge-1", "online").await;
    let (_, agents) = app.get("/api/v1/agents").await;
    let listed = agents.as_array().unwrap().iter().find(|a| a["name"] == "edge-1").unwrap().clone();
    assert_eq!(listed["labels"]["env"], "edge");
    assert_eq!(listed["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(agents[0]["name"], "built-in (this server)");

    // The token was used up.
    let again = ferry_agent::run(agent_config(&app, app.data_dir.join("other"), Some(token)), CancellationToken::new());
    let refused = tokio::time::timeout(Duration::from_secs(10), again).await.unwrap().unwrap_err();
    assert!(refused.contains("registration token"), "{refused}");

    let (s, b) = select(&app, "remote", "development", "env").await;
    common::assert_error(s, &b, 400, "bad_request");
    let (s, env) = select(&app, "remote", "development", " env = edge ").await;
    assert_eq!(s, 200, "{env}");
    assert_eq!(env["agent_selector"], "env=edge");

    let id = common::deploy(&app, "remote", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    assert!(workdir.join("remote/development/current").exists(), "the release lives on the agent's host");
    assert!(!app.data_dir.join("targets/development/remote").exists(), "not on the server");
    assert!(common::page(ports[0]).await.contains("1.0.0"));

    // Staging shares the host, and gets a directory of its own: neither environment's
    // releases (nor the pruning of old ones) can reach the other's.
    assert_eq!(select(&app, "remote", "staging", "env=edge").await.0, 200);
    let staged = app.wait_finished(common::deploy(&app, "remote", release, "staging").await).await;
    assert_eq!(staged["deployment"]["state"], "succeeded", "{staged}");
    let live = |env: &str| std::fs::read_link(workdir.join(format!("remote/{env}/current"))).unwrap();
    assert_eq!(live("staging"), std::path::Path::new("releases").join(release.to_string()));
    assert_eq!(live("development"), std::path::Path::new("releases").join(release.to_string()));
    assert!(workdir.join("remote/development/releases").join(release.to_string()).join("dist/index.html").is_file());
    assert!(common::page(ports[1]).await.contains("1.0.0"));
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.iter().any(|l| l.contains("building hello-web 1.0.0")), "{logs:?}");

    stop.cancel();
    agent.await.unwrap().unwrap();
    wait_state(&app, "edge-1", "offline").await;
    let id = common::deploy(&app, "remote", release, "development").await;
    let failed = app.wait_finished(id).await;
    assert_eq!(failed["deployment"]["reason"], "no online agent matches `env=edge`");

    // Back with its credential (no token now), then revoked for good.
    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(agent_config(&app, workdir.clone(), None), stop.clone()));
    wait_state(&app, "edge-1", "online").await;
    let agent_id = listed["id"].as_i64().unwrap();
    let revoke = app.client.delete(format!("{}/api/v1/agents/{agent_id}", app.base)).send().await.unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(20), agent).await.unwrap().unwrap();
    assert!(ended.unwrap_err().contains("revoked"), "a revoked agent stops");
    let (_, log) = app.get("/api/v1/audit?action=agent.revoke").await;
    assert_eq!(log.as_array().unwrap().len(), 1);
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A hand-driven agent speaking the protocol.
async fn raw_agent(app: &TestApp, token: Option<&str>, credential: Option<&str>) -> (Socket, ServerMessage) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/agent/ws", app.addr)).await.unwrap();
    let hello = AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
        name: Some("raw".into()),
        version: "test".into(),
        labels: Some(BTreeMap::from([("env".to_string(), "raw".to_string())])),
        registration_token: token.map(str::to_string),
        credential: credential.map(str::to_string),
    };
    socket.send(Message::Text(hello.to_json().into())).await.unwrap();
    let welcome = next(&mut socket).await;
    (socket, welcome)
}

/// A hand-driven agent registering with `token` as `name` with `labels`.
async fn raw_agent_as(app: &TestApp, token: &str, name: &str, labels: &str) -> (Socket, ServerMessage) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/agent/ws", app.addr)).await.unwrap();
    let hello = AgentMessage::Hello {
        protocol: PROTOCOL_VERSION,
        name: Some(name.into()),
        version: "test".into(),
        labels: Some(ferry_engine::protocol::parse_selector(labels).unwrap().into_iter().collect()),
        registration_token: Some(token.into()),
        credential: None,
    };
    socket.send(Message::Text(hello.to_json().into())).await.unwrap();
    let welcome = next(&mut socket).await;
    (socket, welcome)
}

async fn next(socket: &mut Socket) -> ServerMessage {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn report(socket: &mut Socket, job: i64, seq: u64, report: JobReport) {
    socket.send(Message::Text(AgentMessage::Report { job, seq, report }.to_json().into())).await.unwrap();
}

fn log(index: usize, text: &str) -> JobReport {
    JobReport::Step { event: RunnerEvent::Log { index, stream: LogStream::Stdout, text: text.into() } }
}

#[tokio::test]
async fn reports_sent_again_after_a_reconnect_are_recorded_once_and_cancels_reach_the_agent() {
    let app = spawn_app().await;
    let (release, _) = app.hello_project("raw").await;
    let token = registration(&app, "raw", "env=raw").await;
    let (mut socket, welcome) = raw_agent(&app, Some(&token), None).await;
    let ServerMessage::Welcome { credential: Some(credential), .. } = welcome else { panic!("{welcome:?}") };
    assert_eq!(select(&app, "raw", "development", "env=raw").await.0, 200);
    // Another agent, with no job of this project.
    let other_token = registration(&app, "other", "env=other").await;
    let (other_socket, other) = raw_agent_as(&app, &other_token, "other", "env=other").await;
    let ServerMessage::Welcome { credential: Some(other_credential), .. } = other else { panic!("{other:?}") };

    let id = common::deploy(&app, "raw", release, "development").await;
    let ServerMessage::Run { job, plan, .. } = next(&mut socket).await else { panic!("expected a job") };
    assert_eq!(job, id);
    // The job's artifact is served to the agent that runs it, and to no other agent.
    let artifact = plan.artifact.clone().expect("the plan names the release's artifact");
    let download = |credential: String| {
        let url = format!("{}{}", app.base, artifact.location);
        async move { reqwest::Client::new().get(url).bearer_auth(credential).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(download(credential.clone()).await, 200);
    assert_eq!(download(other_credential.clone()).await, 403, "an agent gets only its own jobs' artifacts");
    drop(other_socket);
    let steps = plan.steps.len();
    report(&mut socket, job, 1, JobReport::Step { event: RunnerEvent::StepStarted { index: 0 } }).await;
    report(&mut socket, job, 2, log(0, "line 1")).await;
    report(&mut socket, job, 3, log(0, "line 2")).await;
    // Acknowledgements are cumulative: the server may acknowledge several at once.
    loop {
        match next(&mut socket).await {
            ServerMessage::Ack { job: j, seq } if j == job && seq >= 3 => break,
            ServerMessage::Ack { job: j, .. } if j == job => {}
            other => panic!("expected acknowledgements, got {other:?}"),
        }
    }
    // Line 3 goes out, the connection drops before its acknowledgement arrives.
    report(&mut socket, job, 4, log(0, "line 3")).await;
    drop(socket);

    let (mut socket, welcome) = raw_agent(&app, None, Some(&credential)).await;
    assert!(matches!(welcome, ServerMessage::Welcome { credential: None, .. }), "{welcome:?}");
    assert!(
        matches!(next(&mut socket).await, ServerMessage::Run { job: j, .. } if j == job),
        "the job is offered again"
    );
    // Everything unacknowledged, sent again (3 was acknowledged, but a resend is harmless).
    report(&mut socket, job, 3, log(0, "line 2")).await;
    report(&mut socket, job, 4, log(0, "line 3")).await;
    let mut seq = 4;
    for index in 0..steps {
        if index > 0 {
            seq += 1;
            report(&mut socket, job, seq, JobReport::Step { event: RunnerEvent::StepStarted { index } }).await;
        }
        seq += 1;
        let finished = RunnerEvent::StepFinished { index, state: StepState::Succeeded, exit_code: Some(0) };
        report(&mut socket, job, seq, JobReport::Step { event: finished }).await;
    }
    let outcome = Outcome { state: DeploymentState::Succeeded, reason: None };
    report(&mut socket, job, seq + 1, JobReport::Finished { outcome, before: None, moved: true }).await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded");
    assert_eq!(download(credential.clone()).await, 403, "not once its job is done");
    // The release's build (on the server, before the agent's job) logged its own lines.
    let logs = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap());
    let lines: Vec<&str> = logs.filter(|l| l.starts_with("line ")).collect();
    assert_eq!(lines, ["line 1", "line 2", "line 3"], "each line once, in order");

    // A cancel is passed on to the agent running the job.
    let id = common::deploy(&app, "raw", release, "development").await;
    let job = loop {
        if let ServerMessage::Run { job, .. } = next(&mut socket).await {
            break job;
        }
    };
    let (s, _) = app.post(&format!("/api/v1/deployments/{id}/cancel"), json!({})).await;
    assert_eq!(s, 202);
    loop {
        match next(&mut socket).await {
            ServerMessage::Cancel { job: j } if j == job => break,
            _ => {}
        }
    }
    let outcome = Outcome { state: DeploymentState::Cancelled, reason: Some("cancelled".into()) };
    report(&mut socket, job, 1, JobReport::Finished { outcome, before: None, moved: false }).await;
    assert_eq!(app.wait_finished(id).await["deployment"]["state"], "cancelled");
}

#[tokio::test]
async fn an_agent_is_who_the_administrator_said_and_cannot_relabel_itself() {
    let app = spawn_app().await;
    let token = registration(&app, "stage-1", "env=staging").await;
    let workdir = app.data_dir.join("stage-host");

    // The token decides: an agent presenting other labels does not register (and the
    // token stays usable for the right one).
    let grab = claiming(agent_config(&app, workdir.clone(), Some(token.clone())), "env=production");
    let refused = tokio::time::timeout(Duration::from_secs(10), ferry_agent::run(grab, CancellationToken::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("registered as `stage-1` with env=staging"), "{refused}");
    assert!(refused.contains("presented `stage-1` with env=production"), "{refused}");

    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(agent_config(&app, workdir.clone(), Some(token)), stop.clone()));
    wait_state(&app, "stage-1", "online").await;
    stop.cancel();
    agent.await.unwrap().unwrap();
    wait_state(&app, "stage-1", "offline").await;

    // Back with its credential, claiming production: refused, and the Agents page and
    // the audit log say why.
    let claim = claiming(agent_config(&app, workdir.clone(), None), "env=production");
    let refused = tokio::time::timeout(Duration::from_secs(10), ferry_agent::run(claim, CancellationToken::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("presented `stage-1` with env=production"), "{refused}");
    let (_, agents) = app.get("/api/v1/agents").await;
    let listed = agents.as_array().unwrap().iter().find(|a| a["name"] == "stage-1").unwrap().clone();
    assert_eq!(listed["labels"], json!({"env": "staging"}), "the labels did not move");
    assert!(listed["problem"].as_str().unwrap().contains("presented `stage-1` with env=production"), "{listed}");
    let (_, log) = app.get("/api/v1/audit?action=agent.refused").await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(agent_state(&app, "stage-1").await.as_deref(), Some("offline"));

    // Only an administrator relabels it; a maintainer may neither relabel agents nor
    // point an environment at them.
    let id = listed["id"].as_i64().unwrap();
    let relabel = json!({"name": "stage-1", "labels": "env=production"});
    let maintainer = app.client_as("mia", ferry_app::model::Role::Maintainer).await;
    let url = format!("{}/api/v1/agents/{id}", app.base);
    let response = maintainer.put(&url).json(&relabel).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    app.hello_project("shop").await;
    let response = maintainer
        .put(format!("{}/api/v1/projects/shop/environments/production/agents", app.base))
        .json(&json!({"selector": "env=staging"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let bad = app.client.put(&url).json(&json!({"name": "stage-1", "labels": "env"})).send().await.unwrap();
    let (status, body) = (bad.status().as_u16(), bad.json::<Value>().await.unwrap());
    common::assert_error(status, &body, 400, "bad_request");
    let relabelled = app.client.put(&url).json(&relabel).send().await.unwrap();
    assert_eq!(relabelled.status().as_u16(), 200);
    let relabelled: Value = relabelled.json().await.unwrap();
    assert_eq!(
        (relabelled["labels"].clone(), relabelled["problem"].clone()),
        (json!({"env": "production"}), Value::Null)
    );

    // Now the claim is the truth: it connects, and production would deploy to it.
    let stop = CancellationToken::new();
    let claim = claiming(agent_config(&app, workdir, None), "env=production");
    let agent = tokio::spawn(ferry_agent::run(claim, stop.clone()));
    wait_state(&app, "stage-1", "online").await;
    let (_, log) = app.get("/api/v1/audit?action=agent.identity").await;
    assert_eq!(log[0]["detail"]["before"]["labels"], json!({"env": "staging"}), "{log}");
    stop.cancel();
    agent.await.unwrap().unwrap();
}

async fn build_on(app: &TestApp, client: &reqwest::Client, project: &str, selector: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/projects/{project}/build-agents", app.base);
    let response = client.put(url).json(&json!({"selector": selector})).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_project_builds_on_an_agent_with_its_build_labels_and_the_server_only_keeps_the_artifact() {
    let app = spawn_app().await;
    let (release, ports) = app.hello_project("built").await;
    let token = registration(&app, "builder-1", "role=builder").await;
    let workdir = app.data_dir.join("builder-host");
    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(agent_config(&app, workdir.clone(), Some(token)), stop.clone()));
    wait_state(&app, "builder-1", "online").await;

    // Where code runs is for administrators to say.
    let maintainer = app.client_as("mia", ferry_app::model::Role::Maintainer).await;
    let (s, b) = build_on(&app, &maintainer, "built", "role=builder").await;
    common::assert_error(s, &b, 403, "forbidden");
    let (s, b) = build_on(&app, &app.client, "built", "role").await;
    common::assert_error(s, &b, 400, "bad_request");
    let (s, project) = build_on(&app, &app.client, "built", " role = builder ").await;
    assert_eq!(s, 200, "{project}");
    assert_eq!(project["build_selector"], "role=builder");
    let (_, audit) = app.get("/api/v1/audit?action=project.build_agents").await;
    assert_eq!(audit.as_array().unwrap().len(), 1);

    // Deployed by the built-in agent, built by the builder.
    let id = common::deploy(&app, "built", release, "development").await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.contains(&"building on agent builder-1 (role=builder)"), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with("building hello-web 1.0.0")), "{logs:?}");
    assert!(!app.data_dir.join("builds").exists(), "the server built nothing");
    assert!(workdir.join(".builds/built").is_dir(), "the agent built it in a directory of its own");
    let leftovers: Vec<_> = std::fs::read_dir(workdir.join(".builds/built"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.starts_with(".artifact-"))
        .collect();
    assert!(leftovers.is_empty(), "the agent keeps no copy: {leftovers:?}");
    let (_, releases) = app.get("/api/v1/projects/built/releases").await;
    let sha =
        releases.as_array().unwrap()[0]["artifact_sha256"].as_str().expect("the release has its artifact").to_string();
    assert!(app.data_dir.join(format!("artifacts/{sha}.tar.gz")).is_file(), "the server keeps the artifact");
    assert!(common::page(ports[0]).await.contains("1.0.0"));

    // Without an online builder, the build cannot start, and says why.
    stop.cancel();
    agent.await.unwrap().unwrap();
    wait_state(&app, "builder-1", "offline").await;
    let next = common::release_at_head(&app, "built", "1.0.1").await;
    let failed = app.wait_finished(common::deploy(&app, "built", next, "development").await).await;
    assert_eq!(failed["deployment"]["reason"], "no online agent matches the project's build labels `role=builder`");
}

#[tokio::test]
async fn only_the_agent_building_a_release_sends_its_artifact_and_the_bytes_must_match() {
    let app = spawn_app().await;
    let repo = app.data_dir.join("src-bytes");
    std::fs::create_dir_all(&repo).unwrap();
    let pipeline = "environments:\n  - name: development\nbuild:\n  - name: build\n    run: echo hi > hello.txt\n\
                    deploy:\n  - name: show\n    run: cat hello.txt\n";
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    common::git(&repo, &["init", "--quiet"]);
    common::git(&repo, &["add", "."]);
    common::git(&repo, &["commit", "--quiet", "-m", "bytes"]);
    let body = json!({"slug": "bytes", "name": "bytes", "repo_url": repo.display().to_string()});
    assert_eq!(app.post("/api/v1/projects", body).await.0, 201);
    let release = common::release_at_head(&app, "bytes", "1.0.0").await;
    assert_eq!(build_on(&app, &app.client, "bytes", "role=builder").await.0, 200);
    let token = registration(&app, "raw-builder", "role=builder").await;
    let (mut socket, welcome) = raw_agent_as(&app, &token, "raw-builder", "role=builder").await;
    let ServerMessage::Welcome { credential: Some(credential), .. } = welcome else { panic!("{welcome:?}") };
    let other_token = registration(&app, "bystander", "role=web").await;
    let (_other_socket, other) = raw_agent_as(&app, &other_token, "bystander", "role=web").await;
    let ServerMessage::Welcome { credential: Some(other_credential), .. } = other else { panic!("{other:?}") };

    let id = common::deploy(&app, "bytes", release, "development").await;
    let ServerMessage::Run { job, upload: Some(path), project, .. } = next(&mut socket).await else {
        panic!("expected a build job")
    };
    assert_eq!((job, project.as_str()), (-id, "bytes"));
    // What the agent built: a directory with hello.txt, packed.
    let built = tempfile::tempdir().unwrap();
    std::fs::write(built.path().join("hello.txt"), "built by the agent\n").unwrap();
    let packed = tempfile::tempdir().unwrap();
    let archive = packed.path().join("a.tar.gz");
    let sha = ferry_engine::artifact::pack(built.path(), &archive).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    let send = |credential: Option<String>, checksum: String, bytes: Vec<u8>| {
        let url = format!("{}{path}", app.base);
        async move {
            let mut request = reqwest::Client::new().put(url).header("x-ferry-sha256", checksum).body(bytes);
            if let Some(credential) = credential {
                request = request.bearer_auth(credential);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = send(None, sha.clone(), bytes.clone()).await;
    common::assert_error(s, &b, 401, "unauthenticated");
    let (s, b) = send(Some(other_credential), sha.clone(), bytes.clone()).await;
    common::assert_error(s, &b, 403, "forbidden");
    let wrong = "0".repeat(64);
    let (s, b) = send(Some(credential.clone()), wrong, bytes.clone()).await;
    common::assert_error(s, &b, 422, "unprocessable");
    let (s, b) = send(Some(credential.clone()), "not hex".into(), bytes.clone()).await;
    common::assert_error(s, &b, 400, "bad_request");
    let kept: Vec<_> = std::fs::read_dir(app.data_dir.join("artifacts")).unwrap().collect();
    assert!(kept.is_empty(), "refused bytes are not kept: {kept:?}");
    let (s, b) = send(Some(credential.clone()), sha.clone(), bytes).await;
    assert_eq!((s, b["sha256"].as_str()), (201, Some(sha.as_str())), "{b}");

    let outcome = Outcome { state: DeploymentState::Succeeded, reason: None };
    report(&mut socket, job, 1, JobReport::Finished { outcome, before: None, moved: false }).await;
    let done = app.wait_finished(id).await;
    assert_eq!(done["deployment"]["state"], "succeeded", "{done}");
    let logs: Vec<&str> = done["logs"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert!(logs.contains(&"built by the agent"), "the target runs what the agent built: {logs:?}");
}

#[tokio::test]
async fn an_agent_given_several_addresses_connects_to_the_next_when_one_does_not_answer() {
    let app = spawn_app().await;
    let token = registration(&app, "roaming", "env=roam").await;
    // Nothing listens on the first address (a replica that is down).
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let config = AgentConfig {
        server: format!("{dead}, {}", app.base),
        ..agent_config(&app, app.data_dir.join("roam"), Some(token))
    };
    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(config, stop.clone()));
    wait_state(&app, "roaming", "online").await;
    stop.cancel();
    agent.await.unwrap().unwrap();
}
