//! Runs real deployments with the local executor against a throwaway git repository:
//! the build plan (fetch, build, pack) then the target's plan (unpack the artifact,
//! switch, deploy, check); a failing step that skips the rest, and a timeout.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferry_engine::artifact::sha256_file;
use ferry_engine::executor::{execute, RunnerEvent};
use ferry_engine::pipeline::Pipeline;
use ferry_engine::plan::{build_plan, plan, ArtifactSource, DeploymentFacts, DeploymentPlan};
use ferry_engine::process::RunAs;
use ferry_engine::release_dir::ReleasePaths;
use ferry_engine::{DeploymentState, StepState};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn repo_with(dir: &Path, pipeline: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet"]);
    std::fs::write(dir.join("ferry.yml"), pipeline).unwrap();
    std::fs::write(dir.join("VERSION"), "1.2.3\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "first"]);
    git(dir, &["rev-parse", "HEAD"])
}

async fn run(pipeline_text: &str) -> (DeploymentState, Option<String>, Vec<RunnerEvent>, tempfile::TempDir) {
    run_changed(pipeline_text, |plan| plan).await
}

/// Runs the pipeline's plan as changed by `change` (e.g. a canary's extra step).
async fn run_changed(
    pipeline_text: &str,
    change: impl FnOnce(DeploymentPlan) -> DeploymentPlan,
) -> (DeploymentState, Option<String>, Vec<RunnerEvent>, tempfile::TempDir) {
    run_in(tempfile::tempdir().unwrap(), pipeline_text, change, None).await
}

/// Runs in `tmp`, building and deploying as `owner` when given.
async fn run_in(
    tmp: tempfile::TempDir,
    pipeline_text: &str,
    change: impl FnOnce(DeploymentPlan) -> DeploymentPlan,
    owner: Option<RunAs>,
) -> (DeploymentState, Option<String>, Vec<RunnerEvent>, tempfile::TempDir) {
    let repo = tmp.path().join("repo");
    let commit = repo_with(&repo, pipeline_text);
    let pipeline = Pipeline::parse("ferry.yml", pipeline_text).unwrap();
    let target = tmp.path().join("target");
    let facts = DeploymentFacts {
        project: "demo".into(),
        environment: "dev".into(),
        release_version: "1.2.3".into(),
        release_id: 7,
        deployment_id: 1,
        repo_url: repo.display().to_string(),
        commit,
        target_dir: target.display().to_string(),
    };
    // Built once, in its own workspace; the target then unpacks the artifact.
    let artifact = tmp.path().join("artifact.tar.gz");
    let build = build_plan(&pipeline, &facts, &artifact.display().to_string()).unwrap();
    let workspace = ReleasePaths { owner, ..ReleasePaths::new(tmp.path().join("build"), 7, 1) };
    let (tx, mut rx) = mpsc::channel(1024);
    let built = execute(&build, &workspace, tx, CancellationToken::new()).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    if built.state != DeploymentState::Succeeded {
        return (built.state, built.reason, events, tmp);
    }
    let mut plan = change(plan(&pipeline, &facts).unwrap());
    let sha256 = sha256_file(&artifact).unwrap();
    plan.artifact = Some(ArtifactSource { sha256, location: artifact.display().to_string(), bearer: None });
    let paths = ReleasePaths { owner, ..ReleasePaths::new(target, 7, 1) };
    let (tx, mut rx) = mpsc::channel(1024);
    let outcome = execute(&plan, &paths, tx, CancellationToken::new()).await;
    let shift = build.steps.len();
    while let Ok(e) = rx.try_recv() {
        events.push(match e {
            RunnerEvent::StepStarted { index } => RunnerEvent::StepStarted { index: index + shift },
            RunnerEvent::Log { index, stream, text } => RunnerEvent::Log { index: index + shift, stream, text },
            RunnerEvent::StepFinished { index, state, exit_code } => {
                RunnerEvent::StepFinished { index: index + shift, state, exit_code }
            }
        });
    }
    (outcome.state, outcome.reason, events, tmp)
}

fn finished(events: &[RunnerEvent]) -> Vec<(usize, StepState)> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::StepFinished { index, state, .. } => Some((*index, *state)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn successful_deployment_switches_current_and_streams_logs() {
    let text = "environments:\n  - name: dev\n    vars: { GREETING: hello }\nbuild:\n  - name: build\n    run: echo \"$GREETING $(cat VERSION)\" > out.txt && echo built\ndeploy:\n  - name: announce\n    run: echo \"live in $FERRY_ENVIRONMENT\" >&2\n";
    let (state, reason, events, tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Succeeded, "{reason:?} {events:?}");
    let live = tmp.path().join("target/current/out.txt");
    assert_eq!(std::fs::read_to_string(live).unwrap(), "hello 1.2.3\n");
    let states = finished(&events);
    assert_eq!(states.len(), 6, "fetch, build, pack, unpack, switch, announce");
    assert!(states.iter().all(|(_, s)| *s == StepState::Succeeded));
    let logs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::Log { index, text, .. } => Some((*index, text.as_str())),
            _ => None,
        })
        .collect();
    assert!(logs.contains(&(1, "built")), "{logs:?}");
    assert!(logs.contains(&(5, "live in dev")), "{logs:?}");
    assert!(logs.iter().any(|(i, l)| *i == 3 && l.contains("checksum verified")), "{logs:?}");
}

#[tokio::test]
async fn failing_step_fails_the_deployment_and_skips_the_rest() {
    let text = "environments:\n  - name: dev\nbuild:\n  - name: build\n    run: echo broken; exit 3\ndeploy:\n  - name: restart\n    run: touch restarted\n";
    let (state, reason, events, tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Failed);
    assert!(reason.unwrap().contains("step build: command exited with code 3"));
    assert_eq!(
        finished(&events),
        [(0, StepState::Succeeded), (1, StepState::Failed), (2, StepState::Skipped)],
        "the build stops; no host is touched"
    );
    assert!(!tmp.path().join("target/current").exists(), "nothing went live");
}

#[tokio::test]
async fn a_step_over_its_timeout_is_killed() {
    let text = "environments:\n  - name: dev\nbuild:\n  - name: slow\n    run: sleep 30\n    timeout: 1s\n";
    let started = std::time::Instant::now();
    let (state, reason, _, _tmp) = run(text).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(state, DeploymentState::Failed);
    assert!(reason.unwrap().contains("timed out"));
}

#[tokio::test]
async fn failing_health_check_fails_the_deployment() {
    let text = "environments:\n  - name: dev\nhealth_check:\n  url: http://127.0.0.1:9/\n  timeout: 2s\n";
    let (state, reason, _, _tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Failed);
    assert!(reason.unwrap().contains("not healthy"));
}

#[tokio::test]
async fn a_rollback_reactivates_a_release_without_fetching_or_building() {
    let text = "environments:\n  - name: dev\nbuild:\n  - name: build\n    run: echo built > marker\ndeploy:\n  - name: restart\n    run: echo \"restarted $FERRY_RELEASE_ID\" && test -f marker\n";
    let (state, _, _, tmp) = run(text).await; // release 7 is now on the target
    assert_eq!(state, DeploymentState::Succeeded);
    let target = tmp.path().join("target");
    let pipeline = Pipeline::parse("ferry.yml", text).unwrap();
    let facts = DeploymentFacts {
        project: "demo".into(),
        environment: "dev".into(),
        release_version: "1.2.3".into(),
        release_id: 7,
        deployment_id: 2,
        repo_url: "/nonexistent".into(),
        commit: "unused".into(),
        target_dir: target.display().to_string(),
    };
    let plan = ferry_engine::plan::plan_rollback(&pipeline, &facts).unwrap();
    let names: Vec<_> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["activate", "restart"]);
    let paths = ReleasePaths::new(target.clone(), 7, 2);
    let (tx, mut rx) = mpsc::channel(1024);
    let outcome = execute(&plan, &paths, tx, CancellationToken::new()).await;
    assert_eq!(outcome.state, DeploymentState::Succeeded, "{:?}", outcome.reason);
    let mut logs = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let RunnerEvent::Log { text, .. } = event {
            logs.push(text);
        }
    }
    assert!(logs.iter().any(|l| l.contains("rollback, no rebuild")), "{logs:?}");
    assert!(logs.contains(&"restarted 7".to_string()), "{logs:?}");
    assert!(std::fs::read_link(target.join("current")).unwrap().ends_with("releases/7"));
}

fn logs(events: &[RunnerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_command_health_check_is_retried_until_it_passes() {
    // Not ready at the first attempt (it only leaves a marker), ready at the second.
    let text = "environments:\n  - name: dev\nhealth_check:\n  command: test -f warm || { touch warm; exit 3; }\n  interval: 1s\n  timeout: 10s\n";
    let (state, _, events, _tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Succeeded);
    let lines = logs(&events);
    assert!(lines.iter().any(|l| l.contains("attempt 1: `test -f warm") && l.contains("exited with 3")), "{lines:?}");
    assert!(lines.iter().any(|l| l == "attempt 2: exit 0 (healthy)"), "{lines:?}");
}

#[tokio::test]
async fn a_command_health_check_that_never_passes_fails_at_the_deadline() {
    let text = "environments:\n  - name: dev\nhealth_check:\n  command: exit 1\n  interval: 1s\n  timeout: 2s\n";
    let (state, reason, _, _tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Failed);
    assert!(reason.unwrap().contains("not healthy after 2s: `exit 1` exited with 1"));
}

#[tokio::test]
async fn a_canary_watch_fails_when_the_probe_turns_unhealthy_within_the_window() {
    use ferry_engine::plan::with_canary_watch;
    // Healthy for the first two probes, then failing.
    let text = "environments:\n  - name: dev\nhealth_check:\n  command: n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -lt 2 ]\n  interval: 1s\n  timeout: 5s\n";
    let (state, reason, events, _tmp) = run_changed(text, |planned| {
        let planned = with_canary_watch(planned, Duration::from_secs(30));
        assert_eq!(planned.steps.last().unwrap().name, "canary-verify");
        planned
    })
    .await;
    assert_eq!(state, DeploymentState::Failed);
    let reason = reason.unwrap();
    assert!(reason.starts_with("step canary-verify: unhealthy during the verification window"), "{reason}");
    let lines = logs(&events);
    assert!(lines.iter().any(|l| l == "watching for 30s"), "{lines:?}");
}

/// A user id no account has, as the server gives each project when it runs as root.
const STEP_USER: RunAs = RunAs { uid: 1_999_000_007, gid: 1_999_000_007 };

/// Whether this run can switch users; CI runs as root and must.
fn running_as_root() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root || std::env::var("CI").is_err(), "CI runs as root: the step-user tests must run");
    if !root {
        eprintln!("not root: skipping a test of steps run as another user");
    }
    root
}

/// A temporary directory the step's user may pass through (tempdirs are private).
fn passable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    tmp
}

#[tokio::test]
async fn steps_run_as_the_targets_owner_and_cannot_read_ferrys_own_files() {
    if !running_as_root() {
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = passable_tempdir();
    let key = tmp.path().join("secret.key");
    std::fs::write(&key, "TOPSECRET").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "environments:\n  - name: dev\nbuild:\n  - name: build\n    run: id -u > built-by && (cat {key} || echo build-denied)\n\
         deploy:\n  - name: look\n    run: id -u && id -G && echo $HOME && (cat {key} || echo deploy-denied) && touch made-here\n",
        key = key.display()
    );
    let (state, reason, events, tmp) = run_in(tmp, &text, |plan| plan, Some(STEP_USER)).await;
    assert_eq!(state, DeploymentState::Succeeded, "{reason:?} {events:?}");
    let lines = logs(&events);
    assert!(!lines.iter().any(|l| l.contains("TOPSECRET")), "a step read Ferry's key: {lines:?}");
    assert!(lines.contains(&"build-denied".to_string()) && lines.contains(&"deploy-denied".to_string()), "{lines:?}");
    let uid = STEP_USER.uid.to_string();
    assert_eq!(
        lines.iter().filter(|l| **l == uid).count(),
        2,
        "`id -u` and `id -G` print the step's ids only: {lines:?}"
    );
    let live = tmp.path().join("target/current");
    assert_eq!(std::fs::read_to_string(live.join("built-by")).unwrap().trim(), uid);
    for made in [live.join("made-here"), live.join("built-by"), tmp.path().join("target/releases/7")] {
        let meta = std::fs::metadata(&made).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (STEP_USER.uid, STEP_USER.gid), "{}", made.display());
    }
    let target = std::fs::metadata(tmp.path().join("target")).unwrap();
    assert_eq!(target.mode() & 0o777, 0o700, "the target is private to its user");
}

#[tokio::test]
async fn a_link_the_steps_user_planted_does_not_lead_ferry_elsewhere() {
    if !running_as_root() {
        return;
    }
    let tmp = passable_tempdir();
    // Left by the project's own code in its target: `releases` leads into a directory
    // only root may write. Ferry must not unpack the release there on root's authority.
    let elsewhere = tmp.path().join("roots-own");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::create_dir_all(tmp.path().join("target")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, tmp.path().join("target/releases")).unwrap();
    let text = "environments:\n  - name: dev\nbuild:\n  - name: build\n    run: echo built\ndeploy:\n  - name: live\n    run: echo live\n";
    let (state, reason, events, _tmp) = run_in(tmp, text, |plan| plan, Some(STEP_USER)).await;
    assert_eq!(state, DeploymentState::Failed, "{events:?}");
    assert!(reason.as_deref().unwrap_or_default().contains("ermission denied"), "{reason:?}");
    let written: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().collect();
    assert!(written.is_empty(), "root wrote through the link: {written:?}");
}

#[tokio::test]
async fn a_target_of_another_user_is_refused_and_roots_own_is_taken_over() {
    if !running_as_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let tmp = passable_tempdir();
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(STEP_USER.uid + 1), Some(STEP_USER.gid + 1)).unwrap();
    let paths = ReleasePaths { owner: Some(STEP_USER), ..ReleasePaths::new(theirs.clone(), 1, 1) };
    let refused = paths.prepare().unwrap_err().to_string();
    assert!(refused.contains("belongs to user"), "{refused}");
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), STEP_USER.uid + 1, "left as it was");

    // Left by a Ferry that ran steps as root: given to the project's user, whole.
    let old = tmp.path().join("old");
    std::fs::create_dir_all(old.join("releases/1")).unwrap();
    std::fs::write(old.join("releases/1/app.js"), "old").unwrap();
    let paths = ReleasePaths { owner: Some(STEP_USER), ..ReleasePaths::new(old.clone(), 2, 2) };
    paths.prepare().unwrap();
    assert_eq!(std::fs::metadata(old.join("releases/1/app.js")).unwrap().uid(), STEP_USER.uid);
}

#[tokio::test]
async fn steps_have_their_own_variables_directory_and_condition() {
    // The repository holds `web/`; the build runs in it, the deploy steps see their own
    // variables over the environment's, and a step for production only is skipped in dev.
    let text = concat!(
        "environments:\n  - name: dev\n    vars: { GREETING: hello, SHARED: environment }\n  - name: production\n",
        "build:\n  - name: build\n    working_directory: web\n    run: pwd > ../built-in.txt\n",
        "deploy:\n  - name: own-vars\n    env: { SHARED: step, ONLY_HERE: \"1\" }\n",
        "    run: echo \"$GREETING $SHARED $ONLY_HERE\"\n",
        "  - name: others-not\n    run: echo \"[$SHARED] [${ONLY_HERE:-unset}]\"\n",
        "  - name: migrate\n    if: environment == production\n    run: touch migrated\n",
        "  - name: not-production\n    if: environment != production && $GREETING == hello\n    run: touch checked\n",
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("repo/web")).unwrap();
    std::fs::write(tmp.path().join("repo/web/index.html"), "hi").unwrap();
    let (state, reason, events, tmp) = run_in(tmp, text, |plan| plan, None).await;
    assert_eq!(state, DeploymentState::Succeeded, "{reason:?} {events:?}");
    let live = tmp.path().join("target/current");
    let built_in = std::fs::read_to_string(live.join("built-in.txt")).unwrap();
    assert!(built_in.trim_end().ends_with("/web"), "{built_in}");
    let logs: Vec<(usize, &str)> = events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::Log { index, text, .. } => Some((*index, text.as_str())),
            _ => None,
        })
        .collect();
    // fetch, build, pack | unpack, switch, own-vars, others-not, migrate, not-production
    assert!(logs.contains(&(5, "hello step 1")), "{logs:?}");
    assert!(logs.contains(&(6, "[environment] [unset]")), "{logs:?}");
    assert!(logs.contains(&(7, "skipped: `if: environment == production` is false for dev")), "{logs:?}");
    assert!(!live.join("migrated").exists());
    assert!(live.join("checked").exists());
    let states = finished(&events);
    assert_eq!(states[7], (7, StepState::Skipped));
    assert_eq!(states[8], (8, StepState::Succeeded));
}

#[tokio::test]
async fn a_missing_working_directory_fails_its_step() {
    let text =
        "environments:\n  - name: dev\ndeploy:\n  - name: serve\n    working_directory: nowhere\n    run: echo never\n";
    let (state, reason, events, _tmp) = run(text).await;
    assert_eq!(state, DeploymentState::Failed, "{events:?}");
    assert!(reason.as_deref().unwrap_or_default().starts_with("step serve: command could not start"), "{reason:?}");
}
