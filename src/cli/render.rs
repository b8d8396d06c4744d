//! Human output: a line per failed attempt, the verdict, the timeline — on stderr — and the
//! JSON document on stdout. Presentation was decided at start-up; nothing here asks whether
//! a stream is a terminal.

use std::io::Write;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use stillup::report::Report;
use stillup::timeline::short_seconds;
use stillup::{Event, Outcome, OutcomeKind};

use super::args::OutputFormat;
use super::config::Presentation;
use super::exit::Signal;
use super::progress::Progress;

const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// Prints one run as it happens.
#[derive(Debug)]
pub struct Renderer {
    presentation: Presentation,
    command: &'static str,
    target: String,
    timeout: Duration,
    progress: Option<Progress>,
}

impl Renderer {
    pub fn new(
        presentation: Presentation,
        command: &'static str,
        target: String,
        timeout: Duration,
    ) -> Self {
        let progress =
            (presentation.spinner && command != "check").then(|| Progress::start(&target, timeout));
        Renderer {
            presentation,
            command,
            target,
            timeout,
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
            None => {
                // A closed stderr is no reason to fail the run.
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// React to one event of the run.
    pub fn on_event(&self, event: &Event<'_>) {
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
                if let Some(failure) = attempt.failure() {
                    let message = stillup::redact::redact_url(&failure.to_string());
                    let when =
                        format!("({}s / {})", tenths(attempt.started), seconds(self.timeout));
                    self.line(&format!("  {message:<62} {}", self.paint(DIM, &when)));
                }
            }
            Event::Sleeping { .. } => {}
            _ => {}
        }
    }

    /// Print the verdict and timeline (human) or the JSON document.
    pub fn finish(&mut self, outcome: &Outcome, signal: Option<Signal>) {
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
        if self.presentation.quiet {
            return;
        }
        match self.presentation.format {
            OutputFormat::Json => {
                let report = Report::new(self.command, &self.target, outcome);
                let mut stdout = std::io::stdout().lock();
                // A closed pipe (`| head`) ends output quietly.
                let _ = serde_json::to_writer_pretty(&mut stdout, &report);
                let _ = writeln!(stdout);
            }
            OutputFormat::Human => self.verdict(outcome, signal),
        }
    }

    fn verdict(&self, outcome: &Outcome, signal: Option<Signal>) {
        let attempts = outcome.attempts.len();
        let elapsed = tenths(outcome.elapsed);
        let target = &self.target;
        match (outcome.kind, self.command) {
            (OutcomeKind::Healthy, "check") => {
                let detail = outcome
                    .attempts
                    .last()
                    .map(|a| match a.status {
                        Some(status) => format!(" (HTTP {status} in {}ms)", a.duration.as_millis()),
                        None => String::new(),
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
            (OutcomeKind::GaveUp, "check") => {
                let why = outcome
                    .last_failure()
                    .map(|f| stillup::redact::redact_url(&f.to_string()))
                    .unwrap_or_else(|| "no attempt was made".into());
                self.line(&format!(
                    "{} {target} is not healthy: {why}",
                    self.paint(BAD, "✗")
                ));
                return;
            }
            (OutcomeKind::GaveUp, _) => {
                let plural = if attempts == 1 { "" } else { "s" };
                self.line(&format!(
                    "{} {target} is not healthy — gave up after {elapsed}s of the {} deadline ({attempts} attempt{plural})",
                    self.paint(BAD, "✗"),
                    seconds(self.timeout),
                ));
            }
            (OutcomeKind::Interrupted, _) => {
                let by = match signal {
                    Some(Signal::Terminate) => "SIGTERM",
                    _ => "SIGINT",
                };
                self.line(&format!(
                    "{} interrupted by {by} after {elapsed}s — {target} was not healthy yet",
                    self.paint(BAD, "✗")
                ));
            }
        }
        if let Some(failure) = outcome.last_failure() {
            let message = stillup::redact::redact_url(&failure.to_string());
            self.line(&format!("  last failure: {message} [{}]", failure.class()));
        }
        let timeline = outcome.timeline();
        if !timeline.segments.is_empty() {
            let text = stillup::redact::redact_url(&timeline.to_string());
            self.line(&format!("  {} {text}", self.paint(DIM, "timeline:")));
        }
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
