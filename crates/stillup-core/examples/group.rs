//! Wait for several services at once, under one deadline.
//!
//! Shows [`stillup_core::wait_group`]: probes of different kinds in one [`stillup_core::Probe`] slice,
//! [`stillup_core::Require`] (all of them here; `Any` or `AtLeast(k)` for replicas), events tagged
//! with the index of their target, and each target's part of the [`stillup_core::GroupOutcome`].
//! The services are on 127.0.0.1: an API that is healthy after two 503s, a worker whose
//! health endpoint takes a moment to start listening, and a TCP port that accepts at once.
//!
//! ```text
//! cargo run --example group
//! ```

use std::time::Duration;

use stillup_core::{Backoff, Event, Probe, Require, Target, WaitPolicy};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .forever(Behavior::Respond(Reply::status(200))),
    )?;
    let worker = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(400), Behavior::Refuse)
            .forever(Behavior::Respond(Reply::status(204))),
    )?;
    let cache =
        ScriptedServer::spawn(Script::new().forever(Behavior::Respond(Reply::status(200))))?;

    let targets = [
        api.url("/health"),
        worker.url("/ready"),
        format!("tcp://127.0.0.1:{}", cache.port()),
    ];
    let probes = targets
        .iter()
        .map(|t| Target::parse(t).map(Probe::new))
        .collect::<Result<Vec<_>, _>>()?;

    let policy = WaitPolicy {
        timeout: Duration::from_secs(30),
        backoff: Backoff {
            interval: Duration::from_millis(100),
            ..Backoff::default()
        },
        ..WaitPolicy::default()
    };

    let group = stillup_core::wait_group(
        &probes,
        &policy,
        Require::All,
        |index, event| {
            if let Event::AttemptFinished(attempt) = event {
                if let Some(failure) = attempt.failure() {
                    eprintln!("{}: {failure}", targets[index]);
                }
            }
        },
        // Never cancelled; a CLI would pass its Ctrl-C future here.
        std::future::pending(),
    )
    .await;

    for target in &group.targets {
        println!(
            "{:<40} {:<8} {} attempt(s), {}",
            target.target,
            target.outcome.kind.as_str(),
            target.outcome.attempt_count(),
            target.outcome.timeline(),
        );
    }
    if group.is_success() {
        Ok(())
    } else {
        Err(format!("not every target is healthy: {}", group.kind.as_str()).into())
    }
}
