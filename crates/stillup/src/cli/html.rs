//! `watch --report FILE.html`: one self-contained page to attach to a pipeline run — the
//! verdict (green only for budgets that held), a legend, and per target a chart of its samples
//! with each outage window marked exactly, the latency percentiles, the outage windows, one row
//! per cause of failure (`HTTP 503` and `HTTP 502` apart) and the inconclusive samples apart.
//!
//! The charts share one time axis (wall-clock ticks, UTC) and one latency axis across targets,
//! so two targets compare at a glance. Samples are aggregated into at most one bar per pixel
//! column: a long watch makes a page of bounded size, and a column with any failure takes the
//! colour of its most common failure, so no outage vanishes in the aggregation. Inline SVG and
//! CSS only; no scripts, nothing fetched; every text a server or the user chose goes through
//! [`esc`].

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use stillup_core::watch::report::{inconclusive_text, Verdict, WatchReport};
use stillup_core::watch::{ChartPoint, WatchOutcome};

/// The width of each chart.
const WIDTH: f64 = 960.0;
/// The plot's edges: room for the latency labels on the left, half a time label on the right.
const PLOT_LEFT: f64 = 72.0;
const PLOT_RIGHT: f64 = WIDTH - 32.0;
const PLOT_TOP: f64 = 14.0;
const PLOT_HEIGHT: f64 = 120.0;
const PLOT_BOTTOM: f64 = PLOT_TOP + PLOT_HEIGHT;
const HEIGHT: f64 = PLOT_BOTTOM + 40.0;
/// At most one bar per pixel column of the plot, whatever the number of samples.
pub(crate) const MAX_COLUMNS: usize = (PLOT_RIGHT - PLOT_LEFT) as usize;

const HEALTHY: &str = "#2e9d4f";
/// No evidence either way (stillup's own trouble): neither green nor red.
const INCONCLUSIVE: &str = "#b8bec4";
const OUTAGE: &str = "#c0392b";

/// The failure colours, each with the classes drawn in it.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "#c0392b",
        &[
            "refused",
            "connect",
            "connect_timeout",
            "dns",
            "dns_timeout",
            "reset",
            "proxy",
        ],
    ),
    ("#8e44ad", &["response_timeout", "body_timeout"]),
    ("#2874a6", &["tls_handshake", "tls_verify"]),
    (
        "#e67e22",
        &[
            "http_status",
            "grpc_not_serving",
            "grpc_status",
            "grpc_service_unknown",
            "grpc_unimplemented",
            "server_unavailable",
            "auth_failed",
            "db_starting",
            "db_not_primary",
            "db_too_many_connections",
            "db_unknown_database",
            "db_host_blocked",
            "db_loading",
            "db_busy",
        ],
    ),
    ("#d4ac0d", &["condition_failed", "fail_when"]),
];
/// Every other failure class.
const OTHER_FAILURE: &str = "#5d6d7e";

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
        None => HEALTHY,
        Some("inconclusive") => INCONCLUSIVE,
        Some(class) => GROUPS
            .iter()
            .find(|(_, classes)| classes.contains(&class))
            .map_or(OTHER_FAILURE, |(colour, _)| colour),
    }
}

/// `1.50` → `1.5`, `2.00` → `2`.
fn trimmed(number: f64, decimals: usize) -> String {
    let text = format!("{number:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A latency with as many digits as it deserves: `0.42 ms`, `3.1 ms`, `250 ms`, `2.1 s`.
fn latency(ms: f64) -> String {
    match ms {
        ms if ms <= 0.0 => "0 ms".into(),
        ms if ms < 1.0 => format!("{} ms", trimmed(ms, 2)),
        ms if ms < 10.0 => format!("{} ms", trimmed(ms, 1)),
        ms if ms < 1000.0 => format!("{ms:.0} ms"),
        ms => format!("{} s", trimmed(ms / 1000.0, 2)),
    }
}

/// A span of time: `340 ms`, `2.4 s`, `3 min 05 s`, `2 h 10 min`.
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 1.0 => latency(s * 1000.0),
        s if s < 60.0 => format!("{} s", trimmed(s, 1)),
        s if s < 3600.0 => {
            let s = s.round() as u64;
            format!("{} min {:02} s", s / 60, s % 60)
        }
        s => {
            let m = (s / 60.0).round() as u64;
            format!("{} h {:02} min", m / 60, m % 60)
        }
    }
}

/// A share in percent that never rounds to 100 (or 0) unless it is.
fn percent(value: f64) -> String {
    if value >= 100.0 {
        "100%".into()
    } else if value <= 0.0 {
        "0%".into()
    } else if value < 0.01 {
        "<0.01%".into()
    } else if value > 99.99 {
        "99.99%".into()
    } else {
        format!("{}%", trimmed(value, 2))
    }
}

/// `12,000`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time of day in UTC: `14:05:30`, with `tenths` `14:05:30.2`, without `seconds` `14:05`.
fn clock(unix: f64, tenths: bool, seconds: bool) -> String {
    let total = (unix * 10.0).round().max(0.0) as u64;
    let (tenth, secs) = (total % 10, total / 10);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    match (seconds, tenths) {
        (false, _) => format!("{h:02}:{m:02}"),
        (true, false) => format!("{h:02}:{m:02}:{s:02}"),
        (true, true) => format!("{h:02}:{m:02}:{s:02}.{tenth}"),
    }
}

/// `2026-12-08 14:05:30 UTC`.
fn date_time(at: SystemTime) -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(at).to_string();
    format!(
        "{} UTC",
        rfc3339.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// Wall-clock ticks over `[start, start + span]` (seconds since the epoch): round times of
/// day, at most eight of them.
fn time_ticks(start: f64, span: f64) -> (f64, Vec<f64>) {
    const STEPS: [f64; 21] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
        3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
    ];
    let step = STEPS
        .into_iter()
        .find(|step| span / step <= 7.0)
        .unwrap_or(86400.0 * (span / 86400.0 / 7.0).ceil());
    let first = (start / step - 1e-9).ceil() * step;
    let ticks = (0..=8)
        .map(|i| first + step * f64::from(i))
        .take_while(|tick| *tick <= start + span + 1e-9)
        .collect();
    (step, ticks)
}

/// A latency axis from 0 over `slowest` milliseconds: its top and its ticks, 1-2-5 steps.
fn latency_ticks(slowest: f64) -> (f64, Vec<f64>) {
    let slowest = slowest.max(0.01);
    let raw = slowest / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let top = (slowest / step - 1e-9).ceil().max(1.0) * step;
    let ticks = (0..=8)
        .map(|i| step * f64::from(i))
        .take_while(|tick| *tick <= top + step * 1e-6)
        .collect();
    (top, ticks)
}

/// The samples of one pixel column (or wider, for a short watch).
#[derive(Debug, Default, Clone)]
struct Column {
    samples: u32,
    healthy: u32,
    inconclusive: u32,
    /// Failed samples per class, in the order seen.
    failed: Vec<(&'static str, u32)>,
    /// The slowest conclusive sample, in milliseconds.
    slowest_ms: f64,
}

impl Column {
    fn add(&mut self, point: &ChartPoint) {
        self.samples += 1;
        if point.is_inconclusive() {
            self.inconclusive += 1;
            return;
        }
        self.slowest_ms = self.slowest_ms.max(point.latency().as_secs_f64() * 1000.0);
        match point.class() {
            None => self.healthy += 1,
            Some(class) => match self.failed.iter_mut().find(|(c, _)| *c == class) {
                Some((_, n)) => *n += 1,
                None => self.failed.push((class, 1)),
            },
        }
    }

    /// The class the column is drawn as: its most common failure if any failed (an outage
    /// must not vanish among healthy samples), else healthy, else no evidence.
    fn class(&self) -> Option<&'static str> {
        let mut worst: Option<(&'static str, u32)> = None;
        for &(class, n) in &self.failed {
            if worst.is_none_or(|(_, most)| n > most) {
                worst = Some((class, n));
            }
        }
        match worst {
            Some((class, _)) => Some(class),
            None if self.healthy > 0 => None,
            None => Some("inconclusive"),
        }
    }
}

/// Buckets `points` into at most [`MAX_COLUMNS`] columns of equal time over `span` seconds;
/// with fewer samples than that, about one sample per column.
fn columns(points: &[ChartPoint], span: f64) -> Vec<Column> {
    let n = points.len().clamp(1, MAX_COLUMNS);
    let mut columns = vec![Column::default(); n];
    // In whole microseconds: samples on schedule fall each in its own column, where floating
    // point would put some of them one column early.
    let span_us = ((span * 1e6).round() as u128).max(1);
    for point in points {
        let at_us = point.at().as_micros();
        let i = usize::try_from(at_us * n as u128 / span_us).map_or(n - 1, |i| i.min(n - 1));
        columns[i].add(point);
    }
    columns
}

/// Scales shared by every target's chart.
struct Axes {
    /// Seconds since the epoch at the start of the watch.
    start: f64,
    /// Seconds the watch covers.
    span: f64,
    /// The latency axis's top, in milliseconds.
    top_ms: f64,
    latency_ticks: Vec<f64>,
    time_step: f64,
    time_ticks: Vec<f64>,
}

impl Axes {
    fn x(&self, seconds: f64) -> f64 {
        PLOT_LEFT + (seconds / self.span).clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn y(&self, ms: f64) -> f64 {
        PLOT_BOTTOM - (ms / self.top_ms).clamp(0.0, 1.0) * PLOT_HEIGHT
    }

    /// The wall-clock time `seconds` into the watch.
    fn at(&self, seconds: f64) -> String {
        clock(self.start + seconds, self.span < 60.0, true)
    }

    fn draw(&self, page: &mut String) {
        for tick in &self.latency_ticks {
            let y = self.y(*tick);
            let _ = write!(
                page,
                "<line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/>\
                 <text class=\"tick\" x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                PLOT_LEFT - 6.0,
                y + 4.0,
                latency(*tick)
            );
        }
        let _ = write!(
            page,
            "<text class=\"axis\" transform=\"translate(14 {:.0}) rotate(-90)\" text-anchor=\"middle\">latency</text>",
            PLOT_TOP + PLOT_HEIGHT / 2.0
        );
        for tick in &self.time_ticks {
            let x = self.x(tick - self.start);
            let label = clock(*tick, self.time_step < 1.0, self.time_step < 60.0);
            let _ = write!(
                page,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{PLOT_BOTTOM}\" y2=\"{:.0}\" stroke=\"#888\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.0}\" text-anchor=\"middle\">{label}</text>",
                PLOT_BOTTOM + 5.0,
                PLOT_BOTTOM + 18.0
            );
        }
        let _ = write!(
            page,
            "<line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{PLOT_BOTTOM}\" y2=\"{PLOT_BOTTOM}\" stroke=\"#888\"/>\
             <line x1=\"{PLOT_LEFT}\" x2=\"{PLOT_LEFT}\" y1=\"{PLOT_TOP}\" y2=\"{PLOT_BOTTOM}\" stroke=\"#888\"/>\
             <text class=\"axis\" x=\"{PLOT_RIGHT}\" y=\"{:.0}\" text-anchor=\"end\">wall-clock time (UTC)</text>",
            PLOT_BOTTOM + 34.0
        );
    }
}

/// The key to the charts: the colours in use, the outage marker, what a bar's height means.
fn legend(outcome: &WatchOutcome, seconds_per_column: f64) -> String {
    let mut classes: Vec<&str> = Vec::new();
    let mut inconclusive = false;
    for target in &outcome.targets {
        inconclusive |= target.inconclusive > 0;
        for point in &target.points {
            if let Some(class) = point.class().filter(|c| *c != "inconclusive") {
                if !classes.contains(&class) {
                    classes.push(class);
                }
            }
        }
        for cause in &target.causes {
            if !classes.contains(&cause.class) {
                classes.push(cause.class);
            }
        }
    }
    let key = |colour: &str, text: &str| {
        format!(
            "<span class=\"key\"><span class=\"swatch\" style=\"background:{colour}\"></span>{}</span>",
            esc(text)
        )
    };
    let mut items = vec![key(HEALTHY, "healthy")];
    let mut colours: Vec<&str> = GROUPS.iter().map(|(colour, _)| *colour).collect();
    colours.push(OTHER_FAILURE);
    for colour in colours {
        let names: Vec<&str> = classes
            .iter()
            .copied()
            .filter(|class| class_colour(Some(class)) == colour)
            .collect();
        if !names.is_empty() {
            items.push(key(colour, &names.join(", ")));
        }
    }
    if inconclusive {
        items.push(key(INCONCLUSIVE, "inconclusive (no evidence)"));
    }
    items.push(format!(
        "<span class=\"key\"><span class=\"swatch\" style=\"background:{OUTAGE};opacity:.25;border-top:3px solid {OUTAGE}\"></span>outage window (exact)</span>"
    ));
    format!(
        "<p class=\"legend\">{}</p><p class=\"note\">A bar's height is the slowest sample in its column \
         (one column ≈ {}); its colour is the most common failure there, green when every sample was healthy. \
         Every chart shares the same time and latency scales.</p>",
        items.join(" "),
        duration(seconds_per_column)
    )
}

pub fn render(outcome: &WatchOutcome, report: &WatchReport) -> String {
    let span = outcome.elapsed.as_secs_f64().max(0.001);
    let start = unix_seconds(outcome.started_at);
    let slowest = outcome
        .targets
        .iter()
        .map(|t| t.latency.max.as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    let (top_ms, latency_ticks) = latency_ticks(slowest);
    let (time_step, time_ticks) = time_ticks(start, span);
    let axes = Axes {
        start,
        span,
        top_ms,
        latency_ticks,
        time_step,
        time_ticks,
    };
    let most_points = outcome
        .targets
        .iter()
        .map(|t| t.points.len())
        .max()
        .unwrap_or(0);
    let seconds_per_column = span / most_points.clamp(1, MAX_COLUMNS) as f64;

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
         <style>body{{font:14px system-ui,'DejaVu Sans',sans-serif;margin:24px;color:#222;max-width:980px}}\
         h1{{margin:0 0 4px}}h2{{font-size:17px;margin:28px 0 2px;overflow-wrap:anywhere}}\
         table{{border-collapse:collapse;margin:8px 0 14px}}td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}\
         td.n{{text-align:right;font-variant-numeric:tabular-nums}}th,td.c{{white-space:nowrap}}\
         .ok{{color:#2e9d4f}}.bad{{color:#c0392b}}.unsure{{color:#b9770e}}.neutral{{color:#555}}\
         .stats{{margin:2px 0 4px;color:#444}}svg{{display:block;margin:6px 0}}\
         svg text{{font:11px system-ui,'DejaVu Sans',sans-serif;fill:#444}}svg text.axis{{fill:#777}}\
         .key{{margin-right:16px;white-space:nowrap}}\
         .swatch{{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px;box-sizing:border-box}}\
         .legend{{margin:14px 0 0}}.note{{color:#666;font-size:12px;margin:2px 0 0}}</style></head><body>\
         <h1>stillup watch</h1><p>started {} · ended {} · watched {} · <span class=\"{}\">{}</span></p>",
        date_time(outcome.started_at),
        clock(start + span, false, true),
        duration(span),
        style,
        esc(&verdict)
    );
    page.push_str(&legend(outcome, seconds_per_column));
    for (target, summary) in outcome.targets.iter().zip(&report.targets) {
        let availability = match summary.availability {
            Some(value) => format!("{} available", percent(value)),
            None => "no conclusive sample".to_string(),
        };
        let inconclusive = if summary.inconclusive > 0 || summary.inconclusive_ms > 0.0 {
            format!(
                " · <span class=\"unsure\">{} inconclusive ({} without evidence: stillup's own trouble, not counted)</span>",
                count(summary.inconclusive),
                duration(summary.inconclusive_ms / 1000.0)
            )
        } else {
            String::new()
        };
        let outages = match summary.outages {
            0 => "no outage".to_string(),
            1 => format!("1 outage · down {}", duration(summary.downtime_ms / 1000.0)),
            n => format!(
                "{n} outages · down {} (longest {})",
                duration(summary.downtime_ms / 1000.0),
                duration(summary.longest_outage_ms / 1000.0)
            ),
        };
        let _ = write!(
            page,
            "<section><h2>{}</h2><p class=\"stats\">{} · {} samples · {outages}{inconclusive}</p>",
            esc(&summary.target),
            esc(&availability),
            count(summary.samples),
        );
        let _ = write!(
            page,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"samples and outages of {}\">\
             <rect x=\"{PLOT_LEFT}\" y=\"{PLOT_TOP}\" width=\"{}\" height=\"{PLOT_HEIGHT}\" fill=\"#fafafa\"/>",
            esc(&summary.target),
            PLOT_RIGHT - PLOT_LEFT
        );
        axes.draw(&mut page);
        // Outage windows behind the bars, exact to the millisecond whatever the aggregation.
        for window in &target.windows {
            let from = axes.x(window.from.as_secs_f64());
            let to = axes.x(window.to.as_secs_f64()).max(from + 1.0);
            let _ = write!(
                page,
                "<rect class=\"outage\" x=\"{from:.1}\" y=\"{PLOT_TOP}\" width=\"{:.1}\" height=\"{PLOT_HEIGHT}\" \
                 fill=\"{OUTAGE}\" fill-opacity=\"0.13\"><title>{}</title></rect>\
                 <rect x=\"{from:.1}\" y=\"{:.0}\" width=\"{:.1}\" height=\"4\" fill=\"{OUTAGE}\"/>",
                to - from,
                esc(&format!(
                    "outage {}–{}: {}",
                    axes.at(window.from.as_secs_f64()),
                    axes.at(window.to.as_secs_f64()),
                    stillup_core::watch::report::window_summary(window)
                )),
                PLOT_TOP - 6.0,
                to - from,
            );
        }
        bars(&mut page, &axes, &target.points);
        if target.points.is_empty() {
            let _ = write!(
                page,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">no samples</text>",
                (PLOT_LEFT + PLOT_RIGHT) / 2.0,
                PLOT_TOP + PLOT_HEIGHT / 2.0
            );
        }
        page.push_str("</svg>");
        let l = &summary.latency;
        let _ = write!(
            page,
            "<table><tr><th>latency</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\
             <tr><td>conclusive samples</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
            latency(l.p50_ms),
            latency(l.p90_ms),
            latency(l.p99_ms),
            latency(l.max_ms)
        );
        if !summary.windows.is_empty() {
            page.push_str("<table><tr><th>outage</th><th>length</th><th>what happened</th></tr>");
            for w in &summary.windows {
                let _ = write!(
                    page,
                    "<tr><td>{}–{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    axes.at(w.from_ms / 1000.0),
                    axes.at(w.to_ms / 1000.0),
                    duration(w.length_ms / 1000.0),
                    esc(&w.summary)
                );
            }
            page.push_str("</table>");
        }
        causes(&mut page, target);
        if !summary.inconclusive_reasons.is_empty() {
            page.push_str(
                "<table><tr><th>inconclusive</th><th>samples (not counted)</th><th>why</th></tr>",
            );
            for (reason, n) in &summary.inconclusive_reasons {
                let why = match summary.examples.get(reason) {
                    Some(example) => example.clone(),
                    None => inconclusive_text(reason, None),
                };
                let _ = write!(
                    page,
                    "<tr><td class=\"unsure\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(reason),
                    count(*n),
                    esc(&why)
                );
            }
            page.push_str("</table>");
        }
        page.push_str("</section>");
    }
    page.push_str("</body></html>\n");
    page
}

/// The samples as bars, aggregated per column; neighbours that would look the same are
/// drawn as one rectangle.
fn bars(page: &mut String, axes: &Axes, points: &[ChartPoint]) {
    let columns = columns(points, axes.span);
    let width = (PLOT_RIGHT - PLOT_LEFT) / columns.len() as f64;
    // Wide columns (few samples) get a gap between them; thin ones touch.
    let gap = if width >= 4.0 { 1.0 } else { 0.0 };
    let mut i = 0;
    while i < columns.len() {
        let column = &columns[i];
        if column.samples == 0 {
            i += 1;
            continue;
        }
        let class = column.class();
        let (y, height) = if class == Some("inconclusive") {
            (PLOT_TOP, PLOT_HEIGHT)
        } else {
            let y = axes.y(column.slowest_ms).min(PLOT_BOTTOM - 2.0);
            (y, PLOT_BOTTOM - y)
        };
        let mut last = i;
        let mut merged = column.clone();
        if gap == 0.0 {
            while let Some(next) = columns.get(last + 1) {
                let next_y = axes.y(next.slowest_ms).min(PLOT_BOTTOM - 2.0);
                let same_look = next.samples > 0
                    && next.class() == class
                    && (class == Some("inconclusive") || (next_y - y).abs() < 0.5);
                if !same_look {
                    break;
                }
                merged.samples += next.samples;
                merged.healthy += next.healthy;
                merged.inconclusive += next.inconclusive;
                for &(c, n) in &next.failed {
                    match merged.failed.iter_mut().find(|(m, _)| *m == c) {
                        Some((_, total)) => *total += n,
                        None => merged.failed.push((c, n)),
                    }
                }
                merged.slowest_ms = merged.slowest_ms.max(next.slowest_ms);
                last += 1;
            }
        }
        let from = i as f64 * axes.span / columns.len() as f64;
        let to = (last + 1) as f64 * axes.span / columns.len() as f64;
        let failed: Vec<String> = merged
            .failed
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        let mut title = format!(
            "{}–{}: {} sample(s)",
            axes.at(from),
            axes.at(to),
            count(u64::from(merged.samples))
        );
        if !failed.is_empty() {
            let _ = write!(title, ", failed: {}", failed.join(", "));
        }
        if merged.inconclusive > 0 {
            let _ = write!(title, ", {} inconclusive", merged.inconclusive);
        }
        if merged.samples > merged.inconclusive {
            let _ = write!(title, ", slowest {}", latency(merged.slowest_ms));
        }
        let opacity = if class == Some("inconclusive") {
            " fill-opacity=\"0.6\""
        } else {
            ""
        };
        let _ = write!(
            page,
            "<rect class=\"sample\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{height:.1}\" fill=\"{}\"{opacity}><title>{}</title></rect>",
            PLOT_LEFT + i as f64 * width,
            (last + 1 - i) as f64 * width - gap,
            class_colour(class),
            esc(&title)
        );
        i = last + 1;
    }
}

/// One row per cause of failure, the most frequent first: a class split by what it looked
/// like, so `HTTP 503` and `HTTP 502` each get a row.
fn causes(page: &mut String, target: &stillup_core::watch::TargetWatch) {
    if target.causes.is_empty() {
        return;
    }
    let failed: u64 = target.causes.iter().map(|c| c.samples).sum();
    let mut causes: Vec<_> = target.causes.iter().collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.samples));
    page.push_str(
        "<table class=\"causes\"><tr><th>class</th><th>cause</th><th>failed samples</th><th>share</th><th>first seen as</th></tr>",
    );
    for cause in causes {
        let _ = write!(
            page,
            "<tr><td class=\"c\"><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            class_colour(Some(cause.class)),
            esc(cause.class),
            esc(&cause.label),
            count(cause.samples),
            percent(cause.samples as f64 * 100.0 / failed.max(1) as f64),
            esc(&cause.example)
        );
    }
    page.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;
    use std::time::Duration;

    use stillup_core::failure::FailureClass;
    use stillup_core::watch::report::Budgets;
    use stillup_core::watch::{
        Cause, LatencySummary, OutagePhase, OutageWindow, SampleRecord, TargetWatch,
    };

    fn outcome(healthy: u64, inconclusive: u64) -> WatchOutcome {
        WatchOutcome {
            started_at: UNIX_EPOCH + Duration::from_secs(1_796_688_000),
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
                causes: Vec::new(),
            }],
        }
    }

    /// A 20-minute watch at 10 samples a second: 12,000 samples, an outage of 503s then 502s
    /// from 300 s to 420 s.
    fn long_watch(target: &str) -> WatchOutcome {
        let mut points = Vec::new();
        let (mut c503, mut c502) = (0, 0);
        for index in 0..12_000u64 {
            let at = Duration::from_millis(index * 100);
            let status = match at.as_secs() {
                300..360 => Some(503),
                360..420 => Some(502),
                _ => None,
            };
            match status {
                Some(503) => c503 += 1,
                Some(_) => c502 += 1,
                None => {}
            }
            points.push(ChartPoint::new(&SampleRecord {
                index,
                at,
                lagged_from: None,
                latency: Duration::from_micros(800 + (index % 50) * 40),
                class: status.map(|_| FailureClass::HttpStatus),
                status,
                inconclusive: None,
            }));
        }
        let cause = |status: u16, samples| Cause {
            class: "http_status",
            label: format!("HTTP {status}"),
            samples,
            example: format!("HTTP {status} from {target}, expected 2xx"),
        };
        let phase = |status: u16, from, to, samples| OutagePhase {
            class: "http_status",
            label: format!("HTTP {status}"),
            from: Duration::from_secs(from),
            to: Duration::from_secs(to),
            samples,
        };
        WatchOutcome {
            started_at: UNIX_EPOCH + Duration::from_secs(1_796_688_000),
            elapsed: Duration::from_secs(1200),
            stopped: false,
            targets: vec![TargetWatch {
                target: target.into(),
                kind: "http",
                total: 12_000,
                healthy: 12_000 - c503 - c502,
                inconclusive: 0,
                inconclusive_reasons: BTreeMap::new(),
                unknown: Duration::ZERO,
                unknown_runs: 0,
                points,
                windows: vec![OutageWindow {
                    from: Duration::from_secs(300),
                    to: Duration::from_secs(420),
                    phases: vec![phase(503, 300, 360, c503), phase(502, 360, 420, c502)],
                    ongoing: false,
                    unknown: Duration::ZERO,
                }],
                latency: LatencySummary {
                    max: Duration::from_micros(2760),
                    ..LatencySummary::default()
                },
                classes: BTreeMap::from([("http_status", c503 + c502)]),
                examples: BTreeMap::new(),
                causes: vec![cause(503, c503), cause(502, c502)],
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
        assert!(blind.contains("<td class=\"unsure\">local_limit</td><td class=\"n\">10</td>"));
    }

    #[test]
    fn twelve_thousand_samples_make_a_bounded_page_with_exact_outages_and_a_row_per_cause() {
        let outcome = long_watch("http://127.0.0.1:1/");
        let page = render(
            &outcome,
            &WatchReport::new(&outcome, &Budgets::default(), None),
        );
        let bars = page.matches("class=\"sample\"").count();
        assert!(bars > 10, "{bars} bars");
        assert!(bars <= MAX_COLUMNS, "{bars} bars for 12,000 samples");
        assert!(page.matches("<rect").count() <= MAX_COLUMNS + 10);
        assert!(page.len() < 400_000, "{} bytes", page.len());
        // The outage's shading starts and ends exactly where the window does.
        let x = |seconds: f64| PLOT_LEFT + seconds / 1200.0 * (PLOT_RIGHT - PLOT_LEFT);
        let shading = format!(
            "class=\"outage\" x=\"{:.1}\" y=\"{PLOT_TOP}\" width=\"{:.1}\"",
            x(300.0),
            x(420.0) - x(300.0)
        );
        assert!(page.contains(&shading), "{shading}");
        // Failed columns keep their colour among thousands of healthy samples.
        let orange = class_colour(Some("http_status"));
        assert!(page.matches(&format!("fill=\"{orange}\"")).count() >= 2);
        // One row per cause, the class named on each, their counts as measured.
        let table = &page[page.find("<table class=\"causes\"").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr>").count(), 3, "{table}");
        assert!(
            table.contains("<td>HTTP 503</td><td class=\"n\">600</td><td class=\"n\">50%</td>"),
            "{table}"
        );
        assert!(
            table.contains("<td>HTTP 502</td><td class=\"n\">600</td>"),
            "{table}"
        );
        assert_eq!(table.matches(">http_status</td>").count(), 2);
        assert!(page.contains("12,000 samples"));
    }

    #[test]
    fn the_page_has_a_legend_wall_clock_ticks_and_a_latency_axis() {
        let outcome = long_watch("http://127.0.0.1:1/");
        let page = render(
            &outcome,
            &WatchReport::new(&outcome, &Budgets::default(), None),
        );
        assert!(page.contains("class=\"legend\""));
        assert!(page.contains("healthy"));
        assert!(page.contains("outage window"));
        assert!(page.contains("http_status"));
        // 1_796_688_000 is 2026-12-08 00:00:00 UTC; 20 minutes → a tick every 5 minutes.
        assert!(
            page.contains("started 2026-12-08 00:00:00 UTC"),
            "{}",
            &page[..2000]
        );
        for tick in ["00:00", "00:05", "00:10", "00:15", "00:20"] {
            assert!(page.contains(&format!(">{tick}</text>")), "no tick {tick}");
        }
        assert!(page.contains("wall-clock time (UTC)"));
        // The slowest sample is 2.76 ms: ticks of 1 ms up to 3 ms.
        for tick in ["0 ms", "1 ms", "2 ms", "3 ms"] {
            assert!(page.contains(&format!(">{tick}</text>")), "no tick {tick}");
        }
        assert!(page.contains(">latency</text>"));
        assert!(page.contains("watched 20 min 00 s"));
    }

    #[test]
    fn every_chart_shares_one_latency_scale() {
        let mut outcome = long_watch("http://127.0.0.1:1/fast");
        let mut slow = long_watch("http://127.0.0.1:1/slow").targets.remove(0);
        slow.latency.max = Duration::from_millis(900);
        outcome.targets.push(slow);
        let page = render(
            &outcome,
            &WatchReport::new(&outcome, &Budgets::default(), None),
        );
        // Both charts run to the slower target's 1 s, so the fast one's bars stay low.
        assert_eq!(page.matches(">1 s</text>").count(), 2);
        assert_eq!(page.matches(">3 ms</text>").count(), 0);
    }

    #[test]
    fn a_hostile_target_name_is_escaped_everywhere() {
        let outcome = long_watch("http://127.0.0.1:1/<script>alert(1)</script>\x1b[31m\u{202e}\"'");
        let page = render(
            &outcome,
            &WatchReport::new(&outcome, &Budgets::default(), None),
        );
        assert!(!page.contains("<script"));
        assert!(!page.contains('\x1b') && !page.contains('\u{202e}'));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;[31m&quot;&#39;"));
    }

    #[test]
    fn numbers_have_the_digits_they_deserve() {
        assert_eq!(latency(0.4213), "0.42 ms");
        assert_eq!(latency(3.12), "3.1 ms");
        assert_eq!(latency(250.4), "250 ms");
        assert_eq!(latency(2100.0), "2.1 s");
        assert_eq!(duration(0.34), "340 ms");
        assert_eq!(duration(2.0), "2 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(7800.0), "2 h 10 min");
        assert_eq!(percent(99.999), "99.99%");
        assert_eq!(percent(200.0 / 3.0), "66.67%");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(0.001), "<0.01%");
        assert_eq!(count(12_000), "12,000");
        assert_eq!(count(999), "999");
        assert_eq!(clock(1_796_688_000.0 + 3723.25, true, true), "01:02:03.3");
        let (step, ticks) = time_ticks(100.25, 1.5);
        assert_eq!(step, 0.5);
        assert_eq!(ticks, [100.5, 101.0, 101.5]);
    }

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("\x1b[31mred\u{9b}\r\n\u{202e}x\x7f"), "[31mredx");
    }

    #[test]
    fn a_column_with_any_failure_takes_the_colour_of_its_most_common_one() {
        let point = |class: Option<FailureClass>, inconclusive| {
            ChartPoint::new(&SampleRecord {
                index: 0,
                at: Duration::ZERO,
                lagged_from: None,
                latency: Duration::from_millis(1),
                class,
                status: None,
                inconclusive,
            })
        };
        let mut column = Column::default();
        for _ in 0..50 {
            column.add(&point(None, None));
        }
        column.add(&point(Some(FailureClass::Refused), None));
        column.add(&point(Some(FailureClass::HttpStatus), None));
        column.add(&point(Some(FailureClass::HttpStatus), None));
        assert_eq!(column.class(), Some("http_status"));
        let mut unknown = Column::default();
        unknown.add(&point(None, Some("local_limit")));
        assert_eq!(unknown.class(), Some("inconclusive"));
        unknown.add(&point(None, None));
        assert_eq!(unknown.class(), None);
    }
}
