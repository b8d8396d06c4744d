//! `tcp://host:port` targets: healthy when a connection is accepted, `refused` when nothing
//! listens, and a usage error without a port.

use std::time::Duration;

use super::support::*;

#[test]
fn a_listening_port_is_healthy() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let tcp = format!("tcp://{}", server.addr());
    let run = check_json(&tcp, &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["target"], tcp.as_str());
    assert_eq!(only["kind"], "tcp");
    assert_eq!(only["outcome"], "healthy");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let attempt = &attempts_of(only)[0];
    assert_eq!(
        attempt["status"],
        serde_json::Value::Null,
        "no HTTP on tcp://"
    );
    assert_eq!(attempt["remote"], server.addr().to_string());
    assert_eq!(server.requests(), 0, "a tcp probe sends no request");
    assert!(server.connections() >= 1);

    let run = stillup(["check", &tcp]);
    run.assert_code(0);
    assert!(run.stderr.contains(&tcp), "{run}");
}

#[test]
fn a_closed_port_fails_as_refused() {
    let tcp = format!("tcp://127.0.0.1:{}", closed_port());
    let run = check_json(&tcp, &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["refused"], "{run}");
    assert_eq!(target(&report, 0)["last_failure"]["class"], "refused");

    let run = wait_json(&[&tcp], &["--timeout", "1s", "--interval", "200ms"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_eq!(report["outcome"], "gave_up", "{run}");
    assert_eq!(story(&report), ["refused"], "{run}");
    assert!(classes(&report).len() >= 2, "it kept polling\n{run}");
}

#[test]
fn a_port_that_starts_listening_later_becomes_healthy() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(1000), Behavior::Refuse)
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let tcp = format!("tcp://{}", server.addr());
    let run = wait_json(&[&tcp], &["--timeout", "20s", "--interval", "100ms"]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_eq!(story(&report), ["refused", HEALTHY], "{run}");
}

#[test]
fn http_and_tcp_targets_wait_together() {
    let api = after_one_503();
    let db = serve(Behavior::Hang);
    let tcp = format!("tcp://{}", db.addr());
    let url = api.url("/health");
    let run = wait_json(&[&url, &tcp], &["--timeout", "20s", "--interval", "100ms"]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(target(&report, 0)["kind"], "http");
    assert_eq!(target(&report, 1)["kind"], "tcp");
    assert_eq!(story(&report), ["http_status", HEALTHY], "{run}");
    assert_eq!(classes_of(target(&report, 1)), [HEALTHY], "{run}");
}

/// Healthy after one 503.
fn after_one_503() -> ScriptedServer {
    ScriptedServer::spawn(
        Script::new()
            .then_requests(1, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap()
}

#[test]
fn a_tcp_target_without_a_port_or_with_a_path_is_a_usage_error() {
    for (bad, hint) in [
        ("tcp://127.0.0.1", "port"),
        ("tcp://localhost", "port"),
        ("tcp://127.0.0.1:5432/db", "path"),
        ("tcp://127.0.0.1:0", "port 0"),
    ] {
        for command in ["wait", "check"] {
            let run = stillup([command, bad]);
            let line = run.usage_error_line(bad);
            assert!(line.contains("TARGET"), "{bad}: {line}");
            assert!(line.contains(bad), "{bad}: {line}");
            assert!(line.contains(hint), "{bad}: {hint:?} missing from {line}");
        }
    }
}

/// `--max-latency` applies to tcp:// too: the time until the connection is accepted.
#[test]
fn max_latency_bounds_the_time_to_connect() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let tcp = format!("tcp://{}", server.addr());
    let run = check_json(&tcp, &["--max-latency", "1ns"]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("connection took"), "{run}");
    check_json(&tcp, &["--max-latency", "10s"]).assert_code(0);
}

/// `--refused-interval 0s` is "off" (no floor applies to it): a refused port is re-probed at
/// `--interval`, here 500ms, so a 1.2s wait makes a handful of attempts, not dozens.
#[test]
fn refused_interval_0s_turns_fast_reprobing_off() {
    let tcp = format!("tcp://127.0.0.1:{}", closed_port());
    let run = wait_json(
        &[&tcp],
        &[
            "--timeout",
            "1200ms",
            "--interval",
            "500ms",
            "--refused-interval",
            "0s",
        ],
    );
    run.assert_code(1);
    let attempts = classes(&run.json()).len();
    assert!((1..=4).contains(&attempts), "{attempts} attempts\n{run}");
}
