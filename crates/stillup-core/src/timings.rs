//! Per-phase timings of one attempt: where the time went.
//!
//! Each phase is measured on its own (a phase that did not happen is `None`), so a slow
//! resolver, a slow handshake and a slow application are told apart. Across redirects the
//! phases add up; `total` is the whole attempt.

use std::time::Duration;

/// How long each phase of an attempt took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimings {
    /// Name resolution (absent for IP literals).
    pub dns: Option<Duration>,
    /// TCP connect, all addresses tried.
    pub connect: Option<Duration>,
    /// TLS handshake (https only).
    pub tls: Option<Duration>,
    /// Request sent until the response headers arrived: the server's think time.
    pub first_byte: Option<Duration>,
    /// Response headers until the end of the body.
    pub body: Option<Duration>,
    /// The whole attempt.
    pub total: Duration,
}

impl PhaseTimings {
    /// Add one more hop's phase to the running sum (redirects make several hops).
    pub(crate) fn add(slot: &mut Option<Duration>, d: Duration) {
        *slot = Some(slot.unwrap_or_default() + d);
    }
}
