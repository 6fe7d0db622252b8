//! Health checks: ask a URL for the expected status (and body), or run a command that
//! must exit with 0. `check` retries (soon at first, then every interval) until the
//! probe is healthy or the deadline passes; `watch` (a canary's verification window) requires the probe to stay
//! healthy for the whole window. Every attempt is reported as a log line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::machine::{HttpFailure, Lines, Machine, Shell};
use crate::process::Exit;
use crate::states::LogStream;

/// What a healthy HTTP answer looks like.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub status: u16,
    pub body_contains: Option<&'a str>,
}

/// A command probe: the script, where it runs, and its environment.
pub struct CommandProbe<'a> {
    pub run: &'a str,
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
}

/// What is asked on each attempt.
pub enum Prober<'a> {
    Http { url: &'a str, expect: Expect<'a> },
    Command(CommandProbe<'a>),
}

/// Result of a health check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutcome {
    Healthy,
    Unhealthy(String),
    Cancelled,
}

/// One attempt: what it saw, healthy or not.
enum Attempt {
    Healthy(String),
    Unhealthy(String),
    Cancelled,
}

/// Probes every `interval` until healthy, for at most `timeout`.
pub async fn check<M: Machine>(
    machine: &M,
    prober: &Prober<'_>,
    timeout: Duration,
    interval: Duration,
    cancel: &CancellationToken,
    lines: &Lines,
) -> HealthOutcome {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0u32;
    let mut last = String::from("no attempt finished");
    while Instant::now() < deadline {
        attempt += 1;
        match probe_once(machine, prober, deadline - Instant::now(), cancel, lines).await {
            Attempt::Healthy(seen) => {
                let _ = lines.send((LogStream::System, format!("attempt {attempt}: {seen} (healthy)"))).await;
                return HealthOutcome::Healthy;
            }
            Attempt::Cancelled => return HealthOutcome::Cancelled,
            Attempt::Unhealthy(seen) => last = seen,
        }
        let _ = lines.send((LogStream::System, format!("attempt {attempt}: {last}"))).await;
        // A restarted app is usually up within a moment: retry soon, then back off to
        // the interval (jittered: the hosts of a rollout do not probe in step).
        let backoff = crate::retry::backoff(attempt, Duration::from_millis(100), interval);
        if !pause(backoff.min(deadline.saturating_duration_since(Instant::now())), cancel).await {
            return HealthOutcome::Cancelled;
        }
    }
    HealthOutcome::Unhealthy(format!("not healthy after {}s: {last}", timeout.as_secs()))
}

/// Probes every `interval` for `window`; two failed attempts in a row end the watch as
/// unhealthy (one can be a blip, such as a dropped connection).
pub async fn watch<M: Machine>(
    machine: &M,
    prober: &Prober<'_>,
    window: Duration,
    interval: Duration,
    cancel: &CancellationToken,
    lines: &Lines,
) -> HealthOutcome {
    let _ = lines.send((LogStream::System, format!("watching for {}s", window.as_secs()))).await;
    let end = Instant::now() + window;
    let (mut attempt, mut failed_in_a_row) = (0u32, 0u32);
    loop {
        attempt += 1;
        let per_try = interval.max(Duration::from_secs(1)).min(Duration::from_secs(30));
        match probe_once(machine, prober, per_try, cancel, lines).await {
            Attempt::Healthy(seen) => {
                failed_in_a_row = 0;
                let _ = lines.send((LogStream::System, format!("attempt {attempt}: {seen}"))).await;
            }
            Attempt::Cancelled => return HealthOutcome::Cancelled,
            Attempt::Unhealthy(seen) => {
                failed_in_a_row += 1;
                let _ = lines.send((LogStream::System, format!("attempt {attempt}: {seen}"))).await;
                if failed_in_a_row >= 2 {
                    return HealthOutcome::Unhealthy(format!("unhealthy during the verification window: {seen}"));
                }
            }
        }
        if Instant::now() >= end {
            break;
        }
        if !pause(interval.min(end.saturating_duration_since(Instant::now())), cancel).await {
            return HealthOutcome::Cancelled;
        }
    }
    if failed_in_a_row > 0 {
        return HealthOutcome::Unhealthy("the last attempt of the verification window failed".into());
    }
    let _ = lines.send((LogStream::System, format!("healthy for the whole {}s window", window.as_secs()))).await;
    HealthOutcome::Healthy
}

/// Sleeps unless cancelled first; false when cancelled.
async fn pause(how_long: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(how_long) => true,
        _ = cancel.cancelled() => false,
    }
}

async fn probe_once<M: Machine>(
    machine: &M,
    prober: &Prober<'_>,
    left: Duration,
    cancel: &CancellationToken,
    lines: &Lines,
) -> Attempt {
    match prober {
        Prober::Http { url, expect } => {
            let per_try = left.min(Duration::from_secs(5));
            let result = tokio::select! {
                r = machine.http_get(url, per_try) => r,
                _ = cancel.cancelled() => return Attempt::Cancelled,
            };
            match result {
                Ok((status, body)) if status == expect.status => match expect.body_contains {
                    Some(wanted) if !body.contains(wanted) => {
                        Attempt::Unhealthy(format!("GET {url} → {status}, but the body does not contain `{wanted}`"))
                    }
                    _ => Attempt::Healthy(format!("GET {url} → {status}")),
                },
                Ok((status, _)) => Attempt::Unhealthy(format!("GET {url} → {status}, expected {}", expect.status)),
                Err(HttpFailure::Refused) => Attempt::Unhealthy(format!("GET {url}: connection refused")),
                Err(HttpFailure::TimedOut) => Attempt::Unhealthy(format!("GET {url}: no answer in time")),
                Err(HttpFailure::Other(e)) => Attempt::Unhealthy(format!("GET {url}: {e}")),
            }
        }
        Prober::Command(probe) => {
            let per_try = left.min(Duration::from_secs(30));
            let _ = lines.send((LogStream::System, format!("$ {}", probe.run))).await;
            let shell = Shell { script: probe.run, cwd: probe.cwd, env: probe.env, timeout: per_try };
            match machine.run(shell, cancel, lines).await {
                Exit::Code(0) => Attempt::Healthy("exit 0".into()),
                Exit::Cancelled => Attempt::Cancelled,
                Exit::Code(code) => Attempt::Unhealthy(format!("`{}` exited with {code}", probe.run)),
                Exit::Signal(signal) => Attempt::Unhealthy(format!("`{}` was killed by signal {signal}", probe.run)),
                Exit::TimedOut => Attempt::Unhealthy(format!("`{}` did not finish in time", probe.run)),
                Exit::SpawnFailed(why) => Attempt::Unhealthy(format!("`{}` could not start: {why}", probe.run)),
                Exit::Lost(why) => Attempt::Unhealthy(format!("`{}` did not finish: {why}", probe.run)),
            }
        }
    }
}
