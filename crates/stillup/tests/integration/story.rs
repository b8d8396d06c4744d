//! The whole story of a service coming up — refused, 503, degraded, healthy — as `wait`,
//! `demo` and `check` tell it.

use std::time::Duration;

use serde_json::Value;

use super::support::*;

/// Refuses for a while, then 503 twice, then `degraded` twice, then healthy. The refusing
/// phase is long enough that the binary is surely running before it ends.
fn coming_up() -> ScriptedServer {
    let script = Script::new()
        .then_for(Duration::from_millis(1500), Behavior::Refuse)
        .then_requests(2, Behavior::Respond(Reply::text(503, "starting\n")))
        .then_requests(
            2,
            Behavior::Respond(Reply::json(200, r#"{"status":"degraded"}"#)),
        )
        .forever(Behavior::Respond(Reply::json(
            200,
            r#"{"status":"healthy"}"#,
        )));
    ScriptedServer::spawn(script).unwrap()
}

const HEALTHY_JSON: &str = r#"$.status == "healthy""#;

#[test]
fn refused_then_503_then_degraded_then_healthy_exits_0_in_order() {
    let server = coming_up();
    let url = server.url("/health");
    let run = stillup([
        "wait",
        &url,
        "--expect-json",
        HEALTHY_JSON,
        "--interval",
        "100ms",
        "--attempt-timeout",
        "2s",
        "--timeout",
        "20s",
        "--output",
        "json",
    ]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_eq!(
        story(&report),
        ["refused", "http_status", "condition_failed", HEALTHY],
        "{run}"
    );
    assert_eq!(report["outcome"], "healthy", "{run}");
    assert_eq!(report["success"], true);
    let first = target(&report, 0);
    assert_eq!(first["outcome"], "healthy", "{run}");
    assert_eq!(first["healthy"], true);
    assert_eq!(first["last_failure"], Value::Null);
    let phases: Vec<&str> = first["timeline"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["refused", "http_status", "condition_failed"]);
    let degraded = attempts_of(first)
        .iter()
        .find(|a| a["class"] == "condition_failed")
        .unwrap();
    assert_eq!(degraded["status"], 200);
    assert!(
        degraded["message"].as_str().unwrap().contains("degraded"),
        "{degraded:#}"
    );
}

#[test]
fn refused_then_503_then_degraded_then_healthy_prints_a_check_mark_and_timeline() {
    let server = coming_up();
    let url = server.url("/health");
    let run = stillup([
        "wait",
        &url,
        "--expect-json",
        HEALTHY_JSON,
        "--interval",
        "100ms",
        "--attempt-timeout",
        "2s",
        "--timeout",
        "20s",
    ]);
    run.assert_code(0);
    assert!(
        run.stdout.is_empty(),
        "human output belongs on stderr\n{run}"
    );
    let verdict = run
        .stderr
        .lines()
        .find(|l| l.starts_with('✓'))
        .unwrap_or_else(|| panic!("no ✓ line\n{run}"));
    assert!(verdict.contains(&url), "{verdict}");
    assert!(verdict.contains("is healthy after"), "{verdict}");
    let timeline = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("timeline:"))
        .unwrap_or_else(|| panic!("no timeline: line\n{run}"));
    assert_in_order(
        timeline,
        &["connection refused", "HTTP 503", "degraded", "healthy at"],
    );
    // One line per failed attempt, in the order they happened.
    assert_in_order(
        &run.stderr,
        &["connection refused by", "HTTP 503", "is \"degraded\"", "✓"],
    );
}

#[track_caller]
fn assert_in_order(text: &str, parts: &[&str]) {
    let mut from = 0;
    for part in parts {
        match text[from..].find(part) {
            Some(at) => from += at + part.len(),
            None => panic!("{part:?} missing or out of order in:\n{text}"),
        }
    }
}

#[test]
fn demo_tells_refused_503_degraded_then_healthy_in_json() {
    let run = stillup(["demo", "--output", "json"]);
    run.assert_code(0).assert_within(Duration::from_secs(20));
    let report = run.json();
    assert_eq!(
        story(&report),
        ["refused", "http_status", "condition_failed", HEALTHY],
        "{run}"
    );
    assert_eq!(report["command"], "wait");
    assert_eq!(report["outcome"], "healthy");
}

#[test]
fn check_of_a_healthy_service_exits_0_with_a_check_mark() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let run = stillup(["check", &url]);
    run.assert_code(0);
    let verdict = run
        .stderr
        .lines()
        .find(|l| l.starts_with('✓'))
        .unwrap_or_else(|| panic!("no ✓ line\n{run}"));
    assert!(verdict.contains(&url), "{verdict}");
    assert!(verdict.contains("is healthy (HTTP 200"), "{verdict}");
    assert_eq!(server.requests(), 1, "check makes exactly one attempt");
}

#[test]
fn check_of_a_refusing_port_exits_1_naming_the_refusal() {
    let server = serve(Behavior::Refuse);
    let url = server.url("/health");
    let run = stillup(["check", &url]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let verdict = run
        .stderr
        .lines()
        .find(|l| l.starts_with('✗'))
        .unwrap_or_else(|| panic!("no ✗ line\n{run}"));
    assert!(verdict.contains("is not healthy"), "{verdict}");
    assert!(verdict.contains("connection refused"), "{verdict}");

    let report = check_json(&url, &[]).json();
    assert_eq!(classes(&report), ["refused"]);
    assert_eq!(report["command"], "check");
    assert_eq!(report["outcome"], "gave_up");
    assert_eq!(target(&report, 0)["last_failure"]["class"], "refused");
}

#[test]
fn quiet_prints_nothing_and_the_exit_code_says_it_all() {
    let refusing = serve(Behavior::Refuse);
    let healthy = serve(Behavior::Respond(Reply::text(200, "ok")));
    for (server, code) in [(&refusing, 1), (&healthy, 0)] {
        let url = server.url("/health");
        let check = vec!["check", &url, "--quiet"];
        let wait = vec!["wait", &url, "--quiet", "--timeout", "1s"];
        for args in [check, wait] {
            let run = stillup(&args);
            run.assert_code(code);
            assert!(
                run.stdout.is_empty() && run.stderr.is_empty(),
                "{args:?}\n{run}"
            );
        }
    }
}
