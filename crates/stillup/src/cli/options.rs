//! Every option of `wait`, `check` and `watch`, declared once: its name (the long flag, the
//! config file's key and, upper-cased, the `STILLUP_*` variable), its value, whether the
//! config file takes it for one target or for the whole run, the commands that have it and
//! the kinds of target it applies to.
//!
//! What derives from [`OPTIONS`]: each option's `--help` text, short flag, value name,
//! default, its `STILLUP_*` variable and whether `--help` hides the variable's value (clap's
//! `mut_args` in `args.rs` calls [`declared`]); the config file's keys, their types and which
//! table may hold them (`file.rs`); the "does not apply to this kind" check (`config.rs`), by
//! what each kind of the registry can do; which variables are split into lines; the README's
//! applicability table ([`applicability_table`]). What the tests below check against it: the
//! rest of clap's arguments (`args.rs`: names, choices, switches and lists, which commands
//! have them), the fields the config file's values are layered into, and the README's flag
//! table, config key lists and variable lists.
//!
//! An option is either used for a target or refused before any request — never accepted and
//! silently ignored.

pub use stillup_core::probe::Kind;

/// The kinds of target an option applies to, by what the kind can do rather than by name:
/// a new protocol gets the TLS, login and token options from its own entry in the registry
/// (`stillup_core::probe`), without an edit here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Every kind.
    All,
    /// HTTP targets only (the request, the response's conditions).
    Http,
    /// HTTP and gRPC: request metadata (a gRPC call is an HTTP/2 request).
    HttpGrpc,
    /// Kinds that may speak TLS.
    Tls,
    /// Kinds that log in with a user and a secret.
    Login,
    /// Kinds that log in with a token.
    Token,
}

impl Applies {
    /// Whether an option of this applicability means something for `kind`.
    pub fn to(self, kind: Kind) -> bool {
        let info = kind.info();
        match self {
            Applies::All => true,
            Applies::Http => kind == Kind::Http,
            Applies::HttpGrpc => matches!(kind, Kind::Http | Kind::Grpc),
            Applies::Tls => info.speaks_tls,
            Applies::Login => info.takes_login,
            Applies::Token => info.takes_token,
        }
    }
}

use Applies::{
    All as ALL, Http as HTTP, HttpGrpc as HTTP_GRPC, Login as LOGIN, Tls as TLS, Token as TOKEN,
};

/// A command that has options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Wait,
    Check,
    Watch,
    Exporter,
}

impl Command {
    pub const ALL: &'static [Command] = &[
        Command::Wait,
        Command::Check,
        Command::Watch,
        Command::Exporter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Wait => "wait",
            Command::Check => "check",
            Command::Watch => "watch",
            Command::Exporter => "exporter",
        }
    }
}

const WAIT: &[Command] = &[Command::Wait];
const WAIT_CHECK: &[Command] = &[Command::Wait, Command::Check];
const WATCH: &[Command] = &[Command::Watch];
const EXPORTER: &[Command] = &[Command::Exporter];
/// The commands that probe targets they are given.
const EVERY: &[Command] = &[Command::Wait, Command::Check, Command::Watch];

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
    pub kinds: Applies,
    /// `--help`'s text for it, as this command has it.
    pub help: &'static str,
}

const fn opt(
    name: &'static str,
    value: Value,
    scope: Scope,
    commands: &'static [Command],
    kinds: Applies,
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
        help: "",
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
    const fn help(mut self, text: &'static str) -> Opt {
        self.help = text;
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
#[rustfmt::skip]
pub const OPTIONS: &[Opt] = &[
    // What to probe and how many must be ready.
    opt("targets", Positional("TARGET"), CommandLine, WAIT_CHECK, ALL).secret()
        .help("Targets: http:// and https:// URLs; http+unix://SOCKET/path with the socket path percent-encoded (http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping); tcp://host:port; grpc://host:port[/SERVICE] and grpcs://… (the standard gRPC health check); databases and brokers by their own protocols: postgres:// (postgresql://), mysql:// (mariadb://), redis:// (rediss://), amqp:// (amqps://), mqtt:// (mqtts://), nats:// (nats+tls://), ready when they accept connections, or logged in with the credentials in the URL or --user; or @NAME for [targets.NAME] of --config. Several may be given; all must be ready unless --any or --require says otherwise. STILLUP_TARGETS takes several, separated by spaces or newlines"),
    opt("config", One("FILE"), CommandLine, WAIT_CHECK, ALL)
        .help("A TOML file of [defaults] and named [targets.NAME]; flags and STILLUP_* variables override it. Without targets on the command line, all of its targets are used"),
    opt("targets-file", One("FILE"), CommandLine, WAIT_CHECK, ALL)
        .help("Read more targets from a file, one per line ('#' starts a comment); '-' reads stdin"),
    opt("any", Switch, Run, WAIT_CHECK, ALL)
        .help("Ready when any one target is"),
    opt("require", One("K"), Run, WAIT_CHECK, ALL)
        .help("Ready when at least K targets are"),
    // The schedule and the goal.
    opt("until", Choice(&["healthy", "down"]), Run, WAIT, ALL).default("healthy")
        .help("Wait until the targets are healthy, or until they are down (stop answering or stop being healthy — for the old pods of a rollout)"),
    opt("successes", One("N"), Run, WAIT, ALL).default("1")
        .help("Consecutive attempts that must reach the goal before a target counts (flapping services)"),
    opt("fail-fast", Many("CLASSES"), Run, WAIT, ALL)
        .help("Give up at once on failures that waiting will not heal: failure classes (stillup classes lists them), comma-separated, http_status narrowed by codes joined with '+', e.g. tls_verify,http_status:401+403. Repeatable"),
    opt("fail-when", Many("EXPR"), PerTarget, WAIT, HTTP)
        .help("A JSON condition that, when it holds, means the service failed for good; the run stops at once, e.g. '$.status == \"failed\"'. Repeatable"),
    opt("timeout", One("DURATION"), Run, WAIT, ALL).default("2m")
        .help("Overall deadline: give up when it passes (e.g. 30s, 2m, 1h)"),
    opt("interval", One("DURATION"), Run, WAIT, ALL).default("1s")
        .help("Time between the starts of two attempts (at least 10ms)"),
    opt("backoff", Choice(&["fixed", "exponential"]), Run, WAIT, ALL).default("fixed")
        .help("How the interval grows: fixed, or exponential (doubling up to --max-interval)"),
    opt("max-interval", One("DURATION"), Run, WAIT, ALL).default("30s")
        .help("Cap on the interval (at least 10ms)"),
    opt("jitter", Optional("RATIO"), Run, WAIT, ALL)
        .help("Shorten each interval by a random fraction up to RATIO (0 to 1; 0.5 when given alone), so many waiters don't poll in lockstep"),
    opt("keep-alive", Switch, Run, WAIT, HTTP)
        .help("Reuse HTTP/1.1 connections for later attempts instead of opening a fresh one each time; targets on the same server (scheme, host, port) share them, so thousands of paths on one server need only as many connections as attempts in flight. Off by default, because a reused connection keeps asking the same server process where a load balancer might send a fresh one to another"),
    opt("refused-interval", One("DURATION"), Run, EVERY, ALL).default("100ms")
        .help("While the port refuses connections, re-probe this often: at least 10ms, or 0s to just use --interval"),
    opt("attempt-timeout", One("DURATION"), Run, EVERY, ALL).default("3s")
        .help("Bound on one attempt; never runs past the overall deadline"),
    // What makes an attempt healthy. Every kind has an answer whose latency can be bounded:
    // the response (HTTP), the accepted connection (TCP), the health call's answer (gRPC).
    opt("expect-status", One("CODES"), PerTarget, EVERY, HTTP).default("2xx")
        .help("Status codes that count as healthy: codes, ranges and classes, e.g. 200, 200-299, 2xx,301"),
    opt("expect-json", Many("EXPR"), PerTarget, EVERY, HTTP)
        .help("A JSON condition on the body: 'PATH OP VALUE' with an RFC 9535 JSONPath and one of == != < <= > >=, or 'PATH exists' / 'PATH !exists'. Repeatable; all must hold. E.g. '$.status == \"healthy\"', '$.checks.db exists', '$.replicas >= 3'"),
    opt("expect-body", Many("REGEX"), PerTarget, EVERY, HTTP)
        .help("A regular expression the body must match. Repeatable"),
    opt("reject-body", Many("REGEX"), PerTarget, EVERY, HTTP)
        .help("A regular expression the body must not match. Repeatable"),
    opt("expect-header", Many("HEADER"), PerTarget, EVERY, HTTP)
        .help("A response header that must be present ('Name') or match ('Name: REGEX'). Repeatable"),
    opt("max-latency", One("DURATION"), PerTarget, EVERY, ALL)
        .help("Slowest acceptable answer: the HTTP response (headers and body), the accepted TCP connection, the gRPC health call's answer"),
    opt("max-body", One("SIZE"), PerTarget, EVERY, HTTP).default("1MiB")
        .help("Largest body read, e.g. 64KiB, 1MiB, 500000; a larger body fails the attempt"),
    // The request.
    opt("method", One("METHOD"), PerTarget, EVERY, HTTP).short('X').default("GET")
        .help("HTTP method"),
    opt("header", Many("HEADER"), PerTarget, EVERY, HTTP_GRPC).short('H').secret()
        .help("A request header, 'Name: value'. Repeatable; replaces stillup's own of the same name"),
    opt("data", One("DATA"), PerTarget, EVERY, HTTP).secret()
        .help("A request body, sent afresh on every attempt"),
    opt("data-file", One("FILE"), PerTarget, EVERY, HTTP)
        .help("Read the request body from a file ('-' for stdin), once, before the first attempt"),
    opt("user", One("USER:SECRET"), PerTarget, EVERY, LOGIN).short('u').secret()
        .help("Basic auth as USER:SECRET, where SECRET is env:VAR, file:PATH or (visible in process lists, so avoid it) the password itself"),
    opt("bearer", One("SECRET"), PerTarget, EVERY, TOKEN).secret()
        .help("Bearer token: env:VAR, file:PATH or (visible in process lists) the token itself"),
    opt("http2", Switch, PerTarget, EVERY, HTTP)
        .help("Speak HTTP/2: offered by ALPN on https (HTTP/1.1 if the server declines), with prior knowledge (h2c) on plain http"),
    opt("no-follow", Switch, PerTarget, EVERY, HTTP)
        .help("Do not follow redirects: a 3xx is judged as it is"),
    // TLS (https://, grpcs://).
    opt("insecure", Switch, PerTarget, EVERY, TLS).short('k')
        .help("Accept any TLS certificate (the handshake still happens)"),
    opt("cacert", Many("FILE"), PerTarget, EVERY, TLS)
        .help("Also trust the authorities in this PEM file, on top of the system's store (SSL_CERT_FILE / SSL_CERT_DIR when set); a server presenting exactly a certificate in it (self-signed, or its own leaf) is trusted as that server. Repeatable"),
    opt("cert", One("FILE"), PerTarget, EVERY, TLS)
        .help("Client certificate chain (PEM) for mutual TLS; needs --key"),
    opt("key", One("FILE"), PerTarget, EVERY, TLS)
        .help("Private key (PEM) of --cert"),
    // Where to connect.
    opt("resolve", Many("HOST:PORT:ADDRESS"), PerTarget, EVERY, ALL)
        .help("Connect to ADDRESS for HOST:PORT instead of resolving it: HOST:PORT:ADDRESS. The Host header and TLS name stay HOST. Repeatable"),
    opt("connect-to", Many("HOST:PORT:HOST2:PORT2"), PerTarget, EVERY, ALL)
        .help("Connect to HOST2:PORT2 in place of HOST:PORT (empty parts match any / keep the same), e.g. api.example:443:pod-7.internal:8443, to probe one backend behind a name. Repeatable"),
    // Output.
    opt("output", Choice(&["human", "json", "openmetrics", "markdown"]), Run, EVERY, ALL).short('o').default("human")
        .help("What goes to stdout. human: nothing there, a line per attempt and a timeline on stderr; json: one JSON document; openmetrics: the outcome as OpenMetrics metrics; markdown: a compact report for CI summaries and pull requests"),
    opt("output-file", Many("FILE"), Run, EVERY, ALL)
        .help("Also write the outcome to FILE, in the format its extension names: .json, .prom (Prometheus' text format, for node_exporter's textfile collector and Pushgateway), .om or .openmetrics (OpenMetrics), .html (watch's report); or as FORMAT=FILE with json, prometheus, openmetrics or html. Checked before the run, replaced whole at its end. Repeatable"),
    opt("quiet", Switch, Run, EVERY, ALL).short('q')
        .help("Print nothing; the exit code says it all"),
    opt("color", Choice(&["auto", "always", "never"]), Run, EVERY, ALL).default("auto")
        .help("Colour: auto (only on a terminal, off when NO_COLOR is set), always or never"),
    // watch's own; watch reads no config file, and its targets have no variable.
    opt("targets", Positional("TARGET"), CommandLine, WATCH, ALL).no_env()
        .help("Targets, as for wait: http://, https://, http+unix://, tcp://, grpc://, grpcs://, postgres://, mysql://, redis://, rediss://, amqp://, amqps://, mqtt://, mqtts://, nats://, nats+tls:// (and their aliases postgresql://, mariadb://)"),
    opt("targets-file", One("FILE"), CommandLine, WATCH, ALL).no_env()
        .help("Read more targets from a file, one per line ('#' starts a comment); '-' reads stdin"),
    opt("duration", One("DURATION"), CommandLine, WATCH, ALL)
        .help("How long to watch (e.g. 30s, 10m); without it, until Ctrl-C or until COMMAND ends"),
    opt("rate", One("RATE"), CommandLine, WATCH, ALL).default("10/s")
        .help("Samples per second per target: 10/s, 100/s, 30/m, or a plain number per second"),
    opt("max-in-flight", One("N"), CommandLine, WATCH, ALL).default("64")
        .help("Most samples of one target in flight at once; later samples wait (and their latency, measured from their scheduled start, shows it)"),
    opt("max-downtime", One("DURATION"), CommandLine, WATCH, ALL)
        .help("Fail (exit 4) when any target was down longer than this in total, e.g. 0s"),
    opt("max-outages", One("N"), CommandLine, WATCH, ALL)
        .help("Fail (exit 4) when any target had more outages than this"),
    opt("min-availability", One("PERCENT"), CommandLine, WATCH, ALL)
        .help("Fail (exit 4) when any target's availability was below this percentage, e.g. 99.9"),
    opt("keep-alive", Optional("MODE"), CommandLine, WATCH, HTTP).no_env()
        .help("Reuse HTTP/1.1 connections between samples instead of a fresh one each: `only` (the default when given alone), or `both` to watch each target both ways and report them side by side"),
    opt("report", One("FILE"), CommandLine, WATCH, ALL).no_env()
        .help("Also write a self-contained HTML report (timeline chart and latency) to FILE, as --output-file html=FILE does"),
    // What to run: `wait` after success, `watch` as long as it runs.
    opt("command", Positional("COMMAND"), CommandLine, WAIT, ALL).no_env()
        .help("A command to run once the targets are healthy (never after a failure); stillup exits with its exit code and forwards SIGINT, SIGTERM and SIGHUP to it"),
    opt("command", Positional("COMMAND"), CommandLine, WATCH, ALL).no_env()
        .help("Watch exactly as long as this command runs (e.g. kubectl rollout status …); its non-zero exit code is passed through"),
    // The exporter's own: it probes what Prometheus asks for, with a module's options.
    opt("listen", One("ADDRESS"), CommandLine, EXPORTER, ALL).default("127.0.0.1:9115")
        .help("Where to serve /probe, /metrics and /: HOST:PORT (port 0 picks a free one). Loopback unless told otherwise: anyone who reaches an exporter can make it probe any address --allow-target permits"),
    opt("config", One("FILE"), CommandLine, EXPORTER, ALL)
        .help("A TOML file of [modules.NAME] tables (prober = \"http\" and the options of a target, e.g. expect-status, cacert, attempt-timeout) and [defaults] under them all; reloaded on SIGHUP and POST /-/reload"),
    opt("blackbox-config", One("FILE"), CommandLine, EXPORTER, ALL)
        .help("A blackbox_exporter blackbox.yml whose modules are served as well: its common subset (http, tcp and grpc probers); anything else is refused with file, line and key"),
    opt("allow-target", Many("PATTERN"), CommandLine, EXPORTER, ALL)
        .help("Hosts /probe may reach: a name (api.internal), a suffix (*.internal), an address, or a CIDR range (10.0.0.0/8, fd00::/8). Repeatable; without it every target is allowed"),
    opt("max-concurrent", One("N"), CommandLine, EXPORTER, ALL).default("128")
        .help("Most probes in flight at once; a scrape beyond it gets 503 at once, so Prometheus marks the scrape (not the target) failed"),
    opt("quiet", Switch, CommandLine, EXPORTER, ALL).short('q')
        .help("Log only start-up, reloads and the exporter's own errors, not each failed probe"),
];

/// `arg` of `command` as declared: its help text, short flag, value name, and its variable,
/// whose value `--help` hides when it may hold a secret. Each command's clap derive calls it
/// for every argument.
pub fn declared(command: Command, arg: clap::Arg) -> clap::Arg {
    let name = arg.get_long().unwrap_or(arg.get_id().as_str()).to_string();
    let Some(option) = find(command, &name) else {
        return arg;
    };
    let arg = arg.help(option.help).hide_env_values(option.secret);
    // The default is declared once, here; an argument with one is never required.
    let arg = match option.default {
        Some(default) => arg.default_value(default).required(false),
        None => arg,
    };
    let arg = match option.value {
        One(name) | Many(name) | Optional(name) | Positional(name) => arg.value_name(name),
        Switch | Choice(_) => arg,
    };
    let arg = match option.short {
        Some(c) => arg.short(c),
        None => arg,
    };
    match option.variable() {
        Some(variable) => arg.env(variable),
        None => arg,
    }
}

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
pub fn kinds(key: &str) -> Vec<Kind> {
    let applies = OPTIONS.iter().find(|o| o.name == key).map(|o| o.kinds);
    Kind::ALL
        .iter()
        .copied()
        .filter(|kind| applies.is_some_and(|a| a.to(*kind)))
        .collect()
}

/// Whether `key` means something for a target of `kind`.
pub fn applies(key: &str, kind: Kind) -> bool {
    kinds(key).contains(&kind)
}

/// "http://, https://, http+unix://, grpc://, grpcs:// targets", for messages.
pub fn described(key: &str) -> String {
    let schemes: Vec<String> = kinds(key).iter().map(|k| k.info().scheme_list()).collect();
    format!("{} targets", schemes.join(", "))
}

/// The README's table of which options apply to which kind of target: a column per kind of
/// the registry, a row per [`Applies`], the flags of each row in [`OPTIONS`]' order.
pub fn applicability_table() -> String {
    let mut columns = vec!["options".to_string()];
    columns.extend(Kind::ALL.iter().map(|kind| {
        let schemes: Vec<String> = kind
            .info()
            .schemes
            .iter()
            .map(|s| format!("`{s}://`"))
            .collect();
        schemes.join(" ")
    }));
    let mut table = format!("| {} |\n", columns.join(" | "));
    table.push_str(&"|---".repeat(columns.len()));
    table.push_str("|\n");
    let rows = [
        Applies::Http,
        Applies::HttpGrpc,
        Applies::Login,
        Applies::Token,
        Applies::Tls,
        Applies::All,
    ];
    for applies in rows {
        let mut flags: Vec<String> = Vec::new();
        for option in OPTIONS.iter().filter(|o| o.kinds == applies) {
            let flag = match (option.value, option.short) {
                (Positional(_), _) => continue,
                (_, Some(short)) => format!("`-{short}`/`--{}`", option.name),
                (_, None) => format!("`--{}`", option.name),
            };
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        }
        let label = match applies {
            Applies::All => "everything else: timing, `--max-latency`, `--resolve`, `--connect-to`, output, `watch`'s own".to_string(),
            _ => flags.join(", "),
        };
        let cells: Vec<&str> = Kind::ALL
            .iter()
            .map(|kind| if applies.to(*kind) { "yes" } else { "refused" })
            .collect();
        table.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    table
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
                    arg.get_help().map(ToString::to_string).as_deref(),
                    Some(declared.help),
                    "{what}: help"
                );
                assert!(!declared.help.is_empty(), "{what} has no help");
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
            assert!(
                Kind::ALL.iter().any(|k| a.kinds.to(*k)),
                "{} applies to no kind",
                a.name
            );
        }
    }

    /// Every repeatable option is split into lines when its variable sets it: the lists the
    /// split walks are the declared repeatable options.
    #[test]
    fn every_repeatable_option_is_split_from_its_variable() {
        let mut wait = super::super::args::WaitArgs::defaults();
        let mut listed: Vec<&str> = wait.lists_mut().iter().map(|(k, _)| *k).collect();
        listed.extend(wait.probe.lists_mut().iter().map(|(k, _)| *k));
        listed.extend(wait.output.lists_mut().iter().map(|(k, _)| *k));
        listed.sort_unstable();
        // The exporter splits its own (`allow-target`) where it reads it.
        let mut declared: Vec<&str> = OPTIONS
            .iter()
            .filter(|o| matches!(o.value, Many(_)) && o.commands != EXPORTER)
            .map(|o| o.name)
            .collect();
        declared.sort_unstable();
        assert_eq!(listed, declared);
    }

    /// `--help` names every scheme of the registry, for wait and check and for watch.
    #[test]
    fn the_targets_help_names_every_scheme() {
        for command in Command::ALL {
            let Some(targets) = find(*command, "targets") else {
                continue;
            };
            let help = targets.help;
            for kind in Kind::ALL {
                for scheme in kind.info().schemes {
                    assert!(
                        help.contains(&format!("{scheme}://")),
                        "{}'s targets help misses {scheme}://",
                        command.name()
                    );
                }
            }
        }
    }

    #[test]
    fn http_only_options_name_the_kinds_they_apply_to() {
        assert!(!applies("expect-status", Kind::Tcp));
        assert!(applies("max-latency", Kind::Tcp));
        assert!(applies("header", Kind::Grpc));
        assert_eq!(
            described("expect-status"),
            "http://, https://, http+unix:// targets"
        );
        assert_eq!(
            find(Command::Wait, "max-body").and_then(Opt::variable),
            Some("STILLUP_MAX_BODY".to_string())
        );
        assert_eq!(config_key("timeout").map(|o| o.scope), Some(Scope::Run));
        assert_eq!(config_key("header").map(|o| o.scope), Some(Scope::Target));
        assert!(config_key("targets-file").is_none());
    }

    const README: &str = include_str!("../../../../README.md");

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

    /// The README's table of which options apply to which kind of target is the one
    /// [`applicability_table`] makes from [`OPTIONS`] and the registry's kinds: a new kind or
    /// option changes it, and this test prints the table to paste.
    #[test]
    fn the_readmes_applicability_table_is_the_declaration() {
        let table = applicability_table();
        assert!(
            README.contains(&table),
            "the README's applicability table differs from the declaration; it should read:\n\n{table}"
        );
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
