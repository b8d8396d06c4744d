//! Several targets in one run: each polled on its own schedule, concurrently, under one
//! deadline, until enough of them reached the goal (all, any, or k of n) or that became
//! impossible.
//!
//! Each target runs as its own task (a multi-thread runtime spreads them over the cores) and
//! reports its events back over a channel; a decision stops the rest promptly: they end with
//! the `stopped` outcome (or `gave_up`, when the run gave up) and keep the attempts they made
//! (the latest ones, when a long run made more than its share of the 200,000 a group keeps).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::task::JoinSet;

use crate::deadline::Deadline;
use crate::event::Event;
use crate::probe::Prober;
use crate::turns::{Turn, Turns};
use crate::wait::{run, Attempt, Outcome, OutcomeKind, WaitPolicy};

/// How many targets must reach the goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Require {
    /// Every target (the default).
    #[default]
    All,
    /// At least one.
    Any,
    /// At least k of them.
    AtLeast(usize),
}

impl Require {
    /// How many of `n` targets must succeed.
    pub fn needed(self, n: usize) -> usize {
        match self {
            Require::All => n,
            Require::Any => n.min(1),
            Require::AtLeast(k) => k.min(n),
        }
    }
}

/// One target's part of a group run.
#[derive(Debug, Clone)]
pub struct TargetOutcome {
    /// The target, safe to print.
    pub target: String,
    /// A name the caller gave the target (the CLI: its `[targets.NAME]`); `wait_group`
    /// leaves it `None`.
    pub name: Option<String>,
    /// `http`, `tcp`, …
    pub kind: &'static str,
    /// How this target's part of the run ended, with its attempts.
    pub outcome: Outcome,
}

/// The result of a group run.
#[derive(Debug, Clone)]
pub struct GroupOutcome {
    /// Success (healthy / down), gave up, failed fast, inconclusive, or interrupted.
    pub kind: OutcomeKind,
    /// From the start of the run to its end.
    pub elapsed: Duration,
    /// The overall deadline, shared by every target.
    pub timeout: Duration,
    /// How many targets had to reach the goal.
    pub require: Require,
    /// In the order the targets were given.
    pub targets: Vec<TargetOutcome>,
}

impl GroupOutcome {
    /// Whether the group reached its goal: enough targets healthy (or down, in reverse).
    pub fn is_success(&self) -> bool {
        matches!(self.kind, OutcomeKind::Healthy | OutcomeKind::Down)
    }

    /// Targets that reached the goal.
    pub fn succeeded(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.outcome.is_success())
            .count()
    }
}

/// Attempts kept over all the targets of a group (each keeps at least
/// [`MIN_KEPT_ATTEMPTS`]): ten thousand targets polled for hours must not keep millions.
const KEPT_ATTEMPTS_PER_GROUP: usize = 200_000;
const MIN_KEPT_ATTEMPTS: usize = 20;

/// How many attempts each of `targets` targets keeps: the policy's bound, shared out.
fn kept_attempts_per_target(policy: &WaitPolicy, targets: usize) -> usize {
    (KEPT_ATTEMPTS_PER_GROUP / targets.max(1))
        .max(MIN_KEPT_ATTEMPTS)
        .min(policy.max_kept_attempts)
}

/// Wait for `probes` under one deadline until `require` is met or cannot be met, or
/// `cancel` fires. `observer` sees each target's events with the target's index.
///
/// Each target runs as its own task, so a multi-thread runtime spreads thousands of targets
/// over its cores; events come back to the caller's task, where `observer` runs.
pub async fn wait_group<P, F, C>(
    probes: &[P],
    policy: &WaitPolicy,
    require: Require,
    observer: F,
    cancel: C,
) -> GroupOutcome
where
    P: Prober + Clone + Send + Sync + 'static,
    F: FnMut(usize, &Event<'_>),
    C: Future<Output = ()>,
{
    wait_group_owned(probes.to_vec(), policy, require, observer, cancel).await
}

/// [`wait_group`], taking the probes: each target's probe is then held once for the whole
/// run, not copied (what a run of a hundred thousand targets holds is mostly its probes).
pub async fn wait_group_owned<P, F, C>(
    probes: Vec<P>,
    policy: &WaitPolicy,
    require: Require,
    mut observer: F,
    cancel: C,
) -> GroupOutcome
where
    P: Prober + Send + Sync + 'static,
    F: FnMut(usize, &Event<'_>),
    C: Future<Output = ()>,
{
    let deadline = Deadline::after(policy.timeout);
    // Moved, not copied (an `Arc<[P]>` would hold two copies for a moment: the peak of a
    // run of a hundred thousand targets); the room a growing Vec keeps spare is given back.
    let mut probes = probes;
    probes.shrink_to_fit();
    let probes = Arc::new(probes);
    let n = probes.len();
    let mut per_target = policy.clone();
    per_target.max_kept_attempts = kept_attempts_per_target(policy, n);
    let per_target = Arc::new(per_target);
    let turns = Arc::new(Turns::new(policy.max_concurrent_attempts, n));
    let (stop_tx, stop_rx) = watch::channel(None::<OutcomeKind>);
    let (event_tx, mut events) = mpsc::unbounded_channel::<(usize, OwnedEvent)>();
    let mut running = JoinSet::new();
    // A target's task starts with its first turn, in the order given: a target waiting for
    // its first turn holds nothing but its probe, and one whose turn never came is told
    // without waking anything.
    let start = |index: usize, first: OwnedSemaphorePermit, running: &mut JoinSet<_>| {
        let probes = probes.clone();
        let policy = per_target.clone();
        let turns = turns.clone();
        let mut stop = stop_rx.clone();
        let events = event_tx.clone();
        running.spawn(async move {
            let stopped = async move {
                // The guard is released before any further await (it is not Send).
                let decided = stop
                    .wait_for(Option::is_some)
                    .await
                    .map(|kind| kind.unwrap_or(OutcomeKind::Stopped));
                match decided {
                    Ok(kind) => kind,
                    // The group is gone; nothing will decide any more.
                    Err(_) => std::future::pending().await,
                }
            };
            let outcome = run(
                &probes[index],
                &policy,
                deadline,
                Some(Turn {
                    turns: &turns,
                    first: Some(first),
                }),
                |event: &Event<'_>| {
                    let _ = events.send((index, OwnedEvent::from(event)));
                },
                stopped,
            )
            .await;
            (index, outcome)
        });
    };
    let mut started = 0usize;

    let needed = require.needed(n);
    let one_shot = policy.max_attempts.is_some();
    let mut tally = Tally {
        outcomes: vec![None; n],
        require,
        needed,
        succeeded: 0,
        failed: 0,
        in_doubt: 0,
        any_failed_fast: false,
        decided: None,
    };
    // The first reason to stop wins; targets still running end with it.
    let stop = |kind: OutcomeKind| {
        stop_tx.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(kind);
            }
            first
        });
    };
    tokio::pin!(cancel);
    let mut cancel_done = false;
    // After delivering events, the next ones are collected for EVENT_BATCH before this task
    // is woken again, so thousands of targets cost a few wake-ups a second, not three for
    // every attempt of every target.
    let batch_pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(batch_pause);
    let mut pausing = false;
    let at_deadline = tokio::time::sleep_until(deadline.end().into());
    tokio::pin!(at_deadline);
    loop {
        if started < n {
            // Decided, interrupted or out of time: the targets whose turn has not come end
            // now — `gave_up` at the deadline ("not attempted before the deadline"),
            // `stopped` when the others decided the run before it.
            let stopped = *stop_rx.borrow();
            let ended = match stopped {
                Some(OutcomeKind::Interrupted) => Some(OutcomeKind::Interrupted),
                _ if deadline.has_passed() => Some(OutcomeKind::GaveUp),
                Some(_) => Some(OutcomeKind::Stopped),
                None => None,
            };
            if let Some(kind) = ended {
                for index in started..n {
                    tally.record(index, not_started(kind, deadline, policy.timeout));
                }
                started = n;
                if let Some(kind) = stop_the_rest(tally.decided, one_shot) {
                    stop(kind);
                }
            }
        }
        if started == n {
            turns
                .all_started
                .send_if_modified(|all| !std::mem::replace(all, true));
            if running.is_empty() {
                break;
            }
        }
        let next = tokio::select! {
            biased;
            () = &mut cancel, if !cancel_done => {
                cancel_done = true;
                tally.decided.get_or_insert(OutcomeKind::Interrupted);
                stop(OutcomeKind::Interrupted);
                continue;
            }
            Some((index, event)) = events.recv(), if !pausing => {
                observer(index, &event.as_event());
                deliver_queued(&mut events, &mut observer);
                batch_pause.as_mut().reset(tokio::time::Instant::now() + EVENT_BATCH);
                pausing = true;
                continue;
            }
            () = &mut batch_pause, if pausing => {
                // Still busy: pause again; quiet: back to waiting for the next event.
                if deliver_queued(&mut events, &mut observer) {
                    batch_pause.as_mut().reset(tokio::time::Instant::now() + EVENT_BATCH);
                } else {
                    pausing = false;
                }
                continue;
            }
            () = &mut at_deadline, if started < n => continue,
            first = turns.permits.clone().acquire_owned(), if started < n => {
                // This turn, and every other one free now.
                let mut first = first.ok();
                while let Some(permit) = first {
                    start(started, permit, &mut running);
                    started += 1;
                    first = (started < n)
                        .then(|| turns.permits.clone().try_acquire_owned().ok())
                        .flatten();
                }
                continue;
            }
            next = running.join_next(), if !running.is_empty() => next,
        };
        // A target's own events come before its result.
        deliver_queued(&mut events, &mut observer);
        let Some(joined) = next else { continue };
        let (index, outcome) = match joined {
            Ok(done) => done,
            // A target's task cannot fail short of a bug; let the bug be seen.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        tally.record(index, outcome);
        // Success or a fail-fast verdict stops the rest at once: they are `stopped`, decided
        // by the others. Giving up is the deadline's doing, not a target's: the rest give up
        // too (each keeping the attempt it has in flight, which ends by the deadline), so
        // alike targets end alike. A one-shot run (`check`) reports every target's attempt,
        // even when the verdict is already known.
        if let Some(kind) = stop_the_rest(tally.decided, one_shot) {
            stop(kind);
        }
    }
    drop(event_tx);
    // Events still queued when the last target ended.
    deliver_queued(&mut events, &mut observer);
    let elapsed = deadline.elapsed();
    let decided = tally.decided;
    let targets = probes
        .iter()
        .zip(tally.outcomes)
        .map(|(probe, outcome)| TargetOutcome {
            target: probe.describe(),
            name: None,
            kind: probe.kind(),
            outcome: outcome.expect("every target's task ran to its end"),
        })
        .collect();
    let kind = decided.unwrap_or(if n == 0 {
        OutcomeKind::Healthy
    } else {
        OutcomeKind::GaveUp
    });
    GroupOutcome {
        kind: if n == 0 { OutcomeKind::Healthy } else { kind },
        elapsed,
        timeout: policy.timeout,
        require,
        targets,
    }
}

/// How the targets still running end, once the run is decided (`None`: they go on).
fn stop_the_rest(decided: Option<OutcomeKind>, one_shot: bool) -> Option<OutcomeKind> {
    match decided? {
        OutcomeKind::Healthy | OutcomeKind::Down => Some(OutcomeKind::Stopped),
        OutcomeKind::FailedFast if !one_shot => Some(OutcomeKind::Stopped),
        OutcomeKind::GaveUp | OutcomeKind::Inconclusive if !one_shot => Some(OutcomeKind::GaveUp),
        _ => None,
    }
}

/// The outcome of a target whose first turn never came.
fn not_started(kind: OutcomeKind, deadline: Deadline, timeout: Duration) -> Outcome {
    Outcome {
        kind,
        elapsed: deadline.elapsed(),
        timeout,
        attempts: Vec::new(),
        attempts_omitted: 0,
        inconclusive: 0,
        omitted_phases: Vec::new(),
    }
}

/// The targets' outcomes so far, and what they decide.
#[derive(Debug)]
struct Tally {
    outcomes: Vec<Option<Outcome>>,
    require: Require,
    needed: usize,
    succeeded: usize,
    failed: usize,
    in_doubt: usize,
    any_failed_fast: bool,
    decided: Option<OutcomeKind>,
}

impl Tally {
    fn record(&mut self, index: usize, outcome: Outcome) {
        let n = self.outcomes.len();
        // No verdict yet, or only "inconclusive", which a conclusive failure overrides.
        let open = matches!(self.decided, None | Some(OutcomeKind::Inconclusive));
        match outcome.kind {
            _ if outcome.is_success() => self.succeeded += 1,
            OutcomeKind::Stopped | OutcomeKind::Interrupted => {}
            // Ended without a verdict because of stillup's own trouble: not a failure of
            // the target, but not a success either.
            OutcomeKind::Inconclusive => self.in_doubt += 1,
            kind => {
                self.failed += 1;
                if kind == OutcomeKind::FailedFast && self.require == Require::All && open {
                    self.decided = Some(OutcomeKind::FailedFast);
                }
            }
        }
        let kind = outcome.kind;
        if kind == OutcomeKind::FailedFast {
            self.any_failed_fast = true;
        }
        self.outcomes[index] = Some(outcome);
        if matches!(self.decided, None | Some(OutcomeKind::Inconclusive)) {
            if self.decided.is_none() && self.succeeded >= self.needed {
                self.decided = Some(kind);
            } else if self.failed > n - self.needed {
                self.decided = Some(if self.any_failed_fast {
                    OutcomeKind::FailedFast
                } else {
                    OutcomeKind::GaveUp
                });
            } else if self.failed + self.in_doubt > n - self.needed {
                // The goal is out of reach only because of targets stillup could not judge.
                self.decided = Some(OutcomeKind::Inconclusive);
            }
        }
    }
}

/// How long events collect before the caller's task is woken to deliver them.
const EVENT_BATCH: Duration = Duration::from_millis(10);

/// Hand every queued event to `observer`; says whether there was any.
fn deliver_queued<F>(
    events: &mut mpsc::UnboundedReceiver<(usize, OwnedEvent)>,
    observer: &mut F,
) -> bool
where
    F: FnMut(usize, &Event<'_>),
{
    let mut any = false;
    while let Ok((index, event)) = events.try_recv() {
        observer(index, &event.as_event());
        any = true;
    }
    any
}

/// An event that can cross from a target's task to the caller's.
#[derive(Debug)]
enum OwnedEvent {
    Started { number: u32, at: Duration },
    Finished(Box<Attempt>),
    Sleeping { next_at: Duration },
}

impl OwnedEvent {
    fn from(event: &Event<'_>) -> Self {
        match event {
            Event::AttemptStarted { number, at } => OwnedEvent::Started {
                number: *number,
                at: *at,
            },
            Event::AttemptFinished(attempt) => OwnedEvent::Finished(Box::new((*attempt).clone())),
            Event::Sleeping { next_at } => OwnedEvent::Sleeping { next_at: *next_at },
        }
    }

    fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Started { number, at } => Event::AttemptStarted {
                number: *number,
                at: *at,
            },
            OwnedEvent::Finished(attempt) => Event::AttemptFinished(attempt),
            OwnedEvent::Sleeping { next_at } => Event::Sleeping { next_at: *next_at },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_attempts_are_shared_out_between_targets() {
        let policy = WaitPolicy::default();
        assert_eq!(kept_attempts_per_target(&policy, 1), 1_000);
        assert_eq!(kept_attempts_per_target(&policy, 1_000), 200);
        assert_eq!(kept_attempts_per_target(&policy, 10_000), MIN_KEPT_ATTEMPTS);
        let few = WaitPolicy {
            max_kept_attempts: 5,
            ..WaitPolicy::default()
        };
        assert_eq!(kept_attempts_per_target(&few, 1), 5);
        assert_eq!(kept_attempts_per_target(&few, 10_000), 5);
    }

    /// A target that refuses at once, forever.
    #[derive(Debug, Clone)]
    struct Refusing;

    impl Prober for Refusing {
        fn probe_once(
            &self,
            _budget: &Deadline,
        ) -> impl Future<Output = crate::probe::ProbeResult> + Send {
            std::future::ready(crate::probe::ProbeResult {
                result: Err(crate::failure::Failure::Refused {
                    addr: "127.0.0.1:1".into(),
                }),
                status: None,
                timings: Default::default(),
                remote: None,
                redirects: 0,
                retry_after: None,
                details: Default::default(),
            })
        }

        fn describe(&self) -> String {
            "tcp://127.0.0.1:1".into()
        }

        fn kind(&self) -> &'static str {
            "tcp"
        }
    }

    /// One attempt in flight at a time, targets that come back at once: still, every target
    /// has its first attempt before any target its second.
    #[tokio::test]
    async fn every_target_has_its_first_turn_before_any_second() {
        let policy = WaitPolicy {
            timeout: Duration::from_millis(300),
            refused_interval: Some(Duration::from_millis(1)),
            max_concurrent_attempts: 1,
            ..WaitPolicy::default()
        };
        let mut starts = Vec::new();
        let group = wait_group(
            &vec![Refusing; 5],
            &policy,
            Require::All,
            |index, event| {
                if let Event::AttemptStarted { number, .. } = event {
                    starts.push((*number, index));
                }
            },
            std::future::pending(),
        )
        .await;
        assert_eq!(group.kind, OutcomeKind::GaveUp);
        let firsts: Vec<usize> = starts
            .iter()
            .take(5)
            .map(|(n, i)| {
                assert_eq!(*n, 1, "{starts:?}");
                *i
            })
            .collect();
        assert_eq!(firsts, [0, 1, 2, 3, 4], "first turns in the order given");
        assert!(starts.len() > 5, "{starts:?}");
        assert!(group.targets.iter().all(|t| t.outcome.attempt_count() >= 2));
    }

    /// The run was decided before some targets had a turn: they are `stopped` (or, at the
    /// deadline, `gave_up`) with no attempt, and nothing was started for them.
    #[tokio::test]
    async fn targets_whose_turn_never_came_end_with_the_run() {
        let policy = WaitPolicy {
            timeout: Duration::from_millis(200),
            max_concurrent_attempts: 1,
            fail_fast: crate::failfast::FailFast::parse("refused").unwrap(),
            ..WaitPolicy::default()
        };
        let group = wait_group(
            &vec![Refusing; 4],
            &policy,
            Require::All,
            |_, _| {},
            std::future::pending(),
        )
        .await;
        assert_eq!(group.kind, OutcomeKind::FailedFast);
        assert_eq!(group.targets[0].outcome.kind, OutcomeKind::FailedFast);
        for t in &group.targets[1..] {
            assert_eq!(t.outcome.kind, OutcomeKind::Stopped);
            assert_eq!(t.outcome.attempt_count(), 0);
        }
    }

    #[test]
    fn needed_counts() {
        assert_eq!(Require::All.needed(3), 3);
        assert_eq!(Require::Any.needed(3), 1);
        assert_eq!(Require::AtLeast(2).needed(3), 2);
        assert_eq!(Require::AtLeast(5).needed(3), 3);
        assert_eq!(Require::Any.needed(0), 0);
    }
}
