//! The wait loop: probe until healthy (or, in reverse, until down), until the deadline, until
//! a failure that will not heal, or until interrupted.
//!
//! One [`Deadline`] governs the run. Each attempt gets its own timeout clamped to what
//! remains; the interval to the next attempt is measured from the *start* of the previous
//! one, and no sleep goes past the deadline. When no further attempt could start before the
//! deadline, the run gives up at once rather than idle until it. Every attempt is reported
//! through [`Event`]s as it happens; the outcome keeps the latest ones (all of them unless the
//! run is very long) and a timeline of the whole run.

use std::future::Future;
use std::time::{Duration, Instant};

pub use crate::attempt::{Attempt, Outcome, OutcomeKind, DEFAULT_MAX_CONCURRENT_ATTEMPTS};
use crate::backoff::Backoff;
use crate::deadline::Deadline;
use crate::event::Event;
use crate::failfast::FailFast;
use crate::failure::{Failure, FailureClass};
use crate::history::History;
use crate::probe::{ProbeResult, Prober};

/// Default overall deadline, as the reference poller this replaces.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound on one attempt.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// When and how often to try.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitPolicy {
    /// The overall deadline of the run.
    pub timeout: Duration,
    /// The bound on one attempt (clamped to what remains of `timeout`).
    pub attempt_timeout: Duration,
    /// Intervals between attempt starts.
    pub backoff: Backoff,
    /// Stop after this many attempts even if time remains (`check` uses 1).
    pub max_attempts: Option<u32>,
    /// Wait until healthy (the default) or until down.
    pub until: Until,
    /// Consecutive attempts that must reach the goal before the run ends (at least 1).
    pub successes: u32,
    /// Failures that end the run at once (only when waiting until healthy).
    pub fail_fast: FailFast,
    /// While connections are refused, nothing reaches the application: re-probe this often
    /// (if shorter than the interval) so readiness is noticed within a fraction of a second.
    pub refused_interval: Option<Duration>,
    /// With many targets, at most this many attempts run at once (each holds a socket and
    /// buffers); the others wait their turn, and their attempt clock starts when they run.
    pub max_concurrent_attempts: usize,
    /// Attempts the outcome keeps (raised to `successes` if lower): past that, the earliest
    /// are folded into the timeline, so memory stays flat however long the run.
    pub max_kept_attempts: usize,
}

/// Default for [`WaitPolicy::max_kept_attempts`].
pub const DEFAULT_KEPT_ATTEMPTS: usize = 1_000;

/// How soon to re-probe a port that refuses connections.
pub const DEFAULT_REFUSED_INTERVAL: Duration = Duration::from_millis(100);

/// What the run waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Until {
    /// The target answers and meets every condition.
    #[default]
    Healthy,
    /// The target stops answering or stops being healthy (old pods of a rollout).
    Down,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            timeout: DEFAULT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            backoff: Backoff::default(),
            max_attempts: None,
            until: Until::Healthy,
            successes: 1,
            fail_fast: FailFast::default(),
            refused_interval: Some(DEFAULT_REFUSED_INTERVAL),
            max_concurrent_attempts: DEFAULT_MAX_CONCURRENT_ATTEMPTS,
            max_kept_attempts: DEFAULT_KEPT_ATTEMPTS,
        }
    }
}

impl WaitPolicy {
    /// A single attempt bounded by `attempt_timeout`, as `stillup check` makes.
    pub fn once(attempt_timeout: Duration) -> Self {
        WaitPolicy {
            timeout: attempt_timeout,
            attempt_timeout,
            max_attempts: Some(1),
            ..WaitPolicy::default()
        }
    }
}

/// Probe `probe` under `policy` until healthy (or down), the deadline, a fail-fast failure,
/// or `cancel` completes. `observer` sees every event as it happens, on the task that awaits
/// this future; it should not block.
///
/// When `cancel` completes first, the outcome is [`OutcomeKind::Interrupted`] with the
/// attempts made so far. A run that needs no cancellation uses [`wait_observed`] (or
/// [`wait`], without events too).
pub async fn wait_with<P, F, C>(probe: &P, policy: &WaitPolicy, observer: F, cancel: C) -> Outcome
where
    P: Prober + ?Sized,
    F: FnMut(&Event<'_>),
    C: Future<Output = ()>,
{
    let deadline = Deadline::after(policy.timeout);
    let cancel = async move {
        cancel.await;
        OutcomeKind::Interrupted
    };
    run(probe, policy, deadline, observer, cancel).await
}

/// The loop of one target on its own (a group schedules its targets itself, `group.rs`).
/// `cancel` says how the run ends when it fires (interrupted).
pub(crate) async fn run<P, F, C>(
    probe: &P,
    policy: &WaitPolicy,
    deadline: Deadline,
    mut observer: F,
    cancel: C,
) -> Outcome
where
    P: Prober + ?Sized,
    F: FnMut(&Event<'_>),
    C: Future<Output = OutcomeKind>,
{
    let mut target = TargetRun::new(policy);
    tokio::pin!(cancel);
    loop {
        if deadline.has_passed() {
            return target.finish(OutcomeKind::GaveUp, policy, deadline);
        }
        let attempt_start = Instant::now();
        target.start(attempt_start, deadline, &mut observer);
        let budget = Deadline::starting_at(
            attempt_start,
            deadline.budget_at(attempt_start, policy.attempt_timeout),
        );
        // Boxed: an attempt's state is kilobytes, and a target spends most of its time
        // asleep between attempts; unboxed, a sleeping target would hold it.
        let mut probing = Box::pin(probe.probe_once(&budget));
        let mut giving_up = false;
        let probed = tokio::select! {
            biased;
            kind = &mut cancel => {
                if kind != OutcomeKind::GaveUp {
                    return target.finish(kind, policy, deadline);
                }
                // The run gave up: this attempt still ends by the deadline, and what it
                // finds is the target's last word (`cancel` is not polled again).
                giving_up = true;
                (&mut probing).await
            }
            probed = &mut probing => probed,
        };
        // An attempt's state is kilobytes: gone before the target sleeps.
        drop(probing);
        let ended = Instant::now();
        let next = match target.judge(
            policy,
            (attempt_start, ended),
            deadline,
            probed,
            giving_up,
            &mut observer,
        ) {
            Next::Finish(kind) => return target.finish(kind, policy, deadline),
            Next::At(next) => next,
        };
        if next > Instant::now() {
            tokio::select! {
                biased;
                kind = &mut cancel => return target.finish(kind, policy, deadline),
                () = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }
}

/// What a target carries from one attempt to the next: all a waiting target holds (a group of
/// a hundred thousand targets holds one each, and no task for those between attempts).
#[derive(Debug)]
pub(crate) struct TargetRun {
    attempts: History,
    /// Attempts started.
    number: u32,
    /// Consecutive attempts that reached the goal.
    streak: u32,
    /// Attempts that failed for stillup's own reasons, and whether one came after the last
    /// attempt that conclusively missed the goal: if so, a run that ends without reaching it
    /// has no verdict (those attempts might have reached it).
    inconclusive: u32,
    in_doubt: bool,
    /// Attempts that followed the backoff schedule (fast re-probes of a refusing port do not
    /// make an exponential backoff grow).
    paced: u32,
}

/// After an attempt: end the run with a verdict, or try again at an instant (before the
/// deadline; one at or past it ends the run as `gave_up`).
pub(crate) enum Next {
    Finish(OutcomeKind),
    At(Instant),
}

impl TargetRun {
    pub(crate) fn new(policy: &WaitPolicy) -> TargetRun {
        TargetRun {
            attempts: History::new(policy.max_kept_attempts.max(policy.successes as usize)),
            number: 0,
            streak: 0,
            inconclusive: 0,
            in_doubt: false,
            paced: 0,
        }
    }

    /// An attempt starts at `at`: announced to `observer`.
    pub(crate) fn start<F: FnMut(&Event<'_>)>(
        &mut self,
        at: Instant,
        deadline: Deadline,
        observer: &mut F,
    ) {
        self.number += 1;
        observer(&Event::AttemptStarted {
            number: self.number,
            at: at - deadline.start(),
        });
    }

    /// The run of this target ends as `kind`.
    pub(crate) fn finish(
        self,
        kind: OutcomeKind,
        policy: &WaitPolicy,
        deadline: Deadline,
    ) -> Outcome {
        let (attempts, attempts_omitted, omitted_phases) = self.attempts.finish();
        let kind = match kind {
            OutcomeKind::GaveUp if self.in_doubt => OutcomeKind::Inconclusive,
            kind => kind,
        };
        Outcome {
            kind,
            inconclusive: self.inconclusive,
            elapsed: deadline.elapsed(),
            timeout: policy.timeout,
            attempts,
            attempts_omitted,
            omitted_phases,
        }
    }

    /// Record the attempt last started (the instants it started and ended) and decide what
    /// comes next; past the deadline, or with no attempt possible before it, the run ends
    /// (`gave_up`). A `Sleeping` event announces the next attempt when it is not due at once.
    pub(crate) fn judge<F: FnMut(&Event<'_>)>(
        &mut self,
        policy: &WaitPolicy,
        (attempt_start, ended): (Instant, Instant),
        deadline: Deadline,
        probed: ProbeResult,
        giving_up: bool,
        observer: &mut F,
    ) -> Next {
        let number = self.number;
        let attempt = Attempt::new(
            number,
            attempt_start - deadline.start(),
            ended - attempt_start,
            probed,
        );
        observer(&Event::AttemptFinished(&attempt));
        let doubtful = attempt.failure().is_some_and(Failure::is_inconclusive);
        let fail_fast = policy.until == Until::Healthy
            && attempt
                .failure()
                .is_some_and(|f| f.is_final() || policy.fail_fast.matches(f));
        let reached = !doubtful
            && match policy.until {
                Until::Healthy => attempt.is_healthy(),
                Until::Down => !attempt.is_healthy(),
            };
        self.attempts.push(attempt);
        if doubtful {
            self.inconclusive = self.inconclusive.saturating_add(1);
            self.in_doubt = true;
        } else if !reached {
            self.in_doubt = false;
        }
        if fail_fast {
            // `--fail-fast local_limit` asks to stop at once, but stillup's own trouble is
            // still no verdict about the target.
            return Next::Finish(if doubtful {
                OutcomeKind::Inconclusive
            } else {
                OutcomeKind::FailedFast
            });
        }
        // Consecutive means observed back to back: an attempt stillup could not make breaks
        // the streak as surely as a miss does, though it is no miss.
        self.streak = if reached { self.streak + 1 } else { 0 };
        if self.streak >= policy.successes.max(1) {
            return Next::Finish(match policy.until {
                Until::Healthy => OutcomeKind::Healthy,
                Until::Down => OutcomeKind::Down,
            });
        }
        if giving_up || policy.max_attempts.is_some_and(|max| number >= max) {
            return Next::Finish(OutcomeKind::GaveUp);
        }
        let next = attempt_start + next_interval(policy, self.attempts.latest(), &mut self.paced);
        if next >= deadline.end() || deadline.has_passed() {
            // No attempt could start before the deadline: idling until it helps nobody.
            return Next::Finish(OutcomeKind::GaveUp);
        }
        if next > Instant::now() {
            observer(&Event::Sleeping {
                next_at: next - deadline.start(),
            });
        }
        Next::At(next)
    }
}

/// The interval after the last attempt: the backoff schedule, shortened while the port
/// refuses connections, lengthened (up to the cap) when the server sent `Retry-After`.
fn next_interval(policy: &WaitPolicy, attempts: &[Attempt], paced: &mut u32) -> Duration {
    let last = attempts.last();
    let refused = last
        .and_then(Attempt::failure)
        .is_some_and(|f| f.class() == FailureClass::Refused);
    if let (true, Some(fast)) = (refused, policy.refused_interval) {
        if fast < policy.backoff.base_interval(*paced + 1) {
            return fast;
        }
    }
    *paced += 1;
    let interval = policy.backoff.interval(*paced);
    match last.and_then(Attempt::retry_after) {
        Some(asked) => interval.max(asked.min(policy.backoff.max_interval)),
        None => interval,
    }
}

/// Probe until healthy (or down), the deadline or a fail-fast failure, reporting every event
/// to `observer`: [`wait_with`] for the common case that needs no cancellation.
///
/// Never returns an error: a run that did not reach its goal says why in the
/// [`Outcome`] (its kind, and the [`Failure`] of each attempt).
///
/// ```
/// use std::time::Duration;
/// use stillup_core::{Event, HttpProbe, HttpTarget, WaitPolicy};
/// # use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let api = ScriptedServer::spawn(
/// #     Script::new()
/// #         .then_requests(1, Behavior::Respond(Reply::status(503)))
/// #         .forever(Behavior::Respond(Reply::status(200))),
/// # )?;
/// let probe = HttpProbe::new(HttpTarget::parse(&api.url("/ready"))?);
/// let policy = WaitPolicy {
///     timeout: Duration::from_secs(10),
///     ..WaitPolicy::default()
/// };
/// # let policy = WaitPolicy { backoff: stillup_core::Backoff { interval: Duration::from_millis(20), ..Default::default() }, ..policy };
///
/// let mut failed = Vec::new();
/// let outcome = stillup_core::wait_observed(&probe, &policy, |event| {
///     if let Event::AttemptFinished(attempt) = event {
///         failed.extend(attempt.failure().map(|f| f.class()));
///     }
/// })
/// .await;
///
/// assert!(outcome.is_healthy());
/// assert_eq!(failed, [stillup_core::FailureClass::HttpStatus]);
/// # Ok(())
/// # }
/// ```
pub async fn wait_observed<P, F>(probe: &P, policy: &WaitPolicy, observer: F) -> Outcome
where
    P: Prober + ?Sized,
    F: FnMut(&Event<'_>),
{
    wait_with(probe, policy, observer, std::future::pending()).await
}

/// Probe until healthy (or down), the deadline or a fail-fast failure, with no observer and
/// no cancellation.
pub async fn wait<P: Prober + ?Sized>(probe: &P, policy: &WaitPolicy) -> Outcome {
    wait_observed(probe, policy, |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use crate::target::Target;
    use crate::timings::PhaseTimings;

    /// A prober that answers from a script (the last answer repeats): the loop's verdict
    /// rules, without a network.
    #[derive(Debug)]
    struct Scripted {
        answers: Vec<Option<Failure>>,
        next: std::sync::atomic::AtomicUsize,
    }

    impl Scripted {
        fn new(answers: Vec<Option<Failure>>) -> Self {
            Scripted {
                answers,
                next: Default::default(),
            }
        }
    }

    impl Prober for Scripted {
        fn probe_once(
            &self,
            _budget: &Deadline,
        ) -> impl Future<Output = crate::probe::ProbeResult> + Send {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = self.answers[i.min(self.answers.len() - 1)].clone();
            let result = crate::probe::ProbeResult {
                result: answer.map_or(Ok(()), Err),
                status: None,
                timings: PhaseTimings::default(),
                remote: None,
                redirects: 0,
                retry_after: None,
                details: Default::default(),
            };
            std::future::ready(result)
        }

        fn describe(&self) -> String {
            "scripted".into()
        }

        fn kind(&self) -> &'static str {
            "tcp"
        }
    }

    fn out_of_files() -> Option<Failure> {
        Some(Failure::LocalLimit {
            detail: "too many open files".into(),
        })
    }

    fn refused() -> Option<Failure> {
        Some(Failure::Refused {
            addr: "127.0.0.1:1".into(),
        })
    }

    fn policy(until: Until, successes: u32, max_attempts: u32) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(10),
            backoff: Backoff {
                interval: Duration::from_millis(1),
                ..Backoff::default()
            },
            refused_interval: None,
            until,
            successes,
            max_attempts: Some(max_attempts),
            ..WaitPolicy::default()
        }
    }

    #[tokio::test]
    async fn stillup_out_of_files_never_makes_a_healthy_target_down() {
        let probe = Scripted::new(vec![out_of_files()]);
        let outcome = wait(&probe, &policy(Until::Down, 1, 5)).await;
        assert_eq!(outcome.kind, OutcomeKind::Inconclusive);
        assert_eq!(outcome.inconclusive, 5);
        assert!(!outcome.is_success());
    }

    #[tokio::test]
    async fn a_local_limit_breaks_a_healthy_streak_without_counting_as_a_miss() {
        // healthy, out of files, healthy, healthy: two in a row only at the end.
        let probe = Scripted::new(vec![None, out_of_files(), None, None]);
        let outcome = wait(&probe, &policy(Until::Healthy, 2, 10)).await;
        assert_eq!(outcome.kind, OutcomeKind::Healthy);
        assert_eq!(outcome.attempt_count(), 4);
        assert_eq!(outcome.inconclusive, 1);
    }

    #[tokio::test]
    async fn a_run_that_ends_on_a_local_limit_has_no_verdict_but_a_later_miss_is_one() {
        let ends_in_doubt = Scripted::new(vec![refused(), out_of_files()]);
        let outcome = wait(&ends_in_doubt, &policy(Until::Healthy, 1, 3)).await;
        assert_eq!(outcome.kind, OutcomeKind::Inconclusive);

        let ends_refused = Scripted::new(vec![out_of_files(), refused()]);
        let outcome = wait(&ends_refused, &policy(Until::Healthy, 1, 3)).await;
        assert_eq!(outcome.kind, OutcomeKind::GaveUp);
        assert_eq!(outcome.inconclusive, 1);

        // Waiting for down, healthy answers are conclusive misses too.
        let still_up = Scripted::new(vec![out_of_files(), None]);
        let outcome = wait(&still_up, &policy(Until::Down, 1, 3)).await;
        assert_eq!(outcome.kind, OutcomeKind::GaveUp);
    }

    #[tokio::test]
    async fn a_down_target_is_down_even_after_a_local_limit() {
        let probe = Scripted::new(vec![out_of_files(), refused()]);
        let outcome = wait(&probe, &policy(Until::Down, 1, 3)).await;
        assert_eq!(outcome.kind, OutcomeKind::Down);
        assert_eq!(
            outcome.timeline().to_string(),
            "0–0s stillup out of resources · down at 0s (connection refused)"
        );
    }

    /// Thousands of targets spend most of their time asleep between attempts: what a waiting
    /// target holds must stay small, whatever an attempt needs while it runs.
    #[test]
    fn a_sleeping_target_holds_far_less_than_an_attempt() {
        let probe = Probe::new(Target::parse("http://127.0.0.1:1/health").unwrap());
        let deadline = Deadline::after(Duration::from_secs(1));
        let attempt = std::mem::size_of_val(&probe.probe_once(&deadline));
        let policy = WaitPolicy::default();
        let waiting = run(&probe, &policy, deadline, |_| {}, std::future::pending());
        let waiting = std::mem::size_of_val(&waiting);
        // 1,336 before an attempt's result was judged outside the loop's async state.
        assert!(
            waiting <= 1024,
            "a waiting target's state is {waiting} bytes"
        );
        assert!(
            waiting * 2 < attempt,
            "waiting {waiting} bytes, attempt {attempt}"
        );
    }

    /// What every started target keeps per attempt, and every target holds for the whole
    /// run: with a hundred thousand targets, each byte here is 100 KB (bench section 6).
    #[test]
    fn the_structs_held_per_target_do_not_grow() {
        use std::mem::size_of;
        // 296 before timings were kept in 24 bytes and a failure behind a shared pointer.
        assert!(
            size_of::<Attempt>() <= 128,
            "Attempt: {}",
            size_of::<Attempt>()
        );
        assert!(
            size_of::<Outcome>() <= 96,
            "Outcome: {}",
            size_of::<Outcome>()
        );
        assert!(
            size_of::<Failure>() <= 104,
            "Failure: {}",
            size_of::<Failure>()
        );
        // What a target between attempts holds in a group run (it is no task then).
        assert!(
            size_of::<TargetRun>() <= 88,
            "TargetRun: {}",
            size_of::<TargetRun>()
        );
        let probe = size_of::<crate::probe::Probe>();
        // 704 before the proxy settings were shared behind one Arc; 464 before the address
        // family preference (two bytes, eight with AddressOverrides' alignment).
        assert!(probe <= 472, "Probe: {probe}");
    }
}
