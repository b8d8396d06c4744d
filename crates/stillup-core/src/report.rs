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
use crate::wallclock::rfc3339;

/// Bumped on any incompatible change of the document's shape.
pub const SCHEMA_VERSION: u32 = 5;

/// The whole document: the run, then each target.
///
/// It borrows the run's targets and builds each one's part only while writing it, so a
/// report of thousands of targets never holds all of them as strings at once.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    /// [`SCHEMA_VERSION`]: the shape this document has.
    pub schema_version: u32,
    /// `wait` or `check`.
    pub command: String,
    /// When the run started, RFC 3339 in UTC (every other time in the document is an offset
    /// from it, measured on the monotonic clock).
    pub started_at: String,
    /// When the run ended, RFC 3339 in UTC.
    pub ended_at: String,
    /// `healthy`, `down`, `gave_up`, `failed_fast`, `inconclusive` or `interrupted`.
    pub outcome: &'static str,
    /// Whether the run reached its goal (exit code 0).
    pub success: bool,
    /// `healthy` or `down`.
    pub until: &'static str,
    /// How many targets had to reach the goal.
    pub required: usize,
    /// From the start of the run to its end, in milliseconds.
    pub elapsed_ms: f64,
    /// The overall deadline, in milliseconds.
    pub timeout_ms: f64,
    /// Each target's part, in the order the targets were given.
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
    /// `http`, `tcp` or `grpc`.
    pub kind: &'static str,
    /// `healthy`, `down`, `gave_up`, `failed_fast`, `inconclusive`, `stopped` or
    /// `interrupted`.
    pub outcome: &'static str,
    /// Whether the target ended healthy.
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
    /// Why the last failed attempt failed; `null` when the target ended healthy.
    pub last_failure: Option<FailureReport>,
    /// The run of this target in phases.
    pub timeline: TimelineReport,
}

/// One attempt, as [`Attempt`] with durations in milliseconds and texts redacted.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    /// 1-based position in the run.
    pub number: u32,
    /// When it started, in milliseconds from the start of the run.
    pub started_ms: f64,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Whether it found the target healthy.
    pub healthy: bool,
    /// Failure class, `null` when healthy.
    pub class: Option<&'static str>,
    /// The failure's message, credentials removed; `null` when healthy.
    pub message: Option<String>,
    /// The HTTP status of the last response; `null` when none arrived (or not HTTP).
    pub status: Option<u16>,
    /// The address that answered (`ip:port`); `null` when no connection was made or the
    /// target is a Unix socket.
    pub remote: Option<String>,
    /// Redirects followed.
    pub redirects: usize,
    /// Per-phase timings.
    pub timings: TimingsReport,
}

/// A failure as the report tells it.
#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    /// The failure class ([`crate::FailureClass::as_str`]).
    pub class: &'static str,
    /// The failure's message, credentials removed.
    pub message: String,
    /// The HTTP status it carries, if any ([`Failure::status`]).
    pub status: Option<u16>,
}

/// [`PhaseTimings`] in milliseconds; a phase the attempt did not reach (or that its
/// target does not have, like TLS on plain HTTP) is `null`.
#[derive(Debug, Clone, Serialize)]
pub struct TimingsReport {
    /// Name resolution.
    pub dns_ms: Option<f64>,
    /// TCP (or Unix socket) connect.
    pub connect_ms: Option<f64>,
    /// TLS handshake.
    pub tls_ms: Option<f64>,
    /// From sending the request to the first byte of the response.
    pub first_byte_ms: Option<f64>,
    /// Reading the body.
    pub body_ms: Option<f64>,
    /// The whole attempt.
    pub total_ms: f64,
}

/// A [`Timeline`] in the report.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    /// The phases, oldest first.
    pub phases: Vec<PhaseReport>,
    /// How the target's part ended, as `outcome`.
    pub end: &'static str,
    /// When it ended, in milliseconds from the start of the run.
    pub at_ms: f64,
    /// The one-line summary the human output prints.
    pub summary: String,
}

/// One phase of a timeline: a [`crate::timeline::Segment`] in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// The failure class of its attempts, or `healthy` / `mixed`
    /// ([`crate::timeline::HEALTHY_CLASS`], [`crate::timeline::MIXED_CLASS`]).
    pub class: &'static str,
    /// What the timeline prints, e.g. `HTTP 503`; credentials removed.
    pub label: String,
    /// Start, in milliseconds from the start of the run.
    pub from_ms: f64,
    /// End, in milliseconds from the start of the run.
    pub to_ms: f64,
    /// Attempts in this phase.
    pub attempts: u32,
}

/// Milliseconds with microsecond precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

impl<'a> Report<'a> {
    /// The document for a run of `command` (`wait` or `check`) that waited `until` and ended
    /// as `group`.
    pub fn new(command: &str, until: Until, group: &'a GroupOutcome) -> Report<'a> {
        // Made as the run ends: its start is the end less what the monotonic clock measured.
        let ended_at = std::time::SystemTime::now();
        let started_at = ended_at.checked_sub(group.elapsed).unwrap_or(ended_at);
        Report {
            schema_version: SCHEMA_VERSION,
            command: command.to_string(),
            started_at: rfc3339(started_at),
            ended_at: rfc3339(ended_at),
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
    /// One target's part: `target` as given (credentials are removed here), its config-file
    /// `name`, its `kind` ([`crate::Target::kind`]) and how it ended.
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
            number: a.number(),
            started_ms: ms(a.started()),
            duration_ms: ms(a.duration()),
            healthy: a.is_healthy(),
            class: a.failure().map(|f| f.class().as_str()),
            message: a.failure().map(|f| redact_url(&f.to_string())),
            status: a.status(),
            remote: a.remote().map(|r| r.to_string()),
            redirects: a.redirects(),
            timings: TimingsReport::from(&a.timings()),
        }
    }
}

impl From<&Failure> for FailureReport {
    fn from(f: &Failure) -> Self {
        FailureReport {
            class: f.class().as_str(),
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
