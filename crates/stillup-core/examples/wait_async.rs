//! Wait for one HTTP service from async code: the common case of a deploy program.
//!
//! Shows [`stillup_core::wait_observed`]: a probe with a JSON condition, a policy with an overall
//! deadline, each failed attempt reported as it happens with its class, and the outcome's
//! timeline at the end. The "service" is a scripted server on 127.0.0.1 that answers 503
//! twice, then `{"status":"starting"}`, then `{"status":"healthy"}`.
//!
//! ```text
//! cargo run --example wait_async
//! ```

use std::time::Duration;

use stillup_core::condition::JsonCondition;
use stillup_core::{Backoff, Event, HttpProbe, HttpTarget, WaitPolicy};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stands in for the service you just deployed.
    let service = ScriptedServer::spawn(
        Script::new()
            .then_requests(2, Behavior::Respond(Reply::status(503)))
            .then_requests(
                1,
                Behavior::Respond(Reply::json(200, r#"{"status":"starting"}"#)),
            )
            .forever(Behavior::Respond(Reply::json(
                200,
                r#"{"status":"healthy"}"#,
            ))),
    )?;

    // Healthy means: a 2xx status (the default) and this JSON condition.
    let mut probe = HttpProbe::new(HttpTarget::parse(&service.url("/health"))?);
    probe
        .conditions
        .json
        .push(JsonCondition::parse(r#"$.status == "healthy""#)?);

    let policy = WaitPolicy {
        // One deadline for the whole run; each attempt gets at most 2 s of it.
        timeout: Duration::from_secs(30),
        attempt_timeout: Duration::from_secs(2),
        backoff: Backoff {
            interval: Duration::from_millis(100),
            ..Backoff::default()
        },
        ..WaitPolicy::default()
    };

    let outcome = stillup_core::wait_observed(&probe, &policy, |event| {
        if let Event::AttemptFinished(attempt) = event {
            match attempt.failure() {
                Some(failure) => eprintln!(
                    "attempt {}: {failure} [{}]",
                    attempt.number(),
                    failure.class()
                ),
                None => eprintln!("attempt {}: healthy", attempt.number()),
            }
        }
    })
    .await;

    println!("{}", outcome.timeline());
    if !outcome.is_healthy() {
        // A Failure is a std::error::Error: return it as one.
        return Err(match outcome.last_failure() {
            Some(failure) => failure.clone().into(),
            None => format!("not healthy: {}", outcome.kind.as_str()).into(),
        });
    }
    Ok(())
}
