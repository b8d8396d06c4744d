//! The data a run produces: each [`Attempt`] as it happened, and the [`Outcome`] of the
//! run. It sits below the loops that make it (`wait`, `group`) and the views of it
//! (`event`, `history`, `timeline`), so that none of them imports another's loop.

use std::net::SocketAddr;
use std::time::Duration;

use crate::failure::Failure;
use crate::timings::PhaseTimings;

/// Default bound on attempts in flight across the targets of one run.
pub const DEFAULT_MAX_CONCURRENT_ATTEMPTS: usize = 512;

/// One attempt, as it happened.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// When it started, from the start of the run.
    pub started: Duration,
    /// How long it took.
    pub duration: Duration,
    /// `Ok` when the target was healthy.
    pub result: Result<(), Failure>,
    /// Status of the last response, when one arrived.
    pub status: Option<u16>,
    /// How long each phase (DNS, connect, TLS, first byte, body) took, for the phases that
    /// ran; a phase the attempt never reached is `None` there.
    pub timings: PhaseTimings,
    /// The address that answered.
    pub remote: Option<SocketAddr>,
    /// Redirects followed before the last response (0 for TCP and gRPC targets).
    pub redirects: usize,
    /// What the server asked for in `Retry-After` (429 / 503).
    pub retry_after: Option<Duration>,
}

impl Attempt {
    /// Whether this attempt found the target healthy (`result` is `Ok`).
    pub fn is_healthy(&self) -> bool {
        self.result.is_ok()
    }

    /// Why this attempt failed; `None` when it was healthy.
    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }

    /// When it ended, from the start of the run.
    pub fn ended(&self) -> Duration {
        self.started + self.duration
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The target was healthy.
    Healthy,
    /// Waiting until down: the target stopped answering or stopped being healthy.
    Down,
    /// The deadline (or the attempt limit) came first.
    GaveUp,
    /// A failure listed in `fail_fast` happened: waiting would not help.
    FailedFast,
    /// Several targets: the run was decided by the others before this one finished.
    Stopped,
    /// The caller's cancellation fired (SIGINT / SIGTERM in the CLI).
    Interrupted,
    /// No verdict: the run ended (deadline, attempt limit) while the latest evidence was
    /// stillup's own trouble ([`Failure::is_inconclusive`]), which says nothing about the
    /// target — had those attempts been made, the run might have ended otherwise.
    Inconclusive,
}

impl OutcomeKind {
    /// Stable snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Healthy => "healthy",
            OutcomeKind::Down => "down",
            OutcomeKind::GaveUp => "gave_up",
            OutcomeKind::FailedFast => "failed_fast",
            OutcomeKind::Stopped => "stopped",
            OutcomeKind::Interrupted => "interrupted",
            OutcomeKind::Inconclusive => "inconclusive",
        }
    }
}

/// The result of a run: its latest attempts and the phases of the earlier ones.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the run ended: healthy, gave up at the deadline, failed fast, interrupted, ….
    pub kind: OutcomeKind,
    /// From the start of the run to its end.
    pub elapsed: Duration,
    /// The overall deadline the run had.
    pub timeout: Duration,
    /// The latest attempts, oldest first: all of them unless the run made more than
    /// [`WaitPolicy::max_kept_attempts`](crate::wait::WaitPolicy::max_kept_attempts).
    pub attempts: Vec<Attempt>,
    /// Attempts made before `attempts[0]` and not kept (0 unless the run was long).
    pub attempts_omitted: u32,
    /// Attempts, kept or not, that failed for stillup's own reasons
    /// ([`Failure::is_inconclusive`]): no evidence about the target either way.
    pub inconclusive: u32,
    /// The timeline phases of the omitted attempts.
    pub omitted_phases: Vec<Segment>,
}

impl Outcome {
    /// Whether the run ended with the target healthy. In a wait-until-down run this is
    /// `false` even on success: use [`is_success`](Outcome::is_success) there.
    pub fn is_healthy(&self) -> bool {
        self.kind == OutcomeKind::Healthy
    }

    /// Whether the run reached what it waited for (healthy, or down in reverse mode).
    pub fn is_success(&self) -> bool {
        matches!(self.kind, OutcomeKind::Healthy | OutcomeKind::Down)
    }

    /// Attempts made, kept or not.
    pub fn attempt_count(&self) -> u32 {
        self.attempts_omitted
            .saturating_add(self.attempts.len() as u32)
    }

    /// The failure of the last failed attempt: why it was not healthy, or why it is down.
    pub fn last_failure(&self) -> Option<&Failure> {
        if self.is_healthy() {
            return None;
        }
        self.attempts.iter().rev().find_map(Attempt::failure)
    }
}

/// One phase of failures that looked alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Failure class of the attempts in this phase.
    pub class: &'static str,
    /// What the timeline prints, e.g. "HTTP 503".
    pub label: String,
    /// When its first attempt started, from the start of the run.
    pub from: Duration,
    /// When the next segment (or the run's end) began, from the start of the run.
    pub to: Duration,
    /// Attempts merged into it.
    pub attempts: u32,
}
