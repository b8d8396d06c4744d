//! A scripted HTTP server on 127.0.0.1 for `bench/run_watch.sh`: a timeline of phases given on
//! the command line, built on [`stillup_testkit::ScriptedServer`]. It owns only the command
//! line and a tiny control protocol on stdin/stdout; measuring `stillup watch` is left to
//! `bench/watch.py`.
//!
//! ```text
//! bench_watch_server script PHASE...   phases back to back, each KIND:MS; the last one lasts
//!                                      forever (its :MS may be left out). KIND is
//!                                      refuse (the port refuses connections) or an HTTP
//!                                      status code (200 answers "ok", others an empty body)
//! bench_watch_server record-size       print the size in bytes of one stillup_core::watch::SampleRecord
//!
//! bench_watch_server script 200                                 healthy forever
//! bench_watch_server script 200:1050 refuse:750 502:400 200     healthy, 750 ms refused, 400 ms 502, healthy
//! ```
//!
//! Protocol: once listening it prints `READY <port>` on stdout; the script's clock started just
//! before that line (when the server bound its port). Each `stats` line read on stdin is answered
//! with one line `STATS requests=N connections=N`. It runs until stdin closes or it is killed.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use stillup_core::watch::SampleRecord;
use stillup_testkit::{Behavior, Reply, Script, ScriptedServer};

const USAGE: &str = "usage: bench_watch_server script KIND:MS... KIND[:MS]  (KIND: refuse | \
                     an HTTP status code) | record-size";

/// One phase as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PhaseSpec {
    /// `None`: the port refuses connections; otherwise the status code answered.
    status: Option<u16>,
    /// `None` only for the last phase, which lasts forever anyway.
    length: Option<Duration>,
}

impl PhaseSpec {
    fn parse(text: &str) -> Result<PhaseSpec, String> {
        let (kind, length) = match text.split_once(':') {
            Some((kind, ms)) => {
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("invalid length in {text:?}: expected milliseconds"))?;
                (kind, Some(Duration::from_millis(ms)))
            }
            None => (text, None),
        };
        let status = match kind {
            "refuse" => None,
            code => match code.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Some(code),
                _ => {
                    return Err(format!(
                        "invalid kind in {text:?}: expected refuse or a status code"
                    ))
                }
            },
        };
        Ok(PhaseSpec { status, length })
    }

    fn behavior(self) -> Behavior {
        match self.status {
            None => Behavior::Refuse,
            Some(200) => Behavior::Respond(Reply::text(200, "ok\n")),
            Some(code) => Behavior::Respond(Reply::status(code)),
        }
    }
}

/// The script of `PHASE...`: every phase but the last needs a length.
fn script(phases: &[PhaseSpec]) -> Result<Script, String> {
    let Some((last, before)) = phases.split_last() else {
        return Err("at least one phase is needed".into());
    };
    let mut script = Script::new();
    for phase in before {
        let length = phase
            .length
            .ok_or("every phase but the last needs a length, e.g. 502:400")?;
        script = script.then_for(length, phase.behavior());
    }
    Ok(script.forever(last.behavior()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.split_first() {
        Some((mode, rest)) if mode == "script" => rest
            .iter()
            .map(|a| PhaseSpec::parse(a))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|phases| script(&phases)),
        Some((mode, rest)) if mode == "record-size" && rest.is_empty() => {
            println!("{}", std::mem::size_of::<SampleRecord>());
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("unexpected arguments {args:?}")),
    };
    let script = match parsed {
        Ok(script) => script,
        Err(message) => {
            eprintln!("bench_watch_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_watch_server: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(script: Script) -> io::Result<()> {
    let server = ScriptedServer::spawn(script)?;
    let mut out = io::stdout().lock();
    writeln!(out, "READY {}", server.port())?;
    out.flush()?;
    for line in io::stdin().lock().lines() {
        match line?.trim() {
            "stats" => {
                writeln!(
                    out,
                    "STATS requests={} connections={}",
                    server.requests(),
                    server.connections()
                )?;
                out.flush()?;
            }
            other => eprintln!("bench_watch_server: unknown command {other:?} (try: stats)"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse() {
        assert_eq!(
            PhaseSpec::parse("refuse:750"),
            Ok(PhaseSpec {
                status: None,
                length: Some(Duration::from_millis(750))
            })
        );
        assert_eq!(
            PhaseSpec::parse("200"),
            Ok(PhaseSpec {
                status: Some(200),
                length: None
            })
        );
        assert!(PhaseSpec::parse("hang:10").is_err());
        assert!(PhaseSpec::parse("502:-1").is_err());
        assert!(PhaseSpec::parse("99:10").is_err());
    }

    #[test]
    fn only_the_last_phase_may_omit_its_length() {
        let phases = |args: &[&str]| {
            args.iter()
                .map(|a| PhaseSpec::parse(a).unwrap())
                .collect::<Vec<_>>()
        };
        assert!(script(&phases(&["200:100", "refuse:50", "200"])).is_ok());
        assert!(script(&phases(&["200", "refuse:50"])).is_err());
        assert!(script(&[]).is_err());
    }
}
