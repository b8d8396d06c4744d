//! HTTP proxies from the environment, as curl reads them: `http_proxy` / `HTTP_PROXY` for
//! http:// targets, `https_proxy` / `HTTPS_PROXY` for https:// (through a CONNECT tunnel),
//! `all_proxy` as the fallback, and `no_proxy` / `NO_PROXY` for the exceptions.
//!
//! Loopback targets (`localhost`, 127.0.0.0/8, ::1) never go through a proxy: a proxy cannot
//! reach the caller's own loopback, and readiness checks of local services are the common case.
//!
//! A variable that is not a proxy URL matters only to the targets that would use it: it is
//! kept as an error, and [`ProxySettings::for_url`] gives that error (naming the variable,
//! never the password) for exactly those targets.

use std::net::IpAddr;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::redact::{has_ambiguous_userinfo, redact_value, Secret};
use crate::target::split_credentials;

/// A proxy to send requests through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http://host:port`, credentials removed.
    pub url: Url,
    /// `user:password` from the proxy URL, sent as `Proxy-Authorization: Basic …`.
    pub auth: Option<Secret>,
}

/// The proxy settings of a run: for each scheme, the proxy its variable names, or why that
/// variable is not a proxy URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// The proxy for `http://` targets (`http_proxy`); `None` when the variable is unset.
    pub http: Option<Result<Proxy, ProxyError>>,
    /// The proxy for `https://` targets (`https_proxy`); `None` when the variable is unset.
    pub https: Option<Result<Proxy, ProxyError>>,
    /// `no_proxy` entries, lower-case, leading dots removed; `*` means every host.
    pub no_proxy: Vec<String>,
}

/// Why a proxy variable was not used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProxyError {
    /// The variable's value is not a proxy URL stillup can use.
    #[error("{variable}={value:?} is not a proxy URL ({reason}); write it like http://proxy.internal:3128")]
    Invalid {
        /// The variable, e.g. `HTTPS_PROXY`.
        variable: &'static str,
        /// Its value, credentials removed.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ProxyError {
    /// The variable that holds the bad value, e.g. `HTTPS_PROXY`.
    pub fn variable(&self) -> &'static str {
        match self {
            ProxyError::Invalid { variable, .. } => variable,
        }
    }
}

impl ProxySettings {
    /// Read the proxy variables of the environment.
    pub fn from_env() -> ProxySettings {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read proxy settings through `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ProxySettings {
        let get = |lower: &'static str, upper: &'static str| {
            lookup(lower)
                .map(|v| (lower, v))
                .or_else(|| lookup(upper).map(|v| (upper, v)))
                .filter(|(_, v)| !v.trim().is_empty())
        };
        let all = get("all_proxy", "ALL_PROXY");
        let http = get("http_proxy", "HTTP_PROXY").or_else(|| all.clone());
        let https = get("https_proxy", "HTTPS_PROXY").or(all);
        let no_proxy = get("no_proxy", "NO_PROXY")
            .map(|(_, v)| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        ProxySettings {
            http: http.map(|(var, v)| parse_proxy(var, &v)),
            https: https.map(|(var, v)| parse_proxy(var, &v)),
            no_proxy,
        }
    }

    /// The proxy for `url`, if one applies; the error of its variable if that variable
    /// would apply but is not a proxy URL.
    pub fn for_url(&self, url: &Url) -> Result<Option<&Proxy>, &ProxyError> {
        let Some(host) = url.host_str() else {
            return Ok(None);
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if is_loopback(host) || self.excluded(host) {
            return Ok(None);
        }
        let chosen = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        };
        chosen.map(Result::as_ref).transpose()
    }

    fn excluded(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == *entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

fn is_loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_proxy(variable: &'static str, value: &str) -> Result<Proxy, ProxyError> {
    let trimmed = value.trim();
    // curl accepts a bare host:port; so do we.
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let invalid = |reason: &str| ProxyError::Invalid {
        variable,
        value: redact_value(trimmed),
        reason: reason.to_string(),
    };
    if has_ambiguous_userinfo(trimmed) {
        return Err(invalid(
            "an '@' after a '/', '?' or '#': in the user name or password write / as %2F, ? as %3F, # as %23, @ as %40",
        ));
    }
    let mut url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(invalid("only http:// proxies are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    // As before: a password without a user name is dropped, not sent.
    if url.username().is_empty() {
        let _ = url.set_password(None);
    }
    let auth = split_credentials(&mut url);
    // Only the host and port are used, and only they are shown.
    url.set_path("");
    url.set_query(None);
    url.set_fragment(None);
    Ok(Proxy { url, auth })
}

impl Proxy {
    /// The proxy's host, without IPv6 brackets.
    pub fn host(&self) -> String {
        self.url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    }

    /// The proxy's port: as given, else 80 (`http://`) or 443 (`https://`).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }

    /// The `Proxy-Authorization` value, if the proxy URL carried credentials.
    pub fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        self.auth.as_ref().map(|secret| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(secret.expose())
            )
        })
    }
}

/// Largest CONNECT answer head we read before calling the proxy broken.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Ask the proxy on `stream` for a tunnel to `host:port`, within the budget.
pub async fn tunnel(
    mut stream: TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    budget: &Deadline,
) -> Result<TcpStream, Failure> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str(concat!(
        "User-Agent: stillup/",
        env!("CARGO_PKG_VERSION"),
        "\r\n\r\n"
    ));
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        // Byte by byte: nothing after the head may be consumed, it belongs to TLS.
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_CONNECT_HEAD || stream.read(&mut byte).await? == 0 {
                break;
            }
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>(head)
    };
    let where_ = proxy.url.as_str().trim_end_matches('/').to_string();
    let head = match tokio::time::timeout(budget.remaining(), exchange).await {
        Err(_) => {
            return Err(Failure::Proxy {
                proxy: where_,
                detail: "no answer to CONNECT in time".into(),
            })
        }
        Ok(Err(e)) => {
            return Err(Failure::Proxy {
                proxy: where_,
                detail: format!("the tunnel broke: {e}"),
            })
        }
        Ok(Ok(head)) => head,
    };
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) if head.ends_with(b"\r\n\r\n") => Ok(stream),
        Some(code) => Err(Failure::Proxy {
            proxy: where_,
            detail: format!("it refused the tunnel to {authority}: HTTP {code}"),
        }),
        None => Err(Failure::Proxy {
            proxy: where_,
            detail: "it did not answer CONNECT with HTTP".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> ProxySettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxySettings::from_lookup(|name| map.get(name).cloned())
    }

    fn proxy_for<'a>(s: &'a ProxySettings, target: &str) -> Option<&'a Proxy> {
        s.for_url(&url(target)).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn schemes_pick_their_proxy_and_all_proxy_fills_in() {
        let s = settings(&[
            ("http_proxy", "proxy:3128"),
            ("ALL_PROXY", "http://all:8080"),
        ]);
        assert_eq!(proxy_for(&s, "http://api/").unwrap().port(), 3128);
        assert_eq!(proxy_for(&s, "https://api/").unwrap().host(), "all");
    }

    #[test]
    fn no_proxy_matches_domains_and_loopback_is_never_proxied() {
        let s = settings(&[
            ("https_proxy", "http://p:1"),
            ("NO_PROXY", ".internal, example.com"),
        ]);
        assert!(proxy_for(&s, "https://db.internal/").is_none());
        assert!(proxy_for(&s, "https://example.com/").is_none());
        assert!(proxy_for(&s, "https://a.example.com/").is_none());
        assert!(proxy_for(&s, "https://notexample.com/").is_some());
        assert!(proxy_for(&s, "https://127.0.0.1/").is_none());
        assert!(proxy_for(&s, "https://[::1]/").is_none());
        assert!(proxy_for(&s, "https://localhost/").is_none());
        let all = settings(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]);
        assert!(proxy_for(&all, "https://api/").is_none());
    }

    #[test]
    fn credentials_are_kept_apart_and_bad_urls_say_which_variable() {
        let s = settings(&[("http_proxy", "http://u:p%40ss@proxy:3128/x?y")]);
        let proxy = proxy_for(&s, "http://api/").unwrap();
        assert_eq!(proxy.url.as_str(), "http://proxy:3128/");
        assert_eq!(proxy.auth.as_ref().unwrap().expose(), "u:p@ss");
        let s = ProxySettings::from_lookup(|n| (n == "HTTPS_PROXY").then(|| "socks5://x:1".into()));
        let e = s.for_url(&url("https://api/")).unwrap_err();
        assert!(e.to_string().contains("HTTPS_PROXY"), "{e}");
    }

    /// A broken variable is no one's business but the targets that would use it, and its
    /// error never shows the password, whatever characters it holds.
    #[test]
    fn a_bad_proxy_variable_matters_only_to_targets_that_use_it_and_hides_its_password() {
        for value in [
            "http://u:PX/SECRET@proxy:3128",
            "http://u:PX#SECRET@proxy:3128",
            "u:PX?SECRET@proxy:3128",
            "http://u:12/SECRET@proxy:3128",
        ] {
            let s = ProxySettings::from_lookup(|n| (n == "HTTPS_PROXY").then(|| value.into()));
            assert_eq!(s.for_url(&url("https://127.0.0.1:1/")), Ok(None));
            assert_eq!(s.for_url(&url("http://api/")), Ok(None));
            let e = s.for_url(&url("https://api/")).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("HTTPS_PROXY"), "{text}");
            assert!(!text.contains("SECRET") && !text.contains("PX"), "{text}");
        }
    }
}
