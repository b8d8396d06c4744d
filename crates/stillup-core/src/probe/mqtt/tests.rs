//! MQTT probes against the shared Mosquitto, a Mosquitto of the test's own that requires a
//! password, and scripted brokers for the answers a real one cannot be made to give.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use stillup_testkit::services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::failure::FailureClass;

const BUDGET: Duration = Duration::from_secs(5);

fn probe(url: &str) -> MqttProbe {
    MqttProbe::new(MqttTarget::parse(url).unwrap())
}

async fn class_of(probe: &MqttProbe, budget: Duration) -> Result<(), (FailureClass, String)> {
    let result = probe.probe_once(&Deadline::after(budget)).await;
    result.result.map_err(|f| (f.class(), f.to_string()))
}

#[test]
fn targets_parse_with_defaults_and_hide_the_password() {
    let plain = MqttTarget::parse("mqtt://127.0.0.1").unwrap();
    assert_eq!(
        (plain.host(), plain.port(), plain.uses_tls()),
        ("127.0.0.1", 1883, false)
    );
    assert_eq!(plain.to_string(), "mqtt://127.0.0.1:1883");
    let tls = MqttTarget::parse(" MQTTS://[::1]/ ").unwrap();
    assert_eq!(
        (tls.host(), tls.port(), tls.uses_tls()),
        ("::1", 8883, true)
    );
    assert_eq!(tls.to_string(), "mqtts://[::1]:8883");
    let login = MqttTarget::parse("mqtt://us%40er:p%3Aw@broker:1884").unwrap();
    let got = login.login().unwrap();
    assert_eq!((got.user.as_str(), got.password()), ("us@er", "p:w"));
    assert_eq!(login.to_string(), "mqtt://us%40er:<redacted>@broker:1884");
    assert!(!format!("{login:?}").contains("p:w"));
    let user_only = MqttTarget::parse("mqtt://user@broker").unwrap();
    assert_eq!(user_only.login().unwrap().password, None);
    assert_eq!(user_only.to_string(), "mqtt://user@broker:1883");
}

#[test]
fn targets_with_extras_are_refused_by_name_without_the_password() {
    let refused = |url: &str| MqttTarget::parse(url).unwrap_err();
    assert!(matches!(
        refused("mqtt://:1883"),
        TargetError::MissingHost { .. } | TargetError::NotAUrl { .. }
    ));
    assert!(matches!(
        refused("mqtt://broker:0"),
        TargetError::PortZero { .. }
    ));
    for (url, words) in [
        ("mqtt://u:hunter2@broker/topic", "path"),
        ("mqtt://u:hunter2@broker?qos=1", "\"qos\""),
        ("mqtt://:hunter2@broker", "no user name"),
        ("mqtt://broker#x", "fragment"),
    ] {
        let error = refused(url).to_string();
        assert!(error.contains(words), "{url}: {error}");
        assert!(
            error.contains("mqtt://user:secret@broker.internal:1883"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[test]
fn every_attempt_has_its_own_client_id_of_23_alphanumerics() {
    let (a, b) = (client_id(), client_id());
    assert_ne!(a, b);
    assert_eq!(a.len(), 23);
    assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
}

#[tokio::test]
async fn the_shared_mosquitto_is_ready_with_or_without_a_login() {
    let Some(addr) = services::running(services::MOSQUITTO, "mqtt shared ready") else {
        return;
    };
    let anonymous = probe(&format!("mqtt://{addr}"));
    let result = anonymous.probe_once(&Deadline::after(BUDGET)).await;
    assert_eq!(result.result, Ok(()));
    assert_eq!(result.remote, Some(addr));
    assert!(result.timings.connect.is_some() && result.timings.first_byte.is_some());
    // The shared broker allows anonymous clients, and accepts any login with them.
    let with_login = probe(&format!("mqtt://someone:whatever@{addr}"));
    assert_eq!(class_of(&with_login, BUDGET).await, Ok(()));
}

#[tokio::test]
async fn probes_never_disconnect_each_other_or_a_real_client() {
    let Some(addr) = services::running(services::MOSQUITTO, "mqtt distinct ids") else {
        return;
    };
    // A real client stays connected while probes come and go.
    let mut client = TcpStream::connect(addr).await.unwrap();
    let connect = wire::connect("stillupTestRealClient", 30, None).unwrap();
    client.write_all(&connect).await.unwrap();
    let mut connack = [0u8; 4];
    client.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);

    let probe = probe(&format!("mqtt://{addr}"));
    let budget = Deadline::after(BUDGET);
    let (a, b) = tokio::join!(probe.probe_once(&budget), probe.probe_once(&budget));
    assert_eq!((a.result, b.result), (Ok(()), Ok(())));

    // PINGREQ → PINGRESP: the real client's session survived both probes.
    client.write_all(&[0xC0, 0]).await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(BUDGET, client.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong, [0xD0, 0]);
}

/// A Mosquitto of this test's own on an ephemeral port, with `allow_anonymous false` and one
/// user; killed and its directory removed when dropped.
struct OwnBroker {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl OwnBroker {
    fn start(test: &str) -> Option<OwnBroker> {
        OwnBroker::start_with(test, |_| String::new())
    }

    /// `listener_extra` writes what else the listener needs (TLS files) into the broker's
    /// directory and returns its config lines.
    fn start_with(
        test: &str,
        listener_extra: impl FnOnce(&std::path::Path) -> String,
    ) -> Option<OwnBroker> {
        let dir = std::env::temp_dir().join(format!(
            "stillup-mqtt-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let passwords = dir.join("passwords");
        let made = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&passwords)
            .args(["alice", "right-password"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            let _ = std::fs::remove_dir_all(&dir);
            if std::env::var_os(services::REQUIRE_VARIABLE).is_some() {
                panic!("{test} needs mosquitto_passwd");
            }
            eprintln!("\n!!!!! SKIPPED {test}: mosquitto_passwd is not installed !!!!!\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("mosquitto.conf");
        let extra = listener_extra(&dir);
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\n{extra}allow_anonymous false\npassword_file {}\n",
                passwords.display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let broker = OwnBroker {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let mut broker = broker;
        for _ in 0..100 {
            if std::net::TcpStream::connect(broker.addr).is_ok() {
                // Another test's server may have taken the port first: then ours has exited
                // (address in use), and the one answering is not ours.
                std::thread::sleep(Duration::from_millis(100));
                assert!(
                    matches!(broker.child.try_wait(), Ok(None)),
                    "{test}: our mosquitto exited (its port was taken by another server)"
                );
                return Some(broker);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{test}: our own mosquitto did not listen on {} within 5s",
            broker.addr
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_broker_that_requires_a_password_is_ready_without_one_and_judges_a_login() {
    let Some(broker) = OwnBroker::start("mqtt own broker with passwords") else {
        return;
    };
    let addr = broker.addr;
    // No credentials: the broker answered and asks for a login, so it accepts connections.
    assert_eq!(
        class_of(&probe(&format!("mqtt://{addr}")), BUDGET).await,
        Ok(())
    );
    let wrong = class_of(
        &probe(&format!("mqtt://alice:wrong-password@{addr}")),
        BUDGET,
    )
    .await;
    let (class, text) = wrong.unwrap_err();
    assert_eq!(class, FailureClass::AuthFailed, "{text}");
    assert!(
        text.contains("CONNACK 5 not authorized") || text.contains("CONNACK 4"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"), "{text}");
    let right = probe(&format!("mqtt://alice:right-password@{addr}"));
    assert_eq!(class_of(&right, BUDGET).await, Ok(()));
    // `--user` replaces the URL's login.
    let mut replaced = probe(&format!("mqtt://alice:wrong-password@{addr}"));
    replaced.set_login(Login::new("alice", Some("right-password")));
    assert_eq!(class_of(&replaced, BUDGET).await, Ok(()));
    drop(broker);
}

/// What a scripted broker does after reading the CONNECT.
enum Then {
    /// Send these bytes and close.
    Send(&'static [u8]),
    /// Send these bytes and keep the connection open.
    SendAndHold(&'static [u8]),
    /// Say nothing, keep the connection open.
    Silence,
}

/// A broker that answers every connection the same way; the CONNECT packets it read come back
/// on the channel.
async fn scripted(then: Then) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let then = std::sync::Arc::new(then);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            let then = then.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1024];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(buf[..n].to_vec());
                match &*then {
                    Then::Send(bytes) => {
                        let _ = socket.write_all(bytes).await;
                    }
                    Then::SendAndHold(bytes) => {
                        let _ = socket.write_all(bytes).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Then::Silence => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (addr, rx)
}

async fn scripted_class(then: Then, url_login: &str) -> Result<(), (FailureClass, String)> {
    let (addr, _) = scripted(then).await;
    class_of(&probe(&format!("mqtt://{url_login}{addr}")), BUDGET).await
}

#[tokio::test]
async fn the_connect_carries_the_login_and_a_fresh_client_id() {
    let (addr, mut connects) = scripted(Then::Send(&[0x20, 2, 0, 0])).await;
    let probe = probe(&format!("mqtt://bob:pa55@{addr}"));
    for _ in 0..2 {
        assert_eq!(class_of(&probe, BUDGET).await, Ok(()));
    }
    let (first, second) = (
        connects.recv().await.unwrap(),
        connects.recv().await.unwrap(),
    );
    assert_eq!(
        &first[..12],
        &[0x10, 46, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 10]
    );
    assert!(first.ends_with(b"\x00\x03bob\x00\x04pa55"), "{first:?}");
    assert_ne!(
        first[14..37],
        second[14..37],
        "a new client id each attempt"
    );
}

#[tokio::test]
async fn connack_codes_decide_the_class() {
    let unavailable = scripted_class(Then::Send(&[0x20, 2, 0, 3]), "").await;
    let (class, text) = unavailable.unwrap_err();
    assert_eq!(class, FailureClass::ServerUnavailable);
    assert_eq!(
        text,
        "MQTT broker is unavailable: CONNACK 3 server unavailable"
    );
    let rejected = scripted_class(Then::Send(&[0x20, 2, 0, 2]), "").await;
    assert_eq!(rejected.unwrap_err().0, FailureClass::ServerUnavailable);
    // Not authorized: ready without a login (the broker asks for one), refused with one.
    assert_eq!(
        scripted_class(Then::Send(&[0x20, 2, 0, 5]), "").await,
        Ok(())
    );
    assert_eq!(
        scripted_class(Then::Send(&[0x20, 2, 0, 4]), "").await,
        Ok(())
    );
    let refused = scripted_class(Then::Send(&[0x20, 2, 0, 4]), "u:p@").await;
    assert_eq!(refused.unwrap_err().0, FailureClass::AuthFailed);
    let version = scripted_class(Then::Send(&[0x20, 2, 0, 1]), "").await;
    let (class, text) = version.unwrap_err();
    assert_eq!(class, FailureClass::ProtocolMismatch);
    assert!(text.contains("refuses MQTT 3.1.1"), "{text}");
}

#[tokio::test]
async fn foreign_or_broken_answers_are_classified_from_their_bytes() {
    let http = scripted_class(Then::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "").await;
    let (class, text) = http.unwrap_err();
    assert_eq!(class, FailureClass::ProtocolMismatch);
    assert!(
        text.contains("an HTTP server") && text.contains("an MQTT CONNACK"),
        "{text}"
    );
    let garbage = scripted_class(Then::Send(b"\xff\xfe garbage"), "").await;
    assert_eq!(garbage.unwrap_err().0, FailureClass::ProtocolMismatch);
    // A fifth remaining-length byte, and nothing after: decided at once, not waited for.
    let overflow = scripted_class(Then::SendAndHold(&[0x20, 0xFF, 0xFF, 0xFF, 0xFF]), "").await;
    assert_eq!(overflow.unwrap_err().0, FailureClass::InvalidResponse);
    let huge = scripted_class(Then::SendAndHold(&[0x20, 0xFF, 0xFF, 0xFF, 0x7F]), "").await;
    assert_eq!(huge.unwrap_err().0, FailureClass::InvalidResponse);
    let half = scripted_class(Then::Send(&[0x20, 2]), "").await;
    assert_eq!(half.unwrap_err().0, FailureClass::Reset);
    let closed = scripted_class(Then::Send(b""), "").await;
    let (class, text) = closed.unwrap_err();
    assert_eq!(class, FailureClass::Reset);
    assert!(text.contains("before its CONNACK"), "{text}");
}

#[tokio::test]
async fn a_silent_broker_is_a_response_timeout_within_the_budget() {
    let (addr, _) = scripted(Then::Silence).await;
    let started = Instant::now();
    let silent = class_of(
        &probe(&format!("mqtt://{addr}")),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(silent.unwrap_err().0, FailureClass::ResponseTimeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn mqtts_to_a_plain_broker_fails_in_the_handshake() {
    let (addr, _) = scripted(Then::Send(&[0x20, 2, 0, 0])).await;
    let tls = probe(&format!("mqtts://{addr}"));
    let (class, text) = class_of(&tls, BUDGET).await.unwrap_err();
    assert!(
        matches!(
            class,
            FailureClass::TlsHandshake | FailureClass::ProtocolMismatch
        ),
        "{class}: {text}"
    );
}

/// `mqtts://` against a Mosquitto of the test's own with a TLS listener and a self-signed
/// certificate: trusted through the probe's TLS settings (`--cacert`), refused without them.
#[tokio::test]
async fn mqtts_logs_in_over_tls_to_a_broker_whose_certificate_is_trusted() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let started = OwnBroker::start_with("mqtts own broker", |dir| {
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, &cert_pem).unwrap();
        std::fs::write(&key_file, &key_pem).unwrap();
        format!(
            "certfile {}\nkeyfile {}\n",
            cert_file.display(),
            key_file.display()
        )
    });
    let Some(broker) = started else { return };
    let addr = broker.addr;
    let trusting = crate::net::tls::client_config(&crate::net::tls::TlsOptions {
        ca: vec![crate::net::tls::Pem {
            name: "cert.pem".into(),
            bytes: cert_pem.clone().into_bytes(),
        }],
        ..Default::default()
    })
    .unwrap();
    for (userinfo, expected) in [
        ("alice:right-password@", Ok(())),
        ("", Ok(())),
        ("alice:wrong-password@", Err(FailureClass::AuthFailed)),
    ] {
        let mut tls = probe(&format!("mqtts://{userinfo}{addr}"));
        tls.set_tls(&trusting);
        let result = tls.probe_once(&Deadline::after(BUDGET)).await;
        assert_eq!(
            result.result.as_ref().map_err(|f| f.class()),
            expected.as_ref().map_err(|c| *c),
            "{userinfo}: {:?}",
            result.result
        );
        assert!(result.timings.tls.is_some(), "{userinfo}: TLS was timed");
    }
    // The system's trust does not know the self-signed certificate.
    let untrusted = class_of(&probe(&format!("mqtts://{addr}")), BUDGET).await;
    assert_eq!(untrusted.unwrap_err().0, FailureClass::TlsVerify);
    // Plain MQTT to the TLS listener: the broker waits for a ClientHello, never a CONNACK.
    let plain = class_of(&probe(&format!("mqtt://{addr}")), Duration::from_secs(2)).await;
    assert!(plain.is_err(), "{plain:?}");
    drop(broker);
}
