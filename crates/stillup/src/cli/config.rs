//! From strings to a validated run: durations, sizes, URL, conditions and the presentation
//! decision (colour, spinner, format), all settled before any socket opens.
//!
//! Values come from flags, `STILLUP_*` variables and the config file, in that order of
//! precedence (`file.rs` layers the file under the other two). Every rejection names where
//! the value came from — the flag, the variable, or the file, line and key — the bad value
//! and the fix.

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::Method;

use stillup_core::backoff::{Backoff, BackoffKind};
use stillup_core::condition::{BodyPattern, Conditions, HeaderCondition, JsonCondition, StatusSet};
use stillup_core::login::Login;
use stillup_core::net::overrides::{
    AddressOverrides, ConnectToRule, FamilyPreference, ResolveRule,
};
use stillup_core::net::proxy::{ProxyError, ProxySettings};
use stillup_core::net::tls::{client_config, Pem, TlsConfigError, TlsOptions};
use stillup_core::net::trust::system_trust;
use stillup_core::probe::{Configure, ConnectionPool};
use stillup_core::redact::{is_sensitive_header, Secret};
use stillup_core::{FailFast, Probe, Require, Target, Until, WaitPolicy};

use super::args::{
    BackoffArg, CheckArgs, ColorArg, OutputArgs, OutputFormat, ProbeArgs, Sources, TargetArgs,
    UntilArg, WaitArgs,
};
use super::file::{is_per_target, ConfigFile, FileTarget};
use super::input::{read_input, stdin_waited};
pub use super::input::{
    Input, Limit, Origin, Origins, UsageError, MAX_CONFIG_FILE, MAX_DATA_FILE, MAX_SECRET_FILE,
    MAX_TARGETS_FILE, MAX_TLS_FILE,
};
use super::options::{self, Kind};
use super::output_file::{self, OutputFile};

/// How results are shown, decided once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presentation {
    pub format: OutputFormat,
    pub quiet: bool,
    pub color: bool,
    pub spinner: bool,
}

/// A validated run.
#[derive(Debug)]
pub struct RunConfig {
    pub command: &'static str,
    pub probes: Vec<Probe>,
    /// Per probe: its `[targets.NAME]` when it came from a config file.
    pub names: Vec<Option<String>>,
    pub policy: WaitPolicy,
    pub require: Require,
    pub presentation: Presentation,
    /// `-- COMMAND ARGS…` to run after success.
    pub exec: Vec<String>,
    /// `--output-file`s, checked writable; written before `exec` runs.
    pub files: Vec<OutputFile>,
}

pub fn wait_config(args: &WaitArgs, sources: &Sources) -> Result<RunConfig, UsageError> {
    wait_config_loading(args, sources, ConfigFile::load)
}

/// `stillup wait --config PATH` and nothing else, with the file's `text` given instead of
/// read from PATH: the file is checked, layered under the defaults, and every value is
/// judged, as the binary does. This is the entry point of the `config_file` fuzz target;
/// files that the text names (`data-file`, `cacert`, `file:` secrets) are still read.
#[doc(hidden)]
pub fn wait_config_from_text(path: &str, text: &str) -> Result<RunConfig, UsageError> {
    let mut args = WaitArgs::defaults();
    args.targets.targets.clear();
    args.targets.config = Some(path.to_string());
    wait_config_loading(&args, &Sources::default(), |path, _, _| {
        ConfigFile::parse(path, text)
    })
}

fn wait_config_loading(
    args: &WaitArgs,
    sources: &Sources,
    load: impl FnOnce(&str, Origin, &Input) -> Result<ConfigFile, UsageError>,
) -> Result<RunConfig, UsageError> {
    let started = Instant::now();
    let mut args = args.clone();
    for (key, values) in args.lists_mut() {
        split_variable(values, key, sources);
    }
    split_variables(&mut args.targets, &mut args.probe, sources);
    split_output_variables(&mut args.output, sources);
    let mut origins = Origins::new(sources);
    // The file is read within the deadline the flags and variables set (it may set another).
    let early = deadline_input(started, "timeout", &args.timeout, &origins);
    let file = config_file(&args.targets, &origins, &early, load)?;
    if let Some(file) = &file {
        file.apply_wait(&mut args, sources, &mut origins)?;
        file.apply_run(
            &mut args.targets,
            &mut args.probe,
            &mut args.output,
            sources,
            &mut origins,
        )?;
    }
    let poll = poll(&args, &origins)?;
    if poll.until == Until::Down && !args.command.is_empty() {
        return Err(UsageError::new(
            "-- COMMAND",
            &args.command.join(" "),
            "cannot be combined with --until down yet; run the command after stillup in your script",
        ));
    }
    let attempt_timeout = attempt_timeout(&args.probe, &origins)?;
    let refused_interval = refused_interval(&args.probe, &origins)?;
    let input = deadline_input(started, "timeout", &args.timeout, &origins);
    let (mut probes, names) = probes(
        &args.targets,
        &args.probe,
        Some(&args.fail_when),
        file.as_ref(),
        sources,
        &origins,
        &input,
    )?;
    if args.keep_alive {
        for probe in &mut probes {
            if let Probe::Http(http) = probe {
                http.keep_alive = true;
            }
        }
    }
    let policy = WaitPolicy {
        // Time spent waiting for standard input came out of the deadline.
        timeout: poll.timeout.saturating_sub(stdin_waited()),
        attempt_timeout,
        backoff: poll.backoff,
        max_attempts: None,
        until: poll.until,
        successes: poll.successes,
        fail_fast: poll.fail_fast,
        refused_interval: (!refused_interval.is_zero()).then_some(refused_interval),
        ..WaitPolicy::default()
    };
    Ok(RunConfig {
        command: "wait",
        require: require(&args.targets, probes.len(), &origins)?,
        probes,
        names,
        policy,
        presentation: presentation_for(&args.output),
        exec: args.command.clone(),
        files: output_file::files(
            &args.output.output_file,
            &origins,
            None,
            options::Command::Wait,
        )?,
    })
}

/// What only `wait` has: the deadline, the schedule, the goal, when to give up early.
struct Poll {
    timeout: Duration,
    backoff: Backoff,
    until: Until,
    successes: u32,
    fail_fast: FailFast,
}

fn poll(args: &WaitArgs, origins: &Origins) -> Result<Poll, UsageError> {
    let timeout = duration(origins.of("timeout"), &args.timeout)?;
    let interval = at_least_min_interval(origins.of("interval"), &args.interval)?;
    let max_interval = at_least_min_interval(origins.of("max-interval"), &args.max_interval)?;
    if timeout.is_zero() {
        return Err(UsageError::invalid(
            origins.of("timeout"),
            "duration",
            &args.timeout,
            "must be more than 0",
        ));
    }
    let jitter = match &args.jitter {
        None => 0.0,
        Some(raw) => ratio(origins.of("jitter"), raw)?,
    };
    let successes = count(origins.of("successes"), &args.successes)?;
    let mut fail_fast = FailFast::default();
    for (i, raw) in args.fail_fast.iter().enumerate() {
        fail_fast.extend(FailFast::parse(raw).map_err(|e| {
            UsageError::invalid(origins.item("fail-fast", i), "failure classes", raw, e)
        })?);
    }
    Ok(Poll {
        timeout,
        backoff: Backoff {
            kind: match args.backoff {
                BackoffArg::Fixed => BackoffKind::Fixed,
                BackoffArg::Exponential => BackoffKind::Exponential,
            },
            interval,
            max_interval,
            jitter,
        },
        until: match args.until {
            UntilArg::Healthy => Until::Healthy,
            UntilArg::Down => Until::Down,
        },
        successes,
        fail_fast,
    })
}

/// `check` takes the options it shares with `wait`. The config file's wait-only options
/// (`timeout`, `interval`, `fail-when`, …) do not apply to a single attempt, but they are
/// judged all the same: a bad value is never passed over in silence.
pub fn check_config(args: &CheckArgs, sources: &Sources) -> Result<RunConfig, UsageError> {
    let mut args = args.clone();
    split_variables(&mut args.targets, &mut args.probe, sources);
    split_output_variables(&mut args.output, sources);
    let started = Instant::now();
    let mut origins = Origins::new(sources);
    let early = deadline_input(
        started,
        "attempt-timeout",
        &args.probe.attempt_timeout,
        &origins,
    );
    let file = config_file(&args.targets, &origins, &early, ConfigFile::load)?;
    // The options only `wait` has are judged from their variables and the file alike.
    let (mut wait, wait_sources) = WaitArgs::from_variables().map_err(UsageError::Line)?;
    for (key, values) in wait.lists_mut() {
        split_variable(values, key, &wait_sources);
    }
    let mut wait_origins = Origins::new(&wait_sources);
    if let Some(file) = &file {
        file.apply_wait(&mut wait, &wait_sources, &mut wait_origins)?;
    }
    poll(&wait, &wait_origins)?;
    parse_each(
        &wait.fail_when,
        "fail-when",
        "condition",
        &wait_origins,
        JsonCondition::parse,
    )?;
    if let Some(file) = &file {
        file.apply_run(
            &mut args.targets,
            &mut args.probe,
            &mut args.output,
            sources,
            &mut origins,
        )?;
    }
    let attempt_timeout = attempt_timeout(&args.probe, &origins)?;
    // Judged though one attempt never waits for a refused port to open.
    refused_interval(&args.probe, &origins)?;
    let input = deadline_input(
        started,
        "attempt-timeout",
        &args.probe.attempt_timeout,
        &origins,
    );
    let (probes, names) = probes(
        &args.targets,
        &args.probe,
        None,
        file.as_ref(),
        sources,
        &origins,
        &input,
    )?;
    Ok(RunConfig {
        command: "check",
        require: require(&args.targets, probes.len(), &origins)?,
        probes,
        names,
        policy: WaitPolicy::once(attempt_timeout.saturating_sub(stdin_waited())),
        presentation: presentation_for(&args.output),
        exec: Vec::new(),
        files: output_file::files(
            &args.output.output_file,
            &origins,
            None,
            options::Command::Check,
        )?,
    })
}

/// A repeatable option set through its variable holds one value per line (blank lines are
/// skipped), since commas and spaces occur inside values; `STILLUP_TARGETS` holds targets
/// separated by spaces or newlines.
fn split_variable(values: &mut Vec<String>, key: &str, sources: &Sources) {
    if sources.env(key).is_none() {
        return;
    }
    let joined = values.join("\n");
    *values = if key == "targets" {
        joined.split_whitespace().map(str::to_string).collect()
    } else {
        joined
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    };
}

/// The output options' repeatable values, as [`split_variable`] splits them.
pub fn split_output_variables(output: &mut OutputArgs, sources: &Sources) {
    for (key, values) in output.lists_mut() {
        split_variable(values, key, sources);
    }
}

fn split_variables(targets: &mut TargetArgs, probe: &mut ProbeArgs, sources: &Sources) {
    split_variable(&mut targets.targets, "targets", sources);
    for (key, values) in probe.lists_mut() {
        split_variable(values, key, sources);
    }
}

/// The file named by `--config` (or `STILLUP_CONFIG`), read (within `input`'s deadline)
/// and checked by `load`.
fn config_file(
    args: &TargetArgs,
    origins: &Origins,
    input: &Input,
    load: impl FnOnce(&str, Origin, &Input) -> Result<ConfigFile, UsageError>,
) -> Result<Option<ConfigFile>, UsageError> {
    match &args.config {
        None => Ok(None),
        Some(path) => load(path, origins.of("config"), input).map(Some),
    }
}

/// Inputs read within the duration option `key` (`raw`, where `origins` say it came from)
/// from `started`; a value that does not parse bounds nothing here (it is refused later).
fn deadline_input(started: Instant, key: &str, raw: &str, origins: &Origins) -> Input {
    let origin = origins.of(key);
    let budget = duration(&origin, raw).ok();
    let name = if key == "timeout" {
        "deadline"
    } else {
        "attempt timeout"
    };
    Input::by(
        started,
        budget,
        format!("the {} {name} ({origin})", raw.trim()),
    )
}

/// The probes and the per-sample timeout of `watch`, from its flags and variables
/// (`sources`, which also says which of its own options were given).
pub fn watch_probes(
    targets: &TargetArgs,
    probe: &ProbeArgs,
    sources: &Sources,
    duration: Option<&str>,
) -> Result<(Vec<Probe>, Duration), UsageError> {
    let started = Instant::now();
    let origins = Origins::new(sources);
    // Inputs are read within --duration, when the watch has one.
    let input = match duration {
        Some(raw) => deadline_input(started, "duration", raw, &origins),
        None => Input::unbounded(),
    };
    if sources.explicit("refused-interval") {
        return Err(UsageError::invalid(
            origins.of("refused-interval"),
            "duration",
            &probe.refused_interval,
            "watch samples at --rate whatever the answer; this option is wait's",
        ));
    }
    // watch's probe options have wait's variables, a repeatable one a value per line.
    let (mut targets, mut probe) = (targets.clone(), probe.clone());
    split_variables(&mut targets, &mut probe, sources);
    let (targets, probe) = (&targets, &probe);
    let timeout = attempt_timeout(probe, &origins)?;
    let (probes, _) = probes(targets, probe, None, None, sources, &origins, &input)?;
    Ok((probes, timeout))
}

/// The shortest time between two attempts to one target: below it, a typo (`1ns` for `1s`)
/// would flood the target with thousands of requests a second.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// A duration between attempts, refused below [`MIN_INTERVAL`].
fn at_least_min_interval(at: Origin, raw: &str) -> Result<Duration, UsageError> {
    let value = duration(&at, raw)?;
    if value < MIN_INTERVAL {
        return Err(UsageError::invalid(
            at,
            "duration",
            raw,
            "must be at least 10ms, so that polling never floods the target",
        ));
    }
    Ok(value)
}

/// `--refused-interval`: at least [`MIN_INTERVAL`], or `0s` for off.
fn refused_interval(args: &ProbeArgs, origins: &Origins) -> Result<Duration, UsageError> {
    let at = origins.of("refused-interval");
    if duration(&at, &args.refused_interval)?.is_zero() {
        return Ok(Duration::ZERO);
    }
    at_least_min_interval(at, &args.refused_interval).map_err(|e| match e {
        UsageError::Invalid {
            origin,
            kind,
            value,
            problem,
        } => UsageError::Invalid {
            origin,
            kind,
            value,
            problem: format!("{problem} (0s turns it off)"),
        },
        other => other,
    })
}

fn attempt_timeout(args: &ProbeArgs, origins: &Origins) -> Result<Duration, UsageError> {
    let at = origins.of("attempt-timeout");
    let attempt_timeout = duration(&at, &args.attempt_timeout)?;
    if attempt_timeout.is_zero() {
        return Err(UsageError::invalid(
            at,
            "duration",
            &args.attempt_timeout,
            "must be more than 0",
        ));
    }
    Ok(attempt_timeout)
}

fn require(args: &TargetArgs, n: usize, origins: &Origins) -> Result<Require, UsageError> {
    if args.any && args.require.is_some() {
        return Err(UsageError::invalid(
            origins.of("require"),
            "number",
            args.require.as_deref().unwrap_or_default(),
            format!("cannot be combined with any (from {})", origins.of("any")),
        ));
    }
    if args.any {
        return Ok(Require::Any);
    }
    let Some(raw) = &args.require else {
        return Ok(Require::All);
    };
    let at = origins.of("require");
    let k = count(&at, raw)? as usize;
    if k > n {
        return Err(UsageError::invalid(
            at,
            "number",
            raw,
            format!("only {n} target(s) were given"),
        ));
    }
    Ok(Require::AtLeast(k))
}

/// The targets from the command line (or `STILLUP_TARGETS`), then from `--targets-file`.
fn target_strings(
    args: &TargetArgs,
    origins: &Origins,
    input: &Input,
) -> Result<Vec<(String, Origin)>, UsageError> {
    let given = origins.of("targets");
    let mut targets: Vec<(String, Origin)> = args
        .targets
        .iter()
        .map(|t| (t.clone(), given.clone()))
        .collect();
    if let Some(path) = &args.targets_file {
        let at = origins.of("targets-file");
        let bytes = read_input(&at, path, MAX_TARGETS_FILE, input)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            UsageError::invalid(&at, "file", path, "cannot read it: it is not UTF-8 text")
        })?;
        for (number, line) in text.lines().enumerate() {
            let line = strip_comment(line).trim();
            if !line.is_empty() {
                targets.push((
                    line.to_string(),
                    Origin::Arg(format!("{path}:{}", number + 1)),
                ));
            }
        }
    }
    Ok(targets)
}

/// A line of a targets file without its comment: `#` starts one at the start of the line or
/// after whitespace, never inside a URL (a password or a fragment may hold a `#`).
fn strip_comment(line: &str) -> &str {
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        if c == '#' && previous.is_whitespace() {
            return &line[..i];
        }
        previous = c;
    }
    line
}

/// One target to probe: its URL, where it was given, and its table in the config file.
struct Planned<'f> {
    raw: String,
    origin: Origin,
    table: Option<&'f FileTarget>,
}

/// The targets given, with `@NAME` looked up in the config file; with none given, every
/// target of the config file, in its order.
fn plan<'f>(
    args: &TargetArgs,
    file: Option<&'f ConfigFile>,
    origins: &Origins,
    input: &Input,
) -> Result<Vec<Planned<'f>>, UsageError> {
    let given = target_strings(args, origins, input)?;
    if given.is_empty() {
        return match file {
            Some(file) if !file.targets().is_empty() => Ok(file
                .targets()
                .iter()
                .map(|t| Planned {
                    raw: t.url.clone(),
                    origin: t.url_origin.clone(),
                    table: Some(t),
                })
                .collect()),
            Some(file) => Err(UsageError::new(
                "TARGET",
                "",
                format!(
                    "no targets given, and {} has no [targets.NAME] tables; pass URLs or \
                     tcp://host:port, or add targets to the file",
                    file.path()
                ),
            )),
            None => Err(UsageError::new(
                "TARGET",
                "",
                "no targets given; pass URLs (http://, https://, http+unix://), tcp://host:port, \
                 grpc://host:port, or --targets-file",
            )),
        };
    }
    given
        .into_iter()
        .map(|(raw, origin)| {
            let Some(name) = raw.strip_prefix('@') else {
                return Ok(Planned {
                    raw,
                    origin,
                    table: None,
                });
            };
            let Some(file) = file else {
                return Err(UsageError::invalid(
                    origin,
                    "target",
                    &raw,
                    "names a target of a config file, but no --config FILE was given",
                ));
            };
            let Some(table) = file.target(name) else {
                let names: Vec<String> = file
                    .targets()
                    .iter()
                    .map(|t| format!("@{}", t.name))
                    .collect();
                return Err(UsageError::invalid(
                    origin,
                    "target",
                    &raw,
                    format!(
                        "{} has no [targets.{name}]; it has {}",
                        file.path(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            };
            Ok(Planned {
                raw: table.url.clone(),
                origin: table.url_origin.clone(),
                table: Some(table),
            })
        })
        .collect()
}

/// One target's probe options, before validation: flags and variables, then the config
/// file's `[defaults]`, then (for a file target) its own table.
#[derive(Clone)]
struct ProbeInput {
    args: ProbeArgs,
    /// `--fail-when`, judged for both commands but used by `wait` alone.
    fail_when: Vec<String>,
    origins: Origins,
    /// How long reading the files it names may take.
    input: Input,
}

/// What one target's probe is built from, validated.
#[derive(Clone)]
struct ProbeSettings {
    conditions: Conditions,
    max_body: u64,
    request: RequestSettings,
    follow_redirects: bool,
    http2: bool,
    fail_when: Vec<JsonCondition>,
    addresses: AddressOverrides,
    /// Shared by every target with these settings, so that with `--keep-alive` many paths on
    /// one server share connections (each target a pool of its own would open one each).
    pool: ConnectionPool,
}

fn probes(
    targets: &TargetArgs,
    args: &ProbeArgs,
    // `wait`'s --fail-when; `None` for `check` and `watch`, whose probes never use it (a
    // config file's is still judged).
    fail_when: Option<&[String]>,
    file: Option<&ConfigFile>,
    sources: &Sources,
    origins: &Origins,
    input: &Input,
) -> Result<(Vec<Probe>, Vec<Option<String>>), UsageError> {
    let plan = plan(targets, file, origins, input)?;
    // One copy for the run, shared by every HTTP probe.
    let proxies = std::sync::Arc::new(ProxySettings::from_env());
    let mut base = ProbeInput {
        args: args.clone(),
        fail_when: fail_when.unwrap_or_default().to_vec(),
        origins: origins.clone(),
        input: input.clone(),
    };
    if let Some(file) = file {
        file.apply_probe(
            None,
            &mut base.args,
            &mut base.fail_when,
            sources,
            &mut base.origins,
        )?;
    }
    let mut stdin = stdin_readers(Some(targets), &base);
    let shared = probe_settings(&base)?;
    let parsed = plan
        .into_iter()
        .map(|planned| {
            Target::parse(&planned.raw)
                .map(|target| (planned.table, target))
                // The target error names the input (credentials hidden): once is enough.
                .map_err(|e| UsageError::invalid(&planned.origin, "target", "", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mixed = parsed
        .windows(2)
        .any(|pair| pair[0].1.kind() != pair[1].1.kind());
    // References, not copies: with a hundred thousand targets, every copy is megabytes.
    let all: Vec<&Target> = parsed.iter().map(|(_, target)| target).collect();
    check_applicable_to_run(&all, sources, &base.origins)?;
    drop(all);
    // Sized once: a growing Vec of probes keeps spare room, and two buffers while it moves.
    let mut probes = Vec::with_capacity(parsed.len());
    let mut names = Vec::with_capacity(parsed.len());
    for (table, target) in parsed {
        names.push(table.map(|table| table.name.clone()));
        let own;
        let settings = match (table, file) {
            (Some(table), Some(file)) if table.has_probe_options() => {
                let mut input = base.clone();
                file.apply_probe(
                    Some(table),
                    &mut input.args,
                    &mut input.fail_when,
                    sources,
                    &mut input.origins,
                )?;
                check_applicable(&target, sources, &input.origins, mixed)?;
                stdin.extend(stdin_readers(None, &input));
                check_stdin(&stdin)?;
                own = probe_settings(&input)?;
                &own
            }
            _ => {
                check_applicable(&target, sources, &base.origins, mixed)?;
                check_stdin(&stdin)?;
                &shared
            }
        };
        probes.push(configured(target, settings, &proxies, fail_when.is_some())?);
    }
    Ok((probes, names))
}

/// The probe of `target` with `settings` (`proxies` for HTTP; `fail_when` only for `wait`).
fn configured(
    target: Target,
    settings: &ProbeSettings,
    proxies: &Arc<ProxySettings>,
    fail_when: bool,
) -> Result<Probe, UsageError> {
    // A broken SSL_CERT_FILE / SSL_CERT_DIR is bad input: refused before any request,
    // when a target needs it (the store is read once, here, and kept for the run).
    if target.uses_tls() && settings.request.verifies_certificates {
        system_trust()
            .map_err(|e| UsageError::invalid(e.variable, "CA store", &e.value, &e.problem))?;
    }
    let mut probe = Probe::new(target);
    // What every kind takes; a kind with no use for one was refused above.
    probe.set_addresses(settings.addresses.clone());
    probe.set_max_latency(settings.conditions.max_latency);
    probe.set_tls(&settings.request.tls);
    if let Some(login) = &settings.request.login {
        probe.set_login(login.clone());
    }
    if let Some(token) = &settings.request.token {
        probe.set_token(token.clone());
    }
    if let Some(http) = probe.as_http_mut() {
        // A bad proxy variable is an error for the targets that would use it only.
        match proxies.for_url(http.target.url()) {
            Err(ProxyError::Invalid {
                variable,
                value,
                reason,
            }) => {
                return Err(UsageError::invalid(
                    *variable,
                    "proxy URL",
                    value,
                    format!("{reason}; write it like http://proxy.internal:3128"),
                ));
            }
            Err(ProxyError::NoProxyEntry {
                variable,
                entry,
                reason,
            }) => {
                return Err(UsageError::invalid(*variable, "entry", entry, reason));
            }
            Ok(_) => {}
        }
        http.proxies = proxies.clone();
        http.http2 = settings.http2;
        http.pool = settings.pool.clone();
        http.conditions = settings.conditions.clone();
        http.max_body = settings.max_body;
        http.method = settings.request.method.clone();
        http.headers = settings.request.headers.clone();
        http.body = settings.request.body.clone();
        if fail_when {
            http.fail_when = settings.fail_when.clone();
        }
        if !settings.follow_redirects {
            http.max_redirects = 0;
            http.follow_redirects = false;
        }
    }
    // gRPC takes the headers as call metadata.
    if let Some(grpc) = probe.as_grpc_mut() {
        grpc.headers = settings.request.headers.clone();
    }
    Ok(probe)
}

/// A module of the exporter, judged once (at start and at each reload): what each scrape's
/// probe is built from.
#[derive(Clone)]
pub struct ProbeRecipe {
    settings: ProbeSettings,
    origins: Origins,
    proxies: Arc<ProxySettings>,
    attempt_timeout: Duration,
}

impl fmt::Debug for ProbeRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeRecipe")
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

/// Judge a module's options (`args`, set where `origins` say) as the flags are judged. The
/// files they name are read now; standard input is refused (a server has none to give).
pub fn probe_recipe(args: &ProbeArgs, origins: &Origins) -> Result<ProbeRecipe, UsageError> {
    let input = ProbeInput {
        args: args.clone(),
        fail_when: Vec::new(),
        origins: origins.clone(),
        input: Input::unbounded(),
    };
    if let Some((_, origin)) = stdin_readers(None, &input).first() {
        return Err(UsageError::invalid(
            origin,
            "file",
            "-",
            "the exporter reads no standard input: name a file",
        ));
    }
    Ok(ProbeRecipe {
        attempt_timeout: attempt_timeout(args, origins)?,
        settings: probe_settings(&input)?,
        origins: origins.clone(),
        proxies: Arc::new(ProxySettings::from_env()),
    })
}

impl ProbeRecipe {
    /// The module's timeout: the most one probe may take.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The first option the module sets that means nothing for `kind`, with where it was
    /// set and the kinds it applies to.
    pub fn not_applicable(&self, kind: Kind) -> Option<(Origin, String)> {
        first_not_applicable(kind, &Sources::default(), &self.origins)
            .map(|key| (self.origins.of(key), options::described(key)))
    }

    /// The probe of `target`, configured as the module says; with `pin`, connecting where
    /// it says for its host and port (ahead of the module's own `resolve` rules).
    /// With `family`, the addresses of that family first (or only).
    pub fn probe(
        &self,
        target: Target,
        pin: Option<ResolveRule>,
        family: Option<FamilyPreference>,
    ) -> Result<Probe, UsageError> {
        let mut probe = configured(target, &self.settings, &self.proxies, false)?;
        if pin.is_some() || family.is_some() {
            let mut addresses = self.settings.addresses.clone();
            if let Some(pin) = pin {
                addresses.resolve.insert(0, pin);
            }
            if family.is_some() {
                addresses.set_family(family);
            }
            probe.set_addresses(addresses);
        }
        Ok(probe)
    }
}

fn probe_settings(input: &ProbeInput) -> Result<ProbeSettings, UsageError> {
    let (args, origins) = (&input.args, &input.origins);
    let fail_when = parse_each(
        &input.fail_when,
        "fail-when",
        "condition",
        origins,
        JsonCondition::parse,
    )?;
    Ok(ProbeSettings {
        conditions: conditions(args, origins)?,
        max_body: size(origins.of("max-body"), &args.max_body)?,
        request: request(args, origins, &input.input)?,
        follow_redirects: !args.no_follow,
        http2: args.http2,
        fail_when,
        addresses: addresses(args, origins)?,
        pool: ConnectionPool::default(),
    })
}

fn addresses(args: &ProbeArgs, origins: &Origins) -> Result<AddressOverrides, UsageError> {
    Ok(AddressOverrides {
        resolve: parse_each(
            &args.resolve,
            "resolve",
            "--resolve rule",
            origins,
            ResolveRule::parse,
        )?,
        connect_to: parse_each(
            &args.connect_to,
            "connect-to",
            "--connect-to rule",
            origins,
            ConnectToRule::parse,
        )?,
        ..AddressOverrides::default()
    })
}

/// Refuses every option set for `target` — by a flag, a variable or the config file — that
/// does not apply to its kind: an option is used or refused, never ignored. Flags, variables
/// and `[defaults]` reach every target; a `[targets.NAME]` table its own.
fn check_applicable(
    target: &Target,
    sources: &Sources,
    origins: &Origins,
    mixed: bool,
) -> Result<(), UsageError> {
    let kind = target.kind();
    match first_not_applicable(kind, sources, origins) {
        None => Ok(()),
        Some(key) => Err(UsageError::NotApplicable {
            origin: origins.of(key),
            target: target.to_string(),
            kind,
            applies_to: options::described(key),
            mixed,
        }),
    }
}

/// The first per-target option set (by a flag, a variable or the config file) that does not
/// apply to `kind`.
fn first_not_applicable(kind: Kind, sources: &Sources, origins: &Origins) -> Option<&'static str> {
    options::of_wait_and_check()
        .filter(|option| !option.kinds.to(kind) && is_per_target(option.name))
        .map(|option| option.name)
        .find(|key| sources.explicit(key) || origins.is_set(key))
}

/// Refuses an option of the whole run (`--keep-alive`) that no target of the run can use. One
/// that some targets use is no per-target choice the user could make more exactly: it
/// applies to those.
fn check_applicable_to_run(
    targets: &[&Target],
    sources: &Sources,
    origins: &Origins,
) -> Result<(), UsageError> {
    let Some(first) = targets.first() else {
        return Ok(());
    };
    for option in options::of_wait_and_check() {
        let (key, applies) = (option.name, option.kinds);
        let set = sources.explicit(key) || origins.is_set(key);
        if !set || is_per_target(key) || targets.iter().any(|t| applies.to(t.kind())) {
            continue;
        }
        return Err(UsageError::NotApplicable {
            origin: origins.of(key),
            target: first.to_string(),
            kind: first.kind(),
            applies_to: options::described(key),
            mixed: false,
        });
    }
    Ok(())
}

/// Parse every value of a repeatable option, blaming the one that fails where it was given.
fn parse_each<T, E: fmt::Display>(
    values: &[String],
    key: &str,
    kind: &'static str,
    origins: &Origins,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, UsageError> {
    values
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            parse(raw).map_err(|e| UsageError::invalid(origins.item(key, i), kind, raw, e))
        })
        .collect()
}

/// What every HTTP request to one target carries.
#[derive(Clone)]
struct RequestSettings {
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Bytes>,
    tls: Arc<rustls::ClientConfig>,
    /// Not `--insecure`: TLS targets need the system's trust store.
    verifies_certificates: bool,
    /// `--user` for kinds that log in themselves (HTTP and gRPC take it as a header).
    login: Option<Login>,
    /// `--bearer` for kinds that log in with a token.
    token: Option<Secret>,
}

/// Who reads standard input: `--targets-file -`, `--data-file -` or a `file:-` secret, by
/// option and where it was set.
fn stdin_readers(targets: Option<&TargetArgs>, input: &ProbeInput) -> Vec<(&'static str, Origin)> {
    let (args, origins) = (&input.args, &input.origins);
    let secret_from_stdin =
        |raw: &Option<String>| raw.as_deref().is_some_and(|r| r.ends_with("file:-"));
    [
        (
            targets.is_some_and(|t| t.targets_file.as_deref() == Some("-")),
            "targets-file",
        ),
        (args.data_file.as_deref() == Some("-"), "data-file"),
        (secret_from_stdin(&args.user), "user"),
        (secret_from_stdin(&args.bearer), "bearer"),
    ]
    .into_iter()
    .filter(|(reads, _)| *reads)
    .map(|(_, key)| (key, origins.of(key)))
    .collect()
}

/// Standard input serves one option (several targets may share it: it is read once).
fn check_stdin(readers: &[(&'static str, Origin)]) -> Result<(), UsageError> {
    let Some((first, first_origin)) = readers.first() else {
        return Ok(());
    };
    match readers.iter().find(|(key, _)| key != first) {
        Some((_, origin)) => Err(UsageError::invalid(
            origin,
            "file",
            "-",
            format!("standard input is already read by {first_origin}; put one of them in a file"),
        )),
        None => Ok(()),
    }
}

fn request(
    args: &ProbeArgs,
    origins: &Origins,
    input: &Input,
) -> Result<RequestSettings, UsageError> {
    let method =
        Method::from_bytes(args.method.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
            UsageError::invalid(
                origins.of("method"),
                "method",
                &args.method,
                "expected an HTTP method like GET, HEAD or POST",
            )
        })?;
    let mut headers = Vec::new();
    for (i, raw) in args.headers.iter().enumerate() {
        // A header is often a credential (`Authorization Bearer eyJ…` with the colon
        // forgotten): a bad one is never echoed, only a valid name is shown.
        let bad = |shown: &str, problem: &str| {
            UsageError::invalid(origins.item("header", i), "header", shown, problem)
        };
        let Some((name, value)) = raw.split_once(':') else {
            return Err(bad(
                "",
                "expected 'Name: value' (no ':' found; the value is not shown, it may be a secret)",
            ));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            bad(
                "",
                "the part before the first ':' is not a valid header name (not shown, it may be a secret); write 'Name: value'",
            )
        })?;
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
            bad(
                name.as_str(),
                "the value has characters headers cannot carry, such as a line break (the value is not shown)",
            )
        })?;
        if is_sensitive_header(name.as_str()) {
            value.set_sensitive(true);
            stillup_core::redact::remember_header_value(&String::from_utf8_lossy(value.as_bytes()));
        }
        headers.push((name, value));
    }
    if args.user.is_some() && args.bearer.is_some() {
        return Err(UsageError::invalid(
            origins.of("bearer"),
            "secret",
            "",
            format!("cannot be combined with user (from {})", origins.of("user")),
        ));
    }
    let (mut login, mut token) = (None, None);
    if let Some(raw) = &args.user {
        let at = origins.of("user");
        let (user, source) = raw.split_once(':').unwrap_or((raw.as_str(), ""));
        let password = if source.is_empty() {
            Secret::new("")
        } else {
            secret(&at, source, input)?
        };
        login = Some(Login::new(user, Some(password.expose())));
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        headers.push((
            AUTHORIZATION,
            sensitive_value(&at, &format!("Basic {encoded}"))?,
        ));
    }
    if let Some(raw) = &args.bearer {
        let at = origins.of("bearer");
        let secret = secret(&at, raw, input)?;
        token = Some(Secret::new(secret.expose().trim()));
        headers.push((
            AUTHORIZATION,
            sensitive_value(&at, &format!("Bearer {}", secret.expose().trim()))?,
        ));
    }
    let body = match (&args.data, &args.data_file) {
        (Some(_), Some(path)) => {
            return Err(UsageError::invalid(
                origins.of("data-file"),
                "file",
                path,
                format!("cannot be combined with data (from {})", origins.of("data")),
            ))
        }
        (Some(data), None) => Some(Bytes::from(data.clone().into_bytes())),
        (None, Some(path)) => Some(Bytes::from(read_input(
            origins.of("data-file"),
            path,
            MAX_DATA_FILE,
            input,
        )?)),
        (None, None) => None,
    };
    // Read once, bounded in size and by the deadline like every input; the TLS layer opens no
    // file itself.
    let pem = |at: Origin, path: &String| -> Result<Pem, UsageError> {
        Ok(Pem {
            name: path.clone(),
            bytes: read_input(at, path, MAX_TLS_FILE, input)?,
        })
    };
    let client_cert = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            Some((pem(origins.of("cert"), cert)?, pem(origins.of("key"), key)?))
        }
        (None, None) => None,
        (Some(cert), None) => {
            return Err(UsageError::invalid(
                origins.of("cert"),
                "file",
                cert,
                "a client certificate needs its key (--key)",
            ))
        }
        (None, Some(key)) => {
            return Err(UsageError::invalid(
                origins.of("key"),
                "file",
                key,
                "a key needs its client certificate (--cert)",
            ))
        }
    };
    let ca = args
        .cacert
        .iter()
        .enumerate()
        .map(|(i, path)| pem(origins.item("cacert", i), path))
        .collect::<Result<Vec<_>, _>>()?;
    let tls_options = TlsOptions {
        insecure: args.insecure,
        ca,
        client_cert,
    };
    let tls = client_config(&tls_options).map_err(|e| {
        let origin = match &e {
            TlsConfigError::BadKey { .. } => origins.of("key"),
            TlsConfigError::BadClientAuth { .. } => origins.of("cert"),
            TlsConfigError::Read { path, .. }
            | TlsConfigError::NoCertificate { path }
            | TlsConfigError::BadAuthority { path, .. } => {
                if args.cert.as_deref() == Some(path.as_str()) {
                    origins.of("cert")
                } else {
                    let i = args.cacert.iter().position(|c| c == path).unwrap_or(0);
                    origins.item("cacert", i)
                }
            }
        };
        UsageError::invalid(origin, "file", "", e)
    })?;
    Ok(RequestSettings {
        method,
        headers,
        body,
        tls,
        verifies_certificates: !args.insecure,
        login,
        token,
    })
}

fn sensitive_value(at: &Origin, text: &str) -> Result<HeaderValue, UsageError> {
    stillup_core::redact::remember_header_value(text);
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        UsageError::invalid(
            at,
            "secret",
            "<redacted>",
            "the secret has characters headers cannot carry",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `env:VAR`, `file:PATH`, or the secret itself.
fn secret(at: impl Into<Origin>, source: &str, input: &Input) -> Result<Secret, UsageError> {
    let at = at.into();
    if let Some(var) = source.strip_prefix("env:") {
        return match std::env::var(var) {
            Ok(value) if !value.is_empty() => {
                stillup_core::redact::remember(&value);
                Ok(Secret::new(value))
            }
            _ => Err(UsageError::invalid(
                at,
                "secret",
                &format!("env:{var}"),
                format!("environment variable {var} is not set or empty"),
            )),
        };
    }
    if let Some(path) = source.strip_prefix("file:") {
        let bytes = read_input(&at, path, MAX_SECRET_FILE, input)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            UsageError::invalid(
                &at,
                "secret",
                &format!("file:{path}"),
                "the file is not UTF-8 text",
            )
        })?;
        // Files written with `echo` end in a newline that is not part of the secret.
        let text = text.trim_end_matches(['\r', '\n']);
        stillup_core::redact::remember(text);
        return Ok(Secret::new(text));
    }
    stillup_core::redact::remember(source);
    Ok(Secret::new(source))
}

fn conditions(args: &ProbeArgs, origins: &Origins) -> Result<Conditions, UsageError> {
    let mut conditions = Conditions {
        status: StatusSet::parse(&args.expect_status).map_err(|e| {
            UsageError::invalid(
                origins.of("expect-status"),
                "status codes",
                &args.expect_status,
                e,
            )
        })?,
        ..Conditions::default()
    };
    conditions.json = parse_each(
        &args.expect_json,
        "expect-json",
        "condition",
        origins,
        JsonCondition::parse,
    )?;
    conditions.body = parse_each(
        &args.expect_body,
        "expect-body",
        "regular expression",
        origins,
        BodyPattern::parse,
    )?;
    conditions.body.extend(parse_each(
        &args.reject_body,
        "reject-body",
        "regular expression",
        origins,
        BodyPattern::parse_rejected,
    )?);
    conditions.headers = parse_each(
        &args.expect_header,
        "expect-header",
        "header condition",
        origins,
        HeaderCondition::parse,
    )?;
    if let Some(raw) = &args.max_latency {
        conditions.max_latency = Some(duration(origins.of("max-latency"), raw)?);
    }
    Ok(conditions)
}

pub fn presentation_for(args: &OutputArgs) -> Presentation {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => stderr_is_terminal && !no_color && !dumb,
    };
    Presentation {
        format: args.output,
        quiet: args.quiet,
        color: color && !args.quiet,
        spinner: stderr_is_terminal && !dumb && !args.quiet,
    }
}

/// `500ms`, `3s`, `2m`, `1h30m`; a bare number is refused rather than guessed.
pub fn duration(at: impl Into<Origin>, raw: &str) -> Result<Duration, UsageError> {
    let at = at.into();
    let bad = |problem: String| UsageError::invalid(&at, "duration", raw, problem);
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad("expected a duration like 500ms, 3s or 2m".to_string()));
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(format!("add a unit, e.g. {text}s or {text}ms")));
    }
    humantime::parse_duration(text).map_err(|e| {
        bad(format!(
            "{e}; expected a duration like 500ms, 3s, 2m or 1h30m"
        ))
    })
}

/// `1MiB`, `64KiB`, `512KB`, `1000000`.
pub fn size(at: impl Into<Origin>, raw: &str) -> Result<u64, UsageError> {
    let at = at.into();
    let text = raw.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        UsageError::invalid(
            &at,
            "size",
            raw,
            "expected a size like 1MiB, 64KiB, 500KB or 100000",
        )
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).ok_or_else(bad)
}

/// A whole number of at least 1.
pub fn count(at: impl Into<Origin>, raw: &str) -> Result<u32, UsageError> {
    match raw.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(UsageError::invalid(
            at,
            "number",
            raw,
            "expected a whole number of at least 1, e.g. 3",
        )),
    }
}

fn ratio(at: impl Into<Origin>, raw: &str) -> Result<f64, UsageError> {
    match raw.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(UsageError::invalid(
            at,
            "ratio",
            raw,
            "expected a ratio between 0 and 1, e.g. 0.5",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's entry point judges the text as `--config` judges the file.
    #[test]
    fn config_text_is_judged_as_the_file_would_be() {
        let text = "[defaults]\ntimeout = \"90\"\n\n[targets.api]\nurl = \"http://127.0.0.1:1/\"\n";
        assert_eq!(
            wait_config_from_text("s.toml", text)
                .unwrap_err()
                .to_string(),
            "s.toml:2: defaults.timeout: invalid duration \"90\": add a unit, e.g. 90s or 90ms"
        );
        let config = wait_config_from_text("s.toml", &text.replace("\"90\"", "\"90s\"")).unwrap();
        assert_eq!(config.probes.len(), 1);
        assert_eq!(config.policy.timeout, Duration::from_secs(90));
    }

    /// Reuse across targets is safe only between targets whose connections are made alike.
    #[test]
    fn targets_share_a_connection_pool_unless_they_have_options_of_their_own() {
        let text = "[defaults]\nkeep-alive = true\n\n\
                    [targets.a]\nurl = \"http://127.0.0.1:1/a\"\n\n\
                    [targets.b]\nurl = \"http://127.0.0.1:1/b\"\n\n\
                    [targets.c]\nurl = \"https://127.0.0.1:1/c\"\ninsecure = true\n";
        let config = wait_config_from_text("s.toml", text).unwrap();
        let pool = |i: usize| match &config.probes[i] {
            Probe::Http(http) => {
                assert!(http.keep_alive);
                http.pool.clone()
            }
            other => panic!("not HTTP: {other:?}"),
        };
        assert!(pool(0).is_shared_with(&pool(1)));
        assert!(!pool(0).is_shared_with(&pool(2)));
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(
            duration("--timeout", "90s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            duration("--timeout", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            duration("--timeout", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        let e = duration("--timeout", "90").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid --timeout "90": add a unit, e.g. 90s or 90ms"#
        );
        assert!(duration("--timeout", "soon").is_err());
        assert!(duration("--timeout", "").is_err());
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(size("--max-body", "1MiB").unwrap(), 1_048_576);
        assert_eq!(size("--max-body", "64KiB").unwrap(), 65_536);
        assert_eq!(size("--max-body", "500KB").unwrap(), 500_000);
        assert_eq!(size("--max-body", "12").unwrap(), 12);
        assert!(size("--max-body", "lots").is_err());
        assert!(size("--max-body", "99999999999999999999GiB").is_err());
    }

    #[test]
    fn ratios_are_bounded() {
        assert_eq!(ratio("--jitter", "0.25").unwrap(), 0.25);
        assert!(ratio("--jitter", "2").is_err());
        assert!(ratio("--jitter", "half").is_err());
    }

    #[test]
    fn url_errors_hide_credentials() {
        use clap::Parser;
        let cli =
            super::super::args::Cli::try_parse_from(["stillup", "check", "ftp://u:hunter2@h/"])
                .unwrap();
        let super::super::args::Command::Check(args) = cli.command else {
            panic!("parsed as check");
        };
        let e = check_config(&args, &Sources::default()).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn secrets_come_from_env_and_files() {
        let dir = std::env::temp_dir().join(format!("stillup-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let from_file = secret(
            "--bearer",
            &format!("file:{}", dir.display()),
            &Input::unbounded(),
        )
        .unwrap();
        assert_eq!(from_file.expose(), "s3cret");
        let _ = std::fs::remove_file(&dir);
        assert!(secret(
            "--bearer",
            "env:STILLUP_TEST_SURELY_UNSET_VAR",
            &Input::unbounded()
        )
        .is_err());
        assert_eq!(
            secret("--bearer", "literal", &Input::unbounded())
                .unwrap()
                .expose(),
            "literal"
        );
    }
}
