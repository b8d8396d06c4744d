//! Targets, the shared MariaDB, a MariaDB of our own (a user with a password, TLS), and
//! scripted servers for what a real server cannot be made to say.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use stillup_testkit::services;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::wire::{caching_sha2, caps, frame, native_password};
use super::*;
use crate::net::tls::{client_config, Pem, TlsOptions};

fn target(input: &str) -> MysqlTarget {
    MysqlTarget::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn probe(input: &str) -> MysqlProbe {
    MysqlProbe::new(target(input))
}

fn budget() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

async fn check(probe: &MysqlProbe) -> ProbeResult {
    probe.probe_once(&budget()).await
}

fn class(result: &ProbeResult) -> &'static str {
    match &result.result {
        Ok(()) => "ok",
        Err(failure) => failure.class().as_str(),
    }
}

fn failure(result: &ProbeResult) -> &Failure {
    result.result.as_ref().expect_err("a failure")
}

// ---- targets ----

#[test]
fn targets_default_the_port_and_decode_credentials_and_the_database() {
    let t = target("mysql://db.internal");
    assert_eq!((t.host(), t.port()), ("db.internal", 3306));
    assert_eq!(t.login(), None);
    assert_eq!(t.database(), None);
    assert_eq!(t.ssl_mode(), SslMode::Preferred);
    assert!(
        !t.uses_tls(),
        "PREFERRED verifies nothing, so needs no trust store"
    );
    assert_eq!(t.to_string(), "mysql://db.internal:3306");

    let t = target("  MariaDB://app%40x:p%3Ass%2Fw@127.0.0.1:3307/my%20db  ");
    assert_eq!(t.port(), 3307);
    let login = t.login().unwrap();
    assert_eq!(login.user, "app@x");
    assert_eq!(login.password(), "p:ss/w");
    assert_eq!(t.database(), Some("my db"));
    assert_eq!(
        t.to_string(),
        "mariadb://app%40x:<redacted>@127.0.0.1:3307/my%20db"
    );
    assert!(!format!("{t:?}").contains("p:ss/w"));

    let t = target("mysql://root@[::1]/");
    assert_eq!(t.host(), "::1");
    assert_eq!(t.login().unwrap().password, None);
    assert_eq!(t.to_string(), "mysql://root@[::1]:3306");
}

#[test]
fn ssl_mode_takes_the_mysql_and_the_libpq_spellings() {
    for (value, mode) in [
        ("DISABLED", SslMode::Disabled),
        ("disable", SslMode::Disabled),
        ("Preferred", SslMode::Preferred),
        ("prefer", SslMode::Preferred),
        ("required", SslMode::Required),
        ("require", SslMode::Required),
        ("VERIFY_CA", SslMode::VerifyCa),
        ("verify-ca", SslMode::VerifyCa),
        ("verify_identity", SslMode::VerifyIdentity),
        ("verify-full", SslMode::VerifyIdentity),
    ] {
        let t = target(&format!("mysql://h?ssl-mode={value}"));
        assert_eq!(t.ssl_mode(), mode, "{value}");
        assert_eq!(
            target(&format!("mysql://h?sslmode={value}")).ssl_mode(),
            mode
        );
    }
    assert!(!target("mysql://h?ssl-mode=disabled").uses_tls());
    assert!(!target("mysql://h?ssl-mode=required").uses_tls());
    assert!(target("mysql://h?ssl-mode=verify_ca").uses_tls());
    assert_eq!(
        target("mysql://h/db?ssl-mode=require").to_string(),
        "mysql://h:3306/db?ssl-mode=REQUIRED"
    );
}

#[test]
fn bad_targets_are_refused_naming_the_problem_without_the_password() {
    for (input, words) in [
        ("mysql://h?ssl=true", "unknown parameter \"ssl\""),
        ("mysql://h?ssl-mode=sometimes", "ssl-mode=\"sometimes\""),
        ("mysql://h?ssl-mode=required&sslmode=disable", "twice"),
        ("mysql://h/a/b", "one database"),
        ("mysql://:hunter2@h/", "no user"),
        ("mysql://u:hunter2@h/#x", "fragment"),
        (
            "mysql://u:hunter2@h?timeout=3",
            "unknown parameter \"timeout\"",
        ),
    ] {
        let e = MysqlTarget::parse(input).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, TargetError::Malformed { .. }), "{input}: {e:?}");
        assert!(text.contains(words), "{input}: {text}");
        assert!(text.contains("ssl-mode=required"), "an example: {text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(matches!(
        MysqlTarget::parse("mysql://h:0"),
        Err(TargetError::PortZero { .. })
    ));
    assert!(matches!(
        MysqlTarget::parse("mysql:///db"),
        Err(TargetError::MissingHost { .. })
    ));
    let e = MysqlTarget::parse("mysql://u:p/q@h").unwrap_err();
    assert!(matches!(e, TargetError::AmbiguousUserinfo { .. }), "{e:?}");
}

#[test]
fn set_login_replaces_the_urls_credentials() {
    let mut p = probe("mysql://a:old-secret-1@h/db");
    p.set_login(Login::new("b", Some("new-secret-2")));
    assert_eq!(p.target.login().unwrap().user, "b");
    assert_eq!(p.describe(), "mysql://b:<redacted>@h:3306/db");
    assert_eq!(p.kind(), "mysql");
}

// ---- the shared MariaDB ----

fn shared(test: &str, path_and_query: &str, user: &str) -> Option<MysqlProbe> {
    let addr = services::running(services::MARIADB, test)?;
    Some(probe(&format!("mysql://{user}{addr}{path_and_query}")))
}

#[tokio::test]
async fn the_shared_mariadb_is_ready_without_credentials() {
    let Some(p) = shared("mysql ready without credentials", "", "") else {
        return;
    };
    let r = check(&p).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    assert!(r.timings.connect.is_some() && r.timings.first_byte.is_some());
    assert_eq!(
        r.timings.tls, None,
        "PREFERRED without a login needs no TLS"
    );
    assert!(r.remote.is_some());
}

#[tokio::test]
async fn root_logs_in_to_the_shared_mariadb_and_runs_select_1() {
    let Some(p) = shared("mysql login", "/mysql", "root@") else {
        return;
    };
    let r = check(&p).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    let Some(mut p) = shared("mysql login with set_login", "", "") else {
        return;
    };
    p.set_login(Login::new("root", None));
    assert_eq!(class(&check(&p).await), "ok");
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed() {
    let Some(p) = shared("mysql wrong password", "", "root:not-the-password-7@") else {
        return;
    };
    let r = check(&p).await;
    assert_eq!(class(&r), "auth_failed", "{:?}", r.result);
    let Failure::NotReady { server, said, .. } = failure(&r) else {
        panic!("{:?}", r.result);
    };
    assert_eq!(*server, "MariaDB");
    assert!(said.starts_with("1045 "), "{said}");
    assert!(!failure(&r).to_string().contains("not-the-password-7"));
}

#[tokio::test]
async fn an_unknown_database_is_db_unknown_database() {
    let Some(p) = shared("mysql unknown database", "/no_such_db", "root@") else {
        return;
    };
    let r = check(&p).await;
    assert_eq!(class(&r), "db_unknown_database", "{:?}", r.result);
    assert!(failure(&r).to_string().contains("1049"), "{:?}", r.result);
}

#[tokio::test]
async fn required_tls_on_a_server_without_tls_is_tls_handshake() {
    let Some(p) = shared("mysql required TLS", "?ssl-mode=required", "") else {
        return;
    };
    let r = check(&p).await;
    assert_eq!(class(&r), "tls_handshake", "{:?}", r.result);
    assert!(failure(&r)
        .to_string()
        .contains("the server does not offer TLS"));
}

// ---- a MariaDB of our own: a user with a password, TLS ----

/// A `mariadbd` started for one test in a temporary directory, on a free loopback port, with a
/// user `probe` whose password is `pr0be-secret` and a self-signed certificate for 127.0.0.1.
/// Killed and removed on drop.
struct OwnMariadb {
    child: Child,
    dir: PathBuf,
    port: u16,
    cert: PathBuf,
}

impl OwnMariadb {
    fn start(test: &str) -> Option<OwnMariadb> {
        let skip = |why: String| {
            eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
            None
        };
        let dir = std::env::temp_dir().join(format!(
            "stillup-mysql-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let installed = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_dir_all(&dir);
            return skip("mariadb-install-db is missing or failed".into());
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_path = dir.join("cert.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(
            dir.join("init.sql"),
            "CREATE USER 'probe'@'127.0.0.1' IDENTIFIED BY 'pr0be-secret';\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let path = |name: &str| dir.join(name).display().to_string();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path("s")))
            .arg(format!("--init-file={}", path("init.sql")))
            .arg(format!("--ssl-cert={}", path("cert.pem")))
            .arg(format!("--ssl-key={}", path("key.pem")))
            .args([
                "--user=root",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=8M",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).map_or(Stdio::null(), Stdio::from))
            .spawn();
        let Ok(child) = child else {
            let _ = std::fs::remove_dir_all(&dir);
            return skip("mariadbd would not start".into());
        };
        let server = OwnMariadb {
            child,
            dir,
            port,
            cert: cert_path,
        };
        // Up when it greets; the init file has run by then.
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..300 {
            let greeted = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(1)))?;
                    std::io::Read::read(&mut s, &mut [0u8; 8])
                });
            if greeted.is_ok_and(|n| n > 0) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        skip("mariadbd did not greet within 30 s".into())
    }

    fn url(&self, user: &str, query: &str) -> String {
        format!("mysql://{user}127.0.0.1:{}{query}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for OwnMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn trusting(cert: &Path) -> Arc<ClientConfig> {
    client_config(&TlsOptions {
        ca: vec![Pem::read(cert).unwrap()],
        ..TlsOptions::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_mariadb_checks_passwords_and_tls_modes() {
    let Some(server) = OwnMariadb::start("mysql own MariaDB") else {
        return;
    };
    let run = |url: String| async move { check(&probe(&url)).await };

    // mysql_native_password with a real password, over TLS (PREFERRED, offered) and without.
    let r = run(server.url("probe:pr0be-secret@", "")).await;
    assert_eq!(class(&r), "ok", "{:?}\n{}", r.result, server.log());
    assert!(
        r.timings.tls.is_some(),
        "PREFERRED with a login uses TLS when offered"
    );
    let r = run(server.url("probe:pr0be-secret@", "?ssl-mode=disabled")).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    assert_eq!(r.timings.tls, None);
    let r = run(server.url("probe:wrong@", "?ssl-mode=disabled")).await;
    assert_eq!(class(&r), "auth_failed", "{:?}", r.result);
    let r = run(server.url("probe@", "?ssl-mode=disabled")).await;
    assert_eq!(class(&r), "auth_failed", "no password: {:?}", r.result);

    // REQUIRED does not verify; the VERIFY modes do, with the probe's trust.
    let r = run(server.url("", "?ssl-mode=required")).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    assert!(r.timings.tls.is_some());
    let r = run(server.url("probe:pr0be-secret@", "?ssl-mode=required")).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    let r = run(server.url("probe:pr0be-secret@", "?ssl-mode=verify_identity")).await;
    assert_eq!(class(&r), "tls_verify", "{:?}", r.result);
    let mut p = probe(&server.url("probe:pr0be-secret@", "?ssl-mode=verify-full"));
    p.set_tls(&trusting(&server.cert));
    let r = check(&p).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
}

// ---- scripted servers ----

/// A server on 127.0.0.1:0 that runs `script` on its first connection.
async fn scripted<F, Fut>(script: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            script(stream).await;
        }
    });
    addr
}

/// One packet, read exactly (what follows it, e.g. a TLS ClientHello, stays in the socket).
async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> Packet {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.unwrap();
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    Packet {
        seq: header[3],
        payload,
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, seq: u8, payload: &[u8]) {
    stream.write_all(&frame(seq, payload)).await.unwrap();
}

const NONCE: &[u8; 20] = b"abcdefghijklmnopqrst";

/// A MySQL 8 style greeting asking for `plugin` first.
fn greeting(version: &str, plugin: &str, extra_caps: u32) -> Vec<u8> {
    let capabilities = caps::LONG_PASSWORD
        | caps::LONG_FLAG
        | caps::CONNECT_WITH_DB
        | caps::PROTOCOL_41
        | caps::TRANSACTIONS
        | caps::SECURE_CONNECTION
        | caps::PLUGIN_AUTH
        | extra_caps;
    let mut p = vec![10];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&8u32.to_le_bytes());
    p.extend_from_slice(&NONCE[..8]);
    p.push(0);
    p.extend_from_slice(&(capabilities as u16).to_le_bytes());
    p.push(255);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&NONCE[8..]);
    p.push(0);
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p
}

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];

/// The fields of a HandshakeResponse41 the scripts check: user, auth response, plugin.
fn parse_response(payload: &[u8]) -> (String, Vec<u8>, String) {
    let rest = &payload[32..];
    let nul = rest.iter().position(|&b| b == 0).unwrap();
    let user = String::from_utf8(rest[..nul].to_vec()).unwrap();
    let rest = &rest[nul + 1..];
    let len = usize::from(rest[0]);
    let auth = rest[1..1 + len].to_vec();
    let rest = &rest[1 + len..];
    let plugin = String::from_utf8(rest.split(|&b| b == 0).next().unwrap().to_vec()).unwrap();
    (user, auth, plugin)
}

/// Answer `SELECT 1` with one column and one row, then wait for COM_QUIT.
async fn answer_select_1<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let query = read_packet(stream).await;
    assert_eq!(
        (query.seq, query.payload.as_slice()),
        (0, &b"\x03SELECT 1"[..])
    );
    send(stream, 1, &[1]).await;
    send(
        stream,
        2,
        b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00",
    )
    .await;
    send(stream, 3, &[0xfe, 0, 0, 2, 0]).await;
    send(stream, 4, b"\x011").await;
    send(stream, 5, &[0xfe, 0, 0, 2, 0]).await;
    let quit = read_packet(stream).await;
    assert_eq!(quit.payload, [wire::COM_QUIT]);
}

async fn first_packet(bytes: &[u8]) -> ProbeResult {
    let bytes = bytes.to_vec();
    let addr = scripted(move |mut s| async move {
        s.write_all(&bytes).await.unwrap();
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    check(&probe(&format!("mysql://{addr}"))).await
}

#[tokio::test]
async fn an_err_packet_in_place_of_the_greeting_says_why() {
    let r = first_packet(b"\x17\x00\x00\x00\xff\x10\x04Too many connections").await;
    assert_eq!(class(&r), "db_too_many_connections", "{:?}", r.result);
    assert_eq!(
        failure(&r),
        &Failure::NotReady {
            reason: NotReadyReason::TooManyConnections,
            server: "MySQL",
            said: "1040 Too many connections".into(),
        }
    );
    let blocked = b"\xff\x69\x04Host '10.1.2.3' is blocked because of many connection errors";
    let r = first_packet(&frame(0, blocked)).await;
    assert_eq!(class(&r), "db_host_blocked", "{:?}", r.result);
    assert!(
        failure(&r).to_string().contains("1129 Host"),
        "{:?}",
        r.result
    );
}

#[tokio::test]
async fn caching_sha2_fast_auth_logs_in() {
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        let response = read_packet(&mut s).await;
        assert_eq!(response.seq, 1);
        let (user, auth, plugin) = parse_response(&response.payload);
        assert_eq!(
            (user.as_str(), plugin.as_str()),
            ("app", "caching_sha2_password")
        );
        assert_eq!(auth, caching_sha2(b"s3cret", NONCE));
        send(&mut s, 2, &[0x01, wire::FAST_AUTH_SUCCESS]).await;
        send(&mut s, 3, OK).await;
        answer_select_1(&mut s).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app:s3cret@{addr}"))).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
}

#[tokio::test]
async fn an_auth_switch_to_native_password_is_followed() {
    const SWITCHED: &[u8; 20] = b"ZYXWVUTSRQPONMLKJIHG";
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        read_packet(&mut s).await;
        let switch = [&b"\xfemysql_native_password\0"[..], SWITCHED, b"\0"].concat();
        send(&mut s, 2, &switch).await;
        let answer = read_packet(&mut s).await;
        assert_eq!(answer.seq, 3);
        assert_eq!(answer.payload, native_password(b"s3cret", SWITCHED));
        send(&mut s, 4, OK).await;
        answer_select_1(&mut s).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app:s3cret@{addr}/shop"))).await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
}

#[tokio::test]
async fn full_caching_sha2_auth_over_plain_tcp_says_to_use_tls() {
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        read_packet(&mut s).await;
        send(&mut s, 2, &[0x01, wire::PERFORM_FULL_AUTH]).await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app:s3cret@{addr}"))).await;
    assert_eq!(class(&r), "auth_failed", "{:?}", r.result);
    assert!(failure(&r).to_string().contains("ssl-mode=required"));
}

#[tokio::test]
async fn an_unknown_plugin_and_a_failing_query_are_reported() {
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        read_packet(&mut s).await;
        send(&mut s, 2, b"\xfeauth_gssapi_client\0xyz\0").await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app@{addr}"))).await;
    assert_eq!(class(&r), "auth_failed", "{:?}", r.result);
    assert!(failure(&r).to_string().contains("auth_gssapi_client"));

    let addr = scripted(|mut s| async move {
        send(
            &mut s,
            0,
            &greeting("10.6.4-MariaDB", "mysql_native_password", 0),
        )
        .await;
        read_packet(&mut s).await;
        send(&mut s, 2, OK).await;
        read_packet(&mut s).await;
        send(&mut s, 1, b"\xff\x1d\x04#08S01Server shutdown in progress").await;
    })
    .await;
    let r = check(&probe(&format!("mariadb://app@{addr}"))).await;
    assert_eq!(class(&r), "db_starting", "{:?}", r.result);
    let Failure::NotReady { server, .. } = failure(&r) else {
        panic!();
    };
    assert_eq!(*server, "MariaDB");
}

#[tokio::test]
async fn tls_required_but_not_offered_is_refused_before_the_login() {
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app:pw@{addr}?ssl-mode=verify-ca"))).await;
    assert_eq!(class(&r), "tls_handshake", "{:?}", r.result);
}

#[tokio::test]
async fn hostile_first_bytes_are_classified() {
    let r = first_packet(b"\xff\xff\xff\x00\x0a5.7.0").await;
    assert_eq!(class(&r), "invalid_response", "16 MB claim: {:?}", r.result);
    assert!(
        failure(&r).to_string().contains("16777215"),
        "{:?}",
        r.result
    );
    let r = first_packet(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    assert_eq!(class(&r), "protocol_mismatch", "{:?}", r.result);
    assert!(failure(&r).to_string().contains("HTTP"), "{:?}", r.result);
    let r = first_packet(b"SSH-2.0-OpenSSH_9.6\r\n").await;
    assert_eq!(class(&r), "protocol_mismatch", "{:?}", r.result);
    let r = first_packet(b"\x13\x37\xc0\xde\x01\x02\x03garbage").await;
    assert_eq!(class(&r), "protocol_mismatch", "{:?}", r.result);
    let r = first_packet(b"\x05\x00\x00\x00\x09abcd").await;
    assert_eq!(class(&r), "protocol_mismatch", "protocol 9: {:?}", r.result);
    // A handshake cut short: the right protocol, broken framing.
    let addr = scripted(|mut s| async move {
        s.write_all(b"\x50\x00\x00\x00\x0a8.0.3").await.unwrap();
    })
    .await;
    let r = check(&probe(&format!("mysql://{addr}"))).await;
    assert_eq!(class(&r), "invalid_response", "{:?}", r.result);
    // A whole packet whose fields run out.
    let r = first_packet(b"\x03\x00\x00\x00\x0a8\x00").await;
    assert_eq!(class(&r), "invalid_response", "{:?}", r.result);
}

#[tokio::test]
async fn silence_is_response_timeout_and_a_close_is_reset() {
    let addr = scripted(|mut s| async move {
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let p = probe(&format!("mysql://{addr}"));
    let r = p
        .probe_once(&Deadline::after(Duration::from_millis(300)))
        .await;
    assert_eq!(class(&r), "response_timeout", "{:?}", r.result);

    let addr = scripted(|s| async move { drop(s) }).await;
    let r = check(&probe(&format!("mysql://{addr}"))).await;
    assert_eq!(class(&r), "reset", "{:?}", r.result);
    assert!(failure(&r).to_string().contains("before its greeting"));

    // Silence after the login was sent.
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "mysql_native_password", 0)).await;
        read_packet(&mut s).await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let p = probe(&format!("mysql://app:pw@{addr}"));
    let r = p
        .probe_once(&Deadline::after(Duration::from_millis(500)))
        .await;
    assert_eq!(class(&r), "response_timeout", "{:?}", r.result);
}

/// A rustls server configuration with a fresh self-signed certificate for 127.0.0.1.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn full_caching_sha2_auth_over_tls_sends_the_password() {
    let acceptor = tls_acceptor();
    let addr = scripted(|mut s| async move {
        send(
            &mut s,
            0,
            &greeting("8.0.36", "caching_sha2_password", caps::SSL),
        )
        .await;
        let ssl_request = read_packet(&mut s).await;
        assert_eq!((ssl_request.seq, ssl_request.payload.len()), (1, 32));
        let flags = u32::from_le_bytes(ssl_request.payload[..4].try_into().unwrap());
        assert_ne!(flags & caps::SSL, 0);
        let mut s = acceptor.accept(s).await.unwrap();
        let response = read_packet(&mut s).await;
        assert_eq!(response.seq, 2);
        send(&mut s, 3, &[0x01, wire::PERFORM_FULL_AUTH]).await;
        let clear = read_packet(&mut s).await;
        assert_eq!((clear.seq, clear.payload.as_slice()), (4, &b"s3cret\0"[..]));
        send(&mut s, 5, OK).await;
        answer_select_1(&mut s).await;
    })
    .await;
    let r = check(&probe(&format!(
        "mysql://app:s3cret@{addr}?ssl-mode=required"
    )))
    .await;
    assert_eq!(class(&r), "ok", "{:?}", r.result);
    assert!(r.timings.tls.is_some());
}

#[tokio::test]
async fn a_server_slower_than_max_latency_is_condition_failed() {
    let addr = scripted(|mut s| async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let mut p = probe(&format!("mysql://{addr}"));
    p.set_max_latency(Some(Duration::from_millis(20)));
    let r = check(&p).await;
    assert_eq!(class(&r), "condition_failed", "{:?}", r.result);
    assert!(
        failure(&r).to_string().contains("handshake"),
        "{:?}",
        r.result
    );
}

#[tokio::test]
async fn endless_authentication_requests_are_invalid_response() {
    let addr = scripted(|mut s| async move {
        send(&mut s, 0, &greeting("8.0.36", "caching_sha2_password", 0)).await;
        read_packet(&mut s).await;
        // "Fast auth succeeded" again and again, never the OK that should follow.
        for seq in 2..40u8 {
            send(&mut s, seq, &[0x01, wire::FAST_AUTH_SUCCESS]).await;
        }
        let _ = s.read(&mut [0u8; 64]).await;
    })
    .await;
    let r = check(&probe(&format!("mysql://app:pw@{addr}"))).await;
    assert_eq!(class(&r), "invalid_response", "{:?}", r.result);
}
