//! Bad input exits 2 before anything is sent, with one line on stderr that names the flag and
//! the value (and, where there is one, the fix).

use super::support::*;

/// A usage error case: the arguments after `stillup`, then words stderr must contain.
struct Case {
    args: Vec<String>,
    mentions: Vec<String>,
}

fn case(args: &[&str], mentions: &[&str]) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
    }
}

/// Every case refers to `url` (a live server) where it has a URL at all.
fn cases(url: &str, addr: &str) -> Vec<Case> {
    let no_scheme = format!("{addr}/health");
    let ftp = format!("ftp://{addr}/health");
    vec![
        case(&["wait", &no_scheme], &["TARGET", &no_scheme, "http://"]),
        case(&["wait", &ftp], &["TARGET", &ftp, "ftp"]),
        case(&["check", &ftp], &["TARGET", &ftp, "ftp"]),
        case(
            &["wait", "http://127.0.0.1:0/health"],
            &["TARGET", "http://127.0.0.1:0/health", "port 0"],
        ),
        case(
            &["wait", url, "--timeout", "90"],
            &["--timeout", "90", "add a unit"],
        ),
        case(
            &["wait", url, "--interval", "soon"],
            &["--interval", "soon"],
        ),
        case(
            &["check", url, "--attempt-timeout", "0s"],
            &["--attempt-timeout", "0s"],
        ),
        case(
            &["wait", url, "--expect-status", "7xx"],
            &["--expect-status", "7xx"],
        ),
        case(
            &["wait", url, "--expect-json", "$.status"],
            &["--expect-json", "$.status"],
        ),
        case(
            &["wait", url, "--expect-json", "status == 1"],
            &["--expect-json", "status == 1", "$.status"],
        ),
        case(
            &["wait", url, "--expect-body", "("],
            &["--expect-body", "("],
        ),
        case(
            &["check", url, "--expect-header", "Bad Name: x"],
            &["--expect-header", "Bad Name: x"],
        ),
        case(
            &["wait", url, "--max-body", "lots"],
            &["--max-body", "lots"],
        ),
        case(&["wait", url, "--jitter", "2"], &["--jitter", "2"]),
    ]
}

#[test]
fn every_usage_error_exits_2_with_one_line_naming_flag_and_value_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    let addr = server.addr().to_string();
    for Case { args, mentions } in cases(&url, &addr) {
        let run = stillup(&args);
        let line = run.usage_error_line(&format!("stillup {args:?}"));
        for word in &mentions {
            assert!(
                line.contains(word.as_str()),
                "stillup {args:?}: {word:?} missing from {:?}",
                line
            );
        }
        assert_eq!(
            server.connections(),
            0,
            "stillup {args:?} connected before rejecting its input"
        );
    }
}

#[test]
fn an_unknown_flag_exits_2_naming_it_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/health");
    for args in [
        ["wait", url.as_str(), "--nope"],
        ["check", url.as_str(), "--nope"],
    ] {
        let run = stillup(args);
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("--nope"), "{run}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_missing_target_is_a_usage_error() {
    let run = stillup(["wait"]);
    run.assert_code(2);
    assert!(run.stderr.contains("TARGET"), "{run}");
}

#[test]
fn help_and_the_man_page_list_every_exit_code() {
    for args in [&["man"][..], &["--help"][..]] {
        let run = stillup(args);
        run.assert_code(0);
        for code in stillup::cli::exit::ALL_CODES {
            let listed = run
                .stdout
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{code} ")));
            assert!(listed, "exit code {code} missing from {args:?}\n{run}");
        }
    }
}
