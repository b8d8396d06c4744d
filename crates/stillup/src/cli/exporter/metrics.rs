//! What the exporter says in metrics: the page of one probe, named as blackbox_exporter
//! names its metrics wherever the meaning is the same (so dashboards and alerts keep
//! working), plus `probe_failure_info{class}`; and the exporter's own counters for
//! `/metrics`.
//!
//! Only stable words become label values (a failure class, a module name from the config, a
//! TLS version): a message with durations or ports would make a new series at every scrape.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stillup_core::failure::Failure;
use stillup_core::probe::{Kind, ProbeResult};

use crate::cli::openmetrics::{Exposition, Flavor, MetricType};

/// One probe as it went, for its page, the log and the index page.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    pub module: String,
    /// The target, safe to show (credentials and secret query values hidden).
    pub target: String,
    pub kind: Kind,
    pub result: ProbeResult,
    /// When it started (wall clock, for the index page).
    pub at: SystemTime,
    /// The budget it had.
    pub budget: Duration,
}

impl ProbeRecord {
    pub fn class(&self) -> Option<&'static str> {
        self.result
            .result
            .as_ref()
            .err()
            .map(|f| f.class().as_str())
    }
}

fn seconds(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

/// The page `/probe` answers with.
pub fn probe_page(record: &ProbeRecord, flavor: Flavor) -> String {
    let mut page = Exposition::new(flavor);
    let result = &record.result;
    let timings = &result.timings;
    page.single(
        "probe_dns_lookup_time_seconds",
        MetricType::Gauge,
        "Returns the time taken for probe dns lookup in seconds",
        seconds(timings.dns),
    );
    page.single(
        "probe_duration_seconds",
        MetricType::Gauge,
        "Returns how long the probe took to complete in seconds",
        timings.total.as_secs_f64(),
    );
    if let Some(remote) = result.remote {
        page.single(
            "probe_ip_protocol",
            MetricType::Gauge,
            "Specifies whether probe ip protocol is IP4 or IP6",
            if remote.is_ipv4() { 4.0 } else { 6.0 },
        );
    }
    match record.kind {
        Kind::Http => http_metrics(&mut page, result),
        Kind::Grpc => grpc_metrics(&mut page, result),
        _ => {}
    }
    if let Some(tls) = &result.details.tls {
        if let Some(expiry) = tls.earliest_expiry {
            page.single(
                "probe_ssl_earliest_cert_expiry",
                MetricType::Gauge,
                "Returns last SSL chain expiry in unixtime",
                expiry as f64,
            );
        }
        let name = page.family(
            "probe_tls_version",
            MetricType::Info,
            "Returns the TLS version used or NaN when unknown",
        );
        page.sample(&name, &[("version", tls.version)], 1.0);
    }
    page.single(
        "probe_success",
        MetricType::Gauge,
        "Displays whether or not the probe was a success",
        if result.result.is_ok() { 1.0 } else { 0.0 },
    );
    if let Some(class) = record.class() {
        let name = page.family(
            "probe_failure",
            MetricType::Info,
            "Why the probe failed: stillup's stable failure class (see stillup's README)",
        );
        page.sample(&name, &[("class", class)], 1.0);
    }
    page.finish()
}

fn http_metrics(page: &mut Exposition, result: &ProbeResult) {
    let timings = &result.timings;
    let name = page.family(
        "probe_http_duration_seconds",
        MetricType::Gauge,
        "Duration of http request by phase, summed over all redirects",
    );
    for (phase, took) in [
        ("resolve", timings.dns),
        ("connect", timings.connect),
        ("tls", timings.tls),
        ("processing", timings.first_byte),
        ("transfer", timings.body),
    ] {
        page.sample(&name, &[("phase", phase)], seconds(took));
    }
    page.single(
        "probe_http_status_code",
        MetricType::Gauge,
        "Response HTTP status code",
        f64::from(result.status.unwrap_or(0)),
    );
    page.single(
        "probe_http_content_length",
        MetricType::Gauge,
        "Length of http content response",
        result.details.content_length.map_or(-1.0, |n| n as f64),
    );
    page.single(
        "probe_http_redirects",
        MetricType::Gauge,
        "The number of redirects",
        result.redirects as f64,
    );
    page.single(
        "probe_http_ssl",
        MetricType::Gauge,
        "Indicates if SSL was used for the final redirect",
        if result.details.tls.is_some() {
            1.0
        } else {
            0.0
        },
    );
    let version = match result.details.http_version {
        Some("1.0") => 1.0,
        Some("1.1") => 1.1,
        Some("2") => 2.0,
        _ => 0.0,
    };
    page.single(
        "probe_http_version",
        MetricType::Gauge,
        "Returns the version of HTTP of the probe response",
        version,
    );
}

fn grpc_metrics(page: &mut Exposition, result: &ProbeResult) {
    // The call's grpc-status, when the call got that far; the serving status it reported.
    let (code, serving) = match &result.result {
        Ok(()) => (Some(0), Some("SERVING")),
        Err(Failure::GrpcNotServing { status, .. }) => (Some(0), Some(status.as_str())),
        Err(Failure::GrpcServiceUnknown { .. }) => (Some(5), None),
        Err(Failure::GrpcUnimplemented { .. }) => (Some(12), None),
        Err(Failure::GrpcStatus { code, .. }) => (Some(*code), None),
        Err(_) => (None, None),
    };
    if let Some(code) = code {
        page.single(
            "probe_grpc_status_code",
            MetricType::Gauge,
            "Response gRPC status code",
            f64::from(code),
        );
    }
    let name = page.family(
        "probe_grpc_healthcheck_response",
        MetricType::Gauge,
        "Response HealthCheck response",
    );
    for status in ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] {
        // A status outside the four is shown as UNKNOWN rather than as a label of its own.
        let is = match serving {
            Some(s) if ["SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"].contains(&s) => s == status,
            Some(_) => status == "UNKNOWN",
            None => false,
        };
        page.sample(
            &name,
            &[("serving_status", status)],
            if is { 1.0 } else { 0.0 },
        );
    }
    page.single(
        "probe_grpc_ssl",
        MetricType::Gauge,
        "Indicates if SSL was used for the connection",
        if result.details.tls.is_some() {
            1.0
        } else {
            0.0
        },
    );
}

/// Upper bounds of the probe duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; DURATION_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in DURATION_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Why a request to `/probe` was answered without a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// No target, an unknown module, a target the module can't probe.
    BadRequest,
    /// Outside `--allow-target`.
    Forbidden,
    /// `--max-concurrent` probes already in flight.
    Saturated,
    /// stillup's own trouble (out of descriptors, a probe that overran its budget).
    Internal,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::Forbidden => "forbidden",
            Refusal::Saturated => "saturated",
            Refusal::Internal => "internal",
        }
    }
}

/// How many probes the index page lists.
pub const RECENT_PROBES: usize = 100;

/// The exporter's own counters, for `/metrics` and the index page.
#[derive(Debug)]
pub struct Stats {
    started: SystemTime,
    in_flight: AtomicI64,
    /// Probes by module and outcome (a failure class, or `healthy`).
    probes: Mutex<BTreeMap<(String, &'static str), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    refused: Mutex<BTreeMap<Refusal, u64>>,
    reload_ok: AtomicBool,
    reload_at: AtomicU64,
    recent: Mutex<VecDeque<ProbeRecord>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Stats {
    pub fn new() -> Stats {
        let now = SystemTime::now();
        Stats {
            started: now,
            in_flight: AtomicI64::new(0),
            probes: Mutex::default(),
            durations: Mutex::default(),
            refused: Mutex::default(),
            reload_ok: AtomicBool::new(true),
            reload_at: AtomicU64::new(unix_seconds(now) as u64),
            recent: Mutex::default(),
        }
    }

    /// A probe starts; the guard counts it out when dropped.
    pub fn start_probe(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn record(&self, record: &ProbeRecord) {
        let outcome = record.class().unwrap_or("healthy");
        *lock(&self.probes)
            .entry((record.module.clone(), outcome))
            .or_default() += 1;
        lock(&self.durations)
            .entry(record.module.clone())
            .or_default()
            .observe(record.result.timings.total.as_secs_f64());
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_PROBES {
            recent.pop_front();
        }
        recent.push_back(record.clone());
    }

    pub fn refused(&self, why: Refusal) {
        *lock(&self.refused).entry(why).or_default() += 1;
    }

    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.store(ok, Ordering::Relaxed);
        if ok {
            self.reload_at
                .store(unix_seconds(SystemTime::now()) as u64, Ordering::Relaxed);
        }
    }

    pub fn last_reload_ok(&self) -> bool {
        self.reload_ok.load(Ordering::Relaxed)
    }

    /// The most recent probes, newest first.
    pub fn recent(&self) -> Vec<ProbeRecord> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    /// The `/metrics` page; `log_dropped` log lines were dropped so far.
    pub fn page(&self, flavor: Flavor, log_dropped: u64) -> String {
        let mut page = Exposition::new(flavor);
        let name = page.family(
            "stillup_exporter_build",
            MetricType::Info,
            "The stillup version serving these metrics",
        );
        page.sample(&name, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        page.single(
            "stillup_exporter_start_time_seconds",
            MetricType::Gauge,
            "When the exporter started, in seconds since the UNIX epoch",
            unix_seconds(self.started),
        );
        let name = page.family(
            "stillup_exporter_probes",
            MetricType::Counter,
            "Probes run, by module and outcome: healthy, or the failure class",
        );
        for ((module, outcome), count) in lock(&self.probes).iter() {
            page.sample(
                &name,
                &[("module", module), ("outcome", outcome)],
                *count as f64,
            );
        }
        page.family(
            "stillup_exporter_probe_duration_seconds",
            MetricType::Histogram,
            "How long probes took, by module",
        );
        for (module, histogram) in lock(&self.durations).iter() {
            let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
                .iter()
                .copied()
                .zip(histogram.counts.iter().copied())
                .collect();
            page.histogram(
                "stillup_exporter_probe_duration_seconds",
                &[("module", module)],
                &buckets,
                histogram.sum,
                histogram.count,
            );
        }
        page.single(
            "stillup_exporter_probes_in_flight",
            MetricType::Gauge,
            "Probes running now",
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        let name = page.family(
            "stillup_exporter_requests_refused",
            MetricType::Counter,
            "Requests to /probe answered without a probe, by reason",
        );
        let refused = lock(&self.refused);
        for why in [
            Refusal::BadRequest,
            Refusal::Forbidden,
            Refusal::Saturated,
            Refusal::Internal,
        ] {
            let count = refused.get(&why).copied().unwrap_or(0);
            page.sample(&name, &[("reason", why.as_str())], count as f64);
        }
        drop(refused);
        page.single(
            "stillup_exporter_config_last_reload_successful",
            MetricType::Gauge,
            "Whether the last configuration reload succeeded",
            if self.last_reload_ok() { 1.0 } else { 0.0 },
        );
        page.single(
            "stillup_exporter_config_last_reload_success_timestamp_seconds",
            MetricType::Gauge,
            "When the configuration was last loaded successfully",
            self.reload_at.load(Ordering::Relaxed) as f64,
        );
        page.single(
            "stillup_exporter_log_lines_dropped",
            MetricType::Counter,
            "Log lines dropped because stderr could not keep up",
            log_dropped as f64,
        );
        if let Some(rss) = resident_bytes() {
            page.single(
                "process_resident_memory_bytes",
                MetricType::Gauge,
                "Resident memory size in bytes",
                rss as f64,
            );
        }
        page.finish()
    }
}

/// Counts a probe as in flight while it lives.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A poisoned lock only means a panic elsewhere; the counters are still whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// This process' resident memory, from /proc (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
