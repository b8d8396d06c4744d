//! `stillup wait TARGETS… -- COMMAND ARGS…`: the command runs once the targets are healthy,
//! never after a failure; stillup exits with its exit code and passes its output through.

use std::time::Duration;

use super::support::*;

/// `sh -c SCRIPT` after `--`.
fn wait_then(url: &str, timeout: &str, script: &str) -> Run {
    stillup([
        "wait",
        url,
        "--timeout",
        timeout,
        "--interval",
        "100ms",
        "--",
        "sh",
        "-c",
        script,
    ])
}

#[test]
fn the_command_runs_once_healthy_and_its_exit_code_is_stillups() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("exec-runs");
    let file = dir.file("ran.txt");
    let script = format!("echo ran >> '{}'; exit 7", file.display());
    let run = wait_then(&server.url("/health"), "5s", &script);
    run.assert_code(7);
    let written = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}\n{run}"));
    assert_eq!(written, "ran\n", "the command ran exactly once\n{run}");
    // The program only: arguments carry tokens.
    assert!(run.stderr.contains("running: sh\n"), "{run}");
    assert!(!run.stderr.contains("exit 7"), "{run}");
}

#[test]
fn the_command_never_runs_when_the_wait_gives_up() {
    let server = serve(Behavior::Refuse);
    let dir = TempDir::new("exec-never");
    let file = dir.file("ran.txt");
    let script = format!("echo ran >> '{}'; exit 7", file.display());
    let run = wait_then(&server.url("/health"), "1s", &script);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    assert!(!file.exists(), "the command ran after a failed wait\n{run}");
    assert!(!run.stderr.contains("running:"), "{run}");
}

#[test]
fn the_command_never_runs_after_failing_fast() {
    let server = serve(Behavior::Respond(Reply::status(401)));
    let dir = TempDir::new("exec-fail-fast");
    let file = dir.file("ran.txt");
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "30s",
        "--fail-fast",
        "http_status:401",
        "--",
        "sh",
        "-c",
        &format!("echo ran >> '{}'", file.display()),
    ]);
    run.assert_code(3).assert_within(Duration::from_secs(10));
    assert!(!file.exists(), "the command ran after failing fast\n{run}");
}

#[test]
fn the_command_runs_only_after_a_slow_service_is_healthy() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(3, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let run = wait_then(&server.url("/health"), "20s", "exit 0");
    run.assert_code(0);
    assert_eq!(
        server.requests(),
        4,
        "three 503s, one 200, then the command\n{run}"
    );
}

#[test]
fn the_commands_stdout_and_stderr_are_passed_through() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = wait_then(
        &server.url("/health"),
        "5s",
        "echo hello-from-the-command; echo oops-from-the-command >&2",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "hello-from-the-command\n", "{run}");
    assert!(run.stderr.contains("oops-from-the-command"), "{run}");
}

#[test]
fn the_command_gets_its_arguments_verbatim() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "5s",
        "--",
        "printf",
        "[%s]",
        "two words",
        "--timeout",
        "$HOME",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, "[two words][--timeout][$HOME]", "{run}");
}

#[test]
fn a_command_that_cannot_be_found_exits_127() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "5s",
        "--",
        "/no/such/command-stillup-test",
    ]);
    run.assert_code(127);
    assert!(run.stderr.contains("command-stillup-test"), "{run}");
}

#[test]
fn a_command_killed_by_a_signal_exits_128_plus_the_signal() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = wait_then(&server.url("/health"), "5s", "kill -TERM $$");
    run.assert_code(128 + 15);
}

#[test]
fn the_command_runs_once_all_targets_are_healthy() {
    let first = serve(Behavior::Respond(Reply::text(200, "ok")));
    let second = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let dir = TempDir::new("exec-all");
    let file = dir.file("ran.txt");
    let run = stillup([
        "wait",
        &first.url("/health"),
        &second.url("/health"),
        "--timeout",
        "20s",
        "--interval",
        "100ms",
        "--",
        "sh",
        "-c",
        &format!("echo ran >> '{}'", file.display()),
    ]);
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "ran\n", "{run}");
    assert_eq!(second.requests(), 3, "{run}");
}

#[test]
fn a_command_that_cannot_run_exits_126_naming_the_program_but_not_its_arguments() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("exec-cannot-run");
    // Not executable; executable but no valid format (no #!, not a binary); a directory.
    let plain = dir.file("plain-file");
    std::fs::write(&plain, "echo hi\n").unwrap();
    let garbage = dir.file("garbage-binary");
    std::fs::write(&garbage, [0x7f, b'E', b'L', b'F', 0, 0, 0, 0]).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let subdir = dir.file("a-directory");
    std::fs::create_dir(&subdir).unwrap();
    for program in [&plain, &garbage, &subdir] {
        let program = program.to_str().unwrap();
        // (The `running:` line before it is another matter: see secrets.rs.)
        assert_one_failure_naming_only_the_program(&server, program, "--password", 126);
    }
}

#[test]
fn a_command_that_is_not_found_is_named_without_its_arguments() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    for program in ["no-such-command-stillup-test", "/no/such/dir/command"] {
        assert_one_failure_naming_only_the_program(&server, program, "--token", 127);
    }
}

/// `wait URL -- PROGRAM FLAG=hunter2-secret` exits `code` with one `stillup:` line that
/// names the program and not its secret argument.
#[track_caller]
fn assert_one_failure_naming_only_the_program(
    server: &ScriptedServer,
    program: &str,
    flag: &str,
    code: i32,
) {
    let secret = format!("{flag}=hunter2-secret");
    let run = stillup([
        "wait",
        &server.url("/health"),
        "--timeout",
        "5s",
        "--",
        program,
        &secret,
    ]);
    run.assert_code(code);
    let failure: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("stillup:"))
        .collect();
    assert_eq!(failure.len(), 1, "{run}");
    assert!(failure[0].contains(program), "{run}");
    assert!(!failure[0].contains("hunter2"), "{run}");
}

/// Panics, listing every violation, unless `report` matches schema/watch.schema.json.
#[track_caller]
fn assert_watch_schema(report: &serde_json::Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/watch.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
}

#[test]
fn with_watch_a_failing_command_wins_over_a_broken_budget_and_the_json_carries_both() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    // (the command's exit code, what stillup exits with)
    for (command_code, expected) in [(3, 3), (0, 4)] {
        let run = stillup([
            "watch",
            &url,
            "--rate",
            "20/s",
            "--max-downtime",
            "0s",
            "--output",
            "json",
            "--",
            "sh",
            "-c",
            &format!("sleep 0.5; exit {command_code}"),
        ]);
        run.assert_code(expected);
        let report = run.json();
        assert_watch_schema(&report);
        assert_eq!(report["within_budget"], false, "{run}");
        assert_eq!(report["command_exit_code"], command_code, "{run}");
        assert_eq!(report["exit_code"], expected, "{run}");
        assert_eq!(report["signal"], serde_json::Value::Null, "{run}");
    }
}

#[test]
fn with_watch_a_command_that_cannot_run_ends_the_watch_with_126_or_127() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("watch-cannot-run");
    let plain = dir.file("plain-file");
    std::fs::write(&plain, "echo hi\n").unwrap();
    for (program, code) in [
        (plain.to_str().unwrap(), 126),
        ("no-such-command-stillup-test", 127),
    ] {
        let run = stillup([
            "watch",
            &server.url("/"),
            "--rate",
            "20/s",
            "--output",
            "json",
            "--",
            program,
        ]);
        run.assert_code(code).assert_within(Duration::from_secs(10));
        let report = run.json();
        assert_eq!(report["command_exit_code"], code, "{run}");
        assert_eq!(report["exit_code"], code, "{run}");
    }
}
