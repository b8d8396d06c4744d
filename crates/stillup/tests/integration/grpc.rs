//! `grpc://` and `grpcs://` targets against a real grpc.health.v1 server (tonic-health) on
//! 127.0.0.1:0: SERVING is healthy; NOT_SERVING, an unknown service, a server without the
//! health service, and a refused port each get their own class. A bare HTTP/2 server covers
//! the answers tonic never gives (HTTP 503, trailers-only UNAVAILABLE, garbage framing).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use super::support::*;

/// A tonic server on its own runtime, with or without the standard health service.
struct GrpcServer {
    addr: SocketAddr,
    reporter: Option<HealthReporter>,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<Runtime>,
}

impl GrpcServer {
    /// With the health service; the server as a whole (service "") starts SERVING.
    fn health() -> GrpcServer {
        GrpcServer::start(true, None)
    }

    fn start(health: bool, tls: Option<&Cert>) -> GrpcServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut builder = Server::builder();
        if let Some(cert) = tls {
            let identity = Identity::from_pem(&cert.pem, &cert.key_pem);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .unwrap();
        }
        let (reporter, router) = if health {
            let (reporter, service) = tonic_health::server::health_reporter();
            (Some(reporter), builder.add_service(service))
        } else {
            // No service at all: every method is UNIMPLEMENTED.
            (None, builder.add_routes(Routes::default()))
        };
        let (stop, stopped) = oneshot::channel::<()>();
        runtime.spawn(
            router.serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            }),
        );
        GrpcServer {
            addr,
            reporter,
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("running")
    }

    fn reporter(&self) -> HealthReporter {
        self.reporter
            .clone()
            .expect("a server with the health service")
    }

    /// Set the status of `service` ("" for the server as a whole).
    fn set(&self, service: &str, status: ServingStatus) {
        self.runtime()
            .block_on(self.reporter().set_service_status(service, status));
    }

    /// Set the status of `service` after `delay`, while the test goes on.
    fn set_after(&self, delay: Duration, service: &'static str, status: ServingStatus) {
        let reporter = self.reporter();
        self.runtime().spawn(async move {
            tokio::time::sleep(delay).await;
            reporter.set_service_status(service, status).await;
        });
    }

    /// `grpc://127.0.0.1:PORT[/service]`.
    fn url(&self, service: &str) -> String {
        self.url_with("grpc", service)
    }

    fn url_with(&self, scheme: &str, service: &str) -> String {
        match service {
            "" => format!("{scheme}://{}", self.addr),
            service => format!("{scheme}://{}/{service}", self.addr),
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

#[test]
fn a_serving_grpc_server_is_healthy_with_timings() {
    let server = GrpcServer::health();
    let url = server.url("");
    let run = check_json(&url, &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["target"], url.as_str());
    assert_eq!(only["kind"], "grpc");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let attempt = &attempts_of(only)[0];
    assert_eq!(attempt["status"], 200, "{run}");
    assert_eq!(attempt["remote"], server.addr.to_string());
    let timings = &attempt["timings"];
    for phase in ["connect_ms", "first_byte_ms", "body_ms"] {
        assert!(timings[phase].is_number(), "{phase} missing\n{run}");
    }
    assert!(
        timings["dns_ms"].is_null(),
        "an IP literal needs no DNS\n{run}"
    );
    assert!(timings["tls_ms"].is_null(), "grpc:// has no TLS\n{run}");

    let run = stillup(["check", &url]);
    run.assert_code(0);
    assert!(run.stderr.contains(&url), "{run}");
}

#[test]
fn resolve_and_connect_to_send_a_grpc_check_to_the_backend_behind_a_name() {
    let server = GrpcServer::health();
    let port = server.addr.port();
    let url = format!("grpc://health.example.test:{port}");
    let resolve = format!("health.example.test:{port}:127.0.0.1");
    let run = check_json(&url, &["--resolve", &resolve]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert_eq!(
        attempts_of(target(&report, 0))[0]["remote"],
        server.addr.to_string()
    );

    let closed = closed_port();
    let url = format!("grpc://127.0.0.1:{closed}");
    let connect_to = format!("127.0.0.1:{closed}:127.0.0.1:{port}");
    let run = check_json(&url, &["--connect-to", &connect_to]);
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn a_named_serving_service_is_healthy() {
    let server = GrpcServer::health();
    server.set("stillup.test.Api", ServingStatus::Serving);
    let run = check_json(&server.url("stillup.test.Api"), &[]);
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn a_not_serving_server_fails_as_grpc_not_serving() {
    let server = GrpcServer::health();
    server.set("", ServingStatus::NotServing);
    let run = check_json(&server.url(""), &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["grpc_not_serving"], "{run}");
    let message = last_message(&report);
    assert!(message.contains("NOT_SERVING"), "{message}");
    assert_eq!(
        target(&report, 0)["last_failure"]["class"],
        "grpc_not_serving"
    );
}

#[test]
fn a_service_that_turns_serving_ends_the_wait_healthy() {
    let server = GrpcServer::health();
    server.set("stillup.test.Api", ServingStatus::NotServing);
    // Long enough that the first attempt comes before, even on a busy machine.
    server.set_after(
        Duration::from_millis(1500),
        "stillup.test.Api",
        ServingStatus::Serving,
    );
    let run = wait_json(
        &[&server.url("stillup.test.Api")],
        &["--timeout", "20s", "--interval", "200ms"],
    );
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(story(&report), ["grpc_not_serving", HEALTHY], "{run}");
    let summary = target(&report, 0)["timeline"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(summary.contains("gRPC NOT_SERVING"), "{summary}");
}

#[test]
fn an_unknown_service_fails_as_grpc_service_unknown() {
    let server = GrpcServer::health();
    let run = check_json(&server.url("no.such.Service"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["grpc_service_unknown"], "{run}");
    assert!(last_message(&report).contains("no.such.Service"), "{run}");
}

#[test]
fn a_server_without_the_health_service_fails_as_grpc_unimplemented() {
    let server = GrpcServer::start(false, None);
    let run = check_json(&server.url(""), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["grpc_unimplemented"], "{run}");
    assert!(
        last_message(&report).contains("grpc.health.v1.Health"),
        "{run}"
    );

    // A class like any other for --fail-fast: waiting will not add a health service.
    let run = wait_json(
        &[&server.url("")],
        &["--timeout", "20s", "--fail-fast", "grpc_unimplemented"],
    );
    run.assert_code(3)
        .assert_within(Duration::from_secs(3) + SLACK);
    assert_eq!(classes(&run.json()), ["grpc_unimplemented"], "{run}");
}

#[test]
fn a_refused_grpc_port_fails_as_refused() {
    let url = format!("grpc://127.0.0.1:{}", closed_port());
    let run = check_json(&url, &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["refused"], "{run}");
}

#[test]
fn grpcs_is_healthy_with_cacert_or_insecure_and_fails_as_tls_verify_without() {
    let cert = self_signed(&["127.0.0.1"], None);
    let server = GrpcServer::start(true, Some(&cert));
    let dir = TempDir::new("grpcs");
    let ca = cert.write_pem(&dir, "ca.pem");
    let url = server.url_with("grpcs", "");

    let run = check_json(&url, &["--cacert", ca.to_str().unwrap()]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let timings = &attempts_of(target(&report, 0))[0]["timings"];
    assert!(timings["tls_ms"].is_number(), "{run}");

    let run = check_json(&url, &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_eq!(classes(&report), ["tls_verify"], "{run}");
    assert!(last_message(&report).contains("--cacert"), "{run}");
    let run = check_json(&url, &["--insecure"]);
    run.assert_code(0);
    assert_eq!(classes(&run.json()), [HEALTHY], "{run}");
}

#[test]
fn an_http1_server_on_a_grpc_port_fails_as_protocol_mismatch() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let run = check_json(&format!("grpc://{}", server.addr()), &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    // Decided by the bytes it answered, whether the client saw them or the close first.
    assert_eq!(classes(&report), ["protocol_mismatch"], "{run}");
    assert!(last_message(&report).contains("HTTP/1 server"), "{run}");
}

#[test]
fn a_grpc_port_that_never_answers_fails_as_response_timeout() {
    let server = serve(Behavior::Hang);
    let run = check_json(
        &format!("grpc://{}", server.addr()),
        &["--attempt-timeout", "1s"],
    );
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    assert_eq!(classes(&run.json()), ["response_timeout"], "{run}");
}

/// How the bare HTTP/2 server answers every call.
#[derive(Debug, Clone)]
enum Canned {
    /// This HTTP status, no gRPC at all.
    Status(u16),
    /// HTTP 200 whose headers end the call with this grpc-status and grpc-message.
    TrailersOnly(&'static str, &'static str),
    /// HTTP 200, this body, then grpc-status 0 in the trailers.
    Body(Vec<u8>),
}

/// A bare HTTP/2 server (h2, no gRPC library) answering every call as canned.
struct H2Server {
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

impl H2Server {
    fn start(canned: Canned) -> H2Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(answer(tcp, canned.clone()));
            }
        });
        H2Server {
            addr,
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

async fn answer(tcp: tokio::net::TcpStream, canned: Canned) {
    let Ok(mut connection) = h2::server::handshake(tcp).await else {
        return;
    };
    while let Some(Ok((_request, mut respond))) = connection.accept().await {
        let head = |status: u16| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/grpc")
        };
        match &canned {
            Canned::Status(status) => {
                let _ = respond.send_response(head(*status).body(()).unwrap(), true);
            }
            Canned::TrailersOnly(code, message) => {
                let response = head(200)
                    .header("grpc-status", *code)
                    .header("grpc-message", *message)
                    .body(())
                    .unwrap();
                let _ = respond.send_response(response, true);
            }
            Canned::Body(bytes) => {
                let Ok(mut send) = respond.send_response(head(200).body(()).unwrap(), false) else {
                    continue;
                };
                let _ = send.send_data(bytes::Bytes::from(bytes.clone()), false);
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                let _ = send.send_trailers(trailers);
            }
        }
    }
}

#[test]
fn http2_answers_are_judged_by_http_status_then_grpc_status_then_the_message() {
    for (canned, class, words) in [
        (Canned::Status(503), "http_status", "503"),
        (
            Canned::TrailersOnly("14", "backend%20warming%20up"),
            "grpc_status",
            "UNAVAILABLE (14): backend warming up",
        ),
        (
            Canned::TrailersOnly("5", ""),
            "grpc_service_unknown",
            "does not report its overall health",
        ),
        (Canned::Body(b"<html>".to_vec()), "invalid_response", "gRPC"),
        (
            Canned::Body(vec![0, 0, 0, 0, 2, 0x08, 2]),
            "grpc_not_serving",
            "NOT_SERVING",
        ),
        (Canned::Body(vec![0, 0, 0, 0, 2, 0x08, 1]), HEALTHY, ""),
    ] {
        let server = H2Server::start(canned.clone());
        let run = check_json(&format!("grpc://{}", server.addr), &[]);
        let report = run.json();
        assert_matches_schema(&report);
        assert_eq!(classes(&report), [class], "{canned:?}\n{run}");
        if class != HEALTHY {
            run.assert_code(1);
            let message = last_message(&report);
            assert!(message.contains(words), "{canned:?}: {message}");
        }
    }
}

#[test]
fn grpc_targets_that_cannot_work_are_usage_errors() {
    for (bad, hint) in [
        ("grpc://127.0.0.1", "grpc://api.internal:50051"),
        ("grpcs://api.internal", "grpcs://api.internal:50051"),
        ("grpc://127.0.0.1:50051/a/b", "no '/'"),
        ("grpc://127.0.0.1:50051/?deep=1", "query"),
    ] {
        let run = stillup(["check", bad]);
        let line = run.usage_error_line(bad);
        assert!(line.contains(bad), "{bad}: {line}");
        assert!(line.contains(hint), "{bad}: {hint:?} missing from {line}");
    }
}

/// `--max-latency` applies to grpc:// too: the time until the health call is answered.
#[test]
fn max_latency_bounds_the_health_call() {
    let server = GrpcServer::health();
    let url = server.url("");
    let run = check_json(&url, &["--max-latency", "1ns"]);
    run.assert_code(1);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["condition_failed"], "{run}");
    assert!(last_message(&report).contains("health call took"), "{run}");
    check_json(&url, &["--max-latency", "10s"]).assert_code(0);
}
