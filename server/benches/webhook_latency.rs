//! Webhook-to-deployment latency: a real server, a project linked to a GitHub
//! repository whose ferry.yml deploys every push to main, and N signed push webhooks,
//! one at a time, each for a new commit. Reports how long Ferry takes from receiving
//! the webhook to running the deployment's first step (checking the signature,
//! recording the delivery, reading the commit's ferry.yml, making the release and
//! starting the deployment), p50 and p99.
//!
//! `cargo bench -p ferry-server --bench webhook_latency` (scripts/bench.sh runs it);
//! FERRY_BENCH_PUSHES sets N (default 50).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_app::model::{DeploymentState, EventPayload, LiveMessage, StepState, TokenScope};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const PIPELINE: &str = "environments:\n  - name: development\nbuild:\n  - name: build\n    run: \"true\"\n\
triggers:\n  - on: push\n    branch: main\n    deploy: development\n";

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com"])
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let pushes: usize = std::env::var("FERRY_BENCH_PUSHES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(&dir.path().join("data")).await;
    let base = format!("http://{}", running.addr);
    let token = support::admin_token(&running.state, &TokenScope::ALL).await;
    let http = reqwest::Client::new();

    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join("ferry.yml"), PIPELINE).unwrap();
    git(&repo, &["add", "ferry.yml"]);
    git(&repo, &["commit", "--quiet", "-m", "pipeline"]);
    let project = json!({"slug": "bench", "name": "bench", "repo_url": repo.display().to_string()});
    let created = http.post(format!("{base}/api/v1/projects")).bearer_auth(&token).json(&project).send().await.unwrap();
    assert!(created.status().is_success(), "{}", created.text().await.unwrap());
    let link = json!({"forge": "github", "repo": "bench-org/bench"});
    let linked: Value = http
        .put(format!("{base}/api/v1/projects/bench/forge"))
        .bearer_auth(&token)
        .json(&link)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = linked["secret"].as_str().unwrap().to_string();

    let mut events = running.state.bus.subscribe();
    let mut samples = Vec::with_capacity(pushes);
    for n in 0..pushes {
        let before = git(&repo, &["rev-parse", "HEAD"]);
        git(&repo, &["commit", "--quiet", "--allow-empty", "-m", &format!("change {n}")]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);
        // Triggers are read from the default branch as it was before the push.
        let body = serde_json::to_vec(&json!({
            "ref": "refs/heads/main", "before": before, "after": sha, "deleted": false,
            "repository": {"full_name": "bench-org/bench", "default_branch": "main"}, "pusher": {"name": "bench"}
        }))
        .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&body);
        let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let sent = Instant::now();
        let answer = http
            .post(format!("{base}/hooks/github"))
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("bench-{n}"))
            .header("x-hub-signature-256", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 202);
        // The first step running, then the deployment's end (before the next push).
        let (mut started, mut deployment) = (None, None::<i64>);
        while started.is_none() {
            let event = tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap().unwrap();
            let Ok(LiveMessage::Event(e)) = serde_json::from_str::<LiveMessage>(&event.json) else { continue };
            match e.payload {
                EventPayload::Step(step) if step.state == StepState::Running && started.is_none() => {
                    started = Some(sent.elapsed());
                    deployment = Some(step.deployment_id);
                }
                _ => {}
            }
        }
        samples.push(started.unwrap().as_secs_f64() * 1000.0);
        loop {
            let event = tokio::time::timeout(Duration::from_secs(60), events.recv()).await.unwrap().unwrap();
            let Ok(LiveMessage::Event(e)) = serde_json::from_str::<LiveMessage>(&event.json) else { continue };
            if let EventPayload::Deployment(d) = e.payload {
                if Some(d.id) == deployment && d.state.is_terminal() {
                    assert_eq!(d.state, DeploymentState::Succeeded, "{d:?}");
                    break;
                }
            }
        }
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "webhook received → first deploy step running, {pushes} pushes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().unwrap()
    );
}
