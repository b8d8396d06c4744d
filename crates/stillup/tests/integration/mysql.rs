//! `mysql://` and `mariadb://` targets through the real binary: the shared MariaDB (greeting,
//! login and `SELECT 1`, a wrong password, an unknown database), and first-speaking scripted
//! servers for what it cannot be made to say (too many connections, another protocol). A
//! password given in the URL or with `--user` never appears in any output.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use stillup_testkit::services;

use super::support::*;

/// A server on 127.0.0.1:0 that sends `bytes` on every connection and holds it until the
/// client closes; it stops accepting after 20 s.
fn speaks_first(bytes: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let _ = stream.write_all(bytes);
                        let _ = stream.read(&mut [0u8; 256]);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    addr
}

fn mariadb(test: &str) -> Option<SocketAddr> {
    services::running(services::MARIADB, test)
}

#[test]
fn the_shared_mariadb_is_healthy_with_and_without_a_login() {
    let Some(addr) = mariadb("mysql::the_shared_mariadb_is_healthy_with_and_without_a_login")
    else {
        return;
    };
    for url in [
        format!("mysql://{addr}"),
        format!("mysql://root@{addr}"),
        format!("mariadb://root@{addr}/mysql"),
    ] {
        let run = check_json(&url, &[]);
        run.assert_code(0);
        let report = run.json();
        assert_matches_schema(&report);
        let only = target(&report, 0);
        assert_eq!(only["kind"], "mysql", "{run}");
        assert_eq!(classes(&report), [HEALTHY], "{url}\n{run}");
        let attempt = &attempts_of(only)[0];
        assert_eq!(attempt["remote"], addr.to_string());
        assert!(attempt["timings"]["first_byte_ms"].is_number(), "{run}");
    }
    let run = stillup(["check", &format!("mariadb://{addr}")]);
    run.assert_code(0);
    assert!(run.stderr.contains("mariadb://"), "{run}");
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_printed() {
    let Some(addr) = mariadb("mysql::a_wrong_password_is_auth_failed_and_never_printed") else {
        return;
    };
    const SECRET: &str = "Wr0ng-Passw0rd-x9";
    let url = format!("mysql://root:{SECRET}@{addr}");
    let run = check_json(&url, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["auth_failed"], "{run}");
    assert!(last_message(&report).contains("1045"), "{run}");
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{run}"
    );

    let run = stillup(["check", &url]);
    run.assert_code(1);
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{run}"
    );

    let run = stillup([
        "check",
        &format!("mysql://{addr}"),
        "--user",
        &format!("root:{SECRET}"),
        "--output",
        "json",
    ]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["auth_failed"], "{run}");
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{run}"
    );
}

#[test]
fn an_unknown_database_is_db_unknown_database() {
    let Some(addr) = mariadb("mysql::an_unknown_database_is_db_unknown_database") else {
        return;
    };
    let run = check_json(&format!("mysql://root@{addr}/no_such_db"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["db_unknown_database"], "{run}");
    assert!(last_message(&report).contains("no_such_db"), "{run}");
}

#[test]
fn a_full_server_is_db_too_many_connections_on_every_attempt() {
    let addr = speaks_first(b"\x17\x00\x00\x00\xff\x10\x04Too many connections");
    let run = wait_json(
        &[&format!("mysql://{addr}")],
        &["--timeout", "1s", "--interval", "200ms"],
    );
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(story(&report), ["db_too_many_connections"], "{run}");
    assert!(
        last_message(&report).contains("1040 Too many connections"),
        "{run}"
    );
}

#[test]
fn another_protocol_on_the_port_is_protocol_mismatch() {
    let addr = speaks_first(b"SSH-2.0-OpenSSH_9.6\r\n");
    let run = check_json(&format!("mysql://{addr}"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["protocol_mismatch"], "{run}");
    assert!(last_message(&report).contains("SSH"), "{run}");
}

#[test]
fn a_malformed_mysql_target_is_a_usage_error_naming_the_parameter() {
    let run = stillup([
        "check",
        "mysql://root:Sekr1t-p4ss@127.0.0.1/db?sslmod=required",
    ]);
    let line = run.usage_error_line("an unknown parameter");
    assert!(line.contains("\"sslmod\""), "{run}");
    assert!(!line.contains("Sekr1t-p4ss"), "{run}");
    let run = stillup(["check", "mysql://127.0.0.1?ssl-mode=maybe"]);
    let line = run.usage_error_line("a bad ssl-mode");
    assert!(line.contains("VERIFY_IDENTITY"), "{run}");
}
