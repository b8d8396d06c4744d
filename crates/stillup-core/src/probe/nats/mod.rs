//! `nats://` and `nats+tls://`: is this NATS server accepting clients?
//!
//! The server speaks first: `INFO {json}`. A first line that cannot be one is another
//! protocol. Then, as NATS clients do, the connection turns to TLS when the scheme is
//! `nats+tls` or the `INFO` says `tls_required` (TLS after `INFO`, the order every NATS server
//! supports; `tls_first` servers are not spoken to first), and the probe sends
//! `CONNECT {…}` and `PING`. `PONG` is ready: the server took the connection, and the login
//! when there is one. The server's `-ERR` decides the rest:
//! `'Authorization Violation'` is `auth_failed` with credentials, and ready without them (the
//! server is up and accepting connections; it only wants a login, as for every kind);
//! `'maximum connections exceeded'` is `db_too_many_connections`, the class for a server at
//! its connection limit; any other `-ERR` is `server_unavailable`.
//!
//! Credentials: `nats://user:secret@host` (or `--user`) logs in with a user and password,
//! `nats://token@host` (a user without a password, as NATS clients read it, or `--bearer`)
//! with a token. `tls://`, which some NATS clients accept too, is not taken: it names no
//! protocol, and a registry of many kinds must not guess one for it.
//!
//! A port that stays silent (an HTTP server, a Redis: both wait for the client) is a
//! `response_timeout`: a NATS client waits for `INFO` too, and sending first would be an
//! `Authorization Violation` to a NATS server that is only slow.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::cause::{find_cause, socket_failure};
use crate::net::overrides::AddressOverrides;
use crate::net::sniff;
use crate::net::tls;
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::{remember, Secret, REDACTED};
use crate::target::{authority, percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

pub mod wire;

use wire::{Credentials, ErrorKind, Info, ServerLine};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["nats", "nats+tls"];
/// Where NATS listens for clients unless told otherwise.
pub const DEFAULT_PORT: u16 = 4222;
const EXAMPLE: &str = "nats://127.0.0.1:4222";
/// Who `Failure::NotReady` names.
const SERVER: &str = "NATS";
/// Characters of a server's line kept in a failure.
const SAID_CHARS: usize = 200;
/// Lines read while waiting for `PONG` (`+OK`, `PING`, `INFO` updates may come first).
const MAX_LINES: usize = 32;

/// How the probe logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// `user:password@` or `--user`.
    User(Login),
    /// `token@` or `--bearer`.
    Token(Secret),
}

/// A NATS server to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsTarget {
    host: String,
    port: u16,
    tls: bool,
    auth: Option<NatsAuth>,
}

impl NatsTarget {
    /// Parse `nats[+tls]://[user:secret@|token@]host[:port]`. `input` is trimmed and its scheme
    /// is one of [`SCHEMES`] (any case).
    pub fn parse(input: &str) -> Result<NatsTarget, TargetError> {
        let trimmed = input.trim();
        let malformed = |problem: &str| TargetError::Malformed {
            input: redact_input(trimmed),
            problem: problem.to_string(),
            example: EXAMPLE,
        };
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let tls = match url.scheme() {
            "nats" => false,
            "nats+tls" => true,
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
        let port = match url.port() {
            Some(0) => {
                return Err(TargetError::PortZero {
                    input: redact_input(trimmed),
                })
            }
            Some(port) => port,
            None => DEFAULT_PORT,
        };
        if !matches!(url.path(), "" | "/") {
            return Err(malformed("has a path, which a NATS server has no use for"));
        }
        if url.query().is_some() {
            return Err(malformed(
                "has a query, and NATS targets take no parameters",
            ));
        }
        if url.fragment().is_some() {
            return Err(malformed("has a fragment (#…)"));
        }
        let user = percent_decode(url.username());
        let auth = match url.password() {
            Some(password) => Some(NatsAuth::User(Login::new(
                user,
                Some(&percent_decode(password)),
            ))),
            None if user.is_empty() => None,
            None => {
                remember(&user);
                Some(NatsAuth::Token(Secret::new(user)))
            }
        };
        Ok(NatsTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            auth,
        })
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (4222 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for both schemes: `nats+tls://` always turns to TLS, and `nats://` does when the
    /// server's `INFO` requires it, as NATS clients do.
    pub fn uses_tls(&self) -> bool {
        true
    }

    /// `nats+tls://`: TLS whatever the server's `INFO` says.
    pub fn requires_tls(&self) -> bool {
        self.tls
    }

    /// The credentials of the URL, if any.
    pub fn auth(&self) -> Option<&NatsAuth> {
        self.auth.as_ref()
    }
}

impl fmt::Display for NatsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "nats+tls" } else { "nats" };
        write!(f, "{scheme}://")?;
        match &self.auth {
            None => {}
            Some(NatsAuth::Token(_)) => write!(f, "{REDACTED}@")?,
            Some(NatsAuth::User(login)) => {
                let user = percent_encoding::utf8_percent_encode(&login.user, USERINFO);
                write!(f, "{user}:{REDACTED}@")?;
            }
        }
        f.write_str(&authority(&self.host, self.port))
    }
}

/// Characters escaped in a user name shown in a URL.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b':')
    .add(b'@')
    .add(b'/')
    .add(b'?')
    .add(b'#');

/// Everything needed to check one NATS server.
#[derive(Debug, Clone)]
pub struct NatsProbe {
    /// The server and credentials.
    pub target: NatsTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points (the TLS
    /// name stays the target's).
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take (resolving included).
    pub max_latency: Option<Duration>,
    /// The TLS configuration, used when the connection turns to TLS.
    pub tls: Arc<rustls::ClientConfig>,
}

impl NatsProbe {
    /// A check of `target`, trusting what the system trusts when TLS is used.
    pub fn new(target: NatsTarget) -> NatsProbe {
        NatsProbe {
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: tls::default_client_config(),
        }
    }
}

impl Prober for NatsProbe {
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
            "NATS PING",
        )
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "nats"
    }
}

impl Configure for NatsProbe {
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
        self.target.auth = Some(NatsAuth::User(login));
    }

    fn set_token(&mut self, token: Secret) {
        remember(token.expose());
        self.target.auth = Some(NatsAuth::Token(token));
    }
}

impl NatsProbe {
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

        let mut greeting = Lines::new(tcp, budget, Instant::now());
        let info = greeting.info(timings).await?;
        // A server at its limit sends INFO and `-ERR` at once, then closes: judge what came
        // with the greeting before sending anything.
        if let Ok(Some((ServerLine::Err(e), _))) = wire::decode(&greeting.buffer) {
            return self.judge_error(&e);
        }
        let use_tls = self.target.tls || info.tls_required;
        if !use_tls {
            let mut lines = greeting;
            lines.since = Instant::now();
            return self.log_in(lines, false).await;
        }
        let tcp = greeting.stream;
        if !info.tls_required && !info.tls_available {
            return Err(Failure::TlsHandshake {
                detail: format!(
                    "the NATS server {} offers no TLS (its INFO says neither tls_required nor tls_available); use nats:// or enable TLS on the server",
                    server_words(&info)
                ),
            });
        }
        let tls_started = Instant::now();
        let stream = tls::handshake(self.tls.clone(), host, tcp, budget).await?;
        timings.tls = Some(tls_started.elapsed());
        self.log_in(Lines::new(stream, budget, Instant::now()), true)
            .await
    }

    /// `CONNECT` and `PING`, then wait for `PONG` or an `-ERR`.
    async fn log_in<S>(&self, mut lines: Lines<'_, S>, tls: bool) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let credentials = match &self.target.auth {
            None => Credentials::None,
            Some(NatsAuth::Token(token)) => Credentials::Token(token.expose()),
            Some(NatsAuth::User(login)) => {
                Credentials::User(&login.user, login.password.as_ref().map(Secret::expose))
            }
        };
        lines.send(&wire::connect(credentials, tls)).await?;
        for _ in 0..MAX_LINES {
            match lines.next("its answer to CONNECT and PING").await? {
                ServerLine::Pong => return Ok(()),
                ServerLine::Ok | ServerLine::Info(_) => {}
                ServerLine::Ping => lines.send(b"PONG\r\n").await?,
                ServerLine::Err(e) => return self.judge_error(&e),
                ServerLine::Other(op) => {
                    return Err(Failure::InvalidResponse {
                        detail: format!("NATS answered CONNECT with {op:?}, not PONG or -ERR"),
                    })
                }
            }
        }
        Err(Failure::InvalidResponse {
            detail: format!("no PONG among the first {MAX_LINES} lines after CONNECT"),
        })
    }
}

impl NatsProbe {
    /// What an `-ERR` means for this probe (see the module's documentation).
    fn judge_error(&self, e: &wire::ServerError) -> Result<(), Failure> {
        let reason = match e.kind {
            // Up, and wanting a login: ready, by the rule for anonymous checks.
            ErrorKind::AuthorizationViolation if self.target.auth.is_none() => return Ok(()),
            ErrorKind::AuthorizationViolation | ErrorKind::AuthenticationExpired => {
                NotReadyReason::AuthFailed
            }
            ErrorKind::MaxConnections => NotReadyReason::TooManyConnections,
            ErrorKind::Other => NotReadyReason::Unavailable,
        };
        Err(Failure::NotReady {
            reason,
            server: SERVER,
            said: capped(&format!("-ERR '{}'", e.message)),
        })
    }
}

fn server_words(info: &Info) -> String {
    capped(&format!("{} {}", info.server_name, info.version))
}

fn capped(text: &str) -> String {
    match text.char_indices().nth(SAID_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Lines in, bytes out, every read and write within the budget.
struct Lines<'a, S> {
    stream: S,
    budget: &'a Deadline,
    buffer: Vec<u8>,
    /// When the wait started (`response_timeout` counts from it).
    since: Instant,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Lines<'a, S> {
    fn new(stream: S, budget: &'a Deadline, since: Instant) -> Self {
        Lines {
            stream,
            budget,
            buffer: Vec::new(),
            since,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let place = "before its answer to CONNECT and PING";
        match tokio::time::timeout(self.budget.remaining(), self.stream.write_all(bytes)).await {
            Err(_) => Err(Failure::ResponseTimeout {
                after: self.since.elapsed(),
            }),
            Ok(Err(e)) => Err(io_failure(&e, place)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The next line; `place` says what was awaited, for a connection that ends first.
    async fn next(&mut self, place: &str) -> Result<ServerLine, Failure> {
        let place = format!("before {place}");
        let mut chunk = [0u8; 4096];
        loop {
            match wire::decode(&self.buffer) {
                Ok(Some((line, used))) => {
                    self.buffer.drain(..used);
                    return Ok(line);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Failure::InvalidResponse {
                        detail: format!("broken NATS line: {e}"),
                    })
                }
            }
            let read = tokio::time::timeout(self.budget.remaining(), self.stream.read(&mut chunk));
            match read.await {
                Err(_) => {
                    return Err(Failure::ResponseTimeout {
                        after: self.since.elapsed(),
                    })
                }
                Ok(Err(e)) => return Err(io_failure(&e, &place)),
                Ok(Ok(0)) => {
                    return Err(Failure::Reset {
                        detail: format!("closed by the server {place}"),
                    })
                }
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

impl Lines<'_, TcpStream> {
    /// The server's greeting. Its first bytes decide whether this is NATS at all; `timings`
    /// gets `first_byte` when they arrive.
    async fn info(&mut self, timings: &mut PhaseTimings) -> Result<Info, Failure> {
        let place = "before its INFO greeting";
        let mut chunk = [0u8; 4096];
        // Read until a whole line is there or the bytes cannot start INFO.
        while !self.buffer.contains(&b'\n') && self.buffer.len() <= wire::MAX_LINE {
            let read = tokio::time::timeout(self.budget.remaining(), self.stream.read(&mut chunk));
            match read.await {
                Err(_) => {
                    return Err(Failure::ResponseTimeout {
                        after: self.since.elapsed(),
                    })
                }
                Ok(Err(e)) => return Err(socket_failure(&e, place)),
                Ok(Ok(0)) if self.buffer.is_empty() => {
                    return Err(Failure::Reset {
                        detail: format!("closed by the server {place}"),
                    })
                }
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    if self.buffer.is_empty() {
                        timings.first_byte = Some(self.since.elapsed());
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                    if !wire::can_start_info(&self.buffer) {
                        return Err(sniff::other_protocol("a NATS INFO line", &self.buffer));
                    }
                }
            }
        }
        match self.next(place).await? {
            ServerLine::Info(info) => Ok(info),
            // can_start_info let only INFO through.
            other => Err(Failure::InvalidResponse {
                detail: format!("NATS greeted with {other:?} instead of INFO"),
            }),
        }
    }
}

/// A read or write that failed: a TLS error (with TLS 1.3, certificate trouble may surface on
/// the first read) or the socket ending.
fn io_failure(e: &std::io::Error, place: &str) -> Failure {
    match find_cause::<rustls::Error>(e) {
        Some(tls) => tls::classify_rustls(tls),
        None => socket_failure(e, place),
    }
}

#[cfg(test)]
mod tests;
