//! The JSON document `--output json` writes: serde types only, no printing.
//!
//! The shape is versioned (`schema_version`) and described by the committed schema in
//! `schema/report.schema.json`; tests validate real output against it. Durations are
//! milliseconds as numbers (`*_ms`), so scripts need no duration parser.

use std::time::Duration;

use serde::Serialize;

use crate::failure::Failure;
use crate::group::{GroupOutcome, TargetOutcome};
use crate::redact::redact_url;
use crate::timeline::Timeline;
use crate::timings::PhaseTimings;
use crate::wait::{Attempt, Outcome, Until};

/// Bumped on any incompatible change of the document's shape.
pub const SCHEMA_VERSION: u32 = 4;

/// The whole document: the run, then each target.
///
/// It borrows the run's targets and builds each one's part only while writing it, so a
/// report of thousands of targets never holds all of them as strings at once.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    pub schema_version: u32,
    /// `wait` or `check`.
    pub command: String,
    /// `healthy`, `down`, `gave_up`, `failed_fast`, `inconclusive` or `interrupted`.
    pub outcome: &'static str,
    /// Whether the run reached its goal (exit code 0).
    pub success: bool,
    /// `healthy` or `down`.
    pub until: &'static str,
    /// How many targets had to reach the goal.
    pub required: usize,
    pub elapsed_ms: f64,
    pub timeout_ms: f64,
    #[serde(serialize_with = "each_target")]
    pub targets: &'a [TargetOutcome],
}

fn each_target<S: serde::Serializer>(targets: &[TargetOutcome], out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(
        targets
            .iter()
            .map(|t| TargetReport::new(&t.target, t.name.as_deref(), t.kind, &t.outcome)),
    )
}

/// One target's story.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// The target, credentials removed.
    pub target: String,
    /// Its `[targets.NAME]` in the config file, if it came from one.
    pub name: Option<String>,
    /// `http` or `tcp`.
    pub kind: &'static str,
    /// `healthy`, `down`, `gave_up`, `failed_fast`, `inconclusive`, `stopped` or
    /// `interrupted`.
    pub outcome: &'static str,
    pub healthy: bool,
    /// When this target's part of the run ended.
    pub elapsed_ms: f64,
    /// The latest attempts (all of them unless the run was very long).
    pub attempts: Vec<AttemptReport>,
    /// Earlier attempts not listed (their phases are in the timeline).
    pub attempts_omitted: u32,
    /// Attempts (listed or not) that failed for stillup's own reasons (`local_limit`): no
    /// evidence about the target either way.
    pub inconclusive: u32,
    pub last_failure: Option<FailureReport>,
    pub timeline: TimelineReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    pub number: u32,
    pub started_ms: f64,
    pub duration_ms: f64,
    pub healthy: bool,
    /// Failure class, `null` when healthy.
    pub class: Option<&'static str>,
    pub message: Option<String>,
    pub status: Option<u16>,
    pub remote: Option<String>,
    pub redirects: usize,
    pub timings: TimingsReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    pub class: &'static str,
    pub message: String,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimingsReport {
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub first_byte_ms: Option<f64>,
    pub body_ms: Option<f64>,
    pub total_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub phases: Vec<PhaseReport>,
    /// How the target's part ended, as `outcome`.
    pub end: &'static str,
    pub at_ms: f64,
    /// The one-line summary the human output prints.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub class: &'static str,
    pub label: String,
    pub from_ms: f64,
    pub to_ms: f64,
    pub attempts: u32,
}

/// Milliseconds with microsecond precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

impl<'a> Report<'a> {
    pub fn new(command: &str, until: Until, group: &'a GroupOutcome) -> Report<'a> {
        Report {
            schema_version: SCHEMA_VERSION,
            command: command.to_string(),
            outcome: group.kind.as_str(),
            success: group.is_success(),
            until: match until {
                Until::Healthy => "healthy",
                Until::Down => "down",
            },
            required: group.require.needed(group.targets.len()),
            elapsed_ms: ms(group.elapsed),
            timeout_ms: ms(group.timeout),
            targets: &group.targets,
        }
    }
}

impl TargetReport {
    pub fn new(
        target: &str,
        name: Option<&str>,
        kind: &'static str,
        outcome: &Outcome,
    ) -> TargetReport {
        TargetReport {
            target: redact_url(target),
            name: name.map(str::to_string),
            kind,
            outcome: outcome.kind.as_str(),
            healthy: outcome.is_healthy(),
            elapsed_ms: ms(outcome.elapsed),
            attempts: outcome.attempts.iter().map(AttemptReport::from).collect(),
            attempts_omitted: outcome.attempts_omitted,
            inconclusive: outcome.inconclusive,
            last_failure: outcome.last_failure().map(FailureReport::from),
            timeline: TimelineReport::from(&outcome.timeline()),
        }
    }
}

impl From<&Attempt> for AttemptReport {
    fn from(a: &Attempt) -> Self {
        AttemptReport {
            number: a.number,
            started_ms: ms(a.started),
            duration_ms: ms(a.duration),
            healthy: a.is_healthy(),
            class: a.failure().map(Failure::class),
            message: a.failure().map(|f| redact_url(&f.to_string())),
            status: a.status,
            remote: a.remote.map(|r| r.to_string()),
            redirects: a.redirects,
            timings: TimingsReport::from(&a.timings),
        }
    }
}

impl From<&Failure> for FailureReport {
    fn from(f: &Failure) -> Self {
        FailureReport {
            class: f.class(),
            message: redact_url(&f.to_string()),
            status: f.status(),
        }
    }
}

impl From<&PhaseTimings> for TimingsReport {
    fn from(t: &PhaseTimings) -> Self {
        TimingsReport {
            dns_ms: t.dns.map(ms),
            connect_ms: t.connect.map(ms),
            tls_ms: t.tls.map(ms),
            first_byte_ms: t.first_byte.map(ms),
            body_ms: t.body.map(ms),
            total_ms: ms(t.total),
        }
    }
}

impl From<&Timeline> for TimelineReport {
    fn from(t: &Timeline) -> Self {
        TimelineReport {
            phases: t
                .segments
                .iter()
                .map(|s| PhaseReport {
                    class: s.class,
                    label: redact_url(&s.label),
                    from_ms: ms(s.from),
                    to_ms: ms(s.to),
                    attempts: s.attempts,
                })
                .collect(),
            end: t.end.as_str(),
            at_ms: ms(t.at),
            summary: redact_url(&t.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_microseconds() {
        assert_eq!(ms(Duration::from_micros(1_234_567)), 1234.567);
    }
}
