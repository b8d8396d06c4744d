//! AMQP probes against the shared RabbitMQ (guest/guest) and scripted brokers for the answers
//! a real one cannot be made to give.

use std::net::SocketAddr;
use std::time::Duration;

use stillup_testkit::services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::failure::FailureClass;

const BUDGET: Duration = Duration::from_secs(5);

fn probe(url: &str) -> AmqpProbe {
    AmqpProbe::new(AmqpTarget::parse(url).unwrap())
}

async fn class_of(probe: &AmqpProbe, budget: Duration) -> Result<(), (FailureClass, String)> {
    let result = probe.probe_once(&Deadline::after(budget)).await;
    result.result.map_err(|f| (f.class(), f.to_string()))
}

#[test]
fn targets_parse_with_defaults_a_vhost_and_a_hidden_password() {
    let plain = AmqpTarget::parse("amqp://127.0.0.1").unwrap();
    assert_eq!(
        (plain.host(), plain.port(), plain.uses_tls(), plain.vhost()),
        ("127.0.0.1", 5672, false, "/")
    );
    assert_eq!(plain.to_string(), "amqp://127.0.0.1:5672");
    for (url, vhost) in [
        ("amqp://h/", "/"),
        ("amqp://h/%2F", "/"),
        ("amqp://h/prod", "prod"),
        ("amqp://h/team%2Fa", "team/a"),
        ("amqp://h/my%20vhost", "my vhost"),
    ] {
        assert_eq!(AmqpTarget::parse(url).unwrap().vhost(), vhost, "{url}");
    }
    let tls = AmqpTarget::parse(" AMQPS://u:p%40ss@[::1]/team%2Fa ").unwrap();
    assert_eq!(
        (tls.port(), tls.uses_tls(), tls.host()),
        (5671, true, "::1")
    );
    assert_eq!(tls.login().unwrap().password(), "p@ss");
    assert_eq!(tls.to_string(), "amqps://u:<redacted>@[::1]:5671/team%2Fa");
    assert!(!format!("{tls:?}").contains("p@ss"));
}

#[test]
fn targets_with_extras_are_refused_by_name_without_the_password() {
    assert!(matches!(
        AmqpTarget::parse("amqp://h:0").unwrap_err(),
        TargetError::PortZero { .. }
    ));
    let long = format!("amqp://u:hunter2@h/{}", "v".repeat(256));
    for (url, words) in [
        ("amqp://u:hunter2@h/a/b", "%2F"),
        ("amqp://u:hunter2@h/?heartbeat=10", "\"heartbeat\""),
        ("amqp://:hunter2@h/", "no user name"),
        (long.as_str(), "255"),
    ] {
        let error = AmqpTarget::parse(url).unwrap_err().to_string();
        assert!(error.contains(words), "{url}: {error}");
        assert!(error.contains(EXAMPLE), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[tokio::test]
async fn the_shared_rabbitmq_is_ready_and_judges_a_login_and_a_vhost() {
    let Some(addr) = services::running(services::RABBITMQ, "amqp shared rabbitmq") else {
        return;
    };
    let anonymous = probe(&format!("amqp://{addr}"))
        .probe_once(&Deadline::after(BUDGET))
        .await;
    assert_eq!(anonymous.result, Ok(()));
    assert_eq!(anonymous.remote, Some(addr));
    assert!(anonymous.timings.first_byte.is_some());

    let guest = probe(&format!("amqp://guest:guest@{addr}/"));
    assert_eq!(class_of(&guest, BUDGET).await, Ok(()));
    let slash = probe(&format!("amqp://guest:guest@{addr}/%2F"));
    assert_eq!(class_of(&slash, BUDGET).await, Ok(()));

    let wrong = probe(&format!("amqp://guest:not-the-password@{addr}"));
    let (class, text) = class_of(&wrong, BUDGET).await.unwrap_err();
    assert_eq!(class, FailureClass::AuthFailed, "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");

    let vhost = probe(&format!("amqp://guest:guest@{addr}/no_such_vhost"));
    let (class, text) = class_of(&vhost, BUDGET).await.unwrap_err();
    assert_eq!(class, FailureClass::ServerUnavailable, "{text}");
    assert!(
        text.contains("no_such_vhost") && text.contains("530"),
        "{text}"
    );

    // `--user` replaces the URL's login.
    let mut replaced = probe(&format!("amqp://guest:wrong@{addr}"));
    replaced.set_login(Login::new("guest", Some("guest")));
    assert_eq!(class_of(&replaced, BUDGET).await, Ok(()));
}

/// A Connection.Start offering PLAIN, as a broker sends it.
fn start() -> Vec<u8> {
    let mut args = vec![0, 9];
    wire::put_long_str(&mut args, b"").unwrap();
    wire::put_long_str(&mut args, b"PLAIN AMQPLAIN").unwrap();
    wire::put_long_str(&mut args, b"en_US").unwrap();
    wire::method_frame(10, &args)
}

fn close_frame(code: u16, text: &str) -> Vec<u8> {
    let mut args = code.to_be_bytes().to_vec();
    wire::put_short_str(&mut args, text.as_bytes()).unwrap();
    args.extend_from_slice(&[0, 0, 0, 0]);
    wire::method_frame(50, &args)
}

/// A broker that, on every connection, reads once and answers with the next reply in turn;
/// after the last it closes, or holds the connection open when `hold`. What it read first
/// (the protocol header) comes back on the channel.
async fn scripted(
    replies: Vec<Vec<u8>>,
    hold: bool,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (tx, replies) = (tx.clone(), replies.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                for (i, reply) in replies.iter().enumerate() {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if i == 0 {
                        let _ = tx.send(buf[..n].to_vec());
                    }
                    if socket.write_all(reply).await.is_err() {
                        return;
                    }
                }
                if hold {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else {
                    // Let the client's last frame arrive, so the close is a clean one.
                    let _ = tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf))
                        .await;
                }
            });
        }
    });
    (addr, rx)
}

async fn scripted_class(
    replies: Vec<Vec<u8>>,
    hold: bool,
    login: &str,
) -> Result<(), (FailureClass, String)> {
    let (addr, _) = scripted(replies, hold).await;
    class_of(&probe(&format!("amqp://{login}{addr}")), BUDGET).await
}

#[tokio::test]
async fn without_a_login_the_start_is_enough() {
    let (addr, mut headers) = scripted(vec![start()], false).await;
    assert_eq!(
        class_of(&probe(&format!("amqp://{addr}")), BUDGET).await,
        Ok(())
    );
    assert_eq!(headers.recv().await.unwrap(), b"AMQP\x00\x00\x09\x01");
}

#[tokio::test]
async fn a_close_from_the_broker_decides_by_its_reply_code() {
    let forced = vec![start(), close_frame(320, "CONNECTION_FORCED - shutdown")];
    let (class, text) = scripted_class(forced, false, "u:p@").await.unwrap_err();
    assert_eq!(class, FailureClass::ServerUnavailable, "{text}");
    assert_eq!(
        text,
        "AMQP broker is unavailable: Connection.Close 320 CONNECTION_FORCED - shutdown"
    );
    let refused = vec![
        start(),
        close_frame(403, "ACCESS_REFUSED - Login was refused"),
    ];
    let (class, _) = scripted_class(refused, false, "u:p@").await.unwrap_err();
    assert_eq!(class, FailureClass::AuthFailed);
    // After Open: 403 is a refused login, 530 (no such vhost, or no permission) the broker's
    // own reason.
    let tune = wire::method_frame(30, &[0, 0, 0, 2, 0, 0, 0, 0]);
    for (code, expected) in [
        (403, FailureClass::AuthFailed),
        (530, FailureClass::ServerUnavailable),
    ] {
        let mut after_open = tune.clone();
        after_open.extend_from_slice(&close_frame(code, "NOT_ALLOWED - vhost x not found"));
        let (class, text) = scripted_class(vec![start(), after_open], false, "u:p@")
            .await
            .unwrap_err();
        assert_eq!(class, expected, "{text}");
    }
    // RabbitMQ's other way of refusing a login: the socket closes after Start-Ok.
    let (class, text) = scripted_class(vec![start(), vec![]], false, "u:p@")
        .await
        .unwrap_err();
    assert_eq!(class, FailureClass::AuthFailed, "{text}");
    assert!(
        text.contains("closed the connection right after the login"),
        "{text}"
    );
}

#[tokio::test]
async fn a_full_scripted_handshake_is_ready_and_a_broker_without_plain_refuses_the_login() {
    let tune = wire::method_frame(30, &[0x07, 0xFF, 0, 2, 0, 0, 0, 60]);
    let open_ok = wire::method_frame(41, &[0]);
    let close_ok = wire::close_ok();
    // The client sends Tune-Ok and Open back to back; either read may take both.
    let handshake = vec![start(), tune.clone(), open_ok.clone(), close_ok.clone()];
    assert_eq!(scripted_class(handshake, false, "u:p@").await, Ok(()));
    let mut together = tune;
    together.extend_from_slice(&open_ok);
    let result = scripted_class(vec![start(), together, close_ok], false, "u:p@").await;
    assert_eq!(result, Ok(()));

    let mut args = vec![0, 9];
    wire::put_long_str(&mut args, b"").unwrap();
    wire::put_long_str(&mut args, b"EXTERNAL").unwrap();
    wire::put_long_str(&mut args, b"en_US").unwrap();
    let external_only = wire::method_frame(10, &args);
    let (class, text) = scripted_class(vec![external_only], false, "u:p@")
        .await
        .unwrap_err();
    assert_eq!(class, FailureClass::AuthFailed, "{text}");
    assert!(text.contains("EXTERNAL"), "{text}");
}

#[tokio::test]
async fn hostile_framing_is_an_invalid_response_decided_at_once() {
    let huge = vec![vec![1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]];
    let (class, text) = scripted_class(huge, true, "").await.unwrap_err();
    assert_eq!(class, FailureClass::InvalidResponse, "{text}");
    assert!(text.contains("4294967295"), "{text}");
    let mut bad_end = start();
    *bad_end.last_mut().unwrap() = b'X';
    let (class, _) = scripted_class(vec![bad_end], true, "").await.unwrap_err();
    assert_eq!(class, FailureClass::InvalidResponse);
    // A table length that runs past its frame.
    let lying = wire::method_frame(10, &[0, 9, 0xFF, 0xFF, 0xFF, 0xFF]);
    let (class, _) = scripted_class(vec![lying], true, "").await.unwrap_err();
    assert_eq!(class, FailureClass::InvalidResponse);
    // Heartbeats forever instead of a Start: bounded by the frame count.
    let heartbeats = [8, 0, 0, 0, 0, 0, 0, 0xCE].repeat(40);
    let (class, _) = scripted_class(vec![heartbeats], true, "")
        .await
        .unwrap_err();
    assert_eq!(class, FailureClass::InvalidResponse);
}

#[tokio::test]
async fn another_protocol_or_version_is_a_protocol_mismatch() {
    let http = vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()];
    let (class, text) = scripted_class(http, false, "").await.unwrap_err();
    assert_eq!(class, FailureClass::ProtocolMismatch);
    assert!(
        text.contains("an HTTP server") && text.contains("Connection.Start"),
        "{text}"
    );
    let amqp10 = vec![b"AMQP\x00\x01\x00\x00".to_vec()];
    let (class, text) = scripted_class(amqp10, false, "").await.unwrap_err();
    assert_eq!(class, FailureClass::ProtocolMismatch);
    assert!(text.contains("AMQP 1.0"), "{text}");
    let short = vec![b"AMQ".to_vec()];
    let (class, _) = scripted_class(short, false, "").await.unwrap_err();
    assert_eq!(class, FailureClass::ProtocolMismatch);
}

#[tokio::test]
async fn silence_is_a_response_timeout_and_a_close_is_a_reset() {
    let (addr, _) = scripted(vec![], true).await;
    let silent = class_of(
        &probe(&format!("amqp://{addr}")),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(silent.unwrap_err().0, FailureClass::ResponseTimeout);
    // Silence after the login, too.
    let (addr, _) = scripted(vec![start()], true).await;
    let after_login = probe(&format!("amqp://u:p@{addr}"));
    let silent = class_of(&after_login, Duration::from_millis(500)).await;
    assert_eq!(silent.unwrap_err().0, FailureClass::ResponseTimeout);

    let (class, text) = scripted_class(vec![vec![]], false, "").await.unwrap_err();
    assert_eq!(class, FailureClass::Reset);
    assert!(text.contains("before its Connection.Start"), "{text}");
    let (class, _) = scripted_class(vec![start()[..10].to_vec()], false, "")
        .await
        .unwrap_err();
    assert_eq!(class, FailureClass::Reset);
}

/// `amqps://`: TLS from the first byte, then the same exchange. A scripted broker behind a
/// rustls acceptor with a self-signed certificate: trusted through the probe's TLS settings
/// (`--cacert`), refused without them.
#[tokio::test]
async fn amqps_speaks_amqp_inside_tls_to_a_trusted_broker() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut header = [0u8; 8];
                if tls.read_exact(&mut header).await.is_ok() && &header == b"AMQP\x00\x00\x09\x01" {
                    let _ = tls.write_all(&start()).await;
                    let _ = tls.flush().await;
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), tls.read(&mut [0; 64]))
                            .await;
                }
            });
        }
    });
    let trusting = crate::net::tls::client_config(&crate::net::tls::TlsOptions {
        ca: vec![crate::net::tls::Pem {
            name: "cert.pem".into(),
            bytes: cert.pem().into_bytes(),
        }],
        ..Default::default()
    })
    .unwrap();
    let mut trusted = probe(&format!("amqps://{addr}"));
    trusted.set_tls(&trusting);
    let result = trusted.probe_once(&Deadline::after(BUDGET)).await;
    assert!(result.result.is_ok(), "{:?}", result.result);
    assert!(result.timings.tls.is_some(), "the handshake was timed");
    let untrusted = class_of(&probe(&format!("amqps://{addr}")), BUDGET).await;
    assert_eq!(untrusted.unwrap_err().0, FailureClass::TlsVerify);
}
