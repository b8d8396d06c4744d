//! What to probe, parsed from the user's string, with "what and where" errors.
//!
//! A target is an `http://` or `https://` URL (IPv4, bracketed IPv6 literals, names), an
//! `http+unix://` URL naming a Unix domain socket (Docker-style, the socket path
//! percent-encoded where the host goes), a `tcp://host:port` address, or a `grpc://` /
//! `grpcs://` gRPC server with an optional health service name. Parsing happens before any
//! request, so a typo never costs a deploy a full timeout. Credentials in a URL are split off
//! here into a `Secret` so nothing downstream can print them by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use url::Url;

use base64::Engine as _;

use crate::redact::{has_ambiguous_userinfo, is_sensitive_name, redact_value, remember, Secret};

/// A target to probe, of any supported kind. Exhaustive: the command line (another crate)
/// matches on it, and a new kind must be a compile error there, not a silent fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://` or `https://`: a request whose response must meet the conditions.
    Http(HttpTarget),
    /// `tcp://host:port`: healthy when a TCP connection is accepted.
    Tcp(TcpTarget),
    /// `grpc://host:port[/service]` or `grpcs://…`: the standard gRPC health check.
    Grpc(GrpcTarget),
}

/// An HTTP(S) URL, credentials held apart; for `http+unix://`, the decoded socket path too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    url: Url,
    basic_auth: Option<Secret>,
    socket: Option<PathBuf>,
}

/// A host and port to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    host: String,
    port: u16,
}

/// A gRPC server and the service whose health to ask for (`""`: the server as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTarget {
    host: String,
    port: u16,
    tls: bool,
    service: String,
}

/// The scheme of an HTTP target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: plain HTTP over TCP.
    Http,
    /// `https://`: HTTP over TLS.
    Https,
    /// HTTP/1.1 over a Unix domain socket.
    HttpUnix,
}

/// Longest socket path the kernel takes (`sun_path` holds 108 bytes on Linux, 104 on the BSDs,
/// including the final NUL); longer ones are refused before any attempt.
#[cfg(target_os = "linux")]
const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
const MAX_SOCKET_PATH: usize = 103;

/// What a `http+unix://` URL looks like, for error messages.
const UNIX_EXAMPLE: &str = "http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping";

/// Why a target string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("{input:?} is not a URL ({reason}); write it like http://127.0.0.1:8080/health")]
    NotAUrl {
        /// The target string as given.
        input: String,
        /// What the URL parser objected to.
        reason: String,
    },
    /// `http://u:p/q@host/`: a parser takes host `u`, the user meant password `p/q`.
    #[error("{input:?} has an '@' after a '/', '?', '#' or '\\', so where the host starts is ambiguous; in a user name or password write / as %2F, ? as %3F, # as %23, @ as %40 (and an '@' in the path or query as %40)")]
    AmbiguousUserinfo {
        /// The target string as given.
        input: String,
    },
    /// No `scheme://` in front.
    #[error("{input:?} has no scheme; write http://{input} or https://{input}")]
    MissingScheme {
        /// The target string as given.
        input: String,
    },
    /// A scheme stillup does not probe.
    #[error("scheme {scheme:?} in {input:?} is not supported; use http://, https://, http+unix://, tcp://, grpc:// or grpcs://")]
    UnsupportedScheme {
        /// The target string as given.
        input: String,
        /// The scheme as written, e.g. `grpc`.
        scheme: String,
    },
    /// No host after the scheme.
    #[error("{input:?} has no host; write it like http://127.0.0.1:8080/health")]
    MissingHost {
        /// The target string as given.
        input: String,
    },
    /// Port 0, which nothing listens on.
    #[error("{input:?} has port 0, which nothing can listen on")]
    PortZero {
        /// The target string as given.
        input: String,
    },
    /// A `tcp://` target without a port.
    #[error("{input:?} has no port; write it like tcp://db.internal:5432")]
    MissingPort {
        /// The target string as given.
        input: String,
    },
    /// A `tcp://` target with a path, query or credentials.
    #[error("{input:?} has a path, query or credentials, which tcp:// targets cannot use; write it like tcp://db.internal:5432")]
    TcpExtras {
        /// The target string as given.
        input: String,
    },
    /// A gRPC target without a port (gRPC has no default).
    #[error("{input:?} has no port, and gRPC has no default one; write it like {scheme}://api.internal:50051 (or {scheme}://api.internal:50051/my.package.Service for one service's health)")]
    GrpcMissingPort {
        /// The target string as given.
        input: String,
        /// The scheme as written, e.g. `grpc`.
        scheme: String,
    },
    /// A gRPC target with a query, fragment or credentials.
    #[error("{input:?} has a query, fragment or credentials, which {scheme}:// targets cannot use; write it like {scheme}://api.internal:50051/my.package.Service")]
    GrpcExtras {
        /// The target string as given.
        input: String,
        /// The scheme as written, e.g. `grpc`.
        scheme: String,
    },
    /// A gRPC service name with a `/` in it.
    #[error("{input:?} names the service {service:?}, but a gRPC service name has no '/'; write the one name after the port, like {scheme}://api.internal:50051/my.package.Service")]
    GrpcServiceName {
        /// The target string as given.
        input: String,
        /// The scheme as written, e.g. `grpc`.
        scheme: String,
        /// The service name as written.
        service: String,
    },
    /// An `http+unix://` URL without a socket path.
    #[error("{input:?} has no socket path; percent-encode the path of the socket where the host goes, like {example}")]
    UnixMissingSocket {
        /// The target string as given.
        input: String,
        /// A well-formed `http+unix://` URL to copy.
        example: String,
    },
    /// An `http+unix://` URL with a port.
    #[error("{input:?} has a port, but a unix socket has none; write it like {UNIX_EXAMPLE}")]
    UnixPort {
        /// The target string as given.
        input: String,
    },
    /// A database or broker URL that its protocol module refused: a bad port, an unknown
    /// query parameter or value, a path that cannot name a database.
    #[error("{input:?} {problem}; write it like {example}")]
    Malformed {
        /// The target string as given (credentials hidden).
        input: String,
        /// What is wrong, e.g. `has an unknown parameter "sslmod"`.
        problem: String,
        /// A well-formed target of the same kind to copy.
        example: &'static str,
    },
    /// A socket path longer than a Unix socket address holds.
    #[error("{input:?} names a socket path of {len} bytes, longer than the {MAX_SOCKET_PATH} a unix socket address can hold; use a shorter path (e.g. a symlink to its directory)")]
    UnixPathTooLong {
        /// The target string as given.
        input: String,
        /// The socket path's length in bytes.
        len: usize,
    },
}

impl Target {
    /// Parse `http://…`, `https://…`, `http+unix://…`, `tcp://host:port` or
    /// `grpc[s]://host:port[/service]`.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let trimmed = input.trim();
        // Guessing would send a piece of the password, as a host or a path, to the wrong host.
        if has_ambiguous_userinfo(trimmed) {
            return Err(TargetError::AmbiguousUserinfo {
                input: redact_input(trimmed),
            });
        }
        let scheme = trimmed
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("tcp") => TcpTarget::parse(trimmed).map(Target::Tcp),
            Some("grpc" | "grpcs") => GrpcTarget::parse(trimmed).map(Target::Grpc),
            _ => HttpTarget::parse(trimmed).map(Target::Http),
        }
    }

    /// The HTTP target, if this is one.
    pub fn as_http(&self) -> Option<&HttpTarget> {
        match self {
            Target::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The kind of target, as a stable word (`http`, `tcp`, `grpc`). `http+unix://` targets
    /// are `http`: the same conditions and fields apply.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Http(_) => "http",
            Target::Tcp(_) => "tcp",
            Target::Grpc(_) => "grpc",
        }
    }
}

impl fmt::Display for Target {
    /// Safe to print: credentials were removed at parse time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(http) => http.fmt(f),
            Target::Tcp(tcp) => tcp.fmt(f),
            Target::Grpc(grpc) => grpc.fmt(f),
        }
    }
}

impl TcpTarget {
    /// Parse `tcp://host:port` (IPv6 literals in brackets).
    pub fn parse(input: &str) -> Result<TcpTarget, TargetError> {
        let trimmed = input.trim();
        let url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(TargetError::MissingHost {
                input: redact_input(trimmed),
            });
        }
        let has_extras = !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || !url.username().is_empty()
            || url.password().is_some();
        if has_extras {
            return Err(TargetError::TcpExtras {
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
            None => {
                return Err(TargetError::MissingPort {
                    input: redact_input(trimmed),
                })
            }
        };
        Ok(TcpTarget {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
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
}

impl fmt::Display for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
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

    /// The service whose health is asked for; empty for the server as a whole.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `host:port`, IPv6 literals in brackets: the `:authority` of the call.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
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

/// The characters percent-encoded in a socket path written into a `http+unix://` host.
const SOCKET_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl HttpTarget {
    /// Parse an `http://`, `https://` or `http+unix://` URL.
    pub fn parse(input: &str) -> Result<HttpTarget, TargetError> {
        let trimmed = input.trim();
        // "localhost:8080/health" parses as scheme "localhost"; catch the common slip first.
        if !trimmed.contains("://") {
            return Err(TargetError::MissingScheme {
                input: redact_input(trimmed),
            });
        }
        let mut url = Url::parse(trimmed).map_err(|e| TargetError::NotAUrl {
            input: redact_input(trimmed),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            "http+unix" => return HttpTarget::parse_unix(trimmed, url),
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: redact_input(trimmed),
                    scheme: other.to_string(),
                })
            }
        }
        // The URL standard skips any number of slashes after `http:`, so `http:///x` parses
        // as host `x`: judge the text as written, where the host is empty.
        if url.host_str().is_none_or(str::is_empty) || written_host_is_empty(trimmed) {
            return Err(TargetError::MissingHost {
                input: redact_input(trimmed),
            });
        }
        if url.port() == Some(0) {
            return Err(TargetError::PortZero {
                input: redact_input(trimmed),
            });
        }
        let basic_auth = split_credentials(&mut url);
        // The fragment never goes on the wire.
        url.set_fragment(None);
        remember_query_secrets(&url);
        Ok(HttpTarget {
            url,
            basic_auth,
            socket: None,
        })
    }

    /// `http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping`: the host is the percent-encoded path of
    /// the socket; the rest is an HTTP URL as usual.
    fn parse_unix(trimmed: &str, mut url: Url) -> Result<HttpTarget, TargetError> {
        let encoded = url.host_str().unwrap_or_default();
        if encoded.is_empty() {
            return Err(TargetError::UnixMissingSocket {
                input: redact_input(trimmed),
                example: unix_example(url.path()),
            });
        }
        if url.port().is_some() {
            return Err(TargetError::UnixPort {
                input: redact_input(trimmed),
            });
        }
        let path = percent_decode(encoded);
        if path.len() > MAX_SOCKET_PATH {
            return Err(TargetError::UnixPathTooLong {
                input: redact_input(trimmed),
                len: path.len(),
            });
        }
        let basic_auth = split_credentials(&mut url);
        url.set_fragment(None);
        Ok(HttpTarget {
            url,
            basic_auth,
            socket: Some(PathBuf::from(path)),
        })
    }

    /// Which of `http`, `https` and `http+unix` the URL uses.
    pub fn scheme(&self) -> Scheme {
        match self.url.scheme() {
            "https" => Scheme::Https,
            "http+unix" => Scheme::HttpUnix,
            _ => Scheme::Http,
        }
    }

    /// The Unix domain socket of an `http+unix://` target.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// The URL without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `user:password` from the URL, if there was any.
    pub fn basic_auth(&self) -> Option<&Secret> {
        self.basic_auth.as_ref()
    }

    /// Host as written, without IPv6 brackets.
    pub fn host(&self) -> &str {
        let host = self.url.host_str().unwrap_or_default();
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port from the URL, else the scheme's default (80, 443); 80 for `http+unix://`,
    /// where it is only part of the `Host` header.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }
}

impl fmt::Display for HttpTarget {
    /// Safe to print: credentials were removed at parse time, and the values of query
    /// parameters named like credentials (`?token=…`) are hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_value(self.url.as_str()))
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

/// Take `user:password@` out of the URL, into a secret (proxy URLs use it too).
pub(crate) fn split_credentials(url: &mut Url) -> Option<Secret> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = percent_decode(url.username());
    let pass = url.password().map(percent_decode).unwrap_or_default();
    // A server that echoes them back (a body, a redirect) cannot get them printed either.
    remember(url.password().unwrap_or_default());
    remember(&pass);
    remember(&format!("{user}:{pass}"));
    remember(&base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(Secret::new(format!("{user}:{pass}")))
}

/// Values of query parameters named like credentials (`?token=…`): hidden by name when the
/// URL is printed, and remembered in case a server echoes them.
fn remember_query_secrets(url: &Url) {
    for (name, value) in url.query_pairs() {
        if is_sensitive_name(&name) {
            remember(&value);
        }
    }
}

/// The URL the user probably meant by `http+unix:///var/run/app.sock/health`: the path up to a
/// `.sock` file, percent-encoded into the host. The generic example when no such file shows.
fn unix_example(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(end) = segments
        .iter()
        .position(|s| s.ends_with(".sock") || s.ends_with(".socket"))
    else {
        return UNIX_EXAMPLE.to_string();
    };
    let socket = format!("/{}", segments[..=end].join("/"));
    let encoded = percent_encoding::utf8_percent_encode(&socket, SOCKET_ESCAPES);
    format!("http+unix://{encoded}/{}", segments[end + 1..].join("/"))
}

/// Whether the authority between `://` and the path, after any `user@`, holds no host.
fn written_host_is_empty(input: &str) -> bool {
    let rest = input.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host.is_empty() || host.starts_with(':')
}

/// The user's text for an error message: the whole input is one URL, whatever it holds.
pub(crate) fn redact_input(input: &str) -> String {
    redact_value(input)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(input: &str) -> HttpTarget {
        match Target::parse(input).unwrap() {
            Target::Http(http) => http,
            other => panic!("expected an http target, got {other:?}"),
        }
    }

    #[test]
    fn tcp_targets_need_a_port_and_nothing_else() {
        let t = Target::parse("tcp://db.internal:5432").unwrap();
        assert_eq!(t.to_string(), "tcp://db.internal:5432");
        assert_eq!(t.kind(), "tcp");
        let t = Target::parse("tcp://[::1]:6379").unwrap();
        assert_eq!(t.to_string(), "tcp://[::1]:6379");
        let e = Target::parse("tcp://db.internal").unwrap_err();
        assert!(matches!(e, TargetError::MissingPort { .. }), "{e}");
        let e = Target::parse("tcp://db:1/path").unwrap_err();
        assert!(matches!(e, TargetError::TcpExtras { .. }), "{e}");
        let e = Target::parse("tcp://db:0").unwrap_err();
        assert!(matches!(e, TargetError::PortZero { .. }), "{e}");
    }

    #[test]
    fn grpc_targets_need_a_port_and_may_name_one_service() {
        let Target::Grpc(t) = Target::parse("grpc://api.internal:50051").unwrap() else {
            panic!("a grpc target");
        };
        assert_eq!(
            (t.host(), t.port(), t.is_tls(), t.service()),
            ("api.internal", 50051, false, "")
        );
        assert_eq!(t.to_string(), "grpc://api.internal:50051");
        let t = Target::parse("grpcs://[::1]:443/my.pkg.Greeter").unwrap();
        assert_eq!(t.kind(), "grpc");
        assert_eq!(t.to_string(), "grpcs://[::1]:443/my.pkg.Greeter");
        let Target::Grpc(g) = &t else { panic!("grpc") };
        assert_eq!(
            (g.host(), g.is_tls(), g.service()),
            ("::1", true, "my.pkg.Greeter")
        );
        assert_eq!(g.authority(), "[::1]:443");
        let Target::Grpc(g) = Target::parse("grpc://h:1/").unwrap() else {
            panic!("grpc")
        };
        assert_eq!(g.service(), "");

        let e = Target::parse("grpc://api.internal").unwrap_err();
        assert!(matches!(e, TargetError::GrpcMissingPort { .. }), "{e}");
        assert!(e.to_string().contains("grpc://api.internal:50051"), "{e}");
        let e = Target::parse("grpcs://h").unwrap_err();
        assert!(e.to_string().contains("grpcs://"), "{e}");
        let e = Target::parse("grpc://h:1/a/b").unwrap_err();
        assert!(matches!(e, TargetError::GrpcServiceName { .. }), "{e}");
        let e = Target::parse("grpc://h:1/?x=1").unwrap_err();
        assert!(matches!(e, TargetError::GrpcExtras { .. }), "{e}");
        let e = Target::parse("grpc://u:hunter2@h:1").unwrap_err();
        assert!(matches!(e, TargetError::GrpcExtras { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = Target::parse("grpc://h:0").unwrap_err();
        assert!(matches!(e, TargetError::PortZero { .. }), "{e}");
    }

    #[test]
    fn unix_targets_decode_the_socket_path_from_the_host() {
        let t = http("http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping?x=1#f");
        assert_eq!(t.scheme(), Scheme::HttpUnix);
        assert_eq!(t.socket_path(), Some(Path::new("/var/run/docker.sock")));
        assert_eq!(t.url().path(), "/_ping");
        assert_eq!(
            t.to_string(),
            "http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping?x=1"
        );
        assert_eq!(Target::parse(&t.to_string()).unwrap().kind(), "http");
        let t = http("http+unix://%2ftmp%2fa%20b.sock");
        assert_eq!(t.socket_path(), Some(Path::new("/tmp/a b.sock")));
        let t = http("http+unix://u:pw@%2Ftmp%2Fa.sock/");
        assert_eq!(t.basic_auth().unwrap().expose(), "u:pw");
        assert!(!t.to_string().contains("pw"));
        assert!(http("http://h/").socket_path().is_none());
    }

    #[test]
    fn unix_targets_without_a_socket_say_how_to_write_one() {
        let e = Target::parse("http+unix://").unwrap_err();
        assert!(matches!(e, TargetError::UnixMissingSocket { .. }), "{e}");
        assert!(e.to_string().contains(UNIX_EXAMPLE), "{e}");
        let e = Target::parse("http+unix:///var/run/docker.sock/_ping").unwrap_err();
        assert!(
            e.to_string()
                .contains("http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping"),
            "{e}"
        );
        let e = Target::parse("http+unix://%2Ftmp%2Fa.sock:80/").unwrap_err();
        assert!(matches!(e, TargetError::UnixPort { .. }), "{e}");
        let long = format!("http+unix://%2F{}/", "a".repeat(200));
        let e = Target::parse(&long).unwrap_err();
        assert!(
            matches!(e, TargetError::UnixPathTooLong { len: 201, .. }),
            "{e}"
        );
    }

    #[test]
    fn accepts_http_https_ipv6_and_names() {
        let t = http("http://127.0.0.1:8080/health");
        assert_eq!(
            (t.host(), t.port(), t.scheme()),
            ("127.0.0.1", 8080, Scheme::Http)
        );
        let t = http("https://[::1]/ready");
        assert_eq!(
            (t.host(), t.port(), t.scheme()),
            ("::1", 443, Scheme::Https)
        );
        let t = http("http://api.internal/health?x=1#frag");
        assert_eq!(t.to_string(), "http://api.internal/health?x=1");
    }

    #[test]
    fn credentials_are_split_off_and_never_displayed() {
        let t = http("http://admin:s3cr%40t@127.0.0.1:1/");
        assert_eq!(t.to_string(), "http://127.0.0.1:1/");
        assert_eq!(t.basic_auth().unwrap().expose(), "admin:s3cr@t");
        assert!(!format!("{t:?}").contains("s3cr"));
    }

    /// Found by the `target_parser` fuzz target: the password also occurs in the path (the
    /// authority ends at the first `/`, so `http:` is the host and the rest is path). The
    /// userinfo is removed, and the credentials are remembered: where they occur in the path
    /// they are hidden too, and what is printed carries none.
    #[test]
    fn a_password_that_also_occurs_in_the_path_is_hidden_there_too() {
        let t = http("http://use:rhunter4@http://use:rhunter4rf");
        assert_eq!(t.url().as_str(), "http://http//use:rhunter4rf");
        assert_eq!(t.to_string(), "http://http//<redacted>rf");
        assert_eq!(t.basic_auth().unwrap().expose(), "use:rhunter4");
        assert!(http(&t.to_string()).basic_auth().is_none());
    }

    /// `http:///x` is not host `x`: a URL with nothing where the host goes is refused, never
    /// resolved.
    #[test]
    fn an_empty_host_is_refused_whatever_follows_it() {
        for input in [
            "http:///x",
            "https:///x/y",
            "http:////x",
            "http://@/x",
            "http://u:p@/x",
            "http://:8080/x",
            "http://?x",
        ] {
            let e = Target::parse(input).unwrap_err();
            assert!(
                matches!(
                    e,
                    TargetError::MissingHost { .. } | TargetError::NotAUrl { .. }
                ),
                "{input}: {e}"
            );
        }
        assert_eq!(http("http://x/").to_string(), "http://x/");
        assert_eq!(http("http://u:p@x/").to_string(), "http://x/");
    }

    #[test]
    fn rejects_with_a_fix() {
        let e = Target::parse("localhost:8080/health").unwrap_err();
        assert!(
            e.to_string().contains("http://localhost:8080/health"),
            "{e}"
        );
        let e = Target::parse("ftp://x/").unwrap_err();
        assert!(matches!(e, TargetError::UnsupportedScheme { .. }), "{e}");
        let e = Target::parse("http://").unwrap_err();
        assert!(
            matches!(
                e,
                TargetError::NotAUrl { .. } | TargetError::MissingHost { .. }
            ),
            "{e}"
        );
        let e = Target::parse("http://[::1/").unwrap_err();
        assert!(matches!(e, TargetError::NotAUrl { .. }), "{e}");
        let e = Target::parse("http://h:0/").unwrap_err();
        assert!(matches!(e, TargetError::PortZero { .. }), "{e}");
    }

    #[test]
    fn an_at_after_the_authority_is_refused_without_printing_the_password() {
        for input in [
            "http://deploy:Zx9/Qk2Lm@127.0.0.1:1/",
            "http://deploy:123/Qk2Lm@127.0.0.1:1/",
            "https://Zx9/Qk2Lm@h/",
            "http://deploy:a#Qk2Lm@h/",
            "http://deploy:a?Qk2Lm@h/",
            "tcp://deploy:1/Qk2Lm@h:1",
            "grpc://deploy:1/Qk2Lm@h:1",
            "deploy:Zx9/Qk2Lm@127.0.0.1:1/",
        ] {
            let e = Target::parse(input).unwrap_err();
            assert!(matches!(e, TargetError::AmbiguousUserinfo { .. }), "{e}");
            assert!(!e.to_string().contains("Qk2Lm"), "{e}");
        }
    }

    #[test]
    fn sensitive_query_values_are_sent_but_not_displayed() {
        let t = http("http://h/health?token=abc&x=1");
        assert_eq!(t.url().query(), Some("token=abc&x=1"));
        assert_eq!(t.to_string(), "http://h/health?token=<redacted>&x=1");
        let e = Target::parse("ftp://h/?api_key=abc").unwrap_err();
        assert!(!e.to_string().contains("abc"), "{e}");
    }

    #[test]
    fn errors_hide_credentials() {
        let e = Target::parse("ftp://u:hunter2@x/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
