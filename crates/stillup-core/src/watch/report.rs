//! The JSON document `stillup watch --output json` writes: serde types only, versioned and
//! described by `schema/watch.schema.json`. Durations are milliseconds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{OutageWindow, TargetWatch, WatchOutcome};
use crate::redact::redact_url;
use crate::report::ms;

/// The `schema_version` of [`WatchReport`]: bumped on any incompatible change of its shape.
pub const WATCH_SCHEMA_VERSION: u32 = 3;

/// Limits a watch is judged against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budgets {
    /// The most downtime a target may have; `None`: no limit.
    pub max_downtime: Option<std::time::Duration>,
    /// The most outage windows a target may have; `None`: no limit.
    pub max_outages: Option<u64>,
    /// The least availability a target must have, in percent (0 to 100); `None`: no limit.
    pub min_availability: Option<f64>,
}

/// What the watch concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every budget held, even counting the unknown time against it.
    WithinBudget,
    /// A budget was broken on the evidence alone.
    OverBudget,
    /// No budget was broken, but stillup's own trouble leaves one (or a target with no
    /// conclusive sample at all) undecided.
    Inconclusive,
    /// Nothing to judge against: the numbers are the result.
    NoBudgetSet,
}

/// The whole `watch` document: the verdict, the budgets, then each target.
#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    /// [`WATCH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always `watch`.
    pub command: &'static str,
    /// When the watch started, RFC 3339 in UTC (every other time in the document is an offset
    /// from it, measured on the monotonic clock).
    pub started_at: String,
    /// When the watch ended (its start plus its monotonic length), RFC 3339 in UTC.
    pub ended_at: String,
    /// How long the watch ran, in milliseconds.
    pub elapsed_ms: f64,
    /// What the watch concludes against its budgets.
    pub verdict: Verdict,
    /// `true` / `false` when the budgets decided; `null` with no budget set or no verdict.
    pub within_budget: Option<bool>,
    /// Each budget a target broke, as a sentence.
    pub violations: Vec<String>,
    /// Each budget (or target) that stillup's own trouble left undecided, as a sentence.
    pub undecided: Vec<String>,
    /// The budgets the watch was judged against.
    pub budgets: BudgetReport,
    /// Each target's numbers, in the order the targets were given.
    pub targets: Vec<TargetWatchReport>,
    /// The exit code of `-- COMMAND`, when one ran.
    pub command_exit_code: Option<i32>,
    /// The signal that ended the watch (`SIGINT`, `SIGTERM`, `SIGHUP`), if one did; a
    /// signal forwarded to `-- COMMAND` is not, the command's end is.
    pub signal: Option<&'static str>,
    /// The code stillup exits with: the command's non-zero code wins, then 129 for SIGHUP,
    /// then 4 for a broken budget (`within_budget`), else 0.
    pub exit_code: u8,
}

/// [`Budgets`] in the report; `null` where no limit was set.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    /// The most downtime allowed, in milliseconds.
    pub max_downtime_ms: Option<f64>,
    /// The most outage windows allowed.
    pub max_outages: Option<u64>,
    /// The least availability required, in percent.
    pub min_availability: Option<f64>,
}

/// One target's numbers over the watch.
#[derive(Debug, Clone, Serialize)]
pub struct TargetWatchReport {
    /// The target, credentials removed.
    pub target: String,
    /// `http`, `tcp` or `grpc`.
    pub kind: &'static str,
    /// Samples counted, inconclusive ones included.
    pub samples: u64,
    /// Samples that found the target healthy.
    pub healthy_samples: u64,
    /// Samples that are no evidence about the target (stillup's own trouble).
    pub inconclusive: u64,
    /// Inconclusive samples per reason: a failure class inside stillup, or `late_start`.
    pub inconclusive_reasons: BTreeMap<&'static str, u64>,
    /// Time covered by no evidence, up or down.
    pub inconclusive_ms: f64,
    /// Healthy over conclusive samples, in percent; `null` without a conclusive sample.
    pub availability: Option<f64>,
    /// Outage windows (ongoing one included).
    pub outages: usize,
    /// Known downtime summed over the windows, in milliseconds.
    pub downtime_ms: f64,
    /// The longest window's known downtime, in milliseconds.
    pub longest_outage_ms: f64,
    /// Latency of the conclusive samples, healthy or not.
    pub latency: LatencyReport,
    /// Failed samples per class.
    pub classes: BTreeMap<&'static str, u64>,
    /// The first failure message seen per class.
    pub examples: BTreeMap<&'static str, String>,
    /// The outage windows, oldest first.
    pub windows: Vec<WindowReport>,
}

/// Latency percentiles in milliseconds (0 when there was no conclusive sample).
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest sample.
    pub max_ms: f64,
}

/// One outage window: from the first failed sample to the next healthy one.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Start, in milliseconds from the start of the watch.
    pub from_ms: f64,
    /// End (or the end of the watch, when ongoing), in milliseconds from its start.
    pub to_ms: f64,
    /// Known downtime: `to_ms - from_ms` without `inconclusive_ms`.
    pub length_ms: f64,
    /// Gaps without evidence inside the window.
    pub inconclusive_ms: f64,
    /// Whether the target was still down when the watch ended.
    pub ongoing: bool,
    /// What the failures looked like, in phases.
    pub phases: Vec<PhaseWindowReport>,
    /// "2.1s connection refused, then 0.4s HTTP 502".
    pub summary: String,
}

/// One phase of an outage window: consecutive samples that failed alike.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseWindowReport {
    /// Their failure class.
    pub class: &'static str,
    /// What the summary prints, e.g. `HTTP 502`; credentials removed.
    pub label: String,
    /// Start, in milliseconds from the start of the watch.
    pub from_ms: f64,
    /// End, in milliseconds from the start of the watch.
    pub to_ms: f64,
    /// Samples in this phase.
    pub samples: u64,
}

/// What the budgets say about one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    /// Budgets broken on the evidence alone, as sentences.
    pub broken: Vec<String>,
    /// Budgets that hold on the evidence but not if the unknown time went against them, and
    /// "no conclusive sample", as sentences.
    pub undecided: Vec<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

impl Budgets {
    /// Whether any budget was given.
    pub fn is_set(&self) -> bool {
        self.max_downtime.is_some() || self.max_outages.is_some() || self.min_availability.is_some()
    }

    /// Judge `target`: a budget is broken only on evidence, and held only if it still holds
    /// with every unknown stretch and inconclusive sample counted against it.
    pub fn judge(&self, target: &TargetWatch) -> Judgement {
        let mut judgement = Judgement::default();
        let name = redact_url(&target.target);
        if target.total() > 0 && target.conclusive() == 0 {
            judgement.undecided.push(format!(
                "{name}: no conclusive sample: none of the {} was evidence about the target ({})",
                target.total(),
                reasons(target)
            ));
            return judgement;
        }
        if let Some(max) = self.max_downtime {
            let down = target.downtime();
            if down > max {
                judgement.broken.push(format!(
                    "{name}: down {} in total, budget {}",
                    secs(down),
                    secs(max)
                ));
            } else if down + target.unknown > max {
                judgement.undecided.push(format!(
                    "{name}: down {} in total, budget {}, but {} without evidence could hide more",
                    secs(down),
                    secs(max),
                    secs(target.unknown)
                ));
            }
        }
        if let Some(max) = self.max_outages {
            let outages = target.windows.len() as u64;
            if outages > max {
                judgement
                    .broken
                    .push(format!("{name}: {outages} outages, budget {max}"));
            } else if outages + target.unknown_runs > max {
                judgement.undecided.push(format!(
                    "{name}: {outages} outages, budget {max}, but {} stretch(es) without evidence could hide more",
                    target.unknown_runs
                ));
            }
        }
        if let (Some(min), Some(available)) = (self.min_availability, target.availability()) {
            // With every inconclusive sample healthy, and with every one failed.
            let total = target.total().max(1) as f64;
            let best = (target.healthy() + target.inconclusive) as f64 * 100.0 / total;
            let worst = target.healthy() as f64 * 100.0 / total;
            if best < min {
                judgement
                    .broken
                    .push(format!("{name}: {available:.3}% available, budget {min}%"));
            } else if worst < min {
                judgement.undecided.push(format!(
                    "{name}: {available:.3}% of conclusive samples healthy, budget {min}%, but {} inconclusive sample(s) leave anything from {worst:.3}% to {best:.3}%",
                    target.inconclusive
                ));
            }
        }
        judgement
    }
}

/// "local_limit 10, late_start 2".
pub fn reasons(target: &TargetWatch) -> String {
    target
        .inconclusive_reasons
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an inconclusive sample is no evidence, for people; `failure` is its failure, if any.
pub fn inconclusive_text(reason: &str, failure: Option<&crate::failure::Failure>) -> String {
    match (reason, failure) {
        (super::LATE_START_REASON, _) => {
            "stillup itself started the sample late (stillup or the machine was too busy)".into()
        }
        (super::UNFINISHED_REASON, _) => {
            "still unanswered when the watch ended, before its --attempt-timeout".into()
        }
        (_, Some(failure)) => redact_url(&failure.to_string()),
        (reason, None) => reason.to_string(),
    }
}

/// "2.1s connection refused, then 0.4s HTTP 502"; a gap without evidence between phases
/// reads "then 0.3s inconclusive".
pub fn window_summary(window: &OutageWindow) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut previous_end = None;
    for p in &window.phases {
        if let Some(end) = previous_end {
            let gap = p.from.saturating_sub(end);
            if !gap.is_zero() {
                parts.push(format!("{:.1}s inconclusive", gap.as_secs_f64()));
            }
        }
        parts.push(format!(
            "{:.1}s {}",
            p.to.saturating_sub(p.from).as_secs_f64(),
            redact_url(&p.label)
        ));
        previous_end = Some(p.to);
    }
    let mut text = parts.join(", then ");
    if window.ongoing {
        text.push_str(" (still down at the end)");
    }
    text
}

impl WatchReport {
    /// The document of a watch; how it ended (`signal`, `exit_code`) is for the caller to
    /// say with [`WatchReport::ended`].
    pub fn new(outcome: &WatchOutcome, budgets: &Budgets, command_exit_code: Option<i32>) -> Self {
        let mut violations = Vec::new();
        let mut undecided = Vec::new();
        for target in &outcome.targets {
            let judgement = budgets.judge(target);
            violations.extend(judgement.broken);
            undecided.extend(judgement.undecided);
        }
        let verdict = if !violations.is_empty() {
            Verdict::OverBudget
        } else if !undecided.is_empty() {
            Verdict::Inconclusive
        } else if !budgets.is_set() {
            Verdict::NoBudgetSet
        } else {
            Verdict::WithinBudget
        };
        let ended_at = outcome
            .started_at
            .checked_add(outcome.elapsed)
            .unwrap_or(outcome.started_at);
        WatchReport {
            schema_version: WATCH_SCHEMA_VERSION,
            command: "watch",
            started_at: crate::wallclock::rfc3339(outcome.started_at),
            ended_at: crate::wallclock::rfc3339(ended_at),
            elapsed_ms: ms(outcome.elapsed),
            verdict,
            within_budget: match verdict {
                Verdict::WithinBudget => Some(true),
                Verdict::OverBudget => Some(false),
                Verdict::Inconclusive | Verdict::NoBudgetSet => None,
            },
            violations,
            undecided,
            budgets: BudgetReport {
                max_downtime_ms: budgets.max_downtime.map(ms),
                max_outages: budgets.max_outages,
                min_availability: budgets.min_availability,
            },
            targets: outcome
                .targets
                .iter()
                .map(TargetWatchReport::from)
                .collect(),
            command_exit_code,
            signal: None,
            exit_code: 0,
        }
    }

    /// How the watch ended, as the command line decided it (it owns the exit codes).
    pub fn ended(mut self, signal: Option<&'static str>, exit_code: u8) -> Self {
        self.signal = signal;
        self.exit_code = exit_code;
        self
    }
}

impl From<&TargetWatch> for TargetWatchReport {
    fn from(t: &TargetWatch) -> Self {
        TargetWatchReport {
            target: redact_url(&t.target),
            kind: t.kind,
            samples: t.total(),
            healthy_samples: t.healthy(),
            inconclusive: t.inconclusive,
            inconclusive_reasons: t.inconclusive_reasons.clone(),
            inconclusive_ms: ms(t.unknown),
            availability: t.availability().map(|a| (a * 1000.0).round() / 1000.0),
            outages: t.windows.len(),
            downtime_ms: ms(t.downtime()),
            longest_outage_ms: ms(t.longest_outage()),
            latency: LatencyReport {
                p50_ms: ms(t.latency.p50),
                p90_ms: ms(t.latency.p90),
                p99_ms: ms(t.latency.p99),
                max_ms: ms(t.latency.max),
            },
            classes: t.classes.clone(),
            examples: t
                .examples
                .iter()
                .map(|(k, v)| (*k, redact_url(v)))
                .collect(),
            windows: t
                .windows
                .iter()
                .map(|w| WindowReport {
                    from_ms: ms(w.from),
                    to_ms: ms(w.to),
                    length_ms: ms(w.length()),
                    inconclusive_ms: ms(w.unknown),
                    ongoing: w.ongoing,
                    phases: w
                        .phases
                        .iter()
                        .map(|p| PhaseWindowReport {
                            class: p.class,
                            label: redact_url(&p.label),
                            from_ms: ms(p.from),
                            to_ms: ms(p.to),
                            samples: p.samples,
                        })
                        .collect(),
                    summary: window_summary(w),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{LatencySummary, OutageWindow};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// 100 samples, `failed` of them down in one window of `down`, `inconclusive` of them no
    /// evidence, covering `unknown` in `runs` stretches.
    fn target(
        failed: u64,
        down: Duration,
        inconclusive: u64,
        unknown: Duration,
        runs: u64,
    ) -> TargetWatch {
        let windows = if down.is_zero() {
            Vec::new()
        } else {
            vec![OutageWindow {
                from: ms(0),
                to: down,
                phases: Vec::new(),
                ongoing: false,
                unknown: Duration::ZERO,
            }]
        };
        TargetWatch {
            target: "http://127.0.0.1:1/".into(),
            kind: "http",
            total: 100,
            healthy: 100 - failed - inconclusive,
            inconclusive,
            inconclusive_reasons: BTreeMap::from([("local_limit", inconclusive)]),
            unknown,
            unknown_runs: runs,
            points: Vec::new(),
            windows,
            latency: LatencySummary::default(),
            classes: BTreeMap::new(),
            examples: BTreeMap::new(),
            causes: Vec::new(),
        }
    }

    fn downtime(max: u64) -> Budgets {
        Budgets {
            max_downtime: Some(ms(max)),
            ..Budgets::default()
        }
    }

    #[test]
    fn a_budget_is_broken_on_evidence_and_held_only_with_the_unknown_counted_against_it() {
        let t = target(10, ms(1000), 5, ms(500), 1);
        assert_eq!(downtime(900).judge(&t).broken.len(), 1);
        assert_eq!(downtime(1500).judge(&t), Judgement::default());
        let undecided = downtime(1200).judge(&t);
        assert!(undecided.broken.is_empty());
        assert_eq!(undecided.undecided.len(), 1, "{undecided:?}");

        let outages = |max| Budgets {
            max_outages: Some(max),
            ..Budgets::default()
        };
        assert_eq!(outages(0).judge(&t).broken.len(), 1);
        assert_eq!(outages(1).judge(&t).undecided.len(), 1);
        assert_eq!(outages(2).judge(&t), Judgement::default());

        let availability = |min| Budgets {
            min_availability: Some(min),
            ..Budgets::default()
        };
        // 85 healthy, 10 failed, 5 unknown: 85 % at worst, 90 % at best.
        assert_eq!(availability(95.0).judge(&t).broken.len(), 1);
        assert_eq!(availability(88.0).judge(&t).undecided.len(), 1);
        assert_eq!(availability(85.0).judge(&t), Judgement::default());
    }

    #[test]
    fn no_conclusive_sample_is_no_verdict_even_without_a_budget() {
        let t = target(0, Duration::ZERO, 100, ms(5000), 1);
        assert_eq!(t.availability(), None);
        let judgement = Budgets::default().judge(&t);
        assert!(judgement.broken.is_empty());
        assert_eq!(judgement.undecided.len(), 1);
        assert!(judgement.undecided[0].contains("local_limit 100"));
    }

    #[test]
    fn the_verdict_is_over_then_no_verdict_then_no_budget_then_within() {
        let outcome = |targets| WatchOutcome {
            started_at: std::time::SystemTime::UNIX_EPOCH,
            elapsed: ms(5000),
            stopped: false,
            targets,
        };
        let clean = target(0, Duration::ZERO, 0, Duration::ZERO, 0);
        let down = target(100, ms(5000), 0, Duration::ZERO, 0);
        let blind = target(0, Duration::ZERO, 100, ms(5000), 1);
        let verdict =
            |targets, budgets: &Budgets| WatchReport::new(&outcome(targets), budgets, None);
        let report = verdict(vec![down.clone(), blind.clone()], &downtime(0));
        assert_eq!(
            (report.verdict, report.within_budget),
            (Verdict::OverBudget, Some(false))
        );
        let report = verdict(vec![clean.clone(), blind], &downtime(0));
        assert_eq!(
            (report.verdict, report.within_budget),
            (Verdict::Inconclusive, None)
        );
        let report = verdict(vec![down], &Budgets::default());
        assert_eq!(
            (report.verdict, report.within_budget),
            (Verdict::NoBudgetSet, None)
        );
        let report = verdict(vec![clean], &downtime(0));
        assert_eq!(
            (report.verdict, report.within_budget),
            (Verdict::WithinBudget, Some(true))
        );
    }

    #[test]
    fn a_gap_without_evidence_reads_as_inconclusive_in_the_summary() {
        let phase = |from, to| crate::watch::OutagePhase {
            class: "refused",
            label: "connection refused".into(),
            from: ms(from),
            to: ms(to),
            samples: 1,
        };
        let window = OutageWindow {
            from: ms(0),
            to: ms(3000),
            phases: vec![phase(0, 1000), phase(2000, 3000)],
            ongoing: true,
            unknown: ms(1000),
        };
        assert_eq!(window.length(), ms(2000));
        assert_eq!(
            window_summary(&window),
            "1.0s connection refused, then 1.0s inconclusive, then 1.0s connection refused (still down at the end)"
        );
    }
}
