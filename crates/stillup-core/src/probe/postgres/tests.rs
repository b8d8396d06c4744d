//! The probe against the shared PostgreSQL, against throwaway instances put in states the
//! shared one must never be put in, and against scripted servers speaking broken or foreign
//! bytes.

use super::*;

use std::future::Future;

use stillup_testkit::pg_instance::{PgConfig, PgInstance};
use stillup_testkit::services;
use tokio::net::{TcpListener, TcpStream};

use crate::failure::FailureClass;

const BUDGET: Duration = Duration::from_secs(10);

fn target(url: &str) -> PostgresTarget {
    PostgresTarget::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

async fn probe(url: &str) -> ProbeResult {
    PostgresProbe::new(target(url))
        .probe_once(&Deadline::after(BUDGET))
        .await
}

#[track_caller]
fn assert_ready(result: &ProbeResult) {
    assert!(result.result.is_ok(), "{:?}", result.result);
}

#[track_caller]
fn assert_class(result: &ProbeResult, expected: FailureClass) -> Failure {
    match &result.result {
        Err(failure) if failure.class() == expected => failure.clone(),
        other => panic!("expected {expected}, got {other:?}"),
    }
}

fn said(failure: &Failure) -> &str {
    match failure {
        Failure::NotReady { said, .. } => said,
        other => panic!("not a NotReady failure: {other:?}"),
    }
}

// ---- parsing ----

#[test]
fn urls_parse_with_libpq_defaults() {
    let t = target("postgres://127.0.0.1/test");
    assert_eq!((t.host(), t.port()), ("127.0.0.1", DEFAULT_PORT));
    assert_eq!(t.database(), Some("test"));
    assert_eq!(t.sslmode(), SslMode::Prefer);
    assert_eq!(t.session_attrs(), SessionAttrs::Any);
    assert!(t.uses_tls());
    assert!(t.login().is_none());
    assert_eq!(t.to_string(), "postgres://127.0.0.1:5432/test");

    let t = target("PostgreSQL://a%40b:p%40ss%2Fw@[::1]:6543/my%20db?sslmode=disable&target_session_attrs=primary");
    assert_eq!((t.host(), t.port()), ("::1", 6543));
    let login = t.login().unwrap();
    assert_eq!((login.user.as_str(), login.password()), ("a@b", "p@ss/w"));
    assert_eq!(t.database(), Some("my db"));
    assert!(!t.uses_tls());
    assert_eq!(t.session_attrs(), SessionAttrs::Primary);
    assert_eq!(
        t.to_string(),
        "postgresql://a%40b:<redacted>@[::1]:6543/my%20db?sslmode=disable&target_session_attrs=primary"
    );
    assert!(!format!("{t:?}").contains("p@ss"));

    let t = target("postgres://app@db.internal?application_name=deploy&connect_timeout=3");
    assert_eq!(t.login().unwrap().password, None);
    assert_eq!(t.database(), None);
    assert_eq!(
        t.to_string(),
        "postgres://app@db.internal:5432?application_name=deploy&connect_timeout=3"
    );
}

#[test]
fn bad_urls_are_refused_naming_the_problem_and_never_the_password() {
    for (url, words) in [
        ("postgres://h/db?sslmod=require", "\"sslmod\""),
        ("postgres://h/db?sslmode=allow", "sslmode=\"allow\""),
        (
            "postgres://h/db?target_session_attrs=standby",
            "target_session_attrs=\"standby\"",
        ),
        ("postgres://u:hunter22@h/db?password=x", "\"password\""),
        ("postgres://h1,h2/db", "several hosts"),
        ("postgres://%2Fvar%2Frun%2Fpostgresql/db", "Unix socket"),
        ("postgres://h/a/b", "no '/'"),
        ("postgres://h/db#frag", "fragment"),
    ] {
        let e = PostgresTarget::parse(url).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, TargetError::Malformed { .. }), "{url}: {e:?}");
        assert!(text.contains(words), "{url}: {text}");
        assert!(
            text.contains("postgres://db.internal:5432/app"),
            "an example: {text}"
        );
        assert!(!text.contains("hunter22"), "{text}");
    }
    assert!(matches!(
        PostgresTarget::parse("postgres://h:0/db"),
        Err(TargetError::PortZero { .. })
    ));
    assert!(matches!(
        PostgresTarget::parse("postgres:///db"),
        Err(TargetError::MissingHost { .. })
    ));
    assert!(matches!(
        PostgresTarget::parse("mysql://h/db"),
        Err(TargetError::UnsupportedScheme { .. })
    ));
}

// ---- the shared server ----

#[tokio::test]
async fn the_shared_server_is_ready_without_credentials() {
    let Some(addr) = services::running(services::POSTGRES, "postgres ready without credentials")
    else {
        return;
    };
    let result = probe(&format!("postgres://{addr}/test")).await;
    assert_ready(&result);
    assert_eq!(result.remote, Some(addr));
    assert!(result.timings.connect.is_some());
    assert!(result.timings.first_byte.is_some());
}

#[tokio::test]
async fn a_password_under_trust_logs_in_and_runs_the_check_query() {
    let Some(addr) = services::running(services::POSTGRES, "postgres login under trust") else {
        return;
    };
    assert_ready(&probe(&format!("postgres://postgres:anything@{addr}/test")).await);
    // --user replaces the URL's credentials.
    let mut p = PostgresProbe::new(target(&format!("postgres://{addr}/test")));
    p.set_login(Login::new("root", Some("whatever")));
    assert_ready(&p.probe_once(&Deadline::after(BUDGET)).await);
    // The shared server is a primary.
    assert_ready(
        &probe(&format!(
            "postgres://postgres:x@{addr}/test?target_session_attrs=read-write"
        ))
        .await,
    );
    assert_ready(
        &probe(&format!(
            "postgres://{addr}/test?target_session_attrs=primary"
        ))
        .await,
    );
}

#[tokio::test]
async fn an_unknown_database_is_named_as_such() {
    let Some(addr) = services::running(services::POSTGRES, "postgres unknown database") else {
        return;
    };
    for url in [
        format!("postgres://{addr}/no_such_db"),
        format!("postgres://postgres:pw@{addr}/no_such_db"),
    ] {
        let failure = assert_class(&probe(&url).await, FailureClass::DbUnknownDatabase);
        assert!(said(&failure).starts_with("3D000 "), "{failure:?}");
    }
}

#[tokio::test]
async fn sslmodes_encrypt_or_not_as_libpq_does() {
    let Some(addr) = services::running(services::POSTGRES, "postgres sslmodes") else {
        return;
    };
    let plain = probe(&format!("postgres://{addr}/test?sslmode=disable")).await;
    assert_ready(&plain);
    assert_eq!(plain.timings.tls, None);
    let required = probe(&format!(
        "postgres://postgres:x@{addr}/test?sslmode=require"
    ))
    .await;
    if let Err(Failure::TlsHandshake { detail }) = &required.result {
        if detail.contains("answered 'N'") {
            eprintln!("SKIPPED the TLS half: the shared PostgreSQL has ssl = off");
            return;
        }
    }
    assert_ready(&required);
    assert!(required.timings.tls.is_some());
    assert_ready(&probe(&format!("postgres://{addr}/test?sslmode=prefer")).await);
    // Debian's snakeoil certificate is self-signed: verify-full refuses it.
    let verified = probe(&format!("postgres://{addr}/test?sslmode=verify-full")).await;
    assert_class(&verified, FailureClass::TlsVerify);
}

// ---- throwaway instances ----

#[tokio::test]
async fn a_standby_that_refuses_connections_is_starting_in_its_own_words() {
    let Ok(standby) = PgInstance::start(PgConfig::default().set("hot_standby", "off").as_standby())
    else {
        eprintln!("\n!!!!! SKIPPED standby test: no PostgreSQL instance !!!!!\n");
        return;
    };
    let addr = standby.addr;
    for url in [
        format!("postgres://{addr}/postgres"),
        format!("postgres://postgres:pw@{addr}/postgres?sslmode=disable"),
    ] {
        let failure = assert_class(&probe(&url).await, FailureClass::DbStarting);
        let said = said(&failure);
        assert!(said.starts_with("57P03 the database system is"), "{said}");
    }
}

#[tokio::test]
async fn a_hot_standby_is_not_the_primary_asked_for() {
    let Ok(standby) = PgInstance::start(PgConfig::default().as_standby()) else {
        eprintln!("\n!!!!! SKIPPED hot standby test: no PostgreSQL instance !!!!!\n");
        return;
    };
    let addr = standby.addr;
    // It may take a moment to reach a consistent state and let clients in.
    let any = format!("postgres://{addr}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while probe(&any).await.result.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ready(&probe(&any).await);
    let failure = assert_class(
        &probe(&format!(
            "postgres://{addr}/postgres?target_session_attrs=read-write"
        ))
        .await,
        FailureClass::DbNotPrimary,
    );
    assert_eq!(said(&failure), "in_hot_standby = on");
}

/// An instance with a user per password method (and the users it needs).
fn auth_instance() -> Option<PgInstance> {
    let config = PgConfig::default()
        .hba("local all all trust")
        .hba("host all md5user 127.0.0.1/32 md5")
        .hba("host all plainuser 127.0.0.1/32 password")
        .hba("host all all 127.0.0.1/32 scram-sha-256");
    let pg = match PgInstance::start(config) {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("\n!!!!! SKIPPED login tests: no PostgreSQL instance: {e} !!!!!\n");
            return None;
        }
    };
    let sql = "SET password_encryption = 'md5'; CREATE USER md5user PASSWORD 'md5 secret';
               SET password_encryption = 'scram-sha-256';
               CREATE USER scramuser PASSWORD 'scram secret';
               CREATE USER plainuser PASSWORD 'plain secret';";
    if let Err(e) = pg.psql(sql) {
        panic!("creating the users: {e}");
    }
    Some(pg)
}

#[tokio::test]
async fn scram_md5_and_cleartext_logins_succeed_and_wrong_passwords_fail() {
    let Some(pg) = auth_instance() else { return };
    let addr = pg.addr;
    for (user, password) in [
        ("scramuser", "scram%20secret"),
        ("md5user", "md5%20secret"),
        ("plainuser", "plain%20secret"),
    ] {
        let url = format!("postgres://{user}:{password}@{addr}/postgres?sslmode=disable");
        assert_ready(&probe(&url).await);
        let wrong = format!("postgres://{user}:wrong-password@{addr}/postgres?sslmode=disable");
        let failure = assert_class(&probe(&wrong).await, FailureClass::AuthFailed);
        assert!(said(&failure).starts_with("28P01 "), "{failure:?}");
        // Without a password, being asked for one means the server accepts connections.
        assert_ready(&probe(&format!("postgres://{user}@{addr}/postgres")).await);
    }
    // A user the server does not know is refused as a login.
    let unknown = format!("postgres://nobody:pw@{addr}/postgres");
    assert_class(&probe(&unknown).await, FailureClass::AuthFailed);
    // Asking for writability without a password cannot be answered: refused, not ready.
    assert_class(
        &probe(&format!(
            "postgres://scramuser@{addr}/postgres?target_session_attrs=read-write"
        ))
        .await,
        FailureClass::AuthFailed,
    );
}

#[tokio::test]
async fn a_full_connection_table_is_too_many_connections() {
    let Ok(pg) = PgInstance::start(
        PgConfig::default()
            .set("max_connections", "2")
            .set("superuser_reserved_connections", "0")
            .set("max_wal_senders", "0"),
    ) else {
        eprintln!("\n!!!!! SKIPPED too-many-connections test: no PostgreSQL instance !!!!!\n");
        return;
    };
    let addr = pg.addr;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(logged_in_session(addr).await);
    }
    let failure = assert_class(
        &probe(&format!("postgres://{addr}/postgres?sslmode=disable")).await,
        FailureClass::DbTooManyConnections,
    );
    assert!(said(&failure).starts_with("53300 "), "{failure:?}");
    drop(held);
}

/// A session that stays open (trust: logged in after the StartupMessage).
async fn logged_in_session(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&wire::startup_message(
            "postgres",
            Some("postgres"),
            "holder",
        ))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    // Until ReadyForQuery ('Z', length 5, status 'I').
    while !seen.windows(6).any(|w| w == b"Z\0\0\0\x05I") {
        let n = tokio::time::timeout(BUDGET, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    stream
}

// ---- scripted servers ----

/// A server on 127.0.0.1 that runs `script` on the first connection.
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

/// A backend message: tag, length, body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len() + 4).unwrap();
    [&[tag][..], &len.to_be_bytes(), body].concat()
}

/// Read what the client sent first (one message's worth is enough for these scripts).
async fn read_some(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap_or(0);
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn http_on_the_port_is_another_protocol() {
    for sslmode in ["disable", "prefer"] {
        let addr = scripted(|mut s| async move {
            read_some(&mut s).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        })
        .await;
        let result = probe(&format!("postgres://{addr}/db?sslmode={sslmode}")).await;
        match assert_class(&result, FailureClass::ProtocolMismatch) {
            Failure::ProtocolMismatch {
                expected, spoken, ..
            } => {
                assert_eq!(expected, "a PostgreSQL message");
                assert_eq!(spoken.as_deref(), Some("an HTTP server"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_four_gigabyte_length_is_invalid_without_allocating_it() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let _ = s.write_all(b"E\xff\xff\xff\xff").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let result = probe(&format!("postgres://{addr}/db?sslmode=disable")).await;
    match assert_class(&result, FailureClass::InvalidResponse) {
        Failure::InvalidResponse { detail } => assert!(detail.contains("4294967295"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn silence_is_a_response_timeout_within_the_budget() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let started = Instant::now();
    let result = PostgresProbe::new(target(&format!("postgres://{addr}/db")))
        .probe_once(&Deadline::after(Duration::from_millis(500)))
        .await;
    assert_class(&result, FailureClass::ResponseTimeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_close_after_the_ssl_request_is_a_reset() {
    let addr = scripted(|mut s| async move {
        assert_eq!(read_some(&mut s).await, wire::ssl_request());
    })
    .await;
    let result = probe(&format!("postgres://{addr}/db?sslmode=require")).await;
    match assert_class(&result, FailureClass::Reset) {
        Failure::Reset { detail } => assert!(detail.contains("SSLRequest"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn require_refuses_a_server_without_tls_and_prefer_goes_on_in_plain() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let _ = s.write_all(b"N").await;
    })
    .await;
    let result = probe(&format!("postgres://{addr}/db?sslmode=require")).await;
    assert_class(&result, FailureClass::TlsHandshake);

    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let _ = s.write_all(b"N").await;
        let startup = read_some(&mut s).await;
        assert!(startup.windows(5).any(|w| w == b"user\0"), "{startup:?}");
        // A notice first, then a password request: accepting connections.
        let _ = s
            .write_all(
                &[
                    message(b'N', b"SNOTICE\0C00000\0Mhi\0\0"),
                    message(b'R', &[0, 0, 0, 3]),
                ]
                .concat(),
            )
            .await;
        let _ = read_some(&mut s).await;
    })
    .await;
    assert_ready(&probe(&format!("postgres://{addr}/db?sslmode=prefer")).await);
}

#[tokio::test]
async fn bytes_after_the_ssl_answer_are_not_postgres() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
    })
    .await;
    let result = probe(&format!("postgres://{addr}/db")).await;
    match assert_class(&result, FailureClass::ProtocolMismatch) {
        Failure::ProtocolMismatch { spoken, .. } => {
            assert_eq!(spoken.as_deref(), Some("an SSH server"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn recorded_refusals_map_to_their_classes() {
    for (code, expected) in [
        ("57P03", FailureClass::DbStarting),
        ("53300", FailureClass::DbTooManyConnections),
        ("XX000", FailureClass::ServerUnavailable),
    ] {
        let error = message(
            b'E',
            format!("SFATAL\0VFATAL\0C{code}\0Mrefused\0\0").as_bytes(),
        );
        let addr = scripted(move |mut s| async move {
            read_some(&mut s).await;
            let _ = s.write_all(&error).await;
        })
        .await;
        let result = probe(&format!("postgres://{addr}/db?sslmode=disable")).await;
        let failure = assert_class(&result, expected);
        assert_eq!(said(&failure), format!("{code} refused"));
    }
}

#[tokio::test]
async fn a_scram_server_that_does_not_know_the_password_is_caught() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let _ = s.write_all(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0").await;
        let first = read_some(&mut s).await;
        let text = String::from_utf8_lossy(&first).into_owned();
        let nonce = text.split("r=").nth(1).unwrap_or("").to_string();
        let server_first = format!("r={nonce}srv,s=QUJDRA==,i=4096");
        let body = [&11u32.to_be_bytes()[..], server_first.as_bytes()].concat();
        let _ = s.write_all(&message(b'R', &body)).await;
        read_some(&mut s).await;
        let server_final = b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let body = [&12u32.to_be_bytes()[..], server_final].concat();
        let _ = s.write_all(&message(b'R', &body)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let result = probe(&format!("postgres://app:pw@{addr}/db?sslmode=disable")).await;
    match assert_class(&result, FailureClass::InvalidResponse) {
        Failure::InvalidResponse { detail } => {
            assert!(detail.contains("signature"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_flood_of_notices_is_cut_off() {
    let addr = scripted(|mut s| async move {
        read_some(&mut s).await;
        let notice = message(b'N', b"SNOTICE\0C00000\0Magain\0\0");
        for _ in 0..(MAX_MESSAGES + 10) {
            if s.write_all(&notice).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let result = probe(&format!("postgres://{addr}/db?sslmode=disable")).await;
    match assert_class(&result, FailureClass::InvalidResponse) {
        Failure::InvalidResponse { detail } => assert!(detail.contains("messages"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn verify_full_trusts_the_given_authority_and_checks_the_name() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = PgConfig::default()
        .file("server.crt", cert.pem())
        .file("server.key", key.serialize_pem())
        .set("ssl", "on")
        .set("ssl_cert_file", "server.crt")
        .set("ssl_key_file", "server.key");
    let pg = match PgInstance::start(config) {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("\n!!!!! SKIPPED TLS instance test: {e} !!!!!\n");
            return;
        }
    };
    let port = pg.addr.port();
    let trusting = tls::client_config(&tls::TlsOptions {
        ca: vec![tls::Pem {
            name: "test-ca.pem".into(),
            bytes: cert.pem().into_bytes(),
        }],
        ..Default::default()
    })
    .unwrap();
    let with_ca = |url: String| {
        let mut p = PostgresProbe::new(target(&url));
        p.set_tls(&trusting);
        p
    };
    let budget = || Deadline::after(BUDGET);
    // The certificate names 127.0.0.1: verified, whatever the mode.
    for mode in ["verify-full", "verify-ca", "require", "prefer"] {
        let url = format!("postgres://postgres:pw@127.0.0.1:{port}/postgres?sslmode={mode}");
        let result = with_ca(url).probe_once(&budget()).await;
        assert_ready(&result);
        assert!(result.timings.tls.is_some());
    }
    // Without the authority, only the unverified modes connect.
    let url = format!("postgres://127.0.0.1:{port}/postgres?sslmode=verify-full");
    assert_class(&probe(&url).await, FailureClass::TlsVerify);
    assert_ready(
        &probe(&format!(
            "postgres://127.0.0.1:{port}/postgres?sslmode=require"
        ))
        .await,
    );
    // By another name than the certificate's: verify-full refuses, and so does verify-ca
    // (stricter than libpq; see SslMode::VerifyCa).
    for mode in ["verify-full", "verify-ca"] {
        let url = format!("postgres://localhost:{port}/postgres?sslmode={mode}");
        let result = with_ca(url).probe_once(&budget()).await;
        match assert_class(&result, FailureClass::TlsVerify) {
            Failure::TlsVerify { reason, .. } => {
                assert_eq!(reason, crate::failure::CertProblem::WrongName)
            }
            other => panic!("{other:?}"),
        }
    }
}
