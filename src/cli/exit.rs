//! The exit-code table: one place, the same table `--help` and the README show.
//!
//! Codes are stable; scripts and Makefiles rely on them. Clap's own errors are mapped here
//! too (we parse with `try_parse`), so a usage error is always `USAGE`.

use std::process::ExitCode;

use crate::OutcomeKind;

/// The table as text, for `--help` (a macro so it can be `concat!`-ed into help texts).
macro_rules! exit_code_table {
    () => {
        "Exit codes:\n  \
           0    healthy (or down, with --until down); with -- COMMAND: the command's exit code\n  \
           1    not healthy: gave up at the deadline (wait) or the attempt failed (check)\n  \
           2    usage or configuration error: nothing was sent\n  \
           3    failed fast: a --fail-fast class or --fail-when condition was met\n  \
           5    output not written: the JSON document or a report could not be written\n  \
           6    inconclusive: no verdict because of stillup's own trouble (out of files, memory, threads)\n  \
           126  with -- COMMAND: the command was found but cannot run\n  \
           127  with -- COMMAND: the command was not found\n  \
           129  hung up by SIGHUP (terminal closed); the summary so far is printed\n  \
           130  interrupted by SIGINT (Ctrl-C); the summary so far is printed\n  \
           143  terminated by SIGTERM; the summary so far is printed\n"
    };
}
pub(crate) use exit_code_table;

/// The exit codes of `watch`.
macro_rules! watch_exit_code_table {
    () => {
        "Exit codes:\n  \
           0    every target stayed within the budgets (--max-downtime, --max-outages, --min-availability)\n  \
           2    usage or configuration error: nothing was sent\n  \
           4    a budget was exceeded\n  \
           5    output not written: the JSON document or the report could not be written\n  \
           6    inconclusive: no verdict because of stillup's own trouble (out of files, memory, threads)\n  \
           N    with -- COMMAND: the command's non-zero exit code (it wins over 4)\n  \
           126  with -- COMMAND: the command was found but cannot run\n  \
           127  with -- COMMAND: the command was not found\n  \
           129  hung up by SIGHUP (terminal closed); the report so far is written\n  \
           130  interrupted by SIGINT (Ctrl-C); the report so far is written\n  \
           143  terminated by SIGTERM; the report so far is written\n"
    };
}
pub(crate) use watch_exit_code_table;

pub const WATCH_EXIT_CODES: &str = watch_exit_code_table!();

/// `watch`: a downtime budget was exceeded.
pub const BUDGET_EXCEEDED: u8 = 4;

pub const EXIT_CODES_HELP: &str = exit_code_table!();

/// The target was healthy.
pub const HEALTHY: u8 = 0;
/// The deadline passed (or the one attempt of `check` failed).
pub const GAVE_UP: u8 = 1;
/// Bad flag, value, URL or condition; rejected before any request.
pub const USAGE: u8 = 2;
/// A failure that waiting will not heal (`--fail-fast`, `--fail-when`).
pub const FAILED_FAST: u8 = 3;
/// The JSON document, a report or another output file could not be written.
pub const OUTPUT_FAILED: u8 = 5;
/// No verdict: the cause was stillup's own trouble (out of descriptors, threads, memory),
/// which is no evidence about the target.
pub const INCONCLUSIVE: u8 = 6;
/// `-- COMMAND` was found but cannot be run (permissions, not executable), as shells say.
pub const COMMAND_CANNOT_RUN: u8 = 126;
/// `-- COMMAND` was not found, as shells say.
pub const COMMAND_NOT_FOUND: u8 = 127;
/// 128 + SIGHUP: the terminal closed or the ssh session dropped.
pub const HUNG_UP: u8 = 129;
/// 128 + SIGINT.
pub const INTERRUPTED: u8 = 130;
/// 128 + SIGTERM.
pub const TERMINATED: u8 = 143;

/// Which signal ended a run, if one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

/// The exit code for how a run ended.
pub fn for_outcome(kind: OutcomeKind, signal: Option<Signal>) -> u8 {
    match kind {
        OutcomeKind::Healthy | OutcomeKind::Down => HEALTHY,
        OutcomeKind::GaveUp | OutcomeKind::Stopped => GAVE_UP,
        OutcomeKind::FailedFast => FAILED_FAST,
        OutcomeKind::Inconclusive => INCONCLUSIVE,
        OutcomeKind::Interrupted => match signal {
            Some(Signal::Terminate) => TERMINATED,
            Some(Signal::Hangup) => HUNG_UP,
            _ => INTERRUPTED,
        },
    }
}

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_match_the_table() {
        let codes = [
            HEALTHY,
            GAVE_UP,
            USAGE,
            FAILED_FAST,
            OUTPUT_FAILED,
            INCONCLUSIVE,
            COMMAND_CANNOT_RUN,
            COMMAND_NOT_FOUND,
            HUNG_UP,
            INTERRUPTED,
            TERMINATED,
        ];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b));
            assert!(
                EXIT_CODES_HELP.contains(&format!("  {a} ")),
                "{a} missing from help"
            );
        }
    }

    #[test]
    fn outcomes_map_to_codes() {
        assert_eq!(for_outcome(OutcomeKind::Healthy, None), 0);
        assert_eq!(for_outcome(OutcomeKind::GaveUp, None), 1);
        assert_eq!(for_outcome(OutcomeKind::Inconclusive, None), 6);
        assert_eq!(
            for_outcome(OutcomeKind::Interrupted, Some(Signal::Interrupt)),
            130
        );
        assert_eq!(
            for_outcome(OutcomeKind::Interrupted, Some(Signal::Terminate)),
            143
        );
    }
}
