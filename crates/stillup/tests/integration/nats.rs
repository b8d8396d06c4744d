//! `nats://` targets through the real binary: the machine's shared NATS (no authentication),
//! nats-server instances of the test's own with a password or a token, and scripted servers
//! for hostile greetings.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use stillup_testkit::services;

use super::redis::OwnServer;
use super::support::*;

fn own_nats(test: &str, auth: &[&str]) -> Option<OwnServer> {
    let auth: Vec<String> = auth.iter().map(|s| s.to_string()).collect();
    let program = if std::path::Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    };
    OwnServer::start(test, program, move |port, _| {
        let mut args = vec![
            "-a".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            port.to_string(),
        ];
        args.extend(auth.iter().cloned());
        args
    })
}

#[test]
fn the_shared_nats_is_healthy() {
    let Some(addr) = services::running(services::NATS, "integration nats shared") else {
        return;
    };
    let url = format!("nats://{addr}");
    let run = check_json(&url, &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(target(&report, 0)["kind"], "nats");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let timings = &attempts_of(target(&report, 0))[0]["timings"];
    assert!(timings["first_byte_ms"].is_number(), "{run}");
    stillup(["check", &url]).assert_code(0);
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_printed() {
    let Some(nats) = own_nats(
        "integration nats password",
        &["--user", "u", "--pass", "n4ts-pw"],
    ) else {
        return;
    };
    let port = nats.port;
    // No credentials: the server answers and wants a login, which is healthy.
    stillup(["check", &format!("nats://127.0.0.1:{port}")]).assert_code(0);
    stillup(["check", &format!("nats://u:n4ts-pw@127.0.0.1:{port}")]).assert_code(0);

    let wrong = format!("nats://u:wr0ng-pw@127.0.0.1:{port}");
    let run = check_json(&wrong, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["auth_failed"], "{run}");
    assert!(
        last_message(&report).contains("Authorization Violation"),
        "{run}"
    );
    assert!(
        !run.stdout.contains("wr0ng-pw") && !run.stderr.contains("wr0ng-pw"),
        "{run}"
    );
    let run = stillup(["check", &wrong]);
    run.assert_code(1);
    assert!(!run.stderr.contains("wr0ng-pw"), "{run}");

    let run = stillup_with_env(
        ["check", &wrong, "--user", "u:env:NATS_PW"],
        &[("NATS_PW", "n4ts-pw")],
    );
    run.assert_code(0);
}

#[test]
fn a_token_from_bearer_logs_in() {
    let Some(nats) = own_nats("integration nats token", &["--auth", "t0ken-value"]) else {
        return;
    };
    let url = format!("nats://127.0.0.1:{}", nats.port);
    let run = stillup_with_env(
        ["check", &url, "--bearer", "env:NATS_TOKEN"],
        &[("NATS_TOKEN", "t0ken-value")],
    );
    run.assert_code(0);
    let wrong = format!("nats://other-token@127.0.0.1:{}", nats.port);
    let run = check_json(&wrong, &[]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["auth_failed"], "{run}");
    assert!(!run.stdout.contains("other-token"), "{run}");
}

#[test]
fn an_endless_info_line_is_invalid_and_garbage_is_another_protocol() {
    let endless = [b"INFO {".to_vec(), vec![b' '; 200 * 1024]].concat();
    for (greeting, class) in [
        (endless, "invalid_response"),
        (b"\x00\x01\xffgarbage\r\n".to_vec(), "protocol_mismatch"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let _ = socket.write_all(&greeting);
                std::thread::sleep(Duration::from_secs(5));
            }
        });
        let run = check_json(&format!("nats://{addr}"), &[]);
        run.assert_code(1)
            .assert_within(Duration::from_secs(3) + SLACK);
        assert_eq!(classes(&run.json()), [class], "{run}");
    }
}
