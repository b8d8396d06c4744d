//! The story of a run in a few phases: "0–5s connection refused · 5–10s HTTP 503 ·
//! healthy at 10.2s".
//!
//! Consecutive attempts that failed alike (same [`Failure::label`]) are merged into one
//! segment that lasts from its first attempt's start to the next segment's start.

use std::fmt;
use std::time::Duration;

use crate::failure::Failure;
use crate::wait::{Outcome, OutcomeKind};

/// One phase of failures that looked alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Failure class of the attempts in this phase.
    pub class: &'static str,
    /// What the timeline prints, e.g. "HTTP 503".
    pub label: String,
    pub from: Duration,
    pub to: Duration,
    pub attempts: u32,
}

/// The phases of a run and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub segments: Vec<Segment>,
    pub end: OutcomeKind,
    /// When the run ended (for healthy: when the healthy answer arrived).
    pub at: Duration,
}

impl Timeline {
    pub fn from_outcome(outcome: &Outcome) -> Timeline {
        let mut segments: Vec<Segment> = Vec::new();
        for attempt in &outcome.attempts {
            let Some(failure) = attempt.failure() else {
                continue;
            };
            let label = failure.label();
            match segments.last_mut() {
                Some(last) if last.label == label && last.class == failure.class() => {
                    last.attempts += 1;
                    last.to = attempt.ended();
                }
                _ => {
                    if let Some(last) = segments.last_mut() {
                        last.to = attempt.started;
                    }
                    segments.push(segment(failure, attempt.started, attempt.ended()));
                }
            }
        }
        let at = match outcome.kind {
            OutcomeKind::Healthy => outcome
                .attempts
                .last()
                .map(|a| a.ended())
                .unwrap_or(outcome.elapsed),
            _ => outcome.elapsed,
        };
        if let Some(last) = segments.last_mut() {
            // The last phase lasts until the healthy attempt started, or to the end of the run.
            last.to = match outcome.kind {
                OutcomeKind::Healthy => outcome
                    .attempts
                    .last()
                    .map(|a| a.started)
                    .unwrap_or(last.to),
                _ => outcome.elapsed,
            };
        }
        Timeline {
            segments,
            end: outcome.kind,
            at,
        }
    }
}

fn segment(failure: &Failure, from: Duration, to: Duration) -> Segment {
    Segment {
        class: failure.class(),
        label: failure.label(),
        from,
        to,
        attempts: 1,
    }
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
            OutcomeKind::GaveUp => "gave up at",
            OutcomeKind::Interrupted => "interrupted at",
        };
        write!(f, "{end} {}s", short_seconds(self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::Attempt;

    fn attempt(number: u32, started_ms: u64, failure: Option<Failure>) -> Attempt {
        Attempt {
            number,
            started: Duration::from_millis(started_ms),
            duration: Duration::from_millis(10),
            result: failure.map_or(Ok(()), Err),
            status: None,
            timings: Default::default(),
            remote: None,
            redirects: 0,
        }
    }

    fn refused() -> Option<Failure> {
        Some(Failure::Refused {
            addr: "127.0.0.1:1".into(),
        })
    }

    fn status(code: u16) -> Option<Failure> {
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
