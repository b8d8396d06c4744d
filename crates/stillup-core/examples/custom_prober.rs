//! Teach stillup a protocol it does not speak: implement [`stillup_core::Prober`].
//!
//! A `Prober` makes one bounded attempt and says what it found; the engine does the rest
//! (deadline, backoff, events, outcome, timeline). This one checks a server that greets first,
//! as SMTP does: healthy when the greeting line starts with `220`. It classifies each failure
//! where it knows the cause, as the built-in probes do: the connect step says `refused` or
//! `connect_timeout`, the read step says `response_timeout` or `reset`, and a greeting that is
//! not `220` is `invalid_response`. Every step gets only what remains of the attempt's budget.
//!
//! The mail server is a scripted server on 127.0.0.1 that refuses connections for 300 ms,
//! then greets.
//!
//! ```text
//! cargo run --example custom_prober
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stillup_core::{Deadline, Failure, PhaseTimings, ProbeResult, Prober, WaitPolicy};
use stillup_testkit::{Behavior, Script, ScriptedServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Healthy when the server at `addr` greets with a line starting `220`.
#[derive(Debug, Clone)]
struct GreetingProbe {
    addr: SocketAddr,
}

/// A greeting longer than this is not one.
const MAX_GREETING: u64 = 512;

impl GreetingProbe {
    /// The attempt itself: `Ok` when healthy, else the failure, classified where it happened.
    async fn greet(&self, budget: &Deadline, timings: &mut PhaseTimings) -> Result<(), Failure> {
        let addr = self.addr.to_string();
        let started = Instant::now();
        let stream = match timeout(budget.remaining(), TcpStream::connect(self.addr)).await {
            Err(_) => {
                return Err(Failure::ConnectTimeout {
                    addr,
                    after: started.elapsed(),
                })
            }
            // The kind of the error says what happened; its text is only for people.
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(Failure::Refused { addr })
            }
            Ok(Err(e)) => {
                return Err(Failure::Connect {
                    addr,
                    detail: e.to_string(),
                })
            }
            Ok(Ok(stream)) => stream,
        };
        timings.connect = Some(started.elapsed());

        let greeted = Instant::now();
        let mut line = Vec::new();
        let mut reader = BufReader::new(stream).take(MAX_GREETING);
        let read = timeout(budget.remaining(), reader.read_until(b'\n', &mut line)).await;
        timings.first_byte = Some(greeted.elapsed());
        match read {
            Err(_) => Err(Failure::ResponseTimeout {
                after: greeted.elapsed(),
            }),
            Ok(Err(e)) => Err(Failure::Reset {
                detail: format!("while reading the greeting: {e}"),
            }),
            Ok(Ok(0)) => Err(Failure::Reset {
                detail: "closed by the server before greeting".into(),
            }),
            Ok(Ok(_)) if line.starts_with(b"220") => Ok(()),
            Ok(Ok(_)) => Err(Failure::InvalidResponse {
                detail: format!(
                    "greeted with {:?}, expected a 220 greeting",
                    String::from_utf8_lossy(&line).trim_end()
                ),
            }),
        }
    }
}

impl Prober for GreetingProbe {
    async fn probe_once(&self, budget: &Deadline) -> ProbeResult {
        let started = Instant::now();
        let mut timings = PhaseTimings::default();
        let result = self.greet(budget, &mut timings).await;
        timings.total = started.elapsed();
        ProbeResult {
            remote: result.is_ok().then_some(self.addr),
            result,
            status: None,
            timings,
            redirects: 0,
            retry_after: None,
            details: Default::default(),
        }
    }

    fn describe(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mail = ScriptedServer::spawn(
        Script::new()
            .then_for(Duration::from_millis(300), Behavior::Refuse)
            .forever(Behavior::Banner(b"220 mail.test ESMTP ready\r\n".to_vec())),
    )?;
    let probe = GreetingProbe { addr: mail.addr() };
    let policy = WaitPolicy {
        timeout: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(1),
        ..WaitPolicy::default()
    };

    let outcome = stillup_core::wait(&probe, &policy).await;
    println!("{}: {}", probe.describe(), outcome.timeline());
    match outcome.last_failure() {
        Some(failure) if !outcome.is_healthy() => Err(failure.clone().into()),
        _ => Ok(()),
    }
}
