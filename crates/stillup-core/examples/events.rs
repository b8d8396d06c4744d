//! Follow a run as it happens: every [`stillup_core::Event`], and the attempts' data at the end.
//!
//! Shows [`stillup_core::wait_with`], the full form: an observer that sees each attempt start and
//! end and each pause between attempts, and a cancel future (a program would pass its Ctrl-C
//! or shutdown signal; here, a timer that does not fire first). After the run, each kept
//! [`stillup_core::Attempt`] gives its class, status and phase timings, and
//! [`stillup_core::report::AttemptReport`] is the same attempt as the JSON report writes it.
//!
//! The service is a scripted server on 127.0.0.1: it refuses connections for 200 ms, then
//! leaves one request unanswered (a `response_timeout` at the 300 ms attempt timeout), then
//! answers 200.
//!
//! ```text
//! cargo run --example events
//! ```

use std::time::Duration;

use stillup_core::report::AttemptReport;
use stillup_core::{Backoff, Event, HttpProbe, HttpTarget, OutcomeKind, WaitPolicy};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(200), Behavior::Refuse)
            .then_requests(1, Behavior::Hang)
            .forever(Behavior::Respond(Reply::status(200))),
    )?;
    let probe = HttpProbe::new(HttpTarget::parse(&service.url("/health"))?);
    let policy = WaitPolicy {
        timeout: Duration::from_secs(10),
        attempt_timeout: Duration::from_millis(300),
        backoff: Backoff {
            interval: Duration::from_millis(100),
            ..Backoff::default()
        },
        ..WaitPolicy::default()
    };
    let shutdown = tokio::time::sleep(Duration::from_secs(20));

    let outcome = stillup_core::wait_with(
        &probe,
        &policy,
        |event| match event {
            Event::AttemptStarted { number, at } => {
                eprintln!("{:>6.3}s  attempt {number} starts", at.as_secs_f64())
            }
            Event::AttemptFinished(attempt) => eprintln!(
                "{:>6.3}s  attempt {} ends: {}",
                attempt.ended().as_secs_f64(),
                attempt.number(),
                match attempt.failure() {
                    Some(failure) => failure.class().as_str(),
                    None => "healthy",
                }
            ),
            Event::Sleeping { next_at } => {
                eprintln!("          next attempt at {:.3}s", next_at.as_secs_f64())
            }
            // The enum is non-exhaustive: later versions may report more.
            _ => {}
        },
        shutdown,
    )
    .await;

    if outcome.kind == OutcomeKind::Interrupted {
        return Err("shut down before the service was healthy".into());
    }
    for attempt in &outcome.attempts {
        let connect = attempt.timings().connect.map(|d| format!("{d:.1?}"));
        println!(
            "#{} status {:?}, connect {}, total {:.1?}",
            attempt.number(),
            attempt.status(),
            connect.as_deref().unwrap_or("-"),
            attempt.timings().total,
        );
    }
    if let Some(last) = outcome.attempts.last() {
        println!(
            "{}",
            serde_json::to_string_pretty(&AttemptReport::from(last))?
        );
    }
    println!("{}", outcome.timeline());
    Ok(())
}
