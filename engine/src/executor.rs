//! The local executor: runs a deployment plan step by step on this machine, reporting
//! each transition and output line as a `RunnerEvent`. The first failing step stops
//! the deployment; the steps after it are skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health::{check, watch, CommandProbe, Expect, HealthOutcome, Prober};
use crate::plan::{expand, DeploymentPlan, Phase, Probe, StepAction};
use crate::process::{run_shell, Exit, RunAs};
use crate::release_dir::{as_owner, ReleasePaths};
use crate::states::{DeploymentState, LogStream, StepState};

const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// What the executor reports, in order, for the server to record and broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunnerEvent {
    StepStarted { index: usize },
    Log { index: usize, stream: LogStream, text: String },
    StepFinished { index: usize, state: StepState, exit_code: Option<i32> },
}

/// How the whole deployment ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub state: DeploymentState,
    pub reason: Option<String>,
}

/// Result of one step: its final state, exit code and, on failure, why.
struct StepResult {
    state: StepState,
    exit_code: Option<i32>,
    failure: Option<String>,
    cancelled: bool,
}

pub async fn execute(
    plan: &DeploymentPlan,
    paths: &ReleasePaths,
    events: mpsc::Sender<RunnerEvent>,
    cancel: CancellationToken,
) -> Outcome {
    let mut plan = in_idle_slot(plan, paths);
    let home = paths.home();
    // Where it cannot be made, the target directory itself is unwritable and the
    // first step fails saying so.
    let _ = paths.make_home();
    plan.env.insert("HOME".into(), home.display().to_string());
    let plan = &plan;
    let mut outcome = Outcome { state: DeploymentState::Succeeded, reason: None };
    for (index, step) in plan.steps.iter().enumerate() {
        if outcome.state != DeploymentState::Succeeded {
            let _ = events.send(RunnerEvent::StepFinished { index, state: StepState::Skipped, exit_code: None }).await;
            continue;
        }
        let _ = events.send(RunnerEvent::StepStarted { index }).await;
        let (line_tx, mut line_rx) = mpsc::channel::<(LogStream, String)>(256);
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some((stream, text)) = line_rx.recv().await {
                    let _ = events.send(RunnerEvent::Log { index, stream, text }).await;
                }
            })
        };
        let result = run_step(&step.action, plan, paths, &cancel, &line_tx).await;
        if let Some(why) = &result.failure {
            let _ = line_tx.send((LogStream::System, why.clone())).await;
        }
        drop(line_tx);
        let _ = forward.await;
        let _ =
            events.send(RunnerEvent::StepFinished { index, state: result.state, exit_code: result.exit_code }).await;
        if result.cancelled {
            outcome = Outcome { state: DeploymentState::Cancelled, reason: Some("cancelled".into()) };
        } else if let Some(why) = result.failure {
            outcome = Outcome { state: DeploymentState::Failed, reason: Some(format!("step {}: {why}", step.name)) };
        }
    }
    paths.clean_up(outcome.state == DeploymentState::Succeeded);
    outcome
}

/// Removes releases beyond the plan's `keep_releases`, saying which; a failure to
/// remove one is reported but fails nothing (the new release is live).
async fn prune_old(plan: &DeploymentPlan, paths: &ReleasePaths, lines: &mpsc::Sender<(LogStream, String)>) {
    let keep_releases = plan.keep_releases;
    match paths.prune(keep_releases) {
        Ok(removed) if !removed.is_empty() => {
            let ids: Vec<String> = removed.iter().map(|id| id.to_string()).collect();
            let text = format!("removed old releases {} (keeping {keep_releases})", ids.join(", "));
            let _ = lines.send((LogStream::System, text)).await;
        }
        Ok(_) => {}
        Err(e) => {
            let _ = lines.send((LogStream::System, format!("could not remove old releases: {e}"))).await;
        }
    }
}

/// Blue-green: the plan with the idle slot's variables and `FERRY_SLOT` (the slot
/// not serving traffic on this host; blue the first time) and `FERRY_LIVE_SLOT`.
fn in_idle_slot(plan: &DeploymentPlan, paths: &ReleasePaths) -> DeploymentPlan {
    let mut plan = plan.clone();
    if let Some(slots) = &plan.slots {
        let live = paths.live_slot();
        let (idle, vars) = match live.as_deref() {
            Some("blue") => ("green", slots.green.clone()),
            _ => ("blue", slots.blue.clone()),
        };
        plan.env.extend(vars);
        plan.env.insert("FERRY_SLOT".into(), idle.into());
        if let Some(live) = live {
            plan.env.insert("FERRY_LIVE_SLOT".into(), live);
        }
    }
    plan
}

async fn run_step(
    action: &StepAction,
    plan: &DeploymentPlan,
    paths: &ReleasePaths,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> StepResult {
    match action {
        StepAction::Fetch => {
            if let Err(e) = paths.prepare() {
                return failed(format!("cannot prepare {}: {e}", paths.releases().display()));
            }
            let mut env = plan.env.clone();
            env.insert("FERRY_REPO_URL".into(), plan.repo_url.clone());
            env.insert("FERRY_INCOMING".into(), paths.incoming().display().to_string());
            // The step's user may not own a repository on this machine (Ferry's copy of
            // the forge's), which git refuses unless its global configuration says it
            // is expected (`-c` does not reach the process that reads the source).
            let script = "printf '[safe]\\n\\tdirectory = *\\n' > \"$HOME/.ferry-clone.gitconfig\" \
                && GIT_CONFIG_GLOBAL=\"$HOME/.ferry-clone.gitconfig\" \
                   git clone --quiet --no-checkout \"$FERRY_REPO_URL\" \"$FERRY_INCOMING\" \
                && rm -f \"$HOME/.ferry-clone.gitconfig\" \
                && cd \"$FERRY_INCOMING\" \
                && git -c advice.detachedHead=false checkout --quiet \"$FERRY_COMMIT\" \
                && git log -1 --format='checked out %h %s'";
            shell(script, &paths.releases(), &env, paths.owner, FETCH_TIMEOUT, cancel, lines).await
        }
        StepAction::Pack { to } => {
            let (incoming, to, owner) = (paths.incoming(), std::path::PathBuf::from(to), paths.owner);
            let packed = tokio::task::spawn_blocking(move || {
                // Ferry's own user writes the archive; the step's user reads the build.
                let out = std::fs::File::create(&to)?;
                let sha = as_owner(owner, || crate::artifact::pack_into(&incoming, out))?;
                let size = std::fs::metadata(&to)?.len();
                as_owner(owner, || std::fs::remove_dir_all(&incoming))?;
                Ok::<_, std::io::Error>((sha, size))
            });
            match packed.await {
                Ok(Ok((sha, size))) => {
                    let text = format!("packed the artifact sha256:{sha} ({})", human_size(size));
                    let _ = lines.send((LogStream::System, text)).await;
                    ok(None)
                }
                Ok(Err(e)) => failed(format!("cannot pack the artifact: {e}")),
                Err(e) => failed(format!("packing stopped: {e}")),
            }
        }
        StepAction::Unpack => unpack(plan, paths, cancel, lines).await,
        StepAction::Command { run, timeout, phase } => {
            let dir = match phase {
                Phase::Build => paths.incoming(),
                Phase::Deploy => paths.release(),
            };
            let mut env = plan.env.clone();
            env.insert("FERRY_RELEASE_DIR".into(), dir.display().to_string());
            let _ = lines.send((LogStream::System, format!("$ {run}"))).await;
            shell(run, &dir, &env, paths.owner, *timeout, cancel, lines).await
        }
        StepAction::Switch => match paths.switch() {
            Ok(release) => {
                let text = format!("current → {}", release.display());
                let _ = lines.send((LogStream::System, text)).await;
                prune_old(plan, paths, lines).await;
                ok(None)
            }
            Err(e) => failed(format!("cannot switch current: {e}")),
        },
        StepAction::Activate => match paths.activate() {
            Ok(release) => {
                let text = format!("current → {} (rollback, no rebuild)", release.display());
                let _ = lines.send((LogStream::System, text)).await;
                ok(None)
            }
            Err(e) => failed(format!("cannot activate the release: {e}")),
        },
        StepAction::Stage | StepAction::Restage | StepAction::GoLive => {
            let slot = plan.env.get("FERRY_SLOT").map(String::as_str).unwrap_or("blue");
            let (done, what) = match action {
                StepAction::Stage => (paths.stage(slot), "staged"),
                StepAction::Restage => (paths.restage(slot), "staged again (rollback, no rebuild)"),
                _ => (paths.go_live(slot), "live; current →"),
            };
            match done {
                Ok(release) => {
                    let text = format!("slot {slot} {what} {}", release.display());
                    let _ = lines.send((LogStream::System, text)).await;
                    if matches!(action, StepAction::GoLive) {
                        prune_old(plan, paths, lines).await;
                    }
                    ok(None)
                }
                Err(e) => failed(format!("slot {slot}: {e}")),
            }
        }
        StepAction::HealthCheck { probe, timeout, interval } => {
            probing(probe, Probing::Until(*timeout), *interval, plan, paths, cancel, lines).await
        }
        StepAction::Watch { probe, window, interval } => {
            probing(probe, Probing::Throughout(*window), *interval, plan, paths, cancel, lines).await
        }
    }
}

/// Gets the plan's artifact (from this machine, or downloaded from the server), checks
/// its checksum and unpacks it into the incoming directory.
async fn unpack(
    plan: &DeploymentPlan,
    paths: &ReleasePaths,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> StepResult {
    let Some(source) = &plan.artifact else { return failed("the plan names no artifact".into()) };
    if let Err(e) = paths.prepare() {
        return failed(format!("cannot prepare {}: {e}", paths.releases().display()));
    }
    let remote = source.location.starts_with("http://") || source.location.starts_with("https://");
    let archive = match remote {
        true => {
            let _ = lines.send((LogStream::System, format!("downloading sha256:{}", source.sha256))).await;
            let path = paths.releases().join(format!(".artifact-{}.tar.gz", paths.deployment_id));
            let file = match paths
                .as_owner(|| std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path))
            {
                Ok(file) => file,
                Err(e) => return failed(format!("cannot write {}: {e}", path.display())),
            };
            // The name goes at once: the open file is what is unpacked.
            let _ = paths.as_owner(|| std::fs::remove_file(&path));
            let got = tokio::select! {
                got = download(&source.location, source.bearer.as_deref(), file) => got,
                _ = cancel.cancelled() => return cancelled(None),
            };
            match got {
                Ok(file) => file,
                Err(why) => return failed(why),
            }
        }
        // Ferry's own artifact, opened as Ferry's user; its entries are written as the
        // step's.
        false => match std::fs::File::open(&source.location) {
            Ok(file) => file,
            Err(e) => return failed(format!("cannot read the artifact {}: {e}", source.location)),
        },
    };
    let (incoming, sha, owner) = (paths.incoming(), source.sha256.clone(), paths.owner);
    let unpacked = tokio::task::spawn_blocking(move || {
        as_owner(owner, || {
            crate::artifact::unpack_from(archive, &sha, &incoming, &crate::artifact::Limits::default())
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
    })
    .await;
    match unpacked {
        Ok(Ok(bytes)) => {
            let text = format!("unpacked sha256:{} ({}, checksum verified)", source.sha256, human_size(bytes));
            let _ = lines.send((LogStream::System, text)).await;
            ok(None)
        }
        Ok(Err(e)) => failed(e.to_string()),
        Err(e) => failed(format!("unpacking stopped: {e}")),
    }
}

/// Streams the artifact at `url` into `file`, and hands it back rewound.
async fn download(url: &str, bearer: Option<&str>, file: std::fs::File) -> Result<std::fs::File, String> {
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let client =
        reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let mut request = client.get(url).timeout(FETCH_TIMEOUT);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let mut response = request.send().await.map_err(|e| format!("cannot download the artifact: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("cannot download the artifact: the server answered {}", response.status()));
    }
    let mut file = tokio::fs::File::from_std(file);
    let writing = |e: std::io::Error| format!("cannot keep the downloaded artifact: {e}");
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("downloading the artifact: {e}"))? {
        file.write_all(&chunk).await.map_err(writing)?;
    }
    file.flush().await.map_err(writing)?;
    file.rewind().await.map_err(writing)?;
    Ok(file.into_std().await)
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// How long a probe runs: until healthy (at most this long), or healthy throughout.
enum Probing {
    Until(Duration),
    Throughout(Duration),
}

/// Runs a health probe (its URL filled in from the step's environment) and turns its
/// verdict into the step's result.
async fn probing(
    probe: &Probe,
    how: Probing,
    interval: Duration,
    plan: &DeploymentPlan,
    paths: &ReleasePaths,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> StepResult {
    let mut env = plan.env.clone();
    env.insert("FERRY_RELEASE_DIR".into(), paths.release().display().to_string());
    let release = paths.release();
    let (url, wanted): (String, Option<String>);
    let prober = match probe {
        Probe::Http { url: template, expect_status, body_contains } => {
            let filled = expand(template, &plan.env)
                .and_then(|url| Ok((url, body_contains.as_deref().map(|b| expand(b, &plan.env)).transpose()?)));
            (url, wanted) = match filled {
                Ok(filled) => filled,
                Err(why) => return failed(why),
            };
            Prober::Http { url: &url, expect: Expect { status: *expect_status, body_contains: wanted.as_deref() } }
        }
        Probe::Command { run } => Prober::Command(CommandProbe { run, cwd: &release, env: &env, run_as: paths.owner }),
    };
    let outcome = match how {
        Probing::Until(timeout) => check(&prober, timeout, interval, cancel, lines).await,
        Probing::Throughout(window) => watch(&prober, window, interval, cancel, lines).await,
    };
    match outcome {
        HealthOutcome::Healthy => ok(None),
        HealthOutcome::Unhealthy(why) => failed(why),
        HealthOutcome::Cancelled => cancelled(None),
    }
}

async fn shell(
    script: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    run_as: Option<RunAs>,
    timeout: Duration,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> StepResult {
    let exit = run_shell(script, cwd, env, run_as, timeout, cancel, lines).await;
    match exit {
        Exit::Code(0) => ok(Some(0)),
        Exit::Cancelled => cancelled(None),
        other => StepResult {
            state: StepState::Failed,
            exit_code: other.code(),
            failure: Some(format!("command {}", other.describe())),
            cancelled: false,
        },
    }
}

fn ok(exit_code: Option<i32>) -> StepResult {
    StepResult { state: StepState::Succeeded, exit_code, failure: None, cancelled: false }
}

fn failed(why: String) -> StepResult {
    StepResult { state: StepState::Failed, exit_code: None, failure: Some(why), cancelled: false }
}

fn cancelled(exit_code: Option<i32>) -> StepResult {
    StepResult { state: StepState::Failed, exit_code, failure: None, cancelled: true }
}
