//! HTTP health checks: poll a URL until it answers with the expected status or the
//! deadline passes, reporting every attempt.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::states::LogStream;

/// Result of a health check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutcome {
    Healthy,
    Unhealthy(String),
    Cancelled,
}

pub async fn check_http(
    url: &str,
    expect_status: u16,
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
            Ok(resp) if resp.status().as_u16() == expect_status => {
                let _ = lines
                    .send((LogStream::System, format!("attempt {attempt}: GET {url} → {} (healthy)", resp.status())))
                    .await;
                return HealthOutcome::Healthy;
            }
            Ok(resp) => format!("GET {url} → {}, expected {expect_status}", resp.status()),
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
