//! Reports not yet acknowledged by the server, per job, in order. They survive a lost
//! connection: after reconnecting, the agent sends them all again, and the server
//! ignores the numbers it already has.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use ferry_engine::protocol::{AgentMessage, JobReport};

#[derive(Clone, Default)]
pub struct Outbox {
    jobs: Arc<Mutex<BTreeMap<i64, Job>>>,
}

#[derive(Default)]
struct Job {
    next_seq: u64,
    unacked: VecDeque<(u64, JobReport)>,
    finished: bool,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers a report and keeps it until acknowledged; returns the message to send.
    pub fn push(&self, job: i64, report: JobReport) -> AgentMessage {
        let mut jobs = self.lock();
        let entry = jobs.entry(job).or_default();
        entry.next_seq += 1;
        entry.finished |= matches!(report, JobReport::Finished { .. });
        let seq = entry.next_seq;
        entry.unacked.push_back((seq, report.clone()));
        AgentMessage::Report { job, seq, report }
    }

    /// Forgets what the server has; a job whose last report is acknowledged is done.
    pub fn ack(&self, job: i64, seq: u64) {
        let mut jobs = self.lock();
        let Some(entry) = jobs.get_mut(&job) else { return };
        while entry.unacked.front().is_some_and(|(s, _)| *s <= seq) {
            entry.unacked.pop_front();
        }
        if entry.unacked.is_empty() && entry.finished {
            jobs.remove(&job);
        }
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
}
