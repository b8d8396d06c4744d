//! Every option of `wait`, `check` and `watch`, declared once: its name (the long flag, the
//! config file's key and, upper-cased, the `STILLUP_*` variable), its value, whether the
//! config file takes it for one target or for the whole run, the commands that have it and
//! the kinds of target it applies to.
//!
//! What derives from [`OPTIONS`]: the config file's accepted keys and which table may hold
//! them (`file.rs`), the "does not apply to this kind" check (`config.rs`), and the variable
//! names. What is checked against it by the tests below: clap's arguments (`args.rs`: names,
//! short flags, variables, value names, choices, defaults, switches and lists, which commands
//! have them, which variables are hidden), the config file's value types (`file.rs`), and the
//! README's tables and key lists. Help texts stay in `args.rs`, clap's doc comments being
//! their one home.
//!
//! An option is either used for a target or refused before any request — never accepted and
//! silently ignored.

use crate::target::Target;

/// A kind of target, as options see it: `http+unix://` is HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Tcp,
    Grpc,
}

impl Kind {
    pub fn of(target: &Target) -> Kind {
        match target {
            Target::Http(_) => Kind::Http,
            Target::Tcp(_) => Kind::Tcp,
            Target::Grpc(_) => Kind::Grpc,
        }
    }

    /// "a TCP target", for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Http => "an HTTP target",
            Kind::Tcp => "a TCP target",
            Kind::Grpc => "a gRPC target",
        }
    }

    /// The schemes of this kind, for messages.
    pub fn schemes(self) -> &'static str {
        match self {
            Kind::Http => "http(s)://, http+unix://",
            Kind::Tcp => "tcp://",
            Kind::Grpc => "grpc(s)://",
        }
    }
}

const ALL: &[Kind] = &[Kind::Http, Kind::Tcp, Kind::Grpc];
const HTTP: &[Kind] = &[Kind::Http];
/// Request metadata and TLS: a gRPC call is an HTTP/2 request and takes them too.
const HTTP_GRPC: &[Kind] = &[Kind::Http, Kind::Grpc];

/// A command that has options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Wait,
    Check,
    Watch,
}

impl Command {
    pub const ALL: &'static [Command] = &[Command::Wait, Command::Check, Command::Watch];

    pub fn name(self) -> &'static str {
        match self {
            Command::Wait => "wait",
            Command::Check => "check",
            Command::Watch => "watch",
        }
    }
}

const WAIT: &[Command] = &[Command::Wait];
const WAIT_CHECK: &[Command] = &[Command::Wait, Command::Check];
const WAIT_WATCH: &[Command] = &[Command::Wait, Command::Watch];
const WATCH: &[Command] = &[Command::Watch];
const EVERY: &[Command] = Command::ALL;

/// What an option takes, and so its type in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A switch: `--insecure`; `true`/`false` in the file and the variable.
    Switch,
    /// One value, e.g. `--timeout DURATION`; a string (or bare number) in the file.
    One(&'static str),
    /// One of these names, e.g. `--backoff fixed|exponential`.
    Choice(&'static [&'static str]),
    /// A value that may be left out: `--jitter [RATIO]`.
    Optional(&'static str),
    /// Repeatable: `--header HEADER`…; an array of strings in the file, one per line in the
    /// variable.
    Many(&'static str),
    /// Words without a flag: the targets, or `-- COMMAND`.
    Positional(&'static str),
}

/// Where an option may be set besides the command line and its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Of the whole run: a config file's `[defaults]` sets it.
    Run,
    /// Of one target's probe: `[defaults]` for every target, `[targets.NAME]` for one.
    Target,
    /// No config-file key: it says which file or targets to read, or it is `watch`'s own
    /// (`watch` reads no config file).
    CommandLine,
}

/// One option, declared once.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The long flag name (`max-body`), the config key, and the variable's stem. For a
    /// positional argument, clap's id (`targets`, `command`).
    pub name: &'static str,
    pub short: Option<char>,
    pub value: Value,
    /// clap's default, as the command line would give it.
    pub default: Option<&'static str>,
    /// Whether `STILLUP_<NAME>` sets it.
    pub env: bool,
    /// Whether `--help` hides the variable's value (it may hold a secret).
    pub secret: bool,
    pub scope: Scope,
    pub commands: &'static [Command],
    /// The kinds of target it applies to.
    pub kinds: &'static [Kind],
}

const fn opt(
    name: &'static str,
    value: Value,
    scope: Scope,
    commands: &'static [Command],
    kinds: &'static [Kind],
) -> Opt {
    Opt {
        name,
        short: None,
        value,
        default: None,
        env: true,
        secret: false,
        scope,
        commands,
        kinds,
    }
}

impl Opt {
    const fn short(mut self, c: char) -> Opt {
        self.short = Some(c);
        self
    }
    const fn default(mut self, value: &'static str) -> Opt {
        self.default = Some(value);
        self
    }
    const fn secret(mut self) -> Opt {
        self.secret = true;
        self
    }
    const fn no_env(mut self) -> Opt {
        self.env = false;
        self
    }

    /// `STILLUP_MAX_BODY` for `max-body`, if the option has a variable.
    pub fn variable(&self) -> Option<String> {
        self.env
            .then(|| format!("STILLUP_{}", self.name.replace('-', "_").to_uppercase()))
    }

    /// Whether a config file takes it as a key.
    pub fn is_config_key(&self) -> bool {
        self.scope != Scope::CommandLine
    }
}

use Scope::{CommandLine, Run, Target as PerTarget};
use Value::{Choice, Many, One, Optional, Positional, Switch};

/// Every option of `wait`, `check` and `watch`. An option that two commands take differently
/// (`watch`'s targets have no variable; `watch --keep-alive [MODE]`) has an entry per form.
/// The order is the order in which a refused option is reported.
pub const OPTIONS: &[Opt] = &[
    // What to probe and how many must be ready.
    opt(
        "targets",
        Positional("TARGET"),
        CommandLine,
        WAIT_CHECK,
        ALL,
    )
    .secret(),
    opt("config", One("FILE"), CommandLine, WAIT_CHECK, ALL),
    opt("targets-file", One("FILE"), CommandLine, WAIT_CHECK, ALL),
    opt("any", Switch, Run, WAIT_CHECK, ALL),
    opt("require", One("K"), Run, WAIT_CHECK, ALL),
    // The schedule and the goal.
    opt("until", Choice(&["healthy", "down"]), Run, WAIT, ALL).default("healthy"),
    opt("successes", One("N"), Run, WAIT, ALL).default("1"),
    opt("fail-fast", Many("CLASSES"), Run, WAIT, ALL),
    opt("fail-when", Many("EXPR"), PerTarget, WAIT, HTTP),
    opt("timeout", One("DURATION"), Run, WAIT, ALL).default("2m"),
    opt("interval", One("DURATION"), Run, WAIT, ALL).default("1s"),
    opt("backoff", Choice(&["fixed", "exponential"]), Run, WAIT, ALL).default("fixed"),
    opt("max-interval", One("DURATION"), Run, WAIT, ALL).default("30s"),
    opt("jitter", Optional("RATIO"), Run, WAIT, ALL),
    opt("keep-alive", Switch, Run, WAIT, HTTP),
    opt("refused-interval", One("DURATION"), Run, EVERY, ALL).default("100ms"),
    opt("attempt-timeout", One("DURATION"), Run, EVERY, ALL).default("3s"),
    // What makes an attempt healthy. Every kind has an answer whose latency can be bounded:
    // the response (HTTP), the accepted connection (TCP), the health call's answer (gRPC).
    opt("expect-status", One("CODES"), PerTarget, EVERY, HTTP).default("2xx"),
    opt("expect-json", Many("EXPR"), PerTarget, EVERY, HTTP),
    opt("expect-body", Many("REGEX"), PerTarget, EVERY, HTTP),
    opt("expect-header", Many("HEADER"), PerTarget, EVERY, HTTP),
    opt("max-latency", One("DURATION"), PerTarget, EVERY, ALL),
    opt("max-body", One("SIZE"), PerTarget, EVERY, HTTP).default("1MiB"),
    // The request.
    opt("method", One("METHOD"), PerTarget, EVERY, HTTP)
        .short('X')
        .default("GET"),
    opt("header", Many("HEADER"), PerTarget, EVERY, HTTP_GRPC)
        .short('H')
        .secret(),
    opt("data", One("DATA"), PerTarget, EVERY, HTTP).secret(),
    opt("data-file", One("FILE"), PerTarget, EVERY, HTTP),
    opt("user", One("USER:SECRET"), PerTarget, EVERY, HTTP_GRPC)
        .short('u')
        .secret(),
    opt("bearer", One("SECRET"), PerTarget, EVERY, HTTP_GRPC).secret(),
    opt("http2", Switch, PerTarget, EVERY, HTTP),
    opt("no-follow", Switch, PerTarget, EVERY, HTTP),
    // TLS (https://, grpcs://).
    opt("insecure", Switch, PerTarget, EVERY, HTTP_GRPC).short('k'),
    opt("cacert", Many("FILE"), PerTarget, EVERY, HTTP_GRPC),
    opt("cert", One("FILE"), PerTarget, EVERY, HTTP_GRPC),
    opt("key", One("FILE"), PerTarget, EVERY, HTTP_GRPC),
    // Where to connect.
    opt("resolve", Many("HOST:PORT:ADDRESS"), PerTarget, EVERY, ALL),
    opt(
        "connect-to",
        Many("HOST:PORT:HOST2:PORT2"),
        PerTarget,
        EVERY,
        ALL,
    ),
    // Output.
    opt("output", Choice(&["human", "json"]), Run, EVERY, ALL)
        .short('o')
        .default("human"),
    opt("quiet", Switch, Run, EVERY, ALL).short('q'),
    opt(
        "color",
        Choice(&["auto", "always", "never"]),
        Run,
        EVERY,
        ALL,
    )
    .default("auto"),
    // watch's own; watch reads no config file, and its targets have no variable.
    opt("targets", Positional("TARGET"), CommandLine, WATCH, ALL).no_env(),
    opt("targets-file", One("FILE"), CommandLine, WATCH, ALL).no_env(),
    opt("duration", One("DURATION"), CommandLine, WATCH, ALL),
    opt("rate", One("RATE"), CommandLine, WATCH, ALL).default("10/s"),
    opt("max-in-flight", One("N"), CommandLine, WATCH, ALL).default("64"),
    opt("max-downtime", One("DURATION"), CommandLine, WATCH, ALL),
    opt("max-outages", One("N"), CommandLine, WATCH, ALL),
    opt("min-availability", One("PERCENT"), CommandLine, WATCH, ALL),
    opt("keep-alive", Optional("MODE"), CommandLine, WATCH, HTTP).no_env(),
    opt("report", One("FILE"), CommandLine, WATCH, ALL).no_env(),
    // What to run: `wait` after success, `watch` as long as it runs.
    opt(
        "command",
        Positional("COMMAND"),
        CommandLine,
        WAIT_WATCH,
        ALL,
    )
    .no_env(),
];

/// The option `name` as `command` has it.
pub fn find(command: Command, name: &str) -> Option<&'static Opt> {
    OPTIONS
        .iter()
        .find(|o| o.name == name && o.commands.contains(&command))
}

/// The options a config file may hold, with their scope, in the order of [`OPTIONS`] (each
/// once: only `wait` and `check` read a config file, and each has one form there).
pub fn config_keys() -> impl Iterator<Item = &'static Opt> {
    OPTIONS.iter().filter(|o| o.is_config_key())
}

/// The config file's option `key`, if it is one.
pub fn config_key(key: &str) -> Option<&'static Opt> {
    config_keys().find(|o| o.name == key)
}

/// The options of `wait` and `check`, each once: what a run checks for applicability.
pub fn of_wait_and_check() -> impl Iterator<Item = &'static Opt> {
    OPTIONS
        .iter()
        .filter(|o| o.commands.contains(&Command::Wait) || o.commands.contains(&Command::Check))
}

/// The kinds `key` applies to; an option missing from the table applies to none (a test
/// keeps every option in it, and both forms of one name to the same kinds).
pub fn kinds(key: &str) -> &'static [Kind] {
    OPTIONS
        .iter()
        .find(|o| o.name == key)
        .map_or(&[], |o| o.kinds)
}

/// Whether `key` means something for a target of `kind`.
pub fn applies(key: &str, kind: Kind) -> bool {
    kinds(key).contains(&kind)
}

/// "http(s)://, http+unix:// targets", for messages.
pub fn described(key: &str) -> String {
    let schemes: Vec<&str> = kinds(key).iter().map(|k| k.schemes()).collect();
    format!("{} targets", schemes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{ArgAction, CommandFactory};

    /// An option as clap has it, in the declaration's terms, to compare the two whole.
    fn from_clap(
        arg: &clap::Arg,
    ) -> (
        String,
        Option<char>,
        Value,
        Option<String>,
        bool,
        Option<String>,
    ) {
        let id = arg.get_id().as_str();
        let name = arg.get_long().unwrap_or(id).to_string();
        let value_name = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(|n| n.as_str())
            .unwrap_or_default();
        let value_name: &'static str = Box::leak(value_name.to_string().into_boxed_str());
        let choices: Vec<&'static str> = arg
            .get_possible_values()
            .iter()
            .map(|v| &*Box::leak(v.get_name().to_string().into_boxed_str()))
            .collect();
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        let value = if arg.is_positional() {
            Positional(value_name)
        } else if matches!(arg.get_action(), ArgAction::SetTrue) {
            Switch
        } else if matches!(arg.get_action(), ArgAction::Append) {
            Many(value_name)
        } else if optional {
            Optional(value_name)
        } else if !choices.is_empty() {
            Choice(Box::leak(choices.into_boxed_slice()))
        } else {
            One(value_name)
        };
        let default = arg
            .get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned());
        let env = arg.get_env().map(|v| v.to_string_lossy().into_owned());
        (
            name,
            arg.get_short(),
            value,
            env,
            arg.is_hide_env_values_set(),
            default,
        )
    }

    /// clap's arguments of every command are the declared ones: names, short flags, values,
    /// variables, hidden values and defaults; none more, none fewer.
    #[test]
    fn clap_has_exactly_the_declared_options() {
        let cli = super::super::args::Cli::command();
        for &command in Command::ALL {
            let sub = cli.find_subcommand(command.name()).unwrap();
            let mut seen = Vec::new();
            for arg in sub.get_arguments() {
                if matches!(arg.get_id().as_str(), "help" | "version") {
                    continue;
                }
                let (name, short, value, env, secret, default) = from_clap(arg);
                let declared = find(command, &name).unwrap_or_else(|| {
                    panic!("{} --{name} is not declared in OPTIONS", command.name())
                });
                let what = format!("{} {name}", command.name());
                assert_eq!(declared.short, short, "{what}: short flag");
                assert_eq!(declared.value, value, "{what}: value");
                assert_eq!(declared.variable(), env, "{what}: variable");
                assert_eq!(declared.secret, secret, "{what}: hidden variable value");
                assert_eq!(
                    declared.default.map(str::to_string),
                    default,
                    "{what}: default"
                );
                seen.push(name);
            }
            for declared in OPTIONS.iter().filter(|o| o.commands.contains(&command)) {
                assert!(
                    seen.iter().any(|n| n == declared.name),
                    "{} has no {} though OPTIONS says it does",
                    command.name(),
                    declared.name
                );
            }
        }
    }

    /// One entry per name and command; two forms of one name agree on the kinds (what the
    /// applicability check looks up), and a config key has one form.
    #[test]
    fn every_option_is_declared_once_per_command() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                if a.name != b.name {
                    continue;
                }
                assert!(
                    a.commands.iter().all(|c| !b.commands.contains(c)),
                    "{} twice for one command",
                    a.name
                );
                assert_eq!(a.kinds, b.kinds, "{}: two forms, two sets of kinds", a.name);
                assert!(
                    !(a.is_config_key() && b.is_config_key()),
                    "{}: two config keys",
                    a.name
                );
            }
            assert!(!a.kinds.is_empty(), "{} applies to no kind", a.name);
        }
    }

    #[test]
    fn http_only_options_name_the_kinds_they_apply_to() {
        assert!(!applies("expect-status", Kind::Tcp));
        assert!(applies("max-latency", Kind::Tcp));
        assert!(applies("header", Kind::Grpc));
        assert_eq!(
            described("expect-status"),
            "http(s)://, http+unix:// targets"
        );
        assert_eq!(
            find(Command::Wait, "max-body").and_then(Opt::variable),
            Some("STILLUP_MAX_BODY".to_string())
        );
        assert_eq!(config_key("timeout").map(|o| o.scope), Some(Scope::Run));
        assert_eq!(config_key("header").map(|o| o.scope), Some(Scope::Target));
        assert!(config_key("targets-file").is_none());
    }

    const README: &str = include_str!("../../README.md");

    /// The README's text from `start` to the next `end`.
    fn section<'a>(start: &str, end: &str) -> &'a str {
        let from = README
            .find(start)
            .unwrap_or_else(|| panic!("the README has no {start:?}"));
        let text = &README[from + start.len()..];
        &text[..text.find(end).unwrap_or(text.len())]
    }

    /// The words in backticks of `text`.
    fn quoted(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    /// The flags a README cell names: `--max-body`, `-X` (as `method`), `--expect-*` (every
    /// option so named), in order.
    fn flags_in(cell: &str) -> Vec<&'static str> {
        let mut names = Vec::new();
        for word in cell
            .split(|c: char| c.is_whitespace() || matches!(c, '`' | ',' | '/' | '(' | ')' | '='))
        {
            if let Some(stem) = word.strip_prefix("--").and_then(|w| w.strip_suffix('*')) {
                names.extend(
                    OPTIONS
                        .iter()
                        .filter(|o| o.name.starts_with(stem))
                        .map(|o| o.name),
                );
            } else if let Some(long) = word.strip_prefix("--").filter(|w| !w.is_empty()) {
                let opt = OPTIONS
                    .iter()
                    .find(|o| o.name == long && !matches!(o.value, Positional(_)))
                    .unwrap_or_else(|| panic!("the README names --{long}, which is not declared"));
                names.push(opt.name);
            } else if let Some(c) = word
                .strip_prefix('-')
                .filter(|w| w.len() == 1 && w.chars().all(|c| c.is_ascii_alphabetic()))
            {
                let c = c.chars().next().unwrap();
                let opt = OPTIONS
                    .iter()
                    .find(|o| o.short == Some(c))
                    .unwrap_or_else(|| panic!("the README names -{c}, which is not declared"));
                names.push(opt.name);
            }
        }
        names.dedup();
        names
    }

    /// The rows of the Markdown table under the header line `header`, as cells.
    fn table(header: &str) -> Vec<Vec<&'static str>> {
        let from = README
            .find(header)
            .unwrap_or_else(|| panic!("the README has no table {header:?}"));
        README[from..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let line = line.trim().trim_start_matches('|').trim_end_matches('|');
                // `\|` is a bar inside a cell.
                let mut cells = Vec::new();
                let mut start = 0;
                let bytes = line.as_bytes();
                for i in 0..bytes.len() {
                    if bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
                        cells.push(line[start..i].trim());
                        start = i + 1;
                    }
                }
                cells.push(line[start..].trim());
                cells
            })
            .collect()
    }

    /// The README's table of `wait`'s flags names every option of `wait` and `check` once
    /// (the targets are the table above it), with the declared value and default.
    #[test]
    fn the_readmes_flag_table_is_the_declaration() {
        let mut named = Vec::new();
        for row in table("| flag | default | meaning |") {
            let (flag, default) = (row[0], row[1]);
            let flags = flags_in(flag);
            for name in &flags {
                let opt = of_wait_and_check().find(|o| o.name == *name).unwrap();
                // What follows the flag: its value name, choices, or `[VALUE]`.
                let after = flag
                    .split(&format!("--{name}"))
                    .nth(1)
                    .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
                    .and_then(|rest| rest.split([' ', '`', ',']).next())
                    .unwrap_or_default();
                let expected = match opt.value {
                    Switch => String::new(),
                    One(v) | Many(v) => v.to_string(),
                    Optional(v) => format!("[{v}]"),
                    Choice(names) => names.join("\\|"),
                    Positional(_) => unreachable!(),
                };
                // Quoted examples ('Name: value') stand for the value name.
                if !after.starts_with('\'') {
                    assert_eq!(after, expected, "the README's value of --{name}");
                }
                if let (Some(value), [_]) = (opt.default, flags.as_slice()) {
                    assert!(
                        default.contains(&format!("`{value}`")),
                        "the README's default of --{name} is not `{value}`: {default}"
                    );
                }
            }
            named.extend(flags);
        }
        for opt in of_wait_and_check().filter(|o| !matches!(o.value, Positional(_))) {
            let times = named.iter().filter(|n| **n == opt.name).count();
            assert_eq!(
                times, 1,
                "the README's flag table names --{} {times} times",
                opt.name
            );
        }
        assert!(
            section("| flag | default | meaning |", "\n\n").contains("`-- COMMAND"),
            "the README's flag table has no -- COMMAND"
        );
    }

    /// The README's table of which options apply to which kind of target says what
    /// [`OPTIONS`] says: "refused" exactly where an option does not apply.
    #[test]
    fn the_readmes_applicability_table_is_the_declaration() {
        let rows = table("| options | `http(s)://`, `http+unix://` | `tcp://` | `grpc(s)://` |");
        let kinds = [Kind::Http, Kind::Tcp, Kind::Grpc];
        let mut named = Vec::new();
        for row in &rows {
            let everything_else = row[0].starts_with("everything else");
            let flags: Vec<&str> = if everything_else {
                OPTIONS
                    .iter()
                    .map(|o| o.name)
                    .filter(|n| !named.contains(n))
                    .collect()
            } else {
                flags_in(row[0])
            };
            for name in &flags {
                for (kind, cell) in kinds.iter().zip(&row[1..]) {
                    assert_eq!(
                        applies(name, *kind),
                        *cell != "refused",
                        "the README says {cell} for --{name} on {}",
                        kind.noun()
                    );
                }
            }
            named.extend(flags);
        }
    }

    /// The README's lists of config keys: those a `[targets.NAME]` table takes, and those
    /// of the whole run.
    #[test]
    fn the_readmes_config_keys_are_the_declaration() {
        let bullet = section("- `[defaults]` takes any option.", "\n- ");
        let (per_target, run) = bullet
            .split_once("The options of the whole run")
            .expect("the README names the options of the whole run");
        let per_target = quoted(per_target.split_once("probe:").unwrap().1);
        let run = quoted(run.split_once(')').unwrap().0);
        let declared = |scope| -> Vec<&str> {
            let mut keys: Vec<&str> = config_keys()
                .filter(|o| o.scope == scope)
                .map(|o| o.name)
                .collect();
            keys.sort_unstable();
            keys
        };
        let sorted = |mut keys: Vec<&'static str>| {
            keys.sort_unstable();
            keys
        };
        assert_eq!(
            sorted(per_target),
            declared(Scope::Target),
            "[targets.NAME] keys"
        );
        assert_eq!(sorted(run), declared(Scope::Run), "keys of the whole run");
    }

    /// The README's lists of variables: the repeatable ones, the switches, and those whose
    /// value `--help` hides.
    #[test]
    fn the_readmes_variable_lists_are_the_declaration() {
        let variables = |text: &'static str| {
            let mut names: Vec<&str> = quoted(text)
                .into_iter()
                .filter(|w| w.starts_with("STILLUP_"))
                .collect();
            names.sort_unstable();
            names
        };
        let declared = |keep: fn(&Opt) -> bool| {
            let mut names: Vec<String> = of_wait_and_check()
                .filter(|o| keep(o))
                .filter_map(Opt::variable)
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        assert_eq!(
            variables(section("- Repeatable options (", ")")),
            declared(|o| matches!(o.value, Many(_)))
        );
        assert_eq!(
            variables(section("- Switches (", ")")),
            declared(|o| o.value == Switch)
        );
        assert_eq!(
            variables(section("except those that may hold secrets:", ".\n")),
            declared(|o| o.secret)
        );
    }

    /// `watch`'s own options are all in its section of the README.
    #[test]
    fn the_readme_names_every_option_of_watch() {
        let text = section("## Watching a rollout", "\n## ");
        // Only watch's own: its targets are the same words as wait's.
        let own = |o: &&Opt| {
            !OPTIONS
                .iter()
                .any(|p| p.name == o.name && p.commands != WATCH)
        };
        for opt in OPTIONS.iter().filter(|o| o.commands == WATCH).filter(own) {
            assert!(
                text.contains(&format!("--{}", opt.name)),
                "the README's watch section does not name --{}",
                opt.name
            );
        }
    }
}
