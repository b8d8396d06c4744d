//! The data a run produces: each [`Attempt`] as it happened, and the [`Outcome`] of the
//! run. It sits below the loops that make it (`wait`, `group`) and the views of it
//! (`event`, `history`, `timeline`), so that none of them imports another's loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::failure::Failure;
use crate::probe::ProbeResult;
use crate::timings::PhaseTimings;

/// Default bound on attempts in flight across the targets of one run.
pub const DEFAULT_MAX_CONCURRENT_ATTEMPTS: usize = 512;

/// One attempt, as it happened. Read through its methods: it is kept compact (a run of a
/// hundred thousand targets keeps every attempt of each), and how it is stored may change.
#[derive(Debug, Clone)]
pub struct Attempt {
    started: Duration,
    duration: Duration,
    remote: Option<SocketAddr>,
    retry_after: Option<Duration>,
    /// Shared with the attempt before when they failed alike (a refusing port fails the
    /// same way a thousand times): one copy of the failure, not one per attempt.
    failure: Option<Arc<Failure>>,
    timings: CompactTimings,
    number: u32,
    redirects: u32,
    status: Option<u16>,
}

impl Attempt {
    /// Attempt `number` (1-based), which started `started` after the start of the run,
    /// took `duration` and found `probed`.
    pub fn new(number: u32, started: Duration, duration: Duration, probed: ProbeResult) -> Self {
        Attempt {
            started,
            duration,
            remote: probed.remote,
            retry_after: probed.retry_after,
            failure: probed.result.err().map(Arc::new),
            timings: CompactTimings::from(&probed.timings),
            number,
            redirects: u32::try_from(probed.redirects).unwrap_or(u32::MAX),
            status: probed.status,
        }
    }

    /// 1-based.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// When it started, from the start of the run.
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long it took.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// When it ended, from the start of the run.
    pub fn ended(&self) -> Duration {
        self.started + self.duration
    }

    /// Whether this attempt found the target healthy.
    pub fn is_healthy(&self) -> bool {
        self.failure.is_none()
    }

    /// Why this attempt failed; `None` when it was healthy.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_deref()
    }

    /// Status of the last response, when one arrived.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// How long each phase (DNS, connect, TLS, first byte, body) took, for the phases that
    /// ran; a phase the attempt never reached is `None` there. Kept to the microsecond
    /// (phases over half an hour: to the millisecond).
    pub fn timings(&self) -> PhaseTimings {
        self.timings.expand()
    }

    /// The address that answered.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Redirects followed before the last response (0 for TCP and gRPC targets).
    pub fn redirects(&self) -> usize {
        self.redirects as usize
    }

    /// What the server asked for in `Retry-After` (429 / 503).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Share the failure of `before` when this one failed alike.
    pub(crate) fn share_failure_with(&mut self, before: &Attempt) {
        if let (Some(mine), Some(theirs)) = (&self.failure, &before.failure) {
            if !Arc::ptr_eq(mine, theirs) && mine == theirs {
                self.failure = Some(theirs.clone());
            }
        }
    }
}

/// [`PhaseTimings`] in 24 bytes instead of 96: each phase in a `u32`, microseconds up to
/// about 35 minutes, milliseconds beyond (the high bit says which), `u32::MAX` for a phase
/// that did not happen.
#[derive(Debug, Clone, Copy)]
struct CompactTimings([u32; 6]);

const ABSENT: u32 = u32::MAX;
const IN_MILLIS: u32 = 1 << 31;

impl CompactTimings {
    fn from(t: &PhaseTimings) -> Self {
        let one = |d: Option<Duration>| d.map_or(ABSENT, pack);
        CompactTimings([
            one(t.dns),
            one(t.connect),
            one(t.tls),
            one(t.first_byte),
            one(t.body),
            pack(t.total),
        ])
    }

    fn expand(self) -> PhaseTimings {
        let [dns, connect, tls, first_byte, body, total] = self.0.map(unpack);
        PhaseTimings {
            dns,
            connect,
            tls,
            first_byte,
            body,
            total: total.unwrap_or_default(),
        }
    }
}

/// Rounded to the microsecond, as the JSON report prints it.
fn pack(d: Duration) -> u32 {
    let micros = (d.as_nanos() + 500) / 1_000;
    match u32::try_from(micros) {
        Ok(us) if us < IN_MILLIS => us,
        _ => {
            let millis = (d.as_nanos() + 500_000) / 1_000_000;
            IN_MILLIS
                | u32::try_from(millis)
                    .unwrap_or(u32::MAX)
                    .min(ABSENT - 1 - IN_MILLIS)
        }
    }
}

fn unpack(packed: u32) -> Option<Duration> {
    match packed {
        ABSENT => None,
        ms if ms & IN_MILLIS != 0 => Some(Duration::from_millis(u64::from(ms & !IN_MILLIS))),
        us => Some(Duration::from_micros(u64::from(us))),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(failure: Option<Failure>, timings: PhaseTimings) -> ProbeResult {
        ProbeResult {
            result: failure.map_or(Ok(()), Err),
            status: Some(503),
            timings,
            remote: None,
            redirects: 2,
            retry_after: Some(Duration::from_secs(7)),
            details: Default::default(),
        }
    }

    /// Kept to the microsecond, rounded as the JSON report rounds; absent phases stay
    /// absent; past half an hour, to the millisecond; nothing wraps around.
    #[test]
    fn timings_keep_microseconds_and_absent_phases() {
        let timings = PhaseTimings {
            dns: None,
            connect: Some(Duration::from_nanos(1_234_567)),
            tls: Some(Duration::ZERO),
            first_byte: Some(Duration::from_secs(40 * 60) + Duration::from_nanos(1_600_000)),
            body: Some(Duration::from_secs(u64::MAX / 4)),
            total: Duration::from_nanos(2_147_483_647_499),
        };
        let attempt = Attempt::new(1, Duration::ZERO, Duration::ZERO, probed(None, timings));
        let kept = attempt.timings();
        assert_eq!(kept.dns, None);
        assert_eq!(kept.connect, Some(Duration::from_micros(1_235)));
        assert_eq!(kept.tls, Some(Duration::ZERO));
        assert_eq!(
            kept.first_byte,
            Some(Duration::from_secs(40 * 60) + Duration::from_millis(2))
        );
        assert!(kept.body.unwrap() >= Duration::from_secs(20 * 24 * 3600));
        assert_eq!(kept.total, Duration::from_micros(2_147_483_647));
        assert_eq!(
            (attempt.status(), attempt.redirects(), attempt.retry_after()),
            (Some(503), 2, Some(Duration::from_secs(7)))
        );
    }

    #[test]
    fn alike_failures_share_one_copy_and_others_do_not() {
        let refused = || {
            Some(Failure::Refused {
                addr: "127.0.0.1:1".into(),
            })
        };
        let timings = PhaseTimings::default();
        let first = Attempt::new(
            1,
            Duration::ZERO,
            Duration::ZERO,
            probed(refused(), timings),
        );
        let mut second = Attempt::new(
            2,
            Duration::ZERO,
            Duration::ZERO,
            probed(refused(), timings),
        );
        second.share_failure_with(&first);
        assert!(std::ptr::eq(
            first.failure().unwrap(),
            second.failure().unwrap()
        ));
        let other = Some(Failure::Refused {
            addr: "127.0.0.1:2".into(),
        });
        let mut third = Attempt::new(3, Duration::ZERO, Duration::ZERO, probed(other, timings));
        third.share_failure_with(&second);
        assert!(third.failure().unwrap().to_string().contains("127.0.0.1:2"));
        let mut healthy = Attempt::new(4, Duration::ZERO, Duration::ZERO, probed(None, timings));
        healthy.share_failure_with(&third);
        assert!(healthy.is_healthy());
    }
}
