//! The exporter's pages for people: `/` (modules and recent probes, each with its reason and
//! where its time went) and `/probe?…&debug=true` (one probe in full, as blackbox_exporter's
//! debug output shows it). Every string from a server or a target is escaped for HTML or
//! sanitized for text; targets are shown without credentials.

use std::fmt::Write as _;
use std::time::Duration;

use stillup_core::sanitize::display_safe;
use stillup_core::timings::PhaseTimings;

use super::allow::AllowList;
use super::metrics::ProbeRecord;
use super::module::{Module, Modules};
use crate::cli::html::esc;
use stillup_core::wallclock::rfc3339;

fn millis(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.1}ms", d.as_secs_f64() * 1000.0),
        None => "–".to_string(),
    }
}

/// `dns 0.1ms · connect 0.3ms · tls – · first byte 2.0ms · body 0.1ms`.
fn phases(timings: &PhaseTimings) -> String {
    [
        ("dns", timings.dns),
        ("connect", timings.connect),
        ("tls", timings.tls),
        ("first byte", timings.first_byte),
        ("body", timings.body),
    ]
    .iter()
    .map(|(name, took)| format!("{name} {}", millis(*took)))
    .collect::<Vec<_>>()
    .join(" · ")
}

fn verdict(record: &ProbeRecord) -> String {
    match &record.result.result {
        Ok(()) => "healthy".to_string(),
        Err(failure) => format!(
            "{}: {}",
            failure.class().as_str(),
            display_safe(failure).as_str()
        ),
    }
}

/// When the probe started, as RFC 3339.
fn timestamp(record: &ProbeRecord) -> String {
    rfc3339(record.at)
}

/// `5s`, or what a module without a timeout of its own gets.
fn timeout(module: &Module) -> String {
    match module.timeout {
        Some(own) => format!("{own:?}"),
        None => format!(
            "the scrape's (without one: {:?})",
            module.recipe.attempt_timeout()
        ),
    }
}

fn prober(module: &Module) -> &'static str {
    module
        .prober
        .map_or("by the target's scheme", |k| k.as_str())
}

/// The `/probe?…&debug=true` answer: what happened, then the page Prometheus would get.
pub fn debug(record: &ProbeRecord, module: &Module, metrics: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "Logs for the probe:");
    let _ = writeln!(
        text,
        "{} probe of {} with module {} (budget {:.3}s)",
        timestamp(record),
        record.target,
        module.name,
        record.budget.as_secs_f64()
    );
    let _ = writeln!(text, "result: {}", verdict(record));
    if let Some(remote) = record.result.remote {
        let _ = writeln!(text, "address: {remote}");
    }
    if let Some(status) = record.result.status {
        let _ = writeln!(text, "status: {status}");
    }
    let _ = writeln!(
        text,
        "phases: {}; total {}",
        phases(&record.result.timings),
        millis(Some(record.result.timings.total))
    );
    if let Some(tls) = &record.result.details.tls {
        let _ = writeln!(text, "tls: {}", tls.version);
    }
    let _ = writeln!(text, "\nMetrics that would have been returned:\n{metrics}");
    let _ = writeln!(
        text,
        "Module configuration:\nname: {}\nprober: {}\ntimeout: {}\nfrom: {}",
        module.name,
        prober(module),
        timeout(module),
        module.source
    );
    text
}

/// The `/` page.
pub fn index(modules: &Modules, recent: &[ProbeRecord], allow: &AllowList) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>stillup exporter</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
         .ok{color:#157f3b}.bad{color:#b42318}code{font-size:90%}</style></head><body>\
         <h1>stillup exporter</h1><p>Probe with <code>/probe?target=URL&amp;module=NAME</code>\
         (add <code>&amp;debug=true</code> to see one in full); the exporter's own metrics are at \
         <a href=\"/metrics\">/metrics</a>.</p>",
    );
    let _ = write!(
        html,
        "<p>Targets allowed: {}</p>",
        if allow.is_open() {
            "any (no --allow-target)".to_string()
        } else {
            esc(&allow.to_string())
        }
    );
    html.push_str(
        "<h2>Modules</h2><table><tr><th>name</th><th>prober</th><th>timeout</th><th>from</th></tr>",
    );
    for module in modules.iter() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&module.name),
            prober(module),
            esc(&timeout(module)),
            esc(&module.source)
        );
    }
    html.push_str("</table><h2>Recent probes</h2>");
    if recent.is_empty() {
        html.push_str("<p>None yet.</p>");
    } else {
        html.push_str(
            "<table><tr><th>at</th><th>module</th><th>target</th><th>result</th>\
             <th>took</th><th>where the time went</th></tr>",
        );
        for record in recent {
            let class = if record.result.result.is_ok() {
                "ok"
            } else {
                "bad"
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                timestamp(record),
                esc(&record.module),
                esc(&record.target),
                esc(&verdict(record)),
                millis(Some(record.result.timings.total)),
                esc(&phases(&record.result.timings))
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}
