//! What every integration test needs: run the real binary with a bounded wall time, read its
//! JSON report, list the failure classes of its attempts, and start servers on 127.0.0.1.

use std::ffi::OsStr;
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use stillup_testkit::{Behavior, KeepAliveServer, Reply, Script, ScriptedServer};

/// Longest any one run of the binary may take before it is killed; far above every deadline
/// the tests set, so reaching it means the binary overran.
pub const RUN_LIMIT: Duration = Duration::from_secs(40);

/// Slack allowed past a deadline on a shared, noisy machine.
pub const SLACK: Duration = Duration::from_secs(3);

/// The class name the helpers give a healthy attempt, so a run reads as one list.
pub const HEALTHY: &str = "healthy";

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    /// `None` when a signal ended the process (including the kill at [`RUN_LIMIT`]).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "exit code: {:?} after {:?}", self.code, self.elapsed)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl Run {
    /// Panics, showing the whole run, unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// Panics unless the run ended before `bound`.
    #[track_caller]
    pub fn assert_within(&self, bound: Duration) -> &Self {
        assert!(
            self.elapsed < bound,
            "took {:?}, expected under {bound:?}\n{self}",
            self.elapsed
        );
        self
    }

    /// Panics unless this is a usage error: exit code 2, nothing on stdout and exactly one
    /// line on stderr, which it returns. `what` names the case in failure messages.
    #[track_caller]
    pub fn usage_error_line(&self, what: &str) -> &str {
        assert_eq!(self.code, Some(2), "{what}\n{self}");
        assert!(self.stdout.is_empty(), "{what}\n{self}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "one line on stderr for {what}\n{self}");
        lines[0]
    }

    /// stdout as the one JSON document `--output json` promises.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

/// Run `stillup` with `args`, no `STILLUP_*` variables from the caller's environment (see
/// [`stillup_with_env`] to set some), no colour, and a hard limit on wall time.
pub fn stillup<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_to_end(command(args))
}

/// [`stillup`], with `input` written to its stdin.
pub fn stillup_with_stdin<I, S>(args: I, input: &str) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(args);
    cmd.write_stdin(input.to_string());
    run_to_end(cmd)
}

/// [`stillup`], with `vars` (e.g. `STILLUP_TIMEOUT`) set for this run only.
pub fn stillup_with_env<I, S>(args: I, vars: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(args);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    run_to_end(cmd)
}

fn command<I, S>(args: I) -> assert_cmd::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let cmd = assert_cmd::Command::cargo_bin("stillup").expect("the stillup binary is built");
    hermetic(cmd, args)
}

/// `program args…` — a wrapper such as `unshare` that in turn starts the binary (see
/// [`assert_cmd::cargo::cargo_bin`]) — with the environment and wall-time limit of [`stillup`].
/// Run it with [`run_to_end`].
pub fn wrapper<I, S>(program: &str, args: I) -> assert_cmd::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    hermetic(assert_cmd::Command::new(program), args)
}

fn hermetic<I, S>(mut cmd: assert_cmd::Command, args: I) -> assert_cmd::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    for (name, _) in std::env::vars_os() {
        // The caller's proxies would send test traffic for made-up names elsewhere.
        let name_text = name.to_string_lossy().to_ascii_lowercase();
        if name_text.starts_with("stillup_") || name_text.ends_with("_proxy") {
            cmd.env_remove(name);
        }
    }
    cmd.env("NO_COLOR", "1").args(args).timeout(RUN_LIMIT);
    cmd
}

/// Run `cmd` to its end (or to the kill at [`RUN_LIMIT`]) and collect what it printed.
pub fn run_to_end(mut cmd: assert_cmd::Command) -> Run {
    let started = Instant::now();
    let output = cmd.output().expect("the command can be started");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `stillup check URL --output json` with `extra` flags.
pub fn check_json(url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["check", url, "--output", "json"];
    args.extend_from_slice(extra);
    stillup(args)
}

/// `stillup wait TARGETS… --output json` with `extra` flags (which may end with `-- COMMAND`).
pub fn wait_json(targets: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["wait"];
    args.extend_from_slice(targets);
    args.extend_from_slice(&["--output", "json"]);
    args.extend_from_slice(extra);
    stillup(args)
}

/// A port on 127.0.0.1 that nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").port()
}

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "stillup-it-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("a temp dir can be created");
        TempDir { path }
    }

    /// The directory itself.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A path inside the directory (the file need not exist).
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Target `i` of a schema v2 report, in the order the targets were given.
#[track_caller]
pub fn target(report: &Value, i: usize) -> &Value {
    let targets = report["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("report without targets: {report:#}"));
    targets.get(i).unwrap_or_else(|| {
        panic!(
            "report has {} target(s), not {}: {report:#}",
            targets.len(),
            i + 1
        )
    })
}

/// The attempts of one target (an element of `targets`).
#[track_caller]
pub fn attempts_of(target: &Value) -> &Vec<Value> {
    target["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("target without attempts: {target:#}"))
}

/// The class of every attempt of one target (an element of `targets`), in order; a healthy
/// attempt is [`HEALTHY`].
#[track_caller]
pub fn classes_of(target: &Value) -> Vec<String> {
    attempts_of(target)
        .iter()
        .map(|attempt| match &attempt["class"] {
            Value::Null => HEALTHY.to_string(),
            Value::String(class) => class.clone(),
            other => panic!("attempt class is neither null nor a string: {other}"),
        })
        .collect()
}

/// The class of every attempt of the first (usually only) target, in order; a healthy
/// attempt is [`HEALTHY`].
#[track_caller]
pub fn classes(report: &Value) -> Vec<String> {
    classes_of(target(report, 0))
}

/// The classes of the first target with consecutive repeats merged: the story of the run.
#[track_caller]
pub fn story(report: &Value) -> Vec<String> {
    let mut merged: Vec<String> = classes(report);
    merged.dedup();
    merged
}

/// The class of the last attempt of the first target.
#[track_caller]
pub fn last_class(report: &Value) -> String {
    classes(report)
        .pop()
        .unwrap_or_else(|| panic!("no attempt was made: {report:#}"))
}

/// The message of the last attempt of the first target.
#[track_caller]
pub fn last_message(report: &Value) -> String {
    let attempts = attempts_of(target(report, 0));
    let last = attempts.last().expect("at least one attempt");
    last["message"].as_str().unwrap_or_default().to_string()
}

/// A server that behaves the same way forever.
pub fn serve(behavior: Behavior) -> ScriptedServer {
    ScriptedServer::spawn(Script::new().forever(behavior)).expect("the scripted server starts")
}

/// A server that answers 200 with this JSON body forever.
pub fn serve_json(body: &str) -> ScriptedServer {
    serve(Behavior::Respond(Reply::json(200, body)))
}

/// A certificate and its key, generated for one test.
#[derive(Debug)]
pub struct Cert {
    pub der: rustls::pki_types::CertificateDer<'static>,
    /// The certificate as PEM, for `--cacert` files and servers that take PEM.
    pub pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: String,
    key: Vec<u8>,
}

impl Cert {
    /// Write the certificate as a PEM file in `dir`, for `--cacert`.
    pub fn write_pem(&self, dir: &TempDir, name: &str) -> std::path::PathBuf {
        let path = dir.file(name);
        std::fs::write(&path, &self.pem).expect("the PEM file can be written");
        path
    }
}

/// A self-signed certificate for `names` (IP literals become IP SANs), valid from a day ago
/// for a year — or for the window given.
pub fn self_signed(
    names: &[&str],
    window: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
) -> Cert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = window.unwrap_or((
        now - time::Duration::days(1),
        now + time::Duration::days(365),
    ));
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).unwrap();
    Cert {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key: key.serialize_der(),
    }
}

/// A rustls server configuration presenting `cert`, on the ring provider.
pub fn server_config(cert: &Cert) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .unwrap();
    std::sync::Arc::new(config)
}

/// An https server presenting `cert` and behaving the same way forever.
pub fn serve_tls(cert: &Cert, behavior: Behavior) -> ScriptedServer {
    ScriptedServer::spawn(Script::new().forever(behavior).tls(server_config(cert)))
        .expect("the scripted TLS server starts")
}

/// The committed schema of the `--output json` document.
pub fn report_schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/report.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("schema/report.schema.json is readable");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// Panics, listing every violation, unless `report` matches the committed schema.
#[track_caller]
pub fn assert_matches_schema(report: &Value) {
    let validator = report_schema();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match schema/report.schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
}

/// A report's `started_at` and `ended_at`: RFC 3339 in UTC, whole seconds, the start no later
/// than the end.
#[track_caller]
pub fn assert_started_and_ended(report: &Value) {
    let (started, ended) = (
        report["started_at"].as_str().unwrap(),
        report["ended_at"].as_str().unwrap(),
    );
    for at in [started, ended] {
        assert!(
            at.len() == 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'),
            "{at}"
        );
    }
    assert!(started <= ended, "{started} {ended}");
}
