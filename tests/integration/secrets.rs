//! Credentials in the URL are sent (as Basic auth) and never printed: not in human output,
//! not in JSON, not by `wait`, `check` or a usage error.

use std::time::Duration;

use super::support::*;

const PASSWORD: &str = "hunter2";
/// base64("admin:hunter2"): printing the header would leak the password just as well.
const ENCODED: &str = "YWRtaW46aHVudGVyMg==";

fn with_credentials(server: &ScriptedServer) -> String {
    format!("http://admin:{PASSWORD}@{}/health", server.addr())
}

#[track_caller]
fn assert_no_secret(run: &Run, what: &str) {
    for secret in [PASSWORD, ENCODED] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{what} printed {secret:?}\n{run}"
        );
    }
}

#[test]
fn a_password_in_the_url_is_sent_as_basic_auth_and_never_printed() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let url = with_credentials(&server);
    let wait = ["wait", &url, "--timeout", "1s", "--interval", "200ms"];
    let check = ["check", &url];
    for (what, args) in [("wait", &wait[..]), ("check", &check[..])] {
        for output in ["human", "json"] {
            let mut args = args.to_vec();
            args.extend(["--output", output]);
            let run = stillup(&args);
            run.assert_code(1)
                .assert_within(Duration::from_secs(3) + SLACK);
            assert_no_secret(&run, &format!("{what} --output {output}"));
            if output == "json" {
                let report = run.json();
                let first = target(&report, 0);
                let shown = first["target"].as_str().unwrap();
                assert!(!shown.contains("admin:"), "{shown}");
                assert_eq!(first["last_failure"]["class"], "http_status");
            }
        }
    }
    let log = server.request_log();
    assert!(!log.is_empty());
    for request in log {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Basic {ENCODED}").as_str()),
            "{request:?}"
        );
    }
}

#[test]
fn a_password_in_a_rejected_url_is_not_printed_in_the_usage_error() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let ftp = format!("ftp://admin:{PASSWORD}@{}/health", server.addr());
    let run = stillup(["wait", &ftp]);
    run.assert_code(2);
    assert_no_secret(&run, "a bad URL");
    let url = with_credentials(&server);
    let run = stillup(["check", &url, "--expect-status", "7xx"]);
    run.assert_code(2);
    assert_no_secret(&run, "a bad flag next to a URL with credentials");
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_password_is_not_printed_when_a_redirect_leaves_the_origin() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: format!("http://admin:{PASSWORD}@other.invalid/health"),
    });
    let url = with_credentials(&server);
    for output in ["human", "json"] {
        let run = stillup(["check", &url, "--output", output]);
        run.assert_code(1);
        assert_no_secret(&run, &format!("a cross-origin redirect, {output}"));
    }
}

#[test]
fn a_password_in_a_targets_file_is_sent_and_never_printed() {
    let server = serve(Behavior::Respond(Reply::text(503, "not yet")));
    let dir = TempDir::new("secrets-targets-file");
    let file = dir.file("targets.txt");
    std::fs::write(&file, format!("{}\n", with_credentials(&server))).unwrap();
    let path = file.to_str().unwrap();
    for output in ["human", "json"] {
        let run = stillup(["check", "--targets-file", path, "--output", output]);
        run.assert_code(1);
        assert_no_secret(&run, &format!("a target from a file, {output}"));
    }
    assert!(server
        .request_log()
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Basic {ENCODED}").as_str())));

    // Rejected lines do not print it either, whatever the reason.
    for bad in [
        format!("ftp://admin:{PASSWORD}@{}/health", server.addr()),
        format!("tcp://admin:{PASSWORD}@{}", server.addr()),
    ] {
        std::fs::write(&file, format!("{bad}\n")).unwrap();
        let run = stillup(["wait", "--targets-file", path]);
        run.assert_code(2);
        assert!(run.stderr.contains(&format!("{path}:1")), "{run}");
        assert_no_secret(&run, "a rejected line of a targets file");
    }
}
