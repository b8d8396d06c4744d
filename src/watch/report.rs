//! The JSON document `stillup watch --output json` writes: serde types only, versioned and
//! described by `schema/watch.schema.json`. Durations are milliseconds.

use std::collections::BTreeMap;

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

#[derive(Debug, Clone, Serialize)]
pub struct WatchReport {
    pub schema_version: u32,
    pub command: &'static str,
    pub elapsed_ms: f64,
    /// Whether every target stayed within the budgets.
    pub within_budget: bool,
    /// Each budget a target broke, as a sentence.
    pub violations: Vec<String>,
    pub budgets: BudgetReport,
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
    pub samples: u64,
    pub healthy_samples: u64,
    pub availability: f64,
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
    pub length_ms: f64,
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

impl Budgets {
    /// Every budget `target` broke, as sentences.
    pub fn violations(&self, target: &TargetWatch) -> Vec<String> {
        let mut broken = Vec::new();
        let name = redact_url(&target.target);
        if let Some(max) = self.max_downtime {
            if target.downtime() > max {
                broken.push(format!(
                    "{name}: down {:.3}s in total, budget {:.3}s",
                    target.downtime().as_secs_f64(),
                    max.as_secs_f64()
                ));
            }
        }
        if let Some(max) = self.max_outages {
            if target.windows.len() as u64 > max {
                broken.push(format!(
                    "{name}: {} outages, budget {max}",
                    target.windows.len()
                ));
            }
        }
        if let Some(min) = self.min_availability {
            if target.availability() < min {
                broken.push(format!(
                    "{name}: {:.3}% available, budget {min}%",
                    target.availability()
                ));
            }
        }
        broken
    }
}

/// "2.1s connection refused, then 0.4s HTTP 502".
pub fn window_summary(window: &OutageWindow) -> String {
    let parts: Vec<String> = window
        .phases
        .iter()
        .map(|p| {
            format!(
                "{:.1}s {}",
                p.to.saturating_sub(p.from).as_secs_f64(),
                redact_url(&p.label)
            )
        })
        .collect();
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
        let violations: Vec<String> = outcome
            .targets
            .iter()
            .flat_map(|t| budgets.violations(t))
            .collect();
        WatchReport {
            schema_version: WATCH_SCHEMA_VERSION,
            command: "watch",
            elapsed_ms: ms(outcome.elapsed),
            within_budget: violations.is_empty(),
            violations,
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
            availability: (t.availability() * 1000.0).round() / 1000.0,
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
