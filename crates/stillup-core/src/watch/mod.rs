//! `watch`: sample targets at a fixed cadence for a while and measure every outage.
//!
//! "Is it still up?" during a rollout is a different question from "is it up yet?". Samples
//! start on schedule whether or not earlier ones have finished (a bounded number in flight),
//! each with its own timeout; latency is measured from the *intended* start, so a stalled
//! server cannot hide by delaying the samples that would have seen it (coordinated omission).
//! Samples are folded as they complete, in schedule order, into outage windows, a latency
//! histogram and per-class counts. For the charts, a compact 12-byte point per sample is kept,
//! thinned to at most 20,000 per target, so memory stays flat however long the watch runs.
//!
//! The watch covers exactly `[0, duration]` (or up to the stop): no sample starts after the
//! end, and one still in flight is given what remains plus [`END_GRACE`]; one still unanswered
//! then had not failed yet, so it is no evidence either way. A sample that started on time stands at its
//! scheduled time; one that started late stands where it actually started. Late because
//! earlier samples to a hung target filled `max_in_flight` is evidence (the target held it
//! back); late because stillup itself lagged (a starved or stopped process) is not: that time
//! is unknown, and a failure of such a sample is *inconclusive*, as is every failure whose
//! cause lies in stillup ([`Failure::is_inconclusive`]). Inconclusive samples count neither
//! for availability, nor for latency, nor as downtime.

mod latency;
mod outage;
pub mod report;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::watch as signal;

pub use latency::{LatencyRecorder, LatencySummary};
pub use outage::{Evidence, Finished, OutageBuilder, OutagePhase, OutageWindow};

use crate::deadline::Deadline;
use crate::failure::{Failure, FailureClass};
use crate::probe::Prober;

/// A sample that starts more than this, and more than one sample period, after it was due,
/// for no reason but stillup's own lag (not held back by `max_in_flight`), started late:
/// stillup was starved or stopped, and a whole period went unobserved. Less is within what
/// sampling at that rate cannot see anyway.
pub const LATE_START: Duration = Duration::from_millis(100);

/// How long a sample still in flight when the watch ends may take to answer.
pub const END_GRACE: Duration = Duration::from_millis(500);

/// Why a sample is no evidence when stillup itself started it late.
pub const LATE_START_REASON: &str = "late_start";

/// Why a sample is no evidence when it was still unanswered at the end of the watch (plus
/// [`END_GRACE`]) and its own timeout had not passed: it had not failed yet.
pub const UNFINISHED_REASON: &str = "unfinished";

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchPolicy {
    /// Samples per second, per target.
    pub rate: f64,
    /// How long to watch; `None` until the stop future completes.
    pub duration: Option<Duration>,
    /// Bound on one sample, from its actual start.
    pub sample_timeout: Duration,
    /// Samples of one target in flight at once; past this, the next sample waits (and its
    /// latency, measured from its intended start, shows the wait).
    pub max_in_flight: usize,
}

impl Default for WatchPolicy {
    fn default() -> Self {
        WatchPolicy {
            rate: 10.0,
            duration: None,
            sample_timeout: Duration::from_secs(2),
            max_in_flight: 64,
        }
    }
}

/// One sample, compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRecord {
    /// Position in the schedule (0-based).
    pub index: u64,
    /// Where the sample stands, from the start of the watch: its scheduled time if it started
    /// on time, else when it actually started.
    pub at: Duration,
    /// When stillup itself started the sample late: when it was due. The time between is
    /// unknown.
    pub lagged_from: Option<Duration>,
    /// From the intended start (or, if stillup lagged, from the actual start plus any time it
    /// was held back by the target) to the answer or the failure.
    pub latency: Duration,
    /// Failure class, `None` when healthy.
    pub class: Option<FailureClass>,
    /// The HTTP status of the response, when one arrived.
    pub status: Option<u16>,
    /// Why the sample is no evidence about the target, if it is not: the class of a failure
    /// inside stillup (`local_limit`), [`LATE_START_REASON`] or [`UNFINISHED_REASON`].
    pub inconclusive: Option<&'static str>,
}

impl SampleRecord {
    /// Whether the sample found the target healthy (and is evidence).
    pub fn is_healthy(&self) -> bool {
        self.class.is_none() && self.inconclusive.is_none()
    }
}

/// One sample as the charts need it: 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartPoint {
    at_ms: u32,
    latency_us: u32,
    /// 0 when healthy, [`INCONCLUSIVE_POINT`] when no evidence, else 1 + the index of the
    /// class in [`FailureClass::ALL`].
    class: u8,
}

const INCONCLUSIVE_POINT: u8 = u8::MAX;

impl ChartPoint {
    /// The chart point of `record` (public so that reports can be tested with many points).
    pub fn new(record: &SampleRecord) -> Self {
        let class = if record.inconclusive.is_some() {
            INCONCLUSIVE_POINT
        } else {
            record
                .class
                .and_then(|c| FailureClass::ALL.iter().position(|k| *k == c))
                .map_or(0, |i| u8::try_from(i + 1).unwrap_or(INCONCLUSIVE_POINT - 1))
        };
        ChartPoint {
            at_ms: u32::try_from(record.at.as_millis()).unwrap_or(u32::MAX),
            latency_us: u32::try_from(record.latency.as_micros()).unwrap_or(u32::MAX),
            class,
        }
    }

    /// Where the sample stands, from the start of the watch (millisecond resolution).
    pub fn at(&self) -> Duration {
        Duration::from_millis(u64::from(self.at_ms))
    }

    /// The sample's latency (microsecond resolution, capped at about 71 minutes).
    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.latency_us))
    }

    /// Failure class, `None` when healthy; `"inconclusive"` for a sample that is no evidence.
    pub fn class(&self) -> Option<&'static str> {
        match self.class {
            0 => None,
            INCONCLUSIVE_POINT => Some("inconclusive"),
            n => FailureClass::ALL
                .get(usize::from(n) - 1)
                .map(|c| c.as_str()),
        }
    }

    /// Whether the sample found the target healthy.
    pub fn is_healthy(&self) -> bool {
        self.class == 0
    }

    /// Whether the sample is no evidence about the target (stillup's own trouble).
    pub fn is_inconclusive(&self) -> bool {
        self.class == INCONCLUSIVE_POINT
    }
}

/// Chart points kept per target before thinning to every other one.
const MAX_CHART_POINTS: usize = 20_000;

/// Distinct causes kept per target; further ones count under their class as [`OTHER_CAUSE`].
/// Labels of JSON conditions carry the value found, so a server could make many.
pub const MAX_CAUSES: usize = 32;

/// The label under which causes past [`MAX_CAUSES`] are counted.
pub const OTHER_CAUSE: &str = "other";

/// Failed samples of one cause: a class split by what the failure looked like, so that
/// `HTTP 503` and `HTTP 502` (both `http_status`) are told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The failure class.
    pub class: &'static str,
    /// What the failure looked like ([`Failure::label`]: `HTTP 503`), credentials removed;
    /// [`OTHER_CAUSE`] for those past [`MAX_CAUSES`].
    pub label: String,
    /// Conclusive failed samples with this cause.
    pub samples: u64,
    /// The first failure message seen with this cause, credentials removed.
    pub example: String,
}

/// Everything measured for one target.
#[derive(Debug, Clone)]
pub struct TargetWatch {
    /// The target as the probe describes it (credentials removed), with ` (keep-alive)` when
    /// its probe reuses connections ([`label`]).
    pub target: String,
    /// `http`, `tcp` or `grpc`.
    pub kind: &'static str,
    /// Samples counted (inconclusive ones included), how many were healthy, and how many were
    /// no evidence either way.
    pub total: u64,
    /// Healthy samples.
    pub healthy: u64,
    /// Samples that are no evidence either way.
    pub inconclusive: u64,
    /// Inconclusive samples per reason (`local_limit`, `late_start`).
    pub inconclusive_reasons: BTreeMap<&'static str, u64>,
    /// Time covered by no evidence, and in how many separate stretches.
    pub unknown: Duration,
    /// Separate stretches of unknown time: each could have hidden one outage.
    pub unknown_runs: u64,
    /// For charts: in schedule order, thinned evenly once there are many.
    pub points: Vec<ChartPoint>,
    /// The outage windows, oldest first.
    pub windows: Vec<OutageWindow>,
    /// Of conclusive samples only.
    pub latency: LatencySummary,
    /// Failed samples per class (conclusive ones).
    pub classes: BTreeMap<&'static str, u64>,
    /// A failure message per class, the first seen, for the report.
    pub examples: BTreeMap<&'static str, String>,
    /// Failed samples per cause (conclusive ones), in the order each cause was first seen;
    /// at most [`MAX_CAUSES`] plus one [`OTHER_CAUSE`] per class.
    pub causes: Vec<Cause>,
}

impl TargetWatch {
    /// Samples counted, inconclusive ones included.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Healthy samples.
    pub fn healthy(&self) -> u64 {
        self.healthy
    }

    /// Samples that are evidence about the target, healthy or not.
    pub fn conclusive(&self) -> u64 {
        self.total - self.inconclusive
    }

    /// Healthy samples over conclusive samples, in percent; `None` without any conclusive
    /// sample (100 when there were no samples at all).
    pub fn availability(&self) -> Option<f64> {
        match (self.total, self.conclusive()) {
            (0, _) => Some(100.0),
            (_, 0) => None,
            (_, conclusive) => Some(self.healthy as f64 * 100.0 / conclusive as f64),
        }
    }

    /// Known downtime, summed over the windows (gaps without evidence not counted).
    pub fn downtime(&self) -> Duration {
        self.windows.iter().map(OutageWindow::length).sum()
    }

    /// The longest window's known downtime; zero without an outage.
    pub fn longest_outage(&self) -> Duration {
        self.windows
            .iter()
            .map(OutageWindow::length)
            .max()
            .unwrap_or_default()
    }
}

/// The result of a watch.
#[derive(Debug, Clone)]
pub struct WatchOutcome {
    /// The wall-clock time the watch started, read next to its monotonic start: every
    /// offset in the outcome counts from here (reports print wall-clock times with it; the
    /// offsets themselves are measured on the monotonic clock, so a clock step moves none).
    pub started_at: SystemTime,
    /// The time the watch covers: the duration, or up to the stop.
    pub elapsed: Duration,
    /// Ended by the stop future rather than by the duration.
    pub stopped: bool,
    /// Each target's measurements, in the order the probes were given.
    pub targets: Vec<TargetWatch>,
}

/// Watch `probes` under `policy` until the duration passes or `stop` completes.
/// `observer` sees each counted sample (target index, record, failure) in schedule order.
pub async fn watch<P, F, S>(
    probes: &[P],
    policy: &WatchPolicy,
    observer: F,
    stop: S,
) -> WatchOutcome
where
    P: Prober,
    F: FnMut(usize, &SampleRecord, Option<&Failure>),
    S: Future<Output = ()>,
{
    let start = Instant::now();
    let started_at = SystemTime::now();
    let end = policy.duration.map(|d| start + d);
    let (stop_tx, stop_rx) = signal::channel(None::<Instant>);
    let observer = RefCell::new(observer);
    let samplers = probes.iter().enumerate().map(|(index, probe)| {
        let observer = &observer;
        sample_target(
            probe,
            policy,
            Schedule { start, end },
            stop_rx.clone(),
            move |record: &SampleRecord, failure: Option<&Failure>| {
                (observer.borrow_mut())(index, record, failure)
            },
        )
    });
    let all = futures_util::future::join_all(samplers);
    tokio::pin!(all);
    tokio::pin!(stop);
    let mut stopped_at = None;
    let targets = loop {
        tokio::select! {
            biased;
            () = &mut stop, if stopped_at.is_none() => {
                let now = Instant::now();
                // A stop after the duration changes nothing: the watch already covered it.
                if end.is_none_or(|end| now < end) {
                    stopped_at = Some(now);
                    let _ = stop_tx.send(Some(now));
                } else {
                    stopped_at = end;
                }
            }
            targets = &mut all => break targets,
        }
    };
    // The last sample stands for its period up to the end: the watch lasts until then (a
    // stop meanwhile ends it early, but the samples already cover that time).
    let mut stopped_in_last_period = false;
    if let (None, Some(end)) = (stopped_at, end) {
        tokio::select! {
            () = &mut stop => stopped_in_last_period = Instant::now() < end,
            () = tokio::time::sleep_until(end.into()) => {}
        }
    }
    let covered_until = match (stopped_at, end) {
        (Some(stop), Some(end)) => stop.min(end),
        (Some(stop), None) => stop,
        (None, Some(end)) => end,
        (None, None) => Instant::now(),
    };
    WatchOutcome {
        started_at,
        elapsed: covered_until.saturating_duration_since(start),
        stopped: stopped_in_last_period
            || stopped_at.is_some_and(|stop| end.is_none_or(|end| stop < end)),
        targets,
    }
}

/// When the watch started and when it ends (if it has a duration).
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    end: Option<Instant>,
}

/// One target's sampler: schedule, run, and fold samples in schedule order.
async fn sample_target<P, F>(
    probe: &P,
    policy: &WatchPolicy,
    schedule: Schedule,
    mut stop: signal::Receiver<Option<Instant>>,
    mut observe: F,
) -> TargetWatch
where
    P: Prober,
    F: FnMut(&SampleRecord, Option<&Failure>),
{
    let Schedule { start, end } = schedule;
    let interval = Duration::from_secs_f64(1.0 / policy.rate.max(0.001));
    let max_in_flight = policy.max_in_flight.max(1);
    let late_after = LATE_START.max(interval);
    let mut in_flight = FuturesUnordered::new();
    // Samples finish out of order; they are folded in schedule order.
    let mut finished: BTreeMap<u64, (SampleRecord, Option<Failure>)> = BTreeMap::new();
    let mut next_to_fold = 0u64;
    let mut next_index = 0u64;
    let mut stopped_at: Option<Instant> = None;
    let mut schedule_closed = false;
    // Set when stillup itself woke up too late to take the last slots before the end: from
    // when the first of them was due, nobody looked.
    let mut missed_from: Option<Duration> = None;
    // When `max_in_flight` last stopped being full: a sample due before then was held back
    // by the target's hung samples, not by stillup.
    let mut freed_at: Option<Instant> = None;
    let mut fold = Fold::default();
    loop {
        let intended = start + interval.mul_f64(next_index as f64);
        let schedule_open =
            !schedule_closed && stopped_at.is_none() && end.is_none_or(|end| intended < end);
        if !schedule_open && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            changed = stop.changed(), if stopped_at.is_none() => {
                let at = match changed {
                    Ok(()) => *stop.borrow(),
                    Err(_) => Some(Instant::now()),
                };
                if let Some(at) = at {
                    // Interrupted: samples in flight are abandoned, not waited for.
                    stopped_at = Some(at);
                    in_flight.clear();
                }
            }
            Some((index, record, failure)) = in_flight.next(), if !in_flight.is_empty() => {
                if in_flight.len() + 1 == max_in_flight {
                    freed_at = Some(Instant::now());
                }
                finished.insert(index, (record, failure));
                while let Some((record, failure)) = finished.remove(&next_to_fold) {
                    observe(&record, failure.as_ref());
                    fold.push(record, failure);
                    next_to_fold += 1;
                }
            }
            () = tokio::time::sleep_until(intended.into()), if schedule_open && in_flight.len() < max_in_flight => {
                let now = Instant::now();
                if end.is_some_and(|end| now >= end) {
                    // Past the end: the watch is over, this sample is not taken. Held back by
                    // the target, the samples in flight cover the time; else stillup lagged.
                    let due = freed_at.filter(|f| *f > intended).unwrap_or(intended);
                    if now.saturating_duration_since(due) > late_after {
                        missed_from = Some(due - start);
                    }
                    schedule_closed = true;
                    continue;
                }
                let index = next_index;
                next_index += 1;
                let timing = Timing::of(
                    start,
                    intended,
                    freed_at,
                    now,
                    end,
                    policy.sample_timeout,
                    late_after,
                );
                in_flight.push(one_sample(probe, index, timing));
            }
        }
    }
    // Samples that finished after one abandoned at a stop: still evidence, in order.
    for (record, failure) in finished.into_values() {
        observe(&record, failure.as_ref());
        fold.push(record, failure);
    }
    let covered_until = match (stopped_at, end) {
        (Some(stop), Some(end)) => stop.min(end),
        (Some(stop), None) => stop,
        (None, Some(end)) => end,
        (None, None) => Instant::now(),
    };
    if let Some(from) = missed_from {
        fold.outages.push(from, Evidence::Unknown);
    }
    fold.finish(
        label(probe),
        probe.kind(),
        covered_until.saturating_duration_since(start),
    )
}

/// How a watch names a target: a watch may sample one URL both ways (`--keep-alive both`),
/// so the one that reuses connections says so.
pub fn label<P: Prober + ?Sized>(probe: &P) -> String {
    if probe.reuses_connections() {
        format!("{} (keep-alive)", probe.describe())
    } else {
        probe.describe()
    }
}

/// When one sample was meant to start, when it did, and what it may take.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Where the sample stands, from the start of the watch.
    at: Duration,
    /// Set when stillup itself started it late: when it was due, from the start of the watch.
    lagged_from: Option<Duration>,
    /// Latency counts from this instant.
    latency_from: Instant,
    started: Instant,
    /// The sample's own bound, cut to what remains of the watch plus [`END_GRACE`].
    budget: Duration,
    /// Whether the end of the watch cut the budget.
    cut: bool,
}

impl Timing {
    fn of(
        start: Instant,
        intended: Instant,
        freed_at: Option<Instant>,
        started: Instant,
        end: Option<Instant>,
        sample_timeout: Duration,
        late_after: Duration,
    ) -> Timing {
        // Due when scheduled, or when a slot freed up if the target's samples held it back.
        let due = freed_at.filter(|f| *f > intended).unwrap_or(intended);
        let lagged = started.saturating_duration_since(due) > late_after;
        let on_time = due == intended && !lagged;
        let (budget, cut) = match end {
            Some(end) => {
                let left = (end + END_GRACE).saturating_duration_since(started);
                (sample_timeout.min(left), left < sample_timeout)
            }
            None => (sample_timeout, false),
        };
        Timing {
            at: (if on_time { intended } else { started }) - start,
            lagged_from: lagged.then(|| due - start),
            // Time held back by the target counts; time stillup lagged does not.
            latency_from: if lagged {
                started - (due - intended)
            } else {
                intended
            },
            started,
            budget,
            cut,
        }
    }
}

type Sample = (u64, SampleRecord, Option<Failure>);

async fn one_sample<P: Prober>(probe: &P, index: u64, timing: Timing) -> Sample {
    let budget = Deadline::starting_at(timing.started, timing.budget);
    let unfinished = SampleRecord {
        index,
        at: timing.at,
        lagged_from: timing.lagged_from,
        latency: Duration::ZERO,
        class: None,
        status: None,
        inconclusive: Some(UNFINISHED_REASON),
    };
    let probed = if timing.cut {
        // The watch is ending: a probe that overran its budget is not waited for.
        match tokio::time::timeout_at(
            (budget.end() + LATE_START).into(),
            probe.probe_once(&budget),
        )
        .await
        {
            Ok(probed) => probed,
            Err(_) => return (index, unfinished, None),
        }
    } else {
        probe.probe_once(&budget).await
    };
    let failure = probed.result.err();
    if failure.is_some()
        && timing.cut
        && timing.started.elapsed() + Duration::from_millis(1) >= timing.budget
    {
        // Cut short by the end of the watch: by its own timeout it had not failed yet.
        return (index, unfinished, None);
    }
    let inconclusive = match &failure {
        Some(f) if f.is_inconclusive() => Some(f.class().as_str()),
        Some(_) if timing.lagged_from.is_some() => Some(LATE_START_REASON),
        _ => None,
    };
    let record = SampleRecord {
        index,
        at: timing.at,
        lagged_from: timing.lagged_from,
        latency: timing.latency_from.elapsed(),
        class: failure.as_ref().map(Failure::class),
        status: probed.status,
        inconclusive,
    };
    (index, record, failure)
}

/// The running totals of one target.
#[derive(Debug, Default)]
struct Fold {
    total: u64,
    healthy: u64,
    inconclusive: u64,
    inconclusive_reasons: BTreeMap<&'static str, u64>,
    points: Vec<ChartPoint>,
    /// Keep one chart point in this many samples (doubles at each thinning).
    stride: u64,
    outages: OutageBuilder,
    latency: LatencyRecorder,
    classes: BTreeMap<&'static str, u64>,
    examples: BTreeMap<&'static str, String>,
    causes: Vec<Cause>,
}

impl Fold {
    /// Count a conclusive failure under its cause.
    fn count_cause(&mut self, failure: &Failure) {
        let class = failure.class().as_str();
        let label = crate::redact::redact_url(&failure.label());
        if let Some(cause) = self
            .causes
            .iter_mut()
            .find(|c| c.class == class && c.label == label)
        {
            cause.samples += 1;
            return;
        }
        let label = if self.causes.len() < MAX_CAUSES {
            label
        } else {
            OTHER_CAUSE.to_string()
        };
        if let Some(other) = self
            .causes
            .iter_mut()
            .find(|c| c.class == class && c.label == label)
        {
            other.samples += 1;
            return;
        }
        self.causes.push(Cause {
            class,
            label,
            samples: 1,
            example: crate::redact::redact_url(&failure.to_string()),
        });
    }

    fn push(&mut self, record: SampleRecord, failure: Option<Failure>) {
        if let Some(due) = record.lagged_from {
            // Nobody looked between when the sample was due and when it started.
            self.outages.push(due, Evidence::Unknown);
        }
        self.total += 1;
        match record.inconclusive {
            Some(reason) => {
                self.inconclusive += 1;
                *self.inconclusive_reasons.entry(reason).or_default() += 1;
                if let Some(f) = failure.filter(Failure::is_inconclusive) {
                    self.examples
                        .entry(f.class().as_str())
                        .or_insert_with(|| crate::redact::redact_url(&f.to_string()));
                }
                self.outages.push(record.at, Evidence::Unknown);
            }
            None => {
                self.latency.record(record.latency);
                self.healthy += u64::from(record.is_healthy());
                let evidence = match failure {
                    None => Evidence::Up,
                    Some(f) => {
                        *self.classes.entry(f.class().as_str()).or_default() += 1;
                        self.count_cause(&f);
                        self.examples
                            .entry(f.class().as_str())
                            .or_insert_with(|| crate::redact::redact_url(&f.to_string()));
                        Evidence::Down(f.class().as_str(), f.label())
                    }
                };
                self.outages.push(record.at, evidence);
            }
        }
        let stride = self.stride.max(1);
        if record.index.is_multiple_of(stride) {
            self.points.push(ChartPoint::new(&record));
            if self.points.len() >= MAX_CHART_POINTS {
                // Keep every other point: the chart loses detail, memory stays bounded.
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = stride * 2;
            }
        }
    }

    fn finish(self, target: String, kind: &'static str, end: Duration) -> TargetWatch {
        let finished = self.outages.finish(end);
        TargetWatch {
            target,
            kind,
            total: self.total,
            healthy: self.healthy,
            inconclusive: self.inconclusive,
            inconclusive_reasons: self.inconclusive_reasons,
            unknown: finished.unknown,
            unknown_runs: finished.unknown_runs,
            points: self.points,
            windows: finished.windows,
            latency: self.latency.summary(),
            classes: self.classes,
            examples: self.examples,
            causes: self.causes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::HttpProbe;
    use crate::target::HttpTarget;
    use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

    #[tokio::test]
    async fn an_outage_of_known_length_is_measured_within_a_sample_period_or_so() {
        // Healthy, then 600 ms refused and 400 ms of 502, then healthy again.
        let server = ScriptedServer::start(
            Script::new()
                .then_for(
                    Duration::from_millis(300),
                    Behavior::Respond(Reply::status(200)),
                )
                .then_for(Duration::from_millis(600), Behavior::Refuse)
                .then_for(
                    Duration::from_millis(400),
                    Behavior::Respond(Reply::status(502)),
                )
                .forever(Behavior::Respond(Reply::status(200))),
        )
        .await
        .unwrap();
        let probe = HttpProbe::new(HttpTarget::parse(&server.url("/")).unwrap());
        let policy = WatchPolicy {
            rate: 20.0,
            duration: Some(Duration::from_millis(2_000)),
            sample_timeout: Duration::from_secs(1),
            max_in_flight: 8,
        };
        let mut seen = 0;
        let outcome = watch(
            &[probe],
            &policy,
            |_, _, _| seen += 1,
            std::future::pending(),
        )
        .await;
        let target = &outcome.targets[0];
        assert_eq!(seen as u64, target.total());
        assert_eq!(target.points.len() as u64, target.total());
        assert!(target.points.windows(2).all(|w| w[0].at() <= w[1].at()));
        assert_eq!(target.windows.len(), 1, "{:?}", target.windows);
        let window = &target.windows[0];
        let classes: Vec<_> = window.phases.iter().map(|p| p.class).collect();
        // A listener that stops listening may reset a connection caught in its backlog.
        let expected = classes
            .iter()
            .filter(|c| **c != "reset")
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(
            expected,
            ["refused", "http_status"],
            "{:?}",
            target.examples
        );
        // 1 s of scripted outage; the machine is noisy, so allow several sample periods.
        let length = window.length().as_millis();
        assert!((800..=1_300).contains(&length), "measured {length} ms");
        let availability = target.availability().unwrap();
        assert!(availability < 100.0 && availability > 20.0);
        assert_eq!(
            target.classes.values().sum::<u64>(),
            target.total() - target.healthy()
        );
    }

    #[test]
    fn a_sample_stands_where_it_started_unless_it_started_on_time() {
        let start = Instant::now();
        let at = |n: u64| start + Duration::from_millis(n);
        let ms = Duration::from_millis;
        let late_after = LATE_START.max(ms(50));
        let timeout = Duration::from_secs(3);
        // A little late is on time: at its scheduled time, latency from then.
        let t = Timing::of(start, at(1000), None, at(1030), None, timeout, late_after);
        assert_eq!(
            (t.at, t.lagged_from, t.latency_from),
            (ms(1000), None, at(1000))
        );
        // Held back by the target's own samples until 1800: evidence, where it started, and
        // the wait shows in its latency.
        let t = Timing::of(
            start,
            at(1000),
            Some(at(1800)),
            at(1805),
            None,
            timeout,
            late_after,
        );
        assert_eq!(
            (t.at, t.lagged_from, t.latency_from),
            (ms(1805), None, at(1000))
        );
        // A slot freed before it was due does not excuse lateness: stillup lagged. Where it
        // started, the lag unknown, and not in the latency.
        let t = Timing::of(
            start,
            at(1000),
            Some(at(900)),
            at(1500),
            None,
            timeout,
            late_after,
        );
        assert_eq!(
            (t.at, t.lagged_from, t.latency_from),
            (ms(1500), Some(ms(1000)), at(1500))
        );
        // Near the end of the watch: what remains plus the grace, not the whole timeout.
        let t = Timing::of(
            start,
            at(1000),
            None,
            at(1000),
            Some(at(2000)),
            timeout,
            late_after,
        );
        assert_eq!((t.budget, t.cut), (ms(1000) + END_GRACE, true));
        let t = Timing::of(
            start,
            at(0),
            None,
            at(0),
            Some(at(9000)),
            timeout,
            late_after,
        );
        assert_eq!((t.budget, t.cut), (timeout, false));
    }

    #[test]
    fn chart_points_are_compact_and_thinned_evenly() {
        assert!(std::mem::size_of::<ChartPoint>() <= 12);
        let mut fold = Fold::default();
        for index in 0..50_000u64 {
            let record = SampleRecord {
                index,
                at: Duration::from_millis(index),
                lagged_from: None,
                latency: Duration::from_micros(700),
                class: (index % 7 == 0).then_some(FailureClass::Refused),
                status: None,
                inconclusive: None,
            };
            let failure = record.class.map(|_| Failure::Refused { addr: "x".into() });
            fold.push(record, failure);
        }
        assert_eq!(fold.total, 50_000);
        assert!(fold.points.len() < MAX_CHART_POINTS);
        assert!(fold.points.len() > MAX_CHART_POINTS / 4);
        assert_eq!(fold.points[0].class(), Some("refused"));
        assert_eq!(fold.points[0].latency(), Duration::from_micros(700));
    }

    #[test]
    fn failures_are_counted_per_cause_and_past_the_cap_under_other() {
        let mut fold = Fold::default();
        let mut push = |index: u64, status: u16| {
            let record = SampleRecord {
                index,
                at: Duration::from_millis(index),
                lagged_from: None,
                latency: Duration::from_millis(1),
                class: Some(FailureClass::HttpStatus),
                status: Some(status),
                inconclusive: None,
            };
            let failure = Failure::HttpStatus {
                status,
                expected: "2xx".into(),
            };
            fold.push(record, Some(failure));
        };
        // 503 three times, 502 twice, then more distinct statuses than the cap.
        for (index, status) in [503, 502, 503, 502, 503].into_iter().enumerate() {
            push(index as u64, status);
        }
        for n in 0..(MAX_CAUSES as u16 + 5) {
            push(100 + u64::from(n), 400 + n);
        }
        let count = |label: &str| {
            fold.causes
                .iter()
                .find(|c| c.label == label)
                .map(|c| (c.class, c.samples))
        };
        assert_eq!(count("HTTP 503"), Some(("http_status", 3)));
        assert_eq!(count("HTTP 502"), Some(("http_status", 2)));
        assert_eq!(fold.causes.len(), MAX_CAUSES + 1);
        assert_eq!(count(OTHER_CAUSE).map(|(_, n)| n), Some(7));
        assert_eq!(
            fold.causes.iter().map(|c| c.samples).sum::<u64>(),
            fold.classes["http_status"]
        );
        assert!(
            fold.causes[0].example.contains("503"),
            "{:?}",
            fold.causes[0]
        );
    }

    #[tokio::test]
    async fn stopping_ends_the_watch_promptly() {
        let server = ScriptedServer::start(Script::new().forever(Behavior::Hang))
            .await
            .unwrap();
        let probe = HttpProbe::new(HttpTarget::parse(&server.url("/")).unwrap());
        let policy = WatchPolicy {
            rate: 10.0,
            duration: None,
            sample_timeout: Duration::from_secs(30),
            max_in_flight: 4,
        };
        let started = Instant::now();
        let stop = tokio::time::sleep(Duration::from_millis(300));
        let outcome = watch(&[probe], &policy, |_, _, _| {}, stop).await;
        assert!(outcome.stopped);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
