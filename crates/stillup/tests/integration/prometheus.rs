//! `stillup exporter` proven with the real thing: a real Prometheus scrapes it with the
//! relabelling a blackbox_exporter user already has, and its query API must show each
//! loopback target's `probe_success` and `probe_failure_info{class}`; `promtool check
//! metrics` must accept every page the exporter serves. The same harness runs against the real
//! blackbox_exporter (`Exporter` is either), which keeps the harness honest: what Prometheus
//! shows for blackbox is what the test expects of stillup, minus the failure class.
//!
//! Prometheus, promtool and blackbox_exporter come from `scripts/peers.sh`; without them these
//! tests skip loudly (and fail under `STILLUP_REQUIRE_SERVICES`, as in CI).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use stillup_testkit::prometheus::{
    http_request, installed, percent_encode, promtool_check_metrics, BlackboxExporter, Cadence,
    HttpReply, ProbeJob, Prometheus, Sample, BLACKBOX_EXPORTER, PROMETHEUS, PROMTOOL,
};

use super::support::{
    closed_port, self_signed, serve, serve_json, serve_tls, Behavior, Reply, ScriptedServer,
    TempDir,
};

/// How long Prometheus may take to show a verdict (it scrapes every second).
const SERIES_WAIT: Duration = Duration::from_secs(20);
/// The bound on one request to an exporter.
const PROBE_LIMIT: Duration = Duration::from_secs(15);

/// Which exporter a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Stillup,
    Blackbox,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Stillup => "stillup exporter",
            Which::Blackbox => "blackbox_exporter",
        }
    }
}

#[derive(Debug)]
enum Process {
    Stillup(super::exporter::Exporter),
    Blackbox(BlackboxExporter),
}

/// An exporter under test: stillup or blackbox_exporter, on 127.0.0.1.
#[derive(Debug)]
pub struct Exporter {
    pub which: Which,
    process: Process,
}

impl Exporter {
    pub fn stillup(args: &[&str]) -> Exporter {
        Exporter {
            which: Which::Stillup,
            process: Process::Stillup(super::exporter::Exporter::start(args)),
        }
    }

    pub fn blackbox(config: &str) -> Exporter {
        let exporter = BlackboxExporter::start(config)
            .unwrap_or_else(|e| panic!("blackbox_exporter starts: {e}"));
        Exporter {
            which: Which::Blackbox,
            process: Process::Blackbox(exporter),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match &self.process {
            Process::Stillup(p) => SocketAddr::from(([127, 0, 0, 1], p.port)),
            Process::Blackbox(p) => p.addr(),
        }
    }

    /// What the exporter logged so far (for failure messages).
    pub fn log(&self) -> String {
        match &self.process {
            Process::Stillup(p) => p.log(),
            Process::Blackbox(p) => p.log(),
        }
    }

    /// `GET path` with `headers`.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpReply {
        http_request(self.addr(), "GET", path, headers, PROBE_LIMIT).unwrap_or_else(|e| {
            panic!(
                "{} answers GET {path}: {e}\n--- its log ---\n{}",
                self.which.name(),
                self.log()
            )
        })
    }

    /// `GET /probe?target=…&module=…` as Prometheus sends it, with its scrape timeout.
    pub fn probe(&self, target: &str, module: &str, scrape_timeout: Duration) -> HttpReply {
        let path = format!(
            "/probe?target={}&module={}",
            percent_encode(target),
            percent_encode(module)
        );
        let seconds = format!("{}", scrape_timeout.as_secs_f64());
        self.get(&path, &[("X-Prometheus-Scrape-Timeout-Seconds", &seconds)])
    }
}

/// One sample of a page in Prometheus' text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a page in Prometheus' text format (comments skipped, label values
/// unescaped).
pub fn parse_page(page: &str) -> Vec<Line> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Line> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => break i,
                ',' | ' ' => {}
                '=' => {
                    let (_, quote) = chars.next()?;
                    if quote != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            c => value.push(c),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        };
        rest = &body[end + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Line {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The value of the first sample named `name` on the page.
pub fn value_of(page: &[Line], name: &str) -> Option<f64> {
    page.iter().find(|l| l.name == name).map(|l| l.value)
}

/// The `class` label of `probe_failure_info` on the page, if it has one.
pub fn failure_class(page: &[Line]) -> Option<String> {
    page.iter()
        .find(|l| l.name == "probe_failure_info")
        .map(|l| l.labels.get("class").cloned().unwrap_or_default())
}

/// The loopback targets of the end-to-end test, with what each must show.
struct Targets {
    _servers: Vec<ScriptedServer>,
    /// (job, target, module, probe_success, stillup's failure class)
    cases: Vec<(
        &'static str,
        String,
        &'static str,
        f64,
        Option<&'static str>,
    )>,
}

fn targets() -> Targets {
    let healthy = serve(Behavior::Respond(Reply::text(200, "ok")));
    let unavailable = serve(Behavior::Respond(Reply::text(503, "starting")));
    let tls = serve_tls(
        &self_signed(&["127.0.0.1"], None),
        Behavior::Respond(Reply::text(200, "ok")),
    );
    let json_healthy = serve_json(r#"{"status": "healthy"}"#);
    let json_degraded = serve_json(r#"{"status": "degraded"}"#);
    // Never answers: the probe must end within the budget the scrape timeout leaves.
    let hang = serve(Behavior::Hang);
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let cases = vec![
        ("http", healthy.url("/health"), "http_2xx", 1.0, None),
        ("http", refused, "http_2xx", 0.0, Some("refused")),
        (
            "http",
            unavailable.url("/health"),
            "http_2xx",
            0.0,
            Some("http_status"),
        ),
        (
            "http",
            tls.url("/health"),
            "http_2xx",
            0.0,
            Some("tls_verify"),
        ),
        (
            "http",
            hang.url("/health"),
            "http_2xx",
            0.0,
            Some("response_timeout"),
        ),
        ("json", json_healthy.url("/status"), "json_ok", 1.0, None),
        (
            "json",
            json_degraded.url("/status"),
            "json_ok",
            0.0,
            Some("condition_failed"),
        ),
    ];
    Targets {
        _servers: vec![healthy, unavailable, tls, hang, json_healthy, json_degraded],
        cases,
    }
}

/// blackbox_exporter's modules for the end-to-end test: `json_ok` by regexp, as blackbox
/// users write it for lack of JSON conditions.
const BLACKBOX_YML: &str = r#"modules:
  http_2xx:
    prober: http
    timeout: 5s
  json_ok:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ['"status":\s*"healthy"']
"#;

/// stillup's modules for the end-to-end test: `http_2xx` is built in.
const STILLUP_TOML: &str = r#"[modules.json_ok]
prober = "http"
expect-json = ['$.status == "healthy"']
"#;

fn start_exporter(which: Which, dir: &TempDir) -> Exporter {
    match which {
        Which::Blackbox => Exporter::blackbox(BLACKBOX_YML),
        Which::Stillup => {
            let config = dir.file("stillup.toml");
            std::fs::write(&config, STILLUP_TOML).unwrap();
            Exporter::stillup(&["--config", path_str(&config)])
        }
    }
}

/// The programs a test of `which` needs: `peers`, and blackbox_exporter when it is the one.
pub fn needed(which: Which, peers: &[&'static str]) -> Vec<&'static str> {
    let mut programs = peers.to_vec();
    if which == Which::Blackbox {
        programs.push(BLACKBOX_EXPORTER);
    }
    programs
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn by_instance(samples: &[Sample]) -> BTreeMap<String, Sample> {
    samples
        .iter()
        .map(|s| (s.label("instance").to_string(), s.clone()))
        .collect()
}

/// Prometheus scrapes the exporter for every target; its query API must show each target's
/// verdict, every scrape up, and (for stillup) the failure class of each failed target.
fn prometheus_shows_each_verdict(which: Which, test: &str) {
    if !installed(&needed(which, &[PROMETHEUS]), test) {
        return;
    }
    let dir = TempDir::new("prometheus");
    let targets = targets();
    let exporter = start_exporter(which, &dir);
    let mut jobs: Vec<ProbeJob> = ["http", "json"]
        .iter()
        .map(|job| {
            let cases: Vec<_> = targets.cases.iter().filter(|c| c.0 == *job).collect();
            ProbeJob {
                name: job.to_string(),
                module: cases[0].2.to_string(),
                targets: cases.iter().map(|c| c.1.clone()).collect(),
                exporter: exporter.addr(),
            }
        })
        .collect();
    // A module the exporter does not have: its own failure, which must take the scrape down
    // (`up == 0`) rather than blame the target with `probe_success 0`.
    jobs.push(ProbeJob {
        name: "bad_module".into(),
        module: "no_such_module".into(),
        targets: vec![targets.cases[0].1.clone()],
        exporter: exporter.addr(),
    });
    let prometheus = Prometheus::start(&jobs, Cadence::default())
        .unwrap_or_else(|e| panic!("Prometheus starts: {e}"));
    let all = targets.cases.len();
    let context = || {
        format!(
            "--- {} log ---\n{}\n--- Prometheus log ---\n{}",
            which.name(),
            exporter.log(),
            prometheus.log()
        )
    };

    // Every scrape must succeed, the hanging target's too (the probe ends within the
    // scrape's budget): a target's failure is data, never a failed scrape.
    let up = prometheus
        .wait_for(r#"up{job!="bad_module"}"#, SERIES_WAIT, |s| {
            s.len() == all && s.iter().all(|s| s.value == 1.0)
        })
        .unwrap_or_else(|e| panic!("every scrape of {} is up: {e}\n{}", which.name(), context()));
    assert_eq!(up.len(), all);
    prometheus
        .wait_for(r#"up{job="bad_module"}"#, SERIES_WAIT, |s| {
            s.len() == 1 && s[0].value == 0.0
        })
        .unwrap_or_else(|e| {
            panic!(
                "an unknown module takes the scrape down: {e}\n{}",
                context()
            )
        });

    let success = prometheus
        .wait_for(r#"probe_success{job!="bad_module"}"#, SERIES_WAIT, |s| {
            s.len() == all
        })
        .unwrap_or_else(|e| panic!("probe_success of every target: {e}\n{}", context()));
    let success = by_instance(&success);
    let blamed = prometheus
        .query(r#"probe_success{job="bad_module"}"#)
        .unwrap_or_else(|e| panic!("query: {e}"));
    assert!(
        blamed.is_empty(),
        "no verdict from a failed scrape: {blamed:?}"
    );
    for (job, target, _, expected, _) in &targets.cases {
        let sample = success
            .get(target)
            .unwrap_or_else(|| panic!("no probe_success for {target}: {success:?}"));
        assert_eq!(
            sample.value,
            *expected,
            "{}: probe_success of {target}\n{}",
            which.name(),
            context()
        );
        assert_eq!(sample.label("job"), *job);
    }

    if which == Which::Stillup {
        let failed = targets.cases.iter().filter(|c| c.4.is_some()).count();
        let info = prometheus
            .wait_for("probe_failure_info", SERIES_WAIT, |s| s.len() == failed)
            .unwrap_or_else(|e| {
                panic!(
                    "probe_failure_info of each failed target: {e}\n{}",
                    context()
                )
            });
        let info = by_instance(&info);
        for (_, target, _, _, class) in &targets.cases {
            match class {
                Some(class) => {
                    let sample = info
                        .get(target)
                        .unwrap_or_else(|| panic!("no probe_failure_info for {target}: {info:?}"));
                    assert_eq!(
                        sample.label("class"),
                        *class,
                        "class of {target}\n{}",
                        context()
                    );
                    assert_eq!(sample.value, 1.0);
                }
                None => assert!(
                    !info.contains_key(target),
                    "a healthy target has no probe_failure_info: {info:?}"
                ),
            }
        }
        // The class is usable in a query, as an alert rule would use it.
        let refused = prometheus
            .query(r#"probe_success == 0 and on(instance) probe_failure_info{class="refused"}"#)
            .unwrap_or_else(|e| panic!("the alert-style query runs: {e}"));
        assert_eq!(refused.len(), 1, "one refused target: {refused:?}");
    }
}

#[test]
fn prometheus_shows_stillups_verdict_and_failure_class_for_each_target() {
    prometheus_shows_each_verdict(
        Which::Stillup,
        "prometheus_shows_stillups_verdict_and_failure_class_for_each_target",
    );
}

#[test]
fn prometheus_shows_blackbox_exporters_verdict_for_the_same_targets() {
    prometheus_shows_each_verdict(
        Which::Blackbox,
        "prometheus_shows_blackbox_exporters_verdict_for_the_same_targets",
    );
}

/// Every page the exporter serves — a probe of each case, and its own `/metrics` — passes
/// `promtool check metrics`, and each probe page says the verdict it should.
fn every_page_passes_promtool(which: Which, test: &str) {
    if !installed(&needed(which, &[PROMTOOL]), test) {
        return;
    }
    let dir = TempDir::new("promtool");
    let targets = targets();
    let exporter = start_exporter(which, &dir);
    let mut pages = Vec::new();
    for (_, target, module, expected, class) in &targets.cases {
        let reply = exporter.probe(target, module, Duration::from_secs(5));
        let what = format!("/probe of {target} with {module}");
        assert_eq!(reply.status, 200, "{what}: {}", reply.text());
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
            "{what}: Content-Type {content_type:?}"
        );
        let page = parse_page(&reply.text());
        assert_eq!(
            value_of(&page, "probe_success"),
            Some(*expected),
            "{what}:\n{}",
            reply.text()
        );
        assert!(
            value_of(&page, "probe_duration_seconds").is_some(),
            "{what}:\n{}",
            reply.text()
        );
        if which == Which::Stillup {
            assert_eq!(
                failure_class(&page).as_deref(),
                *class,
                "{what}:\n{}",
                reply.text()
            );
        }
        pages.push((what, reply.text()));
    }
    let metrics = exporter.get("/metrics", &[]);
    assert_eq!(metrics.status, 200, "/metrics: {}", metrics.text());
    pages.push(("/metrics".to_string(), metrics.text()));
    for (what, page) in &pages {
        if let Err(e) = promtool_check_metrics(page) {
            panic!("{}: {what}: {e}\n--- the page ---\n{page}", which.name());
        }
    }
}

#[test]
fn every_page_stillup_exporter_serves_passes_promtool() {
    every_page_passes_promtool(
        Which::Stillup,
        "every_page_stillup_exporter_serves_passes_promtool",
    );
}

#[test]
fn every_page_blackbox_exporter_serves_passes_promtool() {
    every_page_passes_promtool(
        Which::Blackbox,
        "every_page_blackbox_exporter_serves_passes_promtool",
    );
}

#[test]
fn a_page_in_the_text_format_is_read_back_with_its_labels() {
    let page = parse_page(
        "# HELP x y\nprobe_success 1\nprobe_http_duration_seconds{phase=\"tls\"} 0.25\n\
         probe_failure_info{class=\"re\\\"fused\",a=\"b\"} 1\n",
    );
    assert_eq!(value_of(&page, "probe_success"), Some(1.0));
    assert_eq!(page[1].labels["phase"], "tls");
    assert_eq!(failure_class(&page).as_deref(), Some("re\"fused"));
    assert_eq!(page[2].labels["a"], "b");
}
