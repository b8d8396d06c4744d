//! A scripted HTTP server on 127.0.0.1 for `bench/run.sh`: one misbehaviour per process, built on
//! [`stillup_testkit::ScriptedServer`]. It owns only the command line and a tiny control
//! protocol on stdin/stdout; measuring the client is left to the benchmark harness.
//!
//! ```text
//! bench_server healthy                   200 "ok" to every request
//! bench_server hang                      read the request, never answer
//! bench_server trickle [EVERY_MS] [LEN]  head at once, then the body one byte every EVERY_MS
//!                                        (default 1000 ms, 3600 bytes: an hour at the default)
//! bench_server 503-then-200 SECS         503 for SECS seconds (fractions allowed), then 200
//! bench_server refused-then-200 SECS     the port refuses connections for SECS seconds, then 200
//! bench_server refused-then-503-then-200 SECS SECS
//!                                        refuses for the first SECS, 503 for the second, then 200
//! ```
//!
//! Protocol: once listening it prints `READY <port>` on stdout; the script's clock (and so the
//! 503 phase) started just before that line. Each `stats` line read on stdin is answered with one
//! line `STATS requests=N connections=N unhealthy_requests=N`, where `unhealthy_requests` counts
//! the request heads read before the server turned healthy (in `503-then-200` and the `refused-…`
//! modes: sampled when the server turns healthy — no request arrives while the port refuses, so
//! this counts the 503 answers; in other modes equal to `requests` for `hang`/`trickle`, 0 for `healthy`).
//! It runs until stdin closes or it is killed.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

const USAGE: &str =
    "usage: bench_server healthy | hang | trickle [EVERY_MS] [LEN] | 503-then-200 SECS \
     | refused-then-200 SECS | refused-then-503-then-200 SECS SECS";

/// What the server does, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Healthy,
    Hang,
    Trickle {
        every: Duration,
        len: usize,
    },
    UnavailableThenHealthy {
        unhealthy_for: Duration,
    },
    /// The port refuses for `refused_for`, then answers 503 for `unavailable_for` (may be zero),
    /// then 200.
    RefusedThenHealthy {
        refused_for: Duration,
        unavailable_for: Duration,
    },
}

impl Mode {
    fn parse(args: &[String]) -> Result<Mode, String> {
        let arg = |i: usize| args.get(i).map(String::as_str);
        let mode = match (arg(0), args.len()) {
            (Some("healthy"), 1) => Mode::Healthy,
            (Some("hang"), 1) => Mode::Hang,
            (Some("trickle"), 1..=3) => {
                let every_ms: u64 = parse_number(arg(1).unwrap_or("1000"), "EVERY_MS")?;
                if every_ms == 0 {
                    return Err("EVERY_MS must be at least 1".into());
                }
                Mode::Trickle {
                    every: Duration::from_millis(every_ms),
                    len: parse_number(arg(2).unwrap_or("3600"), "LEN")?,
                }
            }
            (Some("503-then-200"), 2) => Mode::UnavailableThenHealthy {
                unhealthy_for: parse_secs(arg(1).unwrap_or_default())?,
            },
            (Some("refused-then-200"), 2) => Mode::RefusedThenHealthy {
                refused_for: parse_secs(arg(1).unwrap_or_default())?,
                unavailable_for: Duration::ZERO,
            },
            (Some("refused-then-503-then-200"), 3) => Mode::RefusedThenHealthy {
                refused_for: parse_secs(arg(1).unwrap_or_default())?,
                unavailable_for: parse_secs(arg(2).unwrap_or_default())?,
            },
            _ => return Err(format!("unexpected arguments {args:?}")),
        };
        Ok(mode)
    }

    fn script(self) -> Script {
        match self {
            Mode::Healthy => Script::new().forever(Behavior::Respond(Reply::text(200, "ok\n"))),
            Mode::Hang => Script::new().forever(Behavior::Hang),
            Mode::Trickle { every, len } => Script::new().forever(Behavior::TrickleBody {
                reply: Reply::text(200, &"x".repeat(len)),
                every,
            }),
            Mode::UnavailableThenHealthy { unhealthy_for } => Script::new()
                .then_for(
                    unhealthy_for,
                    Behavior::Respond(Reply::text(503, "starting\n")),
                )
                .forever(Behavior::Respond(Reply::text(200, "ok\n"))),
            Mode::RefusedThenHealthy {
                refused_for,
                unavailable_for,
            } => Script::new()
                .then_for(refused_for, Behavior::Refuse)
                .then_for(
                    unavailable_for,
                    Behavior::Respond(Reply::text(503, "starting\n")),
                )
                .forever(Behavior::Respond(Reply::text(200, "ok\n"))),
        }
    }

    /// When the server turns healthy, from the start of its script, in the modes that do.
    fn healthy_after(self) -> Option<Duration> {
        match self {
            Mode::UnavailableThenHealthy { unhealthy_for } => Some(unhealthy_for),
            Mode::RefusedThenHealthy {
                refused_for,
                unavailable_for,
            } => Some(refused_for + unavailable_for),
            Mode::Healthy | Mode::Hang | Mode::Trickle { .. } => None,
        }
    }
}

fn parse_secs(value: &str) -> Result<Duration, String> {
    let secs: f64 = parse_number(value, "SECS")?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("SECS must be a non-negative number, got {secs}"))
}

fn parse_number<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid {name}: {value:?}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match Mode::parse(&args) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("bench_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_server: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(mode: Mode) -> io::Result<()> {
    let server = ScriptedServer::spawn(mode.script())?;
    let listening = Instant::now();
    let mut out = io::stdout().lock();
    writeln!(out, "READY {}", server.port())?;
    out.flush()?;

    // stdin is read on its own thread so the main one can wake at the end of the 503 phase.
    let (lines_tx, lines_rx) = mpsc::channel::<io::Result<String>>();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let failed = line.is_err();
                if lines_tx.send(line).is_err() || failed {
                    break;
                }
            }
            // Dropping the sender tells the main thread that stdin closed.
        })?;

    let mut healthy_at = mode.healthy_after().map(|after| listening + after);
    let mut unhealthy_requests = match mode {
        Mode::Healthy => Some(0),
        _ => None,
    };
    loop {
        let line = match healthy_at {
            Some(at) => lines_rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => lines_rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match line {
            Ok(Ok(line)) if line.trim() == "stats" => {
                let requests = server.requests();
                writeln!(
                    out,
                    "STATS requests={requests} connections={} unhealthy_requests={}",
                    server.connections(),
                    unhealthy_requests.unwrap_or(requests),
                )?;
                out.flush()?;
            }
            Ok(Ok(line)) => eprintln!("bench_server: unknown command {line:?} (try: stats)"),
            Ok(Err(err)) => return Err(err),
            Err(RecvTimeoutError::Timeout) => {
                unhealthy_requests = Some(server.requests());
                healthy_at = None;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Mode, String> {
        Mode::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn modes_parse_with_their_defaults() {
        assert_eq!(parse(&["healthy"]), Ok(Mode::Healthy));
        assert_eq!(
            parse(&["trickle"]),
            Ok(Mode::Trickle {
                every: Duration::from_secs(1),
                len: 3600
            })
        );
        assert_eq!(
            parse(&["503-then-200", "3.25"]),
            Ok(Mode::UnavailableThenHealthy {
                unhealthy_for: Duration::from_millis(3250)
            })
        );
        assert_eq!(
            parse(&["refused-then-503-then-200", "1", "2.5"]),
            Ok(Mode::RefusedThenHealthy {
                refused_for: Duration::from_secs(1),
                unavailable_for: Duration::from_millis(2500)
            })
        );
        assert_eq!(
            parse(&["refused-then-200", "2"]).map(Mode::healthy_after),
            Ok(Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["503-then-200"]).is_err());
        assert!(parse(&["503-then-200", "-1"]).is_err());
        assert!(parse(&["trickle", "0"]).is_err());
        assert!(parse(&["hang", "extra"]).is_err());
        assert!(parse(&["refused-then-200"]).is_err());
        assert!(parse(&["refused-then-503-then-200", "1"]).is_err());
        assert!(parse(&["refused-then-200", "-1"]).is_err());
    }
}
