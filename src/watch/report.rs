//! The JSON document `stillup watch --output json` writes: serde types only, versioned and
//! described by `schema/watch.schema.json`. Durations are milliseconds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{OutageWindow, TargetWatch, WatchOutcome};
use crate::redact::redact_url;
use crate::report::ms;

pub const WATCH_SCHEMA_VERSION: u32 = 2;

/// Limits a watch is judged against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budgets {
    pub max_downtime: Option<std::time::Duration>,
    pub max_outages: Option<u64>,
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

#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    pub schema_version: u32,
    pub command: &'static str,
    pub elapsed_ms: f64,
    pub verdict: Verdict,
    /// `true` / `false` when the budgets decided; `null` with no budget set or no verdict.
    pub within_budget: Option<bool>,
    /// Each budget a target broke, as a sentence.
    pub violations: Vec<String>,
    /// Each budget (or target) that stillup's own trouble left undecided, as a sentence.
    pub undecided: Vec<String>,
    pub budgets: BudgetReport,
    pub targets: Vec<TargetWatchReport>,
    /// The exit code of `-- COMMAND`, when one ran.
    pub command_exit_code: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    pub max_downtime_ms: Option<f64>,
    pub max_outages: Option<u64>,
    pub min_availability: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetWatchReport {
    pub target: String,
    pub kind: &'static str,
    /// Samples counted, inconclusive ones included.
    pub samples: u64,
    pub healthy_samples: u64,
    /// Samples that are no evidence about the target (stillup's own trouble).
    pub inconclusive: u64,
    /// Inconclusive samples per reason: a failure class inside stillup, or `late_start`.
    pub inconclusive_reasons: BTreeMap<&'static str, u64>,
    /// Time covered by no evidence, up or down.
    pub inconclusive_ms: f64,
    /// Healthy over conclusive samples, in percent; `null` without a conclusive sample.
    pub availability: Option<f64>,
    pub outages: usize,
    pub downtime_ms: f64,
    pub longest_outage_ms: f64,
    pub latency: LatencyReport,
    /// Failed samples per class.
    pub classes: BTreeMap<&'static str, u64>,
    /// The first failure message seen per class.
    pub examples: BTreeMap<&'static str, String>,
    pub windows: Vec<WindowReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    pub from_ms: f64,
    pub to_ms: f64,
    /// Known downtime: `to_ms - from_ms` without `inconclusive_ms`.
    pub length_ms: f64,
    /// Gaps without evidence inside the window.
    pub inconclusive_ms: f64,
    pub ongoing: bool,
    pub phases: Vec<PhaseWindowReport>,
    /// "2.1s connection refused, then 0.4s HTTP 502".
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseWindowReport {
    pub class: &'static str,
    pub label: String,
    pub from_ms: f64,
    pub to_ms: f64,
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
        WatchReport {
            schema_version: WATCH_SCHEMA_VERSION,
            command: "watch",
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
        }
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
