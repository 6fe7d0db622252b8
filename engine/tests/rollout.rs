//! Rollouts over several hosts with fake hosts on tokio's paused clock: batch order
//! and concurrency per strategy, the first failed batch stopping the rollout with the
//! hosts after it skipped, and the `rollout:` section of `ferry.yml`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_engine::executor::Outcome;
use ferry_engine::pipeline::Pipeline;
use ferry_engine::rollout::{batches, roll_out, BatchSize, FailurePolicy, Strategy, TargetRun, TargetRunner};
use ferry_engine::DeploymentState;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A host that takes ten (virtual) seconds, fails when told to, and notes when it started.
struct FakeHosts {
    epoch: Instant,
    failing: Vec<usize>,
    started: Mutex<Vec<(usize, u64)>>,
}

impl TargetRunner for FakeHosts {
    async fn run(&self, host: usize) -> TargetRun {
        self.started.lock().unwrap().push((host, self.epoch.elapsed().as_secs()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let outcome = if self.failing.contains(&host) {
            Outcome { state: DeploymentState::Failed, reason: Some("step health-check: not healthy".into()) }
        } else {
            Outcome { state: DeploymentState::Succeeded, reason: None }
        };
        TargetRun { outcome, before: Some(1), moved: true }
    }
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("web-{i}")).collect()
}

async fn run(
    hosts: usize,
    strategy: Strategy,
    failing: Vec<usize>,
) -> (Vec<(usize, u64)>, Vec<Option<TargetRun>>, Outcome) {
    let fake = Arc::new(FakeHosts { epoch: Instant::now(), failing, started: Mutex::default() });
    let plan = batches(hosts, &strategy);
    let result = roll_out(&names(hosts), &plan, fake.clone(), &CancellationToken::new()).await;
    let mut started = fake.started.lock().unwrap().clone();
    started.sort();
    (started, result.hosts, result.outcome)
}

#[test]
fn strategies_cut_hosts_into_batches() {
    assert_eq!(batches(3, &Strategy::AllAtOnce), vec![vec![0, 1, 2]]);
    assert_eq!(batches(5, &Strategy::Rolling(BatchSize::Count(2))), vec![vec![0, 1], vec![2, 3], vec![4]]);
    // A share is rounded up and is never less than one host.
    assert_eq!(batches(5, &Strategy::Rolling(BatchSize::Percent(25))), vec![vec![0, 1], vec![2, 3], vec![4]]);
    assert_eq!(batches(3, &Strategy::Rolling(BatchSize::Percent(1))), vec![vec![0], vec![1], vec![2]]);
    let canary = Strategy::Canary { verify: Duration::from_secs(30) };
    assert_eq!(batches(4, &canary), vec![vec![0], vec![1, 2, 3]]);
    assert_eq!(batches(1, &canary), vec![vec![0]]);
    assert!(batches(0, &Strategy::AllAtOnce).is_empty());
}

#[tokio::test(start_paused = true)]
async fn rolling_batches_wait_for_each_other() {
    let (started, hosts, outcome) = run(5, Strategy::Rolling(BatchSize::Count(2)), vec![]).await;
    assert_eq!(started, vec![(0, 0), (1, 0), (2, 10), (3, 10), (4, 20)]);
    assert_eq!(outcome.state, DeploymentState::Succeeded);
    assert!(hosts.iter().all(|h| h.as_ref().is_some_and(|r| r.outcome.state == DeploymentState::Succeeded)));
}

#[tokio::test(start_paused = true)]
async fn all_at_once_starts_every_host_together() {
    let (started, _, outcome) = run(4, Strategy::AllAtOnce, vec![]).await;
    assert_eq!(started, vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
    assert_eq!(outcome.state, DeploymentState::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_stops_the_rollout_and_names_the_host() {
    let (started, hosts, outcome) = run(5, Strategy::Rolling(BatchSize::Count(2)), vec![3]).await;
    // The third batch never started.
    assert_eq!(started.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(hosts[4].is_none());
    assert_eq!(outcome.state, DeploymentState::Failed);
    let reason = outcome.reason.unwrap();
    assert!(reason.starts_with("failed on web-4: step health-check"), "{reason}");
    assert!(reason.contains("(batch 2 of 3)"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_keeps_the_release_off_the_other_hosts() {
    let (started, hosts, outcome) = run(4, Strategy::Canary { verify: Duration::from_secs(60) }, vec![0]).await;
    assert_eq!(started, vec![(0, 0)]);
    assert!(hosts[1..].iter().all(Option::is_none));
    assert_eq!(outcome.state, DeploymentState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_between_batches_skips_the_rest() {
    let fake = Arc::new(FakeHosts { epoch: Instant::now(), failing: vec![], started: Mutex::default() });
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        later.cancel();
    });
    let plan = batches(3, &Strategy::Rolling(BatchSize::Count(1)));
    let result = roll_out(&names(3), &plan, fake.clone(), &cancel).await;
    assert_eq!(result.outcome.state, DeploymentState::Cancelled);
    assert!(result.hosts[0].is_some() && result.hosts[1].is_none() && result.hosts[2].is_none());
}

fn rollout_of(section: &str) -> Result<ferry_engine::pipeline::RolloutSpec, String> {
    let text = format!("environments:\n  - name: prod\n    rollout:\n{section}");
    Pipeline::parse("ferry.yml", &text).map(|p| p.environments[0].rollout.clone()).map_err(|e| e.to_string())
}

#[test]
fn the_rollout_section_is_read_and_checked() {
    let spec = rollout_of("      strategy: rolling\n      batch: 25%\n      on_failure: stop\n").unwrap();
    assert_eq!(spec.strategy, Strategy::Rolling(BatchSize::Percent(25)));
    assert_eq!(spec.on_failure, FailurePolicy::Stop);
    let spec = rollout_of("      strategy: rolling\n      batch: 3\n").unwrap();
    assert_eq!(spec.strategy, Strategy::Rolling(BatchSize::Count(3)));
    let spec = rollout_of("      strategy: canary\n      verify: 2m\n").unwrap();
    assert_eq!(spec.strategy, Strategy::Canary { verify: Duration::from_secs(120) });
    assert_eq!(spec.on_failure, FailurePolicy::Rollback);
    let spec = rollout_of(
        "      strategy: blue-green\n      slots: { blue: { PORT: \"9001\" }, green: { PORT: \"9002\" } }\n      switch_traffic: sh switch.sh\n",
    )
    .unwrap();
    let blue_green = spec.blue_green.unwrap();
    assert_eq!((blue_green.green["PORT"].as_str(), blue_green.switch_traffic.as_str()), ("9002", "sh switch.sh"));
    let omitted = Pipeline::parse("ferry.yml", "environments:\n  - name: prod\n").unwrap();
    assert_eq!(omitted.environments[0].rollout.strategy, Strategy::AllAtOnce);

    for (section, expected) in [
        ("      strategy: rolling\n      batch: 0\n", "batch 0"),
        ("      strategy: rolling\n      batch: 150%\n", "batch `150%`"),
        ("      strategy: canary\n      batch: 2\n", "`batch` applies only to strategy: rolling"),
        ("      verify: 30s\n", "`verify` applies only to strategy: canary"),
        ("      strategy: sideways\n", "unknown value `sideways`, expected one of `all-at-once`, `rolling`"),
        ("      on_failure: shrug\n", "unknown variant `shrug`"),
        ("      stratgy: rolling\n", "unknown field `stratgy`"),
        ("      strategy: blue-green\n      slots: { blue: {}, green: {} }\n", "blue-green needs `switch_traffic`"),
        ("      strategy: blue-green\n      switch_traffic: sh s.sh\n", "blue-green needs `slots`"),
        ("      strategy: rolling\n      switch_traffic: sh s.sh\n", "apply only to strategy: blue-green"),
    ] {
        let error = rollout_of(section).expect_err(section);
        assert!(error.contains(expected), "{section}: {error}");
        assert!(error.starts_with("ferry.yml:"), "{error}");
    }
}
