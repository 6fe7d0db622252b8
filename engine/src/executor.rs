//! The executor: runs a deployment plan step by step on a host's `Machine`, reporting
//! each transition and output line as a `RunnerEvent`. The first failing step stops
//! the deployment; the steps after it are skipped.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health::{check, watch, CommandProbe, Expect, HealthOutcome, Prober};
use crate::machine::{Lines, LocalMachine, Machine, Placing, Shell, CANCELLED, FETCH_TIMEOUT};
use crate::plan::{expand, DeploymentPlan, Phase, Probe, StepAction};
use crate::process::Exit;
use crate::release_dir::{as_owner, ReleasePaths};
use crate::states::{DeploymentState, LogStream, StepState};

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

/// Runs the plan on this machine (the built-in agent, or a `ferry-agent`).
pub async fn execute(
    plan: &DeploymentPlan,
    paths: &ReleasePaths,
    events: mpsc::Sender<RunnerEvent>,
    cancel: CancellationToken,
) -> Outcome {
    execute_on(&LocalMachine::new(paths.clone()), plan, events, cancel).await
}

/// Runs the plan on `machine`, step by step.
pub async fn execute_on<M: Machine>(
    machine: &M,
    plan: &DeploymentPlan,
    events: mpsc::Sender<RunnerEvent>,
    cancel: CancellationToken,
) -> Outcome {
    let mut plan = in_idle_slot(plan, machine.live_slot().await);
    // Where it cannot be made, the target directory itself is unwritable and the
    // first step fails saying so.
    let home = machine.make_home().await.unwrap_or_else(|_| machine.paths().home());
    plan.env.insert("HOME".into(), home.display().to_string());
    let plan = &plan;
    let mut outcome = Outcome { state: DeploymentState::Succeeded, reason: None };
    for (index, step) in plan.steps.iter().enumerate() {
        if outcome.state != DeploymentState::Succeeded {
            let _ = events.send(RunnerEvent::StepFinished { index, state: StepState::Skipped, exit_code: None }).await;
            continue;
        }
        if let StepAction::Skip { reason } = &step.action {
            let _ = events.send(RunnerEvent::Log { index, stream: LogStream::System, text: reason.clone() }).await;
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
        let result = run_step(machine, &step.action, plan, &cancel, &line_tx).await;
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
    machine.clean_up(outcome.state == DeploymentState::Succeeded).await;
    outcome
}

/// Removes releases beyond the plan's `keep_releases`, saying which; a failure to
/// remove one is reported but fails nothing (the new release is live).
async fn prune_old<M: Machine>(machine: &M, plan: &DeploymentPlan, lines: &Lines) {
    let keep_releases = plan.keep_releases;
    match machine.prune(keep_releases).await {
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
fn in_idle_slot(plan: &DeploymentPlan, live: Option<String>) -> DeploymentPlan {
    let mut plan = plan.clone();
    if let Some(slots) = &plan.slots {
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

async fn run_step<M: Machine>(
    machine: &M,
    action: &StepAction,
    plan: &DeploymentPlan,
    cancel: &CancellationToken,
    lines: &Lines,
) -> StepResult {
    let paths = machine.paths();
    if matches!(action, StepAction::Fetch | StepAction::Pack { .. }) && !machine.builds_here() {
        return failed("builds run on the built-in agent or on an agent, not on this host".into());
    }
    match action {
        StepAction::Fetch => {
            if let Err(e) = machine.prepare().await {
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
            let releases = paths.releases();
            let shell = Shell { script, cwd: &releases, env: &env, timeout: FETCH_TIMEOUT };
            step_exit(machine.run(shell, cancel, lines).await)
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
        StepAction::Unpack => unpack(machine, plan, cancel, lines).await,
        StepAction::Command { run, timeout, phase, env: own, working_directory } => {
            let dir = match phase {
                Phase::Build => paths.incoming(),
                Phase::Deploy => paths.release(),
            };
            let mut env = plan.env.clone();
            env.insert("FERRY_RELEASE_DIR".into(), dir.display().to_string());
            env.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            let cwd = working_directory.as_ref().map_or(dir.clone(), |sub| dir.join(sub));
            let shown = match working_directory {
                Some(sub) => format!("$ {run}   (in {sub})"),
                None => format!("$ {run}"),
            };
            let _ = lines.send((LogStream::System, shown)).await;
            let shell = Shell { script: run, cwd: &cwd, env: &env, timeout: *timeout };
            step_exit(machine.run(shell, cancel, lines).await)
        }
        // Reported by `execute_on` without running anything.
        StepAction::Skip { .. } => ok(None),
        StepAction::Switch => match machine.place(Placing::Switch).await {
            Ok(release) => {
                let text = format!("current → {}", release.display());
                let _ = lines.send((LogStream::System, text)).await;
                prune_old(machine, plan, lines).await;
                ok(None)
            }
            Err(e) => failed(format!("cannot switch current: {e}")),
        },
        StepAction::Activate => match machine.place(Placing::Activate).await {
            Ok(release) => {
                let text = format!("current → {} (rollback, no rebuild)", release.display());
                let _ = lines.send((LogStream::System, text)).await;
                ok(None)
            }
            Err(e) => failed(format!("cannot activate the release: {e}")),
        },
        StepAction::Stage | StepAction::Restage | StepAction::GoLive => {
            let slot = plan.env.get("FERRY_SLOT").map(String::as_str).unwrap_or("blue");
            let (how, what) = match action {
                StepAction::Stage => (Placing::Stage(slot), "staged"),
                StepAction::Restage => (Placing::Restage(slot), "staged again (rollback, no rebuild)"),
                _ => (Placing::GoLive(slot), "live; current →"),
            };
            match machine.place(how).await {
                Ok(release) => {
                    let text = format!("slot {slot} {what} {}", release.display());
                    let _ = lines.send((LogStream::System, text)).await;
                    if matches!(action, StepAction::GoLive) {
                        prune_old(machine, plan, lines).await;
                    }
                    ok(None)
                }
                Err(e) => failed(format!("slot {slot}: {e}")),
            }
        }
        StepAction::Retire => match machine.place(Placing::Retire).await {
            Ok(dir) => {
                let _ = lines.send((LogStream::System, format!("removed {}", dir.display()))).await;
                ok(None)
            }
            Err(e) => failed(format!("cannot remove the releases: {e}")),
        },
        StepAction::HealthCheck { probe, timeout, interval } => {
            probing(machine, probe, Probing::Until(*timeout), *interval, plan, cancel, lines).await
        }
        StepAction::Watch { probe, window, interval } => {
            probing(machine, probe, Probing::Throughout(*window), *interval, plan, cancel, lines).await
        }
    }
}

/// Gets the plan's artifact onto the machine, its checksum checked there, unpacked
/// into the incoming directory.
async fn unpack<M: Machine>(
    machine: &M,
    plan: &DeploymentPlan,
    cancel: &CancellationToken,
    lines: &Lines,
) -> StepResult {
    let Some(source) = &plan.artifact else { return failed("the plan names no artifact".into()) };
    if let Err(e) = machine.prepare().await {
        return failed(format!("cannot prepare {}: {e}", machine.paths().releases().display()));
    }
    match machine.put_artifact(source, cancel, lines).await {
        Ok(bytes) => {
            let text = format!("unpacked sha256:{} ({}, checksum verified)", source.sha256, human_size(bytes));
            let _ = lines.send((LogStream::System, text)).await;
            ok(None)
        }
        Err(why) if why == CANCELLED => cancelled(None),
        Err(why) => failed(why),
    }
}

pub fn human_size(bytes: u64) -> String {
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
async fn probing<M: Machine>(
    machine: &M,
    probe: &Probe,
    how: Probing,
    interval: Duration,
    plan: &DeploymentPlan,
    cancel: &CancellationToken,
    lines: &Lines,
) -> StepResult {
    let release = machine.paths().release();
    let mut env = plan.env.clone();
    env.insert("FERRY_RELEASE_DIR".into(), release.display().to_string());
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
        Probe::Command { run } => Prober::Command(CommandProbe { run, cwd: &release, env: &env }),
    };
    let outcome = match how {
        Probing::Until(timeout) => check(machine, &prober, timeout, interval, cancel, lines).await,
        Probing::Throughout(window) => watch(machine, &prober, window, interval, cancel, lines).await,
    };
    match outcome {
        HealthOutcome::Healthy => ok(None),
        HealthOutcome::Unhealthy(why) => failed(why),
        HealthOutcome::Cancelled => cancelled(None),
    }
}

/// A command step's result from how its command ended.
fn step_exit(exit: Exit) -> StepResult {
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
