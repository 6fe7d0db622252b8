//! Several `ferry` replicas (release binaries) on one PostgreSQL:
//!
//! 1. Failover: a replica running a deployment is killed (SIGKILL) with another
//!    deployment queued behind it on the same environment; the time from the kill until
//!    the queued one runs on another replica, p50 and p99 over FERRY_BENCH_KILLS kills
//!    (default 20), with the default `lease_seconds` (15). Each round also checks that
//!    no step ran twice and none was lost: the killed deployment ends failed naming the
//!    lost replica, and the next one's deploy step ran exactly once.
//! 2. Failover on agents: a deployment whose step runs on a `ferry-agent` (connected
//!    to any of the three, knowing all) and prints a line every 0.2 s; the replica
//!    running it is killed; the time from the kill until its next line is recorded
//!    (by the replica that carried it on), p50 and p99 over FERRY_BENCH_KILLS kills.
//!    Each round then lets the step end and checks the deployment succeeded with its
//!    step run once and every line once, in order.
//! 3. Throughput: FERRY_BENCH_DEPLOYMENTS (default 300) no-op deployments to 30
//!    environments (of 30 projects), submitted round-robin, through 1 replica and 3.
//!
//! Needs FERRY_BENCH_DATABASE_URL (a PostgreSQL server; each part gets a fresh
//! database) and `cargo build --release -p ferry-server -p ferry-agent`;
//! scripts/bench.sh does both. Parts 1 and 3 run steps on each replica's built-in agent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

const PASSWORD: &str = "bench-password-123";

fn release_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release").join(name);
    assert!(path.exists(), "{} is missing: cargo build --release -p ferry-server -p ferry-agent", path.display());
    path
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Polls `probe` every 20 ms until it answers; panics naming `what` after `limit`.
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A process killed when dropped.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One replica: its process, address and data directory.
struct Replica {
    child: Child,
    base: String,
    port: u16,
    data: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_process(database: &str, data: &Path, port: u16) -> Child {
    Command::new(release_binary("ferry"))
        .env("FERRY_BIND", format!("127.0.0.1:{port}"))
        .env("FERRY_DATA_DIR", data)
        .env("FERRY_DATABASE_URL", database)
        .env("FERRY_ADMIN_PASSWORD", PASSWORD)
        // Replicas share one key (docs/operating.md): 32 bytes, base64.
        .env("FERRY_SECRET_KEY", "YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtMzI=")
        .env("FERRY_DEMO", "false")
        // The benchmark's repositories are in a private temporary directory.
        .env("FERRY_STEP_USER", "")
        .env("FERRY_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn healthy(base: &str) {
    let client = reqwest::Client::new();
    wait_for(&format!("{base} to answer"), Duration::from_secs(60), || async {
        client.get(format!("{base}/healthz")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await
}

async fn start_replica(database: &str) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = tempfile::tempdir().unwrap();
    let child = spawn_process(database, data.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    healthy(&base).await;
    Replica { child, base, port, data }
}

impl Replica {
    /// A SIGKILL, then the same replica started again (a new process, a new id).
    async fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn restart(&mut self, database: &str) {
        self.child = spawn_process(database, self.data.path(), self.port);
        healthy(&self.base).await;
    }
}

/// The API as the local administrator (a session cookie, with the origin CSRF asks).
struct Api {
    client: reqwest::Client,
    cookie: String,
}

impl Api {
    async fn sign_in(base: &str) -> Self {
        let client = reqwest::Client::new();
        let login = client
            .post(format!("{base}/auth/login"))
            .header("origin", base)
            .json(&json!({"login": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(login.status().is_success(), "sign-in: {}", login.status());
        let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        Api { client, cookie }
    }

    async fn call(&self, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request =
            self.client.request(method, format!("{base}{path}")).header("origin", base).header("cookie", &self.cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, base: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.call(base, reqwest::Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {value}");
        value
    }

    async fn deployment(&self, base: &str, id: i64) -> Value {
        self.call(base, reqwest::Method::GET, &format!("/api/v1/deployments/{id}"), None).await.1
    }
}

/// A project whose deploy step runs `deploy`, with releases 1.0.0.., in `dir`.
async fn project(api: &Api, base: &str, dir: &Path, slug: &str, environments: usize, deploy: &str) -> i64 {
    let repo = dir.join(slug);
    std::fs::create_dir_all(&repo).unwrap();
    let envs: String =
        (0..environments).map(|n| format!("  - name: env-{n}\n    queue: in-order\n")).collect::<Vec<_>>().concat();
    let pipeline = format!("environments:\n{envs}deploy:\n  - name: step\n    run: {deploy}\n");
    std::fs::write(repo.join("ferry.yml"), pipeline).unwrap();
    for args in [&["init", "--quiet"][..], &["add", "."], &["commit", "--quiet", "-m", "bench"]] {
        let ok = Command::new("git")
            .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com"])
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    api.post(base, "/api/v1/projects", json!({"slug": slug, "name": slug, "repo_url": repo.display().to_string()}))
        .await;
    let path = format!("/api/v1/projects/{slug}/releases");
    api.post(base, &path, json!({"version": "1.0.0", "git_commit": "HEAD"})).await["id"].as_i64().unwrap()
}

async fn deploy(api: &Api, base: &str, slug: &str, release: i64, environment: &str) -> i64 {
    let body = json!({"project": slug, "release_id": release, "environment": environment});
    api.post(base, "/api/v1/deployments", body).await["id"].as_i64().unwrap()
}

/// A fresh database on the server `url` names.
async fn fresh_database(url: &str, name: &str) -> String {
    let admin = sqlx::postgres::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

async fn failover(url: &str, kills: usize) {
    let database = fresh_database(url, "ferry_bench_failover").await;
    let db = sqlx::postgres::PgPool::connect(&database).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start_replica(&database).await);
    }
    let api = Api::sign_in(&replicas[0].base).await;
    let sources = tempfile::tempdir().unwrap();
    let step = "echo ran deployment $FERRY_DEPLOYMENT_ID; sleep 600";
    let release = project(&api, &replicas[0].base, sources.path(), "held", 1, step).await;

    let mut times = Vec::with_capacity(kills);
    let mut repeated = 0;
    for round in 0..kills {
        let asked = replicas[round % 3].base.clone();
        let first = deploy(&api, &asked, "held", release, "env-0").await;
        let owner: String = wait_for("the first deployment to run", Duration::from_secs(60), || async {
            sqlx::query_scalar("SELECT owner FROM environment_leases WHERE deployment_id = $1")
                .bind(first)
                .fetch_optional(&db)
                .await
                .unwrap()
        })
        .await;
        let runs = |base: String, id: i64| {
            let api = &api;
            async move {
                let detail = api.deployment(&base, id).await;
                let lines = detail["logs"].as_array().cloned().unwrap_or_default();
                lines.iter().filter(|l| l["text"] == format!("ran deployment {id}")).count()
            }
        };
        wait_for("the first deployment's step to start", Duration::from_secs(60), || async {
            (runs(asked.clone(), first).await == 1).then_some(())
        })
        .await;
        let second = deploy(&api, &asked, "held", release, "env-0").await;
        // The replica ids are `<host>-<pid>-<random>`.
        let pid: u32 = owner.rsplit('-').nth(1).unwrap().parse().unwrap();
        let victim = replicas.iter_mut().position(|r| r.child.id() == pid).expect("the owner is one of ours");
        let killed_at = now_ms();
        replicas[victim].kill().await;
        let survivor = replicas[(victim + 1) % 3].base.clone();
        let started: i64 = wait_for("the queued deployment to run elsewhere", Duration::from_secs(120), || async {
            let detail = api.deployment(&survivor, second).await;
            let at = detail["deployment"]["started_at"].as_str()?;
            Some(chrono::DateTime::parse_from_rfc3339(at).ok()?.timestamp_millis())
        })
        .await;
        times.push((started - killed_at) as f64 / 1000.0);
        let ended = api.deployment(&survivor, first).await;
        assert_eq!(ended["deployment"]["state"], "failed", "{ended}");
        assert!(ended["deployment"]["reason"].as_str().unwrap_or_default().contains(&owner), "{ended}");
        wait_for("the queued deployment's step to start", Duration::from_secs(60), || async {
            (runs(survivor.clone(), second).await >= 1).then_some(())
        })
        .await;
        repeated += runs(survivor.clone(), first).await - 1 + runs(survivor.clone(), second).await - 1;
        let cancel = format!("/api/v1/deployments/{second}/cancel");
        api.call(&survivor, reqwest::Method::POST, &cancel, Some(json!({}))).await;
        wait_for("the cancel", Duration::from_secs(60), || async {
            let state = api.deployment(&survivor, second).await["deployment"]["state"].as_str()?.to_string();
            (state == "cancelled").then_some(())
        })
        .await;
        replicas[victim].restart(&database).await;
        eprintln!("  kill {}: {:.1} s", round + 1, times.last().unwrap());
    }
    times.sort_by(f64::total_cmp);
    println!("failover (3 replicas, lease_seconds 15, SIGKILL of the running replica), {kills} kills:");
    println!(
        "  killed → queued deployment running elsewhere: p50 {:.1} s, p99 {:.1} s, min {:.1} s, max {:.1} s",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[0],
        times[times.len() - 1]
    );
    println!("  steps run twice or lost: {repeated}");
}

/// Part 2: deployments on an agent carried on by another replica.
async fn failover_on_agents(url: &str, kills: usize) {
    let database = fresh_database(url, "ferry_bench_failover_agents").await;
    let db = sqlx::postgres::PgPool::connect(&database).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start_replica(&database).await);
    }
    let first = replicas[0].base.clone();
    let api = Api::sign_in(&first).await;
    let sources = tempfile::tempdir().unwrap();
    let gate = sources.path().join("gate");
    let step = format!(
        "echo ran deployment $FERRY_DEPLOYMENT_ID; i=0; while [ ! -e {} ]; do i=$((i+1)); echo tick $i; \
         sleep 0.2; done; echo done",
        gate.display()
    );
    let release = project(&api, &first, sources.path(), "onward", 1, &step).await;
    let selector = json!({"selector": "role=bench"});
    let (status, _) = api
        .call(&first, reqwest::Method::PUT, "/api/v1/projects/onward/environments/env-0/agents", Some(selector))
        .await;
    assert_eq!(status, 200);
    let registration =
        api.post(&first, "/api/v1/agents/registrations", json!({"name": "bench-1", "labels": "role=bench"})).await;
    let servers: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let workdir = tempfile::tempdir().unwrap();
    // Stopped when this part ends, even by a failed assertion.
    let _agent = Stopped(
        Command::new(release_binary("ferry-agent"))
            .args(["--server", &servers.join(","), "--name", "bench-1", "--labels", "role=bench"])
            .arg("--workdir")
            .arg(workdir.path())
            .args(["--registration-token", registration["token"].as_str().unwrap()])
            .env("FERRY_LOG", "error")
            .spawn()
            .unwrap(),
    );
    wait_for("the agent to be online", Duration::from_secs(60), || async {
        let (_, agents) = api.call(&first, reqwest::Method::GET, "/api/v1/agents", None).await;
        agents.as_array()?.iter().any(|a| a["name"] == "bench-1" && a["state"] == "online").then_some(())
    })
    .await;

    let mut times = Vec::with_capacity(kills);
    let mut wrong = 0;
    for round in 0..kills {
        let _ = std::fs::remove_file(&gate);
        let asked = replicas[round % 3].base.clone();
        let id = deploy(&api, &asked, "onward", release, "env-0").await;
        let owner: String = wait_for("the deployment to run", Duration::from_secs(60), || async {
            sqlx::query_scalar("SELECT owner FROM environment_leases WHERE deployment_id = $1")
                .bind(id)
                .fetch_optional(&db)
                .await
                .unwrap()
        })
        .await;
        let last_line = || async {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM log_lines WHERE deployment_id = $1")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
                .unwrap_or(0)
        };
        wait_for("the step to tick", Duration::from_secs(60), || async { (last_line().await > 3).then_some(()) }).await;
        let pid: u32 = owner.rsplit('-').nth(1).unwrap().parse().unwrap();
        let victim = replicas.iter_mut().position(|r| r.child.id() == pid).expect("the owner is one of ours");
        let killed_at = now_ms();
        replicas[victim].kill().await;
        let before = last_line().await;
        let again: i64 = wait_for("the deployment to progress again", Duration::from_secs(120), || async {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MIN(at) FROM log_lines WHERE deployment_id = $1 AND seq > $2 AND at > $3",
            )
            .bind(id)
            .bind(before)
            .bind(killed_at)
            .fetch_one(&db)
            .await
            .unwrap()
        })
        .await;
        times.push((again - killed_at) as f64 / 1000.0);
        std::fs::write(&gate, "go").unwrap();
        let survivor = replicas[(victim + 1) % 3].base.clone();
        let done = wait_for("the deployment to end", Duration::from_secs(120), || async {
            let detail = api.deployment(&survivor, id).await;
            let state = detail["deployment"]["state"].as_str()?;
            (!["queued", "running"].contains(&state)).then_some(detail)
        })
        .await;
        let lines: Vec<String> =
            done["logs"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str().map(str::to_string)).collect();
        let ticks: Vec<&String> = lines.iter().filter(|l| l.starts_with("tick ")).collect();
        let in_order = ticks.iter().enumerate().all(|(i, t)| **t == format!("tick {}", i + 1));
        let once = lines.iter().filter(|l| **l == format!("ran deployment {id}")).count() == 1;
        if done["deployment"]["state"] != "succeeded" || !in_order || !once {
            wrong += 1;
            eprintln!("  round {}: {} {:?}", round + 1, done["deployment"]["state"], done["deployment"]["reason"]);
        }
        replicas[victim].restart(&database).await;
        eprintln!("  kill {}: {:.1} s", round + 1, times.last().unwrap());
    }
    times.sort_by(f64::total_cmp);
    println!("failover on an agent (3 replicas, lease_seconds 15, SIGKILL of the running replica), {kills} kills:");
    println!(
        "  killed → the deployment's next line, recorded by another replica: p50 {:.1} s, p99 {:.1} s, \
         min {:.1} s, max {:.1} s",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[0],
        times[times.len() - 1]
    );
    println!("  deployments not succeeded, steps run twice, lines lost or repeated: {wrong}");
}

async fn throughput(url: &str, replica_count: usize, deployments: usize) -> f64 {
    let database = fresh_database(url, &format!("ferry_bench_throughput_{replica_count}")).await;
    let mut replicas = Vec::new();
    for _ in 0..replica_count {
        replicas.push(start_replica(&database).await);
    }
    let api = Api::sign_in(&replicas[0].base).await;
    let sources = tempfile::tempdir().unwrap();
    let mut releases = Vec::new();
    // One environment each: a release reaches a second environment only after the
    // first, which would order the deployments.
    for n in 0..30 {
        let slug = format!("svc-{n}");
        releases.push((slug.clone(), project(&api, &replicas[0].base, sources.path(), &slug, 1, "true").await));
    }
    let started = Instant::now();
    let requests = (0..deployments).map(|i| {
        let (slug, release) = releases[i % 30].clone();
        let (api, base) = (&api, replicas[i % replica_count].base.clone());
        async move { deploy(api, &base, &slug, release, "env-0").await }
    });
    let ids = futures::future::join_all(requests).await;
    let base = replicas[0].base.clone();
    for id in ids {
        wait_for("a deployment to end", Duration::from_secs(600), || async {
            let state = api.deployment(&base, id).await["deployment"]["state"].as_str()?.to_string();
            assert_ne!(state, "failed", "deployment {id} failed");
            ["succeeded", "cancelled"].contains(&state.as_str()).then_some(())
        })
        .await;
    }
    deployments as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let Ok(url) = std::env::var("FERRY_BENCH_DATABASE_URL") else {
        panic!("FERRY_BENCH_DATABASE_URL must name a PostgreSQL server (scripts/bench.sh starts one)");
    };
    let kills = setting("FERRY_BENCH_KILLS", 20);
    // FERRY_BENCH_ONLY_AGENTS: just part 2.
    if std::env::var("FERRY_BENCH_ONLY_AGENTS").is_err() {
        let deployments = setting("FERRY_BENCH_DEPLOYMENTS", 300);
        println!("throughput: {deployments} no-op deployments to 30 environments (projects), built-in agents:");
        for count in [1, 3] {
            let rate = throughput(&url, count, deployments).await;
            println!("  {count} replica(s): {rate:.1} deployments/s");
        }
        failover(&url, kills).await;
    }
    failover_on_agents(&url, kills).await;
}
