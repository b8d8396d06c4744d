//! `--http2`: prior knowledge (h2c) on plain http, ALPN on https with HTTP/1.1 as fallback;
//! servers that break HTTP/2, or answer it with HTTP/1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stillup_testkit::{Behavior, H2Violation, HostileH2Server, Reply};
use tokio::runtime::Runtime;

use super::hostile::every_attempt_is;
use super::support::{last_class, last_message, self_signed, serve_tls, stillup, TempDir};

/// An HTTP/2 server answering `{"ok":true}`, over TLS (ALPN h2) when given a config; records
/// each request's authority and path.
struct H2Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    runtime: Option<Runtime>,
}

impl H2Server {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> H2Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let log = log.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(tcp, log).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                answer(stream, log).await;
                            }
                        }
                    }
                });
            }
        });
        H2Server {
            addr,
            seen,
            runtime: Some(runtime),
        }
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

async fn answer<S>(io: S, log: Arc<Mutex<Vec<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut connection) = h2::server::handshake(io).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        log.lock().unwrap().push(request.uri().to_string());
        let head = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        if let Ok(mut send) = respond.send_response(head, false) {
            let _ = send.send_data(bytes::Bytes::from_static(br#"{"ok":true}"#), true);
        }
    }
}

#[test]
fn http2_with_prior_knowledge_reaches_an_h2c_server() {
    let server = H2Server::start(None);
    let url = format!("http://{}/health?x=1", server.addr);
    let run = stillup(["check", &url, "--http2", "--expect-json", "$.ok == true"]);
    run.assert_code(0);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen, std::slice::from_ref(&url));
    // Without --http2, HTTP/1.1 to an HTTP/2-only server is not a healthy answer.
    let run = stillup(["check", &url, "--output", "json"]);
    run.assert_code(1);
}

#[test]
fn http2_over_tls_is_negotiated_by_alpn_and_falls_back_to_http1() {
    let dir = TempDir::new("http2-tls");
    let cert = self_signed(&["127.0.0.1"], None);
    let ca = cert.write_pem(&dir, "ca.pem");
    let mut config = (*super::support::server_config(&cert)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let server = H2Server::start(Some(Arc::new(config)));
    let url = format!("https://{}/ready", server.addr);
    let ca = ca.to_str().unwrap();
    stillup([
        "check",
        &url,
        "--http2",
        "--cacert",
        ca,
        "--expect-json",
        "$.ok == true",
    ])
    .assert_code(0);
    assert_eq!(server.seen.lock().unwrap().len(), 1);

    // A server that only speaks HTTP/1.1 (no ALPN) is still reached with --http2.
    let plain = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let url = plain.url("/");
    let run = stillup(["check", &url, "--http2", "--cacert", ca, "--output", "json"]);
    run.assert_code(0);
    assert_eq!(plain.requests(), 1, "{}", last_class(&run.json()));
}

/// Every way [`HostileH2Server`] breaks HTTP/2, with a name for failure messages.
const VIOLATIONS: [H2Violation; 4] = [
    H2Violation::WindowUpdateZero,
    H2Violation::BadSettings,
    H2Violation::ContinuationFlood,
    H2Violation::ControlCharInGrpcStatus,
];

/// A server that breaks HTTP/2 is `invalid_response` naming the violation, on every attempt,
/// for `url_of(addr)` and `extra` flags: never blamed on HTTP/1 or TLS, never "http2 error".
pub(crate) fn every_violation_is_invalid_response(
    url_of: fn(SocketAddr) -> String,
    extra: &[&str],
) {
    for violation in VIOLATIONS {
        let server = HostileH2Server::start(violation).unwrap();
        let report = every_attempt_is(&url_of(server.addr()), extra, "invalid_response");
        let message = last_message(&report);
        assert!(
            message.contains("broke the HTTP/2 protocol") || message.contains("grpc-status"),
            "{violation:?}: {message}"
        );
        assert!(!message.contains("HTTP/1"), "{violation:?}: {message}");
        assert!(!message.contains("TLS"), "{violation:?}: {message}");
        assert!(!message.contains('\x1b'), "{violation:?}: {message}");
    }
}

#[test]
fn http2_protocol_violations_are_invalid_response_naming_the_violation() {
    every_violation_is_invalid_response(|addr| format!("http://{addr}/health"), &["--http2"]);
}

#[test]
fn an_http1_server_answering_http2_with_prior_knowledge_is_protocol_mismatch() {
    let server = super::support::serve(Behavior::Respond(Reply::text(200, "ok")));
    let report = every_attempt_is(&server.url("/"), &["--http2"], "protocol_mismatch");
    let message = last_message(&report);
    assert!(message.contains("HTTP/1 server"), "{message}");
}
