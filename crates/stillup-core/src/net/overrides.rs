//! Where to connect instead of where DNS points: curl's `--resolve host:port:addr` and
//! `--connect-to host:port:host2:port2`, to probe one backend behind a shared name.
//!
//! Only the connection moves: the Host header, TLS server name and certificate check keep
//! the target's own name, so the probe sees exactly what a client of that name would.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::net::TcpStream;

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::net::connect;
use crate::timings::PhaseTimings;

/// `--resolve`: a fixed address for one host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    host: String,
    port: u16,
    addrs: Vec<IpAddr>,
}

/// `--connect-to`: connect to another host and port in place of one (empty parts match any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectToRule {
    host: Option<String>,
    port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

/// All the overrides of a run; the first matching rule of each kind applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressOverrides {
    /// `--resolve` rules, in the order given.
    pub resolve: Vec<ResolveRule>,
    /// `--connect-to` rules, in the order given.
    pub connect_to: Vec<ConnectToRule>,
}

/// Why a `--resolve` or `--connect-to` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OverrideError {
    /// A `--resolve` value not shaped `HOST:PORT:ADDRESS[,ADDRESS…]`.
    #[error("expected HOST:PORT:ADDRESS[,ADDRESS…], e.g. api.example:443:10.0.0.7")]
    ResolveShape,
    #[error(
        "expected HOST:PORT:HOST2:PORT2 (parts may be empty), e.g. api.example:443:10.0.0.7:8443"
    )]
    /// A `--connect-to` value not shaped `HOST:PORT:HOST2:PORT2`.
    ConnectToShape,
    /// A port that is not a number from 1 to 65535 (the text given).
    #[error("{0:?} is not a port number (1-65535)")]
    Port(String),
    /// An address that is not an IP address (the text given).
    #[error("{0:?} is not an IP address")]
    Address(String),
}

impl AddressOverrides {
    /// Whether there is no rule: connections go where DNS points.
    pub fn is_empty(&self) -> bool {
        self.resolve.is_empty() && self.connect_to.is_empty()
    }

    /// The addresses to try for `host:port`, and the DNS time spent (none when overridden).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        budget: &Deadline,
    ) -> Result<(Vec<SocketAddr>, Option<Duration>), Failure> {
        let (host, port) = self.connect_target(host, port);
        if let Some(rule) = self.resolve.iter().find(|r| r.matches(&host, port)) {
            let addrs = rule
                .addrs
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            return Ok((addrs, None));
        }
        connect::resolve(&host, port, budget).await
    }

    /// Resolve `host:port` (as [`resolve`](Self::resolve)) and connect to the first address
    /// that accepts, recording both phases in `timings` (the connect phase once it succeeded).
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        budget: &Deadline,
        timings: &mut PhaseTimings,
    ) -> Result<(TcpStream, SocketAddr), Failure> {
        let (addrs, dns) = self.resolve(host, port, budget).await?;
        timings.dns = dns;
        let connect_started = Instant::now();
        let connected = connect::connect(&addrs, budget).await?;
        timings.connect = Some(connect_started.elapsed());
        Ok(connected)
    }

    fn connect_target(&self, host: &str, port: u16) -> (String, u16) {
        match self.connect_to.iter().find(|r| r.matches(host, port)) {
            Some(rule) => (
                rule.to_host.clone().unwrap_or_else(|| host.to_string()),
                rule.to_port.unwrap_or(port),
            ),
            None => (host.to_string(), port),
        }
    }
}

impl ResolveRule {
    /// Connect to `addrs` for `host:port`: how the exporter pins a name to the addresses it
    /// checked against `--allow-target`.
    pub fn new(host: &str, port: u16, addrs: Vec<IpAddr>) -> ResolveRule {
        ResolveRule {
            host: normalize(host),
            port,
            addrs,
        }
    }

    /// `host:port:addr[,addr…]`; IPv6 addresses may be bracketed.
    pub fn parse(input: &str) -> Result<ResolveRule, OverrideError> {
        let mut parts = input.splitn(3, ':');
        let (Some(host), Some(port), Some(addrs)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OverrideError::ResolveShape);
        };
        if host.is_empty() || addrs.is_empty() {
            return Err(OverrideError::ResolveShape);
        }
        let addrs = addrs
            .split(',')
            .map(|a| {
                let bare = a.trim().trim_start_matches('[').trim_end_matches(']');
                bare.parse::<IpAddr>()
                    .map_err(|_| OverrideError::Address(a.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveRule {
            host: normalize(host),
            port: parse_port(port)?,
            addrs,
        })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        self.port == port && self.host == normalize(host)
    }
}

impl ConnectToRule {
    /// `host:port:host2:port2`; a bracketed IPv6 host2 keeps its colons.
    pub fn parse(input: &str) -> Result<ConnectToRule, OverrideError> {
        let parts = split_keeping_brackets(input);
        let [host, port, to_host, to_port] = parts.as_slice() else {
            return Err(OverrideError::ConnectToShape);
        };
        let optional_port = |p: &str| -> Result<Option<u16>, OverrideError> {
            if p.is_empty() {
                Ok(None)
            } else {
                parse_port(p).map(Some)
            }
        };
        let optional_host = |h: &str| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            (!h.is_empty()).then(|| normalize(h))
        };
        Ok(ConnectToRule {
            host: optional_host(host),
            port: optional_port(port)?,
            to_host: optional_host(to_host),
            to_port: optional_port(to_port)?,
        })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        self.host.as_deref().is_none_or(|h| h == normalize(host))
            && self.port.is_none_or(|p| p == port)
    }
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn parse_port(text: &str) -> Result<u16, OverrideError> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(OverrideError::Port(text.to_string())),
    }
}

/// Split on ':' outside `[...]`.
fn split_keeping_brackets(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_rules_parse_and_match() {
        let r = ResolveRule::parse("API.example:443:10.0.0.7,[::1]").unwrap();
        assert!(r.matches("api.example", 443));
        assert!(!r.matches("api.example", 80));
        assert_eq!(r.addrs.len(), 2);
        assert_eq!(
            ResolveRule::parse("h:443"),
            Err(OverrideError::ResolveShape)
        );
        assert!(matches!(
            ResolveRule::parse("h:x:1.2.3.4"),
            Err(OverrideError::Port(_))
        ));
        assert!(matches!(
            ResolveRule::parse("h:1:nope"),
            Err(OverrideError::Address(_))
        ));
    }

    #[test]
    fn connect_to_rules_move_only_the_connection() {
        let overrides = AddressOverrides {
            resolve: vec![],
            connect_to: vec![ConnectToRule::parse("api.example:443:[::1]:8443").unwrap()],
        };
        assert_eq!(
            overrides.connect_target("api.example", 443),
            ("::1".into(), 8443)
        );
        assert_eq!(
            overrides.connect_target("other", 443),
            ("other".into(), 443)
        );
        let any = ConnectToRule::parse("::127.0.0.1:").unwrap();
        assert!(any.matches("whatever", 1));
        assert!(matches!(
            ConnectToRule::parse("a:b"),
            Err(OverrideError::ConnectToShape)
        ));
    }

    #[tokio::test]
    async fn a_resolve_rule_skips_dns() {
        let overrides = AddressOverrides {
            resolve: vec![ResolveRule::parse("api.invalid:80:127.0.0.1").unwrap()],
            connect_to: vec![],
        };
        let d = Deadline::after(Duration::from_secs(1));
        let (addrs, dns) = overrides.resolve("api.invalid", 80, &d).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
        assert!(dns.is_none());
    }
}
