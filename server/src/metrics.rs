//! Prometheus metrics: deployments by state (read from the store at scrape time),
//! step durations (a histogram per step name) and connected websocket clients.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    step_durations: Mutex<BTreeMap<String, Histogram>>,
    pub websocket_clients: AtomicI64,
}

impl Metrics {
    pub fn observe_step(&self, step: &str, seconds: f64) {
        let mut map = self.step_durations.lock().unwrap_or_else(|p| p.into_inner());
        let h = map.entry(step.to_string()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.total += 1;
        h.sum += seconds;
    }

    /// The Prometheus text exposition format.
    pub fn render(&self, deployments_by_state: &[(String, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP ferry_deployments Deployments recorded, by state.\n# TYPE ferry_deployments gauge\n");
        for state in ["queued", "running", "succeeded", "failed", "cancelled"] {
            let n = deployments_by_state.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "ferry_deployments{{state=\"{state}\"}} {n}");
        }
        out.push_str("# HELP ferry_step_duration_seconds How long deployment steps took.\n");
        out.push_str("# TYPE ferry_step_duration_seconds histogram\n");
        let map = self.step_durations.lock().unwrap_or_else(|p| p.into_inner());
        for (step, h) in map.iter() {
            let step = step.replace('\\', "\\\\").replace('"', "\\\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "ferry_step_duration_seconds_bucket{{step=\"{step}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "ferry_step_duration_seconds_bucket{{step=\"{step}\",le=\"+Inf\"}} {}", h.total);
            let _ = writeln!(out, "ferry_step_duration_seconds_sum{{step=\"{step}\"}} {}", h.sum);
            let _ = writeln!(out, "ferry_step_duration_seconds_count{{step=\"{step}\"}} {}", h.total);
        }
        out.push_str("# HELP ferry_websocket_clients Browser clients connected to the event stream.\n");
        out.push_str("# TYPE ferry_websocket_clients gauge\n");
        let _ = writeln!(out, "ferry_websocket_clients {}", self.websocket_clients.load(Ordering::Relaxed));
        out
    }
}
