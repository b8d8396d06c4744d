//! From strings to a validated run: durations, sizes, URL, conditions and the presentation
//! decision (colour, spinner, format), all settled before any socket opens.
//!
//! Every rejection names the flag, the bad value and the fix.

use std::io::IsTerminal;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::Method;
use std::path::PathBuf;
use std::sync::Arc;
use stillup::backoff::{Backoff, BackoffKind};
use stillup::condition::{BodyPattern, Conditions, HeaderCondition, JsonCondition, StatusSet};
use stillup::net::overrides::{AddressOverrides, ConnectToRule, ResolveRule};
use stillup::net::tls::{client_config, TlsConfigError, TlsOptions};
use stillup::redact::{is_sensitive_header, redact_url, Secret};
use stillup::{FailFast, Probe, Require, Target, Until, WaitPolicy};
use thiserror::Error;

use super::args::{
    BackoffArg, CheckArgs, ColorArg, OutputArgs, OutputFormat, ProbeArgs, TargetArgs, UntilArg,
    WaitArgs,
};

/// Bad input, found before anything was sent: which flag (or file and line), the value, the fix.
#[derive(Debug, Error)]
#[error("invalid {flag} {value:?}: {problem}")]
pub struct UsageError {
    pub flag: String,
    pub value: String,
    pub problem: String,
}

impl UsageError {
    pub fn from_parts(flag: &'static str, value: &str, problem: impl ToString) -> Self {
        Self::new(flag, value, problem)
    }

    pub fn new(flag: &'static str, value: &str, problem: impl ToString) -> Self {
        Self::at(flag.to_string(), value, problem)
    }

    /// An error at a place that is not a flag, e.g. `targets.txt:3`.
    fn at(place: String, value: &str, problem: impl ToString) -> Self {
        UsageError {
            flag: place,
            value: redact_url(value),
            problem: problem.to_string(),
        }
    }
}

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
    pub policy: WaitPolicy,
    pub require: Require,
    pub presentation: Presentation,
    /// `-- COMMAND ARGS…` to run after success.
    pub exec: Vec<String>,
}

pub fn wait_config(args: &WaitArgs) -> Result<RunConfig, UsageError> {
    let timeout = duration("--timeout", &args.timeout)?;
    let interval = duration("--interval", &args.interval)?;
    let max_interval = duration("--max-interval", &args.max_interval)?;
    if timeout.is_zero() {
        return Err(UsageError::new(
            "--timeout",
            &args.timeout,
            "must be more than 0",
        ));
    }
    let jitter = match &args.jitter {
        None => 0.0,
        Some(raw) => ratio("--jitter", raw)?,
    };
    let successes = count("--successes", &args.successes)?;
    let mut fail_fast = FailFast::default();
    for raw in &args.fail_fast {
        fail_fast.extend(FailFast::parse(raw).map_err(|e| UsageError::new("--fail-fast", raw, e))?);
    }
    let mut fail_when = Vec::new();
    for raw in &args.fail_when {
        fail_when
            .push(JsonCondition::parse(raw).map_err(|e| UsageError::new("--fail-when", raw, e))?);
    }
    let until = match args.until {
        UntilArg::Healthy => Until::Healthy,
        UntilArg::Down => Until::Down,
    };
    if until == Until::Down && !args.command.is_empty() {
        return Err(UsageError::new(
            "-- COMMAND",
            &args.command.join(" "),
            "cannot be combined with --until down yet; run the command after stillup in your script",
        ));
    }
    let (mut probes, attempt_timeout) = probes(&args.targets, &args.probe)?;
    for probe in &mut probes {
        if let Some(http) = probe.as_http_mut() {
            http.fail_when = fail_when.clone();
        }
    }
    let policy = WaitPolicy {
        timeout,
        attempt_timeout,
        backoff: Backoff {
            kind: match args.backoff {
                BackoffArg::Fixed => BackoffKind::Fixed,
                BackoffArg::Exponential => BackoffKind::Exponential,
            },
            interval,
            max_interval,
            jitter,
        },
        max_attempts: None,
        until,
        successes,
        fail_fast,
        refused_interval: match duration("--refused-interval", &args.probe.refused_interval)? {
            d if d.is_zero() => None,
            d => Some(d),
        },
    };
    Ok(RunConfig {
        command: "wait",
        require: require(&args.targets, probes.len())?,
        probes,
        policy,
        presentation: presentation_for(&args.output),
        exec: args.command.clone(),
    })
}

pub fn check_config(args: &CheckArgs) -> Result<RunConfig, UsageError> {
    let (probes, attempt_timeout) = probes(&args.targets, &args.probe)?;
    Ok(RunConfig {
        command: "check",
        require: require(&args.targets, probes.len())?,
        probes,
        policy: WaitPolicy::once(attempt_timeout),
        presentation: presentation_for(&args.output),
        exec: Vec::new(),
    })
}

fn require(args: &TargetArgs, n: usize) -> Result<Require, UsageError> {
    if args.any {
        return Ok(Require::Any);
    }
    let Some(raw) = &args.require else {
        return Ok(Require::All);
    };
    let k = count("--require", raw)? as usize;
    if k > n {
        return Err(UsageError::new(
            "--require",
            raw,
            format!("only {n} target(s) were given"),
        ));
    }
    Ok(Require::AtLeast(k))
}

/// The targets from the command line, then from `--targets-file`.
fn target_strings(args: &TargetArgs) -> Result<Vec<(String, String)>, UsageError> {
    let mut targets: Vec<(String, String)> = args
        .targets
        .iter()
        .map(|t| (t.clone(), "TARGET".to_string()))
        .collect();
    if let Some(path) = &args.targets_file {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|e| UsageError::new("--targets-file", path, format!("cannot read it: {e}")))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                targets.push((line.to_string(), format!("{path}:{}", number + 1)));
            }
        }
    }
    if targets.is_empty() {
        return Err(UsageError::new(
            "TARGET",
            "",
            "no targets given; pass URLs (http://, https://, http+unix://), tcp://host:port, grpc://host:port, or --targets-file",
        ));
    }
    Ok(targets)
}

pub fn probes(
    targets: &TargetArgs,
    args: &ProbeArgs,
) -> Result<(Vec<Probe>, Duration), UsageError> {
    let attempt_timeout = duration("--attempt-timeout", &args.attempt_timeout)?;
    if attempt_timeout.is_zero() {
        return Err(UsageError::new(
            "--attempt-timeout",
            &args.attempt_timeout,
            "must be more than 0",
        ));
    }
    stdin_readers(targets, args)?;
    let conditions = conditions(args)?;
    let max_body = size("--max-body", &args.max_body)?;
    let request = request(args)?;
    let addresses = addresses(args)?;
    let mut probes = Vec::new();
    for (raw, place) in target_strings(targets)? {
        let target = Target::parse(&raw).map_err(|e| UsageError::at(place, &raw, e))?;
        let mut probe = Probe::new(target);
        match &mut probe {
            Probe::Http(http) => http.addresses = addresses.clone(),
            Probe::Tcp(tcp) => tcp.addresses = addresses.clone(),
            _ => {}
        }
        if let Some(http) = probe.as_http_mut() {
            http.conditions = conditions.clone();
            http.max_body = max_body;
            http.method = request.method.clone();
            http.headers = request.headers.clone();
            http.body = request.body.clone();
            http.tls = request.tls.clone();
            if args.no_follow {
                http.max_redirects = 0;
                http.follow_redirects = false;
            }
        }
        // gRPC takes the TLS options (with ALPN h2) and the headers, as call metadata.
        if let Some(grpc) = probe.as_grpc_mut() {
            grpc.set_tls(&request.tls);
            grpc.headers = request.headers.clone();
        }
        probes.push(probe);
    }
    Ok((probes, attempt_timeout))
}

fn addresses(args: &ProbeArgs) -> Result<AddressOverrides, UsageError> {
    let mut overrides = AddressOverrides::default();
    for raw in &args.resolve {
        overrides
            .resolve
            .push(ResolveRule::parse(raw).map_err(|e| UsageError::new("--resolve", raw, e))?);
    }
    for raw in &args.connect_to {
        overrides
            .connect_to
            .push(ConnectToRule::parse(raw).map_err(|e| UsageError::new("--connect-to", raw, e))?);
    }
    Ok(overrides)
}

/// What every HTTP request of the run carries.
struct RequestSettings {
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Bytes>,
    tls: Arc<rustls::ClientConfig>,
}

/// Standard input can be read once: by one of --targets-file, --data-file or a `file:-` secret.
fn stdin_readers(targets: &TargetArgs, args: &ProbeArgs) -> Result<(), UsageError> {
    let secret_from_stdin =
        |raw: &Option<String>| raw.as_deref().is_some_and(|r| r.ends_with("file:-"));
    let readers: Vec<&'static str> = [
        (
            targets.targets_file.as_deref() == Some("-"),
            "--targets-file",
        ),
        (args.data_file.as_deref() == Some("-"), "--data-file"),
        (secret_from_stdin(&args.user), "--user"),
        (secret_from_stdin(&args.bearer), "--bearer"),
    ]
    .into_iter()
    .filter_map(|(reads, flag)| reads.then_some(flag))
    .collect();
    if readers.len() > 1 {
        return Err(UsageError::new(
            readers[1],
            "-",
            format!(
                "standard input is already read by {}; put one of them in a file",
                readers[0]
            ),
        ));
    }
    Ok(())
}

fn request(args: &ProbeArgs) -> Result<RequestSettings, UsageError> {
    let method =
        Method::from_bytes(args.method.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
            UsageError::new(
                "--method",
                &args.method,
                "expected an HTTP method like GET, HEAD or POST",
            )
        })?;
    let mut headers = Vec::new();
    for raw in &args.headers {
        let Some((name, value)) = raw.split_once(':') else {
            return Err(UsageError::new("--header", raw, "expected 'Name: value'"));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| UsageError::new("--header", raw, "the name is not a valid header name"))?;
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
            UsageError::new(
                "--header",
                raw,
                "the value has characters headers cannot carry",
            )
        })?;
        value.set_sensitive(is_sensitive_header(name.as_str()));
        headers.push((name, value));
    }
    if let Some(raw) = &args.user {
        let (user, source) = raw.split_once(':').unwrap_or((raw.as_str(), ""));
        let password = if source.is_empty() {
            Secret::new("")
        } else {
            secret("--user", source)?
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        headers.push((
            AUTHORIZATION,
            sensitive_value("--user", &format!("Basic {encoded}"))?,
        ));
    }
    if let Some(raw) = &args.bearer {
        let token = secret("--bearer", raw)?;
        headers.push((
            AUTHORIZATION,
            sensitive_value("--bearer", &format!("Bearer {}", token.expose().trim()))?,
        ));
    }
    let body = match (&args.data, &args.data_file) {
        (Some(data), _) => Some(Bytes::from(data.clone().into_bytes())),
        (None, Some(path)) => Some(Bytes::from(read_input("--data-file", path)?)),
        (None, None) => None,
    };
    let tls_options = TlsOptions {
        insecure: args.insecure,
        ca_files: args.cacert.iter().map(PathBuf::from).collect(),
        client_cert: args
            .cert
            .as_ref()
            .zip(args.key.as_ref())
            .map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
    };
    let tls = client_config(&tls_options).map_err(|e| {
        let flag = match &e {
            TlsConfigError::BadKey { .. } => "--key",
            TlsConfigError::BadClientAuth { .. } => "--cert",
            TlsConfigError::Read { path, .. }
            | TlsConfigError::NoCertificate { path }
            | TlsConfigError::BadAuthority { path, .. }
                if args.cert.as_deref() == Some(path.as_str()) =>
            {
                "--cert"
            }
            _ => "--cacert",
        };
        UsageError::new(flag, "", e)
    })?;
    Ok(RequestSettings {
        method,
        headers,
        body,
        tls,
    })
}

fn sensitive_value(flag: &'static str, text: &str) -> Result<HeaderValue, UsageError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        UsageError::new(
            flag,
            "<redacted>",
            "the secret has characters headers cannot carry",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `env:VAR`, `file:PATH`, or the secret itself.
fn secret(flag: &'static str, source: &str) -> Result<Secret, UsageError> {
    if let Some(var) = source.strip_prefix("env:") {
        return match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
            _ => Err(UsageError::new(
                flag,
                &format!("env:{var}"),
                format!("environment variable {var} is not set or empty"),
            )),
        };
    }
    if let Some(path) = source.strip_prefix("file:") {
        let bytes = read_input(flag, path)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            UsageError::new(flag, &format!("file:{path}"), "the file is not UTF-8 text")
        })?;
        // Files written with `echo` end in a newline that is not part of the secret.
        return Ok(Secret::new(text.trim_end_matches(['\r', '\n'])));
    }
    Ok(Secret::new(source))
}

fn read_input(flag: &'static str, path: &str) -> Result<Vec<u8>, UsageError> {
    let read = if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    read.map_err(|e| UsageError::new(flag, path, format!("cannot read it: {e}")))
}

fn conditions(args: &ProbeArgs) -> Result<Conditions, UsageError> {
    let mut conditions = Conditions {
        status: StatusSet::parse(&args.expect_status)
            .map_err(|e| UsageError::new("--expect-status", &args.expect_status, e))?,
        ..Conditions::default()
    };
    for raw in &args.expect_json {
        conditions
            .json
            .push(JsonCondition::parse(raw).map_err(|e| UsageError::new("--expect-json", raw, e))?);
    }
    for raw in &args.expect_body {
        conditions
            .body
            .push(BodyPattern::parse(raw).map_err(|e| UsageError::new("--expect-body", raw, e))?);
    }
    for raw in &args.expect_header {
        conditions.headers.push(
            HeaderCondition::parse(raw).map_err(|e| UsageError::new("--expect-header", raw, e))?,
        );
    }
    if let Some(raw) = &args.max_latency {
        conditions.max_latency = Some(duration("--max-latency", raw)?);
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
pub fn duration(flag: &'static str, raw: &str) -> Result<Duration, UsageError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(UsageError::new(
            flag,
            raw,
            "expected a duration like 500ms, 3s or 2m",
        ));
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(UsageError::new(
            flag,
            raw,
            format!("add a unit, e.g. {text}s or {text}ms"),
        ));
    }
    humantime::parse_duration(text).map_err(|e| {
        UsageError::new(
            flag,
            raw,
            format!("{e}; expected a duration like 500ms, 3s, 2m or 1h30m"),
        )
    })
}

/// `1MiB`, `64KiB`, `512KB`, `1000000`.
pub fn size(flag: &'static str, raw: &str) -> Result<u64, UsageError> {
    let text = raw.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        UsageError::new(
            flag,
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
pub fn count(flag: &'static str, raw: &str) -> Result<u32, UsageError> {
    match raw.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(UsageError::new(
            flag,
            raw,
            "expected a whole number of at least 1, e.g. 3",
        )),
    }
}

fn ratio(flag: &'static str, raw: &str) -> Result<f64, UsageError> {
    match raw.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(UsageError::new(
            flag,
            raw,
            "expected a ratio between 0 and 1, e.g. 0.5",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = check_config(&args).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn secrets_come_from_env_and_files() {
        let dir = std::env::temp_dir().join(format!("stillup-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let from_file = secret("--bearer", &format!("file:{}", dir.display())).unwrap();
        assert_eq!(from_file.expose(), "s3cret");
        let _ = std::fs::remove_file(&dir);
        assert!(secret("--bearer", "env:STILLUP_TEST_SURELY_UNSET_VAR").is_err());
        assert_eq!(secret("--bearer", "literal").unwrap().expose(), "literal");
    }
}
