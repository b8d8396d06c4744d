//! The man pages (`stillup man`, `stillup man wait`, …): clap_mangen writes NAME, SYNOPSIS,
//! DESCRIPTION, OPTIONS, SUBCOMMANDS and VERSION from the clap command; in place of its
//! catch-all "EXTRA" (the help's epilogue) this module writes sections of its own, each from
//! the source the rest of stillup uses: EXAMPLES (the long help's), EXIT STATUS (`exit.rs`'s
//! tables), ENVIRONMENT (each `STILLUP_*` variable clap reads for the command, as
//! `options.rs` declares it, and the outside variables stillup honours), FILES (the config
//! files the command takes) and FAILURE CLASSES (`FailureClass::ALL`).
//!
//! clap_mangen and roff are used here only.

use clap::Command;
use roff::{bold, italic, roman, Roff};
use stillup_core::FailureClass;

use super::args::Cli;
use super::classes;
use super::exit::{EXIT_CODES_HELP, SERVICE_EXIT_CODES, WATCH_EXIT_CODES};
use super::options;

/// A `stillup man COMMAND` naming no command.
#[derive(Debug)]
pub struct UnknownCommand {
    name: String,
    expected: String,
}

impl std::fmt::Display for UnknownCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid COMMAND {:?}: expected {}",
            self.name, self.expected
        )
    }
}

/// Variables from outside stillup that it honours, and the commands they matter to.
struct Outside {
    names: &'static [&'static str],
    /// The option whose presence says the command reads them (e.g. `color` for NO_COLOR);
    /// `None`: every command that probes targets.
    with_option: Option<&'static str>,
    meaning: &'static str,
}

const OUTSIDE: &[Outside] = &[
    Outside {
        names: &["NO_COLOR"],
        with_option: Some("color"),
        meaning: "Set (to anything): no colour under --color auto.",
    },
    Outside {
        names: &["SSL_CERT_FILE", "SSL_CERT_DIR"],
        with_option: None,
        meaning: "The trusted CA certificates, in place of the system's store, as OpenSSL reads \
                  them: one PEM bundle; :-separated directories of PEM files. Read once, when a \
                  target needs TLS; an unusable one is a usage error (exit 2). --cacert adds to them.",
    },
    Outside {
        names: &["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        with_option: None,
        meaning: "The HTTP proxy for http:// targets, for https:// targets (through a CONNECT \
                  tunnel), and for both when the first is unset, as curl reads them (http://host:port, \
                  credentials sent as Basic auth and never printed). Loopback targets never use a proxy.",
    },
    Outside {
        names: &["no_proxy", "NO_PROXY"],
        with_option: None,
        meaning: "Targets that go direct, separated by commas or spaces, read as curl 7.86 and \
                  Go read them: * (every target); a name, matching it and its subdomains (a \
                  leading . or *. is dropped); a :port limiting an entry to that port; IP \
                  addresses and CIDR ranges (10.0.0.0/8, fd00::/8), matching targets written as \
                  IP literals (a name is not resolved to be compared). An entry that is none of \
                  these is a usage error for the targets a proxy would take.",
    },
];

/// The man page of `stillup`, or of `stillup COMMAND`.
pub fn page(name: Option<&str>) -> Result<Vec<u8>, UnknownCommand> {
    let root = <Cli as clap::CommandFactory>::command();
    let (command, subcommands): (Command, Vec<Command>) = match name {
        None => {
            let subs = root.get_subcommands().cloned().collect();
            (root, subs)
        }
        Some(name) => match root.find_subcommand(name) {
            // Named as man(1) expects: stillup-wait.
            Some(sub) => (
                sub.clone().name(format!("stillup-{name}")),
                vec![sub.clone()],
            ),
            None => {
                let names: Vec<&str> = root
                    .get_subcommands()
                    .map(|c| c.get_name())
                    .filter(|n| *n != "help")
                    .collect();
                return Err(UnknownCommand {
                    name: name.to_string(),
                    expected: names.join(", "),
                });
            }
        },
    };
    let epilogue = command
        .get_after_long_help()
        .or(command.get_after_help())
        .map(|text| text.to_string())
        .unwrap_or_default();
    // The epilogue becomes EXAMPLES and EXIT STATUS below, not clap_mangen's EXTRA.
    let bare = command.clone().after_help(None).after_long_help(None);
    let mut text = Vec::new();
    clap_mangen::Man::new(bare)
        .render(&mut text)
        .expect("writing to memory does not fail");
    let text = String::from_utf8(text).expect("clap_mangen writes UTF-8");

    let mut ours = Roff::new();
    examples(&mut ours, &epilogue);
    exit_status(&mut ours, name);
    environment(&mut ours, &subcommands, name.is_none());
    files(&mut ours, &subcommands, name.is_none());
    if subcommands.iter().any(probes) {
        failure_classes(&mut ours);
    }
    let ours = ours.to_roff();
    // Ours go before VERSION, where EXTRA was.
    let page = match text.find("\n.SH VERSION") {
        Some(at) => format!("{}\n{}{}", &text[..at], ours, &text[at + 1..]),
        None => format!("{text}{ours}"),
    };
    Ok(page.into_bytes())
}

/// Whether `command` probes targets (has options declared in `options.rs`).
fn probes(command: &Command) -> bool {
    options::Command::ALL
        .iter()
        .any(|c| c.name() == command.get_name())
}

/// The examples of the long help: its lines up to the exit-code table.
fn examples(roff: &mut Roff, epilogue: &str) {
    let Some(rest) = epilogue.strip_prefix("Examples:\n") else {
        return;
    };
    let body = rest.split("\nExit codes:").next().unwrap_or(rest);
    roff.control("SH", ["EXAMPLES"]);
    roff.control("nf", []);
    for line in body.trim_end().lines() {
        roff.text([roman(line.trim_start())]);
    }
    roff.control("fi", []);
}

/// The rows of an exit-code table of `exit.rs`: `  N    meaning` lines, a meaning going on
/// in more-indented lines.
fn exit_rows(table: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for line in table.lines().skip(1) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match (indent, rows.last_mut()) {
            (0..=2, _) | (_, None) => {
                let (code, meaning) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
                rows.push((code.to_string(), meaning.trim().to_string()));
            }
            (_, Some((_, meaning))) => {
                meaning.push(' ');
                meaning.push_str(trimmed);
            }
        }
    }
    rows
}

fn exit_status(roff: &mut Roff, name: Option<&str>) {
    let table = match name {
        None | Some("wait" | "check" | "demo") => EXIT_CODES_HELP,
        Some("watch") => WATCH_EXIT_CODES,
        Some(_) => SERVICE_EXIT_CODES,
    };
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in exit_rows(table) {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
}

/// What an argument is called on the command line: `--timeout`, or `TARGET` for a positional.
fn flag(arg: &clap::Arg) -> String {
    match arg.get_long() {
        Some(long) => format!("--{long}"),
        None => arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(
                || arg.get_id().to_string().to_uppercase(),
                |n| n.to_string(),
            ),
    }
}

fn environment(roff: &mut Roff, commands: &[Command], overview: bool) {
    roff.control("SH", ["ENVIRONMENT"]);
    // Each variable once, with the commands that read it (in the overview) or its help.
    let mut seen: Vec<(String, String, String, Vec<&str>)> = Vec::new();
    for command in commands {
        for arg in command.get_arguments() {
            let Some(variable) = arg.get_env() else {
                continue;
            };
            let variable = variable.to_string_lossy().to_string();
            match seen.iter_mut().find(|(v, ..)| *v == variable) {
                Some((.., users)) => users.push(command.get_name()),
                None => seen.push((
                    variable,
                    flag(arg),
                    arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
                    vec![command.get_name()],
                )),
            }
        }
    }
    if !seen.is_empty() {
        roff.text([roman(
            "Every STILLUP_ variable sets the option of the same name; the flag wins over the \
             variable, the variable over a config file.",
        )]);
    }
    for (variable, flag, help, users) in &seen {
        roff.control("TP", []);
        roff.text([bold(variable.as_str())]);
        let said = if overview {
            format!("{flag} of {}", users.join(", "))
        } else {
            format!("{flag}: {help}")
        };
        roff.text([roman(said)]);
    }
    let reads = |outside: &Outside| {
        commands.iter().any(|command| match outside.with_option {
            Some(option) => command
                .get_arguments()
                .any(|a| a.get_long() == Some(option)),
            None => probes(command),
        })
    };
    for outside in OUTSIDE.iter().filter(|o| reads(o)) {
        roff.control("TP", []);
        roff.text([bold(outside.names.join(", "))]);
        roff.text([roman(outside.meaning)]);
    }
    if seen.is_empty() && !OUTSIDE.iter().any(reads) {
        roff.text([roman("None: this command reads no variable of its own.")]);
    }
}

fn files(roff: &mut Roff, commands: &[Command], overview: bool) {
    roff.control("SH", ["FILES"]);
    // The options that name a configuration file (`config`, `blackbox-config`), each once
    // with the commands that take it.
    let mut found: Vec<(&clap::Arg, Vec<&str>)> = Vec::new();
    for command in commands {
        for arg in command.get_arguments().filter(|a| {
            a.get_long()
                .is_some_and(|l| l == "config" || l.ends_with("-config"))
        }) {
            match found.iter_mut().find(|(seen, _)| {
                seen.get_long() == arg.get_long() && seen.get_help() == arg.get_help()
            }) {
                Some((_, users)) => users.push(command.get_name()),
                None => found.push((arg, vec![command.get_name()])),
            }
        }
    }
    for (arg, users) in &found {
        roff.control("TP", []);
        let mut head = vec![italic("FILE"), roman(" given to "), bold(flag(arg))];
        if let Some(variable) = arg.get_env() {
            head.extend([roman(" or "), bold(variable.to_string_lossy())]);
        }
        if overview {
            head.push(roman(format!(" ({})", users.join(", "))));
        }
        roff.text(head);
        roff.text([roman(
            arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
        )]);
    }
    roff.control("PP", []);
    roff.text([roman(if found.is_empty() {
        "None: this command reads no configuration file, only the files its options name."
    } else {
        "No configuration file is read unless one is named: there is no default path."
    })]);
}

fn failure_classes(roff: &mut Roff) {
    roff.control("SH", ["FAILURE CLASSES"]);
    roff.text([roman(
        "Every failed attempt has one class, decided where the failure happened; the names \
         are stable, used in JSON output, in --fail-fast and by the exporter's \
         probe_failure_info. stillup classes prints this table.",
    )]);
    for class in FailureClass::ALL {
        roff.control("TP", []);
        roff.text([bold(class.as_str())]);
        roff.text([roman(classes::plain(class.description()))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: Option<&str>) -> String {
        String::from_utf8(page(name).unwrap()).unwrap()
    }

    /// The section headings of a page, in order.
    fn sections(page: &str) -> Vec<&str> {
        page.lines()
            .filter_map(|l| l.strip_prefix(".SH "))
            .map(|s| s.trim_matches('"'))
            .collect()
    }

    /// The page of each command with options has ENVIRONMENT, EXIT STATUS and FILES, no
    /// EXTRA, and names every `STILLUP_*` variable `options.rs` declares for that command.
    #[test]
    fn each_page_has_environment_exit_status_and_files_and_every_variable_of_its_command() {
        for command in options::Command::ALL {
            let page = text(Some(command.name()));
            let sections = sections(&page);
            for wanted in ["ENVIRONMENT", "EXIT STATUS", "FILES", "FAILURE CLASSES"] {
                assert!(
                    sections.contains(&wanted),
                    "{}: {sections:?}",
                    command.name()
                );
            }
            assert!(!sections.contains(&"EXTRA"), "{}", command.name());
            let environment = page.split(".SH ENVIRONMENT").nth(1).unwrap();
            let environment = environment.split("\n.SH ").next().unwrap();
            let declared: Vec<String> = options::OPTIONS
                .iter()
                .filter(|o| o.commands.contains(command))
                .filter_map(options::Opt::variable)
                .collect();
            for variable in &declared {
                assert!(
                    environment.contains(&format!("\\fB{variable}\\fR")),
                    "{}: {variable} missing from ENVIRONMENT",
                    command.name()
                );
            }
            // And no other STILLUP_ variable: what the page says the command reads, it reads.
            let listed = environment
                .split("\\fB")
                .filter_map(|s| s.split("\\fR").next())
                .filter(|s| s.starts_with("STILLUP_"))
                .count();
            assert_eq!(listed, declared.len(), "{}", command.name());
            for outside in ["SSL_CERT_FILE", "NO_PROXY", "HTTPS_PROXY"] {
                assert!(environment.contains(outside), "{}", command.name());
            }
        }
    }

    /// EXIT STATUS is the command's table of `exit.rs`, code for code.
    #[test]
    fn exit_status_lists_the_codes_of_the_commands_table() {
        for (name, table) in [
            (Some("wait"), EXIT_CODES_HELP),
            (None, EXIT_CODES_HELP),
            (Some("watch"), WATCH_EXIT_CODES),
            (Some("exporter"), SERVICE_EXIT_CODES),
            (Some("man"), SERVICE_EXIT_CODES),
        ] {
            let page = text(name);
            let section = page.split(".SH \"EXIT STATUS\"").nth(1).unwrap();
            let section = section.split("\n.SH ").next().unwrap();
            let codes: Vec<&str> = section
                .lines()
                .filter_map(|l| l.strip_prefix("\\fB")?.strip_suffix("\\fR"))
                .collect();
            let expected: Vec<String> = exit_rows(table).into_iter().map(|(c, _)| c).collect();
            assert_eq!(codes, expected, "{name:?}");
            assert!(codes.len() >= 4, "{name:?}: {codes:?}");
        }
        // A meaning that goes on over two lines stays one row.
        let hangup = exit_rows(EXIT_CODES_HELP)
            .into_iter()
            .find(|(c, _)| c == "129")
            .unwrap();
        assert!(
            hangup.1.ends_with("gets the signal forwarded"),
            "{hangup:?}"
        );
    }

    #[test]
    fn the_overview_lists_every_variable_the_config_files_and_every_class() {
        let page = text(None);
        let sections = sections(&page);
        assert!(!sections.contains(&"EXTRA"), "{sections:?}");
        assert!(sections.contains(&"SUBCOMMANDS"), "{sections:?}");
        for option in options::OPTIONS {
            if let Some(variable) = option.variable() {
                assert!(page.contains(&variable), "{variable}");
            }
        }
        for class in FailureClass::ALL {
            assert!(
                page.contains(&format!("\\fB{}\\fR", class.as_str())),
                "{class}"
            );
        }
        let files = page.split(".SH FILES").nth(1).unwrap();
        assert!(
            files.contains("STILLUP_CONFIG") && files.contains("blackbox"),
            "{files}"
        );
        // Sections come before VERSION, where EXTRA was.
        assert_eq!(sections.last(), Some(&"VERSION"), "{sections:?}");
    }

    #[test]
    fn examples_come_from_the_long_help_without_the_exit_codes() {
        let page = text(Some("wait"));
        let examples = page.split(".SH EXAMPLES").nth(1).unwrap();
        let examples = examples.split("\n.SH ").next().unwrap();
        assert!(examples.contains("stillup wait http://127.0.0.1:8080/health"));
        assert!(!examples.contains("Exit codes"), "{examples}");
    }

    #[test]
    fn an_unknown_command_names_the_ones_there_are() {
        let e = page(Some("nope")).unwrap_err().to_string();
        assert!(
            e.contains("\"nope\"") && e.contains("wait") && e.contains("exporter"),
            "{e}"
        );
    }
}
