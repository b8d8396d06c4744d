//! `postgres://` targets through the real binary: the shared server (trust auth, database
//! `test`), throwaway instances in states the shared one must never be put in (a standby, a
//! restart), and scripted servers with hostile bytes. Secrets in the URL never reach output.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use serde_json::Value;
use stillup_testkit::pg_instance::{PgConfig, PgInstance};
use stillup_testkit::services;

use super::support::*;

const SECRET: &str = "pg-Secret-4711";

#[test]
fn wait_runs_the_command_once_the_shared_server_is_ready() {
    let Some(addr) = services::running(services::POSTGRES, "postgres wait") else {
        return;
    };
    let url = format!("postgres://{addr}/test");
    let run = stillup(["wait", &url, "--timeout", "10s", "--", "true"]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(10) + SLACK);
    assert!(run.stderr.contains(&url), "{run}");
}

#[test]
fn check_reports_the_kind_and_the_classes_in_json() {
    let Some(addr) = services::running(services::POSTGRES, "postgres check json") else {
        return;
    };
    let url = format!("postgres://{addr}/test");
    let run = check_json(&url, &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["kind"], "postgres");
    assert_eq!(only["target"], url.as_str());
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let attempt = &attempts_of(only)[0];
    assert_eq!(attempt["remote"], addr.to_string());
    assert!(attempt["timings"]["first_byte_ms"].is_number(), "{run}");

    let run = check_json(&format!("postgres://{addr}/no_such_db"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["db_unknown_database"], "{run}");
    assert!(last_message(&report).contains("3D000"), "{run}");
}

#[test]
fn secrets_in_the_url_or_user_option_are_never_printed() {
    let Some(addr) = services::running(services::POSTGRES, "postgres secrets") else {
        return;
    };
    // Trust auth logs in with any password; the unknown database makes it fail, so that
    // the failure's words are printed too.
    let in_url = format!("postgres://postgres:{SECRET}@{addr}/no_such_db");
    let encoded = format!(
        "postgres://postgres:{}@{addr}/no_such_db",
        "pg%2DSecret%2D4711"
    );
    for args in [
        vec!["check", in_url.as_str()],
        vec!["check", in_url.as_str(), "--output", "json"],
        vec!["check", encoded.as_str(), "--output", "json"],
        vec![
            "wait",
            in_url.as_str(),
            "--timeout",
            "1s",
            "--interval",
            "200ms",
        ],
    ] {
        let run = stillup(&args);
        run.assert_code(1);
        assert!(!run.stdout.contains(SECRET), "{args:?}\n{run}");
        assert!(!run.stderr.contains(SECRET), "{args:?}\n{run}");
        assert!(
            !run.stdout.contains("4711") && !run.stderr.contains("4711"),
            "{run}"
        );
    }
    let user = format!("postgres:{SECRET}");
    let run = stillup([
        "check",
        &format!("postgres://{addr}/no_such_db"),
        "--user",
        &user,
        "--output",
        "json",
    ]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["db_unknown_database"], "{run}");
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{run}"
    );
}

#[test]
fn a_standby_that_refuses_connections_is_starting_in_postgres_words() {
    let standby =
        match PgInstance::start(PgConfig::default().set("hot_standby", "off").as_standby()) {
            Ok(standby) => standby,
            Err(e) => {
                eprintln!("\n!!!!! SKIPPED standby test: no PostgreSQL instance: {e} !!!!!\n");
                return;
            }
        };
    let url = format!("postgres://{}/postgres", standby.addr);
    let run = check_json(&url, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["db_starting"], "{run}");
    assert!(
        last_message(&report).contains("57P03 the database system is"),
        "{run}"
    );
    let run = stillup(["check", &url]);
    run.assert_code(1);
    assert!(run.stderr.contains("the database system is"), "{run}");
}

/// A server on 127.0.0.1 that answers the first connection with `answer` once the client
/// has spoken, then holds it open a while.
fn scripted(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer);
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    addr
}

#[test]
fn hostile_servers_are_classified_by_their_bytes() {
    let http = scripted(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let run = check_json(&format!("postgres://{http}/db?sslmode=disable"), &[]);
    assert_eq!(classes(&run.json()), ["protocol_mismatch"], "{run}");

    let huge = scripted(b"E\xff\xff\xff\xff");
    let run = check_json(&format!("postgres://{huge}/db?sslmode=disable"), &[]);
    assert_eq!(classes(&run.json()), ["invalid_response"], "{run}");

    let closes = scripted(b"");
    let run = check_json(&format!("postgres://{closes}/db?sslmode=require"), &[]);
    assert_eq!(classes(&run.json()), ["reset"], "{run}");
}

#[test]
fn watch_across_a_restart_sees_one_outage_of_refusals_and_recovery() {
    let mut pg = match PgInstance::start(PgConfig::default()) {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("\n!!!!! SKIPPED restart test: no PostgreSQL instance: {e} !!!!!\n");
            return;
        }
    };
    let url = format!("postgres://{}/postgres?sslmode=disable", pg.addr);
    let watcher = {
        let url = url.clone();
        std::thread::spawn(move || {
            stillup([
                "watch",
                &url,
                "--duration",
                "8s",
                "--rate",
                "20/s",
                "--output",
                "json",
            ])
        })
    };
    std::thread::sleep(Duration::from_millis(2000));
    pg.restart().expect("the instance restarts");
    let run = watcher.join().unwrap();
    let report: Value = run.json();
    let windows = report["targets"][0]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "one outage\n{report:#}");
    for phase in windows[0]["phases"].as_array().unwrap() {
        let class = phase["class"].as_str().unwrap();
        assert!(
            ["refused", "db_starting", "reset"].contains(&class),
            "{class}\n{report:#}"
        );
    }
}
