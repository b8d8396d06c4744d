//! `mysql://` and `mariadb://`: is the server accepting connections, and, with credentials,
//! can this user log in and run `SELECT 1`.
//!
//! Without credentials the server's initial handshake (protocol 10) is the verdict: a server
//! that greets is accepting connections, as `mysqladmin ping` judges it; the socket is then
//! closed. An ERR packet in place of the greeting is the server refusing: 1040 too many
//! connections, 1129 a blocked host. With a user (in the URL, or set with `--user`) the probe
//! logs in (`mysql_native_password` or `caching_sha2_password`, following AuthSwitchRequest),
//! runs `SELECT 1`, reads its result set and ends with `COM_QUIT`. A user without a password
//! logs in with an empty one, as `mysql -u root` does.
//!
//! TLS follows `ssl-mode`, as the MySQL client does: PREFERRED (the default) uses TLS without
//! verifying the certificate when the server offers it and there is a login to protect;
//! REQUIRED insists on TLS but does not verify; VERIFY_CA and VERIFY_IDENTITY verify with the
//! probe's trust settings (`--cacert`, `--insecure`), both checking the name too. The upgrade is
//! the protocol's own: an SSLRequest packet, the TLS handshake, then the login over TLS.
//!
//! Known limit: `caching_sha2_password`'s full authentication (the server's cache has no entry
//! for the user yet) needs the password itself; stillup sends it only over TLS and, over plain
//! TCP, fails with `auth_failed` telling to use `ssl-mode=required` rather than carry an RSA
//! implementation. A check without credentials ends the connection before any login, which
//! MySQL may count as an interrupted connection towards `max_connect_errors` (loopback clients
//! excepted; any successful login from the host resets the count): give a user when polling a
//! MySQL server from another host for long.
//!
//! The bytes are `wire.rs`'s; this file does the I/O, each read and write within the budget.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::deadline::Deadline;
use crate::failure::{Failure, NotReadyReason};
use crate::login::Login;
use crate::net::cause::{find_cause, socket_failure};
use crate::net::overrides::AddressOverrides;
use crate::net::{sniff, tls};
use crate::probe::{Configure, ProbeResult, Prober};
use crate::redact::has_ambiguous_userinfo;
use crate::target::{authority, percent_decode, redact_input, TargetError};
use crate::timings::PhaseTimings;

pub mod wire;

use wire::{
    caps, AuthReply, ErrPacket, Greeting, Handshake, HandshakeResponse, Packet, Plugin, QueryStep,
    ResultReader,
};

/// URL schemes this module owns.
pub const SCHEMES: &[&str] = &["mysql", "mariadb"];
/// The port MySQL and MariaDB listen on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3306;
/// A well-formed target, for error messages.
// No credentials in it: the command line hides any a message holds, which would hide the example.
const EXAMPLE: &str = "mysql://db.internal:3306/shop?ssl-mode=required";
/// The check query run after a login.
const CHECK_QUERY: &str = "SELECT 1";
/// Authentication round trips allowed (a switch, a fast-auth result, a full auth, the OK).
const MAX_AUTH_ROUNDS: usize = 6;
/// Packets read for the answer to `SELECT 1` (it takes five).
const MAX_RESULT_PACKETS: usize = 256;

/// How TLS is used, as the MySQL client's `--ssl-mode` (libpq's spellings also accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// `DISABLED` / `disable`: plain TCP only.
    Disabled,
    /// `PREFERRED` / `prefer` (the default): TLS when offered, not verified.
    #[default]
    Preferred,
    /// `REQUIRED` / `require`: TLS or fail, not verified.
    Required,
    /// `VERIFY_CA` / `verify-ca`: TLS, certificate verified (the name included, see the module
    /// docs).
    VerifyCa,
    /// `VERIFY_IDENTITY` / `verify-full`: TLS, certificate and name verified.
    VerifyIdentity,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value.to_ascii_lowercase().as_str() {
            "disabled" | "disable" => SslMode::Disabled,
            "preferred" | "prefer" => SslMode::Preferred,
            "required" | "require" => SslMode::Required,
            "verify_ca" | "verify-ca" => SslMode::VerifyCa,
            "verify_identity" | "verify-full" => SslMode::VerifyIdentity,
            _ => return None,
        })
    }

    /// The MySQL client's spelling, e.g. `REQUIRED`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyIdentity)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MySQL or MariaDB server, and optionally who logs in to which database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlTarget {
    scheme: &'static str,
    host: String,
    port: u16,
    login: Option<Login>,
    database: Option<String>,
    ssl_mode: SslMode,
}

/// Characters of a user or database name that cannot stand as they are in a URL.
const NAME_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl MysqlTarget {
    /// Parse `mysql://[user[:secret]@]host[:port][/db][?ssl-mode=…]` (or `mariadb://`);
    /// `input` is trimmed and its scheme is one of [`SCHEMES`] (any case).
    pub fn parse(input: &str) -> Result<MysqlTarget, TargetError> {
        let trimmed = input.trim();
        let malformed = |problem: String| TargetError::Malformed {
            input: redact_input(trimmed),
            problem,
            example: EXAMPLE,
        };
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo {
                input: redact_input(trimmed),
            });
        }
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let scheme = match url.scheme() {
            "mysql" => "mysql",
            "mariadb" => "mariadb",
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: redact_input(trimmed),
                    scheme: other.to_string(),
                    supported: crate::probe::supported_schemes(),
                })
            }
        };
        let host = percent_decode(url.host_str().unwrap_or_default());
        let host = host.trim_start_matches('[').trim_end_matches(']');
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
        if url.fragment().is_some() {
            return Err(malformed("has a fragment (#…), which names nothing".into()));
        }
        let database = match url.path() {
            "" | "/" => None,
            path => {
                let name = path.strip_prefix('/').unwrap_or(path);
                if name.contains('/') {
                    return Err(malformed(format!(
                        "has the path {path:?}, but the path names one database"
                    )));
                }
                Some(percent_decode(name))
            }
        };
        let login = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(malformed("has a password but no user".into())),
            (user, password) => Some(Login::new(
                percent_decode(user),
                password.map(percent_decode).as_deref(),
            )),
        };
        let mut ssl_mode = None;
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "ssl-mode" | "sslmode" => {
                    if ssl_mode.is_some() {
                        return Err(malformed("gives ssl-mode twice".into()));
                    }
                    ssl_mode = Some(SslMode::parse(&value).ok_or_else(|| {
                        malformed(format!(
                            "has ssl-mode={value:?}; use DISABLED, PREFERRED, REQUIRED, \
                             VERIFY_CA or VERIFY_IDENTITY"
                        ))
                    })?);
                }
                other => {
                    return Err(malformed(format!(
                        "has an unknown parameter {other:?} (the only one is ssl-mode)"
                    )))
                }
            }
        }
        Ok(MysqlTarget {
            scheme,
            host: host.to_string(),
            port,
            login,
            database,
            ssl_mode: ssl_mode.unwrap_or_default(),
        })
    }

    /// The host, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (3306 unless the URL names one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether attempts verify a TLS certificate, and so need the system's trust store:
    /// VERIFY_CA and VERIFY_IDENTITY. PREFERRED and REQUIRED use TLS without verifying (as the
    /// MySQL client does), so a broken `SSL_CERT_FILE` cannot stop them.
    pub fn uses_tls(&self) -> bool {
        self.ssl_mode.verifies()
    }

    /// The `ssl-mode`.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The database named in the path, if any.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Who logs in, if anyone.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }
}

impl fmt::Display for MysqlTarget {
    /// The URL, its password shown as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escape = |s: &str| percent_encoding::utf8_percent_encode(s, NAME_ESCAPES).to_string();
        write!(f, "{}://", self.scheme)?;
        if let Some(login) = &self.login {
            write!(f, "{}", escape(&login.user))?;
            if login.password.is_some() {
                f.write_str(":<redacted>")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&authority(&self.host, self.port))?;
        if let Some(database) = &self.database {
            write!(f, "/{}", escape(database))?;
        }
        if self.ssl_mode != SslMode::Preferred {
            write!(f, "?ssl-mode={}", self.ssl_mode)?;
        }
        Ok(())
    }
}

/// Everything needed to check one MySQL or MariaDB server.
#[derive(Debug, Clone)]
pub struct MysqlProbe {
    /// The server, and who logs in (see [`Configure::set_login`]).
    pub target: MysqlTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points (the TLS
    /// name stays the target's).
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest the whole exchange may take.
    pub max_latency: Option<Duration>,
    /// Trust and client certificate for the TLS modes that verify.
    pub tls: Arc<ClientConfig>,
}

impl MysqlProbe {
    /// A check of `target`, trusting what the system trusts.
    pub fn new(target: MysqlTarget) -> MysqlProbe {
        MysqlProbe {
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
            tls: tls::default_client_config(),
        }
    }

    /// The client configuration for this attempt's TLS: the probe's own, verifying or not as
    /// the mode says, offering no ALPN (MySQL negotiates none).
    fn tls_config(&self) -> Arc<ClientConfig> {
        let mut config = (*self.tls).clone();
        config.alpn_protocols.clear();
        // PREFERRED and REQUIRED check no certificate, as the MySQL client does.
        if !self.target.ssl_mode.verifies() {
            tls::accept_any_certificate(&mut config);
        }
        Arc::new(config)
    }
}

impl Prober for MysqlProbe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let (mut timings, mut remote) = (PhaseTimings::default(), None);
        let result = self.attempt(budget, &mut timings, &mut remote).await;
        let what = match self.target.login {
            Some(_) => "login and SELECT 1",
            None => "handshake",
        };
        ProbeResult::of_exchange(started, result, timings, remote, self.max_latency, what)
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "mysql"
    }
}

impl Configure for MysqlProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }

    fn set_tls(&mut self, config: &Arc<ClientConfig>) {
        self.tls = config.clone();
    }

    fn set_login(&mut self, login: Login) {
        self.target.login = Some(login);
    }
}

impl MysqlProbe {
    async fn attempt(
        &self,
        budget: &Deadline,
        timings: &mut PhaseTimings,
        remote: &mut Option<std::net::SocketAddr>,
    ) -> Result<(), Failure> {
        let host = self.target.host();
        let (tcp, addr) = self
            .addresses
            .connect(host, self.target.port(), budget, timings)
            .await?;
        *remote = Some(addr);

        // The server speaks first.
        let mut conn = Conn::new(tcp);
        let waiting = Instant::now();
        let greeting = conn.read_greeting(budget).await?;
        timings.first_byte = Some(waiting.elapsed());
        let handshake = match Greeting::decode(&greeting.payload).map_err(invalid)? {
            Greeting::Handshake(handshake) => handshake,
            // Nothing says which server refused; MySQL is the protocol's name.
            Greeting::Refused(err) => return Err(refused(&err, "MySQL")),
        };
        let server = handshake.server_name();
        let use_tls = match (self.target.ssl_mode, handshake.offers(caps::SSL)) {
            (SslMode::Disabled, _) => false,
            // TLS protects a login; a greeting alone has nothing to protect.
            (SslMode::Preferred, offered) => offered && self.target.login.is_some(),
            (_, true) => true,
            (mode, false) => {
                return Err(Failure::TlsHandshake {
                    detail: format!(
                        "the server does not offer TLS, and ssl-mode={mode} requires it"
                    ),
                })
            }
        };
        if self.target.login.is_some()
            && !(handshake.offers(caps::PROTOCOL_41) && handshake.offers(caps::SECURE_CONNECTION))
        {
            return Err(Failure::InvalidResponse {
                detail: format!(
                    "{server} {} does not offer the 4.1 protocol, which a login needs",
                    handshake.server_version
                ),
            });
        }
        let capabilities = self.capabilities(&handshake, use_tls);
        if !use_tls {
            return match &self.target.login {
                Some(login) => Session::new(conn, &handshake, false)
                    .run(login, self.target.database(), capabilities, budget)
                    .await
                    .map_err(|e| e.with_server(server)),
                None => Ok(()),
            };
        }
        let tls_started = Instant::now();
        conn.send(&wire::ssl_request(capabilities), budget, "the SSLRequest")
            .await?;
        if !conn.buf.is_empty() {
            return Err(Failure::InvalidResponse {
                detail: "the server sent more than its handshake before TLS began".into(),
            });
        }
        let next_seq = conn.next_seq;
        let stream = tls::handshake(self.tls_config(), host, conn.stream, budget).await?;
        timings.tls = Some(tls_started.elapsed());
        let mut conn = Conn::new(stream);
        conn.next_seq = next_seq;
        match &self.target.login {
            Some(login) => Session::new(conn, &handshake, true)
                .run(login, self.target.database(), capabilities, budget)
                .await
                .map_err(|e| e.with_server(server)),
            // TLS was the point (a mode that requires it): the handshake succeeded.
            None => Ok(()),
        }
    }

    /// What the client uses: what it needs, of what the server offers.
    fn capabilities(&self, handshake: &Handshake, use_tls: bool) -> u32 {
        let mut wanted = caps::LONG_PASSWORD
            | caps::LONG_FLAG
            | caps::PROTOCOL_41
            | caps::TRANSACTIONS
            | caps::SECURE_CONNECTION
            | caps::PLUGIN_AUTH;
        if self.target.database.is_some() {
            wanted |= caps::CONNECT_WITH_DB;
        }
        if use_tls {
            wanted |= caps::SSL;
        }
        wanted & handshake.capabilities
    }
}

/// A failure found during the login or the query, before the server's name is attached.
enum SessionError {
    /// Already classified.
    Failure(Failure),
    /// The server said no in its protocol.
    NotReady(NotReadyReason, String),
}

impl SessionError {
    fn with_server(self, server: &'static str) -> Failure {
        match self {
            SessionError::Failure(failure) => failure,
            SessionError::NotReady(reason, said) => Failure::NotReady {
                reason,
                server,
                said,
            },
        }
    }
}

impl From<Failure> for SessionError {
    fn from(failure: Failure) -> Self {
        SessionError::Failure(failure)
    }
}

fn invalid(e: wire::DecodeError) -> Failure {
    Failure::InvalidResponse { detail: e.0 }
}

fn refused(err: &ErrPacket, server: &'static str) -> Failure {
    Failure::NotReady {
        reason: err.reason(),
        server,
        said: err.said(),
    }
}

/// The login, the check query and `COM_QUIT`, over plain TCP or TLS.
struct Session<S> {
    conn: Conn<S>,
    nonce: Vec<u8>,
    plugin: Plugin,
    over_tls: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(conn: Conn<S>, handshake: &Handshake, over_tls: bool) -> Self {
        // A server asking first for a plugin this client lacks gets a native-password answer
        // and switches (or refuses) from there.
        let plugin = handshake
            .auth_plugin
            .as_deref()
            .and_then(Plugin::from_name)
            .unwrap_or(Plugin::NativePassword);
        Session {
            conn,
            nonce: handshake.nonce.clone(),
            plugin,
            over_tls,
        }
    }

    async fn run(
        mut self,
        login: &Login,
        database: Option<&str>,
        capabilities: u32,
        budget: &Deadline,
    ) -> Result<(), SessionError> {
        let auth_response = self.plugin.scramble(login.password(), &self.nonce);
        let response = HandshakeResponse {
            capabilities,
            user: &login.user,
            auth_response: &auth_response,
            database,
            plugin: self.plugin,
        };
        self.conn
            .send(&response.encode(), budget, "the login")
            .await?;
        self.authenticate(login, budget).await?;

        self.conn.next_seq = 0;
        self.conn
            .send(&wire::query(CHECK_QUERY), budget, "SELECT 1")
            .await?;
        let mut reader = ResultReader::default();
        let mut done = false;
        for _ in 0..MAX_RESULT_PACKETS {
            let packet = self
                .conn
                .read_packet(budget, "before answering SELECT 1")
                .await?;
            match reader.feed(&packet.payload).map_err(invalid)? {
                QueryStep::More => {}
                QueryStep::Done => {
                    done = true;
                    break;
                }
                QueryStep::Failed(err) => {
                    return Err(SessionError::NotReady(err.reason(), err.said()))
                }
            }
        }
        if !done {
            return Err(Failure::InvalidResponse {
                detail: format!(
                    "the answer to SELECT 1 did not end within {MAX_RESULT_PACKETS} packets"
                ),
            }
            .into());
        }
        // A polite goodbye; the verdict is already in, so its fate does not matter.
        self.conn.next_seq = 0;
        let _ = self.conn.send(&[wire::COM_QUIT], budget, "COM_QUIT").await;
        let _ = tokio::time::timeout(budget.remaining(), self.conn.stream.shutdown()).await;
        Ok(())
    }

    /// Answer the server's authentication requests until it says OK or ERR.
    async fn authenticate(&mut self, login: &Login, budget: &Deadline) -> Result<(), SessionError> {
        for _ in 0..MAX_AUTH_ROUNDS {
            let packet = self
                .conn
                .read_packet(budget, "before answering the login")
                .await?;
            match AuthReply::decode(&packet.payload).map_err(invalid)? {
                AuthReply::Ok => return Ok(()),
                AuthReply::Err(err) => {
                    return Err(SessionError::NotReady(err.reason(), err.said()))
                }
                AuthReply::Switch { plugin, nonce } => {
                    let Some(switched) = Plugin::from_name(&plugin) else {
                        return Err(unsupported_plugin(&plugin));
                    };
                    self.plugin = switched;
                    self.nonce = nonce;
                    let answer = switched.scramble(login.password(), &self.nonce);
                    self.conn.send(&answer, budget, "the login").await?;
                }
                AuthReply::OldPasswordSwitch => {
                    return Err(unsupported_plugin("mysql_old_password"))
                }
                AuthReply::MoreData(data) => match (self.plugin, data.as_slice()) {
                    // The OK follows.
                    (Plugin::CachingSha2, [wire::FAST_AUTH_SUCCESS]) => {}
                    (Plugin::CachingSha2, [wire::PERFORM_FULL_AUTH]) if self.over_tls => {
                        // Over TLS the protocol sends the password itself, NUL-terminated.
                        let mut clear = login.password().as_bytes().to_vec();
                        clear.push(0);
                        self.conn.send(&clear, budget, "the login").await?;
                    }
                    (Plugin::CachingSha2, [wire::PERFORM_FULL_AUTH]) => {
                        return Err(SessionError::NotReady(
                            NotReadyReason::AuthFailed,
                            "caching_sha2_password asks for full authentication (no cached \
                             entry for this user yet), which stillup does only over TLS: use \
                             ssl-mode=required"
                                .into(),
                        ))
                    }
                    _ => {
                        return Err(Failure::InvalidResponse {
                            detail: format!(
                                "the server sent unexpected authentication data ({} bytes) \
                                 for {}",
                                data.len(),
                                self.plugin.name()
                            ),
                        }
                        .into())
                    }
                },
            }
        }
        Err(Failure::InvalidResponse {
            detail: format!(
                "the server still had not accepted or refused the login after \
                 {MAX_AUTH_ROUNDS} exchanges"
            ),
        }
        .into())
    }
}

fn unsupported_plugin(plugin: &str) -> SessionError {
    SessionError::NotReady(
        NotReadyReason::AuthFailed,
        format!(
            "asks for the {plugin} authentication plugin; stillup speaks mysql_native_password \
             and caching_sha2_password"
        ),
    )
}

/// A connection: the stream, what has been read but not yet taken, and the sequence id the
/// next packet sent carries.
struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    next_seq: u8,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            next_seq: 0,
        }
    }

    /// The first packet, judged by its first bytes before anything else: another protocol on
    /// the port is `protocol_mismatch`, whatever else goes wrong after.
    async fn read_greeting(&mut self, budget: &Deadline) -> Result<Packet, Failure> {
        self.read(budget, "before its greeting", true).await
    }

    async fn read_packet(&mut self, budget: &Deadline, place: &str) -> Result<Packet, Failure> {
        self.read(budget, place, false).await
    }

    async fn read(
        &mut self,
        budget: &Deadline,
        place: &str,
        greeting: bool,
    ) -> Result<Packet, Failure> {
        let waiting = Instant::now();
        let mut chunk = [0u8; 4096];
        loop {
            if greeting && wire::cannot_be_greeting(&self.buf) {
                return Err(sniff::other_protocol("a MySQL handshake", &self.buf));
            }
            match wire::take_packet(&self.buf) {
                Ok(Some((packet, used))) => {
                    self.buf.drain(..used);
                    self.next_seq = packet.seq.wrapping_add(1);
                    return Ok(packet);
                }
                Ok(None) => {}
                Err(wire::TooLarge { claimed }) => {
                    return Err(Failure::InvalidResponse {
                        detail: format!(
                            "the server's packet header {place} claims {claimed} bytes, more \
                             than the {} a readiness check ever needs",
                            wire::MAX_PAYLOAD
                        ),
                    })
                }
            }
            let read = tokio::time::timeout(budget.remaining(), self.stream.read(&mut chunk));
            match read.await {
                Err(_) => {
                    return Err(Failure::ResponseTimeout {
                        after: waiting.elapsed(),
                    })
                }
                Ok(Err(e)) => return Err(read_failure(&e, place)),
                Ok(Ok(0)) if self.buf.is_empty() => {
                    return Err(Failure::Reset {
                        detail: format!("closed by the server {place}"),
                    })
                }
                Ok(Ok(0)) => {
                    return Err(Failure::InvalidResponse {
                        detail: format!(
                            "the server closed the connection {place}, in the middle of a \
                             packet ({} bytes of it came)",
                            self.buf.len()
                        ),
                    })
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn send(&mut self, payload: &[u8], budget: &Deadline, what: &str) -> Result<(), Failure> {
        let bytes = wire::frame(self.next_seq, payload);
        self.next_seq = self.next_seq.wrapping_add(1);
        let place = format!("while stillup sent {what}");
        let write = async {
            self.stream.write_all(&bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(budget.remaining(), write).await {
            Err(_) => Err(Failure::ResponseTimeout {
                after: budget.elapsed(),
            }),
            Ok(Err(e)) => Err(read_failure(&e, &place)),
            Ok(Ok(())) => Ok(()),
        }
    }
}

/// A socket error: a TLS alert (over TLS 1.3 a refused client certificate surfaces on the
/// first read) or the server resetting or closing the connection.
fn read_failure(e: &std::io::Error, place: &str) -> Failure {
    match find_cause::<rustls::Error>(e) {
        Some(tls) => tls::classify_rustls(tls),
        None => socket_failure(e, place),
    }
}

#[cfg(test)]
mod tests;
