//! HTTP proxies from the environment, as curl reads them: `http_proxy` / `HTTP_PROXY` for
//! http:// targets, `https_proxy` / `HTTPS_PROXY` for https:// (through a CONNECT tunnel),
//! `all_proxy` as the fallback, and `no_proxy` / `NO_PROXY` for the exceptions.
//!
//! Loopback targets (`localhost`, 127.0.0.0/8, ::1) never go through a proxy: a proxy cannot
//! reach the caller's own loopback, and readiness checks of local services are the common case.
//!
//! `no_proxy` is read as curl ≥ 7.86 and Go's `httpproxy` read it, taking what either accepts
//! (see [`NoProxy`]): `*`, names with their subdomains, `:port`, IP addresses and CIDR ranges.
//!
//! A variable that is not a proxy URL, or a `no_proxy` entry that cannot be read, matters only
//! to the targets that would use a proxy: it is kept as an error, and
//! [`ProxySettings::for_url`] gives that error (naming the variable, never the password) for
//! exactly those targets.

use std::net::{IpAddr, Ipv4Addr};

use super::mask;

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
    /// The hosts that go direct (`no_proxy`).
    pub no_proxy: NoProxy,
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
    /// An entry of `no_proxy` that is neither a name, an address nor a CIDR range.
    #[error("{variable} entry {entry:?} cannot be read: {reason}")]
    NoProxyEntry {
        /// `no_proxy` or `NO_PROXY`.
        variable: &'static str,
        /// The entry as written.
        entry: String,
        /// What is wrong with it, and how to write it.
        reason: String,
    },
}

impl ProxyError {
    /// The variable that holds the bad value, e.g. `HTTPS_PROXY`.
    pub fn variable(&self) -> &'static str {
        match self {
            ProxyError::Invalid { variable, .. } | ProxyError::NoProxyEntry { variable, .. } => {
                variable
            }
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
            .map(|(var, v)| NoProxy::parse(var, &v))
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
        let port = url.port_or_known_default().unwrap_or(80);
        if is_loopback(host) || self.no_proxy.matches(host, port) {
            return Ok(None);
        }
        let chosen = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        };
        // An unreadable no_proxy entry may have been meant for this target: an error only
        // where a proxy would otherwise be used.
        if let (Some(_), Some(bad)) = (chosen, &self.no_proxy.unreadable) {
            return Err(bad);
        }
        chosen.map(Result::as_ref).transpose()
    }
}

fn is_loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The hosts `no_proxy` sends direct, read as curl ≥ 7.86 and Go's `httpproxy` read it.
///
/// Entries are separated by commas or white space, and compared without regard to case:
///
/// - `*` sends every host direct (curl wants it as the whole value; here it may be any entry).
/// - A name matches itself and its subdomains: `example.com` matches `example.com` and
///   `api.example.com`, not `notexample.com`. A leading `.` or `*.` is dropped, as curl drops
///   the dot, so `.example.com` matches `example.com` too (Go's would match subdomains only;
///   erring towards direct keeps an internal apex off the proxy). A trailing dot is ignored.
/// - An IP address (IPv6 with or without brackets) matches that address literally.
/// - `host:port`, `1.2.3.4:port`, `[v6]:port` match that port only (Go's rule; curl has none).
/// - A CIDR range, `10.0.0.0/8` or `fd00::/8`, matches the addresses in it.
///
/// Addresses and ranges match targets written as IP literals only, and names match names:
/// a name is never resolved to be compared with a range (neither curl nor Go does so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    rules: Vec<NoProxyRule>,
    /// The first entry that could not be read.
    unreadable: Option<ProxyError>,
}

/// One readable entry of `no_proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyRule {
    /// `*`.
    Everything,
    /// A name and its subdomains, lower-case, without leading or trailing dots.
    Domain { name: String, port: Option<u16> },
    /// One address.
    Address { ip: IpAddr, port: Option<u16> },
    /// A range: the network address (host bits cleared) and the prefix length.
    Range { network: IpAddr, prefix: u8 },
}

impl NoProxy {
    /// Read the value of `variable` (`no_proxy` or `NO_PROXY`).
    pub fn parse(variable: &'static str, value: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            match NoProxyRule::parse(entry) {
                Ok(rule) => no_proxy.rules.push(rule),
                Err(reason) => {
                    no_proxy
                        .unreadable
                        .get_or_insert_with(|| ProxyError::NoProxyEntry {
                            variable,
                            entry: entry.to_string(),
                            reason: reason.to_string(),
                        });
                }
            }
        }
        no_proxy
    }

    /// Whether `host` (a name or an IP literal, without brackets) on `port` goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let ip = host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let port_fits = |wanted: &Option<u16>| wanted.is_none_or(|p| p == port);
        self.rules.iter().any(|rule| match (rule, ip) {
            (NoProxyRule::Everything, _) => true,
            (
                NoProxyRule::Domain {
                    name: entry,
                    port: p,
                },
                None,
            ) => {
                port_fits(p)
                    && (name == *entry
                        || name
                            .strip_suffix(entry.as_str())
                            .is_some_and(|rest| rest.ends_with('.')))
            }
            (NoProxyRule::Address { ip: entry, port: p }, Some(ip)) => port_fits(p) && *entry == ip,
            (NoProxyRule::Range { network, prefix }, Some(ip)) => {
                mask(ip, *prefix).is_some_and(|masked| masked == *network)
            }
            _ => false,
        })
    }
}

impl NoProxyRule {
    fn parse(entry: &str) -> Result<NoProxyRule, &'static str> {
        let entry = entry.to_ascii_lowercase();
        if entry == "*" {
            return Ok(NoProxyRule::Everything);
        }
        if let Some((address, prefix)) = entry.split_once('/') {
            const CIDR: &str = "not a CIDR range: write an address, a slash and a prefix length, like 10.0.0.0/8 or fd00::/8";
            let address = unbracket(address).ok_or(CIDR)?;
            let ip = address.parse::<IpAddr>().map_err(|_| CIDR)?.to_canonical();
            let prefix = prefix.parse::<u8>().map_err(|_| CIDR)?;
            // Both families mask what they are given: 10.1.2.3/8 is 10.0.0.0/8, as in curl.
            let network = mask(ip, prefix).ok_or(
                "the prefix length is longer than the address (at most 32 for IPv4, 128 for IPv6)",
            )?;
            return Ok(NoProxyRule::Range { network, prefix });
        }
        if let Ok(ip) = entry.parse::<IpAddr>() {
            return Ok(NoProxyRule::Address {
                ip: ip.to_canonical(),
                port: None,
            });
        }
        const PORT: &str = "the port is not a number from 1 to 65535";
        if entry.starts_with('[') {
            let (address, rest) = entry
                .split_once(']')
                .ok_or("an IPv6 address opened with [ is not closed with ]")?;
            let ip = address[1..]
                .parse::<IpAddr>()
                .map_err(|_| "not an IP address between [ and ]")?;
            let port = match rest {
                "" => None,
                _ => Some(
                    rest.strip_prefix(':')
                        .and_then(|p| p.parse::<u16>().ok())
                        .filter(|p| *p != 0)
                        .ok_or(PORT)?,
                ),
            };
            return Ok(NoProxyRule::Address {
                ip: ip.to_canonical(),
                port,
            });
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => (
                host,
                Some(port.parse::<u16>().ok().filter(|p| *p != 0).ok_or(PORT)?),
            ),
            None => (entry.as_str(), None),
        };
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(NoProxyRule::Address {
                ip: IpAddr::V4(ip),
                port,
            });
        }
        let name = host.strip_prefix("*.").unwrap_or(host);
        let name = name.trim_start_matches('.').trim_end_matches('.');
        if name.contains('*') {
            return Err("a wildcard is read as * alone or at the start (*.example.com); for addresses write a CIDR range like 192.168.0.0/16");
        }
        if name.is_empty() || name.contains(['[', ']', ':']) {
            return Err("not a host name, an IP address or a CIDR range");
        }
        Ok(NoProxyRule::Domain {
            name: name.to_string(),
            port,
        })
    }
}

/// `address` without the brackets of an IPv6 literal; `None` if only one of them is there.
fn unbracket(address: &str) -> Option<&str> {
    match (address.strip_prefix('['), address.strip_suffix(']')) {
        (Some(_), Some(_)) => Some(&address[1..address.len() - 1]),
        (None, None) => Some(address),
        _ => None,
    }
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

    /// Which of `targets` `no_proxy` sends direct (with a proxy set for both schemes).
    fn direct(no_proxy: &str, targets: &[&str]) -> Vec<bool> {
        let s = settings(&[("all_proxy", "http://p:1"), ("NO_PROXY", no_proxy)]);
        targets
            .iter()
            .map(|t| s.for_url(&url(t)).unwrap().is_none())
            .collect()
    }

    #[test]
    fn a_star_entry_sends_every_host_direct() {
        assert_eq!(
            direct(
                "*",
                &["https://api/", "http://10.1.2.3/", "http://[fd00::1]/"]
            ),
            [true, true, true]
        );
        // Go reads * among other entries too; curl only as the whole value.
        assert_eq!(direct("example.com, *", &["https://api/"]), [true]);
        assert_eq!(direct("", &["https://api/"]), [false]);
    }

    #[test]
    fn entries_are_separated_by_commas_or_white_space() {
        let targets = [
            "http://a.test/",
            "http://b.test/",
            "http://c.test/",
            "http://d.test/",
        ];
        assert_eq!(
            direct(" a.test,b.test  c.test\t,, ", &targets),
            [true, true, true, false]
        );
    }

    #[test]
    fn a_name_matches_itself_and_its_subdomains_with_or_without_a_leading_dot_or_star() {
        let targets = [
            "https://example.com/",
            "https://a.example.com/",
            "https://a.b.example.com/",
            "https://notexample.com/",
            "https://example.com.evil/",
        ];
        for entry in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            assert_eq!(
                direct(entry, &targets),
                [true, true, true, false, false],
                "{entry}"
            );
        }
        // Case and a trailing dot of the target do not matter either.
        assert_eq!(
            direct("example.com", &["https://API.Example.COM./"]),
            [true]
        );
    }

    #[test]
    fn a_port_limits_an_entry_to_that_port_and_schemes_give_the_default() {
        let targets = [
            "http://api.test:8080/",
            "http://api.test/",
            "https://api.test/",
            "http://10.0.0.1:8080/",
            "http://10.0.0.1/",
            "http://[fd00::1]:8080/",
            "http://[fd00::1]/",
        ];
        assert_eq!(
            direct("api.test:8080,10.0.0.1:8080,[fd00::1]:8080", &targets),
            [true, false, false, true, false, true, false]
        );
        assert_eq!(
            direct("api.test:443", &["https://api.test/", "http://api.test/"]),
            [true, false]
        );
    }

    #[test]
    fn ip_addresses_match_ip_literal_targets_in_both_families() {
        let targets = [
            "http://192.168.1.10/",
            "http://192.168.1.11/",
            "http://[fd00::1]/",
            "http://[fd00::2]/",
            "http://[::ffff:192.168.1.10]/",
        ];
        // IPv6 as curl writes it (bare) and as Go does (in brackets).
        for list in ["192.168.1.10, fd00::1", "192.168.1.10,[fd00::1]"] {
            assert_eq!(
                direct(list, &targets),
                [true, false, true, false, true],
                "{list}"
            );
        }
        assert_eq!(direct("fd00:0:0::1", &["http://[fd00::1]/"]), [true]);
    }

    #[test]
    fn cidr_ranges_match_the_addresses_in_them() {
        let v4 = [
            "http://10.0.0.1/",
            "http://10.255.255.255:8080/",
            "http://11.0.0.1/",
            "http://172.16.5.4/",
            "http://172.32.0.1/",
            "http://[::ffff:10.1.1.1]/",
        ];
        assert_eq!(
            direct("10.0.0.0/8, 172.16.0.0/12", &v4),
            [true, true, false, true, false, true]
        );
        // Host bits are masked off, as curl does; /32 is one address, /0 every one.
        assert_eq!(direct("10.9.9.9/8", &["http://10.1.2.3/"]), [true]);
        assert_eq!(
            direct("10.1.2.3/32", &["http://10.1.2.3/", "http://10.1.2.4/"]),
            [true, false]
        );
        assert_eq!(direct("0.0.0.0/0", &["http://203.0.113.9/"]), [true]);
        let v6 = [
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://10.0.0.1/",
        ];
        for list in ["fd00::/8", "[fd00::]/8"] {
            assert_eq!(direct(list, &v6), [true, false, false], "{list}");
        }
        // A range of one family never matches the other.
        assert_eq!(direct("10.0.0.0/8", &["http://[fd00::1]/"]), [false]);
    }

    /// Neither curl nor Go resolves a name to compare it with an address or a range.
    #[test]
    fn addresses_and_ranges_never_match_names_and_names_never_match_addresses() {
        assert_eq!(
            direct(
                "10.0.0.0/8, 10.0.0.1",
                &["http://db.internal/", "http://10.example/"]
            ),
            [false, false]
        );
        // "0.1" as a name must not match the address 10.0.0.1 by its text.
        assert_eq!(direct("0.0.1", &["http://10.0.0.1/"]), [false]);
    }

    #[test]
    fn loopback_goes_direct_whatever_no_proxy_says() {
        assert_eq!(
            direct(
                "10.0.0.0/8",
                &[
                    "http://127.0.0.1/",
                    "http://127.8.9.1/",
                    "http://[::1]/",
                    "http://[::ffff:127.0.0.1]/",
                    "http://localhost/",
                    "http://api.localhost/",
                ]
            ),
            [true; 6]
        );
    }

    /// An entry that cannot be read is an error for targets that would use a proxy (it may
    /// have been meant for them), naming the variable and the entry; not for the others.
    #[test]
    fn an_unreadable_no_proxy_entry_is_an_error_for_proxied_targets_only() {
        for (entry, says) in [
            ("10.0.0.0/33", "prefix length"),
            ("fd00::/129", "prefix length"),
            ("10.0.0.0/x", "CIDR"),
            ("nonsense/8", "CIDR"),
            ("192.168.*", "wildcard"),
            ("api.*.internal", "wildcard"),
            ("api.test:http", "port"),
            ("api.test:0", "port"),
            ("[fd00::1", "closed"),
            ("[api.test]:80", "IP address"),
            ("[fd00::1]80", "port"),
            (":80", "host name"),
        ] {
            let list = format!("example.com,{entry}");
            let s = settings(&[("https_proxy", "http://p:1"), ("no_proxy", &list)]);
            let e = s.for_url(&url("https://api.test/")).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.variable(), "no_proxy");
            assert!(
                text.contains(entry) && text.contains(says),
                "{entry}: {text}"
            );
            // The readable entries still apply, and targets with no proxy are not affected.
            assert_eq!(s.for_url(&url("https://example.com/")), Ok(None), "{entry}");
            assert_eq!(s.for_url(&url("http://api.test/")), Ok(None), "{entry}");
            assert_eq!(s.for_url(&url("https://127.0.0.1/")), Ok(None), "{entry}");
        }
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
