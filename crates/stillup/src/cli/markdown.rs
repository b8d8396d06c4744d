//! `--output markdown` and `.md` files: a compact report for CI summaries
//! (`$GITHUB_STEP_SUMMARY`) and pull-request comments — the verdict, a table of targets,
//! the timeline, and for `watch` the outage windows.
//!
//! Every string that a target, a server or a user controls goes through [`text`]: control
//! characters stripped (via the sanitizer), Markdown's punctuation and HTML escaped, so that a
//! server's words can neither break a table nor inject a link or markup.

use std::fmt::Write as _;
use std::time::SystemTime;

use stillup_core::report::{Report, TargetReport};
use stillup_core::watch::report::{Verdict, WatchReport};

use stillup_core::wallclock::rfc3339;

/// Text from the world, safe inside a Markdown paragraph or table cell.
pub fn text(world: &str) -> String {
    let clean = stillup_core::sanitize::sanitize(world);
    let mut out = String::with_capacity(clean.len());
    for c in clean.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' | '{' | '}'
            | '+' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: f64) -> String {
    format!("{:.1}s", ms / 1000.0)
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

/// The report of a `wait` or `check` run that ended at `ended_at` with `exit_code`.
pub fn run_report(report: &Report<'_>, exit_code: u8, ended_at: SystemTime) -> String {
    let targets: Vec<TargetReport> = report
        .targets
        .iter()
        .map(|t| TargetReport::new(&t.target, t.name.as_deref(), t.kind, &t.outcome))
        .collect();
    let healthy = targets.iter().filter(|t| t.healthy).count();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {} stillup {}: {} of {} target{} {} ({})\n",
        mark(report.success),
        text(&report.command),
        healthy,
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        report.until,
        report.outcome.replace('_', " "),
    );
    let _ = writeln!(
        md,
        "Finished {} after {} of the {} deadline; exit code {exit_code}.\n",
        rfc3339(ended_at),
        seconds(report.elapsed_ms),
        seconds(report.timeout_ms),
    );
    md.push_str("| target | result | attempts | elapsed | last failure |\n");
    md.push_str("|---|---|---:|---:|---|\n");
    for target in &targets {
        let name = match &target.name {
            Some(name) => format!("{} ({})", text(name), text(&target.target)),
            None => text(&target.target),
        };
        let failure = match &target.last_failure {
            Some(failure) => format!("`{}` {}", failure.class, text(&failure.message)),
            None => "—".to_string(),
        };
        let _ = writeln!(
            md,
            "| {name} | {} {} | {} | {} | {failure} |",
            mark(target.healthy),
            target.outcome.replace('_', " "),
            target.attempts.len() as u32 + target.attempts_omitted,
            seconds(target.elapsed_ms),
        );
    }
    md.push('\n');
    for target in &targets {
        let _ = writeln!(
            md,
            "- **{}**: {}",
            text(&target.target),
            text(&target.timeline.summary)
        );
    }
    md
}

/// The report of a `watch` that ended at `ended_at`.
pub fn watch_report(report: &WatchReport, ended_at: SystemTime) -> String {
    let ok = report.within_budget != Some(false) && report.exit_code == 0;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {} stillup watch: {}\n",
        mark(ok),
        match report.verdict {
            Verdict::WithinBudget => "within budget",
            Verdict::OverBudget => "over budget",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NoBudgetSet => "no budget set",
        }
    );
    let _ = writeln!(
        md,
        "Finished {} after {}; exit code {}.\n",
        rfc3339(ended_at),
        seconds(report.elapsed_ms),
        report.exit_code
    );
    for violation in &report.violations {
        let _ = writeln!(md, "- ❌ {}", text(violation));
    }
    for undecided in &report.undecided {
        let _ = writeln!(md, "- ❔ {}", text(undecided));
    }
    if !report.violations.is_empty() || !report.undecided.is_empty() {
        md.push('\n');
    }
    md.push_str(
        "| target | availability | downtime | outages | p50 | p99 | samples |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for target in &report.targets {
        let availability = target
            .availability
            .map_or("—".to_string(), |a| format!("{:.3}%", a * 100.0));
        let _ = writeln!(
            md,
            "| {} | {availability} | {} | {} | {:.1}ms | {:.1}ms | {} |",
            text(&target.target),
            seconds(target.downtime_ms),
            target.outages,
            target.latency.p50_ms,
            target.latency.p99_ms,
            target.samples
        );
    }
    let windows: Vec<_> = report
        .targets
        .iter()
        .flat_map(|t| t.windows.iter().map(move |w| (t, w)))
        .collect();
    if !windows.is_empty() {
        md.push_str(
            "\n**Outages**\n\n| target | from | to | length | cause |\n|---|---:|---:|---:|---|\n",
        );
        for (target, window) in windows {
            let causes: Vec<String> = window
                .phases
                .iter()
                .map(|p| format!("`{}` {}", p.class, text(&p.label)))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {} | {} |",
                text(&target.target),
                seconds(window.from_ms),
                seconds(window.to_ms),
                if window.ongoing { " (ongoing)" } else { "" },
                seconds(window.length_ms),
                causes.join(", then ")
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn world_text_cannot_inject_markdown_or_html() {
        assert_eq!(
            text("[click](http://evil) | <img src=x> `code` *b*"),
            "\\[click\\]\\(http://evil\\) \\| &lt;img src=x&gt; \\`code\\` \\*b\\*"
        );
        // Control characters never reach the page; a newline cannot end a table row.
        let cleaned = text("a\u{1b}[31mb\nc");
        assert!(
            !cleaned.contains('\u{1b}') && !cleaned.contains('\n'),
            "{cleaned}"
        );
    }
}
