//! SIGINT, SIGTERM and SIGHUP end a wait promptly — between attempts or in the middle of one —
//! with exit codes 130, 143 and 129 and the summary so far; they end a watch with its report; a
//! running `-- COMMAND` gets them forwarded. Too few descriptors to set up the handlers is
//! inconclusive, never a panic.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::*;

/// How long the binary may take to notice a signal and exit.
const PROMPTLY: Duration = Duration::from_secs(5);

/// `stillup wait URL --timeout 60s ...` in the background, its output piped.
fn spawn_wait(url: &str, extra: &[&str]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("stillup"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STILLUP_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("NO_COLOR", "1")
        .args(["wait", url, "--timeout", "60s", "--interval", "200ms"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("stillup can be started")
}

/// Wait (bounded) until the server has seen `n` requests.
fn wait_for_requests(server: &ScriptedServer, n: usize, child: &mut Child) {
    let give_up = Instant::now() + Duration::from_secs(15);
    while server.requests() < n {
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stillup made no request within 15s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[allow(unsafe_code)]
fn send(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) with the pid of a child we spawned and have not yet reaped.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Wait (bounded) for the child to exit; collect its output.
fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > PROMPTLY {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        elapsed,
    };
    assert!(
        status.is_some(),
        "stillup ignored the signal for {PROMPTLY:?}\n{run}"
    );
    run
}

#[test]
fn sigint_mid_wait_exits_130_with_the_interrupted_summary() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut child = spawn_wait(&server.url("/health"), &[]);
    wait_for_requests(&server, 1, &mut child);
    send(&child, libc::SIGINT);
    let run = finish(child);
    run.assert_code(130);
    assert!(run.stderr.contains("interrupted"), "{run}");
    assert!(run.stderr.contains("SIGINT"), "{run}");
    assert!(run.stderr.contains("HTTP 503"), "the summary so far\n{run}");
}

#[test]
fn sigterm_mid_wait_exits_143_with_the_interrupted_summary() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut child = spawn_wait(&server.url("/health"), &[]);
    wait_for_requests(&server, 1, &mut child);
    send(&child, libc::SIGTERM);
    let run = finish(child);
    run.assert_code(143);
    assert!(run.stderr.contains("interrupted"), "{run}");
    assert!(run.stderr.contains("SIGTERM"), "{run}");
}

#[test]
fn sigint_during_an_attempt_that_hangs_exits_130_at_once() {
    let server = serve(Behavior::Hang);
    let mut child = spawn_wait(&server.url("/health"), &["--attempt-timeout", "30s"]);
    wait_for_requests(&server, 1, &mut child);
    send(&child, libc::SIGINT);
    let run = finish(child);
    run.assert_code(130);
    assert!(run.stderr.contains("interrupted"), "{run}");
}

#[test]
fn sigint_with_json_output_reports_interrupted_and_matches_the_schema() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut child = spawn_wait(&server.url("/health"), &["--output", "json"]);
    wait_for_requests(&server, 2, &mut child);
    send(&child, libc::SIGINT);
    let run = finish(child);
    run.assert_code(130);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "interrupted", "{run}");
    assert_eq!(target(&report, 0)["outcome"], "interrupted", "{run}");
    assert_eq!(
        target(&report, 0)["timeline"]["end"],
        "interrupted",
        "{run}"
    );
    assert_eq!(story(&report), ["http_status"], "{run}");
}

#[test]
fn sigint_with_several_targets_reports_each_as_interrupted() {
    let unavailable = serve(Behavior::Respond(Reply::status(503)));
    let hanging = serve(Behavior::Hang);
    let other = hanging.url("/health");
    let mut child = spawn_wait(
        &unavailable.url("/health"),
        &[&other, "--attempt-timeout", "30s", "--output", "json"],
    );
    wait_for_requests(&unavailable, 2, &mut child);
    wait_for_requests(&hanging, 1, &mut child);
    send(&child, libc::SIGINT);
    let run = finish(child);
    run.assert_code(130);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "interrupted", "{run}");
    for i in 0..2 {
        assert_eq!(target(&report, i)["outcome"], "interrupted", "{run}");
        assert_eq!(
            target(&report, i)["timeline"]["end"],
            "interrupted",
            "{run}"
        );
    }
    assert_eq!(story(&report), ["http_status"], "{run}");
}

#[test]
fn sigint_and_sigterm_while_the_command_runs_are_forwarded_to_it() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("exec-signals");
    for (signal, name, code) in [(libc::SIGINT, "INT", 5), (libc::SIGTERM, "TERM", 6)] {
        let ready = dir.file(&format!("trapped-{name}"));
        // The shell says it is ready once its trap is set, then waits on a background sleep
        // (which the trap ends, so nothing outlives the test holding the pipes).
        let script = format!(
            "trap 'kill $! 2>/dev/null; echo got-{name}; exit {code}' {name}; \
             sleep 30 >/dev/null 2>&1 & \
             touch '{}'; wait",
            ready.display()
        );
        let mut child = spawn_wait(&server.url("/health"), &["--", "sh", "-c", &script]);
        let give_up = Instant::now() + Duration::from_secs(15);
        while !ready.exists() {
            if Instant::now() > give_up {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the command did not start within 15s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        send(&child, signal);
        let run = finish(child);
        run.assert_code(code);
        assert!(run.stdout.contains(&format!("got-{name}")), "{run}");
    }
}

#[test]
fn sigint_ends_an_open_ended_watch_with_its_report_and_budget_verdict() {
    let server = super::support::serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("stillup"));
    cmd.env("NO_COLOR", "1")
        .args([
            "watch",
            &url,
            "--rate",
            "20/s",
            "--output",
            "json",
            "--max-downtime",
            "0s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("stillup can be started");
    wait_for_requests(&server, 5, &mut child);
    send(&child, libc::SIGINT);
    let run = finish(child);
    // Ctrl-C is how an open-ended watch is meant to end: the budgets decide the code.
    assert_eq!(run.code, Some(0), "{run}");
    let report = run.json();
    assert!(
        report["targets"][0]["samples"].as_u64().unwrap() >= 5,
        "{run}"
    );
}

/// `stillup watch URL --rate 20/s --output json EXTRA…` in the background, its output piped.
fn spawn_watch(url: &str, extra: &[&str]) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("stillup"));
    cmd.env("NO_COLOR", "1")
        .args(["watch", url, "--rate", "20/s", "--output", "json"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("stillup can be started")
}

#[test]
fn sigterm_ends_a_watch_with_its_report_and_is_forwarded_to_a_watched_command() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");

    // Open-ended: SIGTERM ends it as Ctrl-C does, with the report.
    let mut child = spawn_watch(&url, &[]);
    wait_for_requests(&server, 5, &mut child);
    send(&child, libc::SIGTERM);
    let run = finish(child);
    run.assert_code(0);
    // A sample still in flight when the signal came is no evidence, and not counted.
    assert!(
        run.json()["targets"][0]["samples"].as_u64().unwrap() >= 3,
        "{run}"
    );

    // Watching while a command runs: the command gets the signal, the watch ends when it
    // does, reports, and passes its exit code through.
    let dir = TempDir::new("watch-signals");
    let ready = dir.file("trapped");
    let script = format!(
        "trap 'kill $! 2>/dev/null; echo got-TERM >&2; exit 7' TERM; \
         sleep 30 >/dev/null 2>&1 & \
         touch '{}'; wait",
        ready.display()
    );
    let before = server.requests();
    let mut child = spawn_watch(&url, &["--", "sh", "-c", &script]);
    let give_up = Instant::now() + Duration::from_secs(15);
    while !ready.exists() || server.requests() < before + 3 {
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command or the watch did not start within 15s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    send(&child, libc::SIGTERM);
    let run = finish(child);
    run.assert_code(7);
    assert!(run.stderr.contains("got-TERM"), "{run}");
    assert!(
        run.json()["targets"][0]["samples"].as_u64().unwrap() >= 3,
        "{run}"
    );
}

#[test]
fn sighup_mid_wait_exits_129_with_the_interrupted_summary() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut child = spawn_wait(&server.url("/health"), &[]);
    wait_for_requests(&server, 1, &mut child);
    send(&child, libc::SIGHUP);
    let run = finish(child);
    run.assert_code(129);
    assert!(run.stderr.contains("interrupted"), "{run}");
    assert!(run.stderr.contains("SIGHUP"), "{run}");
    assert!(run.stderr.contains("HTTP 503"), "the summary so far\n{run}");
}

#[test]
fn sighup_ends_a_watch_with_its_report_and_exits_129() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("watch-sighup");
    let html = dir.file("r.html");
    let mut child = spawn_watch(&server.url("/"), &["--report", html.to_str().unwrap()]);
    wait_for_requests(&server, 5, &mut child);
    send(&child, libc::SIGHUP);
    let run = finish(child);
    // A closed terminal cut the watch short: unlike Ctrl-C it is not how a watch is ended.
    run.assert_code(129);
    let report = run.json();
    assert!(
        report["targets"][0]["samples"].as_u64().unwrap() >= 5,
        "{run}"
    );
    assert_eq!(report["signal"], "SIGHUP", "{run}");
    assert_eq!(report["exit_code"], 129, "{run}");
    let page = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}\n{run}"));
    assert!(page.contains("</html>"), "{run}");

    // The human summary says so too.
    let before = server.requests();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stillup"))
        .env("NO_COLOR", "1")
        .args(["watch", &server.url("/"), "--rate", "20/s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stillup can be started");
    wait_for_requests(&server, before + 3, &mut child);
    send(&child, libc::SIGHUP);
    let run = finish(child);
    run.assert_code(129);
    assert!(run.stderr.contains("ended by SIGHUP"), "{run}");
    assert!(run.stderr.contains("available"), "the summary\n{run}");
}

/// Whether a process with this pid still exists (`kill(pid, 0)`).
#[allow(unsafe_code)]
fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn sighup_while_the_command_runs_is_forwarded_and_leaves_no_orphan() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let dir = TempDir::new("exec-sighup");
    let pid_file = dir.file("pid");
    // The command becomes `sleep 30` itself, so its pid is the one stillup must take along.
    let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
    let mut child = spawn_wait(&server.url("/health"), &["--", "sh", "-c", &script]);
    let give_up = Instant::now() + Duration::from_secs(15);
    let pid = loop {
        let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if let Ok(pid) = written.trim().parse::<libc::pid_t>() {
            break pid;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not start within 15s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Past `exec`: the shell is now sleep.
    std::thread::sleep(Duration::from_millis(200));
    send(&child, libc::SIGHUP);
    let run = finish(child);
    // The command died of the forwarded SIGHUP: 128 + 1, as shells report.
    run.assert_code(129);
    let gone_by = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    let orphaned = alive(pid);
    if orphaned {
        // Leave nothing behind, even when the test fails.
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    assert!(!orphaned, "the command outlived stillup\n{run}");
}

#[test]
fn sighup_stays_ignored_when_stillup_runs_under_nohup() {
    let server = serve(Behavior::Respond(Reply::status(503)));
    let mut cmd = Command::new("nohup");
    cmd.env("NO_COLOR", "1")
        .arg(assert_cmd::cargo::cargo_bin("stillup"))
        .args([
            "wait",
            &server.url("/health"),
            "--timeout",
            "2s",
            "--interval",
            "200ms",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("nohup stillup can be started");
    wait_for_requests(&server, 1, &mut child);
    send(&child, libc::SIGHUP);
    let run = finish(child);
    // Not interrupted: the wait ran to its deadline.
    run.assert_code(1);
    assert!(!run.stderr.contains("SIGHUP"), "{run}");
}

#[test]
fn too_few_descriptors_to_start_is_inconclusive_not_a_panic() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let stillup = assert_cmd::cargo::cargo_bin("stillup");
    let bin = stillup.to_str().unwrap();
    let cases: [&[&str]; 3] = [
        &["wait", &url, "--timeout", "2s"],
        &["check", &url],
        &["watch", &url, "--duration", "1s"],
    ];
    for limit in ["--nofile=5", "--nofile=7"] {
        for args in cases {
            let mut all = vec![limit, bin];
            all.extend_from_slice(args);
            let run = run_to_end(wrapper("prlimit", all));
            run.assert_code(6);
            assert!(!run.stderr.contains("panicked"), "{run}");
            let lines: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line\n{run}");
            assert!(lines[0].contains("ulimit -n"), "{run}");
        }
    }
    assert_eq!(server.requests(), 0);
    // Around the edge, on both runtime flavours (nine targets get the multi-threaded one):
    // whatever the limit, stillup ends with a code of its own, never a panic or an abort.
    let many: Vec<&str> = std::iter::repeat_n(url.as_str(), 9).collect();
    for limit in 4..=14 {
        let limit = format!("--nofile={limit}");
        for targets in [&many[..1], &many[..]] {
            let mut all = vec![limit.as_str(), bin, "wait"];
            all.extend_from_slice(targets);
            all.extend_from_slice(&["--timeout", "1s"]);
            let run = run_to_end(wrapper("prlimit", all));
            assert!(
                matches!(run.code, Some(0 | 1 | 6)),
                "{limit} with {} target(s)\n{run}",
                targets.len()
            );
            assert!(!run.stderr.contains("panicked"), "{run}");
        }
    }
}
