//! `--successes N`: a flapping target counts only after N consecutive attempts reached the
//! goal; one failure in between starts the count again.

use std::time::Duration;

use super::support::*;

fn ok() -> Behavior {
    Behavior::Respond(Reply::text(200, "ok"))
}

fn unavailable() -> Behavior {
    Behavior::Respond(Reply::status(503))
}

/// 200, 503, 200, 503, then 200 forever.
fn flapping() -> ScriptedServer {
    ScriptedServer::spawn(
        Script::new()
            .then_requests(1, ok())
            .then_requests(1, unavailable())
            .then_requests(1, ok())
            .then_requests(1, unavailable())
            .forever(ok()),
    )
    .unwrap()
}

fn wait_flags(successes: &str, timeout: &str) -> Vec<String> {
    [
        "--successes",
        successes,
        "--interval",
        "100ms",
        "--timeout",
        timeout,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn successes_3_is_healthy_only_after_3_healthy_attempts_in_a_row() {
    let server = flapping();
    let flags = wait_flags("3", "20s");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let run = wait_json(&[&server.url("/health")], &flags);
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "healthy", "{run}");
    assert_eq!(
        classes(&report),
        [
            HEALTHY,
            "http_status",
            HEALTHY,
            "http_status",
            HEALTHY,
            HEALTHY,
            HEALTHY
        ],
        "{run}"
    );
    let numbers: Vec<u64> = attempts_of(target(&report, 0))
        .iter()
        .map(|a| a["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7], "{run}");
    assert_eq!(
        server.requests(),
        7,
        "no attempt after the third success in a row"
    );
    assert_eq!(target(&report, 0)["last_failure"], serde_json::Value::Null);
}

#[test]
fn without_successes_the_first_healthy_attempt_is_enough() {
    let server = flapping();
    let run = wait_json(
        &[&server.url("/health")],
        &["--interval", "100ms", "--timeout", "10s"],
    );
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn successes_that_never_come_in_a_row_give_up_at_the_deadline() {
    // Healthy every other attempt for longer than the deadline allows.
    let mut script = Script::new();
    for _ in 0..50 {
        script = script
            .then_requests(1, ok())
            .then_requests(1, unavailable());
    }
    let server = ScriptedServer::spawn(script.forever(ok())).unwrap();
    let flags = wait_flags("2", "1s");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let run = wait_json(&[&server.url("/health")], &flags);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_eq!(report["outcome"], "gave_up", "{run}");
    let classes = classes(&report);
    assert!(classes.len() >= 2, "{run}");
    assert!(
        classes.windows(2).all(|pair| pair[0] != pair[1]),
        "the run alternated: {classes:?}\n{run}"
    );
}

#[test]
fn successes_count_consecutive_down_attempts_with_until_down() {
    // Healthy twice, then 503, 200, then 503 forever: down after two 503s in a row.
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, ok())
            .then_requests(1, unavailable())
            .then_requests(1, ok())
            .forever(unavailable()),
    )
    .unwrap();
    let mut flags = wait_flags("2", "20s");
    flags.extend(["--until".into(), "down".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let run = wait_json(&[&server.url("/health")], &flags);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["outcome"], "down", "{run}");
    assert_eq!(
        classes(&report),
        [
            HEALTHY,
            HEALTHY,
            "http_status",
            HEALTHY,
            "http_status",
            "http_status"
        ],
        "{run}"
    );
}

#[test]
fn successes_must_be_a_whole_number_of_at_least_1() {
    let server = serve(ok());
    for bad in ["0", "-1", "three", ""] {
        let flag = format!("--successes={bad}");
        let run = stillup(["wait", &server.url("/health"), &flag]);
        run.assert_code(2);
        assert!(run.stderr.contains("--successes"), "{bad:?}\n{run}");
    }
    assert_eq!(server.connections(), 0);
}
