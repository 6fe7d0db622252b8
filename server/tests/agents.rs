//! Agents: registration with a one-time token, then the agent's own credential;
//! environments deploying to agents by label; the agent list; revocation; and, at the
//! protocol level, reports sent again after a reconnect recorded once, and cancels
//! passed on to the agent.

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

async fn registration(app: &TestApp) -> String {
    let (s, body) = app.post("/api/v1/agents/registrations", json!({})).await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn agent_config(app: &TestApp, name: &str, workdir: PathBuf, token: Option<String>) -> AgentConfig {
    AgentConfig {
        server: app.base.clone(),
        name: name.into(),
        labels: BTreeMap::from([("env".to_string(), "edge".to_string())]),
        workdir,
        registration_token: token,
        vars: BTreeMap::new(),
    }
}

async fn agent_state(app: &TestApp, name: &str) -> Option<String> {
    let (_, agents) = app.get("/api/v1/agents").await;
    agents.as_array().unwrap().iter().find(|a| a["name"] == name).map(|a| a["state"].as_str().unwrap().to_string())
}

async fn wait_state(app: &TestApp, name: &str, state: &str) {
    for _ in 0..100 {
        if agent_state(app, name).await.as_deref() == Some(state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("agent {name} never became {state}");
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
    let token = registration(&app).await;
    let workdir = app.data_dir.join("agent-host");
    let stop = CancellationToken::new();
    let agent = tokio::spawn(ferry_agent::run(
        agent_config(&app, "edge-1", workdir.clone(), Some(token.clone())),
        stop.clone(),
    ));
    wait_state(&app, "edge-1", "online").await;
    let (_, agents) = app.get("/api/v1/agents").await;
    let listed = agents.as_array().unwrap().iter().find(|a| a["name"] == "edge-1").unwrap().clone();
    assert_eq!(listed["labels"]["env"], "edge");
    assert_eq!(listed["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(agents[0]["name"], "built-in (this server)");

    // The token was used up.
    let again = ferry_agent::run(
        agent_config(&app, "edge-2", app.data_dir.join("other"), Some(token)),
        CancellationToken::new(),
    );
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
    assert!(workdir.join("remote/current").exists(), "the release lives on the agent's host");
    assert!(!app.data_dir.join("targets/development/remote").exists(), "not on the server");
    assert!(common::page(ports[0]).await.contains("1.0.0"));
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
    let agent = tokio::spawn(ferry_agent::run(agent_config(&app, "edge-1", workdir.clone(), None), stop.clone()));
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
        name: "raw".into(),
        version: "test".into(),
        labels: BTreeMap::from([("env".to_string(), "raw".to_string())]),
        registration_token: token.map(str::to_string),
        credential: credential.map(str::to_string),
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
    let token = registration(&app).await;
    let (mut socket, welcome) = raw_agent(&app, Some(&token), None).await;
    let ServerMessage::Welcome { credential: Some(credential), .. } = welcome else { panic!("{welcome:?}") };
    assert_eq!(select(&app, "raw", "development", "env=raw").await.0, 200);

    let id = common::deploy(&app, "raw", release, "development").await;
    let ServerMessage::Run { job, plan, .. } = next(&mut socket).await else { panic!("expected a job") };
    assert_eq!(job, id);
    let steps = plan.steps.len();
    report(&mut socket, job, 1, JobReport::Step { event: RunnerEvent::StepStarted { index: 0 } }).await;
    report(&mut socket, job, 2, log(0, "line 1")).await;
    report(&mut socket, job, 3, log(0, "line 2")).await;
    for seq in 1..=3 {
        assert_eq!(next(&mut socket).await, ServerMessage::Ack { job, seq });
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
