//! `tcp://host:port`: healthy when a TCP connection is accepted (databases, brokers, any
//! port whose protocol stillup does not speak). Resolve and connect share the attempt's
//! budget and classify their own failures.

use std::fmt;
use std::time::{Duration, Instant};

use url::Url;

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::net::connect;
use crate::net::overrides::AddressOverrides;
use crate::probe::{Configure, ProbeResult, Prober};
use crate::target::{authority, redact_input, TargetError};
use crate::timings::PhaseTimings;

/// The URL scheme of TCP targets.
pub const SCHEMES: &[&str] = &["tcp"];

/// A host and port to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    host: String,
    port: u16,
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

    /// The port to connect to (always given: these schemes have no default).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Never: a TCP target only connects.
    pub fn uses_tls(&self) -> bool {
        false
    }
}

impl fmt::Display for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp://{}", authority(&self.host, self.port))
    }
}

/// Probe one TCP address.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    /// The host and port to connect to.
    pub target: TcpTarget,
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points.
    pub addresses: AddressOverrides,
    /// `--max-latency`: the longest a connection may take to be accepted (resolving
    /// included), as a response may for HTTP.
    pub max_latency: Option<Duration>,
}

impl TcpProbe {
    /// A probe of `target` with no overrides and no latency limit.
    pub fn new(target: TcpTarget) -> Self {
        TcpProbe {
            target,
            addresses: AddressOverrides::default(),
            max_latency: None,
        }
    }
}

impl Prober for TcpProbe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let mut timings = PhaseTimings::default();
        let resolved = (self.addresses)
            .resolve(self.target.host(), self.target.port(), budget)
            .await;
        let addrs = match resolved {
            Ok((addrs, dns)) => {
                timings.dns = dns;
                addrs
            }
            Err(failure) => {
                timings.total = started.elapsed();
                return ProbeResult::failed(failure, timings);
            }
        };
        let connect_started = Instant::now();
        let connected = connect::connect(&addrs, budget).await;
        timings.connect = Some(connect_started.elapsed());
        timings.total = started.elapsed();
        match connected {
            Ok((_stream, remote)) => ProbeResult {
                result: match self.max_latency {
                    Some(limit) => Failure::too_slow("connection", timings.total, limit),
                    None => Ok(()),
                },
                status: None,
                timings,
                remote: Some(remote),
                redirects: 0,
                retry_after: None,
                details: Default::default(),
            },
            Err(failure) => ProbeResult::failed(failure, timings),
        }
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn kind(&self) -> &'static str {
        "tcp"
    }
}

impl Configure for TcpProbe {
    fn set_addresses(&mut self, addresses: AddressOverrides) {
        self.addresses = addresses;
    }

    fn set_max_latency(&mut self, limit: Option<Duration>) {
        self.max_latency = limit;
    }
}
