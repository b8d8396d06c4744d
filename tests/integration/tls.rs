//! Certificates the client must refuse (self-signed, wrong name, expired) are `tls_verify`;
//! a server that does not speak TLS at all is `tls_handshake`. Certificates are generated
//! here; no key is committed.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::support::*;

fn check_tls(server: &ScriptedServer) -> serde_json::Value {
    let run = check_json(&server.url("/health"), &["--attempt-timeout", "3s"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_eq!(classes(&report), ["tls_verify"], "{run}");
    assert_eq!(
        server.requests(),
        0,
        "no request may cross a rejected handshake"
    );
    report
}

#[test]
fn a_self_signed_certificate_fails_as_tls_verify_saying_not_trusted() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let report = check_tls(&server);
    let message = last_message(&report);
    assert!(message.contains("not trusted"), "{message}");
}

#[test]
fn a_certificate_for_another_name_fails_as_tls_verify() {
    let cert = self_signed(&["other.example"], None);
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    check_tls(&server);
}

#[test]
fn an_expired_certificate_fails_as_tls_verify_saying_expired() {
    let now = time::OffsetDateTime::now_utc();
    let window = (
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    );
    let cert = self_signed(&["127.0.0.1"], Some(window));
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let report = check_tls(&server);
    let message = last_message(&report);
    assert!(message.contains("expired"), "{message}");
}

#[test]
fn the_untrusted_certificate_advice_names_only_flags_that_exist() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let message = last_message(&check_tls(&server));
    let help = stillup(["check", "--help"]);
    help.assert_code(0);
    for word in message.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        if let Some(flag) = word.strip_prefix("--") {
            assert!(
                help.stdout.contains(&format!("--{flag}")),
                "the message advises --{flag}, which `stillup check --help` does not list: {message}"
            );
        }
    }
}

/// A TCP listener that answers every connection with a plain-HTTP 400 at once, as a
/// plain-HTTP server does when handed a TLS ClientHello. Connections are held open until
/// drop, so the client reads the answer rather than a reset.
struct PlainHttpListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PlainHttpListener {
    fn spawn() -> PlainHttpListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            let give_up = Instant::now() + RUN_LIMIT;
            while !stopped.load(Ordering::SeqCst) && Instant::now() < give_up {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
                        held.push(stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
        });
        PlainHttpListener {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PlainHttpListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn plain_http_on_an_https_url_fails_as_protocol_mismatch() {
    let listener = PlainHttpListener::spawn();
    let url = format!("https://{}/health", listener.addr);
    let run = check_json(&url, &["--attempt-timeout", "3s"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_eq!(classes(&report), ["protocol_mismatch"], "{run}");
    let message = last_message(&report);
    assert!(
        message.contains("TLS") && message.contains("use http://"),
        "{run}"
    );
}
