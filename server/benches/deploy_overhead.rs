//! Deployment overhead and rollback time, on a real server (in this process, SQLite in
//! a temp dir) with its built-in agent.
//!
//! 1. Overhead: a release (built once, before the runs) whose deployment runs 10 no-op
//!    steps (`true`), deployed through Ferry, from the API request to the deployment's
//!    success as seen by a client polling every 2 ms, against a shell script doing the
//!    same work: check the artifact's checksum, unpack it, move the release into place,
//!    switch the `current` symlink and run the 10 steps as separate `sh -c` processes.
//! 2. Rollback time: the hello-web demo (Node.js) warm on one host, rolled back and
//!    forth between two releases: activate, restart, health check.
//!
//! `cargo bench -p ferry-server --bench deploy_overhead` (scripts/bench.sh runs it);
//! FERRY_BENCH_RUNS sets the runs of each (default 20).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn median_and_p90(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[((ms.len() as f64 - 1.0) * 0.9).round() as usize])
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Starts a deployment (or rollback) and waits for its end; the wall time.
    async fn timed(&self, path: &str, body: Value) -> (Duration, Value) {
        let began = Instant::now();
        let id = self.post(path, body).await["id"].as_i64().unwrap();
        loop {
            let detail: Value = self
                .client
                .get(format!("{}/api/v1/deployments/{id}", self.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let state = detail["deployment"]["state"].as_str().unwrap_or("").to_string();
            if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
                assert_eq!(state, "succeeded", "{detail}");
                return (began.elapsed(), detail);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn admin_api(state: &ferry_server::state::AppState, base: String) -> Api {
    let token = support::admin_token(state, &ferry_app::model::TokenScope::ALL).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Api { base, client: reqwest::Client::builder().default_headers(headers).build().unwrap() }
}

const NOOP_PIPELINE: &str = "environments:\n  - name: dev\ndeploy:\n";

/// The shell script equivalent of the no-op deployment, run `runs` times.
fn shell_runs(artifact: &Path, sha256: &str, work: &Path, runs: usize) -> Vec<f64> {
    let script = r#"set -e
mkdir -p "$T/releases"; inc="$T/releases/.incoming-$N"
echo "$SHA  $ARTIFACT" | sha256sum -c --quiet
mkdir "$inc"; tar -xzf "$ARTIFACT" -C "$inc"
rm -rf "$T/releases/$N"; mv "$inc" "$T/releases/$N"
ln -sfn "releases/$N" "$T/current.tmp"; mv -T "$T/current.tmp" "$T/current"
cd "$T/current"; for i in 1 2 3 4 5 6 7 8 9 10; do sh -c true; done
"#;
    (0..runs)
        .map(|n| {
            let began = Instant::now();
            let status = Command::new("sh")
                .args(["-c", script])
                .env("T", work)
                .env("N", n.to_string())
                .env("ARTIFACT", artifact)
                .env("SHA", sha256)
                .status()
                .unwrap();
            assert!(status.success());
            began.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("FERRY_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let running = support::start_server(dir.path()).await;
    let api = admin_api(&running.state, format!("http://{}", running.addr)).await;

    // 1. A pipeline of ten no-op steps.
    let repo = dir.path().join("noop");
    std::fs::create_dir_all(&repo).unwrap();
    let steps: String = (1..=10).map(|i| format!("  - name: step-{i}\n    run: \"true\"\n")).collect();
    std::fs::write(repo.join("ferry.yml"), format!("{NOOP_PIPELINE}{steps}")).unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "noop"]);
    api.post("/api/v1/projects", json!({"slug": "noop", "name": "noop", "repo_url": repo.display().to_string()})).await;
    let release = api.post("/api/v1/projects/noop/releases", json!({"version": "1", "git_commit": "HEAD"})).await;
    let body = json!({"project": "noop", "release_id": release["id"], "environment": "dev"});
    api.timed("/api/v1/deployments", body.clone()).await; // builds the release, once
    let mut ferry = Vec::new();
    let mut inside = Vec::new();
    for _ in 0..runs {
        let (wall, detail) = api.timed("/api/v1/deployments", body.clone()).await;
        ferry.push(wall.as_secs_f64() * 1000.0);
        let at = |f: &str| detail["deployment"][f].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        inside.push((at("finished_at") - at("started_at")).num_microseconds().unwrap() as f64 / 1000.0);
    }
    let built = running.state.store.release(release["id"].as_i64().unwrap()).await.unwrap().unwrap();
    let sha = built.artifact_sha256.expect("built");
    let artifact = dir.path().join(format!("artifacts/{sha}.tar.gz"));
    let shell = shell_runs(&artifact, &sha, &dir.path().join("shell-target"), runs);
    let ((f50, f90), (i50, _), (s50, s90)) = (median_and_p90(ferry), median_and_p90(inside), median_and_p90(shell));
    println!("10 no-op steps, {runs} runs each (median / p90):");
    println!("  shell script                 {s50:7.1} ms / {s90:7.1} ms");
    println!("  Ferry, request to success    {f50:7.1} ms / {f90:7.1} ms   (running state only: {i50:.1} ms)");
    println!("  ratio {:.2}x, extra {:.1} ms", f50 / s50, f50 - s50);

    // 2. Rollback of a warm app: the demo on its own port, two releases.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let demo = dir.path().join("hello");
    std::fs::create_dir_all(&demo).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-web");
    for entry in std::fs::read_dir(&example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), demo.join(entry.file_name())).unwrap();
    }
    let pipeline = std::fs::read_to_string(demo.join("ferry.yml")).unwrap().replace("\"8081\"", &format!("\"{port}\""));
    std::fs::write(demo.join("ferry.yml"), pipeline).unwrap();
    git(&demo, &["init", "--quiet"]);
    git(&demo, &["add", "."]);
    git(&demo, &["commit", "--quiet", "-m", "1.0"]);
    api.post("/api/v1/projects", json!({"slug": "hello", "name": "hello", "repo_url": demo.display().to_string()}))
        .await;
    let mut ids = Vec::new();
    for version in ["1.0.0", "1.1.0"] {
        std::fs::write(demo.join("VERSION"), format!("{version}\n")).unwrap();
        git(&demo, &["commit", "--quiet", "-am", version]);
        let release =
            api.post("/api/v1/projects/hello/releases", json!({"version": version, "git_commit": "HEAD"})).await;
        let body = json!({"project": "hello", "release_id": release["id"], "environment": "development"});
        api.timed("/api/v1/deployments", body).await;
        ids.push(release["id"].as_i64().unwrap());
    }
    let mut rollbacks = Vec::new();
    let mut per_step: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for n in 0..runs {
        let body = json!({"project": "hello", "release_id": ids[n % 2], "environment": "development"});
        let (wall, detail) = api.timed("/api/v1/rollbacks", body).await;
        rollbacks.push(wall.as_secs_f64() * 1000.0);
        for step in detail["steps"].as_array().unwrap() {
            let at = |f: &str| step[f].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
            let ms = (at("finished_at") - at("started_at")).num_microseconds().unwrap() as f64 / 1000.0;
            per_step.entry(step["name"].as_str().unwrap().to_string()).or_default().push(ms);
        }
    }
    let (r50, r90) = median_and_p90(rollbacks);
    println!("rollback of a warm Node.js app on one host (activate, restart, health check), {runs} runs:");
    println!("  request to success           {r50:7.1} ms / {r90:7.1} ms");
    for (name, times) in per_step {
        let (m50, _) = median_and_p90(times);
        println!("    step {name:<20}    {m50:7.1} ms (median)");
    }
    // The demo app outlives the server; stop it.
    if let Ok(pid) = std::fs::read_to_string(dir.path().join("targets/development/hello/app.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
}
