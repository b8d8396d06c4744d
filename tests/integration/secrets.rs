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
                let target = report["target"].as_str().unwrap();
                assert!(!target.contains("admin:"), "{target}");
                assert_eq!(report["last_failure"]["class"], "http_status");
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
