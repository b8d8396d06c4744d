//! A run's outcome as a page of metrics, for node_exporter's textfile collector, Pushgateway
//! and `--output openmetrics`: what `wait`, `check` and `watch` found, under names that start
//! with `stillup_`. Owns the metric names (the README's table lists them) and their labels;
//! the text rules of the two formats are `openmetrics.rs`'s.
//!
//! Every value is of the last run, so every family is a gauge (or an info metric): a file
//! rewritten by each run holds no counter that only grows. Labels are the target as the
//! JSON output shows it (credentials and sensitive query values removed), its kind, its
//! `[targets.NAME]` when it has one, and stable words (failure classes, outcomes) — never
//! a message, whose durations and ports would make a new series at every run.

use std::time::SystemTime;

use stillup_core::redact::redact_url;
use stillup_core::watch::report::{LatencyReport, TargetWatchReport, Verdict, WatchReport};
use stillup_core::{GroupOutcome, TargetOutcome, Until};

use super::openmetrics::{Exposition, Flavor, MetricType};

/// Seconds since the Unix epoch, with milliseconds.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// Seconds from the reports' milliseconds, to the microsecond (`2.073` ms is `0.002073`, not
/// `0.0020729999999999998`).
fn seconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1_000_000.0
}

/// The families every command writes about the run as a whole.
struct Run<'a> {
    command: &'a str,
    /// `healthy`, `gave_up`, … for wait and check; the verdict for watch.
    outcome: &'a str,
    until: Option<&'a str>,
    success: bool,
    exit_code: u8,
    duration_seconds: f64,
    ended_at: SystemTime,
}

fn run_families(page: &mut Exposition, run: &Run<'_>) {
    let info = page.family(
        "stillup_run",
        MetricType::Info,
        "The command and how the run ended (outcome: the JSON output's outcome for wait and check, the verdict for watch).",
    );
    let mut labels = vec![("command", run.command), ("outcome", run.outcome)];
    if let Some(until) = run.until {
        labels.push(("until", until));
    }
    page.sample(&info, &labels, 1.0);
    page.single(
        "stillup_run_success",
        MetricType::Gauge,
        "1 when the run reached its goal (exit code 0), else 0.",
        f64::from(u8::from(run.success)),
    );
    page.single(
        "stillup_run_exit_code",
        MetricType::Gauge,
        "The exit code of the run (of wait or check before any -- COMMAND runs).",
        f64::from(run.exit_code),
    );
    page.single(
        "stillup_run_duration_seconds",
        MetricType::Gauge,
        "From the start of the run to its end.",
        run.duration_seconds,
    );
    page.single(
        "stillup_run_end_timestamp_seconds",
        MetricType::Gauge,
        "When the run ended, in seconds since the Unix epoch.",
        unix_seconds(run.ended_at),
    );
}

/// The labels that name one target of `wait` or `check`.
fn target_labels(target: &TargetOutcome) -> Vec<(&'static str, String)> {
    let mut labels = vec![
        ("target", redact_url(&target.target)),
        ("kind", target.kind.to_string()),
    ];
    if let Some(name) = &target.name {
        labels.push(("name", name.clone()));
    }
    labels
}

fn borrowed<'a>(labels: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The page of a `wait` or `check` run that waited `until` and ended as `group`, with
/// `exit_code`, at `ended_at`.
pub fn run_page(
    flavor: Flavor,
    command: &str,
    until: Until,
    group: &GroupOutcome,
    exit_code: u8,
    ended_at: SystemTime,
) -> String {
    let mut page = Exposition::new(flavor);
    run_families(
        &mut page,
        &Run {
            command,
            outcome: group.kind.as_str(),
            until: Some(match until {
                Until::Healthy => "healthy",
                Until::Down => "down",
            }),
            success: group.is_success(),
            exit_code,
            duration_seconds: group.elapsed.as_secs_f64(),
            ended_at,
        },
    );
    page.single(
        "stillup_run_timeout_seconds",
        MetricType::Gauge,
        "The run's overall deadline (check: the attempt timeout).",
        group.timeout.as_secs_f64(),
    );
    page.single(
        "stillup_run_targets",
        MetricType::Gauge,
        "Targets in the run.",
        group.targets.len() as f64,
    );
    page.single(
        "stillup_run_targets_required",
        MetricType::Gauge,
        "Targets that had to reach the goal (--any, --require).",
        group.require.needed(group.targets.len()) as f64,
    );
    let labels: Vec<Vec<(&'static str, String)>> =
        group.targets.iter().map(target_labels).collect();
    let per_target = |page: &mut Exposition,
                      name: &str,
                      help: &str,
                      value: &dyn Fn(&TargetOutcome) -> Option<f64>| {
        // A family without a sample would only be noise.
        if group.targets.iter().all(|t| value(t).is_none()) {
            return;
        }
        let sample = page.family(name, MetricType::Gauge, help);
        for (target, labels) in group.targets.iter().zip(&labels) {
            if let Some(value) = value(target) {
                page.sample(&sample, &borrowed(labels), value);
            }
        }
    };
    per_target(
        &mut page,
        "stillup_target_healthy",
        "1 when the target ended healthy, else 0.",
        &|t| Some(f64::from(u8::from(t.outcome.is_healthy()))),
    );
    per_target(
        &mut page,
        "stillup_target_attempts",
        "Attempts made on the target.",
        &|t| Some(f64::from(t.outcome.attempt_count())),
    );
    per_target(
        &mut page,
        "stillup_target_elapsed_seconds",
        "From the start of the run to the end of the target's part.",
        &|t| Some(t.outcome.elapsed.as_secs_f64()),
    );
    per_target(
        &mut page,
        "stillup_target_http_status_code",
        "The HTTP status of the last response; absent when none arrived.",
        &|t| {
            t.outcome
                .attempts
                .iter()
                .rev()
                .find_map(|a| a.status())
                .map(f64::from)
        },
    );
    fn failed(t: &TargetOutcome) -> Option<&stillup_core::Failure> {
        (!t.outcome.is_healthy())
            .then(|| t.outcome.last_failure())
            .flatten()
    }
    if group.targets.iter().any(|t| failed(t).is_some()) {
        let failure = page.family(
            "stillup_target_failure",
            MetricType::Info,
            "Why the target's last failed attempt failed, as its stable failure class; absent when the target ended healthy.",
        );
        for (target, labels) in group.targets.iter().zip(&labels) {
            if let Some(last) = failed(target) {
                let mut labels = borrowed(labels);
                labels.push(("class", last.class().as_str()));
                page.sample(&failure, &labels, 1.0);
            }
        }
    }
    page.finish()
}

/// One latency figure of a watch's report, in milliseconds.
type Percentile = fn(&LatencyReport) -> f64;

/// The page of a watch that ended as `report` says, at `ended_at`.
pub fn watch_page(flavor: Flavor, report: &WatchReport, ended_at: SystemTime) -> String {
    let mut page = Exposition::new(flavor);
    let verdict = match report.verdict {
        Verdict::WithinBudget => "within_budget",
        Verdict::OverBudget => "over_budget",
        Verdict::Inconclusive => "inconclusive",
        Verdict::NoBudgetSet => "no_budget_set",
    };
    run_families(
        &mut page,
        &Run {
            command: "watch",
            outcome: verdict,
            until: None,
            success: report.exit_code == 0,
            exit_code: report.exit_code,
            duration_seconds: seconds(report.elapsed_ms),
            ended_at,
        },
    );
    page.single(
        "stillup_watch_budget_exceeded",
        MetricType::Gauge,
        "1 when a target broke a budget (--max-downtime, --max-outages, --min-availability), else 0.",
        f64::from(u8::from(report.verdict == Verdict::OverBudget)),
    );
    if let Some(code) = report.command_exit_code {
        page.single(
            "stillup_watch_command_exit_code",
            MetricType::Gauge,
            "The exit code of -- COMMAND.",
            f64::from(code),
        );
    }
    let labels: Vec<[(&str, &str); 2]> = report
        .targets
        .iter()
        .map(|t| [("target", t.target.as_str()), ("kind", t.kind)])
        .collect();
    type Value = dyn Fn(&TargetWatchReport) -> Option<f64>;
    let mut per_target = |name: &str, help: &str, value: &Value| {
        if report.targets.iter().all(|t| value(t).is_none()) {
            return;
        }
        let sample = page.family(name, MetricType::Gauge, help);
        for (target, labels) in report.targets.iter().zip(&labels) {
            if let Some(value) = value(target) {
                page.sample(&sample, labels, value);
            }
        }
    };
    per_target(
        "stillup_watch_availability_ratio",
        "Healthy samples over conclusive ones (0 to 1); absent without a conclusive sample.",
        &|t| t.availability.map(|percent| percent / 100.0),
    );
    per_target(
        "stillup_watch_downtime_seconds",
        "Known downtime, summed over the outage windows.",
        &|t| Some(seconds(t.downtime_ms)),
    );
    per_target(
        "stillup_watch_longest_outage_seconds",
        "The longest outage window's known downtime.",
        &|t| Some(seconds(t.longest_outage_ms)),
    );
    per_target(
        "stillup_watch_outages",
        "Outage windows, an ongoing one included.",
        &|t| Some(t.outages as f64),
    );
    per_target(
        "stillup_watch_inconclusive_seconds",
        "Time covered by no evidence (stillup's own trouble), up or down.",
        &|t| Some(seconds(t.inconclusive_ms)),
    );
    let percentiles: [(&str, &str, Percentile); 4] = [
        (
            "stillup_watch_latency_p50_seconds",
            "Median latency of the conclusive samples, failed ones included; absent without one.",
            |l| l.p50_ms,
        ),
        (
            "stillup_watch_latency_p90_seconds",
            "90th percentile latency of the conclusive samples; absent without one.",
            |l| l.p90_ms,
        ),
        (
            "stillup_watch_latency_p99_seconds",
            "99th percentile latency of the conclusive samples; absent without one.",
            |l| l.p99_ms,
        ),
        (
            "stillup_watch_latency_max_seconds",
            "The slowest conclusive sample; absent without one.",
            |l| l.max_ms,
        ),
    ];
    for (name, help, of) in percentiles {
        per_target(name, help, &move |t| {
            (t.samples > t.inconclusive).then(|| seconds(of(&t.latency)))
        });
    }
    let samples = page.family(
        "stillup_watch_samples",
        MetricType::Gauge,
        "Samples by what they found: class healthy, a failure class, or inconclusive.",
    );
    for (target, labels) in report.targets.iter().zip(&labels) {
        let mut by_class: Vec<(&str, u64)> = vec![("healthy", target.healthy_samples)];
        by_class.extend(target.classes.iter().map(|(class, n)| (*class, *n)));
        if target.inconclusive > 0 {
            by_class.push(("inconclusive", target.inconclusive));
        }
        for (class, n) in by_class {
            let mut labels = labels.to_vec();
            labels.push(("class", class));
            page.sample(&samples, &labels, n as f64);
        }
    }
    page.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_become_seconds_to_the_microsecond() {
        assert_eq!(seconds(2.073), 0.002073);
        assert_eq!(seconds(1500.0), 1.5);
        assert_eq!(seconds(0.0), 0.0);
    }

    #[test]
    fn the_end_is_unix_time() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
        assert_eq!(unix_seconds(at), 1_700_000_000.25);
    }
}
