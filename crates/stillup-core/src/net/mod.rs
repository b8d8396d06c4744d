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
