//! The attempts a run keeps: every one up to a bound; past it, the latest ones, with the earlier
//! ones folded into timeline phases. Memory then stays flat however long a run lasts (a day of
//! 100 ms re-probes of a refusing port is 864,000 attempts), and the timeline still tells the
//! whole run.

use crate::attempt::Attempt;
use crate::timeline::{self, Segment};

/// A run's attempts, bounded.
#[derive(Debug)]
pub(crate) struct History {
    kept: Vec<Attempt>,
    /// Earlier attempts no longer kept.
    omitted: u32,
    /// Their phases.
    omitted_phases: Vec<Segment>,
    /// Attempts (and omitted phases) kept at the end of the run.
    limit: usize,
}

impl History {
    pub(crate) fn new(limit: usize) -> History {
        History {
            kept: Vec::new(),
            omitted: 0,
            omitted_phases: Vec::new(),
            limit: limit.max(1),
        }
    }

    pub(crate) fn push(&mut self, mut attempt: Attempt) {
        if let Some(before) = self.kept.last() {
            attempt.share_failure_with(before);
        }
        // An attempt is ~300 bytes and a Vec's first allocation holds four: with a hundred
        // thousand targets of a few attempts each, room for exactly as many as made, up to
        // four, then doubling as usual.
        if self.kept.len() == self.kept.capacity() && self.kept.len() < 4 {
            self.kept.reserve_exact(1);
        }
        self.kept.push(attempt);
        // Folding in batches of `limit` keeps the cost per attempt constant.
        if self.kept.len() >= 2 * self.limit {
            self.omit_oldest(self.kept.len() - self.limit);
        }
    }

    /// The attempts kept so far, oldest first (the last one is the latest attempt).
    pub(crate) fn latest(&self) -> &[Attempt] {
        &self.kept
    }

    /// The kept attempts (at most `limit`), how many earlier ones were omitted, and their
    /// phases.
    pub(crate) fn finish(mut self) -> (Vec<Attempt>, u32, Vec<Segment>) {
        if self.kept.len() > self.limit {
            self.omit_oldest(self.kept.len() - self.limit);
        }
        // Held until the end of the run (for every target): no spare room.
        self.kept.shrink_to_fit();
        (self.kept, self.omitted, self.omitted_phases)
    }

    fn omit_oldest(&mut self, n: usize) {
        for attempt in self.kept.drain(..n) {
            timeline::fold(&mut self.omitted_phases, &attempt);
        }
        self.omitted = self.omitted.saturating_add(n as u32);
        timeline::bound(&mut self.omitted_phases, self.limit);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::attempt::{Outcome, OutcomeKind};
    use crate::failure::Failure;
    use crate::timeline::tests::{attempt, refused, status};
    use crate::timeline::MIXED_CLASS;

    fn outcome(kind: OutcomeKind, history: History) -> Outcome {
        let (attempts, attempts_omitted, omitted_phases) = history.finish();
        Outcome {
            kind,
            elapsed: Duration::from_secs(3_600),
            timeout: Duration::from_secs(3_600),
            attempts,
            attempts_omitted,
            omitted_phases,
            inconclusive: 0,
        }
    }

    /// An hour of refusals, then an hour of 503s, then healthy: kept with a bound of 100 or
    /// whole, the timeline is the same.
    #[test]
    fn a_long_run_keeps_its_latest_attempts_and_its_whole_timeline() {
        let failure = |n: u32| -> Option<Failure> {
            match n {
                0..3_000 => refused(),
                _ => status(503),
            }
        };
        let mut bounded = History::new(100);
        let mut whole = History::new(usize::MAX / 4);
        for n in 0..6_000 {
            let failure = failure(n);
            bounded.push(attempt(n + 1, u64::from(n) * 600, failure.clone()));
            whole.push(attempt(n + 1, u64::from(n) * 600, failure));
            assert!(bounded.latest().len() < 200);
        }
        bounded.push(attempt(6_001, 3_600_000, None));
        whole.push(attempt(6_001, 3_600_000, None));
        let bounded = outcome(OutcomeKind::Healthy, bounded);
        let whole = outcome(OutcomeKind::Healthy, whole);

        assert_eq!(bounded.attempts.len(), 100);
        assert_eq!(bounded.attempts_omitted, 5_901);
        assert_eq!(bounded.attempt_count(), 6_001);
        assert_eq!(bounded.attempts[0].number(), 5_902);
        assert_eq!(whole.attempts_omitted, 0);
        assert_eq!(bounded.timeline(), whole.timeline());
        assert_eq!(
            bounded.timeline().to_string(),
            "0–1800s connection refused · 1800–3600s HTTP 503 · healthy at 3600s"
        );
    }

    /// Failures that change at every attempt: the oldest phases merge into one "mixed" phase,
    /// the latest stay exact, and every attempt is still counted.
    #[test]
    fn phases_of_failures_that_keep_changing_stay_bounded() {
        let mut history = History::new(10);
        for n in 0..1_000u32 {
            let failure = if n % 2 == 0 { refused() } else { status(503) };
            history.push(attempt(n + 1, u64::from(n) * 100, failure));
        }
        let outcome = outcome(OutcomeKind::GaveUp, history);
        assert!(outcome.omitted_phases.len() <= 10);
        let timeline = outcome.timeline();
        assert!(timeline.segments.len() <= 20, "{}", timeline.segments.len());
        assert_eq!(timeline.segments[0].class, MIXED_CLASS);
        assert_eq!(timeline.segments[0].from, Duration::ZERO);
        let counted: u32 = timeline.segments.iter().map(|s| s.attempts).sum();
        assert_eq!(counted, 1_000);
        let last = timeline.segments.last().unwrap();
        assert_eq!((last.class, last.attempts), ("http_status", 1));
        for pair in timeline.segments.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "phases meet");
        }
    }
}
