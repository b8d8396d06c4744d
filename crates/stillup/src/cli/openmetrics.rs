//! The two text formats Prometheus scrapes: its own exposition format (0.0.4) and
//! OpenMetrics 1.0. Owns the rules where they differ (how counters and info metrics are
//! declared, the closing `# EOF`) and the escaping of help text and label values, so that a
//! target URL or a class can never break a page. What is measured is the callers' business.

use std::fmt::Write as _;

/// Which of the two formats a page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Prometheus' text format, version 0.0.4: what every scraper reads.
    Prometheus,
    /// OpenMetrics 1.0: what Prometheus asks for first, and what Pushgateway and
    /// node_exporter's textfile collector read as well.
    OpenMetrics,
}

impl Flavor {
    /// The `Content-Type` of a page in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Flavor::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Flavor::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper's `Accept` header asks for: OpenMetrics when it names it.
    pub fn negotiate(accept: Option<&str>) -> Flavor {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Flavor::OpenMetrics,
            _ => Flavor::Prometheus,
        }
    }
}

/// What a metric family is, as the formats declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    /// Its samples are named `NAME_total`.
    Counter,
    /// Samples `NAME_bucket{le=…}`, `NAME_sum`, `NAME_count`.
    Histogram,
    /// A constant 1 whose labels carry the information; samples are named `NAME_info`
    /// (a gauge in Prometheus' format, which has no info type).
    Info,
}

/// A page of metrics being written, family by family.
#[derive(Debug)]
pub struct Exposition {
    flavor: Flavor,
    text: String,
}

impl Exposition {
    pub fn new(flavor: Flavor) -> Exposition {
        Exposition {
            flavor,
            text: String::new(),
        }
    }

    /// Start the family `name` (without `_total` or `_info`): its help and type lines.
    /// Returns the name its samples take.
    pub fn family(&mut self, name: &str, kind: MetricType, help: &str) -> String {
        let sample_name = match kind {
            MetricType::Counter => format!("{name}_total"),
            MetricType::Info => format!("{name}_info"),
            MetricType::Gauge | MetricType::Histogram => name.to_string(),
        };
        let (declared, type_word) = match (self.flavor, kind) {
            (Flavor::OpenMetrics, MetricType::Counter) => (name, "counter"),
            (Flavor::OpenMetrics, MetricType::Info) => (name, "info"),
            (Flavor::Prometheus, MetricType::Counter) => (sample_name.as_str(), "counter"),
            (Flavor::Prometheus, MetricType::Info) => (sample_name.as_str(), "gauge"),
            (_, MetricType::Gauge) => (name, "gauge"),
            (_, MetricType::Histogram) => (name, "histogram"),
        };
        let help = escape_help(help);
        let _ = writeln!(self.text, "# HELP {declared} {help}");
        let _ = writeln!(self.text, "# TYPE {declared} {type_word}");
        sample_name
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(value));
            }
            self.text.push('}');
        }
        self.text.push(' ');
        self.text.push_str(&number(value));
        self.text.push('\n');
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: MetricType, help: &str, value: f64) {
        let sample = self.family(name, kind, help);
        self.sample(&sample, &[], value);
    }

    /// A histogram's samples from cumulative `buckets` (upper bound, count at or below it),
    /// its `sum` and `count`.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let bucket_name = format!("{name}_bucket");
        for &(le, at_or_below) in buckets {
            let le = number(le);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket_name, &with_le, at_or_below as f64);
        }
        let mut with_inf = labels.to_vec();
        with_inf.push(("le", "+Inf"));
        self.sample(&bucket_name, &with_inf, count as f64);
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    /// The page, closed as its format requires.
    pub fn finish(mut self) -> String {
        if self.flavor == Flavor::OpenMetrics {
            self.text.push_str("# EOF\n");
        }
        self.text
    }
}

/// A number as both formats write it: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if value == value.trunc() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A label value inside double quotes: backslash, quote and newline escaped (both formats'
/// rule); other control characters are legal and kept.
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and newline escaped (a quote needs none there).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_info_are_declared_as_each_format_wants() {
        for flavor in [Flavor::Prometheus, Flavor::OpenMetrics] {
            let mut page = Exposition::new(flavor);
            let probes = page.family("stillup_probes", MetricType::Counter, "Probes run.");
            page.sample(&probes, &[("module", "http")], 3.0);
            let failure = page.family("probe_failure", MetricType::Info, "Why it failed.");
            page.sample(&failure, &[("class", "refused")], 1.0);
            let text = page.finish();
            assert!(text.contains("stillup_probes_total{module=\"http\"} 3\n"));
            assert!(text.contains("probe_failure_info{class=\"refused\"} 1\n"));
            match flavor {
                Flavor::Prometheus => {
                    assert!(text.contains("# TYPE stillup_probes_total counter\n"));
                    assert!(text.contains("# TYPE probe_failure_info gauge\n"));
                    assert!(!text.contains("# EOF"));
                }
                Flavor::OpenMetrics => {
                    assert!(text.contains("# TYPE stillup_probes counter\n"));
                    assert!(text.contains("# TYPE probe_failure info\n"));
                    assert!(text.ends_with("# EOF\n"));
                }
            }
        }
    }

    #[test]
    fn label_values_cannot_break_the_line() {
        let mut page = Exposition::new(Flavor::Prometheus);
        page.sample("x", &[("target", "a\"b\\c\nd")], 1.0);
        assert_eq!(page.finish(), "x{target=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn numbers_are_written_as_scrapers_read_them() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(1.7e18), "1700000000000000000");
    }

    #[test]
    fn histograms_end_with_inf_sum_and_count() {
        let mut page = Exposition::new(Flavor::OpenMetrics);
        page.family("d", MetricType::Histogram, "h");
        page.histogram("d", &[("module", "m")], &[(0.1, 2), (1.0, 3)], 1.5, 4);
        let text = page.finish();
        assert!(text.contains("d_bucket{module=\"m\",le=\"0.1\"} 2\n"));
        assert!(text.contains("d_bucket{module=\"m\",le=\"+Inf\"} 4\n"));
        assert!(text.contains("d_sum{module=\"m\"} 1.5\nd_count{module=\"m\"} 4\n"));
    }

    #[test]
    fn accept_headers_choose_the_format() {
        let prometheus_default = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Flavor::negotiate(Some(prometheus_default)),
            Flavor::OpenMetrics
        );
        assert_eq!(
            Flavor::negotiate(Some("text/plain;version=0.0.4")),
            Flavor::Prometheus
        );
        assert_eq!(Flavor::negotiate(None), Flavor::Prometheus);
    }
}
