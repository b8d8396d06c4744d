//! One absolute deadline for a whole run, on the monotonic clock.
//!
//! Every phase of every attempt asks the deadline for its budget: its own timeout, clamped
//! to what remains. That single rule is what keeps a server that accepts and never answers
//! from pushing a run past `--timeout`. Wall-clock time is never consulted.

use std::time::{Duration, Instant};

/// The instant a run started and the instant it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    /// A deadline `total` from now.
    pub fn after(total: Duration) -> Self {
        Self::starting_at(Instant::now(), total)
    }

    /// A deadline `total` after `start` (for tests and for callers that already hold a start).
    pub fn starting_at(start: Instant, total: Duration) -> Self {
        let end = start
            .checked_add(total)
            .unwrap_or_else(|| far_future(start));
        Deadline { start, end }
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the run must end (far in the future when the total would overflow `Instant`).
    pub fn end(&self) -> Instant {
        self.end
    }

    /// The whole allowance, start to end.
    pub fn total(&self) -> Duration {
        self.end - self.start
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Time left at `now`; zero once passed.
    pub fn remaining_at(&self, now: Instant) -> Duration {
        self.end.saturating_duration_since(now)
    }

    /// Time left now; zero once passed.
    pub fn remaining(&self) -> Duration {
        self.remaining_at(Instant::now())
    }

    /// Whether the end has come.
    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// A phase's budget: its own timeout, never more than what remains.
    pub fn budget_at(&self, now: Instant, own_timeout: Duration) -> Duration {
        own_timeout.min(self.remaining_at(now))
    }

    /// A phase's budget now: `own_timeout`, never more than what remains (zero once passed).
    pub fn budget(&self, own_timeout: Duration) -> Duration {
        self.budget_at(Instant::now(), own_timeout)
    }

    /// The earlier of `instant` and the deadline: nothing sleeps past the end.
    pub fn clamp(&self, instant: Instant) -> Instant {
        instant.min(self.end)
    }
}

/// About a century: a "no deadline" that still fits every platform's `Instant`.
fn far_future(start: Instant) -> Instant {
    start + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn budget_is_own_timeout_while_plenty_remains() {
        let start = Instant::now();
        let d = Deadline::starting_at(start, Duration::from_secs(120));
        assert_eq!(
            d.budget_at(start, Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn budget_is_clamped_near_the_end_and_zero_after() {
        let start = Instant::now();
        let d = Deadline::starting_at(start, Duration::from_secs(10));
        let near_end = start + Duration::from_millis(9_500);
        assert_eq!(
            d.budget_at(near_end, Duration::from_secs(3)),
            Duration::from_millis(500)
        );
        let after = start + Duration::from_secs(11);
        assert_eq!(d.budget_at(after, Duration::from_secs(3)), Duration::ZERO);
    }

    #[test]
    fn huge_totals_do_not_overflow() {
        let d = Deadline::after(Duration::MAX);
        assert!(!d.has_passed());
        assert!(d.total() > Duration::from_secs(3600 * 24 * 365));
    }

    proptest! {
        #[test]
        fn a_budget_never_exceeds_what_remains(total_ms in 0u64..1_000_000, at_ms in 0u64..2_000_000, own_ms in 0u64..1_000_000) {
            let start = Instant::now();
            let d = Deadline::starting_at(start, Duration::from_millis(total_ms));
            let now = start + Duration::from_millis(at_ms);
            let budget = d.budget_at(now, Duration::from_millis(own_ms));
            prop_assert!(budget <= d.remaining_at(now));
            prop_assert!(budget <= Duration::from_millis(own_ms));
            prop_assert!(now + budget <= d.end() || budget.is_zero());
        }
    }
}
