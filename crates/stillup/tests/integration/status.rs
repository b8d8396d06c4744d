//! `--expect-status`: codes, ranges and classes decide which statuses are healthy; anything
//! else is `http_status`.

use std::time::Duration;

use super::support::*;

fn check_status(served: u16, expect: Option<&str>) -> Run {
    let server = serve(Behavior::Respond(Reply::text(served, "body")));
    let url = server.url("/health");
    let mut args = vec!["check", url.as_str(), "--output", "json"];
    if let Some(expect) = expect {
        args.extend(["--expect-status", expect]);
    }
    let run = stillup(args);
    run.assert_within(Duration::from_secs(3) + SLACK);
    run
}

#[test]
fn a_status_inside_the_expected_range_is_healthy() {
    for served in [200, 204, 299] {
        let run = check_status(served, Some("200-299"));
        run.assert_code(0);
        assert_eq!(classes(&run.json()), [HEALTHY], "{served}: {run}");
    }
}

#[test]
fn a_class_and_a_code_together_accept_both() {
    for served in [200, 201, 301] {
        let run = check_status(served, Some("2xx,301"));
        run.assert_code(0);
        assert_eq!(
            target(&run.json(), 0)["attempts"][0]["status"],
            served,
            "{run}"
        );
    }
    let run = check_status(302, Some("2xx,301"));
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["http_status"], "{run}");
}

#[test]
fn a_404_is_healthy_when_404_is_expected() {
    let run = check_status(404, Some("404"));
    run.assert_code(0);
    let run = check_status(200, Some("404"));
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["http_status"], "{run}");
    assert_eq!(target(&report, 0)["last_failure"]["status"], 200);
}

#[test]
fn a_503_fails_as_http_status_by_default() {
    let run = check_status(503, None);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["http_status"], "{run}");
    let last_failure = &target(&report, 0)["last_failure"];
    assert_eq!(last_failure["status"], 503);
    let message = last_failure["message"].as_str().unwrap();
    assert!(message.contains("503"), "{message}");
    assert!(message.contains("2xx"), "{message}");
}

#[test]
fn wait_gives_up_with_http_status_on_a_503_outside_the_range() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let url = server.url("/health");
    let run = stillup([
        "wait",
        &url,
        "--expect-status",
        "200-299",
        "--timeout",
        "1s",
        "--interval",
        "200ms",
        "--output",
        "json",
    ]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_eq!(story(&report), ["http_status"], "{run}");
    assert!(classes(&report).len() >= 2, "it kept polling\n{run}");
}
