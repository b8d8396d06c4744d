//! `--fail-fast CLASSES` and `--fail-when EXPR`: failures that waiting will not heal end the
//! run at once with exit code 3, long before the deadline.

use std::time::Duration;

use super::support::*;

/// A deadline the run must end well before.
const LONG: &str = "30s";
/// "Well before" [`LONG`], with room for a noisy machine.
const QUICKLY: Duration = Duration::from_secs(10);

fn wait_long(targets: &[&str], extra: &[&str]) -> Run {
    let mut flags = vec![
        "--timeout",
        LONG,
        "--interval",
        "200ms",
        "--attempt-timeout",
        "3s",
    ];
    flags.extend_from_slice(extra);
    wait_json(targets, &flags)
}

#[test]
fn fail_fast_on_http_401_exits_3_at_the_first_401() {
    let server = serve(Behavior::Respond(Reply::text(401, "who are you")));
    let run = wait_long(
        &[&server.url("/health")],
        &["--fail-fast", "http_status:401"],
    );
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "failed_fast", "{run}");
    assert_eq!(report["success"], false);
    let only = target(&report, 0);
    assert_eq!(only["outcome"], "failed_fast", "{run}");
    assert_eq!(only["timeline"]["end"], "failed_fast", "{run}");
    assert_eq!(classes(&report), ["http_status"], "{run}");
    assert_eq!(only["last_failure"]["status"], 401);
    assert_eq!(server.requests(), 1, "no attempt after the first 401");
}

#[test]
fn fail_fast_narrowed_to_401_keeps_waiting_through_503() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::status(401))),
    )
    .unwrap();
    let run = wait_long(
        &[&server.url("/health")],
        &["--fail-fast", "http_status:401+403"],
    );
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_eq!(
        classes(&report),
        ["http_status", "http_status", "http_status"],
        "{run}"
    );
    let statuses: Vec<u64> = attempts_of(target(&report, 0))
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 503, 401], "{run}");

    let unavailable = serve(Behavior::Respond(Reply::status(503)));
    let run = wait_json(
        &[&unavailable.url("/health")],
        &[
            "--fail-fast",
            "http_status:401",
            "--timeout",
            "1s",
            "--interval",
            "200ms",
        ],
    );
    run.assert_code(1);
    assert_eq!(run.json()["outcome"], "gave_up", "{run}");
}

#[test]
fn fail_fast_on_tls_verify_exits_3_against_a_self_signed_certificate() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let run = wait_long(&[&server.url("/health")], &["--fail-fast", "tls_verify"]);
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_eq!(report["outcome"], "failed_fast", "{run}");
    assert_eq!(classes(&report), ["tls_verify"], "{run}");
    assert_eq!(
        server.requests(),
        0,
        "no request crosses a rejected handshake"
    );

    // Human output says why it stopped.
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        LONG,
        "--fail-fast",
        "tls_verify",
    ]);
    run.assert_code(3).assert_within(QUICKLY);
    assert!(run.stderr.contains("failed fast"), "{run}");
    assert!(run.stderr.contains("[tls_verify]"), "{run}");
}

#[test]
fn fail_fast_on_refused_works_for_tcp_targets() {
    let tcp = format!("tcp://127.0.0.1:{}", closed_port());
    let run = wait_long(&[&tcp], &["--fail-fast", "dns,refused"]);
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_eq!(report["outcome"], "failed_fast", "{run}");
    assert_eq!(classes(&report), ["refused"], "{run}");
}

#[test]
fn one_target_failing_fast_ends_an_all_targets_wait_and_stops_the_others() {
    let refusing = serve(Behavior::Refuse);
    let unauthorized = serve(Behavior::Respond(Reply::status(401)));
    let (a, b) = (refusing.url("/health"), unauthorized.url("/health"));
    let run = wait_long(&[&a, &b], &["--fail-fast", "http_status:401"]);
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "failed_fast", "{run}");
    assert_eq!(target(&report, 0)["outcome"], "stopped", "{run}");
    assert_eq!(target(&report, 1)["outcome"], "failed_fast", "{run}");
}

#[test]
fn fail_when_exits_3_with_class_fail_when() {
    let server = serve_json(r#"{"status":"failed","reason":"migration 42 failed"}"#);
    let run = wait_long(
        &[&server.url("/health")],
        &["--fail-when", r#"$.status == "failed""#],
    );
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "failed_fast", "{run}");
    assert_eq!(classes(&report), ["fail_when"], "{run}");
    let last_failure = &target(&report, 0)["last_failure"];
    assert_eq!(last_failure["class"], "fail_when", "{run}");
    assert_eq!(last_failure["status"], 200, "{run}");
    assert!(
        last_failure["message"]
            .as_str()
            .unwrap()
            .contains("$.status"),
        "the message names the condition\n{run}"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn fail_when_holds_whatever_the_status() {
    let server = serve(Behavior::Respond(Reply::json(
        500,
        r#"{"status":"failed"}"#,
    )));
    let run = wait_long(
        &[&server.url("/health")],
        &["--fail-when", r#"$.status == "failed""#],
    );
    run.assert_code(3).assert_within(QUICKLY);
    let report = run.json();
    assert_eq!(classes(&report), ["fail_when"], "{run}");
    assert_eq!(target(&report, 0)["last_failure"]["status"], 500, "{run}");
}

#[test]
fn fail_when_stops_a_service_that_was_starting_and_then_failed() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(
                2,
                Behavior::Respond(Reply::json(200, r#"{"status":"starting"}"#)),
            )
            .forever(Behavior::Respond(Reply::json(
                200,
                r#"{"status":"failed"}"#,
            ))),
    )
    .unwrap();
    let run = wait_long(
        &[&server.url("/health")],
        &[
            "--expect-json",
            r#"$.status == "healthy""#,
            "--fail-when",
            r#"$.status == "failed""#,
        ],
    );
    run.assert_code(3).assert_within(QUICKLY);
    assert_eq!(
        classes(&run.json()),
        ["condition_failed", "condition_failed", "fail_when"],
        "{run}"
    );
}

#[test]
fn fail_when_that_does_not_hold_changes_nothing() {
    let server = serve_json(r#"{"status":"healthy"}"#);
    let run = wait_long(
        &[&server.url("/health")],
        &["--fail-when", r#"$.status == "failed""#],
    );
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn a_bad_fail_fast_or_fail_when_is_a_usage_error_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for (flag, value, hint) in [
        ("--fail-fast", "nosuchclass", "known classes"),
        ("--fail-fast", "refused:401", "http_status"),
        ("--fail-fast", "http_status:abc", "abc"),
        ("--fail-fast", "dns,", "empty"),
        ("--fail-when", "$.status", "$.status"),
        ("--fail-when", "status == failed", "status"),
    ] {
        let run = stillup(["wait", &url, flag, value]);
        let line = run.usage_error_line(&format!("{flag} {value}"));
        assert!(line.contains(flag), "{flag} {value}: {line}");
        assert!(line.contains(value), "{flag} {value}: {line}");
        assert!(
            line.contains(hint),
            "{flag} {value}: {hint:?} missing from {line}"
        );
    }
    assert_eq!(server.connections(), 0, "nothing is sent");
}
