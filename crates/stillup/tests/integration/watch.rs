//! `stillup watch`: outage windows of known length, flapping, a stalling server, the
//! `-- COMMAND` mode, budget exit codes, the JSON schema and the HTML report.

use std::time::Duration;

use serde_json::Value;
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{
    assert_started_and_ended, closed_port, run_to_end, serve, stillup, stillup_with_env, wrapper,
    KeepAliveServer, Run, TempDir, SLACK,
};

fn watch_schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/watch.schema.json"
    );
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
    assert_started_and_ended(&report);

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

#[test]
fn a_target_down_for_the_whole_watch_is_down_for_the_whole_duration() {
    // Each sample stands for its period, the last one too: down 5 s, not 4 s.
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let run = stillup([
        "watch",
        &url,
        "--rate",
        "1/s",
        "--duration",
        "5s",
        "--max-downtime",
        "4500ms",
        "--output",
        "json",
    ]);
    run.assert_code(4)
        .assert_within(Duration::from_secs(5) + SLACK);
    assert!(run.elapsed >= Duration::from_millis(4900), "{run}");
    let report = run.json();
    assert_watch_schema(&report);
    assert_eq!(report["elapsed_ms"], 5000.0, "{report:#}");
    let target = &report["targets"][0];
    let downtime = target["downtime_ms"].as_f64().unwrap();
    // Exactly 5000 unless the machine stalled stillup (that time is then unknown, not down).
    assert!(downtime > 4500.0 && downtime <= 5000.0, "{report:#}");
    let window = &target["windows"][0];
    assert_eq!(window["to_ms"], 5000.0, "{report:#}");
    assert_eq!(window["ongoing"], true);
    assert_eq!(report["verdict"], "over_budget");
}

#[test]
fn a_watch_ends_at_its_duration_however_long_its_samples_hang() {
    // Samples may take 20 s each; the watch still ends at 2 s plus a short grace, and a
    // sample unanswered then had not failed yet: no evidence either way.
    let server = serve(Behavior::Hang);
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--rate",
        "20/s",
        "--duration",
        "2s",
        "--attempt-timeout",
        "20s",
        "--output",
        "json",
    ]);
    run.assert_within(Duration::from_secs(2) + SLACK);
    let report = run.json();
    assert_watch_schema(&report);
    assert_eq!(report["elapsed_ms"], 2000.0);
    let target = &report["targets"][0];
    let samples = target["samples"].as_u64().unwrap();
    assert!(samples >= 20, "{report:#}");
    assert_eq!(target["inconclusive_reasons"]["unfinished"], samples);
    assert_eq!(target["outages"], 0);
    assert_eq!(target["availability"], Value::Null);
    // Nothing was learnt about the target: no verdict.
    run.assert_code(6);
    assert_eq!(report["verdict"], "inconclusive");
}

#[test]
fn samples_held_back_by_a_hung_target_stand_where_they_started() {
    // Hangs for 1.5 s (the in-flight cap of 4 fills at once), then refuses. The samples held
    // back meanwhile start when the hung ones end, at 1.5 s, and are refused then: they must
    // not be placed at the times they were scheduled for, while the server was hanging.
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(1500), Behavior::Hang)
            .forever(Behavior::Refuse),
    )
    .unwrap();
    let url = server.url("/");
    let run = stillup([
        "watch",
        &url,
        "--rate",
        "50/s",
        "--duration",
        "3s",
        "--max-in-flight",
        "4",
        "--output",
        "json",
    ]);
    run.assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_watch_schema(&report);
    let phases: Vec<&Value> = report["targets"][0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["phases"].as_array().unwrap())
        .collect();
    let refused: Vec<f64> = phases
        .iter()
        .filter(|p| p["class"] == "refused")
        .map(|p| p["from_ms"].as_f64().unwrap())
        .collect();
    assert!(!refused.is_empty(), "{report:#}");
    assert!(
        refused.iter().all(|from| *from >= 1000.0),
        "refusals placed while the server was still hanging: {report:#}"
    );
    // Held back by the target is evidence: the whole watch is one outage.
    assert_eq!(report["targets"][0]["outages"], 1, "{report:#}");
}

#[test]
fn a_watch_without_a_budget_says_so_instead_of_within_budget() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let dir = TempDir::new("watch-no-budget");
    let file = dir.file("report.html");
    let run = stillup([
        "watch",
        &url,
        "--duration",
        "1s",
        "--report",
        file.to_str().unwrap(),
    ]);
    run.assert_code(0);
    assert!(run.stderr.contains("no budget set"), "{run}");
    assert!(!run.stderr.contains("within budget"), "{run}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("no budget set"), "{html}");
    assert!(!html.contains("within budget"), "{html}");
    assert!(!html.contains("class=\"ok\""), "a verdict in green: {html}");

    let run = stillup(["watch", &url, "--duration", "1s", "--output", "json"]);
    run.assert_code(0);
    let report = run.json();
    assert_watch_schema(&report);
    assert_eq!(report["verdict"], "no_budget_set");
    assert_eq!(report["within_budget"], Value::Null);
    assert_eq!(report["targets"][0]["availability"], 0.0);
}

/// `stillup ARGS…` under `prlimit --nofile=N:N` with the lowest N at which it starts at all:
/// every descriptor it can open is then in use before the first sample.
fn stillup_out_of_descriptors(args: &[&str]) -> Run {
    let binary = assert_cmd::cargo::cargo_bin("stillup");
    let run_with = |limit: u32, args: &[&str]| {
        let mut all = vec![
            format!("--nofile={limit}:{limit}"),
            binary.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run_to_end(wrapper("prlimit", all))
    };
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    for limit in 3..=40 {
        // Below the limit it needs, the loader or the runtime fails before any watch.
        let probe = run_with(limit, &["watch", &closed, "--duration", "100ms"]);
        if matches!(probe.code, Some(0 | 6)) && probe.stderr.contains("watched for") {
            return run_with(limit, args);
        }
    }
    panic!("stillup did not start under any descriptor limit up to 40");
}

#[test]
fn stillup_out_of_descriptors_is_inconclusive_never_downtime() {
    let server = serve(ok());
    let url = server.url("/");
    let run = stillup_out_of_descriptors(&[
        "watch",
        &url,
        "--rate",
        "10/s",
        "--duration",
        "1s",
        "--max-downtime",
        "0s",
        "--output",
        "json",
    ]);
    // Not 4: the healthy target was never down; stillup could not look.
    run.assert_code(6);
    let report = run.json();
    assert_watch_schema(&report);
    let target = &report["targets"][0];
    let samples = target["samples"].as_u64().unwrap();
    assert!(samples >= 5, "{report:#}");
    assert_eq!(target["inconclusive"], samples, "{report:#}");
    assert_eq!(target["inconclusive_reasons"]["local_limit"], samples);
    assert_eq!(target["outages"], 0);
    assert_eq!(target["downtime_ms"], 0.0);
    assert_eq!(target["availability"], Value::Null);
    assert_eq!(target["classes"], serde_json::json!({}));
    assert_eq!(report["verdict"], "inconclusive");
    assert_eq!(report["within_budget"], Value::Null);
    assert_eq!(server.connections(), 0, "a socket was opened after all");

    // Human output says so too; with no budget set there is no verdict either.
    let human = stillup_out_of_descriptors(&["watch", &url, "--duration", "500ms"]);
    human.assert_code(6);
    assert!(human.stderr.contains("inconclusive"), "{human}");
    assert!(human.stderr.contains("no verdict"), "{human}");
    assert!(!human.stderr.contains("down at"), "{human}");
}

#[allow(unsafe_code)]
fn send(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) with the pid of a child we spawned and have not yet reaped.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// `stillup watch URL --rate 20/s --duration DURATION --max-downtime BUDGET --output json`,
/// stopped (SIGSTOP) for `pause` once the server has seen `requests` requests, then
/// continued: its exit code and JSON report.
fn watch_paused(
    server: &ScriptedServer,
    duration: &str,
    budget: &str,
    requests: usize,
    pause: Duration,
) -> (Option<i32>, Value) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let url = server.url("/");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stillup"))
        .env("NO_COLOR", "1")
        .args(["watch", &url, "--rate", "20/s", "--duration", duration])
        .args(["--max-downtime", budget, "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stillup can be started");
    let started = std::time::Instant::now();
    while server.requests() < requests {
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("stillup made no {requests} requests within 15s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    send(&child, libc::SIGSTOP);
    std::thread::sleep(pause);
    send(&child, libc::SIGCONT);
    let resumed = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if resumed.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the watch did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut out = child.stdout.take().unwrap();
    out.read_to_string(&mut stdout).unwrap();
    let mut err = child.stderr.take().unwrap();
    err.read_to_string(&mut stderr).unwrap();
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert_watch_schema(&report);
    (status.code(), report)
}

#[test]
fn samples_stillup_itself_started_late_are_inconclusive_not_downtime() {
    // A target down (503) the whole 4 s watch, and stillup stopped for a second in the
    // middle: that second is unknown, not downtime, and the failures of the samples it
    // started late when it woke up are no evidence.
    let server = serve(Behavior::Respond(Reply::status(503)));
    let (code, report) = watch_paused(&server, "4s", "3500ms", 3, Duration::from_secs(1));
    let target = &report["targets"][0];
    let late = target["inconclusive_reasons"]["late_start"].as_u64();
    assert!(late.unwrap_or(0) >= 1, "{report:#}");
    // About a second unknown; generous bounds for a busy machine.
    let unknown = target["inconclusive_ms"].as_f64().unwrap();
    assert!(unknown >= 500.0, "{report:#}");
    let downtime = target["downtime_ms"].as_f64().unwrap();
    assert!(downtime + unknown <= 4000.0 + 1.0, "{report:#}");
    assert!(
        downtime <= 3500.0,
        "the stop counted as downtime: {report:#}"
    );
    assert_eq!(
        target["outages"], 1,
        "the stop split the outage: {report:#}"
    );
    // Down about 3 s on the evidence, within the 3.5 s budget, but the unknown second could
    // have taken it over: no verdict, exit 6 — not 4 from a stopped stillup.
    assert_eq!(code, Some(6), "{report:#}");
    assert_eq!(report["verdict"], "inconclusive");

    // Stopped until after the end: the slots it slept through are unknown too, not the last
    // failed sample stretched to the end.
    let server = serve(Behavior::Respond(Reply::status(503)));
    let (code, report) = watch_paused(&server, "1500ms", "1400ms", 6, Duration::from_secs(2));
    let target = &report["targets"][0];
    let unknown = target["inconclusive_ms"].as_f64().unwrap();
    let downtime = target["downtime_ms"].as_f64().unwrap();
    assert!(unknown >= 200.0, "{report:#}");
    assert!(downtime <= 1400.0, "{report:#}");
    assert_eq!(code, Some(6), "{report:#}");
}

/// A repeatable option's variable holds one value per line under `watch` as under `wait`
/// and `check` (watch took the lines as one value, and refused a valid `STILLUP_RESOLVE`).
/// Joined, the rules do not parse, so nothing is resolved by the system either way.
#[test]
fn watch_takes_a_repeatable_variable_one_value_per_line() {
    let server = serve(ok());
    let url = server.url("/");
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/');
    let rules = format!("svc.test:{port}:127.0.0.1\nother.test:{port}:127.0.0.1\n");
    let target = format!("http://svc.test:{port}/");
    let run = stillup_with_env(
        [
            "watch",
            &target,
            "--duration",
            "300ms",
            "--max-downtime",
            "0s",
            "--output",
            "json",
        ],
        &[("STILLUP_RESOLVE", &rules)],
    );
    run.assert_code(0);
    assert_eq!(run.json()["verdict"], "within_budget", "{run}");
}
