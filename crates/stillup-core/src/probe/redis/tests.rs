//! The Redis probe against scripted servers (states a real one cannot be put in on demand),
//! the machine's shared Redis (read-only use), and redis-server instances of its own on
//! ephemeral ports, each in a temporary directory and killed when the test ends.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stillup_testkit::services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn target(input: &str) -> RedisTarget {
    RedisTarget::parse(input).unwrap()
}

async fn check(input: &str) -> Result<(), Failure> {
    check_within(input, Duration::from_secs(5)).await
}

async fn check_within(input: &str, budget: Duration) -> Result<(), Failure> {
    let probe = RedisProbe::new(target(input));
    probe.probe_once(&Deadline::after(budget)).await.result
}

fn class(result: &Result<(), Failure>) -> &'static str {
    match result {
        Ok(()) => "ready",
        Err(failure) => failure.class().as_str(),
    }
}

#[test]
fn targets_parse_with_defaults_and_refuse_what_redis_cannot_mean() {
    let t = target("redis://127.0.0.1");
    assert_eq!(
        (t.host(), t.port(), t.uses_tls()),
        ("127.0.0.1", 6379, false)
    );
    assert_eq!(
        (t.db(), t.requires_master(), t.login()),
        (None, false, None)
    );
    assert_eq!(t.to_string(), "redis://127.0.0.1:6379");

    let t = target("REDISS://app:s%40cret@[::1]:6380/3?role=master");
    assert!(t.uses_tls());
    assert_eq!((t.host(), t.port(), t.db()), ("::1", 6380, Some(3)));
    let login = t.login().unwrap();
    assert_eq!((login.user.as_str(), login.password()), ("app", "s@cret"));
    assert_eq!(
        t.to_string(),
        "rediss://app:<redacted>@[::1]:6380/3?role=master"
    );
    assert!(!format!("{t:?}").contains("s@cret"));

    let t = target("redis://:secret@localhost/0?role=any");
    assert_eq!(t.login().unwrap().user, "");
    assert_eq!(t.to_string(), "redis://:<redacted>@localhost:6379/0");

    for (bad, words) in [
        ("redis://127.0.0.1/cache", "a Redis database is a number"),
        ("redis://127.0.0.1/-1", "a Redis database is a number"),
        ("redis://127.0.0.1?role=slave", "role is master or any"),
        (
            "redis://127.0.0.1?sslmode=require",
            "unknown parameter \"sslmode\"",
        ),
        ("redis://app@127.0.0.1", "without a password"),
        ("redis://127.0.0.1#x", "fragment"),
    ] {
        let e = RedisTarget::parse(bad).unwrap_err();
        assert!(matches!(e, TargetError::Malformed { .. }), "{bad}: {e:?}");
        let text = e.to_string();
        assert!(
            text.contains(words) && text.contains(EXAMPLE),
            "{bad}: {text}"
        );
    }
    let e = RedisTarget::parse("redis://u:hunter2@127.0.0.1/x").unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(matches!(
        RedisTarget::parse("redis://127.0.0.1:0"),
        Err(TargetError::PortZero { .. })
    ));
    assert!(matches!(
        RedisTarget::parse("redis:///0"),
        Err(TargetError::MissingHost { .. })
    ));
}

/// A server that answers each thing the client sends with the next of `answers` (after the
/// last, it stays silent with the connection open, or closes it when `close` is set).
async fn scripted(answers: Vec<Vec<u8>>, close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                for answer in answers {
                    if matches!(socket.read(&mut buf).await, Ok(0) | Err(_)) {
                        return;
                    }
                    if socket.write_all(&answer).await.is_err() {
                        return;
                    }
                }
                if !close {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    addr
}

async fn scripted_check(answers: &[&[u8]], suffix: &str) -> Result<(), Failure> {
    let answers = answers.iter().map(|a| a.to_vec()).collect();
    let addr = scripted(answers, false).await;
    check_within(&format!("redis://{addr}{suffix}"), Duration::from_secs(2)).await
}

#[tokio::test]
async fn recorded_server_states_have_their_classes() {
    let cases: &[(&[&[u8]], &str, &str)] = &[
        (&[b"+PONG\r\n"], "", "ready"),
        (&[b"-NOAUTH Authentication required.\r\n"], "", "ready"),
        (&[b"-LOADING Redis is loading the dataset in memory\r\n"], "", "db_loading"),
        (
            &[b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.\r\n"],
            "",
            "db_busy",
        ),
        (
            &[b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"],
            "",
            "db_not_primary",
        ),
        (&[b"-ERR unknown command 'PING'\r\n"], "", "server_unavailable"),
        (&[b":1\r\n"], "", "invalid_response"),
        (
            &[b"+PONG\r\n", b"-ERR DB index is out of range\r\n"],
            "/16",
            "db_unknown_database",
        ),
        (
            &[b"+PONG\r\n", b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$7\r\nconnect\r\n:-1\r\n"],
            "?role=master",
            "db_not_primary",
        ),
        (&[b"+PONG\r\n", b"*2\r\n$8\r\nsentinel\r\n*0\r\n"], "?role=master", "db_not_primary"),
        (&[b"+PONG\r\n", b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"], "?role=master", "ready"),
        (&[b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"], "", "auth_failed"),
    ];
    for (answers, suffix, expected) in cases {
        let got = scripted_check(answers, suffix).await;
        assert_eq!(class(&got), *expected, "{answers:?} {suffix}: {got:?}");
    }
    // The server's own words are kept, capped.
    let got = scripted_check(
        &[b"-LOADING Redis is loading the dataset in memory\r\n"],
        "",
    )
    .await;
    match got {
        Err(Failure::NotReady { server, said, .. }) => {
            assert_eq!(server, "Redis");
            assert_eq!(said, "LOADING Redis is loading the dataset in memory");
        }
        other => panic!("{other:?}"),
    }
    let long = format!("-BUSY {}\r\n", "x".repeat(5000));
    match scripted_check(&[long.as_bytes()], "").await {
        Err(Failure::NotReady { said, .. }) => assert!(said.chars().count() <= 201, "{said}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn credentials_are_sent_and_a_refusal_is_auth_failed() {
    let cases: &[(&[&[u8]], &str)] = &[
        (&[b"+OK\r\n", b"+PONG\r\n"], "ready"),
        (
            &[b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"],
            "auth_failed",
        ),
        (&[b"-ERR invalid password\r\n"], "auth_failed"),
        // With credentials, NOAUTH to PING means the login did not take.
        (
            &[b"+OK\r\n", b"-NOAUTH Authentication required.\r\n"],
            "auth_failed",
        ),
        (
            &[b"-LOADING Redis is loading the dataset in memory\r\n"],
            "db_loading",
        ),
    ];
    for (answers, expected) in cases {
        let answers: Vec<Vec<u8>> = answers.iter().map(|a| a.to_vec()).collect();
        let addr = scripted(answers.clone(), false).await;
        let got = check_within(&format!("redis://app:pw@{addr}"), Duration::from_secs(2)).await;
        assert_eq!(class(&got), *expected, "{answers:?}: {got:?}");
    }
    // What goes on the wire: AUTH with the user, or the one-argument form for the default user.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = socket.read(&mut buf).await.unwrap();
            seen.push(buf[..n].to_vec());
            socket.write_all(b"-WRONGPASS no\r\n").await.unwrap();
        }
        seen
    });
    let _ = check(&format!("redis://app:p%20w@{addr}")).await;
    let _ = check(&format!("redis://:pw@{addr}")).await;
    let seen = server.await.unwrap();
    assert_eq!(seen[0], wire::command(&[b"AUTH", b"app", b"p w"]));
    assert_eq!(seen[1], wire::command(&[b"AUTH", b"pw"]));
}

#[tokio::test]
async fn hostile_and_foreign_servers_are_classified_within_the_budget() {
    let endless = [b"+".to_vec(), vec![b'a'; 300 * 1024]].concat();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"$4294967296\r\n".to_vec(), "invalid_response"),
        (b"*4294967296\r\n".to_vec(), "invalid_response"),
        (endless, "invalid_response"),
        (b"\x00\x01\x02garbage".to_vec(), "protocol_mismatch"),
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            "protocol_mismatch",
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(), "protocol_mismatch"),
        (b"*1\r\n\x00".to_vec(), "invalid_response"),
    ];
    for (answer, expected) in cases {
        let addr = scripted(vec![answer.clone()], false).await;
        let started = Instant::now();
        let got = check_within(&format!("redis://{addr}"), Duration::from_secs(2)).await;
        assert_eq!(
            class(&got),
            expected,
            "{:?}: {got:?}",
            &answer[..answer.len().min(20)]
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    let http = scripted(vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()], false).await;
    let text = check(&format!("redis://{http}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("an HTTP server"), "{text}");

    // Silence after the connection is up: response_timeout when the budget ends.
    let silent = scripted(vec![], false).await;
    let got = check_within(&format!("redis://{silent}"), Duration::from_millis(300)).await;
    assert_eq!(class(&got), "response_timeout", "{got:?}");
    // A trickle of a reply that never ends is bounded by the budget too.
    let partial = scripted(vec![b"+PO".to_vec()], false).await;
    let got = check_within(&format!("redis://{partial}"), Duration::from_millis(300)).await;
    assert_eq!(class(&got), "response_timeout", "{got:?}");
    // Closed before answering.
    let closing = scripted(vec![], true).await;
    let got = check(&format!("redis://{closing}")).await;
    assert_eq!(class(&got), "reset", "{got:?}");
    assert!(got.unwrap_err().to_string().contains("PING"));
}

#[tokio::test]
async fn rediss_against_a_plain_port_is_a_protocol_mismatch() {
    let addr = scripted(
        vec![b"-ERR Protocol error: unbalanced quotes\r\n".to_vec()],
        true,
    )
    .await;
    let got = check(&format!("rediss://{addr}")).await;
    assert_eq!(class(&got), "protocol_mismatch", "{got:?}");
}

#[tokio::test]
async fn the_shared_redis_is_ready_and_its_databases_and_role_are_checked() {
    let Some(addr) = services::running(services::REDIS, "redis shared") else {
        return;
    };
    for (suffix, expected) in [
        ("", "ready"),
        ("/0", "ready"),
        ("/99999", "db_unknown_database"),
        ("?role=master", "ready"),
        // The shared server has no password: Redis refuses AUTH, and so would the app's client.
        ("", "auth_failed"),
    ] {
        let url = if expected == "auth_failed" {
            format!("redis://:not-needed@{addr}")
        } else {
            format!("redis://{addr}{suffix}")
        };
        let got = check(&url).await;
        assert_eq!(class(&got), expected, "{url}: {got:?}");
        if let Err(failure) = got {
            assert!(!failure.to_string().contains("not-needed"), "{failure}");
        }
    }
    let probe = RedisProbe::new(target(&format!("redis://{addr}")));
    let result = probe
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await;
    assert!(result.timings.connect.is_some() && result.timings.first_byte.is_some());
    assert_eq!(result.remote, Some(addr));
    // --max-latency of nothing: too slow, whatever the server's speed.
    let mut probe = probe;
    probe.set_max_latency(Some(Duration::ZERO));
    let result = probe
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await;
    assert_eq!(class(&result.result), "condition_failed");
}

/// A redis-server of the test's own, on a free port, in its own directory, killed on drop.
struct OwnRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnRedis {
    /// `None` (with a loud line) when redis-server is not installed and services are optional.
    fn start(test: &str, args: &[&str]) -> Option<OwnRedis> {
        let dir = std::env::temp_dir().join(format!(
            "stillup-redis-{}-{}",
            std::process::id(),
            test.replace(' ', "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(test, dir, args)
    }

    fn start_in(test: &str, dir: PathBuf, args: &[&str]) -> Option<OwnRedis> {
        // Redis takes no port 0: reserve a free one, release it, and hand it over.
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os(services::REQUIRE_VARIABLE).is_none() => {
                eprintln!("\n!!!!! SKIPPED {test}: cannot start redis-server ({e}) !!!!!\n");
                return None;
            }
            Err(e) => panic!("{test} needs redis-server: {e}"),
        };
        let mut server = OwnRedis { child, port, dir };
        let until = Instant::now() + Duration::from_secs(10);
        while StdStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "{test}: redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The port was free when chosen, but another test's server may have taken it first:
        // then ours exits at once (address in use) and the one answering is not ours.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            matches!(server.child.try_wait(), Ok(None)),
            "{test}: our redis-server exited (its port {port} was taken by another server)"
        );
        Some(server)
    }

    fn url(&self, userinfo: &str, suffix: &str) -> String {
        format!("redis://{userinfo}127.0.0.1:{}{suffix}", self.port)
    }

    /// Send commands with redis-cli (setting up the test's own instance only).
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_password_protected_redis_is_ready_without_credentials_and_checks_given_ones() {
    let Some(redis) = OwnRedis::start("redis requirepass", &["--requirepass", "s3cret"]) else {
        return;
    };
    for (userinfo, expected) in [
        ("", "ready"),
        (":s3cret@", "ready"),
        ("default:s3cret@", "ready"),
        (":wrong@", "auth_failed"),
        ("nobody:s3cret@", "auth_failed"),
    ] {
        let got = check(&redis.url(userinfo, "/0?role=master")).await;
        assert_eq!(class(&got), expected, "{userinfo}: {got:?}");
    }
    // --user replaces the URL's credentials.
    let mut probe = RedisProbe::new(target(&redis.url(":wrong@", "")));
    probe.set_login(Login::new("", Some("s3cret")));
    let result = probe
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await;
    assert_eq!(class(&result.result), "ready", "{:?}", result.result);
}

#[tokio::test]
async fn a_replica_is_not_the_primary() {
    // Its master is a port nothing listens on, so the link stays down.
    let nowhere = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = nowhere.to_string();
    let Some(stale) = OwnRedis::start("redis replica", &["--replicaof", "127.0.0.1", &nowhere])
    else {
        return;
    };
    assert_eq!(class(&check(&stale.url("", "")).await), "ready");
    let got = check(&stale.url("", "?role=master")).await;
    assert_eq!(class(&got), "db_not_primary", "{got:?}");
    let said = got.unwrap_err().to_string();
    assert!(said.contains("slave"), "{said}");

    let Some(strict) = OwnRedis::start(
        "redis replica no stale data",
        &[
            "--replicaof",
            "127.0.0.1",
            &nowhere,
            "--replica-serve-stale-data",
            "no",
        ],
    ) else {
        return;
    };
    let got = check(&strict.url("", "")).await;
    assert_eq!(class(&got), "db_not_primary", "{got:?}");
    assert!(got.unwrap_err().to_string().contains("MASTERDOWN"));
}

#[tokio::test]
async fn a_redis_loading_its_dataset_is_db_loading() {
    let test = "redis loading";
    let Some(seed) = OwnRedis::start(test, &["--enable-debug-command", "yes"]) else {
        return;
    };
    assert!(seed.cli(&["DEBUG", "POPULATE", "100000"]).contains("OK"));
    assert!(seed.cli(&["SAVE"]).contains("OK"));
    let dir = seed.dir.clone();
    let mut seed = seed;
    let _ = seed.child.kill();
    let _ = seed.child.wait();
    // Keep the directory (and its dump.rdb) for the restart.
    seed.dir = std::env::temp_dir().join("stillup-redis-nothing-to-remove");
    drop(seed);
    // 50 µs per key: about five seconds of loading, answering clients every KiB.
    let Some(loading) = OwnRedis::start_in(
        test,
        dir,
        &[
            "--key-load-delay",
            "50",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    ) else {
        return;
    };
    let url = loading.url("", "");
    let until = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let got = check_within(&url, Duration::from_secs(2)).await;
        let class = class(&got);
        if class == "db_loading" {
            let said = got.unwrap_err().to_string();
            assert!(said.contains("LOADING"), "{said}");
            break;
        }
        seen.push(class);
        assert!(Instant::now() < until, "never saw db_loading: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
