//! Prometheus metrics, recorded through the `metrics` facade and rendered by
//! `metrics-exporter-prometheus`: HTTP requests by route and status with their
//! durations, step durations, connected browser clients, the process's own figures,
//! and, read from the database at scrape time (so every replica reports the whole
//! installation), deployments by state, jobs waiting by kind, agents online, and what
//! retention has removed so far and the space it freed.
//!
//! Each server keeps its own recorder instead of installing a global one, and records
//! into it with `metrics::with_local_recorder`: the test binaries run several servers
//! in one process, and each one's `/metrics` must show its own figures.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Step durations: from a quick script to a long build.
const STEP_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Request durations: most answers take milliseconds; uploads and long polls more.
const REQUEST_BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

const DEPLOYMENT_STATES: [&str; 6] = ["awaiting_approval", "queued", "running", "succeeded", "failed", "cancelled"];

/// The figures read from the database when Prometheus scrapes.
#[derive(Debug, Default)]
pub struct StoredFigures {
    /// `(state, count)` of every deployment recorded.
    pub deployments_by_state: Vec<(String, i64)>,
    /// `(kind, count)` of the durable queue's jobs not done yet.
    pub jobs_waiting_by_kind: Vec<(String, i64)>,
    /// Agents some replica holds a live connection to.
    pub agents_online: i64,
    /// Every job kind the runner knows, reported as 0 when none waits.
    pub job_kinds: &'static [&'static str],
    /// `(kind, rows, bytes)` retention removed, since the installation began.
    pub retention: Vec<(String, i64, i64)>,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("ferry_step_duration_seconds".into()), &STEP_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("ferry_http_request_duration_seconds".into()), &REQUEST_BUCKETS)
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle, process: metrics_process::Collector::default() };
        metrics.record(|| {
            describe_counter!("ferry_http_requests_total", "HTTP requests answered, by method, route and status.");
            describe_histogram!(
                "ferry_http_request_duration_seconds",
                Unit::Seconds,
                "How long HTTP requests took to answer, by method and route."
            );
            describe_histogram!("ferry_step_duration_seconds", Unit::Seconds, "How long deployment steps took.");
            describe_gauge!("ferry_websocket_clients", "Browser clients connected to the event stream.");
            describe_gauge!("ferry_deployments", "Deployments recorded, by state.");
            describe_gauge!("ferry_jobs_waiting", "Jobs of the durable queue not done yet, by kind.");
            describe_gauge!("ferry_agents_online", "Agents connected to some replica.");
            describe_counter!("ferry_retention_removed_rows_total", "Rows retention removed, by kind.");
            describe_counter!(
                "ferry_retention_freed_bytes_total",
                Unit::Bytes,
                "Bytes of text retention removed, by kind (the database reuses or returns the space)."
            );
            gauge!("ferry_websocket_clients").set(0.0);
            metrics.process.describe();
        });
        metrics
    }

    /// Runs `record`, whose facade calls (`counter!`, `histogram!`…) go to this server.
    fn record<T>(&self, record: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, record)
    }

    pub fn observe_step(&self, step: &str, seconds: f64) {
        self.record(|| histogram!("ferry_step_duration_seconds", "step" => step.to_string()).record(seconds));
    }

    /// One answered request; `route` is the route's pattern (`/api/v1/deployments/{id}`),
    /// never the path itself, so the labels stay few.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.record(|| {
            let (method, route) = (method.to_string(), route.to_string());
            counter!("ferry_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            histogram!("ferry_http_request_duration_seconds", "method" => method, "route" => route)
                .record(took.as_secs_f64());
        });
    }

    pub fn websocket_opened(&self) {
        self.record(|| gauge!("ferry_websocket_clients").increment(1.0));
    }

    pub fn websocket_closed(&self) {
        self.record(|| gauge!("ferry_websocket_clients").decrement(1.0));
    }

    /// The Prometheus text exposition format, with `stored` and the process's figures
    /// taken now.
    pub fn render(&self, stored: &StoredFigures) -> String {
        self.record(|| {
            for state in DEPLOYMENT_STATES {
                let n = count_of(&stored.deployments_by_state, state);
                gauge!("ferry_deployments", "state" => state).set(n as f64);
            }
            for kind in stored.job_kinds {
                gauge!("ferry_jobs_waiting", "kind" => *kind).set(count_of(&stored.jobs_waiting_by_kind, kind) as f64);
            }
            gauge!("ferry_agents_online").set(stored.agents_online as f64);
            for (kind, rows, bytes) in &stored.retention {
                counter!("ferry_retention_removed_rows_total", "kind" => kind.clone()).absolute(*rows as u64);
                counter!("ferry_retention_freed_bytes_total", "kind" => kind.clone()).absolute(*bytes as u64);
            }
            self.process.collect();
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}

fn count_of(counts: &[(String, i64)], key: &str) -> i64 {
    counts.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_recorded_and_read() {
        let metrics = Metrics::new();
        metrics.observe_step("build", 0.3);
        metrics.observe_request("GET", "/api/v1/projects", 200, Duration::from_millis(3));
        metrics.websocket_opened();
        let stored = StoredFigures {
            deployments_by_state: vec![("succeeded".into(), 2)],
            jobs_waiting_by_kind: vec![("deliver_notification".into(), 4)],
            agents_online: 1,
            job_kinds: &["deliver_notification", "preview_expiry"],
            retention: vec![("log_lines".into(), 12, 3400)],
        };
        let text = metrics.render(&stored);
        for line in [
            "ferry_step_duration_seconds_bucket{step=\"build\",le=\"0.5\"} 1",
            "ferry_step_duration_seconds_count{step=\"build\"} 1",
            "ferry_http_requests_total{method=\"GET\",route=\"/api/v1/projects\",status=\"200\"} 1",
            "ferry_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/projects\",le=\"0.005\"} 1",
            "ferry_websocket_clients 1",
            "ferry_deployments{state=\"succeeded\"} 2",
            "ferry_deployments{state=\"failed\"} 0",
            "ferry_jobs_waiting{kind=\"deliver_notification\"} 4",
            "ferry_jobs_waiting{kind=\"preview_expiry\"} 0",
            "ferry_agents_online 1",
            "ferry_retention_removed_rows_total{kind=\"log_lines\"} 12",
            "ferry_retention_freed_bytes_total{kind=\"log_lines\"} 3400",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        assert!(text.contains("# TYPE ferry_http_requests_total counter"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("process_resident_memory_bytes ")), "{text}");
    }

    #[test]
    fn two_servers_keep_their_own_figures() {
        let (one, two) = (Metrics::new(), Metrics::new());
        one.observe_step("only-in-one", 1.0);
        assert!(one.render(&StoredFigures::default()).contains("only-in-one"));
        assert!(!two.render(&StoredFigures::default()).contains("only-in-one"));
    }
}
