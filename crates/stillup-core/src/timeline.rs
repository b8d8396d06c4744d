//! The story of a run in a few phases: "0–5s connection refused · 5–10s HTTP 503 ·
//! healthy at 10.2s".
//!
//! Consecutive attempts that failed alike (same [`Failure::label`]) are merged into one
//! segment that lasts from its first attempt's start to the next segment's start.

use std::fmt;
use std::time::Duration;

pub use crate::attempt::Segment;
use crate::attempt::{Attempt, Outcome, OutcomeKind};
use crate::failure::Failure;

/// The phases of a run and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The phases before the end, oldest first.
    pub segments: Vec<Segment>,
    /// How the run ended.
    pub end: OutcomeKind,
    /// When the run ended (for healthy: when the healthy answer arrived).
    pub at: Duration,
    /// Why the target counts as down (reverse mode), e.g. "connection refused"; or
    /// [`NOT_ATTEMPTED`].
    pub reason: Option<String>,
}

/// Why a target that gave up has no attempt at all.
pub const NOT_ATTEMPTED: &str = "not attempted before the deadline";

/// The class of a segment of healthy attempts (not a failure class).
pub const HEALTHY_CLASS: &str = "healthy";
/// The class (and label) of the phase that sums up the oldest phases of a very long run
/// whose failures kept changing (see [`Outcome::attempts_omitted`]).
pub const MIXED_CLASS: &str = "mixed";

impl Timeline {
    /// The timeline of a finished run (also [`Outcome::timeline`]).
    pub fn from_outcome(outcome: &Outcome) -> Timeline {
        // The attempts that ended the run (a healthy streak, or the down streak) are told by
        // the end of the timeline, not as a phase of their own.
        let reached = match outcome.kind {
            OutcomeKind::Healthy => outcome
                .attempts
                .iter()
                .rev()
                .take_while(|a| a.is_healthy())
                .count(),
            OutcomeKind::Down => outcome
                .attempts
                .iter()
                .rev()
                // stillup's own trouble is no sign of down.
                .take_while(|a| a.failure().is_some_and(|f| !f.is_inconclusive()))
                .count(),
            _ => 0,
        };
        let phases = &outcome.attempts[..outcome.attempts.len() - reached];
        let mut segments = outcome.omitted_phases.clone();
        for attempt in phases {
            fold(&mut segments, attempt);
        }
        let first_reaching = outcome.attempts.get(outcome.attempts.len() - reached);
        let at = match (outcome.kind, first_reaching) {
            (OutcomeKind::Healthy | OutcomeKind::Down, Some(_)) => outcome
                .attempts
                .last()
                .map(|a| a.ended())
                .unwrap_or(outcome.elapsed),
            _ => outcome.elapsed,
        };
        if let Some(last) = segments.last_mut() {
            // The last phase lasts until the run's goal was first met, or to the end of the run.
            last.to = first_reaching
                .map(Attempt::started)
                .unwrap_or(outcome.elapsed);
        }
        let reason = match outcome.kind {
            OutcomeKind::Down => outcome.last_failure().map(Failure::label),
            // Many targets and a cap on attempts in flight: its turn never came.
            OutcomeKind::GaveUp if outcome.attempt_count() == 0 => Some(NOT_ATTEMPTED.into()),
            _ => None,
        };
        Timeline {
            segments,
            end: outcome.kind,
            at,
            reason,
        }
    }
}

impl Outcome {
    /// Phases of the run: consecutive attempts that failed alike, merged.
    pub fn timeline(&self) -> Timeline {
        Timeline::from_outcome(self)
    }
}

/// Add `attempt` to `segments`: into the last one if it failed alike, else as a new one
/// (which ends the last one where it starts).
pub(crate) fn fold(segments: &mut Vec<Segment>, attempt: &Attempt) {
    let (class, label) = match attempt.failure() {
        Some(failure) => (failure.class().as_str(), failure.label()),
        None => (HEALTHY_CLASS, HEALTHY_CLASS.to_string()),
    };
    match segments.last_mut() {
        Some(last) if last.label == label && last.class == class => {
            last.attempts += 1;
            last.to = attempt.ended();
        }
        _ => {
            if let Some(last) = segments.last_mut() {
                last.to = attempt.started();
            }
            segments.push(Segment {
                class,
                label,
                from: attempt.started(),
                to: attempt.ended(),
                attempts: 1,
            });
        }
    }
}

/// Keep at most `max` segments (at least 2): the oldest ones beyond that are merged into one
/// "mixed" phase, so a target whose failures change at every attempt for hours still holds
/// a bounded story. Only the first segment can be mixed, so the latest phases stay exact.
pub(crate) fn bound(segments: &mut Vec<Segment>, max: usize) {
    let max = max.max(2);
    if segments.len() <= max {
        return;
    }
    let merged = segments.len() - max + 1;
    let first = &segments[0];
    let last = &segments[merged - 1];
    let mixed = Segment {
        class: MIXED_CLASS,
        label: MIXED_CLASS.to_string(),
        from: first.from,
        to: last.to,
        attempts: segments[..merged].iter().map(|s| s.attempts).sum(),
    };
    segments.splice(..merged, [mixed]);
}

/// Seconds with at most one decimal: "0", "5", "15.2".
pub fn short_seconds(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            write!(
                f,
                "{}–{}s {} · ",
                short_seconds(s.from),
                short_seconds(s.to),
                s.label
            )?;
        }
        let end = match self.end {
            OutcomeKind::Healthy => "healthy at",
            OutcomeKind::Down => "down at",
            OutcomeKind::GaveUp => "gave up at",
            OutcomeKind::FailedFast => "failed fast at",
            OutcomeKind::Stopped => "stopped at",
            OutcomeKind::Interrupted => "interrupted at",
            OutcomeKind::Inconclusive => "no verdict at",
        };
        write!(f, "{end} {}s", short_seconds(self.at))?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::attempt::Attempt;

    pub(crate) fn attempt(number: u32, started_ms: u64, failure: Option<Failure>) -> Attempt {
        Attempt::new(
            number,
            Duration::from_millis(started_ms),
            Duration::from_millis(10),
            crate::probe::ProbeResult {
                result: failure.map_or(Ok(()), Err),
                status: None,
                timings: Default::default(),
                remote: None,
                redirects: 0,
                retry_after: None,
                details: Default::default(),
            },
        )
    }

    pub(crate) fn refused() -> Option<Failure> {
        Some(Failure::Refused {
            addr: "127.0.0.1:1".into(),
        })
    }

    pub(crate) fn status(code: u16) -> Option<Failure> {
        Some(Failure::HttpStatus {
            status: code,
            expected: "2xx".into(),
        })
    }

    #[test]
    fn alike_attempts_merge_and_phases_meet() {
        let outcome = Outcome {
            kind: OutcomeKind::Healthy,
            elapsed: Duration::from_millis(15_210),
            timeout: Duration::from_secs(120),
            attempts: vec![
                attempt(1, 0, refused()),
                attempt(2, 2_500, refused()),
                attempt(3, 5_000, status(503)),
                attempt(4, 10_000, status(502)),
                attempt(5, 15_200, None),
            ],
            attempts_omitted: 0,
            inconclusive: 0,
            omitted_phases: Vec::new(),
        };
        let t = outcome.timeline();
        assert_eq!(t.segments.len(), 3);
        assert_eq!(t.segments[0].attempts, 2);
        assert_eq!(t.segments[0].to, Duration::from_millis(5_000));
        assert_eq!(
            t.to_string(),
            "0–5s connection refused · 5–10s HTTP 503 · 10–15.2s HTTP 502 · healthy at 15.2s"
        );
    }

    #[test]
    fn giving_up_runs_the_last_phase_to_the_end() {
        let outcome = Outcome {
            kind: OutcomeKind::GaveUp,
            elapsed: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            attempts: vec![attempt(1, 0, refused()), attempt(2, 1_000, refused())],
            attempts_omitted: 0,
            inconclusive: 0,
            omitted_phases: Vec::new(),
        };
        assert_eq!(
            outcome.timeline().to_string(),
            "0–10s connection refused · gave up at 10s"
        );
    }

    #[test]
    fn short_seconds_rounds_to_tenths() {
        assert_eq!(short_seconds(Duration::from_millis(0)), "0");
        assert_eq!(short_seconds(Duration::from_millis(15_249)), "15.2");
        assert_eq!(short_seconds(Duration::from_millis(4_960)), "5");
    }
}
