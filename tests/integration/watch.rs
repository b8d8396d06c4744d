//! `stillup watch`: outage windows of known length, flapping, a stalling server, the
//! `-- COMMAND` mode, budget exit codes, the JSON schema and the HTML report.

use std::time::Duration;

use serde_json::Value;
use stillup::testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{serve, stillup, KeepAliveServer, TempDir, SLACK};

fn watch_schema() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/watch.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the watch schema is a valid JSON Schema")
}

#[track_caller]
fn assert_watch_schema(report: &Value) {
    let validator = watch_schema();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
}

fn ok() -> Behavior {
    Behavior::Respond(Reply::text(200, "ok"))
}

#[test]
fn scripted_outages_are_measured_within_a_sample_period_with_their_phases() {
    // 500 ms healthy, 750 ms refused, 400 ms of 502, then healthy.
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(500), ok())
            .then_for(Duration::from_millis(750), Behavior::Refuse)
            .then_for(
                Duration::from_millis(400),
                Behavior::Respond(Reply::status(502)),
            )
            .forever(ok()),
    )
    .unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "2500ms",
        "--rate",
        "50/s",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    assert_watch_schema(&report);
    let target = &report["targets"][0];
    let windows = target["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{report:#}");
    let window = &windows[0];
    // The truth is 1150 ms; one sample period is 20 ms; a shared machine needs more slack.
    let length = window["length_ms"].as_f64().unwrap();
    assert!((950.0..=1400.0).contains(&length), "measured {length} ms");
    let classes: Vec<&str> = window["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_str().unwrap())
        .filter(|c| *c != "reset") // a listener closing may reset one caught connection
        .collect();
    assert_eq!(classes, ["refused", "http_status"]);
    assert!(window["summary"].as_str().unwrap().contains("then"));
    assert!(target["availability"].as_f64().unwrap() < 70.0);
}

#[test]
fn flapping_gives_one_window_per_failure_run() {
    let mut script = Script::new();
    for _ in 0..3 {
        script = script.then_for(Duration::from_millis(300), ok()).then_for(
            Duration::from_millis(300),
            Behavior::Respond(Reply::status(503)),
        );
    }
    let server = ScriptedServer::spawn(script.forever(ok())).unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "2200ms",
        "--rate",
        "40/s",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    let outages = report["targets"][0]["outages"].as_u64().unwrap();
    assert_eq!(outages, 3, "{report:#}");
}

#[test]
fn a_stalling_server_shows_in_the_latency_percentiles_and_no_sample_is_lost() {
    // Answers, then stalls 600 ms per request for a while, then answers again.
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(400), ok())
            .then_for(
                Duration::from_millis(600),
                Behavior::TrickleBody {
                    reply: Reply::text(200, "ok"),
                    every: Duration::from_millis(300),
                },
            )
            .forever(ok()),
    )
    .unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "2s",
        "--rate",
        "20/s",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    let target = &report["targets"][0];
    // 2 s at 20/s: every scheduled sample is there.
    let samples = target["samples"].as_u64().unwrap();
    assert!((38..=41).contains(&samples), "{samples} samples");
    let p99 = target["latency"]["p99_ms"].as_f64().unwrap();
    let p50 = target["latency"]["p50_ms"].as_f64().unwrap();
    assert!(p99 >= 400.0, "the stall is hidden: p99 {p99} ms");
    assert!(p50 < p99);
}

#[test]
fn the_watch_lasts_as_long_as_the_command_and_passes_its_failure_through() {
    let server = serve(ok());
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--output",
        "json",
        "--",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ]);
    run.assert_code(5)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_eq!(report["command_exit_code"], 5);
    assert!(report["elapsed_ms"].as_f64().unwrap() >= 900.0);

    let run = stillup(["watch", &url, "--", "sh", "-c", "sleep 0.5"]);
    run.assert_code(0);
}

#[test]
fn budgets_decide_the_exit_code() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(300), ok())
            .then_for(
                Duration::from_millis(300),
                Behavior::Respond(Reply::status(503)),
            )
            .forever(ok()),
    )
    .unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--rate",
        "20/s",
        "--max-downtime",
        "0s",
    ]);
    run.assert_code(4);
    assert!(run.stderr.contains("over budget"), "{run}");
    let generous = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--rate",
        "20/s",
        "--max-downtime",
        "10s",
        "--max-outages",
        "1",
        "--min-availability",
        "10",
    ]);
    generous.assert_code(0);
    let strict = stillup([
        "watch",
        &url,
        "--duration",
        "500ms",
        "--rate",
        "20/s",
        "--min-availability",
        "99.9",
    ]);
    // By now the 503 phase is over: a clean run stays within budget.
    strict.assert_code(0);
}

#[test]
fn bad_watch_flags_are_usage_errors_before_any_request() {
    let server = serve(ok());
    let url = server.url("/");
    for (flag, value) in [
        ("--rate", "fast"),
        ("--rate", "0/s"),
        ("--duration", "10"),
        ("--max-downtime", "soon"),
        ("--max-outages", "many"),
        ("--min-availability", "101"),
        ("--max-in-flight", "0"),
    ] {
        let run = stillup(["watch", &url, flag, value]);
        run.assert_code(2);
        assert!(run.stderr.contains(flag), "{run}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn the_html_report_is_self_contained_and_marks_every_outage() {
    let dir = TempDir::new("watch-html");
    let file = dir.file("report.html");
    let mut script = Script::new();
    for _ in 0..2 {
        script = script.then_for(Duration::from_millis(300), ok()).then_for(
            Duration::from_millis(300),
            Behavior::Respond(Reply::status(502)),
        );
    }
    let server = ScriptedServer::spawn(script.forever(ok())).unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1500ms",
        "--rate",
        "40/s",
        "--report",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let windows = run.json()["targets"][0]["windows"]
        .as_array()
        .unwrap()
        .len();
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("class=\"outage\"").count(), windows);
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    for forbidden in ["<script", "src=\"http", "href=\"http"] {
        assert!(!html.contains(forbidden), "the report loads {forbidden}");
    }
}

#[test]
fn keep_alive_reuses_connections_and_both_reports_each_kind() {
    let server = KeepAliveServer::start(0).unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--rate",
        "20/s",
        "--keep-alive",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let requests = server.requests();
    let connections = server.connections();
    assert!(requests >= 15, "{requests} requests");
    assert!(
        connections <= 4,
        "{connections} connections for {requests} requests"
    );

    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--rate",
        "20/s",
        "--keep-alive",
        "both",
        "--output",
        "json",
    ]);
    run.assert_code(0);
    let report = run.json();
    assert_watch_schema(&report);
    let names: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        !names[0].contains("keep-alive") && names[1].ends_with("(keep-alive)"),
        "{names:?}"
    );
}
