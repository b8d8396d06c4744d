//! `http://`, `https://` and `http+unix://` targets: the URL, with credentials split off into
//! a [`Secret`] at parse time so nothing downstream can print them by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::redact::{is_sensitive_name, redact_value, remember, Secret};
use crate::target::{
    percent_decode, redact_input, split_credentials, TargetError, MAX_SOCKET_PATH, UNIX_EXAMPLE,
};

/// The URL schemes of HTTP targets.
pub const SCHEMES: &[&str] = &["http", "https", "http+unix"];

/// An HTTP(S) URL, credentials held apart; for `http+unix://`, the decoded socket path too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    url: Url,
    basic_auth: Option<Secret>,
    socket: Option<PathBuf>,
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
                    supported: crate::probe::supported_schemes(),
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

    /// `https://`: attempts speak TLS.
    pub fn uses_tls(&self) -> bool {
        self.scheme() == Scheme::Https
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
