//! `amqp://[user[:secret]@]host[:port][/vhost]` and `amqps://…`: an AMQP 0-9-1 broker
//! (RabbitMQ and its kin).
//!
//! Without credentials the broker is ready when it answers the protocol header with
//! Connection.Start (it accepts connections and asks for a login), and the probe closes the
//! socket. With credentials, ready means logged in with PLAIN and the virtual host opened:
//! Start → Start-Ok, Tune → Tune-Ok, Open → Open-Ok, then a clean Close → Close-Ok.
//!
//! A Connection.Close from the broker decides the class from its reply code: 403
//! ACCESS_REFUSED is `auth_failed`, before or after Open; any other code is
//! `server_unavailable` with the code and the broker's words. That includes 530 NOT_ALLOWED in
//! answer to Open: RabbitMQ says it both for a vhost that does not exist (yet: a provisioning
//! step may still create it, so waiting can help) and for a user without permission on it, and
//! the code cannot tell them apart; the broker's words, kept in the failure, do. A broker that
//! closes the socket right after the login (RabbitMQ does, unless asked for a Close first) is
//! `auth_failed` too.

pub mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::overrides::AddressOverrides;
use crate::net::sniff;
use crate::net::tls;
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::has_ambiguous_userinfo;
use crate::target::{authority, percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

use wire::{FirstBytes, Method, Step};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["amqp", "amqps"];

/// A well-formed target, for error messages.
const EXAMPLE: &str = "amqp://user:secret@rabbitmq.internal:5672/my-vhost";
/// Who answers, in failures.
const SERVER: &str = "AMQP broker";
/// What the broker must answer the protocol header with.
const EXPECTED: &str = "an AMQP Connection.Start";
/// The virtual host of an empty path.
const DEFAULT_VHOST: &str = "/";
/// Frames a handshake may take, heartbeats and strays included; more is a broker that never
/// gets to the point.
const MAX_FRAMES: usize = 32;
/// Server words kept in a failure.
const MAX_SAID: usize = 200;
/// How long the closing exchange may take; the verdict is already decided.
const GOODBYE: Duration = Duration::from_millis(500);

/// Characters escaped when a user name or vhost is shown in a URL: all but RFC 3986's
/// unreserved ones.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An AMQP 0-9-1 broker: where it is, whether TLS is spoken from the start, the login and the
/// virtual host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpTarget {
    host: String,
    port: u16,
    tls: bool,
    login: Option<Login>,
    vhost: String,
}

impl AmqpTarget {
    /// Parse `amqp://[user[:secret]@]host[:port][/vhost]` (default port 5672) or `amqps://…`
    /// (5671). The vhost is the percent-decoded path without its leading `/` (the vhost `/` is
    /// written `%2F`); no path, or `/` alone, is the default vhost `/` (where the RabbitMQ URI
    /// spec would take a bare `/` as the empty-named vhost, which nobody means).
    pub fn parse(input: &str) -> Result<AmqpTarget, TargetError> {
        let trimmed = input.trim();
        let shown = || redact_input(trimmed);
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo { input: shown() });
        }
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: shown(),
            reason: e.to_string(),
        })?;
        let tls = match url.scheme() {
            "amqp" => false,
            "amqps" => true,
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: shown(),
                    scheme: other.to_string(),
                    supported: crate::probe::supported_schemes(),
                })
            }
        };
        let malformed = |problem: String| TargetError::Malformed {
            input: shown(),
            problem,
            example: EXAMPLE,
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(TargetError::MissingHost { input: shown() });
        }
        let port = match url.port() {
            Some(0) => return Err(TargetError::PortZero { input: shown() }),
            Some(port) => port,
            None if tls => 5671,
            None => 5672,
        };
        if let Some((name, _)) = url.query_pairs().next() {
            return Err(malformed(format!(
                "has an unknown parameter {name:?} (AMQP targets take none)"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(malformed(
                "has a query or fragment, which AMQP targets cannot use".into(),
            ));
        }
        let path = url.path().strip_prefix('/').unwrap_or(url.path());
        if path.contains('/') {
            return Err(malformed(
                "has a '/' in its vhost; write a '/' in a vhost name as %2F (the vhost \"/\" is %2F)".into(),
            ));
        }
        let vhost = match percent_decode(path) {
            empty if empty.is_empty() => DEFAULT_VHOST.to_string(),
            vhost => vhost,
        };
        if vhost.len() > usize::from(u8::MAX) {
            return Err(malformed(format!(
                "names a vhost of {} bytes, longer than the 255 AMQP can send",
                vhost.len()
            )));
        }
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        let login = match (user.is_empty(), password) {
            (true, None) => None,
            (true, Some(_)) => {
                return Err(malformed(
                    "has a password but no user name; PLAIN logs in as a user".into(),
                ))
            }
            (false, password) => Some(Login::new(user, password.as_deref())),
        };
        Ok(AmqpTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            login,
            vhost,
        })
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (5672, or 5671 for `amqps://`, unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether attempts use TLS (`amqps://`).
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The login in the URL, if any.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// The virtual host opened after a login (`/` unless the path names another).
    pub fn vhost(&self) -> &str {
        &self.vhost
    }
}

impl fmt::Display for AmqpTarget {
    /// The URL with the password shown as `<redacted>`; the default vhost is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", if self.tls { "amqps" } else { "amqp" })?;
        if let Some(login) = &self.login {
            write!(f, "{}", utf8_percent_encode(&login.user, UNRESERVED))?;
            if login.password.is_some() {
                f.write_str(":<redacted>")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&authority(&self.host, self.port))?;
        if self.vhost != DEFAULT_VHOST {
            write!(f, "/{}", utf8_percent_encode(&self.vhost, UNRESERVED))?;
        }
        Ok(())
    }
}

/// Probe one AMQP 0-9-1 broker.
#[derive(Debug, Clone)]
pub struct AmqpProbe {
    /// The broker.
    pub target: AmqpTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points.
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take.
    pub max_latency: Option<Duration>,
    /// Trust and client certificate for `amqps://`.
    pub tls: Arc<rustls::ClientConfig>,
    /// The login sent: the URL's, unless `--user` replaced it.
    pub login: Option<Login>,
}

impl AmqpProbe {
    /// A probe of `target` with the system's trust store, no overrides and no latency limit.
    pub fn new(target: AmqpTarget) -> AmqpProbe {
        AmqpProbe {
            login: target.login.clone(),
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: tls::default_client_config(),
        }
    }

    async fn attempt(
        &self,
        budget: &Deadline,
        timings: &mut PhaseTimings,
        remote: &mut Option<SocketAddr>,
    ) -> Result<(), Failure> {
        let host = self.target.host();
        let (tcp, addr) = self
            .addresses
            .connect(host, self.target.port(), budget, timings)
            .await?;
        *remote = Some(addr);
        if !self.target.tls {
            return self.exchange(tcp, budget, timings).await;
        }
        let tls_started = Instant::now();
        let stream = tls::handshake_or_mismatch(self.tls.clone(), host, tcp, budget).await?;
        timings.tls = Some(tls_started.elapsed());
        self.exchange(stream, budget, timings).await
    }

    /// The protocol header, Connection.Start, and with a login the rest of the handshake.
    async fn exchange<S>(
        &self,
        stream: S,
        budget: &Deadline,
        timings: &mut PhaseTimings,
    ) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut conn = Connection::new(stream, budget);
        conn.send(&wire::PROTOCOL_HEADER).await?;
        let mechanisms = match conn.first_method(timings).await? {
            Some(Method::Start {
                version: (0, 9),
                mechanisms,
            }) => mechanisms,
            Some(Method::Start { version, .. }) => {
                return Err(Failure::ProtocolMismatch {
                    expected: "an AMQP 0-9-1 Connection.Start".into(),
                    spoken: Some(format!(
                        "an AMQP broker of version 0-{}-x; stillup speaks AMQP 0-9-1",
                        version.1
                    )),
                    excerpt: format!("Connection.Start version {}-{}", version.0, version.1),
                })
            }
            other => return Err(conn.unexpected(other, "Connection.Start")),
        };
        let Some(login) = &self.login else {
            // The broker greeted and asks for a login: it accepts connections.
            return Ok(());
        };
        if !wire::offers_plain(&mechanisms) {
            return Err(not_ready(
                NotReadyReason::AuthFailed,
                format!("offers no PLAIN login, only {mechanisms:?}"),
            ));
        }
        let Some(start_ok) = wire::start_ok(&login.user, login.password()) else {
            return Err(not_ready(
                NotReadyReason::AuthFailed,
                "stillup cannot send a user name and password this long (over 4 KiB)".into(),
            ));
        };
        conn.send(&start_ok).await?;
        let tune = match conn.next_method().await? {
            Some(Method::Tune {
                channel_max,
                frame_max,
                ..
            }) => wire::tune_ok(channel_max, frame_max),
            None => {
                return Err(not_ready(
                    NotReadyReason::AuthFailed,
                    "the broker closed the connection right after the login, as RabbitMQ does when it refuses one".into(),
                ))
            }
            Some(Method::Close { code, text }) => {
                conn.goodbye(&wire::close_ok()).await;
                let reason = match code {
                    403 => NotReadyReason::AuthFailed,
                    _ => NotReadyReason::Unavailable,
                };
                return Err(not_ready(reason, close_words(code, &text)));
            }
            Some(Method::Secure) => {
                return Err(not_ready(
                    NotReadyReason::AuthFailed,
                    "answered the PLAIN login with a Connection.Secure challenge".into(),
                ))
            }
            other => return Err(conn.unexpected(other, "Connection.Tune")),
        };
        conn.send(&tune).await?;
        let Some(open) = wire::open(&self.target.vhost) else {
            // The parser refuses longer vhosts; kept typed rather than assumed.
            return Err(not_ready(
                NotReadyReason::Unavailable,
                "the vhost is longer than 255 bytes".into(),
            ));
        };
        conn.send(&open).await?;
        match conn.next_method().await? {
            Some(Method::OpenOk) => {
                conn.close().await;
                Ok(())
            }
            Some(Method::Close { code, text }) => {
                conn.goodbye(&wire::close_ok()).await;
                let reason = match code {
                    403 => NotReadyReason::AuthFailed,
                    _ => NotReadyReason::Unavailable,
                };
                let vhost = &self.target.vhost;
                Err(not_ready(
                    reason,
                    format!("vhost {vhost:?}: {}", close_words(code, &text)),
                ))
            }
            None => Err(Failure::Reset {
                detail: "closed by the server before Connection.Open-Ok".into(),
            }),
            other => Err(conn.unexpected(other, "Connection.Open-Ok")),
        }
    }
}

fn not_ready(reason: NotReadyReason, said: String) -> Failure {
    Failure::NotReady {
        reason,
        server: SERVER,
        said: cap(said),
    }
}

fn close_words(code: u16, text: &str) -> String {
    format!("Connection.Close {code} {text}")
}

fn cap(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_SAID) {
        text.truncate(at);
        text.push('…');
    }
    text
}

/// The client's side of one connection: writes and frame reads, each within the attempt's
/// budget, the bytes read bounded by [`wire::MAX_FRAME`] and [`MAX_FRAMES`].
struct Connection<'a, S> {
    stream: S,
    budget: &'a Deadline,
    buf: Vec<u8>,
    frames: usize,
    sent: Instant,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Connection<'a, S> {
    fn new(stream: S, budget: &'a Deadline) -> Self {
        Connection {
            stream,
            budget,
            buf: Vec::new(),
            frames: 0,
            sent: Instant::now(),
        }
    }

    fn no_answer(&self) -> Failure {
        Failure::ResponseTimeout {
            after: self.sent.elapsed(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sent = Instant::now();
        let write = self.stream.write_all(bytes);
        match tokio::time::timeout(self.budget.remaining(), write).await {
            Err(_) => Err(self.no_answer()),
            Ok(Err(e)) => Err(Failure::Reset {
                detail: format!("closed by the server while stillup was sending ({e})"),
            }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Read more bytes; `false` at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Failure> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk);
        match tokio::time::timeout(self.budget.remaining(), read).await {
            Err(_) => Err(self.no_answer()),
            Ok(Err(e)) => Err(Failure::Reset {
                detail: format!("reset by the server during the AMQP handshake ({e})"),
            }),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
        }
    }

    /// The broker's answer to the protocol header: its first method, judged from the first
    /// bytes (another protocol, another AMQP version) before it is decoded.
    async fn first_method(
        &mut self,
        timings: &mut PhaseTimings,
    ) -> Result<Option<Method>, Failure> {
        loop {
            let more = self.fill().await?;
            if timings.first_byte.is_none() && !self.buf.is_empty() {
                timings.first_byte = Some(self.sent.elapsed());
            }
            match wire::first_bytes(&self.buf) {
                FirstBytes::Frames => return self.next_method().await,
                FirstBytes::Header(header) => {
                    return Err(Failure::ProtocolMismatch {
                        expected: EXPECTED.into(),
                        spoken: Some(format!(
                            "an AMQP broker that speaks {}; stillup speaks AMQP 0-9-1",
                            wire::header_version(&header)
                        )),
                        excerpt: header.escape_ascii().to_string(),
                    })
                }
                FirstBytes::Foreign => return Err(sniff::other_protocol(EXPECTED, &self.buf)),
                FirstBytes::Incomplete if !more && self.buf.is_empty() => {
                    return Err(Failure::Reset {
                        detail: "closed by the server before its Connection.Start".into(),
                    })
                }
                FirstBytes::Incomplete if !more => {
                    return Err(sniff::other_protocol(EXPECTED, &self.buf))
                }
                FirstBytes::Incomplete => {}
            }
        }
    }

    /// The next method on channel 0, heartbeats and other channels skipped; `None` when the
    /// broker closed the connection between frames.
    async fn next_method(&mut self) -> Result<Option<Method>, Failure> {
        loop {
            match wire::frame(&self.buf) {
                Step::Broken(detail) => return Err(broken(detail)),
                Step::Incomplete => {
                    if !self.fill().await? {
                        return match self.buf.is_empty() {
                            true => Ok(None),
                            false => Err(Failure::Reset {
                                detail: "closed by the server in the middle of a frame".into(),
                            }),
                        };
                    }
                }
                Step::Frame(frame) => {
                    self.frames += 1;
                    if self.frames > MAX_FRAMES {
                        return Err(broken(format!(
                            "more than {MAX_FRAMES} frames without finishing the handshake"
                        )));
                    }
                    let method = (frame.kind == wire::METHOD && frame.channel == 0)
                        .then(|| wire::method(&self.buf[frame.payload.clone()]));
                    self.buf.drain(..frame.len);
                    match method {
                        Some(Ok(method)) => return Ok(Some(method)),
                        Some(Err(detail)) => return Err(broken(detail)),
                        // A heartbeat, or a frame for a channel a probe never opens.
                        None => {}
                    }
                }
            }
        }
    }

    /// What to say when the broker sent something else than `expected`.
    fn unexpected(&self, got: Option<Method>, expected: &str) -> Failure {
        match got {
            None => Failure::Reset {
                detail: format!("closed by the server before its {expected}"),
            },
            Some(Method::Close { code, text }) => {
                not_ready(NotReadyReason::Unavailable, close_words(code, &text))
            }
            Some(other) => broken(format!("{other:?} where {expected} was due")),
        }
    }

    /// Send a last frame, best effort: the verdict is already decided.
    async fn goodbye(&mut self, frame: &[u8]) {
        let write = async {
            self.stream.write_all(frame).await?;
            self.stream.shutdown().await
        };
        let _ = tokio::time::timeout(self.budget.budget(GOODBYE), write).await;
    }

    /// Connection.Close, and a short wait for Close-Ok so the broker logs a clean close.
    async fn close(&mut self) {
        let limit = self.budget.budget(GOODBYE);
        let polite = async {
            self.stream.write_all(&wire::close()).await.ok()?;
            for _ in 0..4 {
                if let Some(Method::CloseOk) = self.next_method().await.ok()? {
                    break;
                }
            }
            self.stream.shutdown().await.ok()
        };
        let _ = tokio::time::timeout(limit, polite).await;
    }
}

fn broken(detail: String) -> Failure {
    Failure::InvalidResponse {
        detail: format!("AMQP: {detail}"),
    }
}

impl Prober for AmqpProbe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let (mut timings, mut remote) = (PhaseTimings::default(), None);
        let result = self.attempt(budget, &mut timings, &mut remote).await;
        ProbeResult::of_exchange(
            started,
            result,
            timings,
            remote,
            self.max_latency,
            "AMQP handshake",
        )
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "amqp"
    }
}

impl Configure for AmqpProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<rustls::ClientConfig>) {
        self.tls = Arc::clone(config);
    }

    fn set_login(&mut self, login: Login) {
        self.login = Some(login);
    }
}

#[cfg(test)]
mod tests;
