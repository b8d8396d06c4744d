//! Request options: method, headers, body, credentials from the environment or a file,
//! `--no-follow`, and TLS trust (`--insecure`, `--cacert`, mutual TLS with `--cert`/`--key`).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

use super::support::{last_class, last_message, serve, stillup, TempDir};

/// A certificate for `names` with its PEM texts, generated for one test.
struct PemCert {
    cert_pem: String,
    key_pem: String,
}

fn generate(names: &[&str]) -> PemCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    PemCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server presenting `server`; when `client_ca` is given, it requires a client
/// certificate signed by it.
fn tls_server(server: &PemCert, client_ca: Option<&PemCert>) -> ScriptedServer {
    let chain = vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    ScriptedServer::spawn(
        Script::new()
            .forever(Behavior::Respond(Reply::text(200, "ok")))
            .tls(Arc::new(config)),
    )
    .unwrap()
}

#[test]
fn insecure_accepts_a_self_signed_certificate() {
    let cert = generate(&["127.0.0.1"]);
    let server = tls_server(&cert, None);
    let url = server.url("/");
    stillup(["check", &url]).assert_code(1);
    stillup(["check", &url, "--insecure"]).assert_code(0);
}

#[test]
fn cacert_trusts_a_private_authority() {
    let dir = TempDir::new("request-1");
    let cert = generate(&["127.0.0.1"]);
    let ca = dir.file("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let server = tls_server(&cert, None);
    let url = server.url("/");
    stillup(["check", &url, "--cacert", ca.to_str().unwrap()]).assert_code(0);
}

#[test]
fn with_the_authority_trusted_a_wrong_name_is_reported_as_such() {
    let dir = TempDir::new("request-2");
    let cert = generate(&["other.example"]);
    let ca = dir.file("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let server = tls_server(&cert, None);
    let url = server.url("/");
    let run = stillup([
        "check",
        &url,
        "--cacert",
        ca.to_str().unwrap(),
        "--output",
        "json",
    ]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(last_class(&report), "tls_verify");
    assert!(
        last_message(&report).contains("not valid for this host name"),
        "{run}"
    );
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = TempDir::new("request-3");
    let server_cert = generate(&["127.0.0.1"]);
    let client = generate(&["stillup-client"]);
    let server = tls_server(&server_cert, Some(&client));
    let ca = dir.file("ca.pem");
    std::fs::write(&ca, &server_cert.cert_pem).unwrap();
    let cert = dir.file("client.pem");
    std::fs::write(&cert, &client.cert_pem).unwrap();
    let key = dir.file("client-key.pem");
    std::fs::write(&key, &client.key_pem).unwrap();
    let ca = ca.to_str().unwrap();
    let url = server.url("/");

    let without = stillup(["check", &url, "--cacert", ca, "--output", "json"]);
    without.assert_code(1);
    let report = without.json();
    assert_eq!(last_class(&report), "tls_handshake", "{without}");
    assert!(
        last_message(&report).contains("client certificate"),
        "{without}"
    );

    let with = stillup([
        "check",
        &url,
        "--cacert",
        ca,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    with.assert_code(0);
}

#[test]
fn unreadable_or_empty_tls_files_are_usage_errors_before_any_request() {
    let dir = TempDir::new("request-4");
    let empty = dir.file("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let missing = dir.file("missing.pem");
    for args in [
        vec!["--cacert", missing.to_str().unwrap()],
        vec!["--cacert", empty.to_str().unwrap()],
        vec![
            "--cert",
            empty.to_str().unwrap(),
            "--key",
            empty.to_str().unwrap(),
        ],
    ] {
        let mut all = vec!["check", url.as_str()];
        all.extend(args);
        let run = stillup(all);
        run.assert_code(2);
        assert_eq!(run.stderr.lines().count(), 1, "{run}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn method_headers_and_body_are_sent_on_every_attempt() {
    let server = ScriptedServer::spawn(
        Script::new()
            .then_requests(1, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::text(200, "ok"))),
    )
    .unwrap();
    let url = server.url("/deep");
    let run = stillup([
        "wait",
        &url,
        "--interval",
        "100ms",
        "-X",
        "post",
        "-H",
        "User-Agent: deploy-bot/1",
        "-H",
        "X-Check: deep",
        "--data",
        "{\"deep\":true}",
    ]);
    run.assert_code(0);
    let seen = server.request_log();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("user-agent"), Some("deploy-bot/1"));
        assert_eq!(request.header("x-check"), Some("deep"));
        assert_eq!(request.header("content-length"), Some("13"));
        let agents = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
            .count();
        assert_eq!(agents, 1, "the user's header replaces stillup's own");
    }
}

#[test]
fn bearer_and_user_secrets_come_from_env_and_files_and_are_never_printed() {
    let dir = TempDir::new("request-5");
    let server = serve(Behavior::Respond(Reply::status(503)));
    let url = server.url("/");
    let token_file = dir.file("token");
    std::fs::write(&token_file, "t0ken-from-file\n").unwrap();

    let mut cmd = assert_cmd::Command::cargo_bin("stillup").unwrap();
    cmd.env("DEPLOY_TOKEN", "t0ken-from-env").args([
        "check",
        &url,
        "--bearer",
        "env:DEPLOY_TOKEN",
        "--output",
        "json",
    ]);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!printed.contains("t0ken"), "{printed}");

    let file_source = format!("file:{}", token_file.display());
    let run = stillup(["check", &url, "--bearer", &file_source]);
    assert!(
        !format!("{}{}", run.stdout, run.stderr).contains("t0ken"),
        "{run}"
    );
    let user_source = format!("admin:file:{}", token_file.display());
    stillup(["check", &url, "--user", &user_source]);

    let seen = server.request_log();
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer t0ken-from-env")
    );
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer t0ken-from-file")
    );
    // admin:t0ken-from-file
    assert_eq!(
        seen[2].header("authorization"),
        Some("Basic YWRtaW46dDBrZW4tZnJvbS1maWxl")
    );
}

#[test]
fn a_missing_secret_variable_is_a_usage_error() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let url = server.url("/");
    let run = stillup([
        "check",
        &url,
        "--bearer",
        "env:STILLUP_TEST_NO_SUCH_VARIABLE",
    ]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("STILLUP_TEST_NO_SUCH_VARIABLE"),
        "{run}"
    );
    assert_eq!(server.connections(), 0);
}

#[test]
fn no_follow_judges_the_redirect_itself() {
    let server = serve(Behavior::Redirect {
        status: 302,
        location: "/elsewhere".into(),
    });
    let url = server.url("/");
    let run = stillup(["check", &url, "--no-follow", "--output", "json"]);
    run.assert_code(1);
    assert_eq!(last_class(&run.json()), "http_status");
    assert_eq!(server.requests(), 1);
    stillup(["check", &url, "--no-follow", "--expect-status", "3xx"]).assert_code(0);
}
