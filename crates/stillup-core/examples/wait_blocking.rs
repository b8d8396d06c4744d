//! Wait for a TCP port from code without an async runtime.
//!
//! Shows [`stillup_core::blocking::wait`] with a target parsed from a string (as a user would write
//! it in a config file) and [`stillup_core::Probe::new`], which picks the probe for its kind. The
//! "database" is a port on 127.0.0.1 that refuses connections for half a second, then
//! accepts them: the outcome tells how many attempts were refused before it did.
//!
//! ```text
//! cargo run --example wait_blocking
//! ```

use std::time::Duration;

use stillup_core::{FailureClass, Probe, Prober, Target, WaitPolicy};
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Nothing listens for 500 ms, then a server accepts connections.
    let database = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(500), Behavior::Refuse)
            .forever(Behavior::Respond(Reply::status(200))),
    )?;

    let target = Target::parse(&format!("tcp://127.0.0.1:{}", database.port()))?;
    let probe = Probe::new(target);
    let policy = WaitPolicy {
        timeout: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(1),
        ..WaitPolicy::default()
    };

    // Runs on a small private runtime: do not call this from async code.
    let outcome = stillup_core::blocking::wait(&probe, &policy)?;

    let refused = outcome
        .attempts
        .iter()
        .filter(|a| a.failure().map(|f| f.class()) == Some(FailureClass::Refused))
        .count();
    println!(
        "{}: {} after {:.1}s ({refused} attempts refused)",
        probe.describe(),
        outcome.kind.as_str(),
        outcome.elapsed.as_secs_f64(),
    );
    if outcome.is_healthy() {
        Ok(())
    } else {
        Err(outcome.timeline().to_string().into())
    }
}
