//! `postgres://` and `postgresql://`: is the PostgreSQL server accepting connections, and,
//! with credentials, does a login and `SELECT 1` succeed?
//!
//! One attempt: resolve, connect, optionally negotiate TLS (SSLRequest, then the handshake),
//! send a StartupMessage, judge the answers. The rule is pg_isready's: without a password,
//! a server that asks for authentication (or refuses the login as not authorized) is
//! accepting connections, hence ready; only its own refusals (57P03 starting up, 53300 too
//! many clients, 3D000 no such database) say otherwise. With a password (in the URL or from
//! `--user`), ready means logged in, `SELECT 1` answered, and for `target_session_attrs=
//! read-write` a server that is not read-only. Classes are decided from the SQLSTATE the
//! server sends, never from its message text. The bytes are `wire.rs`'s.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::cause::socket_failure;
use crate::net::overrides::AddressOverrides;
use crate::net::{sniff, tls};
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::{has_ambiguous_userinfo, remember};
use crate::target::{authority, redact_input, TargetError};
use crate::timings::PhaseTimings;

pub mod wire;

use wire::{AuthRequest, Backend, DecodeError, ErrorFields};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["postgres", "postgresql"];
/// PostgreSQL's port when the URL names none.
pub const DEFAULT_PORT: u16 = 5432;
/// The user name sent when the URL names none: the one every cluster has (pg_isready sends
/// the operating system's user name; a service account's name says nothing about the server).
pub const DEFAULT_USER: &str = "postgres";
/// The `application_name` the server's logs and `pg_stat_activity` show, unless the URL
/// names another.
const APPLICATION_NAME: &str = "stillup";
/// Who speaks, in [`Failure::NotReady`].
const SERVER: &str = "PostgreSQL";
/// A target to copy, for parse errors.
const EXAMPLE: &str = "postgres://db.internal:5432/app?sslmode=require";
/// Messages read in one attempt at most: a startup, a login and two one-row queries need
/// about 30; a server sending endless notices is cut off.
const MAX_MESSAGES: usize = 500;
/// Characters of the server's words kept in a failure.
const SAID_CAP: usize = 200;
/// Bytes read at a time.
const READ_CHUNK: usize = 8 * 1024;
/// The longest the polite goodbye may delay the verdict.
const GOODBYE: Duration = Duration::from_millis(200);

/// Whether and how to use TLS, as libpq's `sslmode` means it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: plain TCP only.
    Disable,
    /// `prefer` (the default): TLS when the server offers it, plain when it answers `N`;
    /// the certificate is not checked.
    Prefer,
    /// `require`: TLS or nothing; the certificate is not checked (libpq checks it only when
    /// a root certificate file is given; use `verify-full` for that).
    Require,
    /// `verify-ca`: TLS with a trusted certificate. libpq does not check the name here;
    /// stillup does: the shared trust (system store, `--cacert`, pinned certificates) comes as
    /// one rustls verifier that checks chain and name together and cannot be asked for the
    /// chain alone. Stricter than libpq, never weaker; `--insecure` lifts both checks.
    VerifyCa,
    /// `verify-full`: TLS with a trusted certificate valid for the host name.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The word in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// What kind of server the session must reach (`target_session_attrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    /// `any` (the default): whatever answers.
    Any,
    /// `read-write`: a server that accepts writes (not a hot standby, not read-only).
    ReadWrite,
    /// `primary`: judged as `read-write` (a primary whose `default_transaction_read_only` is
    /// on cannot take this check's writes either, and waiting for a primary is the point).
    Primary,
}

impl SessionAttrs {
    fn parse(value: &str) -> Option<SessionAttrs> {
        Some(match value {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "primary" => SessionAttrs::Primary,
            _ => return None,
        })
    }

    /// The word in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::Primary => "primary",
        }
    }

    fn wants_writes(self) -> bool {
        !matches!(self, SessionAttrs::Any)
    }
}

/// A PostgreSQL server, who to log in as, and what to ask of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    scheme: &'static str,
    host: String,
    port: u16,
    login: Option<Login>,
    database: Option<String>,
    sslmode: SslMode,
    session_attrs: SessionAttrs,
    application_name: Option<String>,
    /// The query parameters as written (names and values are not secret), for `Display`.
    shown_params: Vec<(String, String)>,
}

/// What may appear unescaped in the user, database and parameter values of the printed URL.
const URL_PART: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b']')
    .add(b'`');

impl PostgresTarget {
    /// Parse `postgres://[user[:password]@]host[:port][/database][?param=value&…]`; `input`
    /// is trimmed and its scheme is one of [`SCHEMES`] (any case). The user, password and
    /// database are percent-decoded. Parameters: `sslmode`, `target_session_attrs`,
    /// `application_name`, `connect_timeout` (accepted and ignored: the attempt's own
    /// `--timeout` bounds connecting); any other is refused by name.
    pub fn parse(input: &str) -> Result<PostgresTarget, TargetError> {
        let trimmed = input.trim();
        let malformed = |problem: String| TargetError::Malformed {
            input: redact_input(trimmed),
            problem,
            example: EXAMPLE,
        };
        // Guessing would send a piece of the password, as a host, to the wrong server.
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo {
                input: redact_input(trimmed),
            });
        }
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let Some(scheme) = SCHEMES
            .iter()
            .copied()
            .find(|s| s.eq_ignore_ascii_case(url.scheme()))
        else {
            return Err(TargetError::UnsupportedScheme {
                input: redact_input(trimmed),
                scheme: url.scheme().to_string(),
                supported: crate::probe::supported_schemes(),
            });
        };
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(TargetError::MissingHost {
                input: redact_input(trimmed),
            });
        }
        if host.contains(',') {
            return Err(malformed(
                "names several hosts; stillup waits for one server per target (give each its own target)".into(),
            ));
        }
        if host.contains('%') || host.starts_with('/') {
            return Err(malformed(
                "names a Unix socket directory as its host; stillup connects over TCP (use the server's address, e.g. 127.0.0.1)".into(),
            ));
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
        if url.fragment().is_some() {
            return Err(malformed(
                "has a fragment (#…), which a PostgreSQL URL cannot use".into(),
            ));
        }
        let decode = |part: &str, what: &str| -> Result<String, TargetError> {
            let text = percent_decode_str(part)
                .decode_utf8()
                .map_err(|_| malformed(format!("has a {what} that is not UTF-8 once decoded")))?;
            if text.contains('\0') {
                return Err(malformed(format!("has a NUL byte (%00) in its {what}")));
            }
            Ok(text.into_owned())
        };
        let database = match url.path().strip_prefix('/').unwrap_or(url.path()) {
            "" => None,
            path if path.contains('/') => {
                return Err(malformed(format!(
                    "has the path {path:?}, but a database name has no '/' (write it as %2F)"
                )))
            }
            path => Some(decode(path, "database name")?),
        };
        let password = match url.password() {
            Some(raw) => {
                // Both forms, in case a server or an error message echoes either.
                remember(raw);
                Some(decode(raw, "password")?)
            }
            None => None,
        };
        let user = decode(url.username(), "user name")?;
        let login = match (user.is_empty(), password) {
            (true, None) => None,
            (true, Some(password)) => Some(Login::new(DEFAULT_USER, Some(&password))),
            (false, password) => Some(Login::new(user, password.as_deref())),
        };
        let mut target = PostgresTarget {
            scheme,
            host,
            port,
            login,
            database,
            sslmode: SslMode::Prefer,
            session_attrs: SessionAttrs::Any,
            application_name: None,
            shown_params: Vec::new(),
        };
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "sslmode" => {
                    target.sslmode = SslMode::parse(&value).ok_or_else(|| {
                        malformed(format!(
                            "has sslmode={value:?}; use disable, prefer, require, verify-ca or verify-full"
                        ))
                    })?;
                }
                "target_session_attrs" => {
                    target.session_attrs = SessionAttrs::parse(&value).ok_or_else(|| {
                        malformed(format!(
                            "has target_session_attrs={value:?}; use any, read-write or primary"
                        ))
                    })?;
                }
                "application_name" => {
                    if value.contains('\0') {
                        return Err(malformed("has a NUL byte in application_name".into()));
                    }
                    target.application_name = Some(value.to_string());
                }
                // The attempt's own timeout (`--timeout`, clamped to the run's deadline)
                // already bounds connecting; a second clock would only disagree with it.
                "connect_timeout" => {}
                other => {
                    return Err(malformed(format!(
                        "has the parameter {other:?}, which stillup does not know; it takes sslmode, target_session_attrs, application_name and connect_timeout (user and password go before the '@', the database after the '/')"
                    )))
                }
            }
            target
                .shown_params
                .push((name.into_owned(), value.into_owned()));
        }
        Ok(target)
    }

    /// The host as written (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (5432 when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether attempts may use TLS (every `sslmode` but `disable`).
    pub fn uses_tls(&self) -> bool {
        self.sslmode != SslMode::Disable
    }

    /// The URL's user and password, when it has them.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// The database named in the path.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The `sslmode`.
    pub fn sslmode(&self) -> SslMode {
        self.sslmode
    }

    /// The `target_session_attrs`.
    pub fn session_attrs(&self) -> SessionAttrs {
        self.session_attrs
    }
}

impl fmt::Display for PostgresTarget {
    /// The URL, the password shown as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(login) = &self.login {
            write!(f, "{}", utf8_percent_encode(&login.user, URL_PART))?;
            if login.password.is_some() {
                f.write_str(":<redacted>")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&authority(&self.host, self.port))?;
        if let Some(database) = &self.database {
            write!(f, "/{}", utf8_percent_encode(database, URL_PART))?;
        }
        for (i, (name, value)) in self.shown_params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(
                f,
                "{sep}{}={}",
                utf8_percent_encode(name, URL_PART),
                utf8_percent_encode(value, URL_PART)
            )?;
        }
        Ok(())
    }
}

/// One readiness check of a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PostgresProbe {
    /// The server and what to ask of it.
    pub target: PostgresTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points (the TLS
    /// name stays the target's host).
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take, connecting included.
    pub max_latency: Option<Duration>,
    /// The trust (and client certificate) of `sslmode=verify-ca` / `verify-full`, offering
    /// ALPN `postgresql`; set it with [`Configure::set_tls`], which also derives the
    /// unverified configuration `prefer` and `require` use.
    pub tls: Arc<ClientConfig>,
    unverified_tls: Arc<ClientConfig>,
    login: Option<Login>,
}

impl PostgresProbe {
    /// A check of `target`, trusting what the system trusts for `verify-*`.
    pub fn new(target: PostgresTarget) -> PostgresProbe {
        let config = tls::default_client_config();
        PostgresProbe {
            login: target.login.clone(),
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: with_postgres_alpn(&config),
            unverified_tls: unverified(&config),
        }
    }

    /// Who the attempt logs in as (`--user` over the URL's), if anyone.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }
}

/// The same trust, offering ALPN `postgresql`: PostgreSQL 17 refuses a TLS connection whose
/// client offers other ALPN protocols (as the shared configuration does, `http/1.1`).
fn with_postgres_alpn(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Arc::new(config)
}

/// The same client certificate, accepting any server certificate: `prefer` and `require`
/// encrypt without verifying, as libpq's do.
fn unverified(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    tls::accept_any_certificate(&mut config);
    Arc::new(config)
}

impl Prober for PostgresProbe {
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
            "PostgreSQL check",
        )
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

impl Configure for PostgresProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<ClientConfig>) {
        self.tls = with_postgres_alpn(config);
        self.unverified_tls = unverified(config);
    }

    fn set_login(&mut self, login: Login) {
        self.login = Some(login);
    }
}

/// A TCP or TLS stream, whichever `sslmode` led to.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How TLS negotiation ended.
enum Negotiated {
    /// Go on over this stream (TLS, or plain after `N` with `prefer`).
    Stream(Box<dyn Stream>),
    /// The server answered the SSLRequest with an ErrorResponse, already judged.
    Answered(Result<(), Failure>),
}

impl PostgresProbe {
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
        let stream: Box<dyn Stream> = match self.target.sslmode {
            SslMode::Disable => Box::new(tcp),
            mode => {
                let tls_started = Instant::now();
                let negotiated = self.negotiate_tls(tcp, mode, budget).await;
                timings.tls = Some(tls_started.elapsed());
                match negotiated? {
                    Negotiated::Stream(stream) => stream,
                    Negotiated::Answered(verdict) => return verdict,
                }
            }
        };
        let mut conn = Conn::new(stream, Vec::new(), budget);
        let verdict = self.converse(&mut conn).await;
        timings.first_byte = conn.first_byte;
        conn.goodbye().await;
        verdict
    }

    /// SSLRequest, its one-byte answer, and the handshake. The SSLRequest's round trip counts
    /// as TLS time: it is only there for TLS.
    async fn negotiate_tls(
        &self,
        mut tcp: tokio::net::TcpStream,
        mode: SslMode,
        budget: &Deadline,
    ) -> Result<Negotiated, Failure> {
        let sent = Instant::now();
        let no_answer = || Failure::ResponseTimeout {
            after: sent.elapsed(),
        };
        match tokio::time::timeout(budget.remaining(), tcp.write_all(&wire::ssl_request())).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) => return Err(socket_failure(&e, "while the SSLRequest was sent")),
            Ok(Ok(())) => {}
        }
        let mut answer = [0u8; 64];
        let n = match tokio::time::timeout(budget.remaining(), tcp.read(&mut answer)).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) => return Err(socket_failure(&e, "before answering the SSLRequest")),
            Ok(Ok(0)) => {
                return Err(Failure::Reset {
                    detail: "closed by the server before answering the SSLRequest".into(),
                })
            }
            Ok(Ok(n)) => n,
        };
        let answer = &answer[..n];
        match answer[0] {
            // Nothing may follow the one byte before the client speaks (libpq refuses it too:
            // bytes injected there would pass for the server's once TLS is up).
            b'S' | b'N' if n > 1 => Err(sniff::other_protocol("a PostgreSQL message", answer)),
            b'S' => {
                let config = match mode {
                    SslMode::VerifyCa | SslMode::VerifyFull => self.tls.clone(),
                    _ => self.unverified_tls.clone(),
                };
                let stream = tls::handshake(config, self.target.host(), tcp, budget).await?;
                Ok(Negotiated::Stream(Box::new(stream)))
            }
            b'N' if mode == SslMode::Prefer => Ok(Negotiated::Stream(Box::new(tcp))),
            b'N' => Err(Failure::TlsHandshake {
                detail: format!(
                    "the server does not accept TLS (it answered 'N' to the SSLRequest), and sslmode={} requires it",
                    mode.as_str()
                ),
            }),
            // Servers refuse an SSLRequest they cannot serve (out of memory, old versions)
            // with an ErrorResponse: that is their answer to this attempt.
            b'E' => {
                let mut conn = Conn::new(Box::new(tcp), answer.to_vec(), budget);
                conn.place = "while refusing the SSLRequest";
                let verdict = match conn.next().await? {
                    Backend::Error(error) => self.judge_error(&error, Stage::Startup),
                    other => Err(unexpected(&other, "as the answer to the SSLRequest")),
                };
                Ok(Negotiated::Answered(verdict))
            }
            _ => Err(sniff::other_protocol("a PostgreSQL message", answer)),
        }
    }

    fn has_password(&self) -> bool {
        self.login.as_ref().is_some_and(|l| l.password.is_some())
    }

    /// The StartupMessage and everything up to the verdict.
    async fn converse(&self, conn: &mut Conn<'_>) -> Result<(), Failure> {
        let user = self
            .login
            .as_ref()
            .map_or(DEFAULT_USER, |l| l.user.as_str());
        let application_name = self
            .target
            .application_name
            .as_deref()
            .unwrap_or(APPLICATION_NAME);
        let startup = wire::startup_message(user, self.target.database(), application_name);
        conn.send(&startup, "while the StartupMessage was sent")
            .await?;
        conn.place = "before answering the StartupMessage";
        let mut session = Session::default();
        loop {
            match conn.next().await? {
                Backend::Notice(_) | Backend::Other(_) => {}
                Backend::ParameterStatus { name, value } => session.note(&name, &value),
                Backend::Error(error) => return self.judge_error(&error, Stage::Startup),
                Backend::Auth(AuthRequest::Ok) => {
                    session.authenticated = true;
                    conn.place = "after the login, before the session was ready";
                }
                Backend::Auth(request) if !session.authenticated => {
                    if !self.has_password() {
                        return self.without_password(&request);
                    }
                    conn.place = "during the login";
                    self.authenticate(conn, request).await?;
                }
                Backend::ReadyForQuery(_) if session.authenticated => break,
                other => return Err(unexpected(&other, "during the startup")),
            }
        }
        conn.place = "before answering the check query";
        let one = self.simple_query(conn, "SELECT 1").await?;
        if one.as_deref() != Some("1") {
            return Err(Failure::InvalidResponse {
                detail: format!("SELECT 1 answered {one:?}"),
            });
        }
        if self.target.session_attrs.wants_writes() {
            self.check_writable(conn, &session).await?;
        }
        Ok(())
    }

    /// A server that asks a client without a password to authenticate is accepting
    /// connections (pg_isready's rule); unless writability was asked for, which only a login
    /// can tell.
    fn without_password(&self, request: &AuthRequest) -> Result<(), Failure> {
        if self.target.session_attrs.wants_writes() {
            return Err(not_ready(
                NotReadyReason::AuthFailed,
                format!(
                    "the server asks for {} authentication, and target_session_attrs={} can only be checked after a login: give a password",
                    request.method(),
                    self.target.session_attrs.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Answer the server's authentication request with the password; for SCRAM, the whole
    /// exchange up to the server's final message. The caller reads what follows
    /// (AuthenticationOk, or an error).
    async fn authenticate(&self, conn: &mut Conn<'_>, request: AuthRequest) -> Result<(), Failure> {
        let Some(login) = &self.login else {
            return Ok(());
        };
        let password = login.password();
        match request {
            AuthRequest::Cleartext => {
                conn.send(
                    &wire::password_message(password),
                    "while the password was sent",
                )
                .await
            }
            AuthRequest::Md5(salt) => {
                let answer = wire::md5_password(&login.user, password, salt);
                conn.send(
                    &wire::password_message(&answer),
                    "while the password was sent",
                )
                .await
            }
            AuthRequest::Sasl(mechanisms) => {
                if !mechanisms.iter().any(|m| m == wire::SCRAM_SHA_256) {
                    return Err(not_ready(
                        NotReadyReason::AuthFailed,
                        format!(
                            "the server offers the SASL mechanisms {}; stillup speaks {}",
                            mechanisms.join(", "),
                            wire::SCRAM_SHA_256
                        ),
                    ));
                }
                self.scram(conn, password).await
            }
            other => Err(not_ready(
                NotReadyReason::AuthFailed,
                format!(
                    "the server asks for {} authentication, which stillup does not speak",
                    other.method()
                ),
            )),
        }
    }

    async fn scram(&self, conn: &mut Conn<'_>, password: &str) -> Result<(), Failure> {
        let client = wire::ScramClient::with_random_nonce("").map_err(invalid)?;
        conn.send(
            &wire::sasl_initial_response(wire::SCRAM_SHA_256, client.client_first().as_bytes()),
            "while the SCRAM exchange was sent",
        )
        .await?;
        let server_first = match self.next_during_login(conn).await? {
            AuthRequest::SaslContinue(data) => data,
            other => {
                return Err(unexpected(
                    &Backend::Auth(other),
                    "instead of SCRAM's challenge",
                ))
            }
        };
        let challenge = client.challenge(&server_first).map_err(invalid)?;
        // PBKDF2 takes as long as the server's iteration count makes it: off the async
        // threads, and within the budget.
        let password = password.to_string();
        let computed = tokio::task::spawn_blocking(move || client.finish(&challenge, &password));
        let last = match tokio::time::timeout(conn.budget.remaining(), computed).await {
            Err(_) => return Err(conn.timeout()),
            Ok(Err(_)) => {
                return Err(Failure::InvalidResponse {
                    detail: "the SCRAM computation failed".into(),
                })
            }
            Ok(Ok(last)) => last,
        };
        conn.send(
            &wire::sasl_response(last.message.as_bytes()),
            "while the SCRAM proof was sent",
        )
        .await?;
        match self.next_during_login(conn).await? {
            AuthRequest::SaslFinal(data) => last.verify(&data).map_err(invalid),
            other => Err(unexpected(
                &Backend::Auth(other),
                "instead of SCRAM's final message",
            )),
        }
    }

    /// The next authentication message of a login in progress; a refusal is judged.
    async fn next_during_login(&self, conn: &mut Conn<'_>) -> Result<AuthRequest, Failure> {
        loop {
            match conn.next().await? {
                Backend::Notice(_) => {}
                Backend::Auth(request) => return Ok(request),
                Backend::Error(error) => {
                    return Err(self
                        .judge_error(&error, Stage::Startup)
                        .err()
                        .unwrap_or_else(|| refused_login(&error)))
                }
                other => return Err(unexpected(&other, "during the login")),
            }
        }
    }

    /// Run one simple query; its first row's first column (`None` when it had no row).
    async fn simple_query(
        &self,
        conn: &mut Conn<'_>,
        sql: &str,
    ) -> Result<Option<String>, Failure> {
        conn.send(&wire::query(sql), "while the check query was sent")
            .await?;
        let mut first_value = None;
        let mut rows = 0usize;
        let mut completed = false;
        loop {
            match conn.next().await? {
                Backend::Notice(_) | Backend::Other(_) | Backend::ParameterStatus { .. } => {}
                Backend::DataRow(value) => {
                    if rows == 0 {
                        first_value = value;
                    }
                    rows += 1;
                }
                Backend::CommandComplete(_) => completed = true,
                Backend::Error(error) => {
                    return Err(self
                        .judge_error(&error, Stage::Query)
                        .err()
                        .unwrap_or_else(|| refused_login(&error)))
                }
                Backend::ReadyForQuery(_) if completed => return Ok(first_value),
                other => return Err(unexpected(&other, &format!("while {sql} ran"))),
            }
        }
    }

    /// `target_session_attrs=read-write`: from what the server reported at login when it
    /// reports `in_hot_standby` (PostgreSQL 14 and later), else by asking.
    async fn check_writable(&self, conn: &mut Conn<'_>, session: &Session) -> Result<(), Failure> {
        let read_only = match &session.in_hot_standby {
            Some(standby) if standby == "on" => Some("in_hot_standby = on".to_string()),
            Some(_) if session.default_read_only.as_deref() == Some("on") => {
                Some("default_transaction_read_only = on".to_string())
            }
            Some(_) => None,
            None => {
                let value = self
                    .simple_query(conn, "SHOW transaction_read_only")
                    .await?;
                (value.as_deref() == Some("on")).then(|| "transaction_read_only = on".to_string())
            }
        };
        match read_only {
            Some(said) => Err(not_ready(NotReadyReason::NotPrimary, said)),
            None => Ok(()),
        }
    }

    /// What an ErrorResponse means, by its SQLSTATE. `Ok` when it still shows a server
    /// accepting connections (a refused login without a password, as pg_isready judges).
    fn judge_error(&self, error: &ErrorFields, stage: Stage) -> Result<(), Failure> {
        let said = cap_said(error);
        let code = error.code.as_str();
        let reason = match code {
            // Starting up, shutting down, in recovery (57P03); terminated by an administrator
            // or a crash of another backend (57P01, 57P02): waiting is the remedy.
            "57P01" | "57P02" | "57P03" => NotReadyReason::Starting,
            "53300" => NotReadyReason::TooManyConnections,
            // Class 28 (invalid authorization) and 42501 (no CONNECT privilege) refuse this
            // login; without a password that is the expected answer of a live server.
            _ if stage == Stage::Startup && (code.starts_with("28") || code == "42501") => {
                if !self.has_password() {
                    return Ok(());
                }
                NotReadyReason::AuthFailed
            }
            // Without a database in the URL, the server looked for one named like the user,
            // a guess of ours: its absence says nothing about the server's readiness.
            "3D000" if self.target.database.is_none() && !self.has_password() => return Ok(()),
            "3D000" => NotReadyReason::UnknownDatabase,
            // Any other refusal is the server's own reason to turn the session away: a
            // well-formed answer, so not `invalid_response`; `server_unavailable` with the
            // SQLSTATE in `said` to tell which.
            _ => NotReadyReason::Unavailable,
        };
        Err(not_ready(reason, said))
    }
}

/// Where an ErrorResponse arrived: refusals of the login only count as such at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Startup,
    Query,
}

/// What the server reported about the session at login.
#[derive(Debug, Default)]
struct Session {
    authenticated: bool,
    in_hot_standby: Option<String>,
    default_read_only: Option<String>,
}

impl Session {
    fn note(&mut self, name: &str, value: &str) {
        match name {
            "in_hot_standby" => self.in_hot_standby = Some(value.to_string()),
            "default_transaction_read_only" => self.default_read_only = Some(value.to_string()),
            _ => {}
        }
    }
}

fn not_ready(reason: NotReadyReason, said: String) -> Failure {
    Failure::NotReady {
        reason,
        server: SERVER,
        said,
    }
}

/// An error that `judge_error` would take as readiness, arriving where only a failure makes
/// sense (after a password was sent): the login was refused.
fn refused_login(error: &ErrorFields) -> Failure {
    not_ready(NotReadyReason::AuthFailed, cap_said(error))
}

/// `CODE message (detail)`, capped.
fn cap_said(error: &ErrorFields) -> String {
    let mut said = error.said();
    if let Some(detail) = &error.detail {
        said.push_str(&format!(" ({detail})"));
    }
    if said.chars().count() > SAID_CAP {
        said = said.chars().take(SAID_CAP).collect::<String>() + "…";
    }
    said
}

fn invalid(e: DecodeError) -> Failure {
    Failure::InvalidResponse {
        detail: format!("the server broke the PostgreSQL protocol: {e}"),
    }
}

fn unexpected(message: &Backend, place: &str) -> Failure {
    let what = match message {
        Backend::Auth(request) => format!("an authentication request ({})", request.method()),
        Backend::Error(_) => "an error".into(),
        Backend::Notice(_) => "a notice".into(),
        Backend::ParameterStatus { .. } => "a ParameterStatus".into(),
        Backend::ReadyForQuery(_) => "ReadyForQuery".into(),
        Backend::DataRow(_) => "a DataRow".into(),
        Backend::CommandComplete(_) => "CommandComplete".into(),
        Backend::Other(tag) => format!("a {:?} message", char::from(*tag)),
    };
    Failure::InvalidResponse {
        detail: format!("the server sent {what} {place}"),
    }
}

/// The connection once the session proper starts: reads whole messages within the budget.
struct Conn<'a> {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    budget: &'a Deadline,
    /// When the StartupMessage went out; `first_byte` is measured from there.
    sent: Instant,
    first_byte: Option<Duration>,
    decoded: usize,
    /// Where the exchange is, for `reset` messages: `before answering the StartupMessage`.
    place: &'static str,
}

impl<'a> Conn<'a> {
    fn new(stream: Box<dyn Stream>, buffered: Vec<u8>, budget: &'a Deadline) -> Conn<'a> {
        Conn {
            stream,
            buf: buffered,
            budget,
            sent: Instant::now(),
            first_byte: None,
            decoded: 0,
            place: "before answering",
        }
    }

    fn timeout(&self) -> Failure {
        Failure::ResponseTimeout {
            after: self.sent.elapsed(),
        }
    }

    async fn send(&mut self, bytes: &[u8], place: &str) -> Result<(), Failure> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.budget.remaining(), write).await {
            Err(_) => Err(self.timeout()),
            Ok(Err(e)) => Err(socket_failure(&e, place)),
            Ok(Ok(())) => {
                if self.decoded == 0 && self.first_byte.is_none() {
                    self.sent = Instant::now();
                }
                Ok(())
            }
        }
    }

    /// The next whole message, decoded.
    async fn next(&mut self) -> Result<Backend, Failure> {
        if self.decoded >= MAX_MESSAGES {
            return Err(Failure::InvalidResponse {
                detail: format!("the server sent more than {MAX_MESSAGES} messages in one check"),
            });
        }
        loop {
            match wire::frame(&self.buf, self.decoded == 0) {
                Err(DecodeError::NotPostgres) => {
                    return Err(sniff::other_protocol("a PostgreSQL message", &self.buf))
                }
                Err(e) => return Err(invalid(e)),
                Ok(wire::Frame::Whole { tag, body }) => {
                    let message = wire::decode(tag, &self.buf[body.clone()]).map_err(invalid)?;
                    self.buf.drain(..body.end);
                    self.decoded += 1;
                    return Ok(message);
                }
                Ok(wire::Frame::Need(_)) => self.fill().await?,
            }
        }
    }

    /// Read what the server sent next (at most a chunk; `frame` caps what a message may need).
    async fn fill(&mut self) -> Result<(), Failure> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = match tokio::time::timeout(self.budget.remaining(), self.stream.read(&mut chunk))
            .await
        {
            Err(_) => return Err(self.timeout()),
            Ok(Err(e)) => return Err(read_failure(&e, self.place)),
            Ok(Ok(0)) => {
                return Err(Failure::Reset {
                    detail: format!("closed by the server {}", self.place),
                })
            }
            Ok(Ok(n)) => n,
        };
        if self.first_byte.is_none() {
            self.first_byte = Some(self.sent.elapsed());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Terminate, so the server logs a clean goodbye rather than an unexpected EOF; best
    /// effort and brief.
    async fn goodbye(&mut self) {
        let bye = async {
            self.stream.write_all(&wire::terminate()).await?;
            self.stream.shutdown().await
        };
        let _ = tokio::time::timeout(self.budget.remaining().min(GOODBYE), bye).await;
    }
}

/// A read error: TLS errors surfacing after the handshake keep their TLS class.
fn read_failure(e: &std::io::Error, place: &str) -> Failure {
    if let Some(tls) = crate::net::cause::find_cause::<rustls::Error>(e) {
        return tls::classify_rustls(tls);
    }
    socket_failure(e, place)
}

// The throwaway servers of these tests need a Unix (runuser, signals, socket directories).
#[cfg(all(test, unix))]
mod tests;
