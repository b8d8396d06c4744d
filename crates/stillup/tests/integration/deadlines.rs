//! One overall deadline bounds the run, and each attempt's own timeout is clamped to what
//! remains of it — against servers that accept and never answer, a TLS listener that never
//! answers the ClientHello, a body that trickles, and a name that does not resolve.

use std::time::Duration;

use super::support::*;

const DEADLINE: Duration = Duration::from_secs(2);

/// `stillup wait URL --timeout 2s --output json` with `extra` flags.
fn wait_two_seconds(url: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "wait",
        url,
        "--timeout",
        "2s",
        "--interval",
        "200ms",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    stillup(args)
}

#[track_caller]
fn assert_gave_up_in_time(run: &Run) -> serde_json::Value {
    run.assert_code(1).assert_within(DEADLINE + SLACK);
    let report = run.json();
    assert_eq!(report["outcome"], "gave_up", "{run}");
    let elapsed = report["elapsed_ms"].as_f64().unwrap();
    assert!(
        elapsed <= (DEADLINE + SLACK).as_millis() as f64,
        "the report says {elapsed}ms\n{run}"
    );
    report
}

/// The classes of the attempts that started before the deadline: those had a budget to
/// fail with. (See `no_attempt_starts_once_the_deadline_has_passed` for the others.)
fn classes_with_budget(report: &serde_json::Value) -> Vec<String> {
    let deadline = report["timeout_ms"].as_f64().unwrap();
    let started: Vec<f64> = attempts_of(target(report, 0))
        .iter()
        .map(|a| a["started_ms"].as_f64().unwrap())
        .collect();
    classes(report)
        .into_iter()
        .zip(started)
        .filter(|(_, at)| *at < deadline - 1.0)
        .map(|(class, _)| class)
        .collect()
}

#[track_caller]
fn assert_every_attempt_failed_as(report: &serde_json::Value, class: &str, run: &Run) {
    let with_budget = classes_with_budget(report);
    assert!(!with_budget.is_empty(), "no attempt was made\n{run}");
    assert!(
        with_budget.iter().all(|c| c == class),
        "expected only {class}, got {with_budget:?}\n{run}"
    );
}

#[test]
fn a_server_that_never_answers_gives_up_at_the_deadline_with_response_timeout() {
    let server = serve(Behavior::Hang);
    let run = wait_two_seconds(&server.url("/health"), &["--attempt-timeout", "1s"]);
    let report = assert_gave_up_in_time(&run);
    assert_every_attempt_failed_as(&report, "response_timeout", &run);
    assert!(server.requests() >= 1, "the request reached the server");
}

#[test]
fn an_attempt_timeout_longer_than_the_deadline_is_clamped_to_it() {
    let server = serve(Behavior::Hang);
    let run = wait_two_seconds(&server.url("/health"), &["--attempt-timeout", "10s"]);
    let report = assert_gave_up_in_time(&run);
    assert_every_attempt_failed_as(&report, "response_timeout", &run);
    for attempt in attempts_of(target(&report, 0)) {
        let took = attempt["duration_ms"].as_f64().unwrap();
        assert!(
            took <= (DEADLINE + SLACK).as_millis() as f64,
            "an attempt ran {took}ms past a 2s deadline\n{run}"
        );
    }
}

#[test]
fn an_https_listener_that_never_answers_the_hello_fails_as_tls_handshake_within_the_deadline() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = serve_tls(&cert, Behavior::Silent);
    let url = server.url("/health");
    assert!(url.starts_with("https://"));
    let run = wait_two_seconds(&url, &["--attempt-timeout", "1s"]);
    let report = assert_gave_up_in_time(&run);
    assert_every_attempt_failed_as(&report, "tls_handshake", &run);
    assert!(server.connections() >= 1);
}

#[test]
fn a_body_that_trickles_past_the_deadline_fails_as_body_timeout() {
    let reply = Reply::text(200, &"x".repeat(200));
    let server = serve(Behavior::TrickleBody {
        reply,
        every: Duration::from_millis(100),
    });
    let run = wait_two_seconds(&server.url("/health"), &["--attempt-timeout", "1s"]);
    let report = assert_gave_up_in_time(&run);
    assert_every_attempt_failed_as(&report, "body_timeout", &run);
}

#[test]
fn a_name_that_does_not_resolve_fails_as_dns_and_exits_1() {
    // Answered NXDOMAIN by the test's own resolver: the system resolver is never asked.
    let Some(stub) = super::stub_dns::with_an_nxdomain_resolver(&[
        "wait",
        "http://no-such-host.invalid/health",
        "--timeout",
        "2s",
        "--interval",
        "200ms",
        "--attempt-timeout",
        "1s",
        "--output",
        "json",
    ]) else {
        return;
    };
    let run = &stub.run;
    let report = assert_gave_up_in_time(run);
    assert_every_attempt_failed_as(&report, "dns", run);
    assert!(
        last_message(&report).contains("no-such-host.invalid"),
        "{run}"
    );
    assert!(stub.queries >= 1, "the stub resolver was not asked\n{run}");
}

#[test]
fn no_attempt_starts_once_the_deadline_has_passed() {
    let server = serve(Behavior::Hang);
    for attempt_timeout in ["1s", "10s"] {
        let run = wait_two_seconds(
            &server.url("/health"),
            &["--attempt-timeout", attempt_timeout],
        );
        let report = assert_gave_up_in_time(&run);
        assert_eq!(
            classes(&report),
            classes_with_budget(&report),
            "an attempt started after the deadline\n{run}"
        );
        assert_eq!(last_class(&report), "response_timeout", "{run}");
        assert_eq!(
            target(&report, 0)["last_failure"]["class"],
            "response_timeout",
            "{run}"
        );
    }
}

/// Thousands of 1 ms re-probes of a refusing port: the report lists the latest 1,000
/// attempts, says how many came before, and its timeline still counts every one.
#[test]
fn a_long_run_lists_its_latest_attempts_and_counts_the_rest() {
    let tcp = format!("tcp://127.0.0.1:{}", closed_port());
    let run = stillup([
        "wait",
        &tcp,
        // The floor of --refused-interval is 10ms: 15 s make up to 1,500 attempts.
        "--timeout",
        "15s",
        "--refused-interval",
        "10ms",
        "--output",
        "json",
    ]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(15) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    let listed = attempts_of(only);
    let omitted = only["attempts_omitted"].as_u64().unwrap();
    let phases = only["timeline"]["phases"].as_array().unwrap();
    let counted: u64 = phases.iter().map(|p| p["attempts"].as_u64().unwrap()).sum();
    assert!(
        counted > 1_000,
        "only {counted} attempts in 15 s: the test needs more than 1,000"
    );
    assert_eq!(listed.len(), 1_000);
    assert_eq!(omitted + 1_000, counted, "{}", only["timeline"]);
    for (i, attempt) in listed.iter().enumerate() {
        assert_eq!(attempt["number"].as_u64().unwrap(), omitted + 1 + i as u64);
    }
    // The omitted attempts are still in the story, from the first one on.
    assert_eq!(phases[0]["class"], "refused", "{}", only["timeline"]);
    assert!(phases[0]["from_ms"].as_f64().unwrap() < 1_000.0);
}
