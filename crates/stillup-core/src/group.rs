//! Several targets in one run: each polled on its own schedule, concurrently, under one
//! deadline, until enough of them reached the goal (all, any, or k of n) or that became
//! impossible.
//!
//! Each target runs as its own task (a multi-thread runtime spreads them over the cores) and
//! reports its events back over a channel; a decision stops the rest promptly: they end with
//! the `stopped` outcome (or `gave_up`, when the run gave up) and keep the attempts they made
//! (the latest ones, when a long run made more than its share of the 200,000 a group keeps).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore, SemaphorePermit};
use tokio::task::JoinSet;

use crate::deadline::Deadline;
use crate::event::Event;
use crate::probe::Prober;
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
    pub outcome: Outcome,
}

/// The result of a group run.
#[derive(Debug, Clone)]
pub struct GroupOutcome {
    /// Success (healthy / down), gave up, failed fast, inconclusive, or interrupted.
    pub kind: OutcomeKind,
    pub elapsed: Duration,
    pub timeout: Duration,
    pub require: Require,
    /// In the order the targets were given.
    pub targets: Vec<TargetOutcome>,
}

impl GroupOutcome {
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
    mut observer: F,
    cancel: C,
) -> GroupOutcome
where
    P: Prober + Clone + Send + Sync + 'static,
    F: FnMut(usize, &Event<'_>),
    C: Future<Output = ()>,
{
    let deadline = Deadline::after(policy.timeout);
    let mut per_target = policy.clone();
    per_target.max_kept_attempts = kept_attempts_per_target(policy, probes.len());
    let shared = Arc::new((
        per_target,
        Turns::new(policy.max_concurrent_attempts, probes.len()),
    ));
    let (stop_tx, stop_rx) = watch::channel(None::<OutcomeKind>);
    let (event_tx, mut events) = mpsc::unbounded_channel::<(usize, OwnedEvent)>();
    let mut running = JoinSet::new();
    for (index, probe) in probes.iter().enumerate() {
        let probe = probe.clone();
        let shared = shared.clone();
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
            let (policy, turns) = &*shared;
            let outcome = run(
                &probe,
                policy,
                deadline,
                Some(turns),
                |event: &Event<'_>| {
                    let _ = events.send((index, OwnedEvent::from(event)));
                },
                stopped,
            )
            .await;
            (index, outcome)
        });
    }
    drop(event_tx);

    let n = probes.len();
    let needed = require.needed(n);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut succeeded = 0;
    let mut failed = 0;
    let mut in_doubt = 0;
    let mut decided: Option<OutcomeKind> = None;
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
    loop {
        let next = tokio::select! {
            biased;
            () = &mut cancel, if !cancel_done => {
                cancel_done = true;
                decided.get_or_insert(OutcomeKind::Interrupted);
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
            next = running.join_next() => next,
        };
        // A target's own events come before its result.
        deliver_queued(&mut events, &mut observer);
        let Some(joined) = next else { break };
        let (index, outcome) = match joined {
            Ok(done) => done,
            // A target's task cannot fail short of a bug; let the bug be seen.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        // No verdict yet, or only "inconclusive", which a conclusive failure overrides.
        let open = matches!(decided, None | Some(OutcomeKind::Inconclusive));
        match outcome.kind {
            _ if outcome.is_success() => succeeded += 1,
            OutcomeKind::Stopped | OutcomeKind::Interrupted => {}
            // Ended without a verdict because of stillup's own trouble: not a failure of
            // the target, but not a success either.
            OutcomeKind::Inconclusive => in_doubt += 1,
            kind => {
                failed += 1;
                if kind == OutcomeKind::FailedFast && require == Require::All && open {
                    decided = Some(OutcomeKind::FailedFast);
                }
            }
        }
        let success_kind = outcome.kind;
        outcomes[index] = Some(outcome);
        if matches!(decided, None | Some(OutcomeKind::Inconclusive)) {
            if decided.is_none() && succeeded >= needed {
                decided = Some(success_kind);
            } else if failed > n - needed {
                decided = Some(if failed_fast(&outcomes) {
                    OutcomeKind::FailedFast
                } else {
                    OutcomeKind::GaveUp
                });
            } else if failed + in_doubt > n - needed {
                // The goal is out of reach only because of targets stillup could not judge.
                decided = Some(OutcomeKind::Inconclusive);
            }
        }
        // Success or a fail-fast verdict stops the rest at once: they are `stopped`, decided
        // by the others. Giving up is the deadline's doing, not a target's: the rest give up
        // too (each keeping the attempt it has in flight, which ends by the deadline), so
        // alike targets end alike. A one-shot run (`check`) reports every target's attempt,
        // even when the verdict is already known.
        let one_shot = policy.max_attempts.is_some();
        match decided {
            Some(OutcomeKind::Healthy | OutcomeKind::Down) => stop(OutcomeKind::Stopped),
            Some(OutcomeKind::FailedFast) if !one_shot => stop(OutcomeKind::Stopped),
            Some(OutcomeKind::GaveUp | OutcomeKind::Inconclusive) if !one_shot => {
                stop(OutcomeKind::GaveUp)
            }
            _ => {}
        }
    }
    // Events still queued when the last target ended.
    deliver_queued(&mut events, &mut observer);
    let targets = probes
        .iter()
        .zip(outcomes)
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
        elapsed: deadline.elapsed(),
        timeout: policy.timeout,
        require,
        targets,
    }
}

/// Whose turn it is to make an attempt: at most `max_in_flight` attempts at once, and no
/// target's second attempt before every target has started its first, so a target late in
/// a long list is never starved by the retries of those before it.
#[derive(Debug)]
pub(crate) struct Turns {
    permits: Semaphore,
    targets: usize,
    first_started: AtomicUsize,
    all_started: watch::Sender<bool>,
}

impl Turns {
    fn new(max_in_flight: usize, targets: usize) -> Turns {
        Turns {
            permits: Semaphore::new(max_in_flight.max(1)),
            targets,
            first_started: AtomicUsize::new(0),
            all_started: watch::Sender::new(targets <= 1),
        }
    }

    /// Wait for the turn of attempt `number` (1-based); the permit ends the turn when dropped.
    /// The semaphore is fair (first come, first served), so first attempts run in the order
    /// their targets asked.
    pub(crate) async fn take(&self, number: u32) -> Option<SemaphorePermit<'_>> {
        if number > 1 {
            let mut all_started = self.all_started.subscribe();
            // The sender lives as long as `self`.
            let _ = all_started.wait_for(|all| *all).await;
        }
        let permit = self.permits.acquire().await.ok();
        if number == 1 && self.first_started.fetch_add(1, Ordering::AcqRel) + 1 >= self.targets {
            self.all_started.send_replace(true);
        }
        permit
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

fn failed_fast(outcomes: &[Option<Outcome>]) -> bool {
    outcomes
        .iter()
        .flatten()
        .any(|o| o.kind == OutcomeKind::FailedFast)
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

    /// No target's second attempt before every target's first, however quick the first
    /// targets are to come back.
    #[tokio::test]
    async fn every_target_has_its_first_turn_before_any_second() {
        let turns = Turns::new(1, 3);
        drop(turns.take(1).await);
        let second = turns.take(2);
        tokio::pin!(second);
        let quick = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(quick, &mut second).await.is_err(),
            "a second attempt before the others' first"
        );
        drop(turns.take(1).await);
        assert!(tokio::time::timeout(quick, &mut second).await.is_err());
        drop(turns.take(1).await);
        assert!(tokio::time::timeout(Duration::from_secs(5), &mut second)
            .await
            .is_ok());
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
