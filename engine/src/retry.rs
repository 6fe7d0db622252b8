//! Ferry's one jittered exponential backoff, from backon: job and delivery retries,
//! an agent's reconnects, a health check's early attempts and the wait for a turn on
//! an SSH host all space their tries this way, so that many failing at once spread out
//! instead of coming back together.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// A sequence of waits, from `delays`.
pub type Delays = ExponentialBackoff;

/// The waits between tries: `first`, doubling up to `cap`, each between half and the
/// whole of that (backon adds up to as much again to the half).
pub fn delays(first: Duration, cap: Duration) -> Delays {
    ExponentialBuilder::default()
        .with_min_delay(first / 2)
        .with_max_delay(cap / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The wait before try number `attempt + 1`, after `attempt` failures (1: after the first).
pub fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    // Past 64 doublings every wait is the cap's.
    delays(first, cap).nth(attempt.clamp(1, 64) as usize - 1).unwrap_or(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        for attempt in 1..=12u32 {
            let full = (Duration::from_secs(1) * 2u32.pow(attempt - 1)).min(cap);
            let wait = backoff(attempt, Duration::from_secs(1), cap);
            assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?} not within half of {full:?}");
        }
        assert!(backoff(1000, Duration::from_secs(1), cap) <= cap);
        // Jittered: a hundred first waits are not all the same.
        let waits: std::collections::BTreeSet<Duration> =
            (0..100).map(|_| backoff(3, Duration::from_secs(1), cap)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn the_sequence_restarts_small() {
        let mut waits = delays(Duration::from_millis(250), Duration::from_secs(10));
        let first = waits.next().unwrap();
        assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250), "{first:?}");
        let tenth = waits.nth(8).unwrap();
        assert!(tenth >= Duration::from_secs(5) && tenth <= Duration::from_secs(10), "{tenth:?}");
    }
}
