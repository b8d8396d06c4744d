//! `redis://` and `rediss://` targets through the real binary: the machine's shared Redis
//! (read-only use), redis-server instances of the test's own (a password, TLS) on free ports,
//! and scripted servers for what a real one will not do on demand (LOADING, then PONG).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stillup_testkit::services;

use super::support::*;

/// A server process of the test's own (redis-server, nats-server) on a free port, in its own
/// directory, killed on drop.
pub(super) struct OwnServer {
    child: Child,
    pub(super) port: u16,
    _dir: TempDir,
}

impl OwnServer {
    /// `None`, with a loud line, when `program` cannot run and services are optional; `args`
    /// gets the port and the directory.
    pub(super) fn start(
        test: &str,
        program: &str,
        args: impl Fn(u16, &Path) -> Vec<String>,
    ) -> Option<OwnServer> {
        let dir = TempDir::new(&test.replace(' ', "-"));
        // Neither server takes port 0 and tells it back simply: reserve one, release it.
        let port = closed_port();
        let spawned = Command::new(program)
            .args(args(port, dir.path()))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os(services::REQUIRE_VARIABLE).is_none() => {
                eprintln!("\n!!!!! SKIPPED {test}: cannot start {program} ({e}) !!!!!\n");
                return None;
            }
            Err(e) => panic!("{test} needs {program}: {e}"),
        };
        let server = OwnServer {
            child,
            port,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "{test}: {program} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn own_redis(test: &str, extra: &[&str]) -> Option<OwnServer> {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    OwnServer::start(test, "redis-server", move |port, dir| {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(dir.display().to_string());
        args.extend(extra.iter().cloned());
        args
    })
}

#[test]
fn the_shared_redis_is_healthy_and_a_missing_database_is_named() {
    let Some(addr) = services::running(services::REDIS, "integration redis shared") else {
        return;
    };
    let url = format!("redis://{addr}");
    let run = stillup(["check", &url]);
    run.assert_code(0);
    assert!(run.stderr.contains(&url), "{run}");

    let run = check_json(&format!("redis://{addr}/0?role=master"), &[]);
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(target(&report, 0)["kind"], "redis");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let attempt = &attempts_of(target(&report, 0))[0];
    assert_eq!(attempt["remote"], addr.to_string());

    let run = check_json(&format!("redis://{addr}/99999"), &[]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["db_unknown_database"], "{run}");
}

#[test]
fn a_wrong_password_is_auth_failed_and_never_printed() {
    let Some(redis) = own_redis(
        "integration redis password",
        &["--requirepass", "s3cret-pw"],
    ) else {
        return;
    };
    let port = redis.port;
    // No credentials: up and asking for a password is healthy.
    stillup(["check", &format!("redis://127.0.0.1:{port}")]).assert_code(0);
    stillup(["check", &format!("redis://:s3cret-pw@127.0.0.1:{port}/0")]).assert_code(0);

    let wrong = format!("redis://app:wr0ng-pw@127.0.0.1:{port}");
    let run = check_json(&wrong, &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["auth_failed"], "{run}");
    assert!(last_message(&report).contains("WRONGPASS"), "{run}");
    assert!(
        !run.stdout.contains("wr0ng-pw") && !run.stderr.contains("wr0ng-pw"),
        "{run}"
    );
    let run = stillup(["check", &wrong]);
    run.assert_code(1);
    assert!(!run.stderr.contains("wr0ng-pw"), "{run}");

    // --user replaces the URL's credentials (the secret from the environment).
    let run = stillup_with_env(
        ["check", &wrong, "--user", "default:env:REDIS_PW"],
        &[("REDIS_PW", "s3cret-pw")],
    );
    run.assert_code(0);
    assert!(!run.stderr.contains("s3cret-pw"), "{run}");
}

/// A server that answers every command with `-LOADING` on its first `loading` connections,
/// then `+PONG`.
fn loading_then_ready(loading: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for socket in listener.incoming().take(50) {
            let Ok(mut socket) = socket else { return };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let _ = socket.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 512];
            if socket.read(&mut buf).unwrap_or(0) == 0 {
                continue;
            }
            let answer: &[u8] = if n < loading {
                b"-LOADING Redis is loading the dataset in memory\r\n"
            } else {
                b"+PONG\r\n"
            };
            let _ = socket.write_all(answer);
        }
    });
    addr
}

#[test]
fn wait_rides_out_loading() {
    let addr = loading_then_ready(2);
    let url = format!("redis://{addr}");
    let run = wait_json(&[&url], &["--timeout", "20s", "--interval", "100ms"]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(story(&report), ["db_loading", HEALTHY], "{run}");
}

#[test]
fn hostile_framing_is_invalid_and_http_is_another_protocol() {
    for (answer, class) in [
        (&b"$4294967296\r\n"[..], "invalid_response"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "protocol_mismatch"),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = answer.to_vec();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut buf = [0u8; 512];
                let _ = socket.read(&mut buf);
                let _ = socket.write_all(&answer);
                std::thread::sleep(Duration::from_secs(5));
            }
        });
        let run = check_json(&format!("redis://{addr}"), &[]);
        run.assert_code(1)
            .assert_within(Duration::from_secs(3) + SLACK);
        assert_eq!(classes(&run.json()), [class], "{run}");
    }
}

#[test]
fn rediss_verifies_the_servers_certificate() {
    let cert = self_signed(&["127.0.0.1"], None);
    let files = TempDir::new("redis-tls-files");
    let (cert_file, key_file) = (files.file("cert.pem"), files.file("key.pem"));
    std::fs::write(&cert_file, &cert.pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    let (cert_arg, key_arg) = (
        cert_file.display().to_string(),
        key_file.display().to_string(),
    );
    let Some(redis) = OwnServer::start("integration rediss", "redis-server", |port, dir| {
        let mut args: Vec<String> = ["--port", "0", "--tls-port", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for pair in [
            ["--bind", "127.0.0.1"],
            ["--save", ""],
            ["--appendonly", "no"],
            ["--tls-cert-file", &cert_arg],
            ["--tls-key-file", &key_arg],
            ["--tls-ca-cert-file", &cert_arg],
            ["--tls-auth-clients", "no"],
        ] {
            args.extend(pair.iter().map(|s| s.to_string()));
        }
        args.extend(["--dir".to_string(), dir.display().to_string()]);
        args
    }) else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let run = check_json(&url, &["--cacert", &cert_arg]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert!(attempts_of(target(&report, 0))[0]["timings"]["tls_ms"].is_number());
    let run = check_json(&url, &[]);
    run.assert_code(1);
    assert_eq!(classes(&run.json()), ["tls_verify"], "{run}");
    drop(redis);
    drop(files);
}
