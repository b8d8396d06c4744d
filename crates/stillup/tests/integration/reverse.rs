//! `--until down`: wait for a target to stop answering (or stop being healthy), as for the
//! old pods of a rollout; a target that stays healthy gives up at the deadline.

use std::time::Duration;

use super::support::*;

/// Healthy for two requests, then `then` forever (a Refuse phase closes the port as soon as
/// the second request has been read).
fn healthy_then(then: Behavior) -> ScriptedServer {
    ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::text(200, "ok")))
            .forever(then),
    )
    .unwrap()
}

fn wait_down(targets: &[&str], timeout: &str, extra: &[&str]) -> Run {
    let mut flags = vec![
        "--until",
        "down",
        "--timeout",
        timeout,
        "--interval",
        "100ms",
        "--attempt-timeout",
        "1s",
    ];
    flags.extend_from_slice(extra);
    wait_json(targets, &flags)
}

#[test]
fn a_server_that_stops_listening_is_down_and_exits_0() {
    let server = healthy_then(Behavior::Refuse);
    let run = wait_down(&[&server.url("/health")], "20s", &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "down", "{run}");
    assert_eq!(report["until"], "down");
    assert_eq!(report["success"], true);
    let only = target(&report, 0);
    assert_eq!(only["outcome"], "down", "{run}");
    assert_eq!(only["timeline"]["end"], "down", "{run}");
    assert_eq!(
        classes(&report),
        [HEALTHY, HEALTHY, "refused"],
        "down at the first refusal\n{run}"
    );
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_server_that_starts_failing_its_health_check_is_down() {
    let server = healthy_then(Behavior::Respond(Reply::status(503)));
    let run = wait_down(&[&server.url("/health")], "20s", &[]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["outcome"], "down", "{run}");
    assert_eq!(classes(&report), [HEALTHY, HEALTHY, "http_status"], "{run}");
    assert_eq!(
        target(&report, 0)["last_failure"]["class"],
        "http_status",
        "why it is down\n{run}"
    );
}

#[test]
fn a_server_that_stays_healthy_gives_up_at_the_deadline() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = wait_down(&[&server.url("/health")], "1s", &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "gave_up", "{run}");
    assert_eq!(report["until"], "down");
    assert_eq!(report["success"], false);
    assert_eq!(target(&report, 0)["outcome"], "gave_up", "{run}");
    assert_eq!(story(&report), [HEALTHY], "{run}");
    assert!(classes(&report).len() >= 2, "it kept polling\n{run}");
}

#[test]
fn human_output_says_still_healthy_then_down() {
    let server = healthy_then(Behavior::Refuse);
    let url = server.url("/health");
    let run = stillup([
        "wait",
        &url,
        "--until",
        "down",
        "--timeout",
        "20s",
        "--interval",
        "100ms",
    ]);
    run.assert_code(0);
    assert!(run.stderr.contains("still healthy"), "{run}");
    let verdict = run
        .stderr
        .lines()
        .find(|l| l.starts_with('✓'))
        .unwrap_or_else(|| panic!("no ✓ line\n{run}"));
    assert!(verdict.contains(&url), "{verdict}");
    assert!(verdict.contains("is down after"), "{verdict}");

    let up = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = stillup([
        "wait",
        &up.url("/health"),
        "--until",
        "down",
        "--timeout",
        "1s",
        "--interval",
        "200ms",
    ]);
    run.assert_code(1);
    let verdict = run
        .stderr
        .lines()
        .find(|l| l.starts_with('✗'))
        .unwrap_or_else(|| panic!("no ✗ line\n{run}"));
    assert!(verdict.contains("still up"), "{verdict}");
}

#[test]
fn several_targets_are_down_when_all_of_them_are() {
    let first = healthy_then(Behavior::Refuse);
    let gone = serve(Behavior::Refuse);
    let (a, b) = (first.url("/health"), gone.url("/health"));
    let run = wait_down(&[&a, &b], "20s", &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "down", "{run}");
    assert_eq!(target(&report, 0)["outcome"], "down", "{run}");
    assert_eq!(target(&report, 1)["outcome"], "down", "{run}");
    assert_eq!(classes_of(target(&report, 1)), ["refused"], "{run}");

    let up = serve(Behavior::Respond(Reply::text(200, "ok")));
    let gone = serve(Behavior::Refuse);
    let (a, b) = (up.url("/health"), gone.url("/health"));
    let run = wait_down(&[&a, &b], "1s", &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(report["outcome"], "gave_up", "{run}");
    assert_eq!(target(&report, 0)["outcome"], "gave_up", "{run}");
    assert_eq!(target(&report, 1)["outcome"], "down", "{run}");
}

#[test]
fn until_down_with_a_command_is_a_usage_error() {
    let server = serve(Behavior::Refuse);
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--until",
        "down",
        "--",
        "true",
    ]);
    run.assert_code(2);
    assert!(run.stderr.contains("--until down"), "{run}");
}
