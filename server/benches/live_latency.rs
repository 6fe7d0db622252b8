//! Live-latency benchmark: a real server, N websocket clients, and log lines fed at a
//! fixed rate into the same recorder a deployment uses (which stores and publishes
//! them). Reports how long a line takes from being produced to arriving in every client.
//!
//! `cargo bench -p ferry-server --bench live_latency` (scripts/bench.sh runs it);
//! FERRY_BENCH_CLIENTS, FERRY_BENCH_RATE (lines/s) and FERRY_BENCH_SECONDS tune it.
//! With FERRY_BENCH_REPLICAS=2 (and FERRY_BENCH_DATABASE_URL on PostgreSQL) the lines
//! are recorded by one replica and the clients watch another: the cross-replica path
//! through the events table and LISTEN/NOTIFY.

mod support;

use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use ferry_app::model::{DeploymentKind, LogStream};
use ferry_engine::executor::RunnerEvent;
use ferry_server::services::recorder::Recorder;
use ferry_server::store::{NewDeployment, NewProject, NewRelease};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let clients = setting("FERRY_BENCH_CLIENTS", 100) as usize;
    let rate = setting("FERRY_BENCH_RATE", 1000);
    let seconds = setting("FERRY_BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let state = running.state.clone();
    let other_dir = tempfile::tempdir().unwrap();
    let watched = match setting("FERRY_BENCH_REPLICAS", 1) {
        1 => None,
        _ => {
            assert!(
                std::env::var("FERRY_BENCH_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")),
                "replicas share a PostgreSQL database: set FERRY_BENCH_DATABASE_URL"
            );
            Some(support::start_server(other_dir.path()).await)
        }
    };
    let watched_addr = watched.as_ref().map_or(running.addr, |w| w.addr);

    // A deployment for the lines to belong to.
    let project = state
        .store
        .create_project(&NewProject {
            repo_origin: None,
            slug: "bench".into(),
            name: "bench".into(),
            repo_url: "/bench".into(),
            environments: vec!["dev".into()],
        })
        .await
        .unwrap();
    let release = state
        .store
        .create_release(&NewRelease {
            project_id: project.id,
            version: "1".into(),
            git_commit: "0".into(),
            source: "bench".into(),
            pipeline: String::new(),
            committed_at: None,
            git_ref: None,
        })
        .await
        .unwrap();
    let deployment = state
        .store
        .create_deployment(&NewDeployment::queued(
            (project.id, project.environments[0].id, release.id),
            DeploymentKind::Deploy,
            &[],
            "bench",
        ))
        .await
        .unwrap();

    let origin = Instant::now();
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<f64>();
    let token = support::admin_token(&state, &[ferry_app::model::TokenScope::Read]).await;
    for _ in 0..clients {
        let mut request = format!("ws://{watched_addr}/ws").into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let tx = latency_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let received = origin.elapsed().as_secs_f64();
                // A frame holds one message per line.
                for line in text.lines() {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    if let Some(sent) = value["payload"]["text"].as_str().and_then(|t| t.parse::<f64>().ok()) {
                        let _ = tx.send((received - sent) * 1000.0);
                    }
                }
            }
        });
    }
    drop(latency_tx);

    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let recorder = Recorder::new(state.store.clone(), state.bus.clone(), state.metrics.clone(), deployment.id, vec![]);
    let (lines_tx, lines_rx) = mpsc::channel(1024);
    let recording = tokio::spawn(recorder.record(lines_rx));
    let started = Instant::now();
    for _ in 0..total {
        ticker.tick().await;
        let text = format!("{:.6}", origin.elapsed().as_secs_f64());
        lines_tx.send(RunnerEvent::Log { index: 0, stream: LogStream::Stdout, text }).await.unwrap();
    }
    drop(lines_tx);
    recording.await.unwrap();
    let produce_secs = started.elapsed().as_secs_f64();

    let expected = total as usize * clients;
    let mut latencies = Vec::with_capacity(expected);
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    while latencies.len() < expected {
        tokio::select! {
            Some(ms) = latency_rx.recv() => latencies.push(ms),
            _ = &mut deadline => break,
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!("database: {:?}", state.store.backend());
    if watched.is_some() {
        println!("lines recorded by one replica, clients connected to another");
    }
    println!("clients: {clients}, target rate: {rate} lines/s, lines: {total}");
    println!("achieved production rate: {:.0} lines/s", total as f64 / produce_secs);
    println!("deliveries: {} of {expected}", latencies.len());
    println!(
        "latency ms: p50 {:.1}, p99 {:.1}, max {:.1}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}
