//! `redis://` and `rediss://` (TLS from the first byte): is this Redis serving?
//!
//! The exchange, one command at a time, each within the attempt's budget:
//! `AUTH` (only with credentials), `PING`, `SELECT db` (only with `/db`), `ROLE` (only with
//! `?role=master`). `+PONG` is ready. Without credentials, `-NOAUTH` to `PING` is ready too:
//! the server is up and accepting connections, it only wants a password (as `redis-cli ping`
//! and the rule for every kind judge it). The server's error code decides the class:
//! `LOADING` → `db_loading`, `BUSY` → `db_busy`, `MASTERDOWN` → `db_not_primary`,
//! `WRONGPASS` / `NOAUTH` / `NOPERM` and any error answering `AUTH` → `auth_failed`; a plain
//! `ERR` means what the command it answers makes it mean: to `SELECT`, no such database
//! (`db_unknown_database`); to `PING` or `ROLE`, a server refusing for a reason of its own
//! (`server_unavailable`).
//!
//! A password given to a server that has none makes Redis answer `AUTH` with `-ERR AUTH
//! <password> called without any password configured`: that is `auth_failed`, because the
//! clients an application uses (redis-py, for one) refuse to connect on it, so the application
//! would not start either; drop the password from the target.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::cause::{find_cause, socket_failure};
use crate::net::overrides::AddressOverrides;
use crate::net::sniff::{self, Expect, Sniffed};
use crate::net::tls;
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::REDACTED;
use crate::target::{authority, percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

pub mod wire;

use wire::{ErrorCode, Reply, ServerError};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["redis", "rediss"];
/// Where Redis listens unless told otherwise.
pub const DEFAULT_PORT: u16 = 6379;
const EXAMPLE: &str = "redis://127.0.0.1:6379/0?role=master";
/// Who `Failure::NotReady` names.
const SERVER: &str = "Redis";
/// The most bytes buffered for one reply (a reply is decoded only once it is whole).
const MAX_BUFFERED: usize = 256 * 1024;
/// Characters of a server's line kept in a failure.
const SAID_CHARS: usize = 200;

/// A Redis server to check, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    host: String,
    port: u16,
    tls: bool,
    login: Option<Login>,
    db: Option<u32>,
    require_master: bool,
}

impl RedisTarget {
    /// Parse `redis[s]://[[user]:secret@]host[:port][/db][?role=master|any]`. `input` is
    /// trimmed and its scheme is one of [`SCHEMES`] (any case).
    pub fn parse(input: &str) -> Result<RedisTarget, TargetError> {
        let trimmed = input.trim();
        let malformed = |problem: String| TargetError::Malformed {
            input: redact_input(trimmed),
            problem,
            example: EXAMPLE,
        };
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
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
        let user = percent_decode(url.username());
        let login = match url.password() {
            Some(password) => Some(Login::new(user, Some(&percent_decode(password)))),
            None if user.is_empty() => None,
            None => {
                return Err(malformed(format!(
                    "names the user {user:?} without a password, and Redis logs in with one"
                )))
            }
        };
        let db = match url.path() {
            "" | "/" => None,
            path => {
                let name = percent_decode(&path[1..]);
                match name.parse::<u32>() {
                    Ok(db) => Some(db),
                    Err(_) => {
                        return Err(malformed(format!(
                            "names the database {name:?}, but a Redis database is a number"
                        )))
                    }
                }
            }
        };
        if url.fragment().is_some() {
            return Err(malformed("has a fragment (#…)".into()));
        }
        let mut require_master = false;
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref()) {
                ("role", "master") => require_master = true,
                ("role", "any") => require_master = false,
                ("role", other) => {
                    return Err(malformed(format!(
                        "asks for role {other:?}; role is master or any"
                    )))
                }
                (other, _) => {
                    return Err(malformed(format!(
                        "has an unknown parameter {other:?} (only role=master is known)"
                    )))
                }
            }
        }
        Ok(RedisTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
            login,
            db,
            require_master,
        })
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (6379 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rediss://`: TLS from the first byte.
    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    /// The credentials of the URL, if any.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// The database to `SELECT`, if the URL names one.
    pub fn db(&self) -> Option<u32> {
        self.db
    }

    /// `?role=master`: a replica (or a sentinel) is not ready.
    pub fn requires_master(&self) -> bool {
        self.require_master
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://")?;
        if let Some(login) = &self.login {
            let user = percent_encoding::utf8_percent_encode(&login.user, USERINFO);
            write!(f, "{user}:{REDACTED}@")?;
        }
        f.write_str(&authority(&self.host, self.port))?;
        if let Some(db) = self.db {
            write!(f, "/{db}")?;
        }
        if self.require_master {
            f.write_str("?role=master")?;
        }
        Ok(())
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

/// Everything needed to check one Redis server.
#[derive(Debug, Clone)]
pub struct RedisProbe {
    /// The server, credentials, database and role asked for.
    pub target: RedisTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points (the TLS
    /// name stays the target's).
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take (resolving included).
    pub max_latency: Option<Duration>,
    /// The TLS configuration of `rediss://`.
    pub tls: Arc<rustls::ClientConfig>,
}

impl RedisProbe {
    /// A check of `target`, trusting what the system trusts for `rediss://`.
    pub fn new(target: RedisTarget) -> RedisProbe {
        RedisProbe {
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: tls::default_client_config(),
        }
    }
}

impl Prober for RedisProbe {
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
            "Redis PING",
        )
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

impl Configure for RedisProbe {
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
        self.target.login = Some(login);
    }
}

impl RedisProbe {
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
            return self.session(tcp, budget, timings).await;
        }
        let tls_started = Instant::now();
        let tcp = Sniffed::new(tcp);
        let first = tcp.first_bytes();
        let stream = tls::handshake(self.tls.clone(), host, tcp, budget)
            .await
            .map_err(|failure| match failure {
                // A plain Redis answers the ClientHello with an error line: say so.
                Failure::TlsHandshake { .. } if first.mismatch(Expect::Tls).is_some() => {
                    sniff::other_protocol("a TLS handshake", &first.bytes())
                }
                other => other,
            })?;
        timings.tls = Some(tls_started.elapsed());
        self.session(stream, budget, timings).await
    }

    /// The commands, judged one by one.
    async fn session<S>(
        &self,
        stream: S,
        budget: &Deadline,
        timings: &mut PhaseTimings,
    ) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut conn = Connection::new(stream, budget);
        let login = self.target.login.as_ref().filter(|l| l.password.is_some());
        if let Some(login) = login {
            // One argument for the default user, so that servers before 6.0 (no ACL users)
            // understand it too.
            let auth = if login.user.is_empty() || login.user == "default" {
                wire::command(&[b"AUTH", login.password().as_bytes()])
            } else {
                wire::command(&[b"AUTH", login.user.as_bytes(), login.password().as_bytes()])
            };
            match conn.call(&auth, "AUTH", timings).await? {
                Reply::Simple(_) => {}
                Reply::Error(e) => return Err(judge(&e, NotReadyReason::AuthFailed)),
                other => return Err(unexpected("AUTH", &other)),
            }
        }
        match conn
            .call(&wire::command(&[b"PING"]), "PING", timings)
            .await?
        {
            Reply::Simple(pong) if pong == "PONG" => {}
            // Up and asking for a password: ready, by the rule for anonymous checks.
            Reply::Error(e) if e.code == ErrorCode::NoAuth && login.is_none() => return Ok(()),
            Reply::Error(e) => return Err(judge(&e, NotReadyReason::Unavailable)),
            other => return Err(unexpected("PING", &other)),
        }
        if let Some(db) = self.target.db {
            let select = wire::command(&[b"SELECT", db.to_string().as_bytes()]);
            match conn.call(&select, "SELECT", timings).await? {
                Reply::Simple(_) => {}
                Reply::Error(e) => return Err(judge(&e, NotReadyReason::UnknownDatabase)),
                other => return Err(unexpected("SELECT", &other)),
            }
        }
        if self.target.require_master {
            match conn
                .call(&wire::command(&[b"ROLE"]), "ROLE", timings)
                .await?
            {
                Reply::Array(Some(items)) => judge_role(&items)?,
                Reply::Error(e) => return Err(judge(&e, NotReadyReason::Unavailable)),
                other => return Err(unexpected("ROLE", &other)),
            }
        }
        Ok(())
    }
}

/// The class of an error reply: the codes that mean the same whatever they answer first, then
/// what a plain `ERR` (or an unknown code) means in answer to this command.
fn judge(error: &ServerError, otherwise: NotReadyReason) -> Failure {
    let reason = match error.code {
        ErrorCode::Loading => NotReadyReason::Loading,
        ErrorCode::Busy => NotReadyReason::Busy,
        ErrorCode::MasterDown => NotReadyReason::NotPrimary,
        ErrorCode::NoAuth | ErrorCode::WrongPass | ErrorCode::NoPerm => NotReadyReason::AuthFailed,
        ErrorCode::Err | ErrorCode::Other => otherwise,
    };
    Failure::NotReady {
        reason,
        server: SERVER,
        said: capped(&error.line),
    }
}

/// `ROLE`'s first element: `master`, `slave` or `sentinel`.
fn judge_role(items: &[Reply]) -> Result<(), Failure> {
    let text = |reply: Option<&Reply>| match reply {
        Some(Reply::Bulk(Some(bytes))) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Reply::Simple(s)) => s.clone(),
        Some(Reply::Integer(n)) => n.to_string(),
        _ => String::new(),
    };
    match text(items.first()).as_str() {
        "master" => Ok(()),
        "slave" | "replica" => Err(Failure::NotReady {
            reason: NotReadyReason::NotPrimary,
            server: SERVER,
            said: capped(&format!(
                "ROLE slave: a replica of {}:{}, link {}",
                text(items.get(1)),
                text(items.get(2)),
                text(items.get(3))
            )),
        }),
        "sentinel" => Err(Failure::NotReady {
            reason: NotReadyReason::NotPrimary,
            server: SERVER,
            said: "ROLE sentinel: a Sentinel, which holds no data".into(),
        }),
        other => Err(Failure::InvalidResponse {
            detail: format!("ROLE answered with the role {:?}", capped(other)),
        }),
    }
}

fn unexpected(command: &str, reply: &Reply) -> Failure {
    Failure::InvalidResponse {
        detail: capped(&format!("Redis answered {command} with {reply:?}")),
    }
}

fn capped(text: &str) -> String {
    match text.char_indices().nth(SAID_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// One connection: commands out, replies in, every read and write within the budget.
struct Connection<'a, S> {
    stream: S,
    budget: &'a Deadline,
    buffer: Vec<u8>,
    /// Whether the server has sent anything yet (for `first_byte`).
    heard: bool,
    /// Replies consumed so far.
    replies: usize,
    /// When the first command went out (`first_byte` and `response_timeout` count from it).
    first_sent: Option<Instant>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Connection<'a, S> {
    fn new(stream: S, budget: &'a Deadline) -> Self {
        Connection {
            stream,
            budget,
            buffer: Vec::new(),
            heard: false,
            replies: 0,
            first_sent: None,
        }
    }

    /// Send `request` (the command `name`) and read its reply.
    async fn call(
        &mut self,
        request: &[u8],
        name: &str,
        timings: &mut PhaseTimings,
    ) -> Result<Reply, Failure> {
        let sent = *self.first_sent.get_or_insert_with(Instant::now);
        let timeout = || Failure::ResponseTimeout {
            after: sent.elapsed(),
        };
        let place = format!("before its answer to {name}");
        match tokio::time::timeout(self.budget.remaining(), self.stream.write_all(request)).await {
            Err(_) => return Err(timeout()),
            Ok(Err(e)) => return Err(io_failure(&e, &place)),
            Ok(Ok(())) => {}
        }
        let mut chunk = [0u8; 4096];
        loop {
            match wire::decode(&self.buffer) {
                Ok(Some((reply, used))) => {
                    self.buffer.drain(..used);
                    self.replies += 1;
                    return Ok(reply);
                }
                Ok(None) => {}
                // The first byte the server ever sent decides whether it speaks RESP at all.
                Err(wire::WireError::NotResp(_))
                    if self.replies == 0 && !wire::starts_reply(self.buffer[0]) =>
                {
                    return Err(sniff::other_protocol("a Redis reply", &self.buffer));
                }
                Err(e) => {
                    return Err(Failure::InvalidResponse {
                        detail: format!("broken Redis reply to {name}: {e}"),
                    })
                }
            }
            if self.buffer.len() > MAX_BUFFERED {
                return Err(Failure::InvalidResponse {
                    detail: format!(
                        "the reply to {name} runs past {MAX_BUFFERED} bytes, more than a readiness check reads"
                    ),
                });
            }
            let read = tokio::time::timeout(self.budget.remaining(), self.stream.read(&mut chunk));
            match read.await {
                Err(_) => return Err(timeout()),
                Ok(Err(e)) => return Err(io_failure(&e, &place)),
                Ok(Ok(0)) => {
                    return Err(Failure::Reset {
                        detail: format!("closed by the server {place}"),
                    })
                }
                Ok(Ok(n)) => {
                    if !self.heard {
                        timings.first_byte = Some(sent.elapsed());
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                    self.heard = true;
                }
            }
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
