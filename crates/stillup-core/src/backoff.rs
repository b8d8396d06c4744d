//! How long to wait between attempts: fixed, or exponential with a cap, optionally jittered.
//!
//! Pure functions of the attempt number, so they are easy to reason about and property-test.
//! The wait loop measures each interval from the *start* of the previous attempt and clamps
//! the wake-up to the deadline; this module only says how long the interval is.

use std::time::Duration;

/// How intervals grow from one attempt to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffKind {
    /// The same interval every time.
    #[default]
    Fixed,
    /// Doubling from the base interval, capped at the maximum.
    Exponential,
}

/// The schedule of intervals between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Fixed or exponential.
    pub kind: BackoffKind,
    /// The first interval (and every interval, when fixed).
    pub interval: Duration,
    /// No interval is ever longer than this.
    pub max_interval: Duration,
    /// 0.0 = none; 0.5 = each interval is shortened by a random 0–50 %.
    /// Jitter only ever shortens, so the cap still holds and the deadline is never pushed.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            kind: BackoffKind::Fixed,
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            jitter: 0.0,
        }
    }
}

impl Backoff {
    /// The interval after attempt number `attempt` (1-based), before jitter.
    pub fn base_interval(&self, attempt: u32) -> Duration {
        let interval = match self.kind {
            BackoffKind::Fixed => self.interval,
            BackoffKind::Exponential => {
                let doublings = attempt.saturating_sub(1).min(63);
                let factor = 1u64 << doublings;
                let nanos = (self.interval.as_nanos()).saturating_mul(u128::from(factor));
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        };
        interval.min(self.max_interval)
    }

    /// The interval after attempt `attempt`, with jitter drawn from `unit` (a number in [0, 1)).
    pub fn interval_with(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_interval(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        let shortened = base.as_secs_f64() * (1.0 - jitter * unit.clamp(0.0, 1.0));
        Duration::from_secs_f64(shortened.max(0.0)).min(base)
    }

    /// The interval after attempt `attempt`, with fresh randomness.
    pub fn interval(&self, attempt: u32) -> Duration {
        self.interval_with(attempt, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn fixed_is_fixed() {
        let b = Backoff::default();
        assert_eq!(b.base_interval(1), secs(1));
        assert_eq!(b.base_interval(50), secs(1));
    }

    #[test]
    fn exponential_doubles_until_the_cap() {
        let b = Backoff {
            kind: BackoffKind::Exponential,
            interval: secs(1),
            max_interval: secs(10),
            jitter: 0.0,
        };
        let got: Vec<_> = (1..=6).map(|n| b.base_interval(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(b.base_interval(u32::MAX), secs(10));
    }

    #[test]
    fn a_cap_below_the_interval_wins() {
        let b = Backoff {
            kind: BackoffKind::Fixed,
            interval: secs(5),
            max_interval: secs(2),
            jitter: 0.0,
        };
        assert_eq!(b.base_interval(1), secs(2));
    }

    #[test]
    fn jitter_only_shortens() {
        let b = Backoff {
            jitter: 0.5,
            ..Backoff::default()
        };
        assert_eq!(b.interval_with(1, 0.0), secs(1));
        assert_eq!(b.interval_with(1, 1.0), Duration::from_millis(500));
    }

    proptest! {
        #[test]
        fn never_exceeds_the_cap(
            exponential in any::<bool>(),
            interval_ms in 0u64..100_000,
            cap_ms in 0u64..100_000,
            jitter in 0.0f64..=1.0,
            unit in 0.0f64..1.0,
            attempt in 1u32..200,
        ) {
            let b = Backoff {
                kind: if exponential { BackoffKind::Exponential } else { BackoffKind::Fixed },
                interval: Duration::from_millis(interval_ms),
                max_interval: Duration::from_millis(cap_ms),
                jitter,
            };
            let got = b.interval_with(attempt, unit);
            prop_assert!(got <= Duration::from_millis(cap_ms));
            prop_assert!(got <= b.base_interval(attempt));
            prop_assert!(got.as_secs_f64() >= b.base_interval(attempt).as_secs_f64() * (1.0 - jitter) - 1e-6);
        }

        #[test]
        fn exponential_never_shrinks(interval_ms in 1u64..10_000, cap_ms in 1u64..1_000_000, attempt in 1u32..100) {
            let b = Backoff { kind: BackoffKind::Exponential, interval: Duration::from_millis(interval_ms), max_interval: Duration::from_millis(cap_ms), jitter: 0.0 };
            prop_assert!(b.base_interval(attempt + 1) >= b.base_interval(attempt));
        }
    }
}
