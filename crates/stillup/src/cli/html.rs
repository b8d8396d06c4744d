//! `watch --report FILE.html`: one self-contained page to attach to a pipeline run — a
//! timeline per target (samples, and each outage window marked), the latency percentiles
//! and the per-class counts, the inconclusive samples apart, and the verdict (green only for
//! budgets that held). Inline SVG and CSS only; no scripts, nothing fetched.

use std::fmt::Write as _;

use stillup_core::watch::report::{inconclusive_text, Verdict, WatchReport};
use stillup_core::watch::WatchOutcome;

const WIDTH: f64 = 960.0;
const ROW: f64 = 56.0;

/// Escape text for HTML and SVG. Control characters (C0, DEL, C1) and bidi overrides are
/// dropped first: servers choose much of this text, and a page must read as it shows.
pub(crate) fn esc(text: &str) -> String {
    let text: String = text
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                )
                && !('\u{202a}'..='\u{202e}').contains(c)
                && !('\u{2066}'..='\u{2069}').contains(c)
        })
        .collect();
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn class_colour(class: Option<&str>) -> &'static str {
    match class {
        None => "#2e9d4f",
        // No evidence either way (stillup's own trouble): neither green nor red.
        Some("inconclusive") => "#b8bec4",
        Some("refused" | "connect" | "connect_timeout") => "#c0392b",
        Some("http_status") => "#e67e22",
        Some("condition_failed" | "fail_when") => "#d4ac0d",
        Some("response_timeout" | "body_timeout") => "#8e44ad",
        Some(_) => "#7f8c8d",
    }
}

pub fn render(outcome: &WatchOutcome, report: &WatchReport) -> String {
    let span = outcome.elapsed.as_secs_f64().max(0.001);
    let x = |seconds: f64| 10.0 + (seconds / span) * (WIDTH - 20.0);
    let mut page = String::new();
    // Only a budget that held is green; with none set, nothing was judged.
    let (style, verdict) = match report.verdict {
        Verdict::WithinBudget => ("ok", "within budget".to_string()),
        Verdict::OverBudget => (
            "bad",
            format!("over budget: {}", report.violations.join("; ")),
        ),
        Verdict::Inconclusive => (
            "unsure",
            format!("no verdict: {}", report.undecided.join("; ")),
        ),
        Verdict::NoBudgetSet => ("neutral", "no budget set: nothing judged".to_string()),
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>stillup watch report</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:24px;color:#222}}\
         table{{border-collapse:collapse;margin:8px 0 20px}}td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}\
         .ok{{color:#2e9d4f}}.bad{{color:#c0392b}}.unsure{{color:#b9770e}}.neutral{{color:#555}}svg{{display:block;margin:6px 0}}</style></head><body>\
         <h1>stillup watch</h1><p>watched for {:.1}s · <span class=\"{}\">{}</span></p>",
        outcome.elapsed.as_secs_f64(),
        style,
        esc(&verdict)
    );
    for (target, summary) in outcome.targets.iter().zip(&report.targets) {
        let availability = match summary.availability {
            Some(percent) => format!("{percent:.3}% available"),
            None => "no conclusive sample".to_string(),
        };
        let inconclusive = if summary.inconclusive > 0 || summary.inconclusive_ms > 0.0 {
            format!(
                " · <span class=\"unsure\">{} inconclusive ({:.3}s without evidence: stillup's own trouble, not counted)</span>",
                summary.inconclusive,
                summary.inconclusive_ms / 1000.0
            )
        } else {
            String::new()
        };
        let _ = write!(
            page,
            "<h2>{}</h2><p>{} · {} samples · {} outage(s) · down {:.3}s (longest {:.3}s){inconclusive}</p>",
            esc(&summary.target),
            esc(&availability),
            summary.samples,
            summary.outages,
            summary.downtime_ms / 1000.0,
            summary.longest_outage_ms / 1000.0
        );
        let _ = write!(
            page,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" \
             role=\"img\" aria-label=\"timeline of samples and outages\">\
             <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{ROW}\" fill=\"#f6f6f6\"/>",
            ROW + 18.0
        );
        for window in &target.windows {
            let from = x(window.from.as_secs_f64());
            let to = x(window.to.as_secs_f64()).max(from + 1.0);
            let _ = write!(
                page,
                "<rect class=\"outage\" x=\"{from:.1}\" y=\"2\" width=\"{:.1}\" height=\"{}\" \
                 fill=\"#c0392b\" fill-opacity=\"0.18\" stroke=\"#c0392b\"><title>{}</title></rect>",
                to - from,
                ROW - 4.0,
                esc(&format!(
                    "outage {:.1}s–{:.1}s: {}",
                    window.from.as_secs_f64(),
                    window.to.as_secs_f64(),
                    stillup_core::watch::report::window_summary(window)
                ))
            );
        }
        // Latency as the sample's height: a stall shows as a tall bar.
        let slowest = target.latency.max.as_secs_f64().max(0.001);
        for sample in &target.points {
            let height = 4.0 + (sample.latency().as_secs_f64() / slowest) * (ROW - 12.0);
            let _ = write!(
                page,
                "<rect class=\"sample\" x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"{height:.1}\" fill=\"{}\"/>",
                x(sample.at().as_secs_f64()),
                ROW - 4.0 - height,
                class_colour(sample.class())
            );
        }
        let _ = write!(
            page,
            "<text x=\"10\" y=\"{:.0}\" font-size=\"11\">0s</text>\
             <text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" text-anchor=\"end\">{span:.1}s</text></svg>",
            ROW + 14.0,
            WIDTH - 10.0,
            ROW + 14.0
        );
        let l = &summary.latency;
        let _ = write!(
            page,
            "<table><tr><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\
             <tr><td>{:.1} ms</td><td>{:.1} ms</td><td>{:.1} ms</td><td>{:.1} ms</td></tr></table>",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
        if !summary.windows.is_empty() {
            page.push_str("<table><tr><th>outage</th><th>length</th><th>what happened</th></tr>");
            for w in &summary.windows {
                let _ = write!(
                    page,
                    "<tr><td>{:.1}s–{:.1}s</td><td>{:.3}s</td><td>{}</td></tr>",
                    w.from_ms / 1000.0,
                    w.to_ms / 1000.0,
                    w.length_ms / 1000.0,
                    esc(&w.summary)
                );
            }
            page.push_str("</table>");
        }
        if !summary.classes.is_empty() {
            page.push_str("<table><tr><th>class</th><th>failed samples</th><th>example</th></tr>");
            for (class, count) in &summary.classes {
                let example = summary
                    .examples
                    .get(class)
                    .map(String::as_str)
                    .unwrap_or("");
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td>{count}</td><td>{}</td></tr>",
                    esc(class),
                    esc(example)
                );
            }
            page.push_str("</table>");
        }
        if !summary.inconclusive_reasons.is_empty() {
            page.push_str(
                "<table><tr><th>inconclusive</th><th>samples (not counted)</th><th>why</th></tr>",
            );
            for (reason, count) in &summary.inconclusive_reasons {
                let why = match summary.examples.get(reason) {
                    Some(example) => example.clone(),
                    None => inconclusive_text(reason, None),
                };
                let _ = write!(
                    page,
                    "<tr><td class=\"unsure\">{}</td><td>{count}</td><td>{}</td></tr>",
                    esc(reason),
                    esc(&why)
                );
            }
            page.push_str("</table>");
        }
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;
    use std::time::Duration;

    use stillup_core::watch::report::Budgets;
    use stillup_core::watch::{LatencySummary, TargetWatch};

    fn outcome(healthy: u64, inconclusive: u64) -> WatchOutcome {
        WatchOutcome {
            elapsed: Duration::from_secs(1),
            stopped: false,
            targets: vec![TargetWatch {
                target: "http://127.0.0.1:1/".into(),
                kind: "http",
                total: healthy + inconclusive,
                healthy,
                inconclusive,
                inconclusive_reasons: BTreeMap::from([("local_limit", inconclusive)]),
                unknown: Duration::from_millis(100 * inconclusive),
                unknown_runs: u64::from(inconclusive > 0),
                points: Vec::new(),
                windows: Vec::new(),
                latency: LatencySummary::default(),
                classes: BTreeMap::new(),
                examples: BTreeMap::new(),
            }],
        }
    }

    /// The class of the verdict's span in the page's first paragraph.
    fn verdict_class(page: &str) -> &str {
        let span = &page[page.find("<span class=\"").expect("a verdict span") + 13..];
        &span[..span.find('"').unwrap()]
    }

    #[test]
    fn only_a_budget_that_held_is_green() {
        let budget = Budgets {
            max_downtime: Some(Duration::ZERO),
            ..Budgets::default()
        };
        let page = |outcome: &WatchOutcome, budgets: &Budgets| {
            render(outcome, &WatchReport::new(outcome, budgets, None))
        };
        let healthy = outcome(10, 0);
        assert_eq!(verdict_class(&page(&healthy, &budget)), "ok");
        let unbudgeted = page(&healthy, &Budgets::default());
        assert_eq!(verdict_class(&unbudgeted), "neutral");
        assert!(unbudgeted.contains("no budget set"));
        let blind = page(&outcome(0, 10), &budget);
        assert_eq!(verdict_class(&blind), "unsure");
        assert!(blind.contains("no verdict") && blind.contains("no conclusive sample"));
        assert!(blind.contains("10 inconclusive"));
        assert!(blind.contains("<td class=\"unsure\">local_limit</td><td>10</td>"));
    }

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("\x1b[31mred\u{9b}\r\n\u{202e}x\x7f"), "[31mredx");
    }
}
