//! One HTTP(S) attempt, phase by phase: resolve, connect, TLS, request, headers, body,
//! conditions — following same-origin redirects. `http+unix://` targets connect to their Unix
//! socket instead (no DNS, no TLS) and share everything from the request on: the exchange is
//! generic over the stream.
//!
//! Built on hyper's low-level connection API so every phase is our own step with its own
//! budget and its own failure class (reqwest would hide the phases and bury TLS causes).
//! The body is read up to a limit and never buffered beyond it, so memory stays flat
//! whatever the server sends. No compression is requested.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST, LOCATION, USER_AGENT,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use crate::condition::{Conditions, JsonCondition, ResponseView};
use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::net::cause::{find_cause, http2_failure, socket_failure};
use crate::net::overrides::AddressOverrides;
use crate::net::proxy::{self, Proxy, ProxySettings};
use crate::net::sniff::{Expect, FirstBytes, Sniffed};
use crate::net::{connect, tls};
use crate::probe::pool::{ConnectionPool, Idle, Io};
use crate::probe::{AbortOnDrop, Configure, ProbeDetails, ProbeResult, Prober};
use crate::timings::PhaseTimings;

mod target;

pub use target::{HttpTarget, Scheme, SCHEMES};

/// Redirects followed before giving up with `redirect_limit`.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;
/// Bytes of body read before giving up with `body_too_large`.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// Response heads larger than this are invalid responses, not memory to spend.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// As curl and browsers: a server sending more headers than this is broken or hostile.
const MAX_HEADERS: usize = 100;

/// Everything needed to probe one HTTP target.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// The URL (or Unix socket) to request.
    pub target: HttpTarget,
    /// What a response must satisfy to count as healthy (by default: a 2xx status).
    pub conditions: Conditions,
    /// The request method (default `GET`).
    pub method: Method,
    /// Extra request headers (values may be secrets; they are never printed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A request body, sent afresh on every attempt (and every redirect hop).
    pub body: Option<Bytes>,
    /// The most body bytes read, in bytes (default [`DEFAULT_MAX_BODY`]); a longer body
    /// fails as `body_too_large`.
    pub max_body: u64,
    /// The most redirects followed (default [`DEFAULT_MAX_REDIRECTS`]).
    pub max_redirects: usize,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points.
    pub addresses: AddressOverrides,
    /// HTTP proxies (from the environment in the CLI); loopback targets never use one.
    /// Shared: the same for every target of a run, and a few hundred bytes inline.
    pub proxies: Arc<ProxySettings>,
    /// Reuse HTTP/1.1 connections between attempts instead of a fresh one each time.
    pub keep_alive: bool,
    /// Idle connections kept for `keep_alive`, shared with every probe given a clone of it.
    pub pool: ConnectionPool,
    /// `--http2`: offer h2 by ALPN on https (HTTP/1.1 if the server declines), and speak
    /// HTTP/2 with prior knowledge on plain http.
    pub http2: bool,
    /// `tls` offering h2 first, built at the first https attempt with `http2` rather than at
    /// every one (a config copy carries the whole root store).
    h2_tls: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    /// Follow same-origin redirects (`--no-follow` turns this off: a 3xx is judged as is).
    pub follow_redirects: bool,
    /// The TLS client configuration for `https://` (default: the system's trust store).
    pub tls: Arc<rustls::ClientConfig>,
    /// JSON conditions that, when they hold, mean the service has failed for good
    /// (`$.status == "failed"`): the attempt fails as `fail_when` and the run stops.
    pub fail_when: Vec<JsonCondition>,
}

impl HttpProbe {
    /// A GET probe of `target` with default conditions and limits.
    pub fn new(target: HttpTarget) -> Self {
        HttpProbe {
            target,
            conditions: Conditions::default(),
            method: Method::GET,
            headers: Vec::new(),
            body: None,
            max_body: DEFAULT_MAX_BODY,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            follow_redirects: true,
            addresses: AddressOverrides::default(),
            proxies: Arc::default(),
            http2: false,
            h2_tls: std::sync::OnceLock::new(),
            keep_alive: false,
            pool: ConnectionPool::default(),
            tls: tls::default_client_config(),
            fail_when: Vec::new(),
        }
    }
}

/// What an attempt has learned so far, across its hops: kept even when a later phase fails.
#[derive(Debug, Default)]
struct Trace {
    timings: PhaseTimings,
    /// Status of the last response head that arrived.
    status: Option<u16>,
    /// The address that answered the last hop.
    remote: Option<SocketAddr>,
    details: ProbeDetails,
}

/// A response as far as one hop goes.
struct Hop {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Prober for HttpProbe {
    /// One attempt, bounded by `budget` (the attempt's own timeout clamped to the run's deadline).
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let mut trace = Trace::default();
        let mut url = self.target.url().clone();
        let mut visited = HashSet::new();
        visited.insert(url.as_str().to_string());
        let mut redirects = 0;
        let mut retry_after = None;
        let result = loop {
            let hop = self.one_hop(&url, budget, &mut trace).await;
            let hop = match hop {
                Ok(hop) => hop,
                Err(failure) => break Err(failure),
            };
            trace.status = Some(hop.status.as_u16());
            // A redirect the user did not ask to see is followed, within the origin.
            let wanted = self.conditions.status.contains(hop.status.as_u16());
            if self.follow_redirects && hop.status.is_redirection() && !wanted {
                if let Some(next) = redirect_target(&url, &hop.headers) {
                    let next = onto_socket(&url, next, &self.host_sent_on_socket());
                    if same_origin(&url, &next) {
                        if redirects >= self.max_redirects {
                            break Err(Failure::RedirectLimit {
                                hops: redirects,
                                looped: false,
                            });
                        }
                        if !visited.insert(next.as_str().to_string()) {
                            break Err(Failure::RedirectLimit {
                                hops: redirects + 1,
                                looped: true,
                            });
                        }
                        redirects += 1;
                        url = next;
                        continue;
                    }
                    break Err(Failure::HttpStatus {
                        status: hop.status.as_u16(),
                        expected: format!(
                            "{}; redirect to {} not followed: another origin",
                            self.conditions.status,
                            crate::redact::redact_url(next.as_str())
                        ),
                    });
                }
            }
            let status = hop.status.as_u16();
            if matches!(status, 429 | 503) {
                retry_after = parse_retry_after(&hop.headers);
            }
            if let Some(holds) = self
                .fail_when
                .iter()
                .find(|c| c.check_body(&hop.body).is_ok())
            {
                break Err(Failure::FailWhen {
                    status,
                    condition: holds.to_string(),
                });
            }
            let latency = started.elapsed();
            let view = ResponseView {
                status: hop.status,
                headers: &hop.headers,
                body: &hop.body,
                latency,
            };
            break self
                .conditions
                .check(&view)
                .map_err(|unmet| Failure::from_unmet(unmet, hop.status.as_u16()));
        };
        trace.timings.total = started.elapsed();
        ProbeResult {
            result,
            status: trace.status,
            timings: trace.timings,
            remote: trace.remote,
            redirects,
            retry_after,
            details: trace.details,
        }
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "http"
    }

    fn reuses_connections(&self) -> bool {
        self.keep_alive
    }
}

impl HttpProbe {
    async fn one_hop(
        &self,
        url: &Url,
        budget: &Deadline,
        trace: &mut Trace,
    ) -> Result<Hop, Failure> {
        // A broken proxy variable that applies to this URL was refused before the run (in the
        // CLI); a library caller learns of it here.
        let proxy = self.proxies.for_url(url).map_err(|e| Failure::Proxy {
            proxy: e.variable().to_string(),
            detail: e.to_string(),
        })?;
        if self.keep_alive && proxy.is_none() && !self.http2 {
            let origin = origin_of(url);
            if let Some(idle) = self.pool.take(&origin) {
                match self.request_http1(url, idle.io, budget, trace, None).await {
                    Ok((hop, io)) => {
                        trace.remote = idle.remote;
                        self.keep(url, io, idle.remote);
                        return Ok(hop);
                    }
                    // The server closed it meanwhile. The others of that origin have been
                    // idle longer (the server restarted, or times idle connections out):
                    // all are dropped, and this attempt makes a fresh one.
                    Err((_, true)) => self.pool.forget(&origin),
                    Err((failure, false)) => return Err(failure),
                }
            }
        }
        // Redirects are only followed within the origin, so every hop uses the same socket.
        if let Some(socket) = self.target.socket_path() {
            let connect_started = Instant::now();
            let stream = connect::connect_unix(socket, budget).await?;
            PhaseTimings::add(&mut trace.timings.connect, connect_started.elapsed());
            return self.exchange(url, stream, budget, trace, None, None).await;
        }
        let host = host_of(url);
        let port = url.port_or_known_default().unwrap_or(80);
        let (addrs, dns) = match proxy {
            Some(proxy) => connect::resolve(&proxy.host(), proxy.port(), budget).await?,
            None => self.addresses.resolve(&host, port, budget).await?,
        };
        if let Some(dns) = dns {
            PhaseTimings::add(&mut trace.timings.dns, dns);
        }
        let connect_started = Instant::now();
        let (tcp, addr) = connect::connect(&addrs, budget).await?;
        PhaseTimings::add(&mut trace.timings.connect, connect_started.elapsed());
        trace.remote = Some(addr);
        if url.scheme() == "https" {
            // Through a proxy, TLS runs end to end inside a CONNECT tunnel.
            let tcp = match proxy {
                Some(proxy) => proxy::tunnel(tcp, proxy, &host, port, budget).await?,
                None => tcp,
            };
            let tls_started = Instant::now();
            let config = if self.http2 {
                self.h2_tls
                    .get_or_init(|| tls::with_h2_or_http1_alpn(&self.tls))
                    .clone()
            } else {
                self.tls.clone()
            };
            // A port that answers the ClientHello with another protocol is told apart from a
            // TLS server that fails the handshake by what it sent first.
            let stream = tls::handshake_or_mismatch(config, &host, tcp, budget).await?;
            PhaseTimings::add(&mut trace.timings.tls, tls_started.elapsed());
            trace.details.tls = Some(tls::session_details(stream.get_ref().1));
            if stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice()) {
                return self.exchange_h2(url, stream, budget, trace).await;
            }
            self.exchange(url, stream, budget, trace, None, Some(addr))
                .await
        } else if self.http2 && proxy.is_none() {
            self.exchange_h2(url, tcp, budget, trace).await
        } else {
            self.exchange(url, tcp, budget, trace, proxy, Some(addr))
                .await
        }
    }

    /// Send the request and read the response over an established stream.
    async fn exchange<S>(
        &self,
        url: &Url,
        stream: S,
        budget: &Deadline,
        trace: &mut Trace,
        via: Option<&Proxy>,
        peer: Option<SocketAddr>,
    ) -> Result<Hop, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (hop, io) = self
            .request_http1(url, stream, budget, trace, via)
            .await
            .map_err(|(failure, _)| failure)?;
        self.keep(url, io.map(|io| Box::new(io) as Box<dyn Io>), peer);
        Ok(hop)
    }

    /// One HTTP/1.1 request over `stream`, hyper's connection driven inside this attempt's
    /// task (a task of its own would cost a spawn and a cross-thread wake per attempt, more
    /// than the exchange itself when thousands of targets poll). With `keep_alive`, gives the
    /// stream back when it can carry the next request. On failure, also says whether nothing
    /// came back at all (a pooled connection the server had closed meanwhile), so the caller
    /// may try a fresh one.
    async fn request_http1<S>(
        &self,
        url: &Url,
        stream: S,
        budget: &Deadline,
        trace: &mut Trace,
        via: Option<&Proxy>,
    ) -> Result<(Hop, Option<S>), (Failure, bool)>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request_started = Instant::now();
        let mut builder = hyper::client::conn::http1::Builder::new();
        builder
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS);
        // hyper fails on a server that speaks another protocol along whichever path wins a
        // race (a closed connection, a parse error): its first bytes decide instead.
        let stream = Sniffed::new(stream);
        let first = stream.first_bytes();
        let handshake = builder.handshake::<_, Full<Bytes>>(TokioIo::new(stream));
        let (mut sender, mut connection) =
            match tokio::time::timeout(budget.remaining(), handshake).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => return Err((classify_http1(&e, Stage::Head, &first), false)),
                Err(_) => {
                    let after = request_started.elapsed();
                    return Err((Failure::ResponseTimeout { after }, false));
                }
            };
        let (hop, reusable) = alongside(
            &mut connection,
            self.send_http1(url, &mut sender, budget, trace, via, &first),
        )
        .await?;
        if !self.keep_alive || !reusable {
            return Ok((hop, None));
        }
        // Only the socket is kept: hyper's state and buffers (8 KiB and more) are made afresh
        // for each request, so thousands of idle connections cost little. Bytes the server
        // sent past the response would be read as the next answer: such a stream is dropped.
        drop(sender);
        let parts = connection.into_parts();
        let io = parts
            .read_buf
            .is_empty()
            .then(|| parts.io.into_inner().into_inner());
        Ok((hop, io))
    }

    /// Back to the pool, when there is a stream to keep.
    fn keep(&self, url: &Url, io: Option<Box<dyn Io>>, remote: Option<SocketAddr>) {
        if let Some(io) = io {
            self.pool.put(origin_of(url), Idle { io, remote });
        }
    }

    /// One request on an HTTP/1.1 connection; also says whether the connection can carry
    /// another. On failure, also says whether nothing came back at all.
    async fn send_http1(
        &self,
        url: &Url,
        sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        budget: &Deadline,
        trace: &mut Trace,
        via: Option<&Proxy>,
        first: &FirstBytes,
    ) -> Result<(Hop, bool), (Failure, bool)> {
        let request = self.build_request(url, via).map_err(|f| (f, false))?;
        let request_started = Instant::now();
        let sent = sender.send_request(request);
        let response = match tokio::time::timeout(budget.remaining(), sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let failure = classify_http1(&e, Stage::Head, first);
                let stale = matches!(failure, Failure::Reset { .. })
                    && (e.is_canceled() || e.is_closed() || e.is_incomplete_message());
                return Err((failure, stale));
            }
            Err(_) => {
                let after = request_started.elapsed();
                return Err((Failure::ResponseTimeout { after }, false));
            }
        };
        let reusable = can_carry_another(response.version(), response.status(), response.headers());
        let hop = self
            .finish_exchange(response, request_started, budget, trace)
            .await
            .map_err(|f| (f, false))?;
        Ok((hop, reusable))
    }

    /// Read the body of a response whose headers arrived, then let the connection go.
    async fn finish_exchange(
        &self,
        response: http::Response<Incoming>,
        request_started: Instant,
        budget: &Deadline,
        trace: &mut Trace,
    ) -> Result<Hop, Failure> {
        PhaseTimings::add(&mut trace.timings.first_byte, request_started.elapsed());
        // Known from here on, even if the body then fails.
        trace.status = Some(response.status().as_u16());
        trace.details.http_version = match response.version() {
            http::Version::HTTP_10 => Some("1.0"),
            http::Version::HTTP_2 => Some("2"),
            _ => Some("1.1"),
        };
        trace.details.content_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let (parts, body) = response.into_parts();
        let body_started = Instant::now();
        let keep = self.conditions.needs_body() || !self.fail_when.is_empty();
        let body = read_body(body, &parts.headers, self.max_body, keep, budget).await;
        PhaseTimings::add(&mut trace.timings.body, body_started.elapsed());
        Ok(Hop {
            status: parts.status,
            headers: parts.headers,
            body: body?,
        })
    }

    /// Send the request and read the response over HTTP/2 on an established stream.
    async fn exchange_h2<S>(
        &self,
        url: &Url,
        stream: S,
        budget: &Deadline,
        trace: &mut Trace,
    ) -> Result<Hop, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request = self.build_h2_request(url)?;
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder.max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
        let request_started = Instant::now();
        let stream = Sniffed::new(stream);
        let first = stream.first_bytes();
        let handshake = builder.handshake::<_, Full<Bytes>>(TokioIo::new(stream));
        let (mut sender, connection) =
            match tokio::time::timeout(budget.remaining(), handshake).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    return Err(first
                        .mismatch(Expect::Http2)
                        .unwrap_or_else(|| classify_hyper(&e, Stage::Head)))
                }
                Err(_) => {
                    return Err(Failure::ResponseTimeout {
                        after: request_started.elapsed(),
                    })
                }
            };
        let mut connection = AbortOnDrop(tokio::spawn(connection));
        let response = match tokio::time::timeout(budget.remaining(), sender.send_request(request))
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let place = Stage::Head.place();
                return Err(h2_request_failure(&e, place, &first, &mut connection, budget).await);
            }
            Err(_) => {
                return Err(Failure::ResponseTimeout {
                    after: request_started.elapsed(),
                })
            }
        };
        let hop = self
            .finish_exchange(response, request_started, budget, trace)
            .await;
        drop(connection);
        hop
    }

    /// The host part of the `Host` header sent over a Unix socket.
    fn host_sent_on_socket(&self) -> String {
        let given = self
            .headers
            .iter()
            .rev()
            .find(|(name, _)| name == HOST)
            .and_then(|(_, value)| value.to_str().ok());
        let Some(given) = given else {
            return "localhost".to_string();
        };
        // `name:port`, `[v6]:port`: the host as a URL would hold it.
        Url::parse(&format!("http://{}/", given.trim()))
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
            .unwrap_or_else(|| given.trim().to_string())
    }

    /// HTTP/2 wants the scheme and authority in the URI, and no connection-specific headers.
    fn build_h2_request(&self, url: &Url) -> Result<Request<Full<Bytes>>, Failure> {
        let mut request = self.build_request(url, None)?;
        let uri: http::Uri = url.as_str().parse().map_err(|e| Failure::InvalidResponse {
            detail: format!("could not build the request: {e}"),
        })?;
        *request.uri_mut() = uri;
        *request.version_mut() = http::Version::HTTP_2;
        let headers = request.headers_mut();
        headers.remove(http::header::CONNECTION);
        headers.remove(HOST);
        Ok(request)
    }

    /// The request for `url`: origin-form, or absolute-form when sent `via` a proxy.
    fn build_request(
        &self,
        url: &Url,
        via: Option<&Proxy>,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let path = match (via, url.query()) {
            (Some(_), _) => url.as_str().to_string(),
            (None, Some(q)) => format!("{}?{q}", url.path()),
            (None, None) => url.path().to_string(),
        };
        let mut builder = Request::builder().method(self.method.clone()).uri(path);
        builder = builder.header(HOST, host_header(url));
        builder = builder.header(USER_AGENT, concat!("stillup/", env!("CARGO_PKG_VERSION")));
        builder = builder.header(http::header::ACCEPT, "*/*");
        if !self.keep_alive {
            builder = builder.header(http::header::CONNECTION, "close");
        }
        if let Some(auth) = via.and_then(Proxy::authorization) {
            let mut value = HeaderValue::from_str(&auth).map_err(|_| Failure::Proxy {
                proxy: via.map(|p| p.url.to_string()).unwrap_or_default(),
                detail: "its credentials cannot be sent in a header".into(),
            })?;
            value.set_sensitive(true);
            builder = builder.header(http::header::PROXY_AUTHORIZATION, value);
        }
        if let Some(secret) = self.target.basic_auth() {
            let encoded = base64::engine::general_purpose::STANDARD.encode(secret.expose());
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .expect("base64 is a valid header value");
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        let mut request = builder
            .body(Full::new(self.body.clone().unwrap_or_default()))
            .map_err(|e| Failure::InvalidResponse {
                detail: format!("could not build the request: {e}"),
            })?;
        // The user's headers replace ours of the same name (Accept, User-Agent, Host…);
        // repeated names of theirs are all sent.
        let headers = request.headers_mut();
        for (name, _) in &self.headers {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        Ok(request)
    }
}

/// Read the body within budget and limit; keep the bytes only when a condition needs them.
async fn read_body(
    mut body: Incoming,
    headers: &HeaderMap,
    limit: u64,
    keep: bool,
    budget: &Deadline,
) -> Result<Vec<u8>, Failure> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Failure::BodyTooLarge { limit });
    }
    let started = Instant::now();
    let mut kept = Vec::new();
    let mut received: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(budget.remaining(), body.frame()).await {
            Err(_) => {
                return Err(Failure::BodyTimeout {
                    after: started.elapsed(),
                    received,
                })
            }
            Ok(None) => return Ok(kept),
            Ok(Some(Err(e))) => {
                return Err(match classify_hyper(&e, Stage::Body) {
                    Failure::Reset { detail } => Failure::Reset {
                        detail: format!("{detail} after {received} bytes of body"),
                    },
                    other => other,
                })
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > limit {
                return Err(Failure::BodyTooLarge { limit });
            }
            if keep {
                kept.extend_from_slice(&data);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Head,
    Body,
}

impl Stage {
    fn place(self) -> &'static str {
        match self {
            Stage::Head => "before the response headers",
            Stage::Body => "during the body",
        }
    }
}

/// How long a failed HTTP/2 request waits for its connection's own error, which says why.
const CONNECTION_VERDICT: Duration = Duration::from_millis(500);

/// Classify a failed HTTP/2 request (shared with gRPC): first bytes that are not an HTTP/2
/// server's make it `protocol_mismatch`; else h2's typed error decides. When the request only
/// learned that the connection is gone (hyper's "canceled", no cause), the connection task's
/// error, which it ends with at the same moment, is the one that says why.
pub(crate) async fn h2_request_failure(
    e: &hyper::Error,
    place: &str,
    first: &FirstBytes,
    connection: &mut AbortOnDrop,
    budget: &Deadline,
) -> Failure {
    if let Some(mismatch) = first.mismatch(Expect::Http2) {
        return mismatch;
    }
    let typed = find_cause::<h2::Error>(e).is_some() || find_cause::<io::Error>(e).is_some();
    if !typed {
        let wait = budget.remaining().min(CONNECTION_VERDICT);
        if let Ok(Ok(Err(why))) = tokio::time::timeout(wait, &mut connection.0).await {
            return first
                .mismatch(Expect::Http2)
                .unwrap_or_else(|| classify_h2_hyper(&why, place));
        }
    }
    classify_h2_hyper(e, place)
}

/// An HTTP/2 exchange's hyper error, by the typed cause beneath it.
pub(crate) fn classify_h2_hyper(e: &hyper::Error, place: &str) -> Failure {
    if let Some(tls) = find_cause::<rustls::Error>(e) {
        return tls::classify_rustls(tls);
    }
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

/// A failed HTTP/1 exchange: first bytes that cannot start an HTTP/1 response make it
/// `protocol_mismatch`, whichever way hyper happened to fail on them.
fn classify_http1(e: &hyper::Error, stage: Stage, first: &FirstBytes) -> Failure {
    first
        .mismatch(Expect::Http1)
        .unwrap_or_else(|| classify_hyper(e, stage))
}

/// Classify a hyper error by its kind and the I/O error beneath it.
fn classify_hyper(e: &hyper::Error, stage: Stage) -> Failure {
    let place = stage.place();
    // With TLS 1.3 a rejected client certificate only shows on the first read.
    if let Some(tls) = find_cause::<rustls::Error>(e) {
        return tls::classify_rustls(tls);
    }
    if let Some(h2) = find_cause::<h2::Error>(e) {
        return http2_failure(h2, place);
    }
    if let Some(io) = find_cause::<io::Error>(e) {
        return match io.kind() {
            // hyper's HTTP/1 decoder reports broken framing (a chunk size that overflows,
            // trailers over its limit) as these kinds; the socket never does.
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => Failure::InvalidResponse {
                detail: format!("the server broke HTTP/1.1 framing {place}: {io}"),
            },
            _ => socket_failure(io, place),
        };
    }
    if e.is_parse_status() {
        return Failure::InvalidResponse {
            detail: "the status line is not valid HTTP".into(),
        };
    }
    if e.is_parse() {
        return Failure::InvalidResponse {
            detail: parse_detail(e),
        };
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return Failure::Reset {
            detail: match stage {
                Stage::Head => "closed by the server before the response headers".into(),
                Stage::Body => "closed by the server before the body was complete".into(),
            },
        };
    }
    Failure::InvalidResponse {
        detail: e.to_string(),
    }
}

fn parse_detail(e: &hyper::Error) -> String {
    // The class is already decided (`is_parse`); hyper's words are the most precise detail
    // it offers ("message head is too large", "invalid HTTP version parsed").
    let text = e.to_string();
    if text.contains("too large") {
        format!(
            "{text} (limit {} KiB and {MAX_HEADERS} headers)",
            MAX_HEAD_BYTES / 1024
        )
    } else {
        text
    }
}

fn host_of(url: &Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// `Host:` as the origin would be written: brackets for IPv6, port only when not default.
/// Over a Unix socket there is no host name: `localhost`, as curl and Docker clients send.
fn host_header(url: &Url) -> String {
    if url.scheme() == "http+unix" {
        return "localhost".to_string();
    }
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `Retry-After: 120` or an HTTP date; a date in the past means "now".
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // An HTTP date can only be read against the wall clock; it is turned into a delay at once.
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn redirect_target(current: &Url, headers: &HeaderMap) -> Option<Url> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    current.join(location.trim()).ok()
}

/// Over a Unix socket the only name the server knows is the `Host` stillup sent (`localhost`
/// unless `-H Host:` says otherwise), and servers that make a relative redirect absolute
/// (nginx's `return 302 /health;`) write `http://localhost[:port]/health`: that is the same
/// socket, whatever port they add.
fn onto_socket(current: &Url, next: Url, host_sent: &str) -> Url {
    let named = next
        .host_str()
        .is_some_and(|host| host.eq_ignore_ascii_case(host_sent));
    if current.scheme() != "http+unix" || next.scheme() != "http" || !named {
        return next;
    }
    let mut on_socket = current.clone();
    on_socket.set_path(next.path());
    on_socket.set_query(next.query());
    on_socket.set_fragment(None);
    on_socket
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host:port`: connections are only reused for the same origin.
fn origin_of(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// Run `work` while also polling `connection`, the future that does the socket I/O `work`
/// waits on. The caller keeps the connection: dropping it closes the socket.
async fn alongside<C, W>(connection: &mut C, work: W) -> W::Output
where
    C: Future + Unpin,
    W: Future,
{
    let mut connection = std::pin::Pin::new(connection);
    let mut work = std::pin::pin!(work);
    let mut connection_done = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if !connection_done && connection.as_mut().poll(cx).is_ready() {
            connection_done = true;
            // Its last step may have completed `work` (the body's end, or an error).
            return work.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}

/// Whether an HTTP/1.1 connection may carry another request after this response: not when
/// the server closes it (`Connection: close`, HTTP/1.0) or when the body runs until the
/// connection ends (neither a length nor chunks).
fn can_carry_another(version: http::Version, status: StatusCode, headers: &HeaderMap) -> bool {
    let closes = headers
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let delimited = bodiless
        || headers.contains_key(http::header::CONTENT_LENGTH)
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    version == http::Version::HTTP_11 && !closes && delimited
}

impl Configure for HttpProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.conditions.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<rustls::ClientConfig>) {
        self.tls = Arc::clone(config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_carries_another_request_only_when_the_answer_ends_by_itself() {
        use http::Version;
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let ok = StatusCode::OK;
        let sized = headers(&[("content-length", "2")]);
        assert!(can_carry_another(Version::HTTP_11, ok, &sized));
        assert!(can_carry_another(
            Version::HTTP_11,
            ok,
            &headers(&[("transfer-encoding", "chunked")])
        ));
        assert!(can_carry_another(
            Version::HTTP_11,
            StatusCode::NO_CONTENT,
            &HeaderMap::new()
        ));
        // The body runs until the server closes.
        assert!(!can_carry_another(Version::HTTP_11, ok, &HeaderMap::new()));
        assert!(!can_carry_another(Version::HTTP_10, ok, &sized));
        let closing = headers(&[("content-length", "2"), ("connection", "keep-alive, Close")]);
        assert!(!can_carry_another(Version::HTTP_11, ok, &closing));
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let a = Url::parse("http://h:80/a").unwrap();
        assert!(same_origin(&a, &Url::parse("http://h/b").unwrap()));
        assert!(!same_origin(&a, &Url::parse("https://h/b").unwrap()));
        assert!(!same_origin(&a, &Url::parse("http://h:81/b").unwrap()));
        assert!(!same_origin(&a, &Url::parse("http://g/b").unwrap()));
    }

    #[test]
    fn host_header_keeps_ipv6_brackets_and_explicit_ports() {
        assert_eq!(
            host_header(&Url::parse("http://[::1]:8080/").unwrap()),
            "[::1]:8080"
        );
        assert_eq!(
            host_header(&Url::parse("https://api.example/").unwrap()),
            "api.example"
        );
        assert_eq!(
            host_header(&Url::parse("http+unix://%2Ftmp%2Fa.sock/x").unwrap()),
            "localhost"
        );
    }

    #[test]
    fn unix_redirects_stay_on_the_socket() {
        let here = Url::parse("http+unix://%2Ftmp%2Fa.sock/a").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("/b"));
        let next = redirect_target(&here, &headers).unwrap();
        assert_eq!(next.as_str(), "http+unix://%2Ftmp%2Fa.sock/b");
        assert!(same_origin(&here, &next));
        let elsewhere = Url::parse("http://localhost/b").unwrap();
        assert!(!same_origin(&here, &elsewhere));
    }

    #[test]
    fn an_absolute_redirect_to_the_host_sent_on_a_unix_socket_stays_on_the_socket() {
        let here = Url::parse("http+unix://%2Ftmp%2Fa.sock/a").unwrap();
        for location in [
            "http://localhost/health?x=1",
            "http://LOCALHOST:8080/health?x=1",
        ] {
            let next = onto_socket(&here, Url::parse(location).unwrap(), "localhost");
            assert_eq!(next.as_str(), "http+unix://%2Ftmp%2Fa.sock/health?x=1");
        }
        let named = onto_socket(&here, Url::parse("http://app/h").unwrap(), "app");
        assert_eq!(named.as_str(), "http+unix://%2Ftmp%2Fa.sock/h");
        for other in [
            "http://example.com/h",
            "https://localhost/h",
            "http://127.0.0.1/h",
        ] {
            let next = onto_socket(&here, Url::parse(other).unwrap(), "localhost");
            assert_eq!(next.as_str(), other);
        }
        // Only from a socket: over TCP, localhost is a name like any other.
        let tcp = Url::parse("http://127.0.0.1:8080/a").unwrap();
        let next = onto_socket(&tcp, Url::parse("http://localhost/b").unwrap(), "localhost");
        assert_eq!(next.as_str(), "http://localhost/b");
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn relative_redirects_resolve_against_the_current_url() {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_static("../b?x=1"));
        let next = redirect_target(&Url::parse("http://h/a/c").unwrap(), &headers).unwrap();
        assert_eq!(next.as_str(), "http://h/b?x=1");
    }
}
