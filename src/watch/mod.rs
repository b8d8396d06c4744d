//! `watch`: sample targets at a fixed cadence for a while and measure every outage.
//!
//! "Is it still up?" during a rollout is a different question from "is it up yet?". Samples
//! start on schedule whether or not earlier ones have finished (a bounded number in flight),
//! each with its own timeout; latency is measured from the *intended* start, so a stalled
//! server cannot hide by delaying the samples that would have seen it (coordinated omission).
//! Samples are folded as they complete, in schedule order, into outage windows, a latency
//! histogram and per-class counts. For the charts, a compact 12-byte point per sample is kept,
//! thinned to at most 20,000 per target, so memory stays flat however long the watch runs.

mod latency;
mod outage;
pub mod report;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::watch as signal;

pub use latency::{LatencyRecorder, LatencySummary};
pub use outage::{OutageBuilder, OutagePhase, OutageWindow};

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::probe::Prober;

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
    /// Intended start, from the start of the watch.
    pub intended: Duration,
    /// From the intended start to the answer (or the failure).
    pub latency: Duration,
    /// Failure class, `None` when healthy.
    pub class: Option<&'static str>,
    pub status: Option<u16>,
}

impl SampleRecord {
    pub fn is_healthy(&self) -> bool {
        self.class.is_none()
    }
}

/// One sample as the charts need it: 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartPoint {
    intended_ms: u32,
    latency_us: u32,
    /// 0 when healthy, else 1 + the index of the class in [`Failure::CLASSES`].
    class: u8,
}

impl ChartPoint {
    fn new(record: &SampleRecord) -> Self {
        let class = record
            .class
            .and_then(|c| Failure::CLASSES.iter().position(|k| *k == c))
            .map_or(0, |i| u8::try_from(i + 1).unwrap_or(u8::MAX));
        ChartPoint {
            intended_ms: u32::try_from(record.intended.as_millis()).unwrap_or(u32::MAX),
            latency_us: u32::try_from(record.latency.as_micros()).unwrap_or(u32::MAX),
            class,
        }
    }

    /// Intended start, from the start of the watch (millisecond resolution).
    pub fn intended(&self) -> Duration {
        Duration::from_millis(u64::from(self.intended_ms))
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.latency_us))
    }

    /// Failure class, `None` when healthy.
    pub fn class(&self) -> Option<&'static str> {
        match self.class {
            0 => None,
            n => Failure::CLASSES.get(usize::from(n) - 1).copied(),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.class == 0
    }
}

/// Chart points kept per target before thinning to every other one.
const MAX_CHART_POINTS: usize = 20_000;

/// Everything measured for one target.
#[derive(Debug, Clone)]
pub struct TargetWatch {
    pub target: String,
    pub kind: &'static str,
    /// Samples taken, and how many were healthy.
    pub total: u64,
    pub healthy: u64,
    /// For charts: in schedule order, thinned evenly once there are many.
    pub points: Vec<ChartPoint>,
    pub windows: Vec<OutageWindow>,
    pub latency: LatencySummary,
    /// Failed samples per class.
    pub classes: BTreeMap<&'static str, u64>,
    /// A failure message per class, the first seen, for the report.
    pub examples: BTreeMap<&'static str, String>,
}

impl TargetWatch {
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn healthy(&self) -> u64 {
        self.healthy
    }

    /// Healthy samples over all samples, in percent (100 when there were none).
    pub fn availability(&self) -> f64 {
        match self.total() {
            0 => 100.0,
            total => self.healthy() as f64 * 100.0 / total as f64,
        }
    }

    pub fn downtime(&self) -> Duration {
        self.windows.iter().map(OutageWindow::length).sum()
    }

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
    pub elapsed: Duration,
    /// Ended by the stop future rather than by the duration.
    pub stopped: bool,
    pub targets: Vec<TargetWatch>,
}

/// Watch `probes` under `policy` until the duration passes or `stop` completes.
/// `observer` sees each sample (target index, record, failure) in schedule order.
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
    let end = policy.duration.map(|d| start + d);
    let (stop_tx, stop_rx) = signal::channel(false);
    let observer = RefCell::new(observer);
    let samplers = probes.iter().enumerate().map(|(index, probe)| {
        let observer = &observer;
        sample_target(
            probe,
            policy,
            start,
            end,
            stop_rx.clone(),
            move |record: &SampleRecord, failure: Option<&Failure>| {
                (observer.borrow_mut())(index, record, failure)
            },
        )
    });
    let all = futures_util::future::join_all(samplers);
    tokio::pin!(all);
    tokio::pin!(stop);
    let mut stopped = false;
    let targets = loop {
        tokio::select! {
            biased;
            () = &mut stop, if !stopped => {
                stopped = true;
                let _ = stop_tx.send(true);
            }
            targets = &mut all => break targets,
        }
    };
    WatchOutcome {
        elapsed: start.elapsed(),
        stopped,
        targets,
    }
}

/// One target's sampler: schedule, run, and fold samples in schedule order.
async fn sample_target<P, F>(
    probe: &P,
    policy: &WatchPolicy,
    start: Instant,
    end: Option<Instant>,
    mut stop: signal::Receiver<bool>,
    mut observe: F,
) -> TargetWatch
where
    P: Prober,
    F: FnMut(&SampleRecord, Option<&Failure>),
{
    let interval = Duration::from_secs_f64(1.0 / policy.rate.max(0.001));
    let max_in_flight = policy.max_in_flight.max(1);
    let mut in_flight = FuturesUnordered::new();
    // Samples finish out of order; they are folded in schedule order.
    let mut finished: HashMap<u64, (SampleRecord, Option<Failure>)> = HashMap::new();
    let mut next_to_fold = 0u64;
    let mut next_index = 0u64;
    let mut stopped = false;
    let mut fold = Fold::default();
    loop {
        let intended = start + interval.mul_f64(next_index as f64);
        let schedule_open = !stopped && end.is_none_or(|end| intended < end);
        if !schedule_open && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            changed = stop.changed(), if !stopped => {
                if changed.is_err() || *stop.borrow() {
                    // Interrupted: samples in flight are abandoned, not waited for.
                    stopped = true;
                    in_flight.clear();
                }
            }
            Some((index, record, failure)) = in_flight.next(), if !in_flight.is_empty() => {
                finished.insert(index, (record, failure));
                while let Some((record, failure)) = finished.remove(&next_to_fold) {
                    observe(&record, failure.as_ref());
                    fold.push(record, failure);
                    next_to_fold += 1;
                }
            }
            () = tokio::time::sleep_until(intended.into()), if schedule_open && in_flight.len() < max_in_flight => {
                let index = next_index;
                next_index += 1;
                in_flight.push(one_sample(probe, index, intended, start, policy.sample_timeout));
            }
        }
    }
    fold.finish(label(probe), probe.kind(), start.elapsed())
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

async fn one_sample<P: Prober>(
    probe: &P,
    index: u64,
    intended: Instant,
    start: Instant,
    timeout: Duration,
) -> (u64, SampleRecord, Option<Failure>) {
    let budget = Deadline::after(timeout);
    let probed = probe.probe_once(&budget).await;
    let failure = probed.result.err();
    let record = SampleRecord {
        index,
        intended: intended - start,
        latency: intended.elapsed(),
        class: failure.as_ref().map(Failure::class),
        status: probed.status,
    };
    (index, record, failure)
}

/// The running totals of one target.
#[derive(Debug, Default)]
struct Fold {
    total: u64,
    healthy: u64,
    points: Vec<ChartPoint>,
    /// Keep one chart point in this many samples (doubles at each thinning).
    stride: u64,
    outages: OutageBuilder,
    latency: LatencyRecorder,
    classes: BTreeMap<&'static str, u64>,
    examples: BTreeMap<&'static str, String>,
}

impl Fold {
    fn push(&mut self, record: SampleRecord, failure: Option<Failure>) {
        self.latency.record(record.latency);
        let cause = failure.map(|f| {
            *self.classes.entry(f.class()).or_default() += 1;
            self.examples
                .entry(f.class())
                .or_insert_with(|| crate::redact::redact_url(&f.to_string()));
            (f.class(), f.label())
        });
        self.outages.push(record.intended, cause);
        self.total += 1;
        self.healthy += u64::from(record.is_healthy());
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
        TargetWatch {
            target,
            kind,
            total: self.total,
            healthy: self.healthy,
            points: self.points,
            windows: self.outages.finish(end),
            latency: self.latency.summary(),
            classes: self.classes,
            examples: self.examples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::HttpProbe;
    use crate::target::HttpTarget;
    use crate::testkit::{Behavior, Reply, Script, ScriptedServer};

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
        assert!(target
            .points
            .windows(2)
            .all(|w| w[0].intended() <= w[1].intended()));
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
        assert!(target.availability() < 100.0 && target.availability() > 20.0);
        assert_eq!(
            target.classes.values().sum::<u64>(),
            target.total() - target.healthy()
        );
    }

    #[test]
    fn chart_points_are_compact_and_thinned_evenly() {
        assert!(std::mem::size_of::<ChartPoint>() <= 12);
        let mut fold = Fold::default();
        for index in 0..50_000u64 {
            let record = SampleRecord {
                index,
                intended: Duration::from_millis(index),
                latency: Duration::from_micros(700),
                class: (index % 7 == 0).then_some("refused"),
                status: None,
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
