//! `grpc://` and `grpcs://`: one standard `grpc.health.v1.Health/Check` call, phase by phase —
//! resolve, connect, TLS (ALPN `h2`), the HTTP/2 request, response headers, the message and
//! its trailers — each within the attempt's budget and with its own failure class.
//!
//! The call is made by hand on hyper's low-level HTTP/2 client connection (no gRPC framework
//! in the library): the request is a POST of one 5-byte-framed protobuf message, and the
//! answer is judged by HTTP status, `grpc-status` (in the trailers, or in the headers of a
//! trailers-only response) and the decoded `ServingStatus`. The bytes are `wire.rs`'s; h2's
//! error type, read to tell a stream reset from a server that does not speak HTTP/2, stays
//! in this file.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::net::cause::{find_cause, http2_failure, socket_failure};
use crate::net::overrides::AddressOverrides;
use crate::net::sniff::{Expect, Sniffed};
use crate::net::tls;
use crate::probe::http::h2_request_failure;
use crate::probe::{AbortOnDrop, Configure, ProbeDetails, ProbeResult, Prober};
use crate::target::{percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

pub mod wire;

use wire::ServingStatus;

/// The one method called.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// A `HealthCheckResponse` is a few bytes; a message past this is not one, and is not read on.
const MAX_BODY: usize = 64 * 1024;
/// Response header lists larger than this are refused by the HTTP/2 layer.
const MAX_HEADER_LIST: u32 = 64 * 1024;
/// gRPC status codes with a class of their own.
const NOT_FOUND: u32 = 5;
const UNIMPLEMENTED: u32 = 12;

/// The URL schemes of gRPC targets: plain and TLS.
pub const SCHEMES: &[&str] = &["grpc", "grpcs"];

/// A gRPC server and the service whose health to ask for (`""`: the server as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTarget {
    host: String,
    port: u16,
    tls: bool,
    service: String,
}

impl GrpcTarget {
    /// Parse `grpc://host:port[/service]` or `grpcs://host:port[/service]` (IPv6 literals in
    /// brackets). No service, or `/`, asks for the health of the server as a whole.
    pub fn parse(input: &str) -> Result<GrpcTarget, TargetError> {
        let trimmed = input.trim();
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let scheme = url.scheme().to_string();
        let tls = match scheme.as_str() {
            "grpc" => false,
            "grpcs" => true,
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: redact_input(trimmed),
                    scheme: other.to_string(),
                    supported: crate::probe::supported_schemes(),
                })
            }
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(TargetError::MissingHost {
                input: redact_input(trimmed),
            });
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(TargetError::GrpcExtras {
                input: redact_input(trimmed),
                scheme,
            });
        }
        let port = match url.port() {
            Some(0) => {
                return Err(TargetError::PortZero {
                    input: redact_input(trimmed),
                })
            }
            Some(port) => port,
            None => {
                return Err(TargetError::GrpcMissingPort {
                    input: redact_input(trimmed),
                    scheme,
                })
            }
        };
        let service = percent_decode(url.path().strip_prefix('/').unwrap_or(url.path()));
        if service.contains('/') {
            return Err(TargetError::GrpcServiceName {
                input: redact_input(trimmed),
                scheme,
                service,
            });
        }
        Ok(GrpcTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            service,
        })
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (always given: these schemes have no default).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `grpcs://`: TLS, with the same trust options as `https://`.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `grpcs://`, as every kind says it.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The service whose health is asked for; empty for the server as a whole.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `host:port`, IPv6 literals in brackets: the `:authority` of the call.
    pub fn authority(&self) -> String {
        crate::target::authority(&self.host, self.port)
    }
}

impl fmt::Display for GrpcTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "grpcs" } else { "grpc" };
        write!(f, "{scheme}://{}", self.authority())?;
        if !self.service.is_empty() {
            let encoded =
                percent_encoding::utf8_percent_encode(&self.service, SERVICE_ESCAPES).to_string();
            write!(f, "/{encoded}")?;
        }
        Ok(())
    }
}

/// Characters of a service name that cannot stand as they are in a URL path.
const SERVICE_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Everything needed to health-check one gRPC server.
#[derive(Debug, Clone)]
pub struct GrpcProbe {
    /// The server, and the service whose health to ask for.
    pub target: GrpcTarget,
    /// The TLS configuration of `grpcs://`, offering ALPN `h2` (see [`GrpcProbe::set_tls`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// Extra request metadata, e.g. `authorization` (values may be secrets; never printed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points (the
    /// `:authority` and TLS name stay the target's).
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the health call may take to be answered SERVING
    /// (resolving and connecting included), as a response may for HTTP.
    pub max_latency: Option<Duration>,
}

impl GrpcProbe {
    /// A health check of `target`, trusting what the system trusts for `grpcs://`.
    pub fn new(target: GrpcTarget) -> Self {
        GrpcProbe {
            target,
            tls: tls::with_h2_alpn(&tls::default_client_config()),
            headers: Vec::new(),
            addresses: AddressOverrides::default(),
            max_latency: None,
        }
    }

    /// Use the trust and client certificate of `config` (as `https://` targets do), offering
    /// only `h2` in ALPN.
    pub fn set_tls(&mut self, config: &rustls::ClientConfig) {
        self.tls = tls::with_h2_alpn(config);
    }
}

impl Prober for GrpcProbe {
    /// One call, bounded by `budget` (the attempt's own timeout clamped to the run's deadline).
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let mut timings = PhaseTimings::default();
        let mut remote = None;
        let mut status = None;
        let mut details = ProbeDetails::default();
        let mut result = self
            .call(budget, &mut timings, &mut remote, &mut status, &mut details)
            .await;
        timings.total = started.elapsed();
        if let (Ok(()), Some(limit)) = (&result, self.max_latency) {
            result = Failure::too_slow("health call", timings.total, limit);
        }
        ProbeResult {
            result,
            status,
            timings,
            remote,
            redirects: 0,
            retry_after: None,
            details,
        }
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "grpc"
    }
}

impl GrpcProbe {
    async fn call(
        &self,
        budget: &Deadline,
        timings: &mut PhaseTimings,
        remote: &mut Option<SocketAddr>,
        status: &mut Option<u16>,
        details: &mut ProbeDetails,
    ) -> Result<(), Failure> {
        let host = self.target.host();
        let (tcp, addr) = self
            .addresses
            .connect(host, self.target.port(), budget, timings)
            .await?;
        *remote = Some(addr);
        if self.target.is_tls() {
            let tls_started = Instant::now();
            let stream = tls::handshake_or_mismatch(self.tls.clone(), host, tcp, budget).await?;
            timings.tls = Some(tls_started.elapsed());
            details.tls = Some(tls::session_details(stream.get_ref().1));
            self.exchange(stream, budget, timings, status).await
        } else {
            self.exchange(tcp, budget, timings, status).await
        }
    }

    /// The HTTP/2 call over an established stream, judged.
    async fn exchange<S>(
        &self,
        stream: S,
        budget: &Deadline,
        timings: &mut PhaseTimings,
        status: &mut Option<u16>,
    ) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request = self.build_request(budget)?;
        let request_started = Instant::now();
        let no_response = || Failure::ResponseTimeout {
            after: request_started.elapsed(),
        };
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder.max_header_list_size(MAX_HEADER_LIST);
        // Whether the port speaks HTTP/2 at all is decided by what it sent first.
        let stream = Sniffed::new(stream);
        let first = stream.first_bytes();
        let handshake = builder.handshake::<_, Full<Bytes>>(TokioIo::new(stream));
        let (mut sender, connection) =
            match tokio::time::timeout(budget.remaining(), handshake).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    return Err(first
                        .mismatch(Expect::Http2)
                        .unwrap_or_else(|| classify(&e, Stage::Head)))
                }
                Err(_) => return Err(no_response()),
            };
        // The connection task is ours alone; aborting it on every exit path closes the socket.
        let mut connection = AbortOnDrop(tokio::spawn(connection));
        let response = match tokio::time::timeout(budget.remaining(), sender.send_request(request))
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let place = "before the response headers";
                return Err(h2_request_failure(&e, place, &first, &mut connection, budget).await);
            }
            Err(_) => return Err(no_response()),
        };
        timings.first_byte = Some(request_started.elapsed());
        *status = Some(response.status().as_u16());
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(Failure::HttpStatus {
                status: parts.status.as_u16(),
                expected: "200, as every gRPC response".into(),
            });
        }
        // Trailers-only: the call ended in the headers (how servers say UNIMPLEMENTED).
        if let Some(code) = grpc_status(&parts.headers)? {
            return self.judge_status(code, &parts.headers);
        }
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !content_type.starts_with("application/grpc") {
            return Err(Failure::InvalidResponse {
                detail: format!(
                    "HTTP 200 with content-type {content_type:?}, not application/grpc — is a gRPC server listening there?"
                ),
            });
        }
        let body_started = Instant::now();
        let read = read_message(body, budget).await;
        timings.body = Some(body_started.elapsed());
        let (message, trailers) = read?;
        let trailers = trailers.unwrap_or_default();
        match grpc_status(&trailers)? {
            None => Err(Failure::InvalidResponse {
                detail: "the gRPC response ended without a grpc-status trailer".into(),
            }),
            Some(0) => self.judge_message(&message),
            Some(code) => self.judge_status(code, &trailers),
        }
    }

    fn build_request(&self, budget: &Deadline) -> Result<Request<Full<Bytes>>, Failure> {
        let scheme = if self.target.is_tls() {
            "https"
        } else {
            "http"
        };
        // HTTP/2 needs :scheme and :authority, which hyper takes from an absolute URI.
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(self.target.authority())
            .path_and_query(HEALTH_CHECK_PATH)
            .build()
            .map_err(|e| Failure::InvalidResponse {
                detail: format!("could not build the request: {e}"),
            })?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, "application/grpc")
            .header(TE, "trailers")
            .header(USER_AGENT, concat!("stillup/", env!("CARGO_PKG_VERSION")))
            .header("grpc-timeout", wire::encode_timeout(budget.remaining()))
            .body(Full::new(Bytes::from(wire::encode_request(
                self.target.service(),
            ))))
            .map_err(|e| Failure::InvalidResponse {
                detail: format!("could not build the request: {e}"),
            })?;
        // The user's metadata replaces ours of the same name; repeated names are all sent.
        let headers = request.headers_mut();
        for (name, _) in &self.headers {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        Ok(request)
    }

    /// A call that ended with a non-zero `grpc-status`.
    fn judge_status(&self, code: u32, metadata: &HeaderMap) -> Result<(), Failure> {
        let message = metadata
            .get("grpc-message")
            .map(|v| bounded_message(v.as_bytes()))
            .unwrap_or_default();
        Err(match code {
            0 => Failure::InvalidResponse {
                detail: "grpc-status 0 without a response message".into(),
            },
            NOT_FOUND => Failure::GrpcServiceUnknown {
                service: self.target.service().to_string(),
            },
            UNIMPLEMENTED => Failure::GrpcUnimplemented { message },
            code => Failure::GrpcStatus { code, message },
        })
    }

    /// A call that succeeded: what does the `HealthCheckResponse` say?
    fn judge_message(&self, message: &[u8]) -> Result<(), Failure> {
        let service = self.target.service().to_string();
        match wire::decode_response(message) {
            Ok(ServingStatus::Serving) => Ok(()),
            Ok(ServingStatus::ServiceUnknown) => Err(Failure::GrpcServiceUnknown { service }),
            Ok(other) => Err(Failure::GrpcNotServing {
                service,
                status: other.name(),
            }),
            Err(e) => Err(Failure::InvalidResponse {
                detail: e.to_string(),
            }),
        }
    }
}

/// `grpc-status` as a number, if present; a value that is not one is an invalid response.
fn grpc_status(metadata: &HeaderMap) -> Result<Option<u32>, Failure> {
    let Some(value) = metadata.get("grpc-status") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(Some)
        .ok_or_else(|| Failure::InvalidResponse {
            detail: format!(
                "grpc-status {:?} is not a status code",
                String::from_utf8_lossy(value.as_bytes())
            ),
        })
}

/// Most characters of a `grpc-message` kept (JSON carries them as they are; a terminal sees
/// them through the gate of `sanitize.rs`, cut shorter still).
const MAX_MESSAGE_CHARS: usize = 1024;

/// The server's `grpc-message`, percent-decoded and bounded: a server chooses its length and
/// every character, so it is text from the world, never trusted to be short or printable.
fn bounded_message(raw: &[u8]) -> String {
    // Decode a bounded prefix only: a character is at most 4 bytes of UTF-8, each at most 3
    // when percent-encoded, so this prefix holds every character kept.
    let prefix = &raw[..raw.len().min(MAX_MESSAGE_CHARS * 12)];
    let decoded = wire::decode_message(prefix);
    if decoded.chars().nth(MAX_MESSAGE_CHARS).is_none() && prefix.len() == raw.len() {
        return decoded;
    }
    let mut kept: String = decoded.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    kept.push('…');
    kept
}

/// Read the response message and trailers within budget and limit.
async fn read_message(
    mut body: Incoming,
    budget: &Deadline,
) -> Result<(Vec<u8>, Option<HeaderMap>), Failure> {
    let started = Instant::now();
    let mut message = Vec::new();
    let mut trailers = None;
    loop {
        let frame = match tokio::time::timeout(budget.remaining(), body.frame()).await {
            Err(_) => {
                return Err(Failure::BodyTimeout {
                    after: started.elapsed(),
                    received: message.len() as u64,
                })
            }
            Ok(None) => return Ok((message, trailers)),
            Ok(Some(Err(e))) => return Err(classify(&e, Stage::Body)),
            Ok(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                message.extend_from_slice(&data);
                wire::check_partial(&message, MAX_BODY).map_err(|e| Failure::InvalidResponse {
                    detail: e.to_string(),
                })?;
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers = Some(t);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Head,
    Body,
}

/// Classify a failed HTTP/2 exchange by the typed cause beneath hyper's error: the socket's
/// I/O error, or h2's own (a stream reset, GOAWAY, or bytes that are not HTTP/2 at all).
fn classify(e: &hyper::Error, stage: Stage) -> Failure {
    let place = match stage {
        Stage::Head => "before the response headers",
        Stage::Body => "before the response was complete",
    };
    if let Some(h2) = find_cause::<h2::Error>(e) {
        return http2_failure(h2, place);
    }
    if let Some(io) = find_cause::<io::Error>(e) {
        return socket_failure(io, place);
    }
    if e.is_closed() || e.is_incomplete_message() || e.is_canceled() {
        return Failure::Reset {
            detail: format!("closed by the server {place}"),
        };
    }
    Failure::InvalidResponse {
        detail: e.to_string(),
    }
}

impl Configure for GrpcProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<rustls::ClientConfig>) {
        GrpcProbe::set_tls(self, config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(input: &str) -> GrpcProbe {
        GrpcProbe::new(GrpcTarget::parse(input).unwrap())
    }

    fn metadata(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn requests_post_one_framed_message_to_the_health_method() {
        let p = probe("grpcs://[::1]:50051/my.pkg.Greeter");
        let request = p
            .build_request(&Deadline::after(std::time::Duration::from_secs(3)))
            .unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(
            request.uri().to_string(),
            "https://[::1]:50051/grpc.health.v1.Health/Check"
        );
        assert_eq!(request.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(request.headers()[TE], "trailers");
        assert!(request.headers()["grpc-timeout"]
            .to_str()
            .unwrap()
            .ends_with('m'));
        assert_eq!(p.tls.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn a_grpc_message_is_decoded_and_bounded() {
        assert_eq!(bounded_message(b"backend%20down"), "backend down");
        assert_eq!(bounded_message(b"%1B[2J%0D%0A"), "\x1b[2J\r\n");
        let long = "%41".repeat(100_000);
        let kept = bounded_message(long.as_bytes());
        assert_eq!(kept.chars().count(), MAX_MESSAGE_CHARS);
        assert!(kept.ends_with("A…"), "{kept}");
    }

    #[test]
    fn grpc_statuses_get_their_classes() {
        let p = probe("grpc://h:1/svc");
        let class = |pairs: &[(&'static str, &'static str)]| {
            let map = metadata(pairs);
            let code = grpc_status(&map).unwrap().unwrap();
            p.judge_status(code, &map).unwrap_err()
        };
        assert_eq!(
            class(&[("grpc-status", "5")]),
            Failure::GrpcServiceUnknown {
                service: "svc".into()
            }
        );
        assert_eq!(
            class(&[("grpc-status", "12")]).class(),
            "grpc_unimplemented"
        );
        assert_eq!(
            class(&[("grpc-status", "14"), ("grpc-message", "backend%20down")]),
            Failure::GrpcStatus {
                code: 14,
                message: "backend down".into()
            }
        );
        let bad = grpc_status(&metadata(&[("grpc-status", "ok")])).unwrap_err();
        assert_eq!(bad.class(), "invalid_response");
    }

    #[test]
    fn serving_statuses_get_their_classes() {
        let p = probe("grpc://h:1");
        let message = |status: u8| [0, 0, 0, 0, 2, 0x08, status];
        assert_eq!(p.judge_message(&message(1)), Ok(()));
        let not_serving = p.judge_message(&message(2)).unwrap_err();
        assert_eq!(not_serving.class(), "grpc_not_serving");
        assert!(not_serving.to_string().contains("NOT_SERVING"));
        let unknown = p.judge_message(&message(0)).unwrap_err();
        assert_eq!(unknown.class(), "grpc_not_serving");
        assert!(unknown.to_string().contains("UNKNOWN"));
        assert_eq!(
            p.judge_message(&message(3)).unwrap_err().class(),
            "grpc_service_unknown"
        );
        assert_eq!(
            p.judge_message(b"<html>").unwrap_err().class(),
            "invalid_response"
        );
    }
}
