//! Several targets in one run: each polled on its own schedule, concurrently, under one
//! deadline, until enough of them reached the goal (all, any, or k of n) or that became
//! impossible.
//!
//! The caller's task schedules the targets (first turns in the order given, then each when its
//! next attempt is due, at most `max_concurrent_attempts` at once), judges each attempt and
//! calls the observer; each attempt runs as a task of its own (a multi-thread runtime spreads
//! them over the cores). A target between attempts is no task, only its state and a place in
//! the schedule. A decision stops the rest promptly: they end with the `stopped` outcome (or
//! `gave_up`, when the run gave up) and keep the attempts they made (the latest ones, when a
//! long run made more than its share of the 200,000 a group keeps).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::deadline::Deadline;
use crate::event::Event;
use crate::probe::{ProbeResult, Prober};
use crate::wait::{Next, Outcome, OutcomeKind, TargetRun, WaitPolicy};

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
/// Each attempt runs as its own task, so a multi-thread runtime spreads thousands of targets
/// over its cores; `observer` runs on the caller's task, which schedules the attempts.
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
    let mut run = Schedule {
        policy: per_target,
        deadline,
        one_shot: policy.max_attempts.is_some(),
        slots: (0..n).map(|_| Slot::NotStarted).collect(),
        tally: Tally {
            n,
            require,
            needed: require.needed(n),
            done: 0,
            succeeded: 0,
            failed: 0,
            in_doubt: 0,
            any_failed_fast: false,
            decided: None,
        },
        started: 0,
        sleeping: BinaryHeap::new(),
        due: VecDeque::new(),
        in_flight: JoinSet::new(),
        stop: None,
    };
    let max_in_flight = policy.max_concurrent_attempts.max(1);
    tokio::pin!(cancel);
    let mut cancel_done = false;
    let timer = tokio::time::sleep_until(deadline.end().into());
    tokio::pin!(timer);
    loop {
        let past = deadline.has_passed();
        if run.stop.is_some() || past {
            run.end_the_waiting(past);
        } else {
            run.take_turns(max_in_flight, &probes, &mut observer);
        }
        if run.tally.done == n {
            break;
        }
        // Past the deadline only attempts in flight remain; each ends by it.
        if !past {
            let wake = run
                .sleeping
                .peek()
                .map_or(deadline.end(), |Reverse((at, _))| (*at).min(deadline.end()));
            timer.as_mut().reset(wake.into());
        }
        tokio::select! {
            biased;
            () = &mut cancel, if !cancel_done => {
                cancel_done = true;
                run.tally.decided.get_or_insert(OutcomeKind::Interrupted);
                run.stop.get_or_insert(OutcomeKind::Interrupted);
            }
            Some(joined) = run.in_flight.join_next(), if !run.in_flight.is_empty() => {
                run.judge(joined, &mut observer);
                // Every other attempt that ended meanwhile, in one wake-up; each freed turn
                // is taken at once, so the attempts in flight never wait for the observer.
                while let Some(joined) = run.in_flight.try_join_next() {
                    run.judge(joined, &mut observer);
                    if run.stop.is_none() && !deadline.has_passed() {
                        run.take_turns(max_in_flight, &probes, &mut observer);
                    }
                }
            }
            () = &mut timer, if !past => {
                let now = Instant::now();
                while let Some(&Reverse((at, index))) = run.sleeping.peek() {
                    if at > now {
                        break;
                    }
                    run.sleeping.pop();
                    run.due.push_back(index);
                }
            }
        }
    }
    let elapsed = deadline.elapsed();
    let decided = run.tally.decided;
    let targets = probes
        .iter()
        .zip(run.slots)
        .map(|(probe, slot)| TargetOutcome {
            target: probe.describe(),
            name: None,
            kind: probe.kind(),
            outcome: match slot {
                Slot::Done(outcome) => outcome,
                _ => unreachable!("every target's run ended"),
            },
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

/// One target's place in a group run.
#[derive(Debug)]
enum Slot {
    /// Its first turn has not come.
    NotStarted,
    /// Between attempts (sleeping or due) or in an attempt.
    Running(TargetRun),
    /// Its part of the run has ended.
    Done(Outcome),
}

/// What an attempt's task hands back: the target, when the attempt started and ended, and
/// what it found.
type Probed = (usize, Instant, Instant, ProbeResult);

/// A group run's state. A target between attempts is no task, only its [`TargetRun`] and an
/// entry in `sleeping` or `due`: a hundred thousand sleeping targets hold a few hundred
/// bytes each, not a task each.
struct Schedule {
    policy: WaitPolicy,
    deadline: Deadline,
    one_shot: bool,
    slots: Vec<Slot>,
    tally: Tally,
    /// Targets given their first turn (in the order given).
    started: usize,
    /// Targets between attempts, by when their next one is due.
    sleeping: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Targets whose next attempt is due, waiting for a turn (first come, first served).
    due: VecDeque<usize>,
    in_flight: JoinSet<Probed>,
    /// How the targets still running end: set once (the first reason wins) when the run is
    /// decided or interrupted.
    stop: Option<OutcomeKind>,
}

impl Schedule {
    /// Turns: first turns in the order given, then the targets that came due, in the order
    /// they did; at most `max_in_flight` attempts at once.
    fn take_turns<P, F>(&mut self, max_in_flight: usize, probes: &Arc<Vec<P>>, observer: &mut F)
    where
        P: Prober + Send + Sync + 'static,
        F: FnMut(usize, &Event<'_>),
    {
        while self.in_flight.len() < max_in_flight {
            let index = if self.started < self.slots.len() {
                self.slots[self.started] = Slot::Running(TargetRun::new(&self.policy));
                self.started += 1;
                self.started - 1
            } else if let Some(index) = self.due.pop_front() {
                index
            } else {
                break;
            };
            self.spawn(index, probes, observer);
        }
    }

    /// Start target `index`'s next attempt as a task of its own.
    fn spawn<P, F>(&mut self, index: usize, probes: &Arc<Vec<P>>, observer: &mut F)
    where
        P: Prober + Send + Sync + 'static,
        F: FnMut(usize, &Event<'_>),
    {
        let Slot::Running(target) = &mut self.slots[index] else {
            unreachable!("only a running target is given a turn")
        };
        // Waiting for a turn is not part of the attempt: its clock starts now.
        let started = Instant::now();
        target.start(started, self.deadline, &mut |event| observer(index, event));
        let budget = Deadline::starting_at(
            started,
            self.deadline
                .budget_at(started, self.policy.attempt_timeout),
        );
        let probes = probes.clone();
        self.in_flight.spawn(async move {
            let probed = probes[index].probe_once(&budget).await;
            (index, started, Instant::now(), probed)
        });
    }

    /// An attempt ended: record it and schedule the target's next one, or end its run.
    fn judge<F>(&mut self, joined: Result<Probed, tokio::task::JoinError>, observer: &mut F)
    where
        F: FnMut(usize, &Event<'_>),
    {
        let (index, started, ended, probed) = match joined {
            Ok(probed) => probed,
            // An attempt's task cannot fail short of a bug; let the bug be seen.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Aborted: its target's run has ended already.
            Err(_) => return,
        };
        let Slot::Running(target) = &mut self.slots[index] else {
            return;
        };
        // The run gave up while this attempt ran: what it found is the target's last word.
        let giving_up = self.stop == Some(OutcomeKind::GaveUp);
        let next = target.judge(
            &self.policy,
            (started, ended),
            self.deadline,
            probed,
            giving_up,
            &mut |event| observer(index, event),
        );
        match next {
            Next::Finish(kind) => self.finish(index, kind),
            Next::At(at) if at > Instant::now() => self.sleeping.push(Reverse((at, index))),
            Next::At(_) => self.due.push_back(index),
        }
    }

    /// End target `index`'s run as `kind`, and stop the others if that decides the run.
    fn finish(&mut self, index: usize, kind: OutcomeKind) {
        let Slot::Running(target) = std::mem::replace(&mut self.slots[index], Slot::NotStarted)
        else {
            unreachable!("only a running target ends")
        };
        self.record(index, target.finish(kind, &self.policy, self.deadline));
    }

    fn record(&mut self, index: usize, outcome: Outcome) {
        self.tally.record(&outcome);
        self.slots[index] = Slot::Done(outcome);
        // Success or a fail-fast verdict stops the rest at once: they are `stopped`, decided
        // by the others. Giving up is the deadline's doing, not a target's: the rest give up
        // too (each keeping the attempt it has in flight, which ends by the deadline), so
        // alike targets end alike. A one-shot run (`check`) reports every target's attempt,
        // even when the verdict is already known.
        if let Some(kind) = stop_the_rest(self.tally.decided, self.one_shot) {
            self.stop.get_or_insert(kind);
        }
    }

    /// Decided, interrupted or out of time: the targets not in an attempt end now, those in
    /// one when it ends (giving up) or at once (stopped, interrupted).
    fn end_the_waiting(&mut self, past: bool) {
        let n = self.slots.len();
        if self.started < n {
            // The targets whose turn has not come: `gave_up` at the deadline ("not attempted
            // before the deadline"), `stopped` when the others decided the run before it.
            let kind = match self.stop {
                Some(OutcomeKind::Interrupted) => OutcomeKind::Interrupted,
                _ if past => OutcomeKind::GaveUp,
                Some(_) => OutcomeKind::Stopped,
                None => unreachable!("called once the run is decided or past its deadline"),
            };
            for index in self.started..n {
                let outcome = not_started(kind, self.deadline, self.policy.timeout);
                self.record(index, outcome);
            }
            self.started = n;
        }
        let kind = self.stop.unwrap_or(OutcomeKind::GaveUp);
        while let Some(Reverse((_, index))) = self.sleeping.pop() {
            self.finish(index, kind);
        }
        while let Some(index) = self.due.pop_front() {
            self.finish(index, kind);
        }
        if kind != OutcomeKind::GaveUp && !self.in_flight.is_empty() {
            // Stopped or interrupted: the attempts in flight are dropped with their tasks.
            self.in_flight = JoinSet::new();
            for index in 0..n {
                if matches!(self.slots[index], Slot::Running(_)) {
                    self.finish(index, kind);
                }
            }
        }
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

/// What the targets' outcomes so far decide.
#[derive(Debug)]
struct Tally {
    n: usize,
    require: Require,
    needed: usize,
    /// Targets whose run has ended.
    done: usize,
    succeeded: usize,
    failed: usize,
    in_doubt: usize,
    any_failed_fast: bool,
    decided: Option<OutcomeKind>,
}

impl Tally {
    fn record(&mut self, outcome: &Outcome) {
        let n = self.n;
        self.done += 1;
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
