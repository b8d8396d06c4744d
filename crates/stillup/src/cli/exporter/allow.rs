//! `--allow-target`: which hosts `/probe` may reach. An exporter that probes whatever a
//! request names is an SSRF tool for anyone who can reach it; these patterns bound it.
//!
//! A name pattern is checked against the target's host as written. An address pattern is
//! checked against the addresses the connection would go to: a name matched by no name
//! pattern is resolved here, every address it has must be allowed, and the probe is then
//! pinned to exactly those addresses, so a second lookup cannot answer otherwise (DNS
//! rebinding).

use std::fmt;
use std::net::IpAddr;

use stillup_core::net::mask;

/// One `--allow-target` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `api.internal`: that name (any case).
    Name(String),
    /// `*.internal`: any name ending in `.internal`.
    Suffix(String),
    /// `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128).
    Network { base: IpAddr, prefix: u8 },
}

impl Pattern {
    /// Parse one pattern; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Pattern, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("empty; give a host name, *.suffix, an address or a CIDR range".into());
        }
        if let Some((address, prefix)) = raw.split_once('/') {
            let base: IpAddr = address
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| format!("{address:?} is not an IP address"))?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?;
            return Ok(Pattern::Network { base, prefix });
        }
        if let Ok(base) = raw.trim_matches(['[', ']']).parse::<IpAddr>() {
            let prefix = if base.is_ipv4() { 32 } else { 128 };
            return Ok(Pattern::Network { base, prefix });
        }
        let valid_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        if let Some(suffix) = raw.strip_prefix("*.") {
            if !valid_name(suffix) {
                return Err("a suffix pattern is *. and a domain, e.g. *.internal".into());
            }
            return Ok(Pattern::Suffix(suffix.to_ascii_lowercase()));
        }
        if !valid_name(raw) {
            return Err("not a host name, *.suffix, address or CIDR range".into());
        }
        Ok(Pattern::Name(raw.to_ascii_lowercase()))
    }

    fn matches_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Pattern::Name(name) => host == *name,
            Pattern::Suffix(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.')),
            Pattern::Network { .. } => false,
        }
    }

    fn matches_address(&self, address: IpAddr) -> bool {
        let Pattern::Network { base, prefix } = self else {
            return false;
        };
        // An IPv4-mapped IPv6 address is the IPv4 address it maps.
        // Masks of different families never compare equal.
        let address = address.to_canonical();
        mask(address, *prefix).is_some_and(|network| Some(network) == mask(*base, *prefix))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Name(name) => f.write_str(name),
            Pattern::Suffix(suffix) => write!(f, "*.{suffix}"),
            Pattern::Network { base, prefix } => write!(f, "{base}/{prefix}"),
        }
    }
}

/// The patterns of `--allow-target`; empty allows everything.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

/// What the list says of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Allowed if every address it resolves to is: resolve it, then [`AllowList::allows_address`].
    ResolveFirst,
    Refused,
}

impl AllowList {
    pub fn new(patterns: Vec<Pattern>) -> AllowList {
        AllowList { patterns }
    }

    /// Whether the list restricts anything.
    pub fn is_open(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The verdict on a target's host as written: an address is judged now; a name is
    /// allowed by a name pattern, or else resolved and judged by its addresses when there are
    /// address patterns.
    pub fn judge_host(&self, host: &str) -> Verdict {
        if self.is_open() {
            return Verdict::Allowed;
        }
        if let Ok(address) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return match self.allows_address(address) {
                true => Verdict::Allowed,
                false => Verdict::Refused,
            };
        }
        if self.patterns.iter().any(|p| p.matches_name(host)) {
            return Verdict::Allowed;
        }
        let has_networks = self
            .patterns
            .iter()
            .any(|p| matches!(p, Pattern::Network { .. }));
        if has_networks {
            Verdict::ResolveFirst
        } else {
            Verdict::Refused
        }
    }

    pub fn allows_address(&self, address: IpAddr) -> bool {
        self.patterns.iter().any(|p| p.matches_address(address))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let written: Vec<String> = self.patterns.iter().map(ToString::to_string).collect();
        f.write_str(&written.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> AllowList {
        AllowList::new(
            patterns
                .iter()
                .map(|p| Pattern::parse(p).unwrap())
                .collect(),
        )
    }

    #[test]
    fn names_and_suffixes_match_whole_labels() {
        let allow = list(&["api.internal", "*.svc.cluster.local"]);
        assert_eq!(allow.judge_host("API.internal"), Verdict::Allowed);
        assert_eq!(
            allow.judge_host("db.ns.svc.cluster.local"),
            Verdict::Allowed
        );
        // Not a label boundary: evilsvc.cluster.local is another domain.
        assert_eq!(allow.judge_host("evilsvc.cluster.local"), Verdict::Refused);
        assert_eq!(allow.judge_host("svc.cluster.local"), Verdict::Refused);
        assert_eq!(allow.judge_host("api.internal.evil.com"), Verdict::Refused);
        // A name pattern never lets an address through.
        assert_eq!(allow.judge_host("10.0.0.1"), Verdict::Refused);
    }

    #[test]
    fn networks_hold_addresses_and_send_names_to_resolution() {
        let allow = list(&["10.0.0.0/8", "fd00::/8", "127.0.0.1"]);
        assert_eq!(allow.judge_host("10.200.3.4"), Verdict::Allowed);
        assert_eq!(allow.judge_host("11.0.0.1"), Verdict::Refused);
        assert_eq!(allow.judge_host("[fd12::1]"), Verdict::Allowed);
        assert_eq!(allow.judge_host("127.0.0.1"), Verdict::Allowed);
        assert_eq!(allow.judge_host("127.0.0.2"), Verdict::Refused);
        assert_eq!(allow.judge_host("api.internal"), Verdict::ResolveFirst);
        // The IPv4-mapped form of an allowed address is that address; of another, not.
        assert!(allow.allows_address("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!allow.allows_address("::ffff:169.254.169.254".parse().unwrap()));
        assert!(list(&["0.0.0.0/0"]).allows_address("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn an_empty_list_allows_everything() {
        assert_eq!(
            AllowList::default().judge_host("anything"),
            Verdict::Allowed
        );
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(Pattern::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(Pattern::parse("10.0.0/8")
            .unwrap_err()
            .contains("not an IP"));
        assert!(Pattern::parse("*.").is_err());
        assert!(Pattern::parse("a b").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
