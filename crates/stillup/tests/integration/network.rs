//! Where connections go and how soon: `localhost` on either loopback family, `--resolve`
//! and `--connect-to`, `Retry-After`, and fast re-probing while a port refuses.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{classes, serve, stillup, target, wait_json, SLACK};

/// A one-family listener answering `200 ok` to up to `max` connections, on its own thread.
fn answer_ok(listener: TcpListener, max: usize) {
    thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
}

#[test]
fn localhost_finds_an_ipv6_only_listener() {
    let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback is available");
    let port = listener.local_addr().unwrap().port();
    answer_ok(listener, 4);
    let url = format!("http://localhost:{port}/");
    let run = stillup(["check", &url, "--output", "json"]);
    run.assert_code(0);
    let report = run.json();
    let remote = target(&report, 0)["attempts"][0]["remote"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(remote.starts_with("[::1]"), "answered by {remote}");
}

#[test]
fn localhost_finds_an_ipv4_only_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    answer_ok(listener, 4);
    let url = format!("http://localhost:{port}/");
    let run = stillup(["check", &url, "--output", "json"]);
    run.assert_code(0);
    let report = run.json();
    let remote = target(&report, 0)["attempts"][0]["remote"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(remote.starts_with("127.0.0.1"), "answered by {remote}");
}

#[test]
fn resolve_sends_a_name_that_has_no_dns_to_a_chosen_address() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let port = server.port();
    let url = format!("http://api.invalid:{port}/health");
    let rule = format!("api.invalid:{port}:127.0.0.1");
    let run = stillup(["check", &url, "--resolve", &rule]);
    run.assert_code(0);
    let seen = server.request_log();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("host"),
        Some(format!("api.invalid:{port}").as_str())
    );
}

#[test]
fn connect_to_moves_the_connection_and_keeps_the_host_header() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = "http://api.invalid:80/health";
    let rule = format!("api.invalid:80:127.0.0.1:{}", server.port());
    let run = stillup(["check", url, "--connect-to", &rule]);
    run.assert_code(0);
    assert_eq!(server.request_log()[0].header("host"), Some("api.invalid"));
}

#[test]
fn bad_resolve_and_connect_to_rules_are_usage_errors_before_any_request() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    for (flag, value) in [
        ("--resolve", "api:443"),
        ("--resolve", "api:443:not-an-ip"),
        ("--resolve", "api:http:127.0.0.1"),
        ("--connect-to", "a:b"),
        ("--connect-to", "a:1:b:99999"),
    ] {
        let run = stillup(["check", &url, flag, value]);
        run.assert_code(2);
        assert!(run.stderr.contains(flag), "{run}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn retry_after_slows_polling_down() {
    let server = ScriptedServer::spawn(Script::new().forever(Behavior::Respond(
        Reply::text(503, "busy").header("Retry-After", "1"),
    )))
    .unwrap();
    let url = server.url("/");
    let run = wait_json(&[&url], &["--interval", "100ms", "--timeout", "2500ms"]);
    run.assert_code(1);
    // At 100 ms intervals this would be ~25 requests; Retry-After: 1 allows about 3.
    let requests = server.requests();
    assert!((2..=5).contains(&requests), "{requests} requests\n{run}");
}

#[test]
fn retry_after_is_capped_by_max_interval() {
    let server = ScriptedServer::spawn(Script::new().forever(Behavior::Respond(
        Reply::text(429, "slow down").header("Retry-After", "3600"),
    )))
    .unwrap();
    let url = server.url("/");
    let run = wait_json(
        &[&url],
        &[
            "--interval",
            "100ms",
            "--max-interval",
            "500ms",
            "--timeout",
            "2s",
        ],
    );
    run.assert_code(1)
        .assert_within(Duration::from_secs(2) + SLACK);
    assert!(server.requests() >= 3, "the cap was not applied: {run}");
}

#[test]
fn a_refusing_port_is_reprobed_quickly_without_extra_http_requests() {
    // Refused for 1 s, then 503 for 1 s, then healthy; the interval is a slow 1 s.
    let server = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_secs(1), Behavior::Refuse)
            .then_for(
                Duration::from_secs(1),
                Behavior::Respond(Reply::status(503)),
            )
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let url = server.url("/");
    let run = wait_json(&[&url], &["--interval", "1s", "--timeout", "20s"]);
    run.assert_code(0);
    let report = run.json();
    let story = classes(&report);
    let refused = story.iter().filter(|c| *c == "refused").count();
    assert!(
        refused > 2,
        "refused attempts should be re-probed fast: {story:?}"
    );
    // The 503 phase lasts 1 s at a 1 s interval: no more than two HTTP requests in it.
    let statuses = story.iter().filter(|c| *c == "http_status").count();
    assert!(statuses <= 2, "{story:?}");
}

#[test]
fn refused_interval_zero_turns_fast_reprobing_off() {
    let port = super::support::closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = wait_json(
        &[&url],
        &[
            "--interval",
            "500ms",
            "--timeout",
            "1200ms",
            "--refused-interval",
            "0s",
        ],
    );
    run.assert_code(1);
    let attempts = classes(&run.json()).len();
    assert!(attempts <= 3, "{attempts} attempts\n{run}");
}
