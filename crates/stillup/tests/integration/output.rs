//! Output that could not be written is a failure: a `--report` path that cannot be written is
//! refused before any sample; the JSON document, a report, the help, the man page and the
//! completions that cannot be written exit 5 with one line; a reader that closed the pipe
//! (`| head -c1`) ends output quietly; nothing panics; a stdout nobody reads holds the run
//! for at most a short grace.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::*;

/// `stillup ARGS…` with stdout going to `stdout` and stderr collected through a file (so a
/// blocked stdout is the only thing that can hold it); killed at [`RUN_LIMIT`].
fn run_with_stdout(args: &[&str], stdout: Stdio) -> Run {
    let dir = TempDir::new("output-stderr");
    let err_path = dir.file("stderr");
    let err = File::create(&err_path).expect("the stderr file can be created");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stillup"))
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(err)
        .spawn()
        .expect("stillup can be started");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.and_then(|s| s.code()),
        stdout: String::new(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full can be opened"),
    )
}

/// Panics unless the run failed with exit 5 and one line on stderr naming `what`.
#[track_caller]
fn assert_output_failed(run: &Run, what: &str) {
    run.assert_code(5);
    assert!(!run.stderr.contains("panicked"), "{run}");
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.is_empty()).collect();
    let failure: Vec<&&str> = lines.iter().filter(|l| l.starts_with("stillup:")).collect();
    assert_eq!(failure.len(), 1, "one line says what was lost\n{run}");
    assert!(failure[0].contains(what), "{what}\n{run}");
}

#[test]
fn a_report_path_that_cannot_be_written_is_refused_before_any_sample() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let dir = TempDir::new("report-refused");
    let not_a_dir = dir.file("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let inside_a_file = not_a_dir.join("r.html");
    let cases = [
        "/nonexistent-stillup-dir/r.html".to_string(),
        dir.path().display().to_string(),
        inside_a_file.display().to_string(),
    ];
    for path in &cases {
        let run = stillup([
            "watch",
            &url,
            "--duration",
            "10s",
            "--rate",
            "20/s",
            "--report",
            path,
        ]);
        let line = run.usage_error_line(path);
        assert!(line.contains("--report"), "{run}");
        assert!(line.contains(path.as_str()), "{run}");
        run.assert_within(Duration::from_secs(5));
    }
    assert_eq!(server.requests(), 0, "nothing is sampled before the check");
}

#[test]
fn a_report_that_cannot_be_written_exits_5() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = stillup([
        "watch",
        &server.url("/"),
        "--duration",
        "500ms",
        "--rate",
        "20/s",
        "--report",
        "/dev/full",
    ]);
    assert_output_failed(&run, "the report /dev/full");
}

#[test]
fn a_report_replaces_the_old_one_whole_and_leaves_no_temporary_file() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("report-replaced");
    let file = dir.file("r.html");
    std::fs::write(&file, "the old report").unwrap();
    let run = stillup([
        "watch",
        &server.url("/"),
        "--duration",
        "500ms",
        "--rate",
        "20/s",
        "--report",
        file.to_str().unwrap(),
    ]);
    run.assert_code(0);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.trim_end().ends_with("</html>"), "{html}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["r.html"], "{run}");
}

#[test]
fn a_report_nobody_reads_fails_after_a_short_grace() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("report-fifo");
    let fifo = dir.file("r.html");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Opening a FIFO for writing blocks until a reader comes; none will.
    let run = run_with_stdout(
        &[
            "watch",
            &server.url("/"),
            "--duration",
            "500ms",
            "--rate",
            "20/s",
            "--report",
            fifo.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert_output_failed(&run, "the report");
    run.assert_within(Duration::from_millis(500) + Duration::from_secs(1) + SLACK);
}

#[test]
fn a_json_document_that_cannot_be_written_exits_5() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let cases: [&[&str]; 3] = [
        &["check", &url, "--output", "json"],
        &["wait", &url, "--timeout", "5s", "--output", "json"],
        &["watch", &url, "--duration", "500ms", "--output", "json"],
    ];
    for args in cases {
        let run = run_with_stdout(args, dev_full());
        assert_output_failed(&run, "the JSON document");
    }
}

#[test]
fn the_command_never_runs_after_its_json_document_was_lost() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("json-lost-command");
    let file = dir.file("ran.txt");
    let script = format!("echo ran >> '{}'", file.display());
    let run = run_with_stdout(
        &[
            "wait",
            &server.url("/"),
            "--timeout",
            "5s",
            "--output",
            "json",
            "--",
            "sh",
            "-c",
            &script,
        ],
        dev_full(),
    );
    assert_output_failed(&run, "the JSON document");
    assert!(!file.exists(), "{run}");
}

#[test]
fn a_json_document_nobody_reads_fails_after_a_short_grace() {
    // Thirty refusing targets make a document far larger than a pipe holds.
    let port = closed_port().to_string();
    let target = format!("tcp://127.0.0.1:{port}");
    let mut args = vec!["wait"];
    args.extend(std::iter::repeat_n(target.as_str(), 30));
    args.extend(["--timeout", "1s", "--output", "json"]);
    // The read end stays open and unread for as long as the child runs.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let run = run_with_stdout(&args, Stdio::from(writer));
    drop(reader);
    assert_output_failed(&run, "the JSON document");
    run.assert_within(Duration::from_secs(2) + SLACK);

    // With stderr in the same unread pipe (`2>&1`), the line saying so cannot hold it either.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let stderr = writer.try_clone().expect("the pipe can be shared");
    let started = Instant::now();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stillup"))
        .env("NO_COLOR", "1")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .spawn()
        .expect("stillup can be started");
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(reader);
    assert_eq!(status.and_then(|s| s.code()), Some(5));
    assert!(started.elapsed() < Duration::from_secs(3) + SLACK);
}

#[test]
fn help_man_version_and_completions_that_cannot_be_written_exit_5_without_a_panic() {
    let cases: [(&[&str], &str); 5] = [
        (&["completions", "bash"], "the completions"),
        (&["man"], "the man page"),
        (&["man", "watch"], "the man page"),
        (&["--help"], "the help"),
        (&["--version"], "the version"),
    ];
    for (args, what) in cases {
        let run = run_with_stdout(args, dev_full());
        assert_output_failed(&run, what);
    }
}

#[test]
fn a_closed_pipe_ends_help_man_and_completions_quietly() {
    let cases: [&[&str]; 5] = [
        &["completions", "bash"],
        &["completions", "zsh"],
        &["man"],
        &["--help"],
        &["watch", "--help"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        // Closed before the child writes: every write it makes meets EPIPE.
        drop(reader);
        let run = run_with_stdout(args, Stdio::from(writer));
        run.assert_code(0);
        assert!(run.stderr.is_empty(), "quietly\n{run}");
    }
}

#[test]
fn a_full_stderr_drops_progress_lines_but_never_panics_or_changes_the_code() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let cases: [(&[&str], i32); 2] = [
        (
            &["watch", &url, "--duration", "500ms", "--max-downtime", "0s"],
            4,
        ),
        (&["wait", &url, "--timeout", "500ms"], 1),
    ];
    for (args, code) in cases {
        let output = Command::new(assert_cmd::cargo::cargo_bin("stillup"))
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(dev_full())
            .status()
            .expect("stillup can be started");
        assert_eq!(output.code(), Some(code), "{args:?}");
    }
}

/// A failure that repeats folds into one counted line ("connection refused ×N (a–bs)"),
/// written when the run ends, instead of a line per re-probe.
#[test]
fn repeated_failures_fold_into_one_counted_line() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let run = stillup(["wait", &url, "--timeout", "2s", "--color", "never"]);
    run.assert_code(1);
    let all: Vec<&str> = run.stderr.lines().collect();
    let verdict = all.iter().position(|l| l.starts_with('✗')).unwrap();
    // The attempt lines, before the verdict (whose "last failure" repeats the cause).
    let lines = &all[..verdict];
    let first = lines
        .iter()
        .filter(|l| l.contains("connection refused by"))
        .count();
    assert_eq!(first, 1, "one full line for the cause\n{run}");
    let folded: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("connection refused ×"))
        .collect();
    assert_eq!(folded.len(), 1, "{run}");
    let count: u32 = folded[0]
        .split('×')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    // The 100 ms re-probes of a refusing port over 2 s.
    assert!(count >= 5, "{run}");
}

/// A Retry-After that sets the next attempt's time is said in the attempt's line.
#[test]
fn a_retry_after_is_mentioned_in_the_attempt_line() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(
                1,
                Behavior::Respond(Reply::status(503).header("Retry-After", "1")),
            )
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let run = stillup([
        "wait",
        &server.url("/"),
        "--timeout",
        "10s",
        "--interval",
        "100ms",
    ]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("the server asked to retry after 1s"),
        "{run}"
    );
}
