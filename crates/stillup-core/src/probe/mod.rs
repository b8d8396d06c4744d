//! Probes: one attempt against one target, returning what happened and how long each
//! phase took. One file per protocol; each phase reports its own failure class. The wait
//! loop only knows the [`Prober`] trait, so every kind of target shares its deadline rules.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::failure::Failure;
use crate::login::Login;
use crate::net::overrides::AddressOverrides;
use crate::redact::Secret;
use crate::target::Target;
use crate::timings::PhaseTimings;

pub mod grpc;
pub mod http;
pub mod pool;
pub mod postgres;
pub mod tcp;

pub use grpc::GrpcProbe;
pub use http::HttpProbe;
pub use pool::ConnectionPool;
pub use tcp::TcpProbe;

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
}

impl ProbeResult {
    pub(crate) fn failed(failure: Failure, timings: PhaseTimings) -> Self {
        ProbeResult {
            result: Err(failure),
            status: None,
            timings,
            remote: None,
            redirects: 0,
            retry_after: None,
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

/// A probe of any supported kind, built from a [`Target`]. Exhaustive, like [`Target`]: the
/// command line (another crate) matches on it and must see a new kind.
#[derive(Debug, Clone)]
// Probes are built once per target and never moved in hot loops; boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Probe {
    /// `http://`, `https://` and `http+unix://` targets.
    Http(HttpProbe),
    /// `tcp://` targets: healthy when a connection is accepted.
    Tcp(TcpProbe),
    /// `grpc://` and `grpcs://` targets: the standard `grpc.health.v1` check.
    Grpc(GrpcProbe),
}

impl Probe {
    /// The default probe for `target`: GET with `2xx` expected, a TCP connect, or the gRPC
    /// health check.
    pub fn new(target: Target) -> Self {
        match target {
            Target::Http(http) => Probe::Http(HttpProbe::new(http)),
            Target::Tcp(tcp) => Probe::Tcp(TcpProbe::new(tcp)),
            Target::Grpc(grpc) => Probe::Grpc(GrpcProbe::new(grpc)),
        }
    }

    /// The HTTP probe, for setting conditions and request options.
    pub fn as_http_mut(&mut self) -> Option<&mut HttpProbe> {
        match self {
            Probe::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The gRPC probe, for setting TLS and metadata.
    pub fn as_grpc_mut(&mut self) -> Option<&mut GrpcProbe> {
        match self {
            Probe::Grpc(grpc) => Some(grpc),
            _ => None,
        }
    }
}

impl From<HttpProbe> for Probe {
    fn from(probe: HttpProbe) -> Self {
        Probe::Http(probe)
    }
}

impl From<TcpProbe> for Probe {
    fn from(probe: TcpProbe) -> Self {
        Probe::Tcp(probe)
    }
}

impl From<GrpcProbe> for Probe {
    fn from(probe: GrpcProbe) -> Self {
        Probe::Grpc(probe)
    }
}

impl Prober for Probe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        match self {
            Probe::Http(http) => http.probe_once(budget).await,
            Probe::Tcp(tcp) => tcp.probe_once(budget).await,
            Probe::Grpc(grpc) => grpc.probe_once(budget).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Probe::Http(http) => http.describe(),
            Probe::Tcp(tcp) => tcp.describe(),
            Probe::Grpc(grpc) => grpc.describe(),
        }
    }

    fn reuses_connections(&self) -> bool {
        match self {
            Probe::Http(http) => http.reuses_connections(),
            Probe::Tcp(tcp) => tcp.reuses_connections(),
            Probe::Grpc(grpc) => grpc.reuses_connections(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Probe::Http(http) => http.kind(),
            Probe::Tcp(tcp) => tcp.kind(),
            Probe::Grpc(grpc) => grpc.kind(),
        }
    }
}

/// Aborts a connection task when the attempt ends, however it ends: the socket closes with it.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
