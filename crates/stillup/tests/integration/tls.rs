//! Certificates the client must refuse (self-signed, wrong name, expired) are `tls_verify`;
//! a server that does not speak TLS at all is `tls_handshake`. What is trusted: the system's
//! store (`SSL_CERT_FILE` / `SSL_CERT_DIR`, pointed at authorities made here — the machine's
//! own store is never changed), `--cacert` on top, and a server presenting exactly a
//! certificate given to `--cacert`. Failure messages are words, not Rust debug text.
//! Certificates are generated here; no key is committed.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
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

/// A certificate made for one test, with what a server needs to present it.
struct Made {
    pem: String,
    der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Made {
    fn write(&self, dir: &TempDir, name: &str) -> PathBuf {
        let path = dir.file(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// A self-signed CA certificate (CA:TRUE), as `openssl req -x509` makes, and its signer.
struct Authority {
    made: Made,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

type Window = (time::OffsetDateTime, time::OffsetDateTime);

fn params(common_name: &str, names: &[&str], window: Option<Window>) -> rcgen::CertificateParams {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    // Distinct names, so no certificate here looks like another's issuer by accident.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = window.unwrap_or((
        now - time::Duration::days(1),
        now + time::Duration::days(365),
    ));
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn authority(common_name: &str, names: &[&str]) -> Authority {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = params(common_name, names, None);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let made = Made {
        pem: cert.pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    };
    Authority {
        made,
        issuer: rcgen::Issuer::new(params, key),
    }
}

/// A server certificate (CA:FALSE) for `names`, signed by `by`.
fn leaf(names: &[&str], window: Option<Window>, by: &Authority) -> Made {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = params(names[0], names, window);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.signed_by(&key, &by.issuer).unwrap();
    Made {
        pem: cert.pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// An https server presenting `made` alone (no chain), answering 200.
fn serve_made(made: &Made) -> ScriptedServer {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_der.clone()));
    serve_presenting(vec![made.der.clone()], key)
}

fn serve_presenting(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> ScriptedServer {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    ScriptedServer::spawn(
        Script::new()
            .forever(Behavior::Respond(Reply::text(200, "ok")))
            .tls(Arc::new(config)),
    )
    .expect("the scripted TLS server starts")
}

/// `stillup ARGS…` with the trust variables of this machine removed and `vars` set.
fn stillup_trusting<'a>(args: impl IntoIterator<Item = &'a str>, vars: &[(&str, &Path)]) -> Run {
    let binary = assert_cmd::cargo::cargo_bin("stillup");
    let mut cmd = wrapper(binary.to_str().unwrap(), args);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    run_to_end(cmd)
}

fn check_trusting(url: &str, extra: &[&str], vars: &[(&str, &Path)]) -> Run {
    let mut args = vec!["check", url, "--output", "json", "--attempt-timeout", "3s"];
    args.extend_from_slice(extra);
    stillup_trusting(args, vars)
}

#[track_caller]
fn assert_healthy(run: &Run) {
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

/// The message of a run that failed once as `tls_verify`.
#[track_caller]
fn tls_verify_message(run: &Run) -> String {
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_eq!(classes(&report), ["tls_verify"], "{run}");
    last_message(&report)
}

#[track_caller]
fn assert_no_debug_text(message: &str) {
    for debug in [
        "DnsName(",
        "IpAddress(",
        "OtherError",
        "Other(",
        "UNIX",
        "Context {",
    ] {
        assert!(!message.contains(debug), "{debug} in {message:?}");
    }
}

#[test]
fn a_self_signed_ca_certificate_given_to_cacert_is_trusted_as_the_servers_own() {
    let dir = TempDir::new("tls-pinned-ca");
    let own = authority("127.0.0.1", &["127.0.0.1"]);
    let server = serve_made(&own.made);
    let pem = own.made.write(&dir, "c.pem");
    assert_healthy(&check_trusting(
        &server.url("/"),
        &["--cacert", pem.to_str().unwrap()],
        &[],
    ));
}

#[test]
fn the_servers_own_leaf_certificate_given_to_cacert_is_trusted() {
    let dir = TempDir::new("tls-pinned-leaf");
    let ca = authority("stillup test CA", &[]);
    let server_cert = leaf(&["127.0.0.1"], None, &ca);
    let server = serve_made(&server_cert);
    let pem = server_cert.write(&dir, "server.pem");
    assert_healthy(&check_trusting(
        &server.url("/"),
        &["--cacert", pem.to_str().unwrap()],
        &[],
    ));
}

#[test]
fn a_ca_certificate_given_to_cacert_also_trusts_what_it_signed() {
    let dir = TempDir::new("tls-ca-anchor");
    let ca = authority("127.0.0.1", &["127.0.0.1"]);
    let server = serve_made(&leaf(&["127.0.0.1"], None, &ca));
    let pem = ca.made.write(&dir, "ca.pem");
    assert_healthy(&check_trusting(
        &server.url("/"),
        &["--cacert", pem.to_str().unwrap()],
        &[],
    ));
}

#[test]
fn a_pinned_certificate_that_expired_fails_as_expired_with_its_date() {
    let dir = TempDir::new("tls-pinned-expired");
    let ca = authority("stillup test CA", &[]);
    let now = time::OffsetDateTime::now_utc();
    let window = (
        now - time::Duration::days(30),
        now - time::Duration::days(2),
    );
    let server_cert = leaf(&["127.0.0.1"], Some(window), &ca);
    let server = serve_made(&server_cert);
    let pem = server_cert.write(&dir, "server.pem");
    let run = check_trusting(&server.url("/"), &["--cacert", pem.to_str().unwrap()], &[]);
    let message = tls_verify_message(&run);
    assert!(
        message.contains("certificate has expired — expired on "),
        "{message}"
    );
    assert!(message.contains(" UTC (2 days ago)"), "{message}");
    assert_no_debug_text(&message);
    assert_eq!(
        server.requests(),
        0,
        "no request may cross a rejected handshake"
    );
}

#[test]
fn a_pinned_certificate_for_another_name_fails_as_wrong_name() {
    let dir = TempDir::new("tls-pinned-name");
    let own = authority("api.example", &["api.example", "www.example"]);
    let server = serve_made(&own.made);
    let pem = own.made.write(&dir, "c.pem");
    let run = check_trusting(&server.url("/"), &["--cacert", pem.to_str().unwrap()], &[]);
    let message = tls_verify_message(&run);
    assert!(
        message.contains(
            "not valid for this host name — valid for api.example, www.example (not 127.0.0.1)"
        ),
        "{message}"
    );
    assert_no_debug_text(&message);
}

#[test]
fn a_self_signed_ca_certificate_nobody_trusts_fails_as_not_trusted() {
    let own = authority("127.0.0.1", &["127.0.0.1"]);
    let server = serve_made(&own.made);
    let message = tls_verify_message(&check_trusting(&server.url("/"), &[], &[]));
    assert!(message.contains("not trusted"), "{message}");
    assert_no_debug_text(&message);
    assert!(!message.contains("CaUsedAsEndEntity"), "{message}");
}

#[test]
fn a_certificate_made_by_openssl_req_x509_given_to_cacert_is_trusted() {
    let openssl = Path::new("/usr/bin/openssl");
    if !openssl.exists() {
        eprintln!("skipped: no {}", openssl.display());
        return;
    }
    let dir = TempDir::new("tls-openssl");
    let (key, cert) = (dir.file("k.pem"), dir.file("c.pem"));
    // Exactly the command of the report (issue 10, row 3).
    let made = std::process::Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    use rustls::pki_types::pem::PemObject;
    let chain = vec![rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap()];
    let server = serve_presenting(
        chain,
        rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap(),
    );
    let url = server.url("/");
    assert_healthy(&check_trusting(
        &url,
        &["--cacert", cert.to_str().unwrap()],
        &[],
    ));
    let message = tls_verify_message(&check_trusting(&url, &[], &[]));
    assert!(message.contains("not trusted"), "{message}");
    assert_no_debug_text(&message);
}

#[test]
fn ssl_cert_file_names_the_authorities_trusted_without_cacert() {
    let dir = TempDir::new("tls-cert-file");
    let ca = authority("stillup test CA", &[]);
    let server = serve_made(&leaf(&["127.0.0.1"], None, &ca));
    let bundle = ca.made.write(&dir, "bundle.pem");
    let url = server.url("/");
    assert_healthy(&check_trusting(&url, &[], &[("SSL_CERT_FILE", &bundle)]));
    let message = tls_verify_message(&check_trusting(&url, &[], &[]));
    assert!(message.contains("not trusted"), "{message}");
}

#[test]
fn ssl_cert_dir_names_the_authorities_trusted_without_cacert() {
    let dir = TempDir::new("tls-cert-dir");
    let ca = authority("stillup test CA", &[]);
    let server = serve_made(&leaf(&["127.0.0.1"], None, &ca));
    let authorities = dir.file("certs");
    std::fs::create_dir(&authorities).unwrap();
    // As c_rehash lays it out: the file, and a hash-named link to it; plus a stray file.
    std::fs::write(authorities.join("stillup-test-ca.pem"), &ca.made.pem).unwrap();
    std::os::unix::fs::symlink("stillup-test-ca.pem", authorities.join("0a1b2c3d.0")).unwrap();
    std::fs::write(authorities.join("README"), "not a certificate\n").unwrap();
    let url = server.url("/");
    assert_healthy(&check_trusting(
        &url,
        &[],
        &[("SSL_CERT_DIR", &authorities)],
    ));
    tls_verify_message(&check_trusting(&url, &[], &[]));
}

#[test]
fn cacert_adds_to_the_system_trust_store_rather_than_replacing_it() {
    let dir = TempDir::new("tls-cacert-adds");
    let system_ca = authority("system CA", &[]);
    let private_ca = authority("private CA", &[]);
    let public = serve_made(&leaf(&["127.0.0.1"], None, &system_ca));
    let private = serve_made(&leaf(&["127.0.0.1"], None, &private_ca));
    let bundle = system_ca.made.write(&dir, "bundle.pem");
    let cacert = private_ca.made.write(&dir, "private.pem");
    let run = stillup_trusting(
        [
            "wait",
            &public.url("/"),
            &private.url("/"),
            "--cacert",
            cacert.to_str().unwrap(),
            "--timeout",
            "5s",
            "--output",
            "json",
        ],
        &[("SSL_CERT_FILE", &bundle)],
    );
    run.assert_code(0)
        .assert_within(Duration::from_secs(5) + SLACK);
}

#[test]
fn a_broken_ssl_cert_file_or_dir_is_a_usage_error_naming_it_before_any_request() {
    let dir = TempDir::new("tls-broken-store");
    let not_pem = dir.file("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let own = authority("127.0.0.1", &["127.0.0.1"]);
    let server = serve_made(&own.made);
    let url = server.url("/");
    let missing = dir.file("missing.pem");
    let cases: [(&str, &Path); 5] = [
        ("SSL_CERT_FILE", &missing),
        ("SSL_CERT_FILE", &not_pem),
        // Not a regular file: refused unread rather than read for ever.
        ("SSL_CERT_FILE", Path::new("/dev/zero")),
        ("SSL_CERT_FILE", Path::new("")),
        ("SSL_CERT_DIR", &missing),
    ];
    for (variable, value) in cases {
        let what = format!("{variable}={}", value.display());
        let run = check_trusting(&url, &[], &[(variable, value)]);
        run.assert_within(SLACK);
        let line = run.usage_error_line(&what);
        assert!(line.contains(variable), "{what}: {line}");
        assert!(!line.contains("panicked"), "{what}: {line}");
    }
    assert_eq!(server.connections(), 0, "nothing may be sent on bad input");
}

#[test]
fn a_broken_ssl_cert_file_does_not_concern_targets_without_tls() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = check_trusting(
        &server.url("/"),
        &[],
        &[("SSL_CERT_FILE", Path::new("/nonexistent/bundle.pem"))],
    );
    assert_healthy(&run);
}

#[test]
fn tls_failure_messages_are_words_not_rust_debug_text() {
    let dir = TempDir::new("tls-words");
    let ca = authority("stillup test CA", &[]);
    let trusted = ca.made.write(&dir, "ca.pem");
    let trusted = trusted.to_str().unwrap();

    let named = serve_made(&leaf(&["api.example", "www.example", "::1"], None, &ca));
    let message = tls_verify_message(&check_trusting(
        &named.url("/"),
        &["--cacert", trusted],
        &[],
    ));
    assert!(
        message.contains("valid for api.example, www.example, ::1 (not 127.0.0.1)"),
        "{message}"
    );
    assert_no_debug_text(&message);

    let now = time::OffsetDateTime::now_utc();
    let window = (
        now - time::Duration::days(30),
        now - time::Duration::days(3),
    );
    let expired = serve_made(&leaf(&["127.0.0.1"], Some(window), &ca));
    let message = tls_verify_message(&check_trusting(
        &expired.url("/"),
        &["--cacert", trusted],
        &[],
    ));
    let date =
        regex::Regex::new(r"expired on \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(3 days ago\)")
            .unwrap();
    assert!(date.is_match(&message), "{message}");
    assert_no_debug_text(&message);
}

#[test]
fn a_client_key_that_is_not_the_certificates_own_is_a_usage_error_in_words() {
    let dir = TempDir::new("tls-client-key");
    let ca = authority("stillup test CA", &[]);
    let (first, second) = (
        leaf(&["client-a"], None, &ca),
        leaf(&["client-b"], None, &ca),
    );
    let cert = first.write(&dir, "client.pem");
    let key = dir.file("other-key.pem");
    let other_key = rustls::pki_types::PrivatePkcs8KeyDer::from(second.key_der.clone());
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            other_key.secret_pkcs8_der()
        )
    );
    std::fs::write(&key, pem).unwrap();
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = check_trusting(
        &server.url("/").replace("http://", "https://"),
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    let line = run.usage_error_line("a key of another certificate");
    assert!(
        line.contains("is not the key of the first certificate"),
        "{line}"
    );
    assert!(!line.contains("KeyMismatch"), "{line}");
    assert_eq!(server.connections(), 0, "nothing may be sent on bad input");
}
