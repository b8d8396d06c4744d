//! Why one attempt failed: the taxonomy every probe reports into.
//!
//! A failed attempt is data, not a Rust error. Each variant is decided by the code that
//! knows (the resolver says `Dns`, the connector says `Refused`, the TLS layer says
//! `TlsVerify`), never by searching error text. [`Failure::class`] gives the stable
//! snake_case name used verbatim in JSON output and the docs; `Display` gives the line a
//! tired on-call engineer reads.

use std::fmt;
use std::time::Duration;

use crate::condition::Unmet;

/// Why an attempt did not find the target healthy.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// The name did not resolve (no such host, no addresses).
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's own words (e.g. `no such host`).
        detail: String,
    },
    /// The resolver gave no answer within the attempt's budget.
    DnsTimeout {
        /// The name looked up.
        host: String,
        /// How long the lookup was given.
        after: Duration,
    },
    /// Every address refused the connection: nothing is listening.
    Refused {
        /// The address (`ip:port`) refused last.
        addr: String,
    },
    /// Nothing listens on the Unix socket: the file is missing, or left behind by a server that
    /// stopped (class `refused`, as for TCP).
    SocketRefused {
        /// The socket's path.
        path: String,
        /// `true` when no file exists at `path`; `false` when a file is there but nobody
        /// accepts on it.
        missing: bool,
    },
    /// The TCP connection was not established within the budget.
    ConnectTimeout {
        /// The address (`ip:port`) tried last.
        addr: String,
        /// How long connecting was given.
        after: Duration,
    },
    /// Connecting failed for another reason (unreachable network or host, …).
    Connect {
        /// The address (`ip:port`) tried last.
        addr: String,
        /// The operating system's reason.
        detail: String,
    },
    /// The TLS handshake failed for a reason other than certificate trust.
    TlsHandshake {
        /// What the TLS library reported (an alert, a protocol version mismatch, …).
        detail: String,
    },
    /// The server's certificate was not accepted.
    TlsVerify {
        /// What was wrong with the certificate.
        reason: CertProblem,
        /// Particulars: the names the certificate is valid for, its validity dates, ….
        detail: String,
    },
    /// Connected (and handshaken) but no response headers arrived in time.
    ResponseTimeout {
        /// How long the attempt waited for the response.
        after: Duration,
    },
    /// Response headers arrived but the body did not complete in time.
    BodyTimeout {
        /// How long the attempt waited for the body.
        after: Duration,
        /// Body bytes received before time ran out.
        received: u64,
    },
    /// The connection was reset or closed before the response was complete.
    Reset {
        /// When and how the connection ended (e.g. `closed by the server before the headers`).
        detail: String,
    },
    /// The server answered with something that is not valid HTTP.
    InvalidResponse {
        /// What was malformed.
        detail: String,
    },
    /// The port speaks another protocol: the first bytes the server sent cannot start what the
    /// target's scheme expects (an SSH or SMTP banner on an HTTP port, plain HTTP on a TLS
    /// port, HTTP/1 on an HTTP/2 port). Decided from those bytes, not from how a client
    /// library happened to fail on them.
    ProtocolMismatch {
        /// What the scheme expected, e.g. `an HTTP/1 response`.
        expected: String,
        /// Who seems to answer (and what to try), when the bytes are a well-known protocol's.
        spoken: Option<String>,
        /// The first bytes, escaped (control characters and non-ASCII as `\xNN`) and capped.
        excerpt: String,
    },
    /// The status code is not in the expected set.
    HttpStatus {
        /// The status code received.
        status: u16,
        /// The accepted set as the user wrote it (e.g. `2xx`, `200,204`).
        expected: String,
    },
    /// A condition on the body, headers or latency did not hold.
    ConditionFailed {
        /// The status code of the response the condition was checked on.
        status: u16,
        /// The condition as the user wrote it (e.g. `$.status == "ok"`).
        condition: String,
        /// What the condition asked for.
        expected: String,
        /// What the response had instead (a JSON value, a header, a latency; capped).
        actual: String,
        /// Why they differ, in words (e.g. `no value at this path`).
        reason: String,
    },
    /// The body exceeded the configured limit.
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// stillup itself ran out of something (open files): not the target's fault.
    LocalLimit {
        /// What ran out, and what to raise (e.g. the open-files limit).
        detail: String,
    },
    /// The HTTP proxy would not (or could not) carry the request.
    Proxy {
        /// The proxy's address, credentials removed.
        proxy: String,
        /// What went wrong there (refused, a `CONNECT` answered with 407, …).
        detail: String,
    },
    /// A `--fail-when` condition held: the service says it has failed for good.
    FailWhen {
        /// The status code of the response the condition held on.
        status: u16,
        /// The condition as the user wrote it.
        condition: String,
    },
    /// A TCP or gRPC target answered, but slower than `--max-latency` (class
    /// `condition_failed`, as an HTTP response over the limit).
    TooSlow {
        /// The condition, e.g. `latency < 200ms`.
        condition: String,
        /// The limit, e.g. `< 200ms`.
        expected: String,
        /// The measured latency, e.g. `350ms`.
        actual: String,
        /// Why it failed, in words.
        reason: String,
    },
    /// More redirects than allowed, or a redirect loop.
    RedirectLimit {
        /// Redirects followed before giving up.
        hops: usize,
        /// `true` when a redirect led back to a URL already visited.
        looped: bool,
    },
    /// The gRPC health check answered, but not SERVING: NOT_SERVING, UNKNOWN (not decided
    /// yet) or a status this client does not know.
    GrpcNotServing {
        /// The service asked about; `""` is the server as a whole.
        service: String,
        /// The serving status received, e.g. `NOT_SERVING`.
        status: String,
    },
    /// The health service does not know the service asked about (SERVICE_UNKNOWN, or the
    /// call failed with NOT_FOUND, as real servers answer for an unknown service).
    GrpcServiceUnknown {
        /// The service asked about.
        service: String,
    },
    /// The server speaks gRPC but has no `grpc.health.v1.Health` service (UNIMPLEMENTED).
    GrpcUnimplemented {
        /// The server's `grpc-message`, possibly empty.
        message: String,
    },
    /// The call ended with another non-zero `grpc-status`.
    GrpcStatus {
        /// The `grpc-status` code (see [`grpc_code_name`]).
        code: u32,
        /// The server's `grpc-message`, possibly empty.
        message: String,
    },
    /// A database or broker answered in its own protocol, and the answer says it is not ready
    /// (starting up, loading, a replica, full) or will not take this client (no such
    /// database, a refused login). Decided from the server's own code where it decodes it.
    NotReady {
        /// Why, as a stable class.
        reason: NotReadyReason,
        /// Who said it, e.g. `PostgreSQL`.
        server: &'static str,
        /// The server's own words (its code and message), capped; sanitized before output.
        said: String,
    },
}

/// Why a server that answered in its protocol is not ready, or not for this client: the
/// classes of [`Failure::NotReady`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReadyReason {
    /// `db_starting`: starting up, shutting down, in recovery, not accepting connections.
    Starting,
    /// `db_not_primary`: a replica (read-only) when a primary was asked for.
    NotPrimary,
    /// `db_too_many_connections`: at its connection limit.
    TooManyConnections,
    /// `db_unknown_database`: the database named in the target does not exist.
    UnknownDatabase,
    /// `db_host_blocked`: the server blocks this client's host (MySQL 1129).
    HostBlocked,
    /// `db_loading`: loading its dataset into memory (Redis `LOADING`).
    Loading,
    /// `db_busy`: busy running a script (Redis `BUSY`).
    Busy,
    /// `auth_failed`: the login was refused; waiting will not fix a wrong password.
    AuthFailed,
    /// `server_unavailable`: the server refused the session for another reason of its own.
    Unavailable,
}

impl NotReadyReason {
    /// The class of a failure with this reason.
    pub fn class(self) -> FailureClass {
        match self {
            NotReadyReason::Starting => FailureClass::DbStarting,
            NotReadyReason::NotPrimary => FailureClass::DbNotPrimary,
            NotReadyReason::TooManyConnections => FailureClass::DbTooManyConnections,
            NotReadyReason::UnknownDatabase => FailureClass::DbUnknownDatabase,
            NotReadyReason::HostBlocked => FailureClass::DbHostBlocked,
            NotReadyReason::Loading => FailureClass::DbLoading,
            NotReadyReason::Busy => FailureClass::DbBusy,
            NotReadyReason::AuthFailed => FailureClass::AuthFailed,
            NotReadyReason::Unavailable => FailureClass::ServerUnavailable,
        }
    }

    /// A few words, for the timeline: `starting up`, `login refused`.
    pub fn words(self) -> &'static str {
        match self {
            NotReadyReason::Starting => "starting up",
            NotReadyReason::NotPrimary => "not the primary",
            NotReadyReason::TooManyConnections => "too many connections",
            NotReadyReason::UnknownDatabase => "no such database",
            NotReadyReason::HostBlocked => "host blocked",
            NotReadyReason::Loading => "loading its dataset",
            NotReadyReason::Busy => "busy",
            NotReadyReason::AuthFailed => "login refused",
            NotReadyReason::Unavailable => "unavailable",
        }
    }
}

/// What exactly was wrong with the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// Signed by an authority that is not trusted (self-signed included).
    UnknownIssuer,
    /// Its validity period has ended.
    Expired,
    /// Its validity period has not begun (or the clocks disagree).
    NotYetValid,
    /// Valid, but for other names than the one connected to.
    WrongName,
    /// Revoked by its issuer.
    Revoked,
    /// Any other rejection (bad signature, unsupported key, …).
    Other,
}

/// What kind of failure an attempt had: the machine-readable half of a [`Failure`].
///
/// Each class has a stable snake_case name ([`as_str`](FailureClass::as_str), also its
/// `Display` and its serde form) used verbatim in JSON reports, in `--fail-fast` lists and in
/// the README's failure-class table. Several [`Failure`] variants can share a class
/// (`Refused` and `SocketRefused` are both `refused`). New protocols add classes, so the enum
/// is `#[non_exhaustive]`.
///
/// ```
/// use stillup_core::FailureClass;
///
/// let class: FailureClass = "connect_timeout".parse().unwrap();
/// assert_eq!(class, FailureClass::ConnectTimeout);
/// assert_eq!(class.to_string(), "connect_timeout");
/// assert!("no_such_class".parse::<FailureClass>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureClass {
    /// `dns`: the name did not resolve.
    Dns,
    /// `dns_timeout`: the resolver gave no answer in time.
    DnsTimeout,
    /// `refused`: the connection (TCP or Unix socket) was refused; nothing listens.
    Refused,
    /// `connect_timeout`: no connection within the budget (host down, traffic dropped).
    ConnectTimeout,
    /// `connect`: connecting failed otherwise (unreachable network or host, …).
    Connect,
    /// `tls_handshake`: the TLS handshake failed for a reason other than certificate trust.
    TlsHandshake,
    /// `tls_verify`: the server's certificate was not accepted.
    TlsVerify,
    /// `response_timeout`: connected, but no response (headers, gRPC answer) in time.
    ResponseTimeout,
    /// `body_timeout`: the response body did not complete in time.
    BodyTimeout,
    /// `reset`: the connection was reset or closed before the response was complete.
    Reset,
    /// `invalid_response`: the answer broke the protocol (not valid HTTP, a malformed gRPC message).
    InvalidResponse,
    /// `protocol_mismatch`: the port speaks another protocol than the scheme expects.
    ProtocolMismatch,
    /// `http_status`: the HTTP status code was not in the expected set.
    HttpStatus,
    /// `condition_failed`: a condition on the body, headers or latency did not hold.
    ConditionFailed,
    /// `body_too_large`: the body exceeded the configured limit.
    BodyTooLarge,
    /// `redirect_limit`: too many redirects, or a redirect loop.
    RedirectLimit,
    /// `fail_when`: a `--fail-when` condition held: the service says it failed for good.
    FailWhen,
    /// `proxy`: the HTTP proxy would not or could not carry the request.
    Proxy,
    /// `grpc_not_serving`: the gRPC health check answered, but not `SERVING`.
    GrpcNotServing,
    /// `grpc_service_unknown`: the gRPC health service does not know the service asked about.
    GrpcServiceUnknown,
    /// `grpc_unimplemented`: the server has no `grpc.health.v1.Health` service.
    GrpcUnimplemented,
    /// `grpc_status`: the gRPC call ended with another non-zero status.
    GrpcStatus,
    /// `db_starting`: a database starting up, shutting down or in recovery.
    DbStarting,
    /// `db_not_primary`: a replica, when a primary (read-write, `role=master`) was asked for.
    DbNotPrimary,
    /// `db_too_many_connections`: the server is at its connection limit.
    DbTooManyConnections,
    /// `db_unknown_database`: the database named in the target does not exist.
    DbUnknownDatabase,
    /// `db_host_blocked`: the server blocks this client's host.
    DbHostBlocked,
    /// `db_loading`: the server is loading its dataset.
    DbLoading,
    /// `db_busy`: the server is busy running a script.
    DbBusy,
    /// `auth_failed`: the login with the target's credentials was refused.
    AuthFailed,
    /// `server_unavailable`: a broker refused the session for a reason of its own.
    ServerUnavailable,
    /// `local_limit`: stillup itself ran out of something: no evidence about the target.
    LocalLimit,
}

impl FailureClass {
    /// Every class, in the order the docs and the JSON schema list them.
    pub const ALL: &'static [FailureClass] = &[
        FailureClass::Dns,
        FailureClass::DnsTimeout,
        FailureClass::Refused,
        FailureClass::ConnectTimeout,
        FailureClass::Connect,
        FailureClass::TlsHandshake,
        FailureClass::TlsVerify,
        FailureClass::ResponseTimeout,
        FailureClass::BodyTimeout,
        FailureClass::Reset,
        FailureClass::InvalidResponse,
        FailureClass::ProtocolMismatch,
        FailureClass::HttpStatus,
        FailureClass::ConditionFailed,
        FailureClass::BodyTooLarge,
        FailureClass::RedirectLimit,
        FailureClass::FailWhen,
        FailureClass::Proxy,
        FailureClass::GrpcNotServing,
        FailureClass::GrpcServiceUnknown,
        FailureClass::GrpcUnimplemented,
        FailureClass::GrpcStatus,
        FailureClass::DbStarting,
        FailureClass::DbNotPrimary,
        FailureClass::DbTooManyConnections,
        FailureClass::DbUnknownDatabase,
        FailureClass::DbHostBlocked,
        FailureClass::DbLoading,
        FailureClass::DbBusy,
        FailureClass::AuthFailed,
        FailureClass::ServerUnavailable,
        FailureClass::LocalLimit,
    ];

    /// The stable snake_case name, e.g. `"connect_timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Dns => "dns",
            FailureClass::DnsTimeout => "dns_timeout",
            FailureClass::Refused => "refused",
            FailureClass::ConnectTimeout => "connect_timeout",
            FailureClass::Connect => "connect",
            FailureClass::TlsHandshake => "tls_handshake",
            FailureClass::TlsVerify => "tls_verify",
            FailureClass::ResponseTimeout => "response_timeout",
            FailureClass::BodyTimeout => "body_timeout",
            FailureClass::Reset => "reset",
            FailureClass::InvalidResponse => "invalid_response",
            FailureClass::ProtocolMismatch => "protocol_mismatch",
            FailureClass::HttpStatus => "http_status",
            FailureClass::ConditionFailed => "condition_failed",
            FailureClass::BodyTooLarge => "body_too_large",
            FailureClass::RedirectLimit => "redirect_limit",
            FailureClass::FailWhen => "fail_when",
            FailureClass::Proxy => "proxy",
            FailureClass::GrpcNotServing => "grpc_not_serving",
            FailureClass::GrpcServiceUnknown => "grpc_service_unknown",
            FailureClass::GrpcUnimplemented => "grpc_unimplemented",
            FailureClass::GrpcStatus => "grpc_status",
            FailureClass::DbStarting => "db_starting",
            FailureClass::DbNotPrimary => "db_not_primary",
            FailureClass::DbTooManyConnections => "db_too_many_connections",
            FailureClass::DbUnknownDatabase => "db_unknown_database",
            FailureClass::DbHostBlocked => "db_host_blocked",
            FailureClass::DbLoading => "db_loading",
            FailureClass::DbBusy => "db_busy",
            FailureClass::AuthFailed => "auth_failed",
            FailureClass::ServerUnavailable => "server_unavailable",
            FailureClass::LocalLimit => "local_limit",
        }
    }

    /// What the class means, one line of Markdown (names in backticks): the source of the
    /// README's failure-class table, `stillup classes` and the man pages.
    pub fn description(self) -> &'static str {
        match self {
            FailureClass::Dns => "the name did not resolve",
            FailureClass::DnsTimeout => "the resolver did not answer within the budget",
            FailureClass::Refused => {
                "connection refused: nothing is listening (for a Unix socket: no socket file, or \
                 nobody listening on it; the message names the path)"
            }
            FailureClass::ConnectTimeout => {
                "no TCP connection within the budget (host down, packets dropped)"
            }
            FailureClass::Connect => {
                "another connect error (network or host unreachable; a Unix socket stillup may \
                 not open, or a path that is not a socket)"
            }
            FailureClass::TlsHandshake => {
                "the TLS handshake failed (no answer, closed, alert; a server that answers with \
                 something other than TLS is `protocol_mismatch`)"
            }
            FailureClass::TlsVerify => {
                "the certificate is not trusted, expired, not yet valid or for another name"
            }
            FailureClass::ResponseTimeout => "connected, but no response headers in time",
            FailureClass::BodyTimeout => "headers arrived, the body did not complete in time",
            FailureClass::Reset => {
                "the connection was reset or closed before the response was complete"
            }
            FailureClass::InvalidResponse => {
                "HTTP, but broken: a bad status line, head too large, too many headers, broken \
                 chunked framing (a chunk size that overflows, trailers over 16 KiB), an HTTP/2 \
                 protocol violation (named, e.g. `PROTOCOL_ERROR`); for gRPC also: not \
                 `application/grpc`, garbage message framing, no `grpc-status`"
            }
            FailureClass::ProtocolMismatch => {
                "the port speaks another protocol: the first bytes the server sent cannot start \
                 what the scheme expects (an SSH, SMTP or MySQL banner on an HTTP port; plain \
                 HTTP on an https:// or grpcs:// port; HTTP/1 on an HTTP/2 or gRPC port). The \
                 message shows those bytes, escaped, and names the protocol when it is a \
                 well-known one"
            }
            FailureClass::HttpStatus => {
                "the status code is not in `--expect-status` (gRPC: not 200)"
            }
            FailureClass::ConditionFailed => {
                "a JSON, body, header or latency condition did not hold (with expected vs actual)"
            }
            FailureClass::BodyTooLarge => "the body is larger than `--max-body`",
            FailureClass::RedirectLimit => "a redirect loop, or more than 10 redirects",
            FailureClass::FailWhen => {
                "a `--fail-when` condition held: the service reports a failure waiting will not \
                 fix"
            }
            FailureClass::Proxy => {
                "the HTTP proxy refused or broke the tunnel (`https_proxy`, CONNECT)"
            }
            FailureClass::GrpcNotServing => {
                "the gRPC health check answered `NOT_SERVING`, or `UNKNOWN` (not decided yet)"
            }
            FailureClass::GrpcServiceUnknown => {
                "the health service does not know the service named in the target \
                 (`SERVICE_UNKNOWN`, or `grpc-status` 5 `NOT_FOUND`)"
            }
            FailureClass::GrpcUnimplemented => {
                "the server speaks gRPC but has no `grpc.health.v1.Health` service (`grpc-status` \
                 12)"
            }
            FailureClass::GrpcStatus => {
                "the health check failed with another `grpc-status` (its name and message are in \
                 the message), e.g. `UNAVAILABLE`, `UNAUTHENTICATED`"
            }
            FailureClass::DbStarting => {
                "a database answered that it is starting up, shutting down or in recovery \
                 (PostgreSQL `57P03`), with its own words"
            }
            FailureClass::DbNotPrimary => {
                "a replica (read-only) when the target asks for a primary \
                 (`target_session_attrs=read-write`, `role=master`), or Redis `MASTERDOWN`"
            }
            FailureClass::DbTooManyConnections => {
                "the server is at its connection limit (PostgreSQL `53300`, MySQL 1040, NATS \
                 `maximum connections exceeded`)"
            }
            FailureClass::DbUnknownDatabase => {
                "the database named in the target does not exist (PostgreSQL `3D000`, MySQL 1049, \
                 Redis `SELECT` out of range)"
            }
            FailureClass::DbHostBlocked => {
                "the server blocks this host after too many broken connections (MySQL 1129) or \
                 does not let it connect (MySQL 1130)"
            }
            FailureClass::DbLoading => "Redis is loading its dataset (`LOADING`)",
            FailureClass::DbBusy => "Redis is busy running a script (`BUSY`)",
            FailureClass::AuthFailed => {
                "the login with the target's credentials was refused: waiting will not fix a wrong password (a natural `--fail-fast` class)"
            }
            FailureClass::ServerUnavailable => {
                "a broker refused the session for a reason of its own (AMQP `Connection.Close` \
                 before tuning, MQTT CONNACK 3, a NATS `-ERR`, a MySQL error code with no class \
                 of its own), with its words"
            }
            FailureClass::LocalLimit => {
                "stillup itself ran out of open files: not the target's fault (stillup raises its soft limit to the hard one at start)"
            }
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given was not one of [`FailureClass::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure class {0:?}")]
pub struct UnknownClass(pub String);

impl std::str::FromStr for FailureClass {
    type Err = UnknownClass;

    /// Parse a class from its snake_case name (exact, case-sensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        FailureClass::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| UnknownClass(name.to_string()))
    }
}

// Tests and callers compare a class with its name: `failure.class() == "refused"`.
impl PartialEq<&str> for FailureClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Failure {
    /// This failure's class: what kind of failure it is, with a stable snake_case name
    /// ([`FailureClass::as_str`]) used verbatim in JSON output, `--fail-fast` and the docs.
    pub fn class(&self) -> FailureClass {
        match self {
            Failure::Dns { .. } => FailureClass::Dns,
            Failure::DnsTimeout { .. } => FailureClass::DnsTimeout,
            Failure::Refused { .. } | Failure::SocketRefused { .. } => FailureClass::Refused,
            Failure::ConnectTimeout { .. } => FailureClass::ConnectTimeout,
            Failure::Connect { .. } => FailureClass::Connect,
            Failure::TlsHandshake { .. } => FailureClass::TlsHandshake,
            Failure::TlsVerify { .. } => FailureClass::TlsVerify,
            Failure::ResponseTimeout { .. } => FailureClass::ResponseTimeout,
            Failure::BodyTimeout { .. } => FailureClass::BodyTimeout,
            Failure::Reset { .. } => FailureClass::Reset,
            Failure::InvalidResponse { .. } => FailureClass::InvalidResponse,
            Failure::ProtocolMismatch { .. } => FailureClass::ProtocolMismatch,
            Failure::HttpStatus { .. } => FailureClass::HttpStatus,
            Failure::ConditionFailed { .. } | Failure::TooSlow { .. } => {
                FailureClass::ConditionFailed
            }
            Failure::BodyTooLarge { .. } => FailureClass::BodyTooLarge,
            Failure::FailWhen { .. } => FailureClass::FailWhen,
            Failure::Proxy { .. } => FailureClass::Proxy,
            Failure::LocalLimit { .. } => FailureClass::LocalLimit,
            Failure::RedirectLimit { .. } => FailureClass::RedirectLimit,
            Failure::GrpcNotServing { .. } => FailureClass::GrpcNotServing,
            Failure::GrpcServiceUnknown { .. } => FailureClass::GrpcServiceUnknown,
            Failure::GrpcUnimplemented { .. } => FailureClass::GrpcUnimplemented,
            Failure::GrpcStatus { .. } => FailureClass::GrpcStatus,
            Failure::NotReady { reason, .. } => reason.class(),
        }
    }

    /// Whether the cause lies inside stillup (out of descriptors, threads, memory; a sample
    /// that started late because stillup lagged) rather than in the target. Such a failure
    /// is no evidence about the target: it never counts as "down", as downtime, or as an
    /// outage, and a run left with only such failures has no verdict (exit 6).
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, Failure::LocalLimit { .. })
    }

    /// A few words for the timeline summary: attempts with the same label are merged.
    pub fn label(&self) -> String {
        match self {
            Failure::Dns { .. } => "DNS failure".into(),
            Failure::DnsTimeout { .. } => "DNS timeout".into(),
            Failure::Refused { .. } | Failure::SocketRefused { .. } => "connection refused".into(),
            Failure::ConnectTimeout { .. } => "connect timeout".into(),
            Failure::Connect { .. } => "connect error".into(),
            Failure::TlsHandshake { .. } => "TLS handshake failed".into(),
            Failure::TlsVerify { reason, .. } => format!("certificate {}", reason.short()),
            Failure::ResponseTimeout { .. } => "no response".into(),
            Failure::BodyTimeout { .. } => "body timeout".into(),
            Failure::Reset { .. } => "connection reset".into(),
            Failure::InvalidResponse { .. } => "invalid response".into(),
            Failure::ProtocolMismatch { .. } => "another protocol".into(),
            Failure::HttpStatus { status, .. } => format!("HTTP {status}"),
            Failure::ConditionFailed {
                condition, actual, ..
            } => {
                // Merge alike attempts: a JSON string value reads well bare (`degraded`);
                // other conditions are named by what was asked, since their measured
                // values (latency, body excerpts) differ on every attempt.
                let is_json = condition.starts_with('$');
                let quoted = actual.len() >= 2 && actual.starts_with('"') && actual.ends_with('"');
                if is_json && quoted {
                    actual[1..actual.len() - 1].to_string()
                } else if is_json {
                    format!("{condition} ({actual})")
                } else {
                    format!("unmet: {condition}")
                }
            }
            Failure::BodyTooLarge { .. } => "body too large".into(),
            Failure::FailWhen { condition, .. } => format!("failed: {condition}"),
            Failure::TooSlow { condition, .. } => format!("unmet: {condition}"),
            Failure::Proxy { .. } => "proxy failure".into(),
            Failure::LocalLimit { .. } => "stillup out of resources".into(),
            Failure::RedirectLimit { .. } => "redirect limit".into(),
            Failure::GrpcNotServing { status, .. } => format!("gRPC {status}"),
            Failure::GrpcServiceUnknown { .. } => "gRPC service unknown".into(),
            Failure::GrpcUnimplemented { .. } => "no gRPC health service".into(),
            Failure::GrpcStatus { code, .. } => format!("gRPC {}", grpc_code_name(*code)),
            Failure::NotReady { reason, .. } => reason.words().into(),
        }
    }

    /// Failures that say waiting cannot help, whatever `--fail-fast` lists.
    pub fn is_final(&self) -> bool {
        matches!(self, Failure::FailWhen { .. })
    }

    /// The HTTP status code this failure carries, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::HttpStatus { status, .. }
            | Failure::ConditionFailed { status, .. }
            | Failure::FailWhen { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Failure {
    /// Every text this failure carries that the world controls (server, certificate,
    /// resolver or library text, and names the user gave), for `sanitize::display_safe` —
    /// the gate to the terminal — to rewrite. A new variant with text lists it here.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Failure::Dns { host, detail } => vec![host, detail],
            Failure::DnsTimeout { host, .. } => vec![host],
            Failure::Refused { addr } | Failure::ConnectTimeout { addr, .. } => vec![addr],
            Failure::SocketRefused { path, .. } => vec![path],
            Failure::Connect { addr, detail } => vec![addr, detail],
            Failure::TlsHandshake { detail }
            | Failure::TlsVerify { detail, .. }
            | Failure::Reset { detail }
            | Failure::InvalidResponse { detail }
            | Failure::LocalLimit { detail } => vec![detail],
            Failure::ProtocolMismatch {
                expected,
                spoken,
                excerpt,
            } => {
                let mut texts = vec![expected, excerpt];
                texts.extend(spoken.as_mut());
                texts
            }
            Failure::HttpStatus { expected, .. } => vec![expected],
            Failure::ConditionFailed {
                condition,
                expected,
                actual,
                reason,
                ..
            }
            | Failure::TooSlow {
                condition,
                expected,
                actual,
                reason,
            } => vec![condition, expected, actual, reason],
            Failure::Proxy { proxy, detail } => vec![proxy, detail],
            Failure::FailWhen { condition, .. } => vec![condition],
            Failure::GrpcNotServing { service, status } => vec![service, status],
            Failure::GrpcServiceUnknown { service } => vec![service],
            Failure::GrpcUnimplemented { message } | Failure::GrpcStatus { message, .. } => {
                vec![message]
            }
            Failure::NotReady { said, .. } => vec![said],
            Failure::ResponseTimeout { .. }
            | Failure::BodyTimeout { .. }
            | Failure::BodyTooLarge { .. }
            | Failure::RedirectLimit { .. } => vec![],
        }
    }
}

impl Failure {
    /// A TCP or gRPC answer over `--max-latency`: `what` names the answer ("connection").
    pub fn too_slow(what: &str, latency: Duration, limit: Duration) -> Result<(), Failure> {
        match crate::condition::latency::over(what, latency, limit) {
            None => Ok(()),
            Some(o) => Err(Failure::TooSlow {
                condition: o.condition,
                expected: o.expected,
                actual: o.actual,
                reason: o.reason,
            }),
        }
    }

    /// Classify an unmet condition of a response that came back with `status`.
    pub fn from_unmet(unmet: Unmet, status: u16) -> Self {
        match unmet {
            Unmet::Status { status, expected } => Failure::HttpStatus { status, expected },
            Unmet::Condition {
                condition,
                expected,
                actual,
                reason,
            } => Failure::ConditionFailed {
                status,
                condition,
                expected,
                actual,
                reason,
            },
        }
    }
}

impl CertProblem {
    fn short(self) -> &'static str {
        match self {
            CertProblem::UnknownIssuer => "not trusted",
            CertProblem::Expired => "expired",
            CertProblem::NotYetValid => "not yet valid",
            CertProblem::WrongName => "wrong name",
            CertProblem::Revoked => "revoked",
            CertProblem::Other => "rejected",
        }
    }
}

/// The name of a gRPC status code, as the gRPC specification spells it.
pub fn grpc_code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "an unknown code",
    }
}

/// A failed attempt is data, but it is also an error a caller can return with `?`; the
/// message is its `Display`, and it wraps no other error.
impl std::error::Error for Failure {}

/// `service "my.pkg.Greeter"`, or `the server` for the overall health (service `""`).
fn grpc_subject(service: &str) -> String {
    if service.is_empty() {
        "the server".to_string()
    } else {
        format!("service {service:?}")
    }
}

/// Durations in messages: `3s`, `250ms`, `1.5s` — short and exact enough.
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Dns { host, detail } => {
                write!(f, "DNS lookup of {host} failed — {detail}")
            }
            Failure::DnsTimeout { host, after } => write!(
                f,
                "DNS lookup of {host} got no answer within {}",
                human_duration(*after)
            ),
            Failure::Refused { addr } => {
                write!(f, "connection refused by {addr} — nothing is listening")
            }
            Failure::SocketRefused { path, missing: true } => write!(
                f,
                "no unix socket at {path} — nothing is listening yet, or the path is wrong"
            ),
            Failure::SocketRefused {
                path,
                missing: false,
            } => write!(
                f,
                "connection refused by unix socket {path} — nothing is listening (a socket file left behind by a stopped server?)"
            ),
            Failure::ConnectTimeout { addr, after } => write!(
                f,
                "no TCP connection to {addr} within {} — host down or traffic dropped",
                human_duration(*after)
            ),
            Failure::Connect { addr, detail } => write!(f, "cannot connect to {addr} — {detail}"),
            Failure::TlsHandshake { detail } => write!(f, "TLS handshake failed — {detail}"),
            Failure::TlsVerify { reason, detail } => {
                let what = match reason {
                    CertProblem::UnknownIssuer => {
                        "certificate is not trusted (unknown issuer or self-signed)"
                    }
                    CertProblem::Expired => "certificate has expired",
                    CertProblem::NotYetValid => "certificate is not valid yet",
                    CertProblem::WrongName => "certificate is not valid for this host name",
                    CertProblem::Revoked => "certificate is revoked",
                    CertProblem::Other => "certificate was rejected",
                };
                write!(f, "TLS {what} — {detail}")
            }
            Failure::ResponseTimeout { after } => write!(
                f,
                "connected but no response within {}",
                human_duration(*after)
            ),
            Failure::BodyTimeout { after, received } => write!(
                f,
                "response body not complete within {} ({received} bytes received)",
                human_duration(*after)
            ),
            Failure::Reset { detail } => write!(f, "connection {detail}"),
            Failure::InvalidResponse { detail } => write!(f, "invalid response — {detail}"),
            Failure::ProtocolMismatch {
                expected,
                spoken,
                excerpt,
            } => {
                write!(
                    f,
                    "the port speaks another protocol: expected {expected}, the server sent \"{excerpt}\""
                )?;
                match spoken {
                    Some(spoken) => write!(f, " — {spoken}"),
                    None => Ok(()),
                }
            }
            Failure::HttpStatus { status, expected } => {
                let reason = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                if reason.is_empty() {
                    write!(f, "HTTP {status} (expected {expected})")
                } else {
                    write!(f, "HTTP {status} {reason} (expected {expected})")
                }
            }
            Failure::ConditionFailed { status, reason, .. } => {
                write!(f, "HTTP {status} but {reason}")
            }
            Failure::BodyTooLarge { limit } => write!(
                f,
                "response body is larger than the {limit}-byte limit (raise --max-body)"
            ),
            Failure::Proxy { proxy, detail } => write!(f, "proxy {proxy}: {detail}"),
            Failure::LocalLimit { detail } => write!(
                f,
                "stillup could not make the attempt: {detail} — not the target's fault; raise `ulimit -n` or watch fewer targets at once"
            ),
            Failure::TooSlow { reason, .. } => f.write_str(reason),
            Failure::FailWhen { status, condition } => write!(
                f,
                "HTTP {status} and {condition} holds — the service reports a failure waiting will not fix"
            ),
            Failure::RedirectLimit { hops, looped } => {
                if *looped {
                    write!(f, "redirect loop after {hops} hops")
                } else {
                    write!(f, "more than {hops} redirects")
                }
            }
            Failure::GrpcNotServing { service, status } => {
                let subject = grpc_subject(service);
                match status.as_str() {
                    "NOT_SERVING" => write!(f, "gRPC health check: {subject} is NOT_SERVING"),
                    "UNKNOWN" => write!(
                        f,
                        "gRPC health check: {subject} is UNKNOWN — its health is not decided yet"
                    ),
                    other => write!(
                        f,
                        "gRPC health check: {subject} reports {other}, which is not SERVING"
                    ),
                }
            }
            Failure::GrpcServiceUnknown { service } if service.is_empty() => write!(
                f,
                "gRPC health check: the server does not report its overall health (service \"\") — name a service: grpc://HOST:PORT/SERVICE"
            ),
            Failure::GrpcServiceUnknown { service } => write!(
                f,
                "gRPC health check: the server does not know service {service:?} — check the name after the port, or whether the server registers it with its health service"
            ),
            Failure::GrpcUnimplemented { message } => {
                write!(
                    f,
                    "the server speaks gRPC but has no grpc.health.v1.Health service (UNIMPLEMENTED"
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                write!(
                    f,
                    ") — register the standard health service, or probe the port with tcp://"
                )
            }
            Failure::GrpcStatus { code, message } => {
                write!(
                    f,
                    "gRPC health check failed with {} ({code})",
                    grpc_code_name(*code)
                )?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if matches!(code, 7 | 16) {
                    write!(f, " — pass credentials with --bearer or -H")?;
                }
                Ok(())
            }
            Failure::NotReady {
                reason: NotReadyReason::AuthFailed,
                server,
                said,
            } => write!(
                f,
                "{server} refused the login: {said} — check the user and password"
            ),
            Failure::NotReady {
                reason,
                server,
                said,
            } => {
                let state = match reason {
                    NotReadyReason::Starting => "is starting up, shutting down or in recovery",
                    NotReadyReason::NotPrimary => "is not the primary",
                    NotReadyReason::TooManyConnections => "has too many connections",
                    NotReadyReason::UnknownDatabase => "has no such database",
                    NotReadyReason::HostBlocked => "blocks this host",
                    NotReadyReason::Loading => "is loading its dataset",
                    NotReadyReason::Busy => "is busy",
                    NotReadyReason::AuthFailed => "refused the login",
                    NotReadyReason::Unavailable => "is unavailable",
                };
                write!(f, "{server} {state}: {said}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_listed_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in FailureClass::ALL {
            assert!(seen.insert(c.as_str()), "duplicate class {c}");
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            // serde and FromStr speak the same names as as_str: the JSON stays unchanged.
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<FailureClass>(&json).unwrap(), *c);
            assert_eq!(c.as_str().parse::<FailureClass>(), Ok(*c));
        }
        let samples = [
            Failure::Refused {
                addr: "127.0.0.1:1".into(),
            },
            Failure::HttpStatus {
                status: 503,
                expected: "2xx".into(),
            },
            Failure::ResponseTimeout {
                after: Duration::from_secs(3),
            },
            Failure::SocketRefused {
                path: "/tmp/a.sock".into(),
                missing: true,
            },
            Failure::GrpcNotServing {
                service: String::new(),
                status: "NOT_SERVING".into(),
            },
            Failure::GrpcServiceUnknown {
                service: "x".into(),
            },
            Failure::GrpcUnimplemented {
                message: String::new(),
            },
            Failure::GrpcStatus {
                code: 14,
                message: "down".into(),
            },
        ];
        for s in samples {
            assert!(FailureClass::ALL.contains(&s.class()));
        }
    }

    #[test]
    fn messages_read_well() {
        let f = Failure::Refused {
            addr: "127.0.0.1:8080".into(),
        };
        assert_eq!(
            f.to_string(),
            "connection refused by 127.0.0.1:8080 — nothing is listening"
        );
        let f = Failure::HttpStatus {
            status: 503,
            expected: "2xx".into(),
        };
        assert_eq!(f.to_string(), "HTTP 503 Service Unavailable (expected 2xx)");
        let f = Failure::GrpcNotServing {
            service: "my.pkg.Greeter".into(),
            status: "NOT_SERVING".into(),
        };
        assert_eq!(
            f.to_string(),
            r#"gRPC health check: service "my.pkg.Greeter" is NOT_SERVING"#
        );
        let f = Failure::GrpcStatus {
            code: 16,
            message: "no token".into(),
        };
        assert_eq!(
            f.to_string(),
            "gRPC health check failed with UNAUTHENTICATED (16): no token — pass credentials with --bearer or -H"
        );
        assert_eq!(f.label(), "gRPC UNAUTHENTICATED");
        let f = Failure::SocketRefused {
            path: "/run/app.sock".into(),
            missing: true,
        };
        assert_eq!(f.class(), "refused");
        assert!(f.to_string().contains("/run/app.sock"), "{f}");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
    }
}
