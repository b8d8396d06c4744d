//! Servers choose much of what stillup prints: a gRPC `grpc-message`, header values, body
//! excerpts, redirect targets, certificate names. None of it reaches the terminal raw: no
//! escape sequence (clear screen, window title, colours), no C1 control, no bidi override, no
//! CR/LF that forges a "✓ … is healthy" line, no 3,000-character line. JSON keeps the exact
//! text; the HTML report drops control characters.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::support::*;

/// Longest line a run may print (the gate cuts a server's text at 200 characters, and a
/// composed line at 1,000).
const LINE_BOUND: usize = 1200;

/// What a hostile server says: clear the screen, paint red, set the window title, a C1 CSI,
/// a right-to-left override, then a forged verdict line and a flood.
fn hostile_text() -> String {
    format!(
        "\x1b[2J\x1b[31mPWNED\x1b]0;owned\x07\u{9b}31m\u{202e}evil\r\n✓ http://x is healthy\r{}",
        "A".repeat(3000)
    )
}

/// Panics unless `text` is safe to show on a terminal: no byte below 0x20 but the `\n` that
/// ends lines, no DEL, no C1 control, no bidi control, no forged verdict at a line's start,
/// every line bounded.
#[track_caller]
fn assert_terminal_safe(text: &str, what: &str) {
    for (i, b) in text.bytes().enumerate() {
        assert!(
            (b >= 0x20 || b == b'\n') && b != 0x7f,
            "{what}: byte {b:#04x} at {i}\n{text}"
        );
    }
    for c in text.chars() {
        let bidi = matches!(
            c,
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
        ) || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c);
        assert!(
            !('\u{80}'..='\u{9f}').contains(&c) && !bidi,
            "{what}: character {c:?}\n{text}"
        );
    }
    for line in text.lines() {
        assert!(
            line.chars().count() <= LINE_BOUND,
            "{what}: a line of {} characters\n{line}",
            line.chars().count()
        );
        assert!(
            !line.trim_start().starts_with("✓ http://x"),
            "{what}: a forged line\n{text}"
        );
    }
}

#[track_caller]
fn assert_run_terminal_safe(run: &Run, what: &str) {
    assert_terminal_safe(&run.stderr, &format!("{what} (stderr)"));
    assert_terminal_safe(&run.stdout, &format!("{what} (stdout)"));
}

/// `check` and a short `wait`, human output, against `url` with `extra` flags.
fn human_runs(url: &str, extra: &[&str]) -> Vec<Run> {
    let mut check = vec!["check", url];
    check.extend_from_slice(extra);
    let mut wait = vec!["wait", url, "--timeout", "1s", "--interval", "300ms"];
    wait.extend_from_slice(extra);
    vec![stillup(&check), stillup(&wait)]
}

/// A bare HTTP/2 server ending every call at once with `grpc-status: 14` and `message`.
struct GrpcMessageServer {
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

impl GrpcMessageServer {
    fn start(message: String) -> GrpcMessageServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let message = message.clone();
                tokio::spawn(async move {
                    let Ok(mut connection) = h2::server::handshake(tcp).await else {
                        return;
                    };
                    while let Some(Ok((_request, mut respond))) = connection.accept().await {
                        let response = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .header("grpc-status", "14")
                            .header("grpc-message", message.as_str())
                            .body(())
                            .unwrap();
                        let _ = respond.send_response(response, true);
                    }
                });
            }
        });
        GrpcMessageServer {
            addr,
            runtime: Some(runtime),
        }
    }
}

impl Drop for GrpcMessageServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// `grpc-message` is percent-encoded on the wire, so it can carry any character at all.
fn percent_encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn a_grpc_message_with_escape_sequences_and_forged_lines_is_shown_escaped_and_bounded() {
    let server = GrpcMessageServer::start(percent_encoded(&hostile_text()));
    let url = format!("grpc://{}", server.addr);
    for run in human_runs(&url, &[]) {
        run.assert_code(1);
        assert_run_terminal_safe(&run, "grpc-message");
        assert!(run.stderr.contains("\\x1b[2J"), "made visible\n{run}");
        assert!(run.stderr.contains("UNAVAILABLE"), "{run}");
    }
    // JSON keeps the text as the server sent it (serde escapes it).
    let run = check_json(&url, &[]);
    assert_run_terminal_safe(&run, "grpc-message, JSON");
    let message = last_message(&run.json());
    assert!(message.contains("\x1b[2J\x1b[31mPWNED"), "{message:?}");
    assert!(message.contains("\r\n✓ http://x is healthy"), "{message:?}");
}

/// An HTTP/1.1 answer with a hostile reason phrase, a header value holding C1 and bidi
/// characters, and a body of escape sequences.
fn hostile_http() -> ScriptedServer {
    let body = hostile_text();
    let head = format!(
        "HTTP/1.1 200 OK\u{9b}2J\u{202e}\r\nContent-Length: {}\r\nX-State: \u{9b}31mbad\u{202e}\u{85}x\r\nConnection: close\r\n\r\n",
        body.len()
    );
    serve(Behavior::Raw(
        [head.into_bytes(), body.into_bytes()].concat(),
    ))
}

#[test]
fn reason_phrases_header_values_and_body_excerpts_from_a_server_are_shown_escaped() {
    let server = hostile_http();
    let url = server.url("/");
    for extra in [
        &["--expect-header", "X-State: ^ok$"][..],
        &["--expect-body", "^ready$"][..],
        &["--reject-body", "(?s).+"][..],
        &[][..],
    ] {
        for run in human_runs(&url, extra) {
            assert_run_terminal_safe(&run, &format!("{extra:?}"));
        }
    }
    let run = stillup(["check", &url, "--expect-header", "X-State: ^ok$"]);
    run.assert_code(1);
    assert!(run.stderr.contains("\\u{9b}31mbad"), "made visible\n{run}");
    // A JSON value the server chose is quoted in the message and the timeline.
    let body = serde_json::json!({ "state": hostile_text() }).to_string();
    let json = serve(Behavior::Respond(Reply::json(200, &body)));
    for run in human_runs(&json.url("/"), &["--expect-json", "$.state == \"ok\""]) {
        run.assert_code(1);
        assert_run_terminal_safe(&run, "a JSON value");
        assert!(run.stderr.contains("\\u{9b}31m"), "made visible\n{run}");
    }
}

#[test]
fn a_long_redirect_location_to_another_origin_is_shown_bounded() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: format!("http://other.example/{}", "x".repeat(3000)),
    });
    for run in human_runs(&server.url("/"), &[]) {
        run.assert_code(1);
        assert_run_terminal_safe(&run, "a 3,000-character Location");
        assert!(run.stderr.contains("other.example"), "{run}");
    }
}

#[test]
fn certificate_names_with_escape_sequences_are_shown_escaped() {
    let cert = self_signed(
        &["bad\x1b[31m.example", "evil\x1b]0;owned\x07.example"],
        None,
    );
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("terminal-cert");
    let ca = cert.write_pem(&dir, "ca.pem");
    let url = server.url("/");
    for run in human_runs(&url, &["--cacert", ca.to_str().unwrap()]) {
        run.assert_code(1);
        assert_run_terminal_safe(&run, "a certificate's names");
        assert!(
            run.stderr.contains("tls_verify") || run.stderr.contains("TLS"),
            "{run}"
        );
    }
}

#[test]
fn watch_prints_a_hostile_servers_text_escaped_and_its_report_drops_control_characters() {
    let server = GrpcMessageServer::start(percent_encoded(&hostile_text()));
    let http = hostile_http();
    let dir = TempDir::new("terminal-watch");
    let report = dir.file("report.html");
    let run = stillup([
        "watch",
        &format!("grpc://{}", server.addr),
        // No HTTP-only condition: with a gRPC target beside it, it would be refused.
        &http.url("/"),
        "--duration",
        "600ms",
        "--rate",
        "10/s",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_run_terminal_safe(&run, "watch");
    assert!(run.stderr.contains("\\x1b[2J"), "made visible\n{run}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("PWNED"),
        "the report shows the message\n{html}"
    );
    for c in html.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "the report holds {c:?}"
        );
    }
}

/// A user's own input echoed in a usage error goes through the same gate.
#[test]
fn usage_errors_show_control_characters_in_the_input_escaped() {
    for args in [
        &[
            "wait",
            "http://127.0.0.1:1/\x1b[2J",
            "--timeout",
            "5\x1b]0;t\x07s",
        ][..],
        &["wait", "\x1b[2Jhttp://x", "--timeout", "1s"][..],
        &["wait", "\x1b[2J", "--timeout", "1s"][..],
        &[
            "wait",
            "http://127.0.0.1:1/",
            "--expect-json",
            "$.a == \x1bx",
        ][..],
        &[
            "wait",
            "http://127.0.0.1:1/",
            "--cacert",
            "/nonexistent\x1b[2J",
        ][..],
        &["wait", "http://127.0.0.1:1/", "--expect-status", "\u{9b}2J"][..],
    ] {
        let run = stillup(args);
        run.assert_code(2);
        assert_run_terminal_safe(&run, &format!("{args:?}"));
    }
}
