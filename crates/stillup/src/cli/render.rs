//! Human output: a line per failed attempt, the verdict, the timeline — on stderr — and the
//! JSON document on stdout. With several targets, lines name their target and the verdict
//! ends with a per-target table. Presentation was decided at start-up; nothing here asks
//! whether a stream is a terminal. Text the world controls (failures, labels, timelines)
//! is printed only as `Safe`, through the gate of `sanitize.rs`.

use std::cell::RefCell;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use stillup_core::redact::program_only;
use stillup_core::report::Report;
use stillup_core::sanitize::{display_safe, Safe};
use stillup_core::timeline::{short_seconds, NOT_ATTEMPTED};
use stillup_core::{Event, GroupOutcome, Outcome, OutcomeKind, Until};

use super::args::OutputFormat;
use super::config::Presentation;
use super::exit::Signal;
use super::openmetrics::Flavor;
use super::progress::{Lines, Progress};

/// How long the summary may wait for a slow reader of stderr before the run ends anyway.
const SUMMARY_GRACE: Duration = Duration::from_secs(1);

/// A failure that repeats is folded into one line, written when the cause changes, the
/// target turns healthy or the run ends — and at least this often while it lasts, so a CI
/// log shows the wait is alive.
const FOLD_AT_MOST: Duration = Duration::from_secs(10);

/// Attempts of one target that ended the same way since its last line.
#[derive(Debug, Clone, Default)]
struct Run {
    /// A hash of the failure's label (`None` for "still healthy").
    label: u64,
    /// The label itself, once there is something folded to write.
    words: Option<Box<str>>,
    /// Attempts folded since the last line, and when the first and last of them started.
    folded: u32,
    first: Duration,
    last: Duration,
    /// When the last line about this target was written.
    written: Duration,
}

const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// Prints one run as it happens.
#[derive(Debug)]
pub struct Renderer {
    presentation: Presentation,
    command: &'static str,
    until: Until,
    /// The targets' labels, through the gate once.
    targets: Vec<Safe>,
    timeout: Duration,
    /// Per target: the failure that repeats, folded (`None` before its first attempt line).
    runs: RefCell<Vec<Option<Run>>>,
    progress: Option<Progress>,
    /// Plain lines (no spinner): written from their own thread, so a stderr that blocks
    /// never holds the run.
    lines: Lines,
    /// Lines are now the summary, not progress: never dropped (but waited for a bounded time).
    summing_up: std::cell::Cell<bool>,
}

impl Renderer {
    pub fn new(
        presentation: Presentation,
        command: &'static str,
        until: Until,
        targets: Vec<String>,
        timeout: Duration,
    ) -> Self {
        let targets: Vec<Safe> = targets.iter().map(|t| Safe::text(t)).collect();
        let what = match targets.as_slice() {
            [one] => one.clone(),
            many => Safe::text(&format!("{} targets", many.len())),
        };
        let progress =
            (presentation.spinner && command != "check").then(|| Progress::start(&what, timeout));
        let lines = if presentation.quiet || progress.is_some() {
            Lines::direct()
        } else {
            Lines::start()
        };
        Renderer {
            presentation,
            command,
            until,
            runs: RefCell::new(vec![None; targets.len()]),
            targets,
            timeout,
            lines,
            summing_up: std::cell::Cell::new(false),
            progress,
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.presentation.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn line(&self, text: &str) {
        match &self.progress {
            Some(progress) => progress.println(text),
            None if self.summing_up.get() => self.lines.summary(text),
            None => self.lines.progress(text),
        }
    }

    /// React to one event of target `index`.
    pub fn on_event(&self, index: usize, event: &Event<'_>) {
        if self.presentation.quiet {
            return;
        }
        match event {
            Event::AttemptStarted { number, .. } => {
                if let Some(progress) = &self.progress {
                    progress.attempt(*number);
                }
            }
            Event::AttemptFinished(attempt) => {
                // `check` reports its single attempt in the verdict instead.
                if self.command == "check" {
                    return;
                }
                let words = match (attempt.failure(), self.until) {
                    (Some(failure), _) => failure.label(),
                    // Waiting for down, a healthy answer is the news.
                    (None, Until::Down) => "still healthy".to_string(),
                    (None, Until::Healthy) => {
                        self.flush(index);
                        return;
                    }
                };
                let label = {
                    use std::hash::{Hash, Hasher};
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    words.hash(&mut hasher);
                    hasher.finish()
                };
                let same = self
                    .runs
                    .borrow()
                    .get(index)
                    .and_then(Option::as_ref)
                    .is_some_and(|run| run.label == label);
                if same {
                    let due = {
                        let mut runs = self.runs.borrow_mut();
                        let Some(Some(run)) = runs.get_mut(index) else {
                            return;
                        };
                        if run.folded == 0 {
                            run.first = attempt.started();
                            run.words = Some(words.into_boxed_str());
                        }
                        run.folded += 1;
                        run.last = attempt.started();
                        attempt.started() >= run.written + FOLD_AT_MOST
                    };
                    if due {
                        self.flush(index);
                    }
                    return;
                }
                self.flush(index);
                let text = match attempt.failure() {
                    Some(failure) => display_safe(failure).to_string(),
                    None => words.clone(),
                };
                let asked = match attempt.retry_after() {
                    Some(wait) => format!(" (the server asked to retry after {})", seconds(wait)),
                    None => String::new(),
                };
                let text = match self.targets.as_slice() {
                    [_] => format!("{text}{asked}"),
                    many => format!("{}: {text}{asked}", many[index]),
                };
                let when = format!(
                    "({}s / {})",
                    tenths(attempt.started()),
                    seconds(self.timeout)
                );
                self.line(&format!("  {text:<62} {}", self.paint(DIM, &when)));
                if let Some(slot) = self.runs.borrow_mut().get_mut(index) {
                    *slot = Some(Run {
                        label,
                        written: attempt.started(),
                        ..Run::default()
                    });
                }
            }
            _ => {}
        }
    }

    /// Write what target `index` folded since its last line: `connection refused ×12
    /// (0.1–11.0s)`.
    fn flush(&self, index: usize) {
        let folded = {
            let mut runs = self.runs.borrow_mut();
            let Some(Some(run)) = runs.get_mut(index) else {
                return;
            };
            if run.folded == 0 {
                return;
            }
            let folded = (run.words.take(), run.folded, run.first, run.last);
            run.folded = 0;
            run.written = run.last;
            folded
        };
        let (words, count, first, last) = folded;
        let words = Safe::text(words.as_deref().unwrap_or("the same"));
        let text = match self.targets.as_slice() {
            [_] => format!("{words} ×{count}"),
            many => format!("{}: {words} ×{count}", many[index]),
        };
        let when = format!("({}–{}s)", tenths(first), tenths(last));
        self.line(&format!("  {text:<62} {}", self.paint(DIM, &when)));
    }

    /// Print the verdict and timeline (human), the JSON document or the metrics page; an
    /// error is a document that could not be written (the human lines on stderr are best
    /// effort).
    pub fn finish(&mut self, group: &GroupOutcome, signal: Option<Signal>) -> std::io::Result<()> {
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
        if self.presentation.quiet {
            return Ok(());
        }
        for index in 0..self.targets.len() {
            self.flush(index);
        }
        self.summing_up.set(true);
        match self.presentation.format {
            OutputFormat::Json => {
                let written = print_json(&Report::new(self.command, self.until, group));
                self.lines.drain(SUMMARY_GRACE);
                return written;
            }
            OutputFormat::OpenMetrics => {
                let code = super::exit::for_outcome(group.kind, signal);
                let page = super::metrics::run_page(
                    Flavor::OpenMetrics,
                    self.command,
                    self.until,
                    group,
                    code,
                    std::time::SystemTime::now(),
                );
                let written = super::output::write_stdout(page.into_bytes());
                self.lines.drain(SUMMARY_GRACE);
                return written;
            }
            OutputFormat::Markdown => {
                let code = super::exit::for_outcome(group.kind, signal);
                let report = Report::new(self.command, self.until, group);
                let page = super::markdown::run_report(&report, code, std::time::SystemTime::now());
                let written = super::output::write_stdout(page.into_bytes());
                self.lines.drain(SUMMARY_GRACE);
                return written;
            }
            OutputFormat::Human => match group.targets.as_slice() {
                [one] => self.verdict(&self.targets[0], &one.outcome, group.kind, signal),
                _ => self.group_verdict(group, signal),
            },
        }
        self.lines.drain(SUMMARY_GRACE);
        Ok(())
    }

    /// Say that the command runs now.
    pub fn running(&self, command: &[String]) {
        if !self.presentation.quiet && self.presentation.format == OutputFormat::Human {
            // The program only: its arguments often carry tokens.
            let program = Safe::text(program_only(command));
            self.line(&format!("  running: {program}"));
            // Out before the command writes to the same stream.
            self.lines.drain(SUMMARY_GRACE);
        }
    }

    fn verdict(&self, target: &Safe, outcome: &Outcome, kind: OutcomeKind, signal: Option<Signal>) {
        let attempts = outcome.attempt_count();
        let plural = if attempts == 1 { "" } else { "s" };
        let elapsed = tenths(outcome.elapsed);
        match (kind, self.command) {
            (OutcomeKind::Healthy, "check") => {
                let detail = outcome
                    .attempts
                    .last()
                    .map(|a| match a.status() {
                        Some(status) => {
                            format!(" (HTTP {status} in {}ms)", a.duration().as_millis())
                        }
                        None => format!(" (in {}ms)", a.duration().as_millis()),
                    })
                    .unwrap_or_default();
                self.line(&format!(
                    "{} {target} is healthy{detail}",
                    self.paint(GOOD, "✓")
                ));
            }
            (OutcomeKind::Healthy, _) => {
                self.line(&format!(
                    "{} {target} is healthy after {elapsed}s (attempt {attempts})",
                    self.paint(GOOD, "✓")
                ));
            }
            (OutcomeKind::Down, _) => {
                self.line(&format!(
                    "{} {target} is down after {elapsed}s (attempt {attempts})",
                    self.paint(GOOD, "✓")
                ));
            }
            (OutcomeKind::Inconclusive, _) => {
                self.line(&format!(
                    "{} no verdict on {target} after {elapsed}s: {} of {attempts} attempt{plural} failed for stillup's own reasons, which says nothing about the target",
                    self.paint(BAD, "?"),
                    outcome.inconclusive,
                ));
            }
            (OutcomeKind::GaveUp | OutcomeKind::FailedFast | OutcomeKind::Stopped, "check") => {
                let why = outcome
                    .last_failure()
                    .map(|f| display_safe(f).to_string())
                    .unwrap_or_else(|| "no attempt was made".into());
                self.line(&format!(
                    "{} {target} is not healthy: {why}",
                    self.paint(BAD, "✗")
                ));
                return;
            }
            (OutcomeKind::GaveUp | OutcomeKind::Stopped, _) => {
                let state = match self.until {
                    Until::Healthy => "not healthy",
                    Until::Down => "still up",
                };
                self.line(&format!(
                    "{} {target} is {state} — gave up after {elapsed}s of the {} deadline ({attempts} attempt{plural})",
                    self.paint(BAD, "✗"),
                    seconds(self.timeout),
                ));
            }
            (OutcomeKind::FailedFast, _) => {
                self.line(&format!(
                    "{} {target} failed fast after {elapsed}s ({attempts} attempt{plural}): waiting will not fix this",
                    self.paint(BAD, "✗"),
                ));
            }
            (OutcomeKind::Interrupted, _) => {
                self.line(&format!(
                    "{} interrupted by {} after {elapsed}s — {target} was not {} yet",
                    self.paint(BAD, "✗"),
                    signal_name(signal),
                    self.goal(),
                ));
            }
        }
        if kind != OutcomeKind::Down {
            if let Some(failure) = outcome.last_failure() {
                let message = display_safe(failure);
                self.line(&format!("  last failure: {message} [{}]", failure.class()));
            }
        }
        let timeline = outcome.timeline();
        if !timeline.segments.is_empty() || timeline.reason.is_some() {
            let text = Safe::line(&timeline.to_string());
            self.line(&format!("  {} {text}", self.paint(DIM, "timeline:")));
        }
    }

    fn goal(&self) -> &'static str {
        match self.until {
            Until::Healthy => "healthy",
            Until::Down => "down",
        }
    }

    fn group_verdict(&self, group: &GroupOutcome, signal: Option<Signal>) {
        let n = group.targets.len();
        let needed = group.require.needed(n);
        let done = group.succeeded();
        let elapsed = tenths(group.elapsed);
        let goal = self.goal();
        let head = match group.kind {
            OutcomeKind::Healthy | OutcomeKind::Down => format!(
                "{} {done} of {n} targets {goal} after {elapsed}s (needed {needed})",
                self.paint(GOOD, "✓")
            ),
            OutcomeKind::Interrupted => format!(
                "{} interrupted by {} after {elapsed}s — {done} of {n} targets {goal} (needed {needed})",
                self.paint(BAD, "✗"),
                signal_name(signal)
            ),
            OutcomeKind::FailedFast => format!(
                "{} failed fast after {elapsed}s — {done} of {n} targets {goal} (needed {needed})",
                self.paint(BAD, "✗")
            ),
            OutcomeKind::Inconclusive => format!(
                "{} no verdict after {elapsed}s — {done} of {n} targets {goal} (needed {needed}); {} could not be judged because of stillup's own trouble",
                self.paint(BAD, "?"),
                group
                    .targets
                    .iter()
                    .filter(|t| t.outcome.kind == OutcomeKind::Inconclusive)
                    .count()
            ),
            _ => format!(
                "{} only {done} of {n} targets {goal} after {elapsed}s of the {} deadline (needed {needed})",
                self.paint(BAD, "✗"),
                seconds(self.timeout)
            ),
        };
        self.line(&head);
        let width = self
            .targets
            .iter()
            .map(|label| label.as_str().chars().count())
            .max()
            .unwrap_or(6)
            .clamp(6, 60);
        self.line(&format!(
            "  {:<width$}  {:<12}  {:>8}  {:>8}  LAST FAILURE",
            "TARGET", "STATE", "ATTEMPTS", "ELAPSED"
        ));
        // A hundred thousand rows help nobody and would hold the exit: past TABLE_ROWS the
        // table lists the targets that did not reach the goal first, then counts the rest.
        let rows: Vec<usize> = if n <= TABLE_ROWS {
            (0..n).collect()
        } else {
            let missed = (0..n).filter(|&i| !group.targets[i].outcome.is_success());
            let reached = (0..n).filter(|&i| group.targets[i].outcome.is_success());
            let mut rows: Vec<usize> = missed.chain(reached).take(TABLE_ROWS).collect();
            rows.sort_unstable();
            rows
        };
        for &i in &rows {
            let (t, label) = (&group.targets[i], &self.targets[i]);
            let last = match t.outcome.last_failure() {
                Some(f) => format!("{} [{}]", display_safe(f), f.class()),
                None if t.outcome.kind == OutcomeKind::GaveUp && t.outcome.attempt_count() == 0 => {
                    NOT_ATTEMPTED.to_string()
                }
                None => String::new(),
            };
            self.line(&format!(
                "  {:<width$}  {:<12}  {:>8}  {:>7}s  {last}",
                label,
                t.outcome.kind.as_str(),
                t.outcome.attempt_count(),
                tenths(t.outcome.elapsed),
            ));
        }
        if rows.len() < n {
            let mut states: Vec<(&str, usize)> = Vec::new();
            for t in &group.targets {
                let state = t.outcome.kind.as_str();
                match states.iter_mut().find(|(s, _)| *s == state) {
                    Some((_, count)) => *count += 1,
                    None => states.push((state, 1)),
                }
            }
            let states: Vec<String> = states.iter().map(|(s, c)| format!("{c} {s}")).collect();
            self.line(&format!(
                "  … {} more targets not listed; all {n}: {} (--output json lists every one)",
                n - rows.len(),
                states.join(", ")
            ));
        }
    }
}

/// Rows of the per-target table at most.
const TABLE_ROWS: usize = 1_000;

fn signal_name(signal: Option<Signal>) -> &'static str {
    match signal {
        Some(Signal::Terminate) => "SIGTERM",
        Some(Signal::Hangup) => "SIGHUP",
        _ => "SIGINT",
    }
}

/// "15.2" — tenths of a second, always with the decimal, for attempt lines.
fn tenths(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// "120s", "1.5s".
fn seconds(d: Duration) -> String {
    format!("{}s", short_seconds(d))
}

/// Write a JSON document to stdout, whole, before returning (before any `-- COMMAND` writes
/// to the same stream); see [`super::output`] for what a failed write means.
pub(crate) fn print_json(document: &impl serde::Serialize) -> std::io::Result<()> {
    super::output::print_json(document)
}
