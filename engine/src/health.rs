//! Health checks: poll a URL until it answers with the expected status (and body), or
//! run a command until it exits with 0, retrying every interval until the deadline,
//! and report every attempt.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::process::{run_shell, Exit};
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

/// Result of a health check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutcome {
    Healthy,
    Unhealthy(String),
    Cancelled,
}

pub async fn check_http(
    url: &str,
    expect: Expect<'_>,
    timeout: Duration,
    interval: Duration,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> HealthOutcome {
    let client = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build() {
        Ok(c) => c,
        Err(e) => return HealthOutcome::Unhealthy(format!("cannot create HTTP client: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let mut attempt = 0u32;
    let mut last = String::from("no attempt finished");
    while Instant::now() < deadline {
        attempt += 1;
        let per_try = (deadline - Instant::now()).min(Duration::from_secs(5));
        let result = tokio::select! {
            r = client.get(url).timeout(per_try).send() => r,
            _ = cancel.cancelled() => return HealthOutcome::Cancelled,
        };
        last = match result {
            Ok(resp) if resp.status().as_u16() == expect.status => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                match expect.body_contains {
                    Some(wanted) if !body.contains(wanted) => {
                        format!("GET {url} → {status}, but the body does not contain `{wanted}`")
                    }
                    _ => {
                        let healthy = format!("attempt {attempt}: GET {url} → {status} (healthy)");
                        let _ = lines.send((LogStream::System, healthy)).await;
                        return HealthOutcome::Healthy;
                    }
                }
            }
            Ok(resp) => format!("GET {url} → {}, expected {}", resp.status(), expect.status),
            Err(e) if e.is_connect() => format!("GET {url}: connection refused"),
            Err(e) if e.is_timeout() => format!("GET {url}: no answer in time"),
            Err(e) => format!("GET {url}: {e}"),
        };
        let _ = lines.send((LogStream::System, format!("attempt {attempt}: {last}"))).await;
        tokio::select! {
            _ = tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))) => {}
            _ = cancel.cancelled() => return HealthOutcome::Cancelled,
        }
    }
    HealthOutcome::Unhealthy(format!("not healthy after {}s: {last}", timeout.as_secs()))
}

/// Runs the probe's command until it exits with 0 (each try gets what is left of the
/// deadline, at most 30 s); its output goes to the log.
pub async fn check_command(
    probe: &CommandProbe<'_>,
    timeout: Duration,
    interval: Duration,
    cancel: &CancellationToken,
    lines: &mpsc::Sender<(LogStream, String)>,
) -> HealthOutcome {
    let deadline = Instant::now() + timeout;
    let mut attempt = 0u32;
    let mut last = String::from("no attempt finished");
    while Instant::now() < deadline {
        attempt += 1;
        let per_try = (deadline - Instant::now()).min(Duration::from_secs(30));
        let _ = lines.send((LogStream::System, format!("attempt {attempt}: $ {}", probe.run))).await;
        last = match run_shell(probe.run, probe.cwd, probe.env, per_try, cancel, lines).await {
            Exit::Code(0) => {
                let _ = lines.send((LogStream::System, format!("attempt {attempt}: exit 0 (healthy)"))).await;
                return HealthOutcome::Healthy;
            }
            Exit::Cancelled => return HealthOutcome::Cancelled,
            Exit::Code(code) => format!("`{}` exited with {code}", probe.run),
            Exit::Signal(signal) => format!("`{}` was killed by signal {signal}", probe.run),
            Exit::TimedOut => format!("`{}` did not finish in time", probe.run),
            Exit::SpawnFailed(why) => format!("`{}` could not start: {why}", probe.run),
        };
        let _ = lines.send((LogStream::System, format!("attempt {attempt}: {last}"))).await;
        tokio::select! {
            _ = tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))) => {}
            _ = cancel.cancelled() => return HealthOutcome::Cancelled,
        }
    }
    HealthOutcome::Unhealthy(format!("not healthy after {}s: {last}", timeout.as_secs()))
}
