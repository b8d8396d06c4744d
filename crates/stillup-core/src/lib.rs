//! # stillup — is my service up yet, and if not, why not?
//!
//! Wait until a service you just deployed is healthy, and know why each attempt was not:
//!
//! ```
//! use std::time::Duration;
//! use stillup_core::condition::JsonCondition;
//! use stillup_core::{Event, HttpProbe, HttpTarget, WaitPolicy};
//! # use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A stand-in for the service you just deployed: 503 twice, then healthy.
//! # let api = ScriptedServer::spawn(
//! #     Script::new()
//! #         .then_requests(2, Behavior::Respond(Reply::status(503)))
//! #         .forever(Behavior::Respond(Reply::json(200, r#"{"status":"healthy"}"#))),
//! # )?;
//! let url = api.url("/health");
//!
//! let mut probe = HttpProbe::new(HttpTarget::parse(&url)?);
//! probe.conditions.json.push(JsonCondition::parse(r#"$.status == "healthy""#)?);
//! let policy = WaitPolicy {
//!     timeout: Duration::from_secs(30),
//!     attempt_timeout: Duration::from_secs(2),
//!     ..WaitPolicy::default()
//! };
//! # let policy = WaitPolicy { backoff: stillup_core::Backoff { interval: Duration::from_millis(50), ..Default::default() }, ..policy };
//!
//! let outcome = stillup_core::blocking::wait_with(&probe, &policy, |event| {
//!     if let Event::AttemptFinished(attempt) = event {
//!         if let Some(failure) = attempt.failure() {
//!             eprintln!("attempt {}: {failure} [{}]", attempt.number(), failure.class());
//!         }
//!     }
//! })?;
//!
//! if !outcome.is_healthy() {
//!     return Err(format!("API not healthy: {}", outcome.timeline()).into());
//! }
//! assert_eq!(outcome.attempts.len(), 3);
//! println!("rollout can proceed: {}", outcome.timeline());
//! # Ok(())
//! # }
//! ```
//!
//! The engine behind the `stillup` command line, for deploy programs written in Rust. It
//! polls a target (HTTP(S), HTTP over a Unix socket, TCP, or the standard gRPC health check)
//! until it is healthy or an overall deadline passes, gives every failed attempt a class
//! (`refused`, `dns`, `tls_verify`, `response_timeout`, `http_status`, `condition_failed`,
//! `grpc_not_serving`, …) decided where the failure happened, and records per-phase timings
//! and a timeline of the run. The library never prints.
//!
//! ## Where to start
//!
//! - [`wait`](fn@wait), [`wait_observed`] (with an event observer) and [`wait_with`] (with a cancel
//!   future too) wait for one target from async code; [`blocking`] has the same without a
//!   runtime.
//! - [`wait_group`] waits for several targets under one deadline (all, any, or k of n).
//! - [`watch::watch`] samples targets at a fixed cadence and measures downtime.
//! - [`Target::parse`] reads a target as a user writes it; [`Probe::new`] gives its default
//!   probe, whose fields ([`HttpProbe::conditions`], headers, TLS, …) say what "healthy"
//!   means. Implement [`Prober`] to probe a protocol stillup does not speak.
//! - A failed attempt is a [`Failure`] (a `std::error::Error`, with a readable `Display`);
//!   its [`FailureClass`] is the stable machine name. [`report`] holds the JSON document.
//!
//! The crate's `examples/` directory has runnable programs for each: `wait_async`,
//! `wait_blocking`, `group`, `custom_prober` and `events`. This crate carries none of the
//! command line's dependencies (no clap, no terminal crates, no scripted servers).

#![warn(missing_docs)]

pub mod attempt;
pub mod backoff;
pub mod condition;
pub mod deadline;
pub mod event;
pub mod failfast;
pub mod failure;
pub mod group;
mod history;
pub mod login;
pub mod net;
pub mod probe;
pub mod redact;
pub mod report;
pub mod sanitize;
pub mod target;
pub mod timeline;
pub mod timings;
pub mod wait;
pub mod wallclock;
pub mod watch;

pub use attempt::{Attempt, Outcome, OutcomeKind};
pub use backoff::{Backoff, BackoffKind};
pub use condition::Conditions;
pub use deadline::Deadline;
pub use event::Event;
pub use failfast::FailFast;
pub use failure::{CertProblem, Failure, FailureClass, NotReadyReason};
pub use group::{wait_group, wait_group_owned, GroupOutcome, Require, TargetOutcome};
pub use probe::{GrpcProbe, HttpProbe, Probe, ProbeResult, Prober, TcpProbe};
pub use target::{GrpcTarget, HttpTarget, Target, TargetError, TcpTarget};
pub use timeline::Timeline;
pub use timings::PhaseTimings;
pub use wait::{wait, wait_observed, wait_with, Until, WaitPolicy};

/// The same engine for callers without an async runtime: each call runs on a small
/// private runtime. Do not call these from inside an async context (they would block its
/// thread); await [`wait_observed`] or [`wait_with`] there.
pub mod blocking {
    use crate::attempt::Outcome;
    use crate::event::Event;
    use crate::probe::Prober;
    use crate::wait::WaitPolicy;

    /// Wait until healthy or the deadline, reporting every event to `observer`.
    pub fn wait_with<P, F>(probe: &P, policy: &WaitPolicy, observer: F) -> std::io::Result<Outcome>
    where
        P: Prober + ?Sized,
        F: FnMut(&Event<'_>),
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let outcome = runtime.block_on(crate::wait::wait_with(
            probe,
            policy,
            observer,
            std::future::pending(),
        ));
        // A resolver thread stuck in getaddrinfo must not hold the caller past the deadline.
        runtime.shutdown_background();
        Ok(outcome)
    }

    /// Wait until healthy or the deadline.
    pub fn wait<P: Prober + ?Sized>(probe: &P, policy: &WaitPolicy) -> std::io::Result<Outcome> {
        wait_with(probe, policy, |_| {})
    }
}
