//! The command line, as clap sees it: names, value types, and which options were given
//! explicitly ([`Sources`]). Each option's help text, default and `STILLUP_*` variable come
//! from its declaration in `options.rs` (each command's `mut_args`); a test there holds the rest
//! of what clap has to the declaration. Values stay strings here; `config.rs` validates them
//! into typed settings with messages of our own, and `file.rs` layers a config file under
//! what clap found.
//!
//! Every option of `wait` and `check` can be set through `STILLUP_<LONG_FLAG_NAME>`
//! (`--max-body` → `STILLUP_MAX_BODY`); the targets through `STILLUP_TARGETS`.

use std::collections::HashMap;
use std::ffi::OsString;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

use super::exit::{exit_code_table, watch_exit_code_table, EXIT_CODES_HELP, WATCH_EXIT_CODES};
use super::options;

#[derive(Debug, Parser)]
#[command(
    name = "stillup",
    version,
    about = "Is my service up yet — and if not, why not?",
    long_about = "Is my service up yet — and if not, why not?\n\n\
        stillup polls a target until it is healthy or a deadline passes, says why every \
        failed attempt failed (connection refused, DNS, TLS, no answer, HTTP 503, a JSON \
        field with the wrong value…), and ends with a timeline of what happened.\n\n\
        Try it without a network: stillup demo",
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll targets until they are healthy (or down) or the deadline passes, then optionally run a command.
    #[command(
        after_help = EXIT_CODES_HELP,
        after_long_help = concat!(
            "Examples:\n",
            "  stillup wait http://127.0.0.1:8080/health\n",
            "  stillup wait https://api.internal/ready --timeout 5m --interval 2s --backoff exponential\n",
            "  stillup wait http://localhost:8080/health --expect-json '$.status == \"healthy\"'\n",
            "  stillup wait http://localhost:8080/ --expect-status 200-299,301 --output json\n",
            "  stillup wait http://api:8080/health tcp://db:5432 -- ./migrate.sh\n",
            "  stillup wait grpc://api:50051 grpcs://payments:443/payments.v1.Ledger --cacert ca.pem\n",
            "  stillup wait http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping\n",
            "  stillup wait http://old-pod:8080/health --until down\n\n",
            exit_code_table!()
        )
    )]
    Wait(WaitArgs),
    /// Make one attempt per target and report: exit 0 when healthy, 1 when not.
    #[command(after_help = EXIT_CODES_HELP)]
    Check(CheckArgs),
    /// Watch stillup wait on a scripted local service: refused, 503, degraded, healthy. No network needed.
    Demo(DemoArgs),
    /// Sample targets at a fixed rate for a while (or while a command runs) and report every
    /// outage, the availability and latency percentiles; fail when a downtime budget is exceeded.
    #[command(
        after_help = WATCH_EXIT_CODES,
        after_long_help = concat!(
            "Examples:\n",
            "  stillup watch https://api/health -- kubectl rollout status deploy/api\n",
            "  stillup watch https://api/health --duration 10m --rate 20/s --max-downtime 0s\n",
            "  stillup watch http://a/health http://b/health --duration 1m --report rollout.html\n\n",
            watch_exit_code_table!()
        )
    )]
    Watch(WatchArgs),
    /// Serve Prometheus as its probe: /probe?target=URL&module=NAME answers with
    /// blackbox_exporter's metrics and probe_failure_info{class}, the reason a probe failed.
    #[command(after_long_help = concat!(
        "Examples:\n",
        "  stillup exporter\n",
        "  stillup exporter --listen 0.0.0.0:9115 --config stillup.toml --allow-target '*.internal'\n",
        "  stillup exporter --blackbox-config /etc/prometheus/blackbox.yml\n",
        "  curl 'http://127.0.0.1:9115/probe?target=https://api.internal/health&debug=true'\n\n",
        "Endpoints: /probe, /metrics (the exporter's own), / (modules and recent probes), /-/healthy, POST /-/reload.\n",
        "SIGHUP reloads the config too; a bad new config is refused and the old one kept."
    ))]
    Exporter(ExporterArgs),
    /// Print a shell completion script, e.g. stillup completions bash > /etc/bash_completion.d/stillup
    Completions {
        /// bash, zsh, fish, elvish or powershell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): stillup man > stillup.1, stillup man wait > stillup-wait.1
    Man {
        /// A subcommand's page (wait, check, watch, exporter, …) instead of the overview
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
    /// Print the failure classes: why an attempt failed, as JSON, --fail-fast and the
    /// exporter's probe_failure_info name it
    Classes,
}

#[derive(Debug, Clone, Args)]
#[command(mut_args = |arg| options::declared(options::Command::Wait, arg))]
pub struct WaitArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    #[arg(long, value_enum)]
    pub until: UntilArg,

    #[arg(long)]
    pub successes: String,

    #[arg(long)]
    pub fail_fast: Vec<String>,

    #[arg(long)]
    pub fail_when: Vec<String>,

    #[arg(long)]
    pub timeout: String,

    #[arg(long)]
    pub interval: String,

    #[arg(long, value_enum)]
    pub backoff: BackoffArg,

    #[arg(long)]
    pub max_interval: String,

    #[arg(
        long,
        num_args = 0..=1,
        default_missing_value = "0.5"
    )]
    pub jitter: Option<String>,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub keep_alive: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[arg(last = true)]
    pub command: Vec<String>,
}

impl WaitArgs {
    /// The repeatable options only `wait` has, by name (a test holds every repeatable option
    /// of the declaration to these and [`ProbeArgs::lists_mut`]).
    pub fn lists_mut(&mut self) -> [(&'static str, &mut Vec<String>); 2] {
        [
            ("fail-fast", &mut self.fail_fast),
            ("fail-when", &mut self.fail_when),
        ]
    }

    /// `wait`'s defaults as clap has them, whatever the environment holds: what `check`
    /// layers the config file's wait-only options on, to judge them.
    pub fn defaults() -> WaitArgs {
        let command = WaitArgs::augment_args(clap::Command::new("wait"))
            .mut_args(|arg| arg.env(None::<&str>));
        command
            .try_get_matches_from(["wait", "http://defaults/"])
            .and_then(|matches| WaitArgs::from_arg_matches(&matches))
            .expect("wait parses with only a target")
    }
}

impl WaitArgs {
    /// `wait`'s options as their `STILLUP_*` variables set them (the rest at their defaults),
    /// and which were set: what `check` judges of the options only `wait` has, as it judges
    /// the config file's, so that a bad value is refused by both commands alike. The error
    /// is one line.
    pub fn from_variables() -> Result<(WaitArgs, Sources), String> {
        let command = clap::Command::new("stillup")
            .subcommand(WaitArgs::augment_args(clap::Command::new("wait")));
        let argv: Vec<OsString> = ["stillup", "wait", "http://defaults/"]
            .into_iter()
            .map(OsString::from)
            .collect();
        let parsed = command
            .clone()
            .try_get_matches_from(&argv)
            .and_then(|matches| {
                let (_, sub) = matches.subcommand().expect("wait was given");
                WaitArgs::from_arg_matches(sub).map(|args| (args, Sources::of(&command, &matches)))
            });
        parsed.map_err(|e| {
            usage_line(&command, &argv, &e).unwrap_or_else(|| {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                first.trim_start_matches("error: ").to_string()
            })
        })
    }
}

#[derive(Debug, Clone, Args)]
#[command(mut_args = |arg| options::declared(options::Command::Check, arg))]
pub struct CheckArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// demo's options are wait's output options, as wait declares them.
#[derive(Debug, Args)]
#[command(mut_args = |arg| options::declared(options::Command::Wait, arg))]
pub struct DemoArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Which targets, and how many must be ready.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[arg(required_unless_present_any = ["targets_file", "config"]
    )]
    pub targets: Vec<String>,

    #[arg(long)]
    pub config: Option<String>,

    #[arg(long)]
    pub targets_file: Option<String>,

    #[arg(long, conflicts_with = "require", value_parser = BoolishValueParser::new())]
    pub any: bool,

    #[arg(long)]
    pub require: Option<String>,
}

/// What makes one attempt healthy, and its limits.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    #[arg(long)]
    pub attempt_timeout: String,

    #[arg(long)]
    pub expect_status: String,

    #[arg(long)]
    pub expect_json: Vec<String>,

    #[arg(long)]
    pub expect_body: Vec<String>,

    #[arg(long)]
    pub reject_body: Vec<String>,

    #[arg(long)]
    pub expect_header: Vec<String>,

    #[arg(long)]
    pub max_latency: Option<String>,

    #[arg(long)]
    pub method: String,

    #[arg(long = "header")]
    pub headers: Vec<String>,

    #[arg(long, conflicts_with = "data_file")]
    pub data: Option<String>,

    #[arg(long)]
    pub data_file: Option<String>,

    #[arg(long)]
    pub user: Option<String>,

    #[arg(long, conflicts_with = "user")]
    pub bearer: Option<String>,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub insecure: bool,

    #[arg(long)]
    pub cacert: Vec<String>,

    #[arg(long, requires = "key")]
    pub cert: Option<String>,

    #[arg(long, requires = "cert")]
    pub key: Option<String>,

    #[arg(long)]
    pub resolve: Vec<String>,

    #[arg(long)]
    pub connect_to: Vec<String>,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub http2: bool,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub no_follow: bool,

    #[arg(long)]
    pub refused_interval: String,

    #[arg(long)]
    pub max_body: String,
}

impl ProbeArgs {
    /// The repeatable options of a probe, by name.
    pub fn lists_mut(&mut self) -> [(&'static str, &mut Vec<String>); 8] {
        [
            ("expect-json", &mut self.expect_json),
            ("expect-body", &mut self.expect_body),
            ("reject-body", &mut self.reject_body),
            ("expect-header", &mut self.expect_header),
            ("header", &mut self.headers),
            ("cacert", &mut self.cacert),
            ("resolve", &mut self.resolve),
            ("connect-to", &mut self.connect_to),
        ]
    }
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    #[arg(long, value_enum)]
    pub output: OutputFormat,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    #[arg(long, value_enum)]
    pub color: ColorArg,

    #[arg(long)]
    pub output_file: Vec<String>,
}

impl OutputArgs {
    /// The repeatable output options, by name.
    pub fn lists_mut(&mut self) -> [(&'static str, &mut Vec<String>); 1] {
        [("output-file", &mut self.output_file)]
    }
}

#[derive(Debug, Args)]
#[command(mut_args = |arg| options::declared(options::Command::Watch, arg))]
pub struct WatchArgs {
    #[arg(required_unless_present = "targets_file")]
    pub targets: Vec<String>,

    #[arg(long)]
    pub targets_file: Option<String>,

    #[arg(long)]
    pub duration: Option<String>,

    #[arg(long)]
    pub rate: String,

    #[arg(long)]
    pub max_in_flight: String,

    #[arg(long)]
    pub max_downtime: Option<String>,

    #[arg(long)]
    pub max_outages: Option<String>,

    #[arg(long)]
    pub min_availability: Option<String>,

    #[arg(
        long,
        num_args = 0..=1,
        default_missing_value = "only",
        value_parser = ["only", "both"]
    )]
    pub keep_alive: Option<String>,

    #[arg(long)]
    pub report: Option<String>,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
#[command(mut_args = |arg| options::declared(options::Command::Exporter, arg))]
pub struct ExporterArgs {
    #[arg(long)]
    pub listen: String,

    #[arg(long)]
    pub config: Option<String>,

    #[arg(long)]
    pub blackbox_config: Option<String>,

    #[arg(long)]
    pub allow_target: Vec<String>,

    #[arg(long)]
    pub max_concurrent: String,

    #[arg(long, value_parser = BoolishValueParser::new())]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackoffArg {
    Fixed,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UntilArg {
    Healthy,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
    /// The run's outcome as an OpenMetrics page (`cli/metrics.rs`).
    #[value(name = "openmetrics")]
    OpenMetrics,
    /// A compact Markdown report (`cli/markdown.rs`).
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// The command line as the binary parses it: [`Cli`], with every option that takes one
/// value also taking one that starts with `-` (`--timeout -5s`, `--successes -1`), so that a
/// negative number is judged — one line naming the option — rather than taken for a flag.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    for name in ["wait", "check", "watch"] {
        command = command.mut_subcommand(name, |sub| {
            sub.mut_args(|arg| {
                if takes_one_value(&arg) {
                    arg.allow_hyphen_values(true)
                } else {
                    arg
                }
            })
        });
    }
    command
}

/// A named option that takes exactly one value (not a switch, not `--jitter [RATIO]`).
fn takes_one_value(arg: &clap::Arg) -> bool {
    let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    !arg.is_positional() && arg.get_action().takes_values() && !optional
}

/// Options whose value may be left out (`--jitter [RATIO]`, `watch --keep-alive [MODE]`) take
/// the next word only when it is one of their values: `--jitter http://…` means `--jitter`
/// alone, where clap would take the URL as the ratio. Rewritten — `--jitter=0.3` with its
/// value, or moved to the end of the options when alone — the words are unambiguous.
pub fn normalize(
    command: &clap::Command,
    args: impl IntoIterator<Item = OsString>,
) -> Vec<OsString> {
    let args: Vec<OsString> = args.into_iter().collect();
    let Some(position) = args
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|p| p + 1)
    else {
        return args;
    };
    let Some(sub) = command.find_subcommand(args[position].to_string_lossy().as_ref()) else {
        return args;
    };
    let optional: Vec<&clap::Arg> = sub
        .get_arguments()
        .filter(|a| a.get_long().is_some() && a.get_num_args().is_some_and(|n| n.min_values() == 0))
        .collect();
    let mut out: Vec<OsString> = args[..=position].to_vec();
    let mut alone = Vec::new();
    let mut rest = args[position + 1..].iter();
    let mut command_part = Vec::new();
    while let Some(word) = rest.next() {
        let text = word.to_string_lossy();
        if text == "--" {
            command_part.push(word.clone());
            command_part.extend(rest.cloned());
            break;
        }
        let Some(arg) = optional
            .iter()
            .find(|a| text.strip_prefix("--") == a.get_long())
        else {
            out.push(word.clone());
            continue;
        };
        match rest.as_slice().first().map(|n| n.to_string_lossy()) {
            Some(value) if is_value_of(arg, &value) => {
                out.push(format!("{text}={value}").into());
                rest.next();
            }
            _ => alone.push(word.clone()),
        }
    }
    out.extend(alone);
    out.extend(command_part);
    out
}

/// Whether `word` is a value of an option with an optional value: one of its choices, or a
/// number (a bad number is then judged with the option named).
fn is_value_of(arg: &clap::Arg, word: &str) -> bool {
    let choices = arg.get_possible_values();
    if choices.is_empty() {
        word.trim().parse::<f64>().is_ok()
    } else {
        choices.iter().any(|c| c.matches(word, false))
    }
}

/// Our one line for the clap errors that would otherwise mislead: a bad switch variable
/// (`STILLUP_INSECURE=maybe`, which clap blames on `--insecure`) and an option of `wait` given
/// to `check` (which clap answers with "use '-- --timeout'"). `args` is the command line.
pub fn usage_line(
    command: &clap::Command,
    args: &[OsString],
    error: &clap::Error,
) -> Option<String> {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let sub = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .and_then(|name| command.find_subcommand(name.as_ref()))?;
    match error.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            // Named as given: the flag when it is on the command line, else its variable.
            let flag = context(ContextKind::InvalidArg)?;
            let long = flag.strip_prefix("--")?.split([' ', '=']).next()?;
            let arg = sub.get_arguments().find(|a| a.get_long() == Some(long))?;
            let on_line = args.iter().any(|a| {
                let a = a.to_string_lossy();
                a == format!("--{long}")
                    || a.starts_with(&format!("--{long}="))
                    || arg.get_short().is_some_and(|c| a == format!("-{c}"))
            });
            let name = match arg.get_env() {
                Some(var) if !on_line => var.to_string_lossy().into_owned(),
                _ => format!("--{long}"),
            };
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            let choices: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            let expected = if matches!(arg.get_action(), ArgAction::SetTrue) {
                "expected true or false (or yes/no, on/off, 1/0)".to_string()
            } else if choices.is_empty() {
                return None;
            } else {
                format!("expected one of {}", choices.join(", "))
            };
            Some(format!("invalid {name} {value:?}: {expected}"))
        }
        ErrorKind::UnknownArgument if matches!(sub.get_name(), "check" | "watch") => {
            let given = context(ContextKind::InvalidArg)?;
            let long = given.strip_prefix("--")?.split('=').next()?.to_string();
            let wait = command.find_subcommand("wait")?;
            wait.get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))?;
            let name = sub.get_name();
            Some(match (name, long.as_str()) {
                ("check", "timeout") => "--timeout is an option of wait, not of check: check \
                                         makes one attempt, bounded by --attempt-timeout"
                    .to_string(),
                ("watch", "timeout") => "--timeout is an option of wait, not of watch: watch \
                                         runs for --duration (or as long as -- COMMAND)"
                    .to_string(),
                ("check", _) => {
                    format!("--{long} is an option of wait, not of check, which makes one attempt")
                }
                _ => {
                    format!("--{long} is an option of wait, not of watch, which samples at --rate")
                }
            })
        }
        _ => None,
    }
}

/// Which options were given explicitly — on the command line or through their `STILLUP_*`
/// variable — rather than left at clap's default. Keys are long flag names (`timeout`,
/// `header`) or, for positional arguments, clap's id (`targets`).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    given: HashMap<String, Given>,
}

/// How an option was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    CommandLine,
    /// Through this environment variable.
    Env(String),
}

impl Sources {
    /// What `matches` (of the whole command line) says about the options of its subcommand.
    pub fn of(command: &clap::Command, matches: &ArgMatches) -> Sources {
        let mut given = HashMap::new();
        let Some((name, matches)) = matches.subcommand() else {
            return Sources { given };
        };
        let Some(command) = command.find_subcommand(name) else {
            return Sources { given };
        };
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let key = arg.get_long().unwrap_or(id).to_string();
            let how = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => Given::CommandLine,
                Some(ValueSource::EnvVariable) => Given::Env(
                    arg.get_env()
                        .map(|v| v.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => continue,
            };
            given.insert(key, how);
        }
        Sources { given }
    }

    /// Set by a flag or its variable, so a config file does not override it.
    pub fn explicit(&self, key: &str) -> bool {
        self.given.contains_key(key)
    }

    /// Every option set through a variable, with the variable's name.
    pub fn variables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.given.iter().filter_map(|(key, how)| match how {
            Given::Env(var) => Some((key.as_str(), var.as_str())),
            Given::CommandLine => None,
        })
    }

    /// The variable that set `key`, if one did.
    pub fn env(&self, key: &str) -> Option<&str> {
        match self.given.get(key) {
            Some(Given::Env(var)) => Some(var),
            _ => None,
        }
    }
}

/// One of a value enum's names, e.g. `fixed` for [`BackoffArg`], as the command line takes it.
pub fn choice<T: ValueEnum>(raw: &str) -> Result<T, String> {
    T::from_str(raw.trim(), false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        format!("expected one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The README's rule: `--max-body` is also `STILLUP_MAX_BODY`, for every option of
    /// `wait` and `check`; the targets are `STILLUP_TARGETS`; `-- COMMAND` has none.
    #[test]
    fn every_option_of_wait_and_check_has_its_stillup_variable() {
        let cli = Cli::command();
        for name in ["wait", "check"] {
            let command = cli.find_subcommand(name).unwrap();
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version" | "command") {
                    continue;
                }
                let expected = match arg.get_long() {
                    Some(long) => format!("STILLUP_{}", long.replace('-', "_").to_uppercase()),
                    None => format!("STILLUP_{}", id.to_uppercase()),
                };
                assert_eq!(
                    arg.get_env().map(|v| v.to_string_lossy().into_owned()),
                    Some(expected),
                    "{name} {id}"
                );
            }
        }
    }

    #[test]
    fn sources_tell_flags_and_variables_from_defaults() {
        let command = Cli::command();
        let matches = command
            .clone()
            .try_get_matches_from(["stillup", "wait", "http://h/", "--timeout", "5s"])
            .unwrap();
        let sources = Sources::of(&command, &matches);
        assert!(sources.explicit("timeout"));
        assert!(sources.explicit("targets"));
        assert!(!sources.explicit("interval"), "a default is not explicit");
        assert_eq!(sources.env("timeout"), None);
    }

    #[test]
    fn wait_defaults_ignore_the_environment() {
        let defaults = WaitArgs::defaults();
        assert_eq!(defaults.timeout, "2m");
        assert_eq!(defaults.probe.expect_status, "2xx");
        assert!(defaults.fail_when.is_empty());
    }

    #[test]
    fn optional_values_take_only_a_value_of_their_own() {
        let command = command();
        let words = |args: &[&str]| -> Vec<String> {
            normalize(&command, args.iter().map(OsString::from))
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            words(&[
                "stillup",
                "wait",
                "--jitter",
                "http://h/",
                "--timeout",
                "5s"
            ]),
            [
                "stillup",
                "wait",
                "http://h/",
                "--timeout",
                "5s",
                "--jitter"
            ]
        );
        assert_eq!(
            words(&["stillup", "wait", "--jitter", "0.3", "http://h/"]),
            ["stillup", "wait", "--jitter=0.3", "http://h/"]
        );
        assert_eq!(
            words(&[
                "stillup",
                "wait",
                "--jitter",
                "http://h/",
                "--",
                "cmd",
                "--jitter"
            ]),
            [
                "stillup",
                "wait",
                "http://h/",
                "--jitter",
                "--",
                "cmd",
                "--jitter"
            ]
        );
        assert_eq!(
            words(&["stillup", "watch", "--keep-alive", "both", "http://h/"]),
            ["stillup", "watch", "--keep-alive=both", "http://h/"]
        );
        assert_eq!(
            words(&["stillup", "watch", "--keep-alive", "http://h/"]),
            ["stillup", "watch", "http://h/", "--keep-alive"]
        );
    }

    #[test]
    fn choices_list_the_names() {
        assert_eq!(choice::<BackoffArg>("fixed"), Ok(BackoffArg::Fixed));
        assert_eq!(
            choice::<BackoffArg>("linear").unwrap_err(),
            "expected one of fixed, exponential"
        );
    }
}
