//! What to probe, parsed from the user's string, with "what and where" errors.
//!
//! A target is an `http://` or `https://` URL (IPv4, bracketed IPv6 literals, names) or a
//! `tcp://host:port` address. Parsing happens before any request, so a typo never costs a
//! deploy a full timeout. Credentials in a URL are split off here into a `Secret` so nothing
//! downstream can print them by accident.

use std::fmt;

use thiserror::Error;
use url::Url;

use crate::redact::{redact_url, Secret};

/// A target to probe, of any supported kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// `http://` or `https://`: a request whose response must meet the conditions.
    Http(HttpTarget),
    /// `tcp://host:port`: healthy when a TCP connection is accepted.
    Tcp(TcpTarget),
}

/// An HTTP(S) URL, credentials held apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    url: Url,
    basic_auth: Option<Secret>,
}

/// A host and port to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    host: String,
    port: u16,
}

/// The scheme of an HTTP target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Why a target string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    #[error("{input:?} is not a URL ({reason}); write it like http://127.0.0.1:8080/health")]
    NotAUrl { input: String, reason: String },
    #[error("{input:?} has no scheme; write http://{input} or https://{input}")]
    MissingScheme { input: String },
    #[error("scheme {scheme:?} in {input:?} is not supported; use http://, https:// or tcp://")]
    UnsupportedScheme { input: String, scheme: String },
    #[error("{input:?} has no host; write it like http://127.0.0.1:8080/health")]
    MissingHost { input: String },
    #[error("{input:?} has port 0, which nothing can listen on")]
    PortZero { input: String },
    #[error("{input:?} has no port; write it like tcp://db.internal:5432")]
    MissingPort { input: String },
    #[error("{input:?} has a path, query or credentials, which tcp:// targets cannot use; write it like tcp://db.internal:5432")]
    TcpExtras { input: String },
}

impl Target {
    /// Parse `http://…`, `https://…` or `tcp://host:port`.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let trimmed = input.trim();
        let scheme = trimmed
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("tcp") => TcpTarget::parse(trimmed).map(Target::Tcp),
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

    /// The kind of target, as a stable word (`http`, `tcp`).
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Http(_) => "http",
            Target::Tcp(_) => "tcp",
        }
    }
}

impl fmt::Display for Target {
    /// Safe to print: credentials were removed at parse time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(http) => http.fmt(f),
            Target::Tcp(tcp) => tcp.fmt(f),
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

impl HttpTarget {
    /// Parse an `http://` or `https://` URL.
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
            other => {
                return Err(TargetError::UnsupportedScheme {
                    input: redact_input(trimmed),
                    scheme: other.to_string(),
                })
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(TargetError::MissingHost {
                input: redact_input(trimmed),
            });
        }
        if url.port() == Some(0) {
            return Err(TargetError::PortZero {
                input: redact_input(trimmed),
            });
        }
        let basic_auth = if !url.username().is_empty() || url.password().is_some() {
            let user = percent_decode(url.username());
            let pass = url.password().map(percent_decode).unwrap_or_default();
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Secret::new(format!("{user}:{pass}")))
        } else {
            None
        };
        // The fragment never goes on the wire.
        url.set_fragment(None);
        Ok(HttpTarget { url, basic_auth })
    }

    pub fn scheme(&self) -> Scheme {
        if self.url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }
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

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }
}

impl fmt::Display for HttpTarget {
    /// Safe to print: credentials were removed at parse time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

fn redact_input(input: &str) -> String {
    redact_url(input)
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
    fn errors_hide_credentials() {
        let e = Target::parse("ftp://u:hunter2@x/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
