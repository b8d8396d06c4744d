//! Where to connect instead of where DNS points: curl's `--resolve host:port:addr` and
//! `--connect-to host:port:host2:port2`, to probe one backend behind a shared name.
//!
//! Only the connection moves: the Host header, TLS server name and certificate check keep
//! the target's own name, so the probe sees exactly what a client of that name would.
//!
//! It also holds the address family preference (blackbox_exporter's `preferred_ip_protocol`
//! and `ip_protocol_fallback`): which family's addresses are tried first, and whether the
//! other is tried at all. Every probe resolves through [`AddressOverrides::resolve`], so the
//! preference reaches them all; a proxy's own address is the proxy's business, not the
//! target's, and is not filtered.

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

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// `IPv4` or `IPv6`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// Which family's addresses to try first, and whether the other family may be tried at all
/// (blackbox_exporter's `preferred_ip_protocol` and `ip_protocol_fallback`). Without one,
/// addresses are tried in the resolver's order, whatever their family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyPreference {
    /// The family tried first.
    pub preferred: Family,
    /// Whether the other family's addresses are tried after the preferred one's. Without
    /// fallback a name with no address of the preferred family fails as `dns`.
    pub fallback: bool,
}

impl FamilyPreference {
    /// `addrs` with the preferred family's first (each family in the order given), and
    /// without the other family's unless fallback is allowed. `host` names the failure
    /// when no address is left.
    pub fn apply(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Failure> {
        let (mut kept, other): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
            .into_iter()
            .partition(|a| Family::of(a.ip()) == self.preferred);
        if self.fallback {
            kept.extend(other);
        } else if kept.is_empty() {
            let detail = match other.first() {
                Some(a) => format!(
                    "it has no {} address, only {}, and this probe may not fall back to it",
                    self.preferred.name(),
                    Family::of(a.ip()).name()
                ),
                None => format!("it has no {} address", self.preferred.name()),
            };
            return Err(Failure::Dns {
                host: host.to_string(),
                detail,
            });
        }
        Ok(kept)
    }
}

/// All the overrides of a run; the first matching rule of each kind applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressOverrides {
    /// `--resolve` rules, in the order given.
    pub resolve: Vec<ResolveRule>,
    /// `--connect-to` rules, in the order given.
    pub connect_to: Vec<ConnectToRule>,
    /// Which address family to try first, and whether only that one; `None`: the
    /// resolver's order. Applies to `--resolve` addresses too.
    pub family: Option<FamilyPreference>,
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

    /// Try `preference.preferred`'s addresses first, and only those without fallback
    /// (`None`: the resolver's order). The exporter's modules set it.
    pub fn set_family(&mut self, preference: Option<FamilyPreference>) {
        self.family = preference;
    }

    /// The addresses to try for `host:port` (ordered and filtered by the family
    /// preference), and the DNS time spent (none when overridden).
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        budget: &Deadline,
    ) -> Result<(Vec<SocketAddr>, Option<Duration>), Failure> {
        let (host, port) = self.connect_target(host, port);
        let (addrs, dns) = match self.resolve.iter().find(|r| r.matches(&host, port)) {
            Some(rule) => {
                let addrs = rule
                    .addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect();
                (addrs, None)
            }
            None => connect::resolve(&host, port, budget).await?,
        };
        match &self.family {
            Some(preference) => Ok((preference.apply(&host, addrs)?, dns)),
            None => Ok((addrs, dns)),
        }
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
            connect_to: vec![ConnectToRule::parse("api.example:443:[::1]:8443").unwrap()],
            ..AddressOverrides::default()
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
            ..AddressOverrides::default()
        };
        let d = Deadline::after(Duration::from_secs(1));
        let (addrs, dns) = overrides.resolve("api.invalid", 80, &d).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
        assert!(dns.is_none());
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_preference_orders_by_family_and_without_fallback_keeps_only_its_own() {
        let mixed = vec![
            addr("[::1]:80"),
            addr("10.0.0.1:80"),
            addr("[::2]:80"),
            addr("10.0.0.2:80"),
        ];
        let v4_first = FamilyPreference {
            preferred: Family::V4,
            fallback: true,
        };
        assert_eq!(
            v4_first.apply("h", mixed.clone()).unwrap(),
            [
                addr("10.0.0.1:80"),
                addr("10.0.0.2:80"),
                addr("[::1]:80"),
                addr("[::2]:80")
            ]
        );
        let v6_only = FamilyPreference {
            preferred: Family::V6,
            fallback: false,
        };
        assert_eq!(
            v6_only.apply("h", mixed).unwrap(),
            [addr("[::1]:80"), addr("[::2]:80")]
        );
        let failure = v6_only
            .apply("api.test", vec![addr("10.0.0.1:80")])
            .unwrap_err();
        assert_eq!(failure.class(), crate::failure::FailureClass::Dns);
        assert_eq!(
            failure.to_string(),
            "DNS lookup of api.test failed — it has no IPv6 address, only IPv4, and this probe \
             may not fall back to it"
        );
        let v4_only = FamilyPreference {
            preferred: Family::V4,
            fallback: false,
        };
        assert!(v4_only
            .apply("h", vec![])
            .unwrap_err()
            .to_string()
            .contains("no IPv4 address"));
    }

    /// Listeners on 127.0.0.1 and ::1 at one port, so that one `--resolve` rule can name
    /// both; `None` (said loudly) where the machine has no IPv6 loopback.
    fn dual_stack() -> Option<(std::net::TcpListener, std::net::TcpListener)> {
        for _ in 0..20 {
            let v6 = match std::net::TcpListener::bind("[::1]:0") {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("SKIPPED: no IPv6 loopback on this machine ({e}): the dual-stack part of this test did not run");
                    return None;
                }
            };
            let port = v6.local_addr().unwrap().port();
            // The same port on IPv4 may be taken by someone else: try another.
            if let Ok(v4) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return Some((v4, v6));
            }
        }
        eprintln!("SKIPPED: no port was free on both 127.0.0.1 and ::1 in 20 tries");
        None
    }

    fn dual(port: u16, family: Option<FamilyPreference>) -> AddressOverrides {
        let mut overrides = AddressOverrides {
            resolve: vec![
                ResolveRule::parse(&format!("dual.test:{port}:[::1],127.0.0.1")).unwrap(),
            ],
            ..AddressOverrides::default()
        };
        overrides.set_family(family);
        overrides
    }

    #[tokio::test]
    async fn connect_goes_to_the_preferred_family_and_falls_back_only_when_allowed() {
        let Some((v4, v6)) = dual_stack() else {
            return;
        };
        let port = v4.local_addr().unwrap().port();
        let budget = || Deadline::after(Duration::from_secs(2));
        let family_of = |overrides: AddressOverrides| async move {
            let mut timings = PhaseTimings::default();
            overrides
                .connect("dual.test", port, &budget(), &mut timings)
                .await
                .map(|(_, remote)| Family::of(remote.ip()))
        };
        // Without a preference, the rule's order: ::1 first.
        assert_eq!(family_of(dual(port, None)).await, Ok(Family::V6));
        for preferred in [Family::V4, Family::V6] {
            for fallback in [true, false] {
                let preference = FamilyPreference {
                    preferred,
                    fallback,
                };
                assert_eq!(
                    family_of(dual(port, Some(preference))).await,
                    Ok(preferred),
                    "{preference:?}"
                );
            }
        }
        // The preferred family refuses: with fallback the other answers; without, it is
        // never tried.
        drop(v6);
        let v6_first = |fallback| FamilyPreference {
            preferred: Family::V6,
            fallback,
        };
        assert_eq!(
            family_of(dual(port, Some(v6_first(true)))).await,
            Ok(Family::V4)
        );
        let refused = family_of(dual(port, Some(v6_first(false))))
            .await
            .unwrap_err();
        assert_eq!(
            refused.class(),
            crate::failure::FailureClass::Refused,
            "{refused}"
        );
        assert!(!refused.to_string().contains("127.0.0.1"), "{refused}");
        drop(v4);
    }

    /// The TCP and HTTP probes resolve through the overrides, so both honour the preference.
    #[tokio::test]
    async fn tcp_and_http_probes_honour_the_family_preference() {
        use crate::probe::{Configure, Probe, Prober};
        use crate::target::Target;
        use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

        // Healthy on 127.0.0.1 only; the rule names ::1 first.
        let server =
            ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::status(200))))
                .unwrap();
        let port = server.port();
        // Whether ::1 at that port is free (or absent): then a probe there must fail.
        let v6_free = std::net::TcpListener::bind(("::1", port)).is_ok()
            || std::net::TcpListener::bind("[::1]:0").is_err();
        for url in [
            format!("tcp://dual.test:{port}"),
            format!("http://dual.test:{port}/"),
        ] {
            let probe_with = |family| {
                let mut probe = Probe::new(Target::parse(&url).unwrap());
                probe.set_addresses(dual(port, family));
                probe
            };
            let budget = || Deadline::after(Duration::from_secs(2));
            let v4_only = probe_with(Some(FamilyPreference {
                preferred: Family::V4,
                fallback: false,
            }))
            .probe_once(&budget())
            .await;
            assert_eq!(v4_only.result, Ok(()), "{url}");
            assert_eq!(
                v4_only.remote.map(|r| Family::of(r.ip())),
                Some(Family::V4),
                "{url}"
            );
            let v6_only = probe_with(Some(FamilyPreference {
                preferred: Family::V6,
                fallback: false,
            }))
            .probe_once(&budget())
            .await;
            if v6_free {
                assert!(v6_only.result.is_err(), "{url}: nothing listens on ::1");
            }
            assert_ne!(
                v6_only.remote.map(|r| Family::of(r.ip())),
                Some(Family::V4),
                "{url}"
            );
            let v6_first = probe_with(Some(FamilyPreference {
                preferred: Family::V6,
                fallback: true,
            }))
            .probe_once(&budget())
            .await;
            assert_eq!(v6_first.result, Ok(()), "{url}: falls back to 127.0.0.1");
        }
    }
}
