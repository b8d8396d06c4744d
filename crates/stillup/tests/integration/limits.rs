//! Limits that keep one attempt bounded: the body size limit (declared or streamed) and the
//! redirect limit (a loop, an endless chain) — and the one redirect that should just work.

use std::time::Duration;

use super::support::*;

fn check(url: &str, flags: &[&str]) -> Run {
    let run = check_json(url, flags);
    run.assert_within(Duration::from_secs(5) + SLACK);
    run
}

#[test]
fn a_body_over_max_body_fails_as_body_too_large() {
    let server = serve(Behavior::Respond(Reply::text(200, &"x".repeat(10_000))));
    let run = check(
        &server.url("/health"),
        &["--max-body", "1KiB", "--attempt-timeout", "5s"],
    );
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["body_too_large"], "{run}");
    assert!(last_message(&report).contains("1024"), "{run}");
}

#[test]
fn a_body_within_max_body_is_fine() {
    let server = serve(Behavior::Respond(Reply::text(200, &"x".repeat(10_000))));
    check(&server.url("/health"), &["--max-body", "20KB"]).assert_code(0);
}

#[test]
fn an_endless_body_fails_as_body_too_large_long_before_the_attempt_timeout() {
    let server = serve(Behavior::EndlessBody { status: 200 });
    let url = server.url("/health");
    for limit in ["1KiB", "1MiB"] {
        let run = check(&url, &["--max-body", limit, "--attempt-timeout", "5s"]);
        run.assert_code(1);
        assert_eq!(classes(&run.json()), ["body_too_large"], "{limit}\n{run}");
    }
}

#[test]
fn a_redirect_loop_fails_as_redirect_limit() {
    let server = serve(Behavior::RedirectLoop);
    let run = check(&server.url("/health"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["redirect_limit"], "{run}");
    assert!(last_message(&report).contains("loop"), "{run}");
    assert!(server.requests() <= 11, "a loop is caught within the limit");
}

#[test]
fn an_endless_redirect_chain_fails_as_redirect_limit_after_10() {
    let server = serve(Behavior::RedirectChain);
    let run = check(&server.url("/health"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["redirect_limit"], "{run}");
    assert!(last_message(&report).contains("10"), "{run}");
    assert_eq!(target(&report, 0)["attempts"][0]["redirects"], 10, "{run}");
    assert_eq!(server.requests(), 11, "the first request and 10 redirects");
}

#[test]
fn a_single_same_origin_redirect_to_a_healthy_path_is_followed() {
    let script = Script::new()
        .then_requests(
            1,
            Behavior::Redirect {
                status: 302,
                location: "/ok".into(),
            },
        )
        .forever(Behavior::Respond(Reply::json(
            200,
            r#"{"status":"healthy"}"#,
        )));
    let server = ScriptedServer::spawn(script).unwrap();
    let run = check(
        &server.url("/start"),
        &["--expect-json", r#"$.status == "healthy""#],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert_eq!(target(&report, 0)["attempts"][0]["redirects"], 1);
    let targets: Vec<String> = server.request_log().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/start", "/ok"]);
}

#[test]
fn a_redirect_to_another_origin_is_not_followed_and_fails_as_http_status() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: "http://other.invalid/ok".into(),
    });
    let run = check(&server.url("/start"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["http_status"], "{run}");
    assert_eq!(server.requests(), 1);
}

/// Run `stillup args…` with its open-file limit (soft and hard) at `nofile`, through prlimit.
fn with_open_files(nofile: u32, args: &[&str]) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("stillup");
    let limit = format!("--nofile={nofile}:{nofile}");
    let mut all = vec![limit.as_str(), bin.to_str().unwrap()];
    all.extend_from_slice(args);
    run_to_end(wrapper("prlimit", all))
}

/// Too few descriptors to open a socket say nothing about the target: waiting for a healthy
/// server to go down must never succeed because of them (exit 6 when that is all stillup saw).
#[test]
fn stillup_out_of_files_never_says_a_healthy_target_is_down() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let mut starved = 0;
    // Around the number of descriptors the runtime itself needs: low enough that a socket
    // cannot be opened, high enough that the runtime starts.
    for nofile in 8..=14 {
        let run = with_open_files(
            nofile,
            &[
                "wait",
                &url,
                "--until",
                "down",
                "--timeout",
                "1s",
                "-o",
                "json",
            ],
        );
        assert_ne!(run.code, Some(0), "nofile={nofile}\n{run}");
        if run.code == Some(6) && !run.stdout.is_empty() {
            let report = run.json();
            assert_matches_schema(&report);
            assert_eq!(report["outcome"], "inconclusive", "{run}");
            let t = target(&report, 0);
            assert_eq!(t["outcome"], "inconclusive", "{run}");
            assert!(t["inconclusive"].as_u64().unwrap() >= 1, "{run}");
            assert!(classes(&report).iter().all(|c| c == "local_limit"), "{run}");
            starved += 1;
        } else if run.code == Some(1) {
            let report = run.json();
            assert_eq!(target(&report, 0)["outcome"], "gave_up", "{run}");
            assert!(classes(&report).contains(&HEALTHY.to_string()), "{run}");
        } else {
            // Too few to start at all: stillup's own trouble too.
            assert_eq!(run.code, Some(6), "nofile={nofile}\n{run}");
        }
    }
    assert!(starved > 0, "no limit left stillup without a socket");
}

/// The same in human output: a "no verdict" line, never "is down".
#[test]
fn stillup_out_of_files_says_no_verdict() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let starved = (8..=14).find(|&nofile| {
        let run = with_open_files(nofile, &["check", &url, "-o", "json"]);
        run.code == Some(6) && !run.stdout.is_empty()
    });
    let nofile = starved.expect("some limit leaves stillup without a socket");
    let run = with_open_files(
        nofile,
        &["wait", &url, "--until", "down", "--timeout", "1s"],
    );
    run.assert_code(6);
    assert!(!run.stderr.contains("is down"), "{run}");
    assert!(run.stderr.contains("no verdict"), "{run}");
    assert!(run.stderr.contains("local_limit"), "{run}");
}
