//! Side by side with blackbox_exporter: the same loopback targets, the same `blackbox.yml`
//! (stillup reads it with `--blackbox-config`), one `/probe` per case and exporter, and the same
//! `probe_success` verdict from both — or, where they differ on purpose, the difference written
//! down in the case. stillup's failure class is checked too. Every answer must come before the
//! scrape timeout the request announced.
//!
//! With `STILLUP_EXPORTER_TABLE=FILE` the test writes the comparison as a Markdown table
//! (`bench/exporter_table.sh` does, into `bench/exporter-vs-blackbox.md`).

use std::time::Duration;

use stillup_testkit::prometheus::installed;

use super::prometheus::{failure_class, needed, parse_page, value_of, Exporter, Which};
use super::support::{
    closed_port, self_signed, serve, serve_tls, Behavior, Reply, Script, ScriptedServer, TempDir,
};

/// The scrape timeout announced with most probes: far above every module's timeout.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Allowed past the announced scrape timeout before an answer counts as late (a shared, noisy
/// machine; the exporters aim half a second before it).
const LATE: Duration = Duration::from_secs(1);

/// The modules both exporters get. `CA_FILE` is replaced by the path of the test's CA file.
const BLACKBOX_YML: &str = r#"modules:
  http_2xx:
    prober: http
    timeout: 5s
  http_2xx_or_404:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200, 404]
  http_insecure:
    prober: http
    timeout: 5s
    http:
      tls_config:
        insecure_skip_verify: true
  http_ca:
    prober: http
    timeout: 5s
    http:
      tls_config:
        ca_file: CA_FILE
  http_body_ok:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["all (ok|good)"]
  http_body_no_error:
    prober: http
    timeout: 5s
    http:
      fail_if_body_matches_regexp: ["error"]
  http_header_v2:
    prober: http
    timeout: 5s
    http:
      fail_if_header_not_matches:
        - header: X-Version
          regexp: "^v2"
  http_post:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        X-Probe: side-by-side
  http_ip4:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  http_fast:
    prober: http
    timeout: 1s
  tcp_connect:
    prober: tcp
    timeout: 5s
"#;

/// How many exporters probe each case, at most: blackbox_exporter, stillup with
/// `--blackbox-config`, stillup with `[modules]` in TOML.
const EXPORTERS: usize = 3;

/// One row of the comparison.
#[derive(Debug)]
struct Case {
    name: &'static str,
    target: String,
    module: &'static str,
    /// What the request announces as X-Prometheus-Scrape-Timeout-Seconds.
    scrape_timeout: Duration,
    /// The expected probe_success of blackbox_exporter and of stillup.
    blackbox: f64,
    stillup: f64,
    /// stillup's failure class (None when healthy).
    class: Option<&'static str>,
    /// Why the verdicts differ, when they do.
    note: &'static str,
}

/// What one exporter answered for one case.
#[derive(Debug, Clone)]
struct Answer {
    success: Option<f64>,
    class: Option<String>,
    status: u16,
    elapsed: Duration,
}

fn case(
    name: &'static str,
    target: String,
    module: &'static str,
    success: f64,
    class: Option<&'static str>,
) -> Case {
    Case {
        name,
        target,
        module,
        scrape_timeout: SCRAPE_TIMEOUT,
        blackbox: success,
        stillup: success,
        class,
        note: "",
    }
}

fn respond(reply: Reply) -> ScriptedServer {
    serve(Behavior::Respond(reply))
}

struct Setup {
    _servers: Vec<ScriptedServer>,
    post: ScriptedServer,
    cases: Vec<Case>,
}

fn setup(dir: &TempDir) -> (Setup, String) {
    let cert = self_signed(&["127.0.0.1", "localhost"], None);
    let ca_file = cert.write_pem(dir, "ca.pem");
    let yml = BLACKBOX_YML.replace("CA_FILE", ca_file.to_str().unwrap());

    let ok = respond(Reply::text(200, "all ok").header("X-Version", "v2.1"));
    let plain = respond(Reply::text(200, "all good"));
    let v1 = respond(Reply::text(200, "all ok").header("X-Version", "v1.9"));
    let not_found = respond(Reply::text(404, "no such page"));
    let unavailable = respond(Reply::text(503, "starting"));
    let no_content = respond(Reply::status(204));
    let error_body = respond(Reply::text(200, "status: error"));
    let tls = serve_tls(&cert, Behavior::Respond(Reply::text(200, "all ok")));
    let redirect = serve(Behavior::Redirect {
        status: 302,
        location: ok.url("/health"),
    });
    // A redirect to /health and then its 200, once per exporter (probes run one at a time),
    // then 200 for good.
    let mut hops = Script::new();
    for _ in 0..EXPORTERS {
        hops = hops
            .then_requests(
                1,
                Behavior::Redirect {
                    status: 302,
                    location: "/health".into(),
                },
            )
            .then_requests(1, Behavior::Respond(Reply::text(200, "all ok")));
    }
    let same_origin_redirect =
        ScriptedServer::spawn(hops.forever(Behavior::Respond(Reply::text(200, "all ok")))).unwrap();
    let redirect_loop = serve(Behavior::RedirectLoop);
    let hang = serve(Behavior::Hang);
    let silent = serve(Behavior::Silent);
    let garbage = serve(Behavior::Raw(b"garbage\r\n\r\n".to_vec()));
    let reset = serve(Behavior::Reset);
    let short = serve(Behavior::ShortBody {
        content_length: 100,
        sent: 10,
    });
    let big = respond(Reply::text(200, &"x".repeat(2 * 1024 * 1024)));
    let post = respond(Reply::text(200, "posted"));
    let closed = closed_port();

    let cases = vec![
        case("healthy (200)", ok.url("/health"), "http_2xx", 1.0, None),
        case("204 No Content", no_content.url("/"), "http_2xx", 1.0, None),
        case(
            "target without a scheme",
            ok.addr().to_string(),
            "http_2xx",
            1.0,
            None,
        ),
        case(
            "404 (valid_status_codes default: 2xx)",
            not_found.url("/"),
            "http_2xx",
            0.0,
            Some("http_status"),
        ),
        case(
            "404 with valid_status_codes [200, 404]",
            not_found.url("/"),
            "http_2xx_or_404",
            1.0,
            None,
        ),
        case(
            "503",
            unavailable.url("/"),
            "http_2xx",
            0.0,
            Some("http_status"),
        ),
        case(
            "connection refused",
            format!("http://127.0.0.1:{closed}/"),
            "http_2xx",
            0.0,
            Some("refused"),
        ),
        case(
            "TLS, self-signed certificate",
            tls.url("/"),
            "http_2xx",
            0.0,
            Some("tls_verify"),
        ),
        case(
            "TLS, self-signed, insecure_skip_verify",
            tls.url("/"),
            "http_insecure",
            1.0,
            None,
        ),
        case(
            "TLS, self-signed, its cert as ca_file",
            tls.url("/"),
            "http_ca",
            1.0,
            None,
        ),
        case(
            "body matches fail_if_body_not_matches_regexp",
            ok.url("/"),
            "http_body_ok",
            1.0,
            None,
        ),
        case(
            "body does not match fail_if_body_not_matches_regexp",
            error_body.url("/"),
            "http_body_ok",
            0.0,
            Some("condition_failed"),
        ),
        case(
            "body matches fail_if_body_matches_regexp",
            error_body.url("/"),
            "http_body_no_error",
            0.0,
            Some("condition_failed"),
        ),
        case(
            "body does not match fail_if_body_matches_regexp",
            ok.url("/"),
            "http_body_no_error",
            1.0,
            None,
        ),
        case(
            "header matches fail_if_header_not_matches",
            ok.url("/"),
            "http_header_v2",
            1.0,
            None,
        ),
        case(
            "header does not match fail_if_header_not_matches",
            v1.url("/"),
            "http_header_v2",
            0.0,
            Some("condition_failed"),
        ),
        case(
            "header missing, fail_if_header_not_matches",
            plain.url("/"),
            "http_header_v2",
            0.0,
            Some("condition_failed"),
        ),
        case(
            "method POST and a request header",
            post.url("/"),
            "http_post",
            1.0,
            None,
        ),
        case(
            "preferred_ip_protocol: ip4",
            ok.url("/"),
            "http_ip4",
            1.0,
            None,
        ),
        case(
            "302 to a healthy page on the same server",
            same_origin_redirect.url("/"),
            "http_2xx",
            1.0,
            None,
        ),
        Case {
            stillup: 0.0,
            note: "stillup follows redirects within the origin only: a probe sent elsewhere \
                   by the target would escape `--allow-target` (SSRF) and carry the module's \
                   headers to another server",
            ..case(
                "302 to a healthy page on another server",
                redirect.url("/"),
                "http_2xx",
                1.0,
                Some("http_status"),
            )
        },
        case(
            "endless redirects",
            redirect_loop.url("/"),
            "http_2xx",
            0.0,
            Some("redirect_limit"),
        ),
        case(
            "no answer, beyond the module's 1s timeout",
            hang.url("/"),
            "http_fast",
            0.0,
            Some("response_timeout"),
        ),
        Case {
            scrape_timeout: Duration::from_millis(1500),
            ..case(
                "no answer, beyond a 1.5s scrape timeout (module: 5s)",
                hang.url("/"),
                "http_2xx",
                0.0,
                Some("response_timeout"),
            )
        },
        case(
            "accepts, never reads",
            silent.url("/"),
            "http_fast",
            0.0,
            Some("response_timeout"),
        ),
        case(
            "garbage instead of HTTP/1",
            garbage.url("/"),
            "http_2xx",
            0.0,
            Some("protocol_mismatch"),
        ),
        case(
            "reset after the request",
            reset.url("/"),
            "http_2xx",
            0.0,
            Some("reset"),
        ),
        case(
            "body shorter than Content-Length",
            short.url("/"),
            "http_2xx",
            0.0,
            Some("reset"),
        ),
        Case {
            stillup: 0.0,
            note: "stillup reads at most `max-body` (1 MiB unless the module says more); \
                   blackbox reads any size, so one target can make it allocate without bound",
            ..case(
                "2 MiB body",
                big.url("/"),
                "http_2xx",
                1.0,
                Some("body_too_large"),
            )
        },
        case(
            "tcp_connect, port open",
            ok.addr().to_string(),
            "tcp_connect",
            1.0,
            None,
        ),
        case(
            "tcp_connect, port closed",
            format!("127.0.0.1:{closed}"),
            "tcp_connect",
            0.0,
            Some("refused"),
        ),
    ];
    let servers = vec![
        ok,
        plain,
        v1,
        not_found,
        unavailable,
        no_content,
        error_body,
        tls,
        redirect,
        same_origin_redirect,
        redirect_loop,
        hang,
        silent,
        garbage,
        reset,
        short,
        big,
    ];
    (
        Setup {
            _servers: servers,
            post,
            cases,
        },
        yml,
    )
}

fn ask(exporter: &Exporter, case: &Case) -> Answer {
    let reply = exporter.probe(&case.target, case.module, case.scrape_timeout);
    let page = parse_page(&reply.text());
    Answer {
        success: value_of(&page, "probe_success"),
        class: failure_class(&page),
        status: reply.status,
        elapsed: reply.elapsed,
    }
}

fn verdict(v: Option<f64>) -> String {
    match v {
        Some(1.0) => "up (1)".into(),
        Some(0.0) => "down (0)".into(),
        Some(other) => format!("{other}"),
        None => "no probe_success".into(),
    }
}

/// The same modules as [`BLACKBOX_YML`] as `[modules.NAME]` tables of a stillup config,
/// where stillup's options can say it (`http_2xx` and `tcp_connect` are built in).
const STILLUP_TOML: &str = r#"[modules.http_2xx_or_404]
prober = "http"
expect-status = "200,404"
attempt-timeout = "5s"

[modules.http_insecure]
prober = "http"
insecure = true
attempt-timeout = "5s"

[modules.http_ca]
prober = "http"
cacert = ["CA_FILE"]
attempt-timeout = "5s"

[modules.http_body_ok]
prober = "http"
expect-body = ["all (ok|good)"]
attempt-timeout = "5s"

[modules.http_body_no_error]
prober = "http"
reject-body = ["error"]
attempt-timeout = "5s"

[modules.http_header_v2]
prober = "http"
expect-header = ["X-Version: ^v2"]
attempt-timeout = "5s"

[modules.http_post]
prober = "http"
method = "POST"
header = ["X-Probe: side-by-side"]
attempt-timeout = "5s"

[modules.http_ip4]
prober = "http"
attempt-timeout = "5s"

[modules.http_fast]
prober = "http"
attempt-timeout = "1s"
"#;

/// One column of the table: an exporter and how it got its modules.
struct Column {
    label: &'static str,
    exporter: Exporter,
    stillup: bool,
}

fn side_by_side(test: &str) {
    if !installed(&needed(Which::Blackbox, &[]), test) {
        return;
    }
    let dir = TempDir::new("side-by-side");
    let (setup, yml) = setup(&dir);
    let ca_file = dir.file("ca.pem");
    let yml_path = dir.file("blackbox.yml");
    std::fs::write(&yml_path, &yml).unwrap();
    let toml_path = dir.file("stillup.toml");
    std::fs::write(
        &toml_path,
        STILLUP_TOML.replace("CA_FILE", ca_file.to_str().unwrap()),
    )
    .unwrap();

    let columns = [
        Column {
            label: "blackbox_exporter",
            exporter: Exporter::blackbox(&yml),
            stillup: false,
        },
        Column {
            label: "stillup, `--blackbox-config`",
            exporter: Exporter::stillup(&["--blackbox-config", yml_path.to_str().unwrap()]),
            stillup: true,
        },
        Column {
            label: "stillup, `[modules]` in TOML",
            exporter: Exporter::stillup(&["--config", toml_path.to_str().unwrap()]),
            stillup: true,
        },
    ];

    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for case in &setup.cases {
        let mut answers = Vec::new();
        for column in &columns {
            let answer = ask(&column.exporter, case);
            let expected = if column.stillup {
                case.stillup
            } else {
                case.blackbox
            };
            let mut problems = Vec::new();
            if answer.success != Some(expected) {
                problems.push(format!(
                    "said {} (HTTP {}, class {:?}), expected {}",
                    verdict(answer.success),
                    answer.status,
                    answer.class,
                    verdict(Some(expected))
                ));
            }
            if column.stillup && answer.class.as_deref() != case.class {
                problems.push(format!(
                    "class {:?}, expected {:?}",
                    answer.class, case.class
                ));
            }
            if answer.elapsed > case.scrape_timeout + LATE {
                problems.push(format!(
                    "answered after {:?}, the scrape timeout was {:?}",
                    answer.elapsed, case.scrape_timeout
                ));
            }
            if !problems.is_empty() {
                wrong.push(format!(
                    "{} ({}), {}: {}",
                    case.name,
                    case.module,
                    column.label,
                    problems.join("; ")
                ));
            }
            answers.push(answer);
        }
        rows.push((case, answers));
    }

    // Every exporter that has the module sent its method and header.
    let log = setup.post.request_log();
    assert_eq!(log.len(), columns.len(), "one POST per exporter: {log:?}");
    for request in &log {
        assert_eq!(request.method, "POST", "{log:?}");
        assert_eq!(request.header("X-Probe"), Some("side-by-side"), "{log:?}");
    }

    let table = markdown(&columns, &rows);
    println!("{table}");
    if let Some(path) = std::env::var_os("STILLUP_EXPORTER_TABLE") {
        std::fs::write(&path, &table).unwrap();
    }
    let logs: String = columns
        .iter()
        .map(|c| format!("--- {} log ---\n{}\n", c.label, c.exporter.log()))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} answer(s) differ from the table:\n{}\n\n{table}\n{logs}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn markdown(columns: &[Column], rows: &[(&Case, Vec<Answer>)]) -> String {
    let mut out = String::from("| case | module |");
    for column in columns {
        out.push_str(&format!(" {} |", column.label));
    }
    out.push_str(" stillup's `probe_failure_info{class}` | note |\n|---|---|");
    out.push_str(&"---|".repeat(columns.len() + 2));
    out.push('\n');
    for (case, answers) in rows {
        out.push_str(&format!("| {} | `{}` |", case.name, case.module));
        for answer in answers {
            out.push_str(&format!(" {} |", verdict(answer.success)));
        }
        // The stillup columns' classes agree (the test checks each against the case).
        let class = answers
            .iter()
            .zip(columns)
            .find(|(_, c)| c.stillup)
            .map(|(a, _)| {
                a.class
                    .as_deref()
                    .map_or("—".to_string(), |c| format!("`{c}`"))
            })
            .unwrap_or_default();
        out.push_str(&format!(" {class} | {} |\n", case.note));
    }
    out
}

#[test]
fn stillup_and_blackbox_exporter_give_the_same_verdicts() {
    side_by_side("stillup_and_blackbox_exporter_give_the_same_verdicts");
}
