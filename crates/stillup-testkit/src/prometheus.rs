//! The real Prometheus, promtool and blackbox_exporter, started on 127.0.0.1 for tests that
//! prove `stillup exporter` against the programs its users run: a [`Prometheus`] scraping an
//! exporter's `/probe` with the relabelling a blackbox_exporter user already has, queried
//! through its HTTP API; a [`BlackboxExporter`] to compare verdicts with; `promtool check
//! metrics` over a page; and a small blocking HTTP/1.1 client ([`http_request`]) for all of it.
//!
//! Neither Prometheus nor blackbox_exporter can listen on port 0, so each start picks a free
//! port and tries again (a bounded number of times) when another process took it first. Every
//! process runs in a temp dir of its own, in its own process group, under `timeout` (so one
//! never dropped still ends), and is killed with its group when dropped. Every wait is bounded.
//! Whether the programs are installed is [`installed`]'s question, with the same loud skip as
//! [`crate::services::running`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::services::REQUIRE_VARIABLE;

/// Prometheus' name on Debian and upstream.
pub const PROMETHEUS: &str = "prometheus";
/// promtool, shipped with Prometheus.
pub const PROMTOOL: &str = "promtool";
/// blackbox_exporter's name on Debian (upstream calls it `blackbox_exporter`).
pub const BLACKBOX_EXPORTER: &str = "prometheus-blackbox-exporter";

/// The longest a started process may live, whatever happens to the test that started it.
const LIFETIME_SECS: u32 = 300;
/// How long a start may take before it counts as failed.
const START_WAIT: Duration = Duration::from_secs(20);
/// How many free ports a start tries before giving up (another process may take the one we
/// picked between our probe of it and the program's bind).
const PORT_TRIES: usize = 5;
/// Pause between two polls of a readiness endpoint or a query.
const POLL: Duration = Duration::from_millis(100);
/// The limit on one request of [`Prometheus::query`] and of the readiness polls.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a peer could not be started or asked.
#[derive(Debug)]
pub enum PeerError {
    /// The program is not on `PATH`.
    NotInstalled(&'static str),
    /// Creating its directory or writing its config failed.
    Setup(String, io::Error),
    /// It exited, or never became ready, during its start; its log is attached.
    Start {
        program: &'static str,
        why: String,
        log: String,
    },
    /// An HTTP request to it failed.
    Request(String, io::Error),
    /// It answered something other than what its API documents.
    Answer(String),
    /// A condition on query results did not hold within its bound; the last results are
    /// attached.
    Timeout { expr: String, last: String },
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::NotInstalled(program) => {
                write!(
                    f,
                    "{program} is not installed (scripts/peers.sh installs it)"
                )
            }
            PeerError::Setup(what, e) => write!(f, "{what}: {e}"),
            PeerError::Start { program, why, log } => {
                write!(f, "{program} did not start: {why}\n--- its log ---\n{log}")
            }
            PeerError::Request(what, e) => write!(f, "{what}: {e}"),
            PeerError::Answer(what) => write!(f, "unexpected answer: {what}"),
            PeerError::Timeout { expr, last } => {
                write!(f, "`{expr}` never met the condition; last result: {last}")
            }
        }
    }
}

impl std::error::Error for PeerError {}

/// The full path of `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// True when every one of `programs` is on `PATH`; otherwise a loud "SKIPPED" line on stderr
/// naming the test and what is missing, and false — or, with [`REQUIRE_VARIABLE`] set (CI
/// installs them all), a panic.
pub fn installed(programs: &[&str], test: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os(REQUIRE_VARIABLE).is_some() {
        panic!("{test} needs {} on PATH", missing.join(", "));
    }
    eprintln!(
        "\n!!!!! SKIPPED {test}: {} not on PATH; `bash scripts/peers.sh` installs it !!!!!\n",
        missing.join(", ")
    );
    false
}

/// A process we started: its own process group under `timeout`, its own temp dir, its log.
#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    dir: PathBuf,
    child: Child,
}

impl Peer {
    /// Start `program` with `args(port)` on free ports until it answers 200 on `ready_path`,
    /// trying again with another port when it could not bind.
    fn start(
        program: &'static str,
        dir: PathBuf,
        args: impl Fn(u16) -> Vec<String>,
        ready_path: &str,
    ) -> Result<Peer, PeerError> {
        let path = which(program).ok_or(PeerError::NotInstalled(program))?;
        let log_path = dir.join("log");
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let port = free_port().map_err(|e| PeerError::Setup("a free port".into(), e))?;
            let log = std::fs::File::create(&log_path)
                .map_err(|e| PeerError::Setup(log_path.display().to_string(), e))?;
            let child = Command::new("timeout")
                .args(["-s", "KILL", &LIFETIME_SECS.to_string()])
                .arg(&path)
                .args(args(port))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().map_err(|e| {
                    PeerError::Setup(log_path.display().to_string(), e)
                })?))
                .stderr(Stdio::from(log))
                // Its own group, so that the drop kills `timeout` and the program at once.
                .process_group(0)
                .spawn()
                .map_err(|e| PeerError::Setup(format!("starting {program}"), e))?;
            let mut child = child;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match wait_ready(&mut child, addr, ready_path) {
                Ok(()) => return Ok(Peer { addr, dir, child }),
                Err(why) => {
                    kill_group(&mut child);
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let port_taken = log.contains("address already in use");
                    last = Some(PeerError::Start { program, why, log });
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or(PeerError::Start {
            program,
            why: "no try".into(),
            log: String::new(),
        }))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll `path` until it answers 200, the child exits, or [`START_WAIT`] has passed.
fn wait_ready(child: &mut Child, addr: SocketAddr, path: &str) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        match http_request(addr, "GET", path, &[], REQUEST_TIMEOUT) {
            Ok(reply) if reply.status == 200 => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < START_WAIT => std::thread::sleep(POLL),
            Ok(reply) => return Err(format!("{path} still answers {}", reply.status)),
            Err(e) => return Err(format!("{path} still fails: {e}")),
        }
    }
}

/// Kill the child's whole process group (`timeout` and the program under it) and reap it.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A fresh directory under the temp dir, unique within and across processes.
fn fresh_dir(what: &str) -> Result<PathBuf, PeerError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "stillup-{what}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| PeerError::Setup(dir.display().to_string(), e))?;
    Ok(dir)
}

fn write_file(path: &Path, contents: &str) -> Result<(), PeerError> {
    std::fs::write(path, contents).map_err(|e| PeerError::Setup(path.display().to_string(), e))
}

/// One scrape job of a [`Prometheus`]: blackbox-style probing of `targets` with `module`
/// through the exporter at `exporter`.
#[derive(Debug, Clone)]
pub struct ProbeJob {
    /// The job label.
    pub name: String,
    /// The `module` parameter of every probe.
    pub module: String,
    /// What the exporter probes; each becomes `target=` and the `instance` label.
    pub targets: Vec<String>,
    /// Where the exporter listens.
    pub exporter: SocketAddr,
}

/// How often Prometheus scrapes, and how long a scrape may take (it sends that as
/// `X-Prometheus-Scrape-Timeout-Seconds`).
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Cadence {
    /// 1 s and 1 s: a verdict is in Prometheus a second or two after the start.
    fn default() -> Cadence {
        Cadence {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        }
    }
}

/// Prometheus' duration syntax, in milliseconds so that any `Duration` is exact enough.
fn prom_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The scrape config a blackbox_exporter user has (the relabelling of its README): targets
/// become `__param_target` and `instance`, and every scrape goes to the exporter's `/probe`.
/// Written as JSON, which Prometheus' YAML reader takes, so no value needs YAML quoting.
pub fn scrape_config(jobs: &[ProbeJob], cadence: Cadence) -> String {
    let scrape_configs: Vec<Value> = jobs
        .iter()
        .map(|job| {
            json!({
                "job_name": job.name,
                "metrics_path": "/probe",
                "params": { "module": [job.module] },
                "static_configs": [ { "targets": job.targets } ],
                "relabel_configs": [
                    { "source_labels": ["__address__"], "target_label": "__param_target" },
                    { "source_labels": ["__param_target"], "target_label": "instance" },
                    { "target_label": "__address__", "replacement": job.exporter.to_string() },
                ],
            })
        })
        .collect();
    let config = json!({
        "global": {
            "scrape_interval": prom_duration(cadence.interval),
            "scrape_timeout": prom_duration(cadence.timeout),
        },
        "scrape_configs": scrape_configs,
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// One element of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, or "".
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// A real Prometheus on 127.0.0.1, scraping [`ProbeJob`]s, with its TSDB in a temp dir.
#[derive(Debug)]
pub struct Prometheus {
    peer: Peer,
}

impl Prometheus {
    /// Start it with `jobs` scraped at `cadence`; returns once `/-/ready` answers 200.
    pub fn start(jobs: &[ProbeJob], cadence: Cadence) -> Result<Prometheus, PeerError> {
        let dir = fresh_dir("prometheus")?;
        let config = dir.join("prometheus.yml");
        write_file(&config, &scrape_config(jobs, cadence))?;
        let data = dir.join("data");
        let peer = Peer::start(
            PROMETHEUS,
            dir,
            |port| {
                vec![
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--log.level=warn".into(),
                ]
            },
            "/-/ready",
        )?;
        Ok(Prometheus { peer })
    }

    /// Where its web UI and API listen.
    pub fn addr(&self) -> SocketAddr {
        self.peer.addr
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        self.peer.log()
    }

    /// `GET /api/v1/query?query=expr`: the instant vector it evaluates to now.
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, PeerError> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let reply = http_request(self.addr(), "GET", &path, &[], REQUEST_TIMEOUT)
            .map_err(|e| PeerError::Request(format!("query {expr}"), e))?;
        let doc: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| PeerError::Answer(format!("query {expr}: {e}: {}", reply.text())))?;
        if doc["status"] != "success" || doc["data"]["resultType"] != "vector" {
            return Err(PeerError::Answer(format!("query {expr}: {doc}")));
        }
        let result = doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        result
            .iter()
            .map(|item| {
                let labels = item["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = item["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| PeerError::Answer(format!("query {expr}: {item}")))?;
                Ok(Sample { labels, value })
            })
            .collect()
    }

    /// Query `expr` until `done` holds for its result, for at most `within`.
    pub fn wait_for(
        &self,
        expr: &str,
        within: Duration,
        done: impl Fn(&[Sample]) -> bool,
    ) -> Result<Vec<Sample>, PeerError> {
        let started = Instant::now();
        loop {
            let samples = self.query(expr)?;
            if done(&samples) {
                return Ok(samples);
            }
            if started.elapsed() >= within {
                return Err(PeerError::Timeout {
                    expr: expr.to_string(),
                    last: format!("{samples:?}"),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A real blackbox_exporter on 127.0.0.1 with the given `blackbox.yml`.
#[derive(Debug)]
pub struct BlackboxExporter {
    peer: Peer,
}

impl BlackboxExporter {
    /// Start it with `config` as its `--config.file`; returns once `/-/healthy` answers 200.
    pub fn start(config: &str) -> Result<BlackboxExporter, PeerError> {
        let dir = fresh_dir("blackbox")?;
        let file = dir.join("blackbox.yml");
        write_file(&file, config)?;
        let peer = Peer::start(
            BLACKBOX_EXPORTER,
            dir,
            |port| {
                vec![
                    format!("--config.file={}", file.display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--log.level=warn".into(),
                ]
            },
            "/-/healthy",
        )?;
        Ok(BlackboxExporter { peer })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.peer.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.peer.log()
    }
}

/// `promtool check metrics` over `page` (Prometheus' text format): `Ok` with whatever it
/// printed, or `Err` with its complaints.
pub fn promtool_check_metrics(page: &str) -> Result<String, PeerError> {
    let path = which(PROMTOOL).ok_or(PeerError::NotInstalled(PROMTOOL))?;
    let mut child = Command::new(path)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| PeerError::Setup("starting promtool".into(), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(page.as_bytes())
            .map_err(|e| PeerError::Setup("writing to promtool".into(), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| PeerError::Setup("waiting for promtool".into(), e))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(PeerError::Answer(format!("promtool check metrics: {said}")))
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (for a query parameter).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An HTTP response as [`http_request`] read it (a chunked body already decoded).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Header names lower-cased, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From the connect to the end of the body.
    pub elapsed: Duration,
}

impl HttpReply {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`) with `headers`, the whole
/// exchange bounded by `timeout`.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<HttpReply> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete answer within {timeout:?}"),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut reply = parse_response(&raw)?;
    reply.elapsed = started.elapsed();
    Ok(reply)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpReply> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of the response head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpReply {
        status,
        headers,
        body,
        elapsed: Duration::ZERO,
    })
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(invalid("truncated chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let reply = parse_response(raw).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"abcde");
    }

    #[test]
    fn a_plain_body_is_kept_as_it_came() {
        let reply =
            parse_response(b"HTTP/1.0 503 Service Unavailable\r\nA: b\r\n\r\nbusy").unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (503, &b"busy"[..]));
        assert_eq!(reply.header("a"), Some("b"));
    }

    #[test]
    fn a_query_parameter_keeps_only_unreserved_characters() {
        assert_eq!(
            percent_encode(r#"probe_success{instance="http://a/b"} == 1"#),
            "probe_success%7Binstance%3D%22http%3A%2F%2Fa%2Fb%22%7D%20%3D%3D%201"
        );
    }

    #[test]
    fn the_scrape_config_relabels_targets_to_the_exporter() {
        let config = scrape_config(
            &[ProbeJob {
                name: "j".into(),
                module: "http_2xx".into(),
                targets: vec!["http://127.0.0.1:1/".into()],
                exporter: SocketAddr::from(([127, 0, 0, 1], 9115)),
            }],
            Cadence::default(),
        );
        let doc: Value = serde_json::from_str(&config).unwrap();
        let job = &doc["scrape_configs"][0];
        assert_eq!(job["metrics_path"], "/probe");
        assert_eq!(job["params"]["module"][0], "http_2xx");
        assert_eq!(job["relabel_configs"][2]["replacement"], "127.0.0.1:9115");
        assert_eq!(doc["global"]["scrape_timeout"], "1000ms");
    }
}
