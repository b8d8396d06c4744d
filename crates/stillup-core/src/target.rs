//! What to probe, parsed from the user's string, with "what and where" errors.
//!
//! A target is an `http://` or `https://` URL (IPv4, bracketed IPv6 literals, names), an
//! `http+unix://` URL naming a Unix domain socket (Docker-style, the socket path
//! percent-encoded where the host goes), a `tcp://host:port` address, or a `grpc://` /
//! `grpcs://` gRPC server with an optional health service name. Parsing happens before any
//! request, so a typo never costs a deploy a full timeout. Credentials in a URL are split off
//! here into a `Secret` so nothing downstream can print them by accident.

use thiserror::Error;
use url::Url;

use base64::Engine as _;

use crate::redact::{redact_value, remember, Secret};

// Each kind's target lives in its protocol module; these paths stay for the library's users.
pub use crate::probe::{GrpcTarget, HttpTarget, Kind, Scheme, Target, TcpTarget};

/// Longest socket path the kernel takes (`sun_path` holds 108 bytes on Linux, 104 on the BSDs,
/// including the final NUL); longer ones are refused before any attempt.
#[cfg(target_os = "linux")]
pub(crate) const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
pub(crate) const MAX_SOCKET_PATH: usize = 103;

/// What a `http+unix://` URL looks like, for error messages.
pub(crate) const UNIX_EXAMPLE: &str = "http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping";

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
    #[error("scheme {scheme:?} in {input:?} is not supported; use {supported}")]
    UnsupportedScheme {
        /// The target string as given.
        input: String,
        /// The scheme as written, e.g. `grpc`.
        scheme: String,
        /// Every scheme stillup probes, e.g. `http://, https://, … or grpcs://`.
        supported: String,
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

/// The user's text for an error message: the whole input is one URL, whatever it holds.
pub(crate) fn redact_input(input: &str) -> String {
    redact_value(input)
}

/// `host:port`, an IPv6 literal in brackets (`[::1]:5432`): how a target's URL writes them.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
