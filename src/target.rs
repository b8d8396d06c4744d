//! What to probe, parsed from the user's string, with "what and where" errors.
//!
//! Today a target is an `http://` or `https://` URL (IPv4, bracketed IPv6 literals, names).
//! Parsing happens before any request, so a typo never costs a deploy a full timeout.
//! Credentials in the URL are split off here into a `Secret` so nothing downstream can
//! print them by accident.

use std::fmt;

use thiserror::Error;
use url::Url;

use crate::redact::{redact_url, Secret};

/// A target to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    basic_auth: Option<Secret>,
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
    #[error("scheme {scheme:?} in {input:?} is not supported; use http:// or https://")]
    UnsupportedScheme { input: String, scheme: String },
    #[error("{input:?} has no host; write it like http://127.0.0.1:8080/health")]
    MissingHost { input: String },
    #[error("{input:?} has port 0, which nothing can listen on")]
    PortZero { input: String },
}

impl Target {
    /// Parse an `http://` or `https://` URL.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
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
        Ok(Target { url, basic_auth })
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

impl fmt::Display for Target {
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

    #[test]
    fn accepts_http_https_ipv6_and_names() {
        let t = Target::parse("http://127.0.0.1:8080/health").unwrap();
        assert_eq!(
            (t.host(), t.port(), t.scheme()),
            ("127.0.0.1", 8080, Scheme::Http)
        );
        let t = Target::parse("https://[::1]/ready").unwrap();
        assert_eq!(
            (t.host(), t.port(), t.scheme()),
            ("::1", 443, Scheme::Https)
        );
        let t = Target::parse("http://api.internal/health?x=1#frag").unwrap();
        assert_eq!(t.to_string(), "http://api.internal/health?x=1");
    }

    #[test]
    fn credentials_are_split_off_and_never_displayed() {
        let t = Target::parse("http://admin:s3cr%40t@127.0.0.1:1/").unwrap();
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
