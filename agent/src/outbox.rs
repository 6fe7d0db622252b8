//! Reports not yet acknowledged by the server, per job, in order. They survive a lost
//! connection: after reconnecting, the agent sends them all again, and the server
//! ignores the numbers it already has. The outbox is bounded: past `limit` bytes of
//! unacknowledged reports, `room` waits until the server acknowledges some, and the
//! step that prints them waits with it (its output pipe fills), so a chatty step on a
//! slow or lost connection neither loses lines nor fills the host's memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use ferry_engine::protocol::{AgentMessage, JobReport};
use tokio::sync::Notify;

/// Unacknowledged report bytes kept at most (about 128 log lines of the longest kind).
pub const DEFAULT_LIMIT: usize = 8 << 20;

#[derive(Clone)]
pub struct Outbox {
    jobs: Arc<Mutex<BTreeMap<i64, Job>>>,
    acked: Arc<Notify>,
    limit: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }
}

#[derive(Default)]
struct Job {
    next_seq: u64,
    unacked: VecDeque<(u64, JobReport)>,
    bytes: usize,
    finished: bool,
}

/// What a report costs in the outbox, roughly: its text and a fixed overhead.
fn size(report: &JobReport) -> usize {
    match report {
        JobReport::Step { event: ferry_engine::executor::RunnerEvent::Log { text, .. } } => 64 + text.len(),
        _ => 64,
    }
}

impl Outbox {
    pub fn with_limit(limit: usize) -> Self {
        Self { jobs: Arc::default(), acked: Arc::new(Notify::new()), limit }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bytes(&self) -> usize {
        self.lock().values().map(|j| j.bytes).sum()
    }

    /// Waits until the unacknowledged reports are under the limit.
    pub async fn room(&self) {
        loop {
            let acked = self.acked.notified();
            if self.bytes() < self.limit {
                return;
            }
            acked.await;
        }
    }

    /// Numbers a report and keeps it until acknowledged; returns the message to send.
    pub fn push(&self, job: i64, report: JobReport) -> AgentMessage {
        let mut jobs = self.lock();
        let entry = jobs.entry(job).or_default();
        entry.next_seq += 1;
        entry.finished |= matches!(report, JobReport::Finished { .. });
        let seq = entry.next_seq;
        entry.bytes += size(&report);
        entry.unacked.push_back((seq, report.clone()));
        AgentMessage::Report { job, seq, report }
    }

    /// Forgets what the server has; a job whose last report is acknowledged is done.
    pub fn ack(&self, job: i64, seq: u64) {
        let mut jobs = self.lock();
        let Some(entry) = jobs.get_mut(&job) else { return };
        while entry.unacked.front().is_some_and(|(s, _)| *s <= seq) {
            if let Some((_, report)) = entry.unacked.pop_front() {
                entry.bytes -= size(&report);
            }
        }
        if entry.unacked.is_empty() && entry.finished {
            jobs.remove(&job);
        }
        drop(jobs);
        self.acked.notify_waiters();
    }

    /// Everything unacknowledged, job by job, in order: what to send after a reconnect.
    pub fn pending(&self) -> Vec<AgentMessage> {
        let jobs = self.lock();
        jobs.iter()
            .flat_map(|(job, entry)| {
                entry.unacked.iter().map(|(seq, report)| AgentMessage::Report {
                    job: *job,
                    seq: *seq,
                    report: report.clone(),
                })
            })
            .collect()
    }

    /// The unacknowledged reports of one job, in order; `None` when none is kept.
    pub fn pending_for(&self, job: i64) -> Option<Vec<AgentMessage>> {
        let jobs = self.lock();
        let entry = jobs.get(&job)?;
        Some(
            entry
                .unacked
                .iter()
                .map(|(seq, report)| AgentMessage::Report { job, seq: *seq, report: report.clone() })
                .collect(),
        )
    }

    pub fn unacked_count(&self) -> usize {
        self.lock().values().map(|j| j.unacked.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::executor::RunnerEvent;

    fn step(index: usize) -> JobReport {
        JobReport::Step { event: RunnerEvent::StepStarted { index } }
    }

    #[test]
    fn unacknowledged_reports_are_sent_again_in_order() {
        let outbox = Outbox::default();
        for i in 0..3 {
            outbox.push(5, step(i));
        }
        outbox.push(6, step(0));
        outbox.ack(5, 2);
        let seqs: Vec<(i64, u64)> = outbox
            .pending()
            .into_iter()
            .map(|m| match m {
                AgentMessage::Report { job, seq, .. } => (job, seq),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(seqs, [(5, 3), (6, 1)]);
        outbox.ack(5, 3);
        outbox.ack(6, 1);
        assert_eq!(outbox.unacked_count(), 0);
    }

    fn line(text: &str) -> JobReport {
        JobReport::Step {
            event: RunnerEvent::Log { index: 0, stream: ferry_engine::LogStream::Stdout, text: text.into() },
        }
    }

    #[tokio::test]
    async fn a_full_outbox_makes_the_sender_wait_until_the_server_acknowledges() {
        let outbox = Outbox::with_limit(1000);
        outbox.room().await;
        let long = "x".repeat(600);
        outbox.push(1, line(&long));
        outbox.room().await; // 664 bytes: still room
        outbox.push(1, line(&long));
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.room().await }
        });
        // Nothing is lost while it waits: both lines are there to send again.
        assert_eq!(outbox.pending().len(), 2);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "over the limit, the sender waits");
        outbox.ack(1, 1);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }
}
