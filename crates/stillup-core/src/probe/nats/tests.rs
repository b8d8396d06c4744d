//! The NATS probe against scripted servers, the machine's shared NATS (read-only use), and
//! nats-server instances of its own on ephemeral ports (auth, TLS, a connection limit), each
//! killed when the test ends.

use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stillup_testkit::services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::net::tls::{client_config, TlsOptions};

const INFO: &[u8] = b"INFO {\"server_id\":\"S\",\"server_name\":\"S\",\"version\":\"2.9.10\",\"proto\":1,\"auth_required\":true,\"max_payload\":1048576}\r\n";

fn target(input: &str) -> NatsTarget {
    NatsTarget::parse(input).unwrap()
}

async fn check(input: &str) -> Result<(), Failure> {
    check_within(input, Duration::from_secs(5)).await
}

async fn check_within(input: &str, budget: Duration) -> Result<(), Failure> {
    NatsProbe::new(target(input))
        .probe_once(&Deadline::after(budget))
        .await
        .result
}

fn class(result: &Result<(), Failure>) -> &'static str {
    match result {
        Ok(()) => "ready",
        Err(failure) => failure.class().as_str(),
    }
}

#[test]
fn targets_parse_credentials_and_tokens_and_refuse_extras() {
    let t = target("nats://127.0.0.1");
    assert_eq!(
        (t.host(), t.port(), t.requires_tls()),
        ("127.0.0.1", 4222, false)
    );
    assert!(t.uses_tls() && t.auth().is_none());
    assert_eq!(t.to_string(), "nats://127.0.0.1:4222");

    let t = target("NATS+TLS://app:s%3Acret@[::1]:4333/");
    assert!(t.requires_tls());
    match t.auth() {
        Some(NatsAuth::User(login)) => {
            assert_eq!((&*login.user, login.password()), ("app", "s:cret"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.to_string(), "nats+tls://app:<redacted>@[::1]:4333");
    assert!(!format!("{t:?}").contains("s:cret"));

    let t = target("nats://t0ken-value@localhost:4222");
    assert!(matches!(t.auth(), Some(NatsAuth::Token(token)) if token.expose() == "t0ken-value"));
    assert_eq!(t.to_string(), "nats://<redacted>@localhost:4222");
    assert!(!format!("{t:?}").contains("t0ken-value"));

    for (bad, words) in [
        ("nats://127.0.0.1/subject", "has a path"),
        ("nats://127.0.0.1?name=x", "take no parameters"),
        ("nats://127.0.0.1#x", "fragment"),
    ] {
        let e = NatsTarget::parse(bad).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, TargetError::Malformed { .. }), "{bad}: {text}");
        assert!(
            text.contains(words) && text.contains(EXAMPLE),
            "{bad}: {text}"
        );
    }
    assert!(matches!(
        NatsTarget::parse("nats://127.0.0.1:0"),
        Err(TargetError::PortZero { .. })
    ));
    assert!(matches!(
        NatsTarget::parse("nats://"),
        Err(TargetError::MissingHost { .. }) | Err(TargetError::NotAUrl { .. })
    ));
}

enum Step {
    Send(Vec<u8>),
    Read,
    Close,
}

/// A server that plays `steps` on every connection, then stays silent with it open.
async fn scripted(steps: Vec<Step>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let steps = std::sync::Arc::new(steps);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let steps = steps.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                for step in steps.iter() {
                    match step {
                        Step::Send(bytes) => {
                            if socket.write_all(bytes).await.is_err() {
                                return;
                            }
                        }
                        Step::Read => {
                            if matches!(socket.read(&mut buf).await, Ok(0) | Err(_)) {
                                return;
                            }
                        }
                        Step::Close => return,
                    }
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    addr
}

fn send(bytes: &[u8]) -> Step {
    Step::Send(bytes.to_vec())
}

#[tokio::test]
async fn recorded_answers_have_their_classes() {
    let endless = [b"INFO {".to_vec(), vec![b' '; 200 * 1024]].concat();
    let cases: Vec<(Vec<Step>, &str, &str)> = vec![
        (vec![send(INFO), Step::Read, send(b"PONG\r\n")], "", "ready"),
        (
            vec![send(INFO), Step::Read, send(b"+OK\r\nPING\r\nPONG\r\n")],
            "u:p@",
            "ready",
        ),
        (
            vec![
                send(INFO),
                Step::Read,
                send(b"-ERR 'Authorization Violation'\r\n"),
            ],
            "",
            "ready",
        ),
        (
            vec![
                send(INFO),
                Step::Read,
                send(b"-ERR 'Authorization Violation'\r\n"),
            ],
            "u:p@",
            "auth_failed",
        ),
        (
            vec![
                send(INFO),
                Step::Read,
                send(b"-ERR 'Authorization Violation'\r\n"),
            ],
            "t0ken@",
            "auth_failed",
        ),
        (
            vec![
                send(INFO),
                send(b"-ERR 'maximum connections exceeded'\r\n"),
                Step::Close,
            ],
            "",
            "db_too_many_connections",
        ),
        (
            vec![
                send(INFO),
                Step::Read,
                send(b"-ERR 'Unknown Protocol Operation'\r\n"),
            ],
            "",
            "server_unavailable",
        ),
        (
            vec![send(INFO), Step::Read, send(b"MSG x 1 0\r\n\r\n")],
            "",
            "invalid_response",
        ),
        (
            vec![send(b"INFO {\"tls_required\":tru}\r\n")],
            "",
            "invalid_response",
        ),
        (vec![send(&endless)], "", "invalid_response"),
        (
            vec![send(b"\x00\x01\xffgarbage\r\n")],
            "",
            "protocol_mismatch",
        ),
        (vec![send(b"-ERR 'x'\r\n")], "", "protocol_mismatch"),
        (
            vec![send(b"SSH-2.0-OpenSSH_9.6\r\n")],
            "",
            "protocol_mismatch",
        ),
        (vec![send(b"+PONG\r\n")], "", "protocol_mismatch"),
        (vec![Step::Close], "", "reset"),
        (vec![send(INFO), Step::Close], "", "reset"),
        (vec![send(b"INF"), Step::Close], "", "reset"),
    ];
    for (steps, userinfo, expected) in cases {
        let addr = scripted(steps).await;
        let started = Instant::now();
        let got = check_within(&format!("nats://{userinfo}{addr}"), Duration::from_secs(2)).await;
        assert_eq!(class(&got), expected, "{userinfo} {expected}: {got:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let ssh = scripted(vec![send(b"SSH-2.0-OpenSSH_9.6\r\n")]).await;
    let text = check(&format!("nats://{ssh}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("SSH"), "{text}");
    let full = scripted(vec![
        send(INFO),
        send(b"-ERR 'maximum connections exceeded'\r\n"),
    ])
    .await;
    match check(&format!("nats://{full}")).await {
        Err(Failure::NotReady { server, said, .. }) => {
            assert_eq!(server, "NATS");
            assert_eq!(said, "-ERR 'maximum connections exceeded'");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn silence_before_and_after_info_is_a_response_timeout() {
    for steps in [vec![], vec![send(INFO)], vec![send(b"INFO {\"a\":")]] {
        let addr = scripted(steps).await;
        let got = check_within(&format!("nats://{addr}"), Duration::from_millis(300)).await;
        assert_eq!(class(&got), "response_timeout", "{got:?}");
    }
}

#[tokio::test]
async fn credentials_go_into_connect_as_json() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.write_all(INFO).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            socket.write_all(b"PONG\r\n").await.unwrap();
        }
        seen
    });
    assert!(check(&format!("nats://app:pw@{addr}")).await.is_ok());
    assert!(check(&format!("nats://tok@{addr}")).await.is_ok());
    let mut probe = NatsProbe::new(target(&format!("nats://app:pw@{addr}")));
    probe.set_token(Secret::new("bearer-token"));
    assert!(probe
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await
        .result
        .is_ok());
    let seen = server.await.unwrap();
    assert!(
        seen[0].contains(r#""user":"app""#) && seen[0].contains(r#""pass":"pw""#),
        "{}",
        seen[0]
    );
    assert!(seen[0].ends_with("PING\r\n"));
    assert!(seen[1].contains(r#""auth_token":"tok""#), "{}", seen[1]);
    assert!(seen[2].contains(r#""auth_token":"bearer-token""#) && !seen[2].contains("\"user\""));
}

#[tokio::test]
async fn the_shared_nats_is_ready_with_or_without_a_login() {
    let Some(addr) = services::running(services::NATS, "nats shared") else {
        return;
    };
    // No authentication configured: NATS accepts any CONNECT.
    for userinfo in ["", "anyone:anything@", "some-token@"] {
        let got = check(&format!("nats://{userinfo}{addr}")).await;
        assert_eq!(class(&got), "ready", "{userinfo}: {got:?}");
    }
    let result = NatsProbe::new(target(&format!("nats://{addr}")))
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await;
    assert!(result.timings.first_byte.is_some() && result.timings.tls.is_none());
    assert_eq!(result.remote, Some(addr));
    // It offers no TLS: nats+tls:// says so rather than send a ClientHello into the protocol.
    let got = check(&format!("nats+tls://{addr}")).await;
    assert_eq!(class(&got), "tls_handshake", "{got:?}");
    assert!(got.unwrap_err().to_string().contains("offers no TLS"));
}

/// A nats-server of the test's own on a free port, killed on drop.
struct OwnNats {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnNats {
    fn start(test: &str, args: &[&str]) -> Option<OwnNats> {
        let dir = std::env::temp_dir().join(format!(
            "stillup-nats-{}-{}",
            std::process::id(),
            test.replace(' ', "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = ["/usr/sbin/nats-server", "nats-server"]
            .into_iter()
            .find(|b| !b.starts_with('/') || std::path::Path::new(b).exists())
            .unwrap_or("nats-server");
        // The server picks its own free port and writes it to a ports file: a port chosen here
        // and released could be taken by another test's server before this one binds it.
        let spawned = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(&dir)
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os(services::REQUIRE_VARIABLE).is_none() => {
                eprintln!("\n!!!!! SKIPPED {test}: cannot start nats-server ({e}) !!!!!\n");
                return None;
            }
            Err(e) => panic!("{test} needs nats-server: {e}"),
        };
        let mut server = OwnNats {
            child,
            port: 0,
            dir: dir.clone(),
        };
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(port) = ports_file_port(&dir) {
                if StdStream::connect(("127.0.0.1", port)).is_ok() {
                    server.port = port;
                    return Some(server);
                }
            }
            assert!(Instant::now() < until, "{test}: nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, scheme: &str, userinfo: &str) -> String {
        format!("{scheme}://{userinfo}127.0.0.1:{}", self.port)
    }
}

/// The client port a nats-server wrote to its ports file (`{"nats":["nats://127.0.0.1:P"],…}`).
fn ports_file_port(dir: &std::path::Path) -> Option<u16> {
    let file = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))?;
    let ports: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file.path()).ok()?).ok()?;
    let url = ports["nats"].get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_nats_with_a_user_and_password_checks_the_login() {
    let Some(nats) = OwnNats::start("nats user", &["--user", "u", "--pass", "p4ss"]) else {
        return;
    };
    for (userinfo, expected) in [
        ("", "ready"),
        ("u:p4ss@", "ready"),
        ("u:wrong@", "auth_failed"),
        ("x:p4ss@", "auth_failed"),
        ("p4ss@", "auth_failed"),
    ] {
        let got = check(&nats.url("nats", userinfo)).await;
        assert_eq!(class(&got), expected, "{userinfo}: {got:?}");
        if let Err(failure) = &got {
            let text = failure.to_string();
            assert!(text.contains("Authorization Violation"), "{text}");
            assert!(!text.contains("wrong"), "{text}");
        }
    }
    let mut probe = NatsProbe::new(target(&nats.url("nats", "u:wrong@")));
    probe.set_login(Login::new("u", Some("p4ss")));
    let result = probe
        .probe_once(&Deadline::after(Duration::from_secs(5)))
        .await;
    assert_eq!(class(&result.result), "ready", "{:?}", result.result);
}

#[tokio::test]
async fn a_nats_with_a_token_checks_it() {
    let Some(nats) = OwnNats::start("nats token", &["--auth", "s3cret-token"]) else {
        return;
    };
    for (userinfo, expected) in [
        ("", "ready"),
        ("s3cret-token@", "ready"),
        ("other-token@", "auth_failed"),
    ] {
        let got = check(&nats.url("nats", userinfo)).await;
        assert_eq!(class(&got), expected, "{userinfo}: {got:?}");
    }
}

/// A full client (CONNECT answered by PONG), so the server counts it whatever its timing;
/// `None` when the server closed it or said something else first.
fn full_client(port: u16) -> Option<StdStream> {
    let mut client = StdStream::connect(("127.0.0.1", port)).ok()?;
    client.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut greeting = [0u8; 16];
    let n = std::io::Read::read(&mut client, &mut greeting).ok()?;
    if !greeting[..n].starts_with(b"INFO") {
        return None;
    }
    std::io::Write::write_all(&mut client, b"CONNECT {\"verbose\":false}\r\nPING\r\n").ok()?;
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"PONG") {
        let n = std::io::Read::read(&mut client, &mut chunk).ok()?;
        if n == 0 || seen.len() > 1 << 20 || seen.windows(4).any(|w| w == b"-ERR") {
            return None;
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    Some(client)
}

#[tokio::test]
async fn a_nats_at_its_connection_limit_says_so() {
    let test = "nats max connections";
    let dir = std::env::temp_dir().join(format!("stillup-nats-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("limit.conf");
    std::fs::write(&conf, "max_connections: 1\n").unwrap();
    let started = OwnNats::start(test, &["-c", conf.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(nats) = started else {
        return;
    };
    // One connection held open fills the server (held first: a probe's own connection may
    // still count for a moment after it ends). The server may still count the connection its
    // start-up check made, and refuse this one: then it is tried again, boundedly.
    let mut held = None;
    for _ in 0..50 {
        if let Some(client) = full_client(nats.port) {
            held = Some(client);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = held.expect("the held client got a PONG within 5 s");
    std::thread::sleep(Duration::from_millis(100));
    let got = check(&nats.url("nats", "")).await;
    assert_eq!(class(&got), "db_too_many_connections", "{got:?}");
    drop(held);
    let until = Instant::now() + Duration::from_secs(5);
    while class(&check(&nats.url("nats", "")).await) != "ready" {
        assert!(
            Instant::now() < until,
            "still full after the held connection closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tls_follows_the_scheme_or_the_servers_info() {
    let test = "nats tls";
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = std::env::temp_dir().join(format!("stillup-nats-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let started = OwnNats::start(
        test,
        &[
            "--tls",
            "--tlscert",
            cert_file.to_str().unwrap(),
            "--tlskey",
            key_file.to_str().unwrap(),
            "--user",
            "u",
            "--pass",
            "p",
        ],
    );
    let Some(nats) = started else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let trusting = client_config(&TlsOptions {
        ca: vec![crate::net::tls::Pem::read(&cert_file).unwrap()],
        ..TlsOptions::default()
    })
    .unwrap();
    for (scheme, userinfo, expected) in [
        ("nats+tls", "u:p@", "ready"),
        // nats:// follows the INFO's tls_required, as NATS clients do.
        ("nats", "u:p@", "ready"),
        ("nats+tls", "u:bad@", "auth_failed"),
        ("nats+tls", "", "ready"),
    ] {
        let mut probe = NatsProbe::new(target(&nats.url(scheme, userinfo)));
        probe.set_tls(&trusting);
        let result = probe
            .probe_once(&Deadline::after(Duration::from_secs(5)))
            .await;
        assert_eq!(
            class(&result.result),
            expected,
            "{scheme} {userinfo}: {:?}",
            result.result
        );
        assert!(result.timings.tls.is_some());
    }
    // The default trust does not know the self-signed certificate.
    let got = check(&nats.url("nats+tls", "u:p@")).await;
    assert_eq!(class(&got), "tls_verify", "{got:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
