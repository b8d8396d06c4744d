//! Conditions on the response beyond its status — JSON paths with every operator, body
//! regexes, headers, latency — pass when they hold and fail as `condition_failed` with a
//! reason when they do not, whatever the body is.

use std::time::Duration;

use super::support::*;

const BODY: &str =
    r#"{"status":"healthy","replicas":3,"version":"1.4.2","db":{"ok":true},"lag":null}"#;

/// One condition that holds on [`BODY`] and one that does not, per operator.
const OPERATORS: &[(&str, &str)] = &[
    (r#"$.status == "healthy""#, r#"$.status == "down""#),
    (r#"$.status != "down""#, r#"$.status != "healthy""#),
    ("$.replicas < 5", "$.replicas < 3"),
    ("$.replicas <= 3", "$.replicas <= 2"),
    ("$.replicas > 2", "$.replicas > 3"),
    ("$.replicas >= 3", "$.replicas >= 4"),
    ("$.db.ok exists", "$.db.missing exists"),
    ("$.maintenance !exists", "$.db !exists"),
];

fn check(url: &str, flags: &[&str]) -> Run {
    let run = check_json(url, flags);
    run.assert_within(Duration::from_secs(3) + SLACK);
    run
}

#[test]
fn every_json_operator_passes_when_it_holds() {
    let server = serve_json(BODY);
    let url = server.url("/health");
    for (holds, _) in OPERATORS {
        let run = check(&url, &["--expect-json", holds]);
        assert_eq!(run.code, Some(0), "{holds} should hold on {BODY}\n{run}");
    }
}

#[test]
fn every_json_operator_fails_as_condition_failed_with_a_reason_when_it_does_not_hold() {
    let server = serve_json(BODY);
    let url = server.url("/health");
    for (_, fails) in OPERATORS {
        let run = check(&url, &["--expect-json", fails]);
        assert_eq!(run.code, Some(1), "{fails} should fail on {BODY}\n{run}");
        let report = run.json();
        assert_eq!(classes(&report), ["condition_failed"], "{fails}\n{run}");
        let path = fails.split_whitespace().next().unwrap();
        let message = last_message(&report);
        assert!(
            message.contains(path),
            "the reason should name {path}: {message}"
        );
        assert_eq!(target(&report, 0)["last_failure"]["status"], 200);
    }
}

#[test]
fn all_json_conditions_must_hold_together() {
    let server = serve_json(BODY);
    let url = server.url("/health");
    let holding: Vec<&str> = OPERATORS
        .iter()
        .flat_map(|(holds, _)| ["--expect-json", holds])
        .collect();
    check(&url, &holding).assert_code(0);
    let mut one_fails = holding.clone();
    one_fails.extend(["--expect-json", "$.replicas > 10"]);
    let run = check(&url, &one_fails);
    run.assert_code(1);
    assert!(last_message(&run.json()).contains("$.replicas"), "{run}");
}

#[test]
fn a_missing_field_fails_as_condition_failed_saying_missing() {
    let server = serve_json(BODY);
    let run = check(
        &server.url("/health"),
        &["--expect-json", "$.queue.depth < 10"],
    );
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("missing"), "{run}");
}

#[test]
fn a_body_that_is_not_json_fails_as_condition_failed_and_never_crashes() {
    let bodies: &[(&str, Vec<u8>)] = &[
        ("html", b"<html>502 Bad Gateway</html>".to_vec()),
        ("empty", Vec::new()),
        ("truncated", br#"{"status":"heal"#.to_vec()),
        ("invalid utf-8", vec![0xff, 0xfe, 0x00, 0x80]),
    ];
    for (what, body) in bodies {
        let reply = Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.clone(),
        };
        let server = serve(Behavior::Respond(reply));
        let run = check(
            &server.url("/health"),
            &["--expect-json", r#"$.status == "healthy""#],
        );
        assert_eq!(run.code, Some(1), "{what} body\n{run}");
        let report = run.json();
        assert_eq!(classes(&report), ["condition_failed"], "{what} body\n{run}");
        let message = last_message(&report);
        assert!(
            message.contains("JSON"),
            "{what} body: the reason should say JSON was expected: {message}"
        );
    }
}

#[test]
fn expect_body_passes_on_a_match_and_fails_without_one() {
    let server = serve(Behavior::Respond(Reply::text(200, "all systems ready")));
    let url = server.url("/health");
    check(&url, &["--expect-body", "ready"]).assert_code(0);
    check(&url, &["--expect-body", "^all .* ready$"]).assert_code(0);
    let run = check(&url, &["--expect-body", "^ok$"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("^ok$"), "{run}");
}

#[test]
fn reject_body_fails_when_the_body_says_error_and_passes_otherwise() {
    let failing = serve(Behavior::Respond(Reply::text(200, "db: error, retrying")));
    let run = check(&failing.url("/health"), &["--reject-body", "error"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    let message = last_message(&report);
    assert!(
        message.contains("/error/") && message.contains("must not"),
        "the reason names the pattern that matched: {message}"
    );
    let healthy = serve(Behavior::Respond(Reply::text(200, "all systems ready")));
    let url = healthy.url("/health");
    check(&url, &["--reject-body", "error"]).assert_code(0);
    // With a pattern the body must match, both must hold.
    check(
        &url,
        &["--expect-body", "ready", "--reject-body", "error|fail"],
    )
    .assert_code(0);
    // Every command takes it, and a config file too.
    let run = stillup([
        "wait",
        failing.url("/").as_str(),
        "--timeout",
        "1s",
        "--reject-body",
        "error",
        "--output",
        "json",
    ]);
    run.assert_code(1);
    assert_eq!(last_class(&run.json()), "condition_failed", "{run}");
}

/// The text that matched is server text: shown through the sanitizer, never raw.
#[test]
fn reject_body_shows_what_matched_without_escape_sequences() {
    let body = "fatal: error \x1b]0;pwned\x07\x1b[31m in db";
    let server = serve(Behavior::Respond(Reply::text(200, body)));
    let run = stillup([
        "check",
        server.url("/").as_str(),
        "--reject-body",
        "error.*db",
        "--color",
        "never",
    ]);
    run.assert_code(1);
    assert!(run.stderr.contains("/error.*db/"), "{run}");
    assert!(
        !run.stderr.contains('\x1b') && !run.stdout.contains('\x1b'),
        "{run}"
    );
    assert!(!run.stderr.contains('\x07'), "{run}");
}

#[test]
fn a_bad_reject_body_pattern_is_refused_before_any_request() {
    let run = stillup(["check", "http://127.0.0.1:9/", "--reject-body", "("]);
    let line = run.usage_error_line("bad --reject-body");
    assert!(
        line.contains("--reject-body") && line.contains("unclosed group"),
        "{line}"
    );
}

#[test]
fn expect_header_passes_when_present_or_matching_and_fails_otherwise() {
    let reply = Reply::json(200, "{}").header("X-Ready", "yes");
    let server = serve(Behavior::Respond(reply));
    let url = server.url("/health");
    check(&url, &["--expect-header", "X-Ready"]).assert_code(0);
    check(&url, &["--expect-header", "content-type: json"]).assert_code(0);
    check(&url, &["--expect-header", "X-Ready: ^yes$"]).assert_code(0);

    let run = check(&url, &["--expect-header", "X-Missing"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("X-Missing"), "{run}");

    let run = check(&url, &["--expect-header", "X-Ready: ^no$"]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["condition_failed"], "{run}");
}

#[test]
fn max_latency_fails_a_slow_response_and_passes_a_generous_limit() {
    // Ten body bytes, 50ms apart: about half a second per response.
    let server = serve(Behavior::TrickleBody {
        reply: Reply::text(200, "0123456789"),
        every: Duration::from_millis(50),
    });
    let url = server.url("/health");
    let run = check(&url, &["--max-latency", "100ms"]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("100ms"), "{run}");

    check(&url, &["--max-latency", "20s", "--attempt-timeout", "5s"]).assert_code(0);
}

/// JSON numbers beyond 2^64 (and long fractions) compare exactly, not as f64.
#[test]
fn json_numbers_beyond_u64_compare_exactly() {
    let server = serve_json(r#"{"n": 18446744073709551617, "f": 0.30000000000000000001}"#);
    let url = server.url("/");
    let run = check_json(&url, &["--expect-json", "$.n == 18446744073709551616"]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["condition_failed"], "{run}");
    assert!(
        last_message(&run.json()).contains("18446744073709551617"),
        "{run}"
    );
    check_json(&url, &["--expect-json", "$.n == 18446744073709551617"]).assert_code(0);
    check_json(&url, &["--expect-json", "$.f > 0.3"]).assert_code(0);
}
