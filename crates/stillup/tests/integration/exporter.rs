//! `stillup exporter`, run as the real binary on 127.0.0.1:0 and asked over HTTP: verdicts
//! and classes on its pages, modules, budgets, saturation, the allow-list, reloads, secrets,
//! and every page accepted by `promtool check metrics` where promtool is installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stillup_testkit::prometheus::{installed, promtool_check_metrics, PROMTOOL};

use super::support::*;

/// A running exporter; killed on drop. Its stderr is collected for the log assertions.
#[derive(Debug)]
pub struct Exporter {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Exporter {
    /// Start `stillup exporter --listen 127.0.0.1:0 ARGS` and wait (bounded) for its
    /// "listening on" line.
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::try_start(args).unwrap_or_else(|log| panic!("the exporter did not start:\n{log}"))
    }

    /// As [`start`](Self::start); `Err` carries what it printed when it exited instead.
    pub fn try_start(args: &[&str]) -> Result<Exporter, String> {
        Exporter::try_start_under(&[], args)
    }

    /// As [`try_start`](Self::try_start), run through `wrapper` (e.g. `prlimit --nofile=…`)
    /// when it is not empty.
    pub fn try_start_under(wrapper: &[String], args: &[&str]) -> Result<Exporter, String> {
        let binary = assert_cmd::cargo::cargo_bin("stillup");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        let mut child = command
            .arg("exporter")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stillup starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let _ = port_tx.send(rest.trim().parse::<u16>().ok());
                }
                let mut log = collected.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match port_rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Some(port)) => Ok(Exporter { child, port, log }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().clone())
            }
        }
    }

    /// `/probe?target=…&module=…` for `target` (percent-encoded here).
    pub fn probe(&self, target: &str, module: Option<&str>) -> Answer {
        self.get(&probe_path(target, module), &[])
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        request(self.port, "GET", path, headers)
    }

    pub fn post(&self, path: &str) -> Answer {
        request(self.port, "POST", path, &[])
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn probe_path(target: &str, module: Option<&str>) -> String {
    let target: String =
        percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    match module {
        Some(module) => format!("/probe?target={target}&module={module}"),
        None => format!("/probe?target={target}"),
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub took: Duration,
}

impl Answer {
    /// The value of the unlabelled sample `name`, or of `name{labels}` written exactly.
    pub fn sample(&self, series: &str) -> Option<f64> {
        self.body.lines().find_map(|line| {
            let rest = line.strip_prefix(series)?;
            let value = rest.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }

    /// The classes of `probe_failure_info` on the page.
    pub fn failure_classes(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("probe_failure_info{class=\""))
            .filter_map(|l| l.split('"').next())
            .map(str::to_string)
            .collect()
    }
}

/// A bounded HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    try_request(port, method, path, headers, Duration::from_secs(20))
        .expect("the exporter answers within 20s")
}

/// As [`request`], `None` when no answer came within `limit`.
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    limit: Duration,
) -> Option<Answer> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.take(8 << 20).read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    Some(Answer {
        status,
        content_type,
        body: body.to_string(),
        took: started.elapsed(),
    })
}

/// `promtool check metrics` over a page, when promtool is here; loudly skipped otherwise,
/// and a failure where CI promised it (`STILLUP_REQUIRE_SERVICES`).
pub fn promtool_accepts(page: &str, what: &str) {
    if !installed(&[PROMTOOL], what) {
        return;
    }
    if let Err(e) = promtool_check_metrics(page) {
        panic!("promtool rejects {what}: {e}\n{page}");
    }
}

fn healthy_server() -> ScriptedServer {
    ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::text(200, "ok"))))
        .expect("server")
}

#[test]
fn verdicts_and_reasons_of_healthy_refusing_503_and_untrusted_targets() {
    let healthy = healthy_server();
    let unavailable =
        ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::text(503, "down"))))
            .unwrap();
    let cert = self_signed(&["127.0.0.1"], None);
    let untrusted = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let exporter = Exporter::start(&[]);

    let ok = exporter.probe(&healthy.url("/health"), None);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.sample("probe_success"), Some(1.0), "{}", ok.body);
    assert_eq!(ok.sample("probe_http_status_code"), Some(200.0));
    assert_eq!(ok.sample("probe_http_version"), Some(1.1));
    assert_eq!(ok.sample("probe_ip_protocol"), Some(4.0));
    assert!(ok.failure_classes().is_empty(), "{}", ok.body);
    assert!(ok.content_type.starts_with("text/plain; version=0.0.4"));

    let refused = exporter.probe(&format!("http://127.0.0.1:{}/", closed_port()), None);
    assert_eq!(
        refused.sample("probe_success"),
        Some(0.0),
        "{}",
        refused.body
    );
    assert_eq!(refused.failure_classes(), ["refused"]);

    let down = exporter.probe(&unavailable.url("/"), Some("http_2xx"));
    assert_eq!(down.sample("probe_success"), Some(0.0));
    assert_eq!(down.sample("probe_http_status_code"), Some(503.0));
    assert_eq!(down.failure_classes(), ["http_status"]);

    let tls = exporter.probe(&untrusted.url("/"), None);
    assert_eq!(tls.failure_classes(), ["tls_verify"], "{}", tls.body);
    assert_eq!(
        untrusted.requests(),
        0,
        "no request crosses a rejected handshake"
    );

    for (answer, what) in [
        (&ok, "healthy"),
        (&refused, "refused"),
        (&down, "503"),
        (&tls, "tls"),
    ] {
        promtool_accepts(&answer.body, what);
    }
    let own = exporter.get("/metrics", &[]);
    assert_eq!(
        own.sample("stillup_exporter_probes_total{module=\"default\",outcome=\"refused\"}"),
        Some(1.0),
        "{}",
        own.body
    );
    promtool_accepts(&own.body, "/metrics");
    // The log says why, once per failed probe.
    let log = exporter.log();
    assert!(log.contains("class=tls_verify"), "{log}");
}

#[test]
fn a_trusted_tls_target_shows_its_certificate_expiry_and_version() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("exporter-tls");
    let ca = cert.write_pem(&dir, "ca.pem");
    std::fs::write(
        dir.file("stillup.toml"),
        format!(
            "[modules.pinned]\nprober = \"http\"\ncacert = [{:?}]\n",
            ca.display().to_string()
        ),
    )
    .unwrap();
    let config = dir.file("stillup.toml").display().to_string();
    let exporter = Exporter::start(&["--config", &config]);
    let answer = exporter.probe(&server.url("/"), Some("pinned"));
    assert_eq!(answer.sample("probe_success"), Some(1.0), "{}", answer.body);
    assert_eq!(answer.sample("probe_http_ssl"), Some(1.0));
    let expiry = answer
        .sample("probe_ssl_earliest_cert_expiry")
        .expect("an expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Valid for a year from a day ago.
    assert!(
        expiry > now + 300.0 * 86_400.0 && expiry < now + 366.0 * 86_400.0,
        "{expiry}"
    );
    assert!(answer
        .body
        .contains("probe_tls_version_info{version=\"TLS 1.3\"} 1"));
}

#[test]
fn modules_judge_answers_and_give_schemeless_targets_their_kind() {
    let degraded = ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::json(
        200,
        r#"{"status":"degraded"}"#,
    ))))
    .unwrap();
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = TempDir::new("exporter-modules");
    std::fs::write(
        dir.file("stillup.toml"),
        "[defaults]\nattempt-timeout = \"2s\"\n\n\
         [modules.api]\nprober = \"http\"\nexpect-json = ['$.status == \"healthy\"']\n\n\
         [modules.port]\nprober = \"tcp\"\n",
    )
    .unwrap();
    let config = dir.file("stillup.toml").display().to_string();
    let exporter = Exporter::start(&["--config", &config]);

    let answer = exporter.probe(&degraded.url("/health"), Some("api"));
    assert_eq!(
        answer.failure_classes(),
        ["condition_failed"],
        "{}",
        answer.body
    );
    assert_eq!(answer.sample("probe_http_status_code"), Some(200.0));

    // host:port, as blackbox's tcp modules take it.
    let port = listening.local_addr().unwrap().port();
    let open = exporter.probe(&format!("127.0.0.1:{port}"), Some("port"));
    assert_eq!(open.sample("probe_success"), Some(1.0), "{}", open.body);

    // A scheme that disagrees with the module is refused, not probed.
    let wrong = exporter.probe(&degraded.url("/"), Some("port"));
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(wrong.body.contains("module port probes"), "{}", wrong.body);
    let unknown = exporter.probe(&degraded.url("/"), Some("nope"));
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body.contains("unknown module \"nope\""),
        "{}",
        unknown.body
    );
    // An option of HTTP given to a module whose target turns out to be tcp is refused too.
    let dir2 = TempDir::new("exporter-modules-2");
    std::fs::write(
        dir2.file("s.toml"),
        "[modules.any]\nexpect-status = \"204\"\n",
    )
    .unwrap();
    let config2 = dir2.file("s.toml").display().to_string();
    let exporter2 = Exporter::start(&["--config", &config2]);
    let tcp = exporter2.probe(&format!("tcp://127.0.0.1:{port}"), Some("any"));
    assert_eq!(tcp.status, 400, "{tcp:?}");
    assert!(tcp.body.contains("expect-status"), "{}", tcp.body);
}

#[test]
fn the_scrape_timeout_bounds_the_probe() {
    let hung = ScriptedServer::spawn(Script::new().forever(Behavior::Hang)).unwrap();
    let exporter = Exporter::start(&[]);
    let path = probe_path(&hung.url("/"), None);
    let answer = exporter.get(&path, &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")]);
    // 1.5 s minus the 0.5 s margin: the probe had one second.
    assert_eq!(
        answer.failure_classes(),
        ["response_timeout"],
        "{}",
        answer.body
    );
    assert!(
        answer.took < Duration::from_millis(1500) + SLACK,
        "{:?}",
        answer.took
    );
    let duration = answer.sample("probe_duration_seconds").unwrap();
    assert!((0.9..1.4).contains(&duration), "{duration}");
}

#[test]
fn a_saturated_exporter_answers_503_at_once_and_counts_it() {
    let hung = ScriptedServer::spawn(Script::new().forever(Behavior::Hang)).unwrap();
    let exporter = Exporter::start(&["--max-concurrent", "1"]);
    let port = exporter.port;
    let path = probe_path(&hung.url("/"), None);
    let held = std::thread::spawn(move || {
        request(
            port,
            "GET",
            &path,
            &[("X-Prometheus-Scrape-Timeout-Seconds", "4")],
        )
    });
    // Wait (bounded) until the first probe is in flight.
    let started = Instant::now();
    while exporter
        .get("/metrics", &[])
        .sample("stillup_exporter_probes_in_flight")
        != Some(1.0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the first probe never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = exporter.probe(&hung.url("/"), None);
    assert_eq!(second.status, 503, "{second:?}");
    assert!(second.body.contains("saturated"), "{}", second.body);
    assert!(second.took < Duration::from_secs(2), "{:?}", second.took);
    let first = held.join().unwrap();
    assert_eq!(first.failure_classes(), ["response_timeout"]);
    let own = exporter.get("/metrics", &[]);
    assert_eq!(
        own.sample("stillup_exporter_requests_refused_total{reason=\"saturated\"}"),
        Some(1.0),
        "{}",
        own.body
    );
}

#[test]
fn the_allow_list_refuses_other_hosts_before_any_packet() {
    let server = healthy_server();
    let port = server.port();
    let dir = TempDir::new("exporter-allow");
    // A name pinned by the module's resolve rule: no lookup leaves the machine.
    std::fs::write(
        dir.file("s.toml"),
        format!("[modules.pinned]\nprober = \"http\"\nresolve = [\"api.test:{port}:127.0.0.1\"]\n"),
    )
    .unwrap();
    let config = dir.file("s.toml").display().to_string();
    let exporter = Exporter::start(&[
        "--config",
        &config,
        "--allow-target",
        "*.test",
        "--allow-target",
        "10.0.0.0/8",
    ]);
    let refused = exporter.probe(&server.url("/"), None);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("not allowed"), "{}", refused.body);
    assert_eq!(server.requests(), 0);
    let allowed = exporter.probe(&format!("http://api.test:{port}/"), Some("pinned"));
    assert_eq!(
        allowed.sample("probe_success"),
        Some(1.0),
        "{}",
        allowed.body
    );
    assert_eq!(server.requests(), 1);
    let unix = exporter.probe("http+unix://%2Ftmp%2Fx.sock/", None);
    assert_eq!(unix.status, 403, "{unix:?}");
}

#[test]
fn a_bad_reload_keeps_the_old_modules_and_a_good_one_takes_effect() {
    let server = healthy_server();
    let dir = TempDir::new("exporter-reload");
    let path = dir.file("s.toml");
    std::fs::write(&path, "[modules.one]\nprober = \"http\"\n").unwrap();
    let config = path.display().to_string();
    let exporter = Exporter::start(&["--config", &config]);
    std::fs::write(
        &path,
        "[modules.one]\nprober = \"http\"\nexpect-status = \"2x\"\n",
    )
    .unwrap();
    let bad = exporter.post("/-/reload");
    assert_eq!(bad.status, 500, "{bad:?}");
    assert!(
        bad.body.contains("s.toml:3"),
        "names file and line: {}",
        bad.body
    );
    assert_eq!(
        exporter
            .probe(&server.url("/"), Some("one"))
            .sample("probe_success"),
        Some(1.0)
    );
    let own = exporter.get("/metrics", &[]);
    assert_eq!(
        own.sample("stillup_exporter_config_last_reload_successful"),
        Some(0.0)
    );

    std::fs::write(&path, "[modules.two]\nprober = \"tcp\"\n").unwrap();
    // SIGHUP reloads as well.
    let _ = Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status();
    let started = Instant::now();
    loop {
        let answer = exporter.probe(&format!("127.0.0.1:{}", server.port()), Some("two"));
        if answer.status == 200 {
            assert_eq!(answer.sample("probe_success"), Some(1.0));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(exporter.probe(&server.url("/"), Some("one")).status, 400);
    assert!(
        exporter.log().contains("config reloaded"),
        "{}",
        exporter.log()
    );
}

#[test]
fn bad_options_and_modules_are_refused_at_start_in_one_line() {
    let dir = TempDir::new("exporter-bad");
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec!["--listen".into(), "nowhere".into()],
            "--listen",
            "HOST:PORT",
        ),
        (
            vec!["--allow-target".into(), "10.0.0.0/40".into()],
            "--allow-target",
            "0 to 32",
        ),
        (
            vec!["--max-concurrent".into(), "0".into()],
            "--max-concurrent",
            "at least 1",
        ),
        (
            vec![
                "--config".into(),
                write(
                    &dir,
                    "a.toml",
                    "[modules.db]\nprober = \"postgres\"\nexpect-status = \"200\"\n",
                ),
            ],
            "a.toml:3: modules.db.expect-status",
            "does not apply",
        ),
        (
            vec![
                "--config".into(),
                write(&dir, "b.toml", "[modules.x]\nprober = \"ftp\"\n"),
            ],
            "b.toml:2: modules.x.prober",
            "unknown prober",
        ),
        (
            vec![
                "--config".into(),
                write(&dir, "c.toml", "[modules.x]\nurl = \"http://a/\"\n"),
            ],
            "c.toml:2: modules.x.url",
            "a module probes the target",
        ),
        (
            vec![
                "--config".into(),
                write(&dir, "d.toml", "[modules.x]\ninterval = \"1s\"\n"),
            ],
            "d.toml:2: modules.x.interval",
            "not to one probe",
        ),
        (
            vec![
                "--config".into(),
                write(&dir, "e.toml", "[targets.api]\nurl = \"http://a/\"\n"),
            ],
            "targets.api",
            "[modules.NAME]",
        ),
    ];
    for (args, place, problem) in cases {
        let mut all = vec!["exporter".to_string()];
        all.extend(args.clone());
        let run = stillup(&all);
        let line = run.usage_error_line(&format!("{args:?}"));
        assert!(
            line.contains(place) && line.contains(problem),
            "{args:?}: {line}"
        );
    }
}

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.file(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn secrets_never_reach_a_page_or_the_log() {
    let server =
        ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::text(401, "no"))))
            .unwrap();
    let exporter = Exporter::start(&[]);
    let target = format!(
        "http://deploy:Zx9%2FQk2Lm@127.0.0.1:{}/health?token=PLANTEDTOKEN",
        server.port()
    );
    let page = exporter.probe(&target, None);
    assert_eq!(page.failure_classes(), ["http_status"], "{}", page.body);
    let debug = exporter.get(&format!("{}&debug=true", probe_path(&target, None)), &[]);
    let index = exporter.get("/", &[]);
    let own = exporter.get("/metrics", &[]);
    assert!(debug.body.contains("Logs for the probe"), "{}", debug.body);
    assert!(index.body.contains("http_status"), "{}", index.body);
    for (what, text) in [
        ("page", page.body),
        ("debug", debug.body),
        ("index", index.body),
        ("metrics", own.body),
        ("log", exporter.log()),
    ] {
        for secret in ["Zx9", "Qk2Lm", "PLANTEDTOKEN"] {
            assert!(!text.contains(secret), "{secret} in the {what}:\n{text}");
        }
    }
}

#[test]
fn openmetrics_is_served_when_the_scraper_asks_for_it() {
    let server = healthy_server();
    let exporter = Exporter::start(&[]);
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let page = exporter.get(&probe_path(&server.url("/"), None), &[("Accept", accept)]);
    assert!(
        page.content_type
            .starts_with("application/openmetrics-text"),
        "{page:?}"
    );
    assert!(page.body.ends_with("# EOF\n"), "{}", page.body);
    assert_eq!(page.sample("probe_success"), Some(1.0));
    let refused = exporter.get(
        &probe_path(&format!("http://127.0.0.1:{}/", closed_port()), None),
        &[("Accept", accept)],
    );
    assert!(
        refused.body.contains("# TYPE probe_failure info\n"),
        "{}",
        refused.body
    );
    assert!(refused
        .body
        .contains("probe_failure_info{class=\"refused\"} 1\n"));
}

#[test]
fn requests_outside_the_api_get_clear_answers() {
    let exporter = Exporter::start(&[]);
    assert_eq!(exporter.get("/nope", &[]).status, 404);
    assert_eq!(exporter.post("/probe").status, 405);
    assert_eq!(exporter.get("/-/healthy", &[]).status, 200);
    let missing = exporter.get("/probe", &[]);
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("target parameter is missing"));
    let long = "a".repeat(5000);
    assert_eq!(exporter.probe(&format!("http://{long}/"), None).status, 400);
    let index = exporter.get("/", &[]);
    assert!(index.body.contains("http_2xx") && index.body.contains("tcp_connect"));
}

/// The README's scrape config and alert rule are what Prometheus accepts.
#[test]
fn the_readmes_scrape_config_and_alert_rule_pass_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("STILLUP_REQUIRE_SERVICES").is_none(),
            "promtool is not installed, and STILLUP_REQUIRE_SERVICES says it must be"
        );
        eprintln!("SKIPPED: promtool is not installed; the README's YAML is not checked");
        return;
    }
    let readme = include_str!("../../../../README.md");
    let section = readme
        .split("## Monitoring with Prometheus")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has the section");
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 2, "a scrape config and a rule file");
    let dir = TempDir::new("exporter-readme");
    let config = dir.file("prometheus.yml");
    std::fs::write(&config, blocks[0]).unwrap();
    let rules = dir.file("rules.yml");
    std::fs::write(&rules, blocks[1]).unwrap();
    for (what, path) in [("config", &config), ("rules", &rules)] {
        let output = Command::new("promtool")
            .args(["check", what])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool check {what}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Out of file descriptors, the exporter has no verdict to give: a 500 that Prometheus counts
/// against the scrape, never `probe_success 0` against a healthy target.
#[test]
fn out_of_descriptors_is_a_500_never_a_verdict() {
    let server = healthy_server();
    let mut saw_500 = false;
    for limit in 8..=40 {
        let wrapper = vec!["prlimit".to_string(), format!("--nofile={limit}:{limit}")];
        // Below what it needs, it does not start at all.
        let Ok(exporter) = Exporter::try_start_under(&wrapper, &[]) else {
            continue;
        };
        let path = probe_path(&server.url("/"), None);
        // Just above, the scrape's own connection may not be accepted: no answer.
        let Some(answer) = try_request(exporter.port, "GET", &path, &[], Duration::from_secs(3))
        else {
            continue;
        };
        match answer.status {
            500 => {
                assert!(answer.body.contains("no verdict"), "{answer:?}");
                assert!(!answer.body.contains("probe_success"), "{answer:?}");
                saw_500 = true;
            }
            // Enough descriptors: the probe ran, and its verdict is the truth.
            200 => {
                assert_eq!(answer.sample("probe_success"), Some(1.0), "{}", answer.body);
                break;
            }
            other => panic!("unexpected {other} under --nofile={limit}: {answer:?}"),
        }
    }
    assert!(
        saw_500,
        "no descriptor limit left the exporter short of a socket for its probe"
    );
}

/// A blackbox_exporter blackbox.yml serves as it is: its status codes, body regexes and
/// address family, and a line-numbered refusal of what stillup does not support.
#[test]
fn a_blackbox_yml_serves_its_modules() {
    let no_content =
        ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::status(204))))
            .unwrap();
    let maintenance = ScriptedServer::spawn(
        Script::new().forever(Behavior::Respond(Reply::text(200, "down for maintenance"))),
    )
    .unwrap();
    let dir = TempDir::new("exporter-blackbox");
    let yml = write(
        &dir,
        "blackbox.yml",
        "modules:\n\
         \x20 http_204:\n\
         \x20   prober: http\n\
         \x20   timeout: 2s\n\
         \x20   http:\n\
         \x20     valid_status_codes: [204]\n\
         \x20 http_up:\n\
         \x20   prober: http\n\
         \x20   http:\n\
         \x20     fail_if_body_matches_regexp: [\"maintenance\"]\n\
         \x20 tcp_v6:\n\
         \x20   prober: tcp\n\
         \x20   tcp:\n\
         \x20     preferred_ip_protocol: ip6\n\
         \x20     ip_protocol_fallback: false\n",
    );
    let exporter = Exporter::start(&["--blackbox-config", &yml]);
    let ok = exporter.probe(&no_content.url("/"), Some("http_204"));
    assert_eq!(ok.sample("probe_success"), Some(1.0), "{}", ok.body);
    let not_204 = exporter.probe(&maintenance.url("/"), Some("http_204"));
    assert_eq!(
        not_204.failure_classes(),
        ["http_status"],
        "{}",
        not_204.body
    );
    let in_maintenance = exporter.probe(&maintenance.url("/"), Some("http_up"));
    assert_eq!(in_maintenance.failure_classes(), ["condition_failed"]);
    // An IPv4 address for an IPv6-only module: refused as a resolution failure, never sent.
    let v4 = exporter.probe(&format!("127.0.0.1:{}", no_content.port()), Some("tcp_v6"));
    assert_eq!(v4.failure_classes(), ["dns"], "{}", v4.body);
    assert_eq!(
        no_content.connections(),
        1,
        "only the first probe connected"
    );

    let unsupported = write(&dir, "icmp.yml", "modules:\n  ping:\n    prober: icmp\n");
    let run = stillup(["exporter", "--blackbox-config", &unsupported]);
    let line = run.usage_error_line("an icmp module");
    assert!(
        line.contains("icmp.yml:3") && line.contains("modules.ping.prober"),
        "{line}"
    );
}
