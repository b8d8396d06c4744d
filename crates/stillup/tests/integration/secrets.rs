//! Credentials are sent and never printed: not in human output, not in JSON, not in the watch
//! report, not by `wait`, `check`, `watch` or a usage error — whatever characters a password
//! holds and whichever way it came in (flag, STILLUP_TARGETS, --targets-file, config file,
//! proxy variables, -H, --user, --bearer, query strings, the arguments of `-- COMMAND`).

use std::time::Duration;

use super::support::*;

const PASSWORD: &str = "hunter2";
/// base64("admin:hunter2"): printing the header would leak the password just as well.
const ENCODED: &str = "YWRtaW46aHVudGVyMg==";

fn with_credentials(server: &ScriptedServer) -> String {
    format!("http://admin:{PASSWORD}@{}/health", server.addr())
}

#[track_caller]
fn assert_no_secret(run: &Run, what: &str) {
    for secret in [PASSWORD, ENCODED] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{what} printed {secret:?}\n{run}"
        );
    }
}

#[test]
fn a_password_in_the_url_is_sent_as_basic_auth_and_never_printed() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let url = with_credentials(&server);
    let wait = ["wait", &url, "--timeout", "1s", "--interval", "200ms"];
    let check = ["check", &url];
    for (what, args) in [("wait", &wait[..]), ("check", &check[..])] {
        for output in ["human", "json"] {
            let mut args = args.to_vec();
            args.extend(["--output", output]);
            let run = stillup(&args);
            run.assert_code(1)
                .assert_within(Duration::from_secs(3) + SLACK);
            assert_no_secret(&run, &format!("{what} --output {output}"));
            if output == "json" {
                let report = run.json();
                let first = target(&report, 0);
                let shown = first["target"].as_str().unwrap();
                assert!(!shown.contains("admin:"), "{shown}");
                assert_eq!(first["last_failure"]["class"], "http_status");
            }
        }
    }
    let log = server.request_log();
    assert!(!log.is_empty());
    for request in log {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {ENCODED}").as_str()),
            "{request:?}"
        );
    }
}

#[test]
fn a_password_in_a_rejected_url_is_not_printed_in_the_usage_error() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let ftp = format!("ftp://admin:{PASSWORD}@{}/health", server.addr());
    let run = stillup(["wait", &ftp]);
    run.assert_code(2);
    assert_no_secret(&run, "a bad URL");
    let url = with_credentials(&server);
    let run = stillup(["check", &url, "--expect-status", "7xx"]);
    run.assert_code(2);
    assert_no_secret(&run, "a bad flag next to a URL with credentials");
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_password_is_not_printed_when_a_redirect_leaves_the_origin() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: format!("http://admin:{PASSWORD}@other.invalid/health"),
    });
    let url = with_credentials(&server);
    for output in ["human", "json"] {
        let run = stillup(["check", &url, "--output", output]);
        run.assert_code(1);
        assert_no_secret(&run, &format!("a cross-origin redirect, {output}"));
    }
}

#[test]
fn a_password_in_a_targets_file_is_sent_and_never_printed() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let dir = TempDir::new("secrets-targets-file");
    let file = dir.file("targets.txt");
    std::fs::write(&file, format!("{}\n", with_credentials(&server))).unwrap();
    let path = file.to_str().unwrap();
    for output in ["human", "json"] {
        let run = stillup(["check", "--targets-file", path, "--output", output]);
        run.assert_code(1);
        assert_no_secret(&run, &format!("a target from a file, {output}"));
    }
    assert!(server
        .request_log()
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Basic {ENCODED}").as_str())));

    // Rejected lines do not print it either, whatever the reason.
    for bad in [
        format!("ftp://admin:{PASSWORD}@{}/health", server.addr()),
        format!("tcp://admin:{PASSWORD}@{}", server.addr()),
    ] {
        std::fs::write(&file, format!("{bad}\n")).unwrap();
        let run = stillup(["wait", "--targets-file", path]);
        run.assert_code(2);
        assert!(run.stderr.contains(&format!("{path}:1")), "{run}");
        assert_no_secret(&run, "a rejected line of a targets file");
    }
}

/// Passwords as base64 and generated secrets have them: every character that ends a URL's
/// authority for a parser (`/ # ?`), the `@` and the `:`. Each is two markers around the
/// special character, so a half-printed password is caught too.
const TRICKY_PASSWORDS: &[(&str, [&str; 2])] = &[
    ("Zx9/Qk2Lm", ["Zx9", "Qk2Lm"]),
    ("Hj7#Rt5Vb", ["Hj7", "Rt5Vb"]),
    ("Mn3?Ws8Pq", ["Mn3", "Ws8Pq"]),
    ("Tg6@Yu1Io", ["Tg6", "Yu1Io"]),
    ("Lk4:Df2Sa", ["Lk4", "Df2Sa"]),
    ("Qw1/#?@:Er9", ["Qw1", "Er9"]),
];

#[track_caller]
fn assert_nowhere(markers: &[&str], texts: &[(&str, &str)], what: &str) {
    for marker in markers {
        for (name, text) in texts {
            assert!(
                !text.contains(marker),
                "{what}: {name} shows {marker:?}\n{text}"
            );
        }
    }
}

/// Every run of a planted password ends before any request or after one, never printing it.
#[track_caller]
fn assert_run_hides(run: &Run, markers: &[&str], what: &str) {
    assert!(
        matches!(run.code, Some(1 | 2)),
        "{what}: expected a failed check or a usage error\n{run}"
    );
    assert_nowhere(
        markers,
        &[("stderr", &run.stderr), ("stdout", &run.stdout)],
        what,
    );
}

#[test]
fn a_password_with_slash_hash_question_at_or_colon_is_never_printed_from_any_input() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let dir = TempDir::new("secrets-tricky");
    for (password, markers) in TRICKY_PASSWORDS {
        let url = format!("http://deploy:{password}@{}/health", server.addr());
        for output in ["human", "json"] {
            // A flag.
            let run = stillup(["check", &url, "--output", output]);
            assert_run_hides(&run, markers, &format!("flag URL {password:?} {output}"));
            // STILLUP_TARGETS.
            let run = stillup_with_env(
                ["check", "--output", output],
                &[("STILLUP_TARGETS", url.as_str())],
            );
            assert_run_hides(&run, markers, &format!("STILLUP_TARGETS {password:?}"));
            // --targets-file, with a comment after the URL.
            let file = dir.file("targets.txt");
            std::fs::write(&file, format!("{url} # the api\n")).unwrap();
            let path = file.to_str().unwrap();
            let run = stillup(["check", "--targets-file", path, "--output", output]);
            assert_run_hides(&run, markers, &format!("--targets-file {password:?}"));
            // A config file's url.
            let config = dir.file("stillup.toml");
            std::fs::write(&config, format!("[targets.api]\nurl = \"{url}\"\n")).unwrap();
            let path = config.to_str().unwrap();
            let run = stillup(["check", "--config", path, "--output", output]);
            assert_run_hides(&run, markers, &format!("config url {password:?}"));
            // Proxy variables, for a target that would use the proxy (which is loopback).
            let proxy = format!("http://deploy:{password}@127.0.0.1:{}", closed_port());
            for variable in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
                let run = stillup_with_env(
                    [
                        "check",
                        "http://api.example:1/",
                        "--resolve",
                        "api.example:1:127.0.0.1",
                        "--output",
                        output,
                    ],
                    &[(variable, proxy.as_str())],
                );
                assert_run_hides(&run, markers, &format!("{variable} {password:?}"));
            }
        }
    }
    // Those a parser reads whole were sent, as they are.
    let sent: Vec<String> = server
        .request_log()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    for password in ["Tg6@Yu1Io", "Lk4:Df2Sa"] {
        use base64::Engine as _;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("deploy:{password}"))
        );
        assert!(sent.contains(&basic), "{password} was not sent: {sent:?}");
    }
}

/// `http://deploy:Zx9/Qk2Lm@host/` is host `deploy` to a URL parser: guessing would send a
/// piece of the password to another host. It is refused in one line, printed once, hidden.
#[test]
fn a_url_whose_password_holds_a_slash_is_refused_in_one_line_without_the_password() {
    let run = stillup(["wait", "http://deploy:Zx9/Qk2Lm@127.0.0.1:1/"]);
    let line = run.usage_error_line("a password with '/'");
    assert!(!line.contains("Zx9") && !line.contains("Qk2Lm"), "{line}");
    assert_eq!(line.matches("127.0.0.1:1").count(), 1, "{line}");
    assert!(line.contains("%2F"), "the fix is named: {line}");
}

/// A proxy variable is no business of a target that never uses the proxy; for one that
/// would, it is a usage error naming the variable, never its password.
#[test]
fn a_bad_proxy_variable_only_stops_targets_that_would_use_it_and_never_shows_its_password() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let bad = [("HTTPS_PROXY", "http://u:PX/SECRET@proxy:3128")];
    let run = stillup_with_env(["check", &server.url("/")], &bad);
    run.assert_code(0);
    let run = stillup_with_env(
        [
            "check",
            "https://api.example:1/",
            "--resolve",
            "api.example:1:127.0.0.1",
        ],
        &bad,
    );
    let line = run.usage_error_line("a bad HTTPS_PROXY for an https target");
    assert!(line.contains("HTTPS_PROXY"), "{line}");
    assert!(!line.contains("SECRET") && !line.contains("PX"), "{line}");
}

#[test]
fn a_header_that_is_refused_is_never_echoed() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    for header in [
        "Authorization Bearer eyJSECRET",
        "Authorization: Bearer eyJSECRET\nmore",
        "Authorization: Bearer eyJ\x01SECRET",
        "X Api Key: eyJSECRET",
    ] {
        let run = stillup(["wait", &url, "-H", header]);
        let line = run.usage_error_line(header);
        assert!(!line.contains("SECRET"), "{line}");
        assert!(line.contains("--header"), "{line}");
    }
    assert_eq!(server.connections(), 0);
}

/// Secrets planted in every other input — headers, --user, --bearer, query strings and the
/// arguments of `-- COMMAND` — appear in no output: stderr, JSON, the watch report.
#[test]
fn secrets_in_headers_user_bearer_queries_and_command_arguments_appear_in_no_output() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let url = server.url("/health?token=QuerySecret1&Api_Key=QuerySecret2&page=2");
    let markers = [
        "QuerySecret1",
        "QuerySecret2",
        "HeaderSecret",
        "UserSecret",
        "BearerSecret",
    ];
    for output in ["human", "json"] {
        for extra in [
            &[
                "-H",
                "X-Api-Key: HeaderSecret",
                "--user",
                "deploy:UserSecret",
            ][..],
            &["-H", "Cookie: s=HeaderSecret", "--bearer", "BearerSecret"][..],
        ] {
            let mut args = vec!["check", &url, "--output", output];
            args.extend_from_slice(extra);
            let run = stillup(&args);
            run.assert_code(1);
            assert_nowhere(
                &markers,
                &[("stderr", &run.stderr), ("stdout", &run.stdout)],
                &format!("check {extra:?} {output}"),
            );
            assert!(run.stderr.contains("page=2") || run.stdout.contains("page=2"));
        }
    }
    let sent = server.request_log();
    assert!(sent
        .iter()
        .any(|r| r.target.contains("token=QuerySecret1")
            && r.target.contains("Api_Key=QuerySecret2")));

    // `-- COMMAND`: the program is named, its arguments never are.
    let healthy = serve(Behavior::Respond(Reply::text(200, "ok")));
    let health = healthy.url("/?session=QuerySecret1");
    let run = stillup([
        "wait",
        &health,
        "--timeout",
        "5s",
        "--",
        "true",
        "-H",
        "Authorization: Bearer CommandSecret",
    ]);
    run.assert_code(0);
    assert!(run.stderr.contains("running: true"), "{run}");
    assert_nowhere(
        &["CommandSecret", "QuerySecret1"],
        &[("stderr", &run.stderr), ("stdout", &run.stdout)],
        "wait -- COMMAND",
    );

    // watch: its lines, its JSON and its HTML report.
    let dir = TempDir::new("secrets-watch");
    let report = dir.file("report.html");
    for output in ["human", "json"] {
        let run = stillup([
            "watch",
            &url,
            "--duration",
            "600ms",
            "--rate",
            "10/s",
            "-H",
            "Authorization: Bearer HeaderSecret",
            "--report",
            report.to_str().unwrap(),
            "--output",
            output,
        ]);
        let html = std::fs::read_to_string(&report).unwrap_or_default();
        assert!(html.contains("page=2"), "the report was written\n{run}");
        assert_nowhere(
            &markers,
            &[
                ("stderr", &run.stderr),
                ("stdout", &run.stdout),
                ("report", &html),
            ],
            &format!("watch {output}"),
        );
    }
    let run = stillup([
        "watch",
        &health,
        "--rate",
        "10/s",
        "--",
        "sh",
        "-c",
        "sleep 0.3",
        "CommandSecret",
    ]);
    assert_nowhere(
        &["CommandSecret", "QuerySecret1"],
        &[("stderr", &run.stderr), ("stdout", &run.stdout)],
        "watch -- COMMAND",
    );
}

/// Echo servers (httpbin's `/headers`, a misconfigured proxy, a redirect that copies the query)
/// send the credentials back: in a JSON value, a header value, a redirect target. The values
/// the run was given are hidden wherever they come back.
#[test]
fn a_server_that_echoes_a_credential_back_cannot_get_it_printed() {
    let echo = r#"{"auth": "Bearer EchoBearer42", "basic": "EchoPass42", "q": "EchoQuery42"}"#;
    let json = serve(Behavior::Respond(
        Reply::json(200, echo).header("X-Seen", "EchoBearer42 EchoPass42"),
    ));
    let redirect = serve(Behavior::Redirect {
        status: 302,
        location: "http://other.example/?copy=EchoBearer42&p=EchoPass42".into(),
    });
    let markers = ["EchoBearer42", "EchoPass42", "EchoQuery42"];
    for (server, extra) in [
        (&json, &["--expect-json", "$.auth == \"none\""][..]),
        (&json, &["--expect-json", "$.basic == \"none\""][..]),
        (&json, &["--expect-json", "$.q == \"none\""][..]),
        (&json, &["--expect-header", "X-Seen: ^none$"][..]),
        (&json, &["--reject-body", "Echo.*"][..]),
        (&redirect, &[][..]),
    ] {
        let url = format!(
            "http://deploy:EchoPass42@{}/?access_token=EchoQuery42",
            server.addr()
        );
        for output in ["human", "json"] {
            let mut args = vec![
                "wait",
                &url,
                "--bearer",
                "EchoBearer42",
                "--timeout",
                "1s",
                "--interval",
                "300ms",
                "--output",
                output,
            ];
            args.extend_from_slice(extra);
            let run = stillup(&args);
            run.assert_code(1);
            assert_nowhere(
                &markers,
                &[("stderr", &run.stderr), ("stdout", &run.stdout)],
                &format!("{extra:?} {output}"),
            );
        }
    }
}
