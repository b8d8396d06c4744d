//! Network plumbing shared by probes: name resolution and TCP connect under a budget, and
//! the TLS client configuration and what it trusts. Each step classifies its own failures.

pub mod cause;
pub mod connect;
pub mod dns;
pub mod overrides;
pub mod proxy;
pub mod sniff;
pub mod tls;
pub mod trust;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `ip` with all but its first `prefix` bits cleared: the network of a CIDR range, with which
/// `NO_PROXY` and the exporter's `--allow-target` both match addresses. `None` when the
/// prefix is longer than the address.
pub fn mask(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) if prefix <= 32 => {
            let bits = u32::from(v4);
            let kept = bits.checked_shr(32 - u32::from(prefix)).unwrap_or(0);
            let kept = kept.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V4(Ipv4Addr::from(kept)))
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let bits = u128::from(v6);
            let kept = bits.checked_shr(128 - u32::from(prefix)).unwrap_or(0);
            let kept = kept.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V6(Ipv6Addr::from(kept)))
        }
        _ => None,
    }
}
