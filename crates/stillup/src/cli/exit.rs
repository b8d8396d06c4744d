//! The exit-code table: one place, the same table `--help` and the README show.
//!
//! Codes are stable; scripts and Makefiles rely on them. Clap's own errors are mapped here
//! too (we parse with `try_parse`), so a usage error is always `USAGE`.

use std::process::ExitCode;

use stillup_core::watch::report::Verdict;
use stillup_core::OutcomeKind;

/// The table as text, for `--help` (a macro so it can be `concat!`-ed into help texts).
macro_rules! exit_code_table {
    () => {
        "Exit codes:\n  \
           0    healthy (or down, with --until down); with -- COMMAND: the command's exit code\n  \
           1    not healthy: gave up at the deadline (wait) or the attempt failed (check)\n  \
           2    usage or configuration error: nothing was sent\n  \
           3    failed fast: a --fail-fast class or --fail-when condition was met\n  \
           4    watch: a budget was exceeded (--max-downtime, --max-outages, --min-availability)\n  \
           5    output not written: the JSON document, an --output-file or a report could not be written\n  \
           6    inconclusive: no verdict because of stillup's own trouble (out of files, memory, threads)\n  \
           126  with -- COMMAND: the command was found but cannot run\n  \
           127  with -- COMMAND: the command was not found\n  \
           129  hung up by SIGHUP (terminal closed); the summary so far is printed;\n       \
                a running -- COMMAND gets the signal forwarded\n  \
           130  interrupted by SIGINT (Ctrl-C); the summary so far is printed\n  \
           143  terminated by SIGTERM; the summary so far is printed\n"
    };
}
pub(crate) use exit_code_table;

/// The exit codes of `watch`.
macro_rules! watch_exit_code_table {
    () => {
        "Exit codes:\n  \
           0    every target stayed within the budgets (--max-downtime, --max-outages, --min-availability),\n       \
                also when Ctrl-C or SIGTERM ends a watch without -- COMMAND: that is how it is ended\n  \
           2    usage or configuration error: nothing was sent\n  \
           4    a budget was exceeded\n  \
           5    output not written: the JSON document, an --output-file or the report could not be written\n  \
           6    inconclusive: no verdict because of stillup's own trouble (out of files, memory, threads)\n  \
           N    with -- COMMAND: the command's non-zero exit code (it wins over 4)\n  \
           126  with -- COMMAND: the command was found but cannot run\n  \
           127  with -- COMMAND: the command was not found\n  \
           129  hung up by SIGHUP (terminal closed); the report so far is written\n"
    };
}
pub(crate) use watch_exit_code_table;

pub const WATCH_EXIT_CODES: &str = watch_exit_code_table!();

/// The exit codes of the commands that judge no target: `exporter` (which serves probes and
/// answers each with its verdict) and those that print a text (`completions`, `man`,
/// `classes`).
pub const SERVICE_EXIT_CODES: &str = "Exit codes:\n  \
       0    done: the text was printed, or the exporter stopped on SIGINT or SIGTERM\n  \
       2    usage or configuration error (the exporter: also an address it cannot listen on)\n  \
       5    output not written: the text could not be written to stdout\n  \
       6    inconclusive: stillup could not start (out of files, threads)\n";

/// Every exit code stillup has, for the tests that hold the README and `--help` to it.
pub const ALL_CODES: [u8; 12] = [
    HEALTHY,
    GAVE_UP,
    USAGE,
    FAILED_FAST,
    BUDGET_EXCEEDED,
    OUTPUT_FAILED,
    INCONCLUSIVE,
    COMMAND_CANNOT_RUN,
    COMMAND_NOT_FOUND,
    HUNG_UP,
    INTERRUPTED,
    TERMINATED,
];

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

impl Signal {
    /// `SIGINT`, `SIGTERM`, `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
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

/// The exit code of a watch: the command's non-zero code wins (it ran the watch), then a
/// hang-up (the watch was cut short, not ended on purpose as Ctrl-C or SIGTERM end an
/// open-ended watch), then the budgets.
pub fn for_watch(command_code: Option<u8>, signal: Option<Signal>, verdict: Verdict) -> u8 {
    match (command_code, signal) {
        (Some(code), _) if code != HEALTHY => code,
        (_, Some(Signal::Hangup)) => HUNG_UP,
        _ => match verdict {
            Verdict::OverBudget => BUDGET_EXCEEDED,
            Verdict::Inconclusive => INCONCLUSIVE,
            Verdict::WithinBudget | Verdict::NoBudgetSet => HEALTHY,
        },
    }
}

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeSet;

    /// The codes a help table lists: lines `  N    meaning`.
    fn codes_in_help(table: &str) -> BTreeSet<u8> {
        table
            .lines()
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect()
    }

    #[test]
    fn codes_are_distinct_and_the_help_tables_list_exactly_them() {
        let all: BTreeSet<u8> = ALL_CODES.into_iter().collect();
        assert_eq!(all.len(), ALL_CODES.len(), "a code is used twice");
        assert_eq!(codes_in_help(EXIT_CODES_HELP), all);
        assert!(codes_in_help(SERVICE_EXIT_CODES).is_subset(&all));
        // `watch` has its own view: no 1 or 3, and Ctrl-C / SIGTERM end it normally.
        let watch = codes_in_help(WATCH_EXIT_CODES);
        assert!(watch.is_subset(&all), "{watch:?}");
        for code in [
            BUDGET_EXCEEDED,
            OUTPUT_FAILED,
            INCONCLUSIVE,
            HUNG_UP,
            COMMAND_CANNOT_RUN,
        ] {
            assert!(watch.contains(&code), "{code} missing from watch --help");
        }
    }

    #[test]
    fn the_readme_table_lists_exactly_these_codes() {
        let readme = include_str!("../../../../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("the README has an Exit codes section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let listed: BTreeSet<u8> = section
            .lines()
            .filter_map(|line| {
                line.strip_prefix('|')?
                    .split('|')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect();
        assert_eq!(listed, ALL_CODES.into_iter().collect::<BTreeSet<u8>>());
    }

    #[test]
    fn a_watch_exits_with_the_commands_failure_then_a_hang_up_then_the_budgets() {
        use Verdict::*;
        assert_eq!(for_watch(Some(7), None, OverBudget), 7);
        assert_eq!(for_watch(Some(7), Some(Signal::Hangup), WithinBudget), 7);
        assert_eq!(for_watch(Some(7), None, Inconclusive), 7);
        assert_eq!(for_watch(Some(0), None, OverBudget), BUDGET_EXCEEDED);
        assert_eq!(for_watch(Some(0), None, WithinBudget), HEALTHY);
        assert_eq!(for_watch(Some(0), None, Inconclusive), INCONCLUSIVE);
        assert_eq!(for_watch(None, Some(Signal::Hangup), WithinBudget), HUNG_UP);
        assert_eq!(for_watch(None, Some(Signal::Hangup), OverBudget), HUNG_UP);
        assert_eq!(
            for_watch(None, Some(Signal::Interrupt), OverBudget),
            BUDGET_EXCEEDED
        );
        assert_eq!(
            for_watch(None, Some(Signal::Terminate), WithinBudget),
            HEALTHY
        );
        assert_eq!(for_watch(None, None, NoBudgetSet), HEALTHY);
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
