//! The [`Prober`] trait every kind of target implements, what one attempt returns, and the
//! [`Configure`] trait through which the command line hands each probe its options.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::login::Login;
use crate::net::overrides::AddressOverrides;
use crate::redact::Secret;
use crate::timings::PhaseTimings;

/// What one attempt found, healthy or not.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// `Ok` when the target was healthy, else why not.
    pub result: Result<(), Failure>,
    /// Status of the last response, when one arrived.
    pub status: Option<u16>,
    /// How long each phase took; `None` for phases not reached or not part of the protocol.
    pub timings: PhaseTimings,
    /// The address that answered (the last hop's, after redirects).
    pub remote: Option<SocketAddr>,
    /// Redirects followed.
    pub redirects: usize,
    /// What a 429 or 503 response asked for in `Retry-After`.
    pub retry_after: Option<Duration>,
    /// What monitoring reads beyond the verdict (HTTP version, TLS); only kept while the
    /// result is looked at, not in the run's history.
    pub details: ProbeDetails,
}

/// What an attempt learnt of the target besides its verdict and timings: what a monitoring
/// system charts (blackbox_exporter's `probe_http_version`, `probe_ssl_earliest_cert_expiry`…).
/// Fields a protocol does not have, or an attempt did not reach, are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeDetails {
    /// The HTTP version of the last response: `1.0`, `1.1` or `2`.
    pub http_version: Option<&'static str>,
    /// The last response's `Content-Length`, when it had one.
    pub content_length: Option<u64>,
    /// The TLS session of the last connection, when one was made.
    pub tls: Option<TlsDetails>,
}

/// A TLS session, as far as monitoring needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// `TLS 1.2` or `TLS 1.3`.
    pub version: &'static str,
    /// The earliest `notAfter` of the certificates the server presented, in seconds since
    /// the UNIX epoch (what expires first).
    pub earliest_expiry: Option<u64>,
}

impl ProbeResult {
    /// The result of an exchange that is healthy or not as a whole (a database's or broker's
    /// readiness check) that began at `started`: its total time set, and a healthy answer held
    /// to `--max-latency` (`max_latency`), the answer named by `what` in the failure.
    pub(crate) fn of_exchange(
        started: Instant,
        mut result: Result<(), Failure>,
        mut timings: PhaseTimings,
        remote: Option<SocketAddr>,
        max_latency: Option<Duration>,
        what: &str,
    ) -> Self {
        timings.total = started.elapsed();
        if let (Ok(()), Some(limit)) = (&result, max_latency) {
            result = Failure::too_slow(what, timings.total, limit);
        }
        ProbeResult {
            result,
            status: None,
            timings,
            remote,
            redirects: 0,
            retry_after: None,
            details: ProbeDetails::default(),
        }
    }

    pub(crate) fn failed(failure: Failure, timings: PhaseTimings) -> Self {
        ProbeResult {
            result: Err(failure),
            status: None,
            timings,
            remote: None,
            redirects: 0,
            retry_after: None,
            details: ProbeDetails::default(),
        }
    }
}

/// Something that can make one bounded attempt against a target.
pub trait Prober {
    /// Make one attempt; every phase must end within `budget`.
    fn probe_once(&self, budget: &Deadline) -> impl Future<Output = ProbeResult> + Send;

    /// The target, safe to print (no credentials).
    fn describe(&self) -> String;

    /// The kind of target as a stable word (`http`, `tcp`, `grpc`).
    fn kind(&self) -> &'static str;

    /// Whether attempts reuse connections (`--keep-alive`) rather than open their own.
    fn reuses_connections(&self) -> bool {
        false
    }
}

/// What every kind of probe takes from the command line or a config file besides its target.
/// The command line refuses an option a kind has no use for before any probe is built, so the
/// defaults below (ignore it) are never reached with a value the user gave.
pub trait Configure {
    /// `--resolve` / `--connect-to`: where to connect instead of where DNS points.
    fn set_addresses(&mut self, addresses: AddressOverrides);
    /// `--max-latency`: the slowest acceptable answer.
    fn set_max_latency(&mut self, limit: Option<Duration>);
    /// Trust and client certificate (`--cacert`, `--insecure`, `--cert/--key`), for kinds that
    /// speak TLS.
    fn set_tls(&mut self, _config: &Arc<rustls::ClientConfig>) {}
    /// `--user USER:SECRET`: replaces the credentials of the target's URL.
    fn set_login(&mut self, _login: Login) {}
    /// `--bearer TOKEN`, for kinds that log in with a token.
    fn set_token(&mut self, _token: Secret) {}
}

/// Aborts a connection task when the attempt ends, however it ends: the socket closes with it.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
