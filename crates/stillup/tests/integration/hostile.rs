//! Hostile servers not covered elsewhere: a head trickled a byte a second, a compressed body
//! nobody asked for, a redirect to another scheme, a certificate not valid yet, secrets in
//! every output, and a thousand targets of mixed misbehaviour without leaking descriptors.

use std::time::Duration;

use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{
    check_json, classes, last_class, last_message, self_signed, serve, serve_tls, stillup, TempDir,
    SLACK,
};

#[test]
fn a_head_trickled_a_byte_a_second_ends_at_the_deadline_as_response_timeout() {
    let server = serve(Behavior::TrickleHead {
        reply: Reply::text(200, "ok"),
        every: Duration::from_secs(1),
    });
    let url = server.url("/");
    let run = stillup(["wait", &url, "--timeout", "2s", "--output", "json"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(2) + SLACK);
    assert_eq!(last_class(&run.json()), "response_timeout", "{run}");
}

#[test]
fn a_compressed_body_nobody_asked_for_is_judged_as_the_bytes_it_is() {
    // A gzip header and a payload that would inflate hugely; stillup never inflates.
    let mut bomb = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
    bomb.extend(std::iter::repeat_n(0u8, 4096));
    let server = serve(Behavior::Respond(Reply {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Content-Encoding".into(), "gzip".into()),
        ],
        body: bomb,
    }));
    let url = server.url("/");
    // Healthy by status; the JSON condition sees compressed bytes, not JSON.
    check_json(&url, &[]).assert_code(0);
    let run = check_json(&url, &["--expect-json", "$.status == \"ok\""]);
    run.assert_code(1);
    assert_eq!(last_class(&run.json()), "condition_failed");
    // No Accept-Encoding was sent: the server had no right to compress.
    let seen = server.request_log();
    assert!(seen.iter().all(|r| r.header("accept-encoding").is_none()));
}

#[test]
fn a_redirect_to_another_scheme_is_not_followed() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: "ftp://files.example/pub".into(),
    });
    let url = server.url("/");
    let run = check_json(&url, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(last_class(&report), "http_status");
    assert!(last_message(&report).contains("not followed"), "{run}");
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_certificate_not_valid_yet_fails_as_tls_verify_saying_so() {
    let now = time::OffsetDateTime::now_utc();
    let window = (
        now + time::Duration::days(1),
        now + time::Duration::days(30),
    );
    let cert = self_signed(&["127.0.0.1"], Some(window));
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let run = check_json(&server.url("/"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(last_class(&report), "tls_verify");
    assert!(last_message(&report).contains("not valid yet"), "{run}");
}

#[test]
fn secrets_never_appear_in_any_output_format() {
    let secret = "pa55w0rd-7f3a";
    let dir = TempDir::new("hostile-secrets");
    let html = dir.file("report.html");
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let with_password = format!("http://deploy:{secret}@127.0.0.1:{}/", server.port());
    let header = format!("Authorization: Bearer {secret}");
    let cookie = format!("Cookie: session={secret}");
    let runs = [
        stillup([
            "wait",
            &with_password,
            "--interval",
            "100ms",
            "-H",
            &header,
            "-H",
            &cookie,
        ]),
        stillup([
            "wait",
            &with_password,
            "--interval",
            "100ms",
            "--output",
            "json",
        ]),
        stillup(["check", &with_password, "-H", &header]),
        stillup([
            "watch",
            &with_password,
            "--duration",
            "300ms",
            "--output",
            "json",
            "--report",
            html.to_str().unwrap(),
        ]),
        stillup(["wait", &with_password, "--timeout", "nonsense"]),
        stillup(["wait", "ftp://deploy:pa55w0rd-7f3a@host/"]),
    ];
    for run in &runs {
        assert!(!run.stdout.contains(secret), "stdout leaks: {run}");
        assert!(!run.stderr.contains(secret), "stderr leaks: {run}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains(secret), "the HTML report leaks the secret");

    let mut help = assert_cmd::Command::cargo_bin("stillup").unwrap();
    help.env("STILLUP_BEARER", secret)
        .env("STILLUP_USER", format!("u:{secret}"))
        .args(["wait", "--help"]);
    let output = help.output().unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(secret),
        "--help leaks"
    );
}

#[test]
fn a_thousand_hostile_targets_end_by_the_deadline_without_leaking_descriptors() {
    use stillup_core::{HttpProbe, HttpTarget, Probe, Require, WaitPolicy};

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0)
    }

    // The servers live in this process too: count before they start, after they are gone.
    let before = open_fds();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let behaviors = [
        Behavior::Hang,
        Behavior::Refuse,
        Behavior::Reset,
        Behavior::Respond(Reply::status(503)),
        Behavior::TrickleBody {
            reply: Reply::text(200, "slow body"),
            every: Duration::from_millis(500),
        },
        Behavior::EndlessBody { status: 200 },
        Behavior::CloseBeforeHead,
        Behavior::Raw(b"garbage\r\n\r\n".to_vec()),
    ];
    let servers: Vec<ScriptedServer> = behaviors
        .into_iter()
        .map(|b| ScriptedServer::spawn(Script::new().forever(b)).unwrap())
        .collect();
    let outcome = runtime.block_on(async {
        let probes: Vec<Probe> = (0..1000)
            .map(|i| {
                let server = &servers[i % servers.len()];
                let url = server.url(&format!("/t{i}"));
                let mut probe = HttpProbe::new(HttpTarget::parse(&url).unwrap());
                probe.max_body = 64 * 1024;
                Probe::Http(probe)
            })
            .collect();
        let policy = WaitPolicy {
            timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(1),
            ..WaitPolicy::default()
        };
        let started = std::time::Instant::now();
        let outcome = stillup_core::wait_group(
            &probes,
            &policy,
            Require::All,
            |_, _| {},
            std::future::pending(),
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(2) + SLACK,
            "took {:?}",
            started.elapsed()
        );
        outcome
    });
    assert!(!outcome.is_success());
    assert_eq!(outcome.targets.len(), 1000);
    drop(runtime);
    drop(servers);
    // Sockets close as their tasks end; give the servers' side a moment, boundedly.
    let mut after = open_fds();
    for _ in 0..20 {
        if after <= before + 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = open_fds();
    }
    assert!(
        after <= before + 5,
        "descriptors: {before} before, {after} after"
    );
}

/// A banner as an SSH server sends it on accept, before the client says anything.
const SSH_BANNER: &[u8] = b"SSH-2.0-x\r\n";

/// One `wait` of about ten attempts against `target`: every one of them must be `class` (a
/// class decided by a race would differ between attempts). Returns the report.
#[track_caller]
/// The message of the last `protocol_mismatch` attempt: the run's very last attempt may be one
/// the deadline cut short (see [`every_attempt_is`]).
fn mismatch_message(report: &serde_json::Value) -> String {
    super::support::attempts_of(super::support::target(report, 0))
        .iter()
        .rev()
        .find(|a| a["class"] == "protocol_mismatch")
        .and_then(|a| a["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn every_attempt_is(target: &str, extra: &[&str], class: &str) -> serde_json::Value {
    let mut args = vec![
        "wait",
        target,
        "--timeout",
        "2500ms",
        "--interval",
        "100ms",
        "--attempt-timeout",
        "1s",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let run = stillup(args);
    run.assert_code(1)
        .assert_within(Duration::from_millis(2500) + SLACK);
    let report = run.json();
    let mut seen = classes(&report);
    assert!(seen.len() >= 8, "about ten attempts were expected\n{run}");
    // On a busy machine the last attempt may start with only milliseconds of the deadline
    // left and be cut short by it: a timeout there says nothing about the class.
    if seen.last().is_some_and(|c| c.ends_with("_timeout")) {
        seen.pop();
    }
    assert!(
        seen.iter().all(|c| c == class),
        "every attempt {class}\n{run}"
    );
    report
}

#[test]
fn a_server_that_speaks_first_is_protocol_mismatch_on_every_attempt() {
    let server = serve(Behavior::Banner(SSH_BANNER.to_vec()));
    let report = every_attempt_is(&server.url("/health"), &[], "protocol_mismatch");
    super::support::assert_matches_schema(&report);
    let message = mismatch_message(&report);
    assert!(message.contains("another protocol"), "{message}");
    // The bytes it said, escaped: no raw CR/LF reaches the message.
    assert!(message.contains(r"SSH-2.0-x\r\n"), "{message}");
    assert!(message.contains("SSH server"), "{message}");
    // And the class is one --fail-fast can rely on.
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "10s",
        "--fail-fast",
        "protocol_mismatch",
    ]);
    run.assert_code(3).assert_within(SLACK);
}

#[test]
fn a_server_that_speaks_first_on_an_https_url_is_protocol_mismatch_on_every_attempt() {
    let server = serve(Behavior::Banner(SSH_BANNER.to_vec()));
    let url = format!("https://{}/health", server.addr());
    let report = every_attempt_is(&url, &[], "protocol_mismatch");
    let message = mismatch_message(&report);
    assert!(message.contains("a TLS handshake"), "{message}");
    assert!(message.contains(r"SSH-2.0-x\r\n"), "{message}");
}

#[test]
fn a_server_that_speaks_first_on_a_grpc_url_is_protocol_mismatch_on_every_attempt() {
    let server = serve(Behavior::Banner(SSH_BANNER.to_vec()));
    for url in [
        format!("grpc://{}", server.addr()),
        format!("grpcs://{}", server.addr()),
    ] {
        let report = every_attempt_is(&url, &[], "protocol_mismatch");
        assert!(mismatch_message(&report).contains("SSH"), "{report:#}");
    }
}

#[test]
fn a_server_that_speaks_first_to_http2_with_prior_knowledge_is_protocol_mismatch_on_every_attempt()
{
    let server = serve(Behavior::Banner(SSH_BANNER.to_vec()));
    let report = every_attempt_is(&server.url("/"), &["--http2"], "protocol_mismatch");
    let message = mismatch_message(&report);
    assert!(message.contains("HTTP/2 SETTINGS frame"), "{message}");
}

#[test]
fn control_characters_in_a_banner_never_reach_the_terminal() {
    let server = serve(Behavior::Banner(
        b"\x1b[2J\x1b]0;owned\x07\x9b31m\r\n".to_vec(),
    ));
    let run = stillup(["check", &server.url("/")]);
    run.assert_code(1);
    assert!(run.stderr.contains(r"\x1b[2J"), "{run}");
    for raw in ["\x1b", "\x07", "\u{9b}"] {
        assert!(!run.stderr.contains(raw), "raw {raw:?} printed\n{run}");
        assert!(!run.stdout.contains(raw), "raw {raw:?} printed\n{run}");
    }
}

#[test]
fn http2_protocol_violations_on_a_grpc_url_are_invalid_response_naming_the_violation() {
    super::http2::every_violation_is_invalid_response(|addr| format!("grpc://{addr}"), &[]);
}
