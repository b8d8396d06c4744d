//! `stillup watch`: validate its flags, sample until the duration, Ctrl-C or the end of
//! `-- COMMAND`, print outages as they open and close, then the report and the verdict.
//! Text the world controls reaches the terminal only through `sanitize.rs`'s gate.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::time::Duration;

use anstyle::{AnsiColor, Style};

use stillup_core::redact::program_only;
use stillup_core::sanitize::{display_safe, Safe};
use stillup_core::watch::report::{
    inconclusive_text, reasons, window_summary, Budgets, Verdict, WatchReport,
};
use stillup_core::watch::{SampleRecord, TargetWatch, WatchOutcome, WatchPolicy};
use stillup_core::{Failure, Probe};

use super::args::{OutputFormat, Sources, TargetArgs, WatchArgs};
use super::config::{self, presentation_for, Presentation, UsageError};
use super::exit;
use super::input::Origins;
use super::metrics;
use super::openmetrics::Flavor;
use super::options;
use super::output_file::{self, OutputFile};
use super::progress::Progress;

/// A validated watch.
#[derive(Debug)]
pub struct WatchConfig {
    pub probes: Vec<Probe>,
    pub policy: WatchPolicy,
    pub budgets: Budgets,
    pub presentation: Presentation,
    /// `--output-file`s and `--report`, checked writable.
    pub files: Vec<OutputFile>,
    pub exec: Vec<String>,
}

pub fn watch_config(args: &WatchArgs, sources: &Sources) -> Result<WatchConfig, UsageError> {
    let targets = TargetArgs {
        targets: args.targets.clone(),
        targets_file: args.targets_file.clone(),
        config: None,
        any: false,
        require: None,
    };
    let (probes, sample_timeout) =
        config::watch_probes(&targets, &args.probe, sources, args.duration.as_deref())?;
    let probes = match args.keep_alive.as_deref() {
        None => probes,
        Some(mode) => with_keep_alive(probes, mode == "both"),
    };
    let duration = args
        .duration
        .as_deref()
        .map(|raw| config::duration("--duration", raw))
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        return Err(UsageError::new(
            "--duration",
            args.duration.as_deref().unwrap_or_default(),
            "must be more than 0",
        ));
    }
    let budgets = Budgets {
        max_downtime: args
            .max_downtime
            .as_deref()
            .map(|raw| config::duration("--max-downtime", raw))
            .transpose()?,
        max_outages: args
            .max_outages
            .as_deref()
            .map(|raw| {
                raw.trim().parse::<u64>().map_err(|_| {
                    UsageError::new("--max-outages", raw, "expected a whole number, e.g. 0 or 3")
                })
            })
            .transpose()?,
        min_availability: args
            .min_availability
            .as_deref()
            .map(
                |raw| match raw.trim().trim_end_matches('%').parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
                    _ => Err(UsageError::new(
                        "--min-availability",
                        raw,
                        "expected a percentage between 0 and 100, e.g. 99.9",
                    )),
                },
            )
            .transpose()?,
    };
    // Found out now, not after the whole watch has been sampled.
    let mut output = args.output.clone();
    config::split_output_variables(&mut output, sources);
    let files = output_file::files(
        &output.output_file,
        &Origins::new(sources),
        args.report.as_deref(),
        options::Command::Watch,
    )?;
    Ok(WatchConfig {
        probes,
        policy: WatchPolicy {
            rate: rate(&args.rate)?,
            duration,
            sample_timeout,
            max_in_flight: config::count("--max-in-flight", &args.max_in_flight)? as usize,
        },
        budgets,
        presentation: presentation_for(&args.output),
        files,
        exec: args.command.clone(),
    })
}

/// HTTP probes that reuse connections; with `both`, each next to its fresh-connection twin.
fn with_keep_alive(probes: Vec<Probe>, both: bool) -> Vec<Probe> {
    let mut out = Vec::new();
    for probe in probes {
        let Probe::Http(http) = &probe else {
            out.push(probe);
            continue;
        };
        let mut reusing = http.clone();
        reusing.keep_alive = true;
        reusing.pool = Default::default();
        if both {
            out.push(probe);
        }
        out.push(Probe::Http(reusing));
    }
    out
}

/// `10/s`, `100/s`, `30/m`, `5` (per second).
fn rate(raw: &str) -> Result<f64, UsageError> {
    let text = raw.trim();
    let (number, per) = match text.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (text, "s"),
    };
    let seconds = match per {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        _ => {
            return Err(UsageError::new(
                "--rate",
                raw,
                "expected a rate like 10/s, 100/s or 30/m",
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() && n / seconds <= 10_000.0 => Ok(n / seconds),
        _ => Err(UsageError::new(
            "--rate",
            raw,
            "expected a rate above 0 and at most 10000/s, like 10/s",
        )),
    }
}

const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const UNSURE: Style = AnsiColor::Yellow.on_default().bold();

/// Prints outages as they open and close, from the samples in schedule order.
struct Live {
    presentation: Presentation,
    names: Vec<Safe>,
    /// Per target: when the current outage started and the label that started it.
    down_since: RefCell<Vec<Option<(Duration, String)>>>,
    /// Per target: whether an inconclusive sample was already reported (once is enough).
    told_inconclusive: RefCell<Vec<bool>>,
    /// Conclusive samples and failed ones so far, for the status line.
    counts: Cell<(u64, u64)>,
    /// The live status line, on a terminal only.
    progress: Option<Progress>,
}

impl Live {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.presentation.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn line(&self, text: String) {
        match &self.progress {
            Some(progress) => progress.println(&text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn on_sample(&self, index: usize, sample: &SampleRecord, failure: Option<&Failure>) {
        if self.presentation.quiet {
            return;
        }
        let name = &self.names[index];
        let at = sample.at.as_secs_f64();
        if let Some(reason) = sample.inconclusive {
            // No evidence: it neither opens nor closes an outage.
            let mut told = self.told_inconclusive.borrow_mut();
            if told.get(index).is_some_and(|told| !told) {
                told[index] = true;
                let why = inconclusive_text(reason, failure);
                self.line(format!(
                    "{} {name} at {at:.1}s: inconclusive, not counted as downtime: {why}",
                    self.paint(UNSURE, "?")
                ));
            }
            return;
        }
        let (total, failed) = self.counts.get();
        let (total, failed) = (total + 1, failed + u64::from(failure.is_some()));
        self.counts.set((total, failed));
        let mut down = self.down_since.borrow_mut();
        let Some(slot) = down.get_mut(index) else {
            return;
        };
        match (failure, slot.as_ref()) {
            (Some(failure), None) => {
                let message = display_safe(failure);
                self.line(format!(
                    "{} {name} down at {at:.1}s: {message}",
                    self.paint(BAD, "✗")
                ));
                *slot = Some((sample.at, failure.label()));
            }
            (None, Some((since, _))) => {
                let length = sample.at.saturating_sub(*since).as_secs_f64();
                self.line(format!(
                    "{} {name} back up at {at:.1}s after {length:.1}s down",
                    self.paint(GOOD, "✓")
                ));
                *slot = None;
            }
            _ => {}
        }
        if let Some(progress) = &self.progress {
            let down_now = down.iter().filter(|d| d.is_some()).count();
            let available = (total - failed) as f64 * 100.0 / total as f64;
            progress.message(format!(
                "{total} samples · {available:.2}% available · {down_now} down now"
            ));
        }
    }
}

/// Run a validated watch; return the exit code.
pub async fn run(config: WatchConfig) -> u8 {
    let WatchConfig {
        probes,
        policy,
        budgets,
        presentation,
        files,
        exec,
    } = config;
    let names: Vec<Safe> = probes
        .iter()
        .map(|p| Safe::text(&stillup_core::watch::label(p)))
        .collect();
    if !presentation.quiet && presentation.format == OutputFormat::Human {
        let how_long = match (&policy.duration, exec.is_empty()) {
            (Some(d), _) => format!("for {:.0}s", d.as_secs_f64()),
            // The program only: its arguments often carry tokens.
            (None, false) => format!("while `{}` runs", Safe::text(program_only(&exec))),
            (None, true) => "until Ctrl-C".to_string(),
        };
        let names: Vec<&str> = names.iter().map(Safe::as_str).collect();
        // A closed stderr is no reason to fail (or panic) the watch.
        let _ = writeln!(
            std::io::stderr(),
            "watching {} at {}/s {how_long}",
            names.join(", "),
            policy.rate
        );
    }
    let progress = (presentation.spinner && presentation.format == OutputFormat::Human)
        .then(|| Progress::status(&Safe::text(&format!("{} target(s)", names.len()))));
    let live = Live {
        presentation,
        down_since: RefCell::new(vec![None; names.len()]),
        told_inconclusive: RefCell::new(vec![false; names.len()]),
        counts: Cell::new((0, 0)),
        progress,
        names,
    };
    let command_code = Cell::new(None::<u8>);
    let ended_by = Cell::new(None::<exit::Signal>);
    let stop = async {
        if exec.is_empty() {
            ended_by.set(Some(super::signals::next_signal().await));
        } else {
            // The command gets our SIGINT / SIGTERM / SIGHUP forwarded; the watch ends when it does.
            command_code.set(Some(super::exec::run_command(&exec).await));
        }
    };
    let outcome = stillup_core::watch::watch(
        &probes,
        &policy,
        |index, sample, failure| live.on_sample(index, sample, failure),
        stop,
    )
    .await;
    let command_code = command_code.get();
    if let Some(progress) = &live.progress {
        progress.clear();
    }
    let document = WatchReport::new(&outcome, &budgets, command_code.map(i32::from));
    let code = exit::for_watch(command_code, ended_by.get(), document.verdict);
    let document = document.ended(ended_by.get().map(exit::Signal::name), code);
    let mut unwritten = output_file::write_watch(&files, &outcome, &document);
    if !presentation.quiet {
        match presentation.format {
            OutputFormat::Json => {
                if let Err(e) = super::render::print_json(&document) {
                    unwritten = Some(super::output::failed("the JSON document", &e));
                }
            }
            OutputFormat::OpenMetrics => {
                let page = metrics::watch_page(
                    Flavor::OpenMetrics,
                    &document,
                    std::time::SystemTime::now(),
                );
                if let Err(e) = super::output::write_stdout(page.into_bytes()) {
                    unwritten = Some(super::output::failed("the metrics page", &e));
                }
            }
            OutputFormat::Markdown => {
                let page = super::markdown::watch_report(&document, std::time::SystemTime::now());
                if let Err(e) = super::output::write_stdout(page.into_bytes()) {
                    unwritten = Some(super::output::failed("the Markdown report", &e));
                }
            }
            OutputFormat::Human => print_summary(&outcome, &document, &live),
        }
    }
    if let Some(code) = unwritten {
        return code;
    }
    code
}

fn print_summary(outcome: &WatchOutcome, document: &WatchReport, live: &Live) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "watched for {:.1}s", outcome.elapsed.as_secs_f64());
    for target in &outcome.targets {
        let _ = writeln!(err, "{}", summary_of(target));
        let _ = writeln!(err, "  {}", strip(target, outcome.elapsed, 60));
        for window in &target.windows {
            let _ = writeln!(
                err,
                "  outage {:.1}s–{:.1}s ({:.1}s): {}",
                window.from.as_secs_f64(),
                window.to.as_secs_f64(),
                window.length().as_secs_f64(),
                Safe::line(&window_summary(window))
            );
        }
    }
    if let Some(code) = document.command_exit_code {
        let _ = writeln!(err, "command exited with {code}");
    }
    if let Some(signal) = document.signal {
        let _ = writeln!(err, "ended by {signal}");
    }
    for violation in &document.violations {
        let violation = Safe::line(violation);
        let _ = writeln!(err, "{} over budget: {violation}", live.paint(BAD, "✗"));
    }
    for undecided in &document.undecided {
        let undecided = Safe::line(undecided);
        let _ = writeln!(err, "{} no verdict: {undecided}", live.paint(UNSURE, "?"));
    }
    match document.verdict {
        Verdict::WithinBudget => {
            let _ = writeln!(err, "{} within budget", live.paint(GOOD, "✓"));
        }
        Verdict::NoBudgetSet => {
            // Neutral: nothing was judged, so nothing passed.
            let _ = writeln!(
                err,
                "no budget set: nothing judged (--max-downtime, --max-outages or --min-availability decide the exit code)"
            );
        }
        Verdict::OverBudget | Verdict::Inconclusive => {}
    }
}

fn summary_of(target: &TargetWatch) -> String {
    let classes: Vec<String> = target
        .classes
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    let failures = if classes.is_empty() {
        String::new()
    } else {
        format!(" · failed samples: {}", classes.join(", "))
    };
    let inconclusive = if target.inconclusive == 0 && target.unknown.is_zero() {
        String::new()
    } else {
        format!(
            " · inconclusive: {} sample{} ({}), {:.1}s without evidence",
            target.inconclusive,
            if target.inconclusive == 1 { "" } else { "s" },
            reasons(target),
            target.unknown.as_secs_f64()
        )
    };
    let availability = match target.availability() {
        Some(percent) => format!(
            "{percent:.3}% available ({} of {} conclusive samples)",
            target.healthy(),
            target.conclusive()
        ),
        None => format!(
            "no conclusive sample (0 of {} samples are evidence)",
            target.total()
        ),
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{}: {availability} · {} outage{} · down {:.1}s, longest {:.1}s · latency p50 {:.1}ms p90 {:.1}ms p99 {:.1}ms max {:.1}ms{failures}{inconclusive}",
        Safe::text(&target.target),
        target.windows.len(),
        if target.windows.len() == 1 { "" } else { "s" },
        target.downtime().as_secs_f64(),
        target.longest_outage().as_secs_f64(),
        ms(target.latency.p50),
        ms(target.latency.p90),
        ms(target.latency.p99),
        ms(target.latency.max),
    )
}

/// A compact timeline of the watch's `span`: `width` cells, `.` all healthy, `x` all failed,
/// `!` mixed, `?` only inconclusive samples.
fn strip(target: &TargetWatch, span: Duration, width: usize) -> String {
    if target.points.is_empty() {
        return String::from("(no samples)");
    }
    let span = span.as_secs_f64().max(1e-9);
    let width = width.min(target.points.len()).max(1);
    let mut cells = vec![(0u32, 0u32, 0u32); width];
    for sample in &target.points {
        let i = ((sample.at().as_secs_f64() / span) * width as f64).floor() as usize;
        let cell = &mut cells[i.min(width - 1)];
        if sample.is_inconclusive() {
            cell.2 += 1;
        } else if sample.is_healthy() {
            cell.0 += 1;
        } else {
            cell.1 += 1;
        }
    }
    let text: String = cells
        .iter()
        .map(|(ok, bad, unsure)| match (ok, bad, unsure) {
            (0, 0, 0) => ' ',
            (0, 0, _) => '?',
            (_, 0, _) => '.',
            (0, _, _) => 'x',
            _ => '!',
        })
        .collect();
    format!("[{text}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_units() {
        assert_eq!(rate("10/s").unwrap(), 10.0);
        assert_eq!(rate("30/m").unwrap(), 0.5);
        assert_eq!(rate("5").unwrap(), 5.0);
        assert!(rate("0/s").is_err());
        assert!(rate("fast").is_err());
        assert!(rate("10/h").is_err());
        assert!(rate("1000000/s").is_err());
    }
}
