//! Where each value came from and the one error bad input makes: [`Origin`], [`Origins`],
//! [`UsageError`]; and reading the files and standard input that options name, bounded in
//! size and by the run's deadline. Both the config file (`file.rs`) and the validation
//! (`config.rs`) build on it.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stillup_core::redact::redact_value;

use super::args::Sources;
use super::options::Kind;

/// Where a value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A flag (`--timeout`), a variable (`STILLUP_TIMEOUT`), the targets (`TARGET`) or a
    /// line of a targets file (`targets.txt:3`).
    Arg(String),
    /// A key of the config file: `at` is `stillup.toml:7`, `key` is `targets.api.timeout`.
    File { at: String, key: String },
}

impl From<&str> for Origin {
    fn from(name: &str) -> Self {
        Origin::Arg(name.to_string())
    }
}

impl From<&Origin> for Origin {
    fn from(origin: &Origin) -> Self {
        origin.clone()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg(name) => f.write_str(name),
            Origin::File { at, key } => write!(f, "{key} ({at})"),
        }
    }
}

/// Bad input, found before anything was sent.
#[derive(Debug)]
pub enum UsageError {
    /// A value that does not parse or does not make sense: where it came from, what kind of
    /// value it should be, the value (credentials hidden) and the fix.
    Invalid {
        origin: Origin,
        kind: &'static str,
        value: String,
        problem: String,
    },
    /// The config file itself: its syntax, an unknown key, a value of the wrong type, a key
    /// in the wrong table. `at` is `stillup.toml:7`; `key` the dotted key, when there is one.
    File {
        at: String,
        key: Option<String>,
        message: String,
    },
    /// A whole line of its own, e.g. clap's word on a variable.
    Line(String),
    /// An option set for a target of a kind it means nothing to (see `options.rs`).
    NotApplicable {
        origin: Origin,
        /// The target, safe to print.
        target: String,
        kind: Kind,
        /// "http://, https://, http+unix:// targets".
        applies_to: String,
        /// Whether the run has targets of other kinds, which a config file's per-target
        /// tables can give the option to alone.
        mixed: bool,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Invalid {
                origin,
                kind,
                value,
                problem,
            } => {
                match origin {
                    Origin::Arg(name) => write!(f, "invalid {name}")?,
                    Origin::File { at, key } => write!(f, "{at}: {key}: invalid {kind}")?,
                }
                if !value.is_empty() {
                    write!(f, " {value:?}")?;
                }
                write!(f, ": {problem}")
            }
            UsageError::File {
                at,
                key: Some(key),
                message,
            } => write!(f, "{at}: {key}: {message}"),
            UsageError::File {
                at,
                key: None,
                message,
            } => write!(f, "{at}: {message}"),
            UsageError::Line(line) => f.write_str(line),
            UsageError::NotApplicable {
                origin,
                target,
                kind,
                applies_to,
                mixed,
            } => {
                match origin {
                    Origin::Arg(name) => write!(f, "{name} does not apply")?,
                    Origin::File { at, key } => write!(f, "{at}: {key}: does not apply")?,
                }
                write!(
                    f,
                    " to {target} ({}): it applies to {applies_to}",
                    kind.info().noun
                )?;
                let per_target =
                    matches!(origin, Origin::File { key, .. } if key.starts_with("targets."));
                if *mixed && !per_target {
                    f.write_str(
                        "; to give it to some targets only, set it in their [targets.NAME] \
                         tables of a --config file",
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    pub fn from_parts(flag: &'static str, value: &str, problem: impl ToString) -> Self {
        Self::new(flag, value, problem)
    }

    pub fn new(at: impl Into<Origin>, value: &str, problem: impl ToString) -> Self {
        Self::invalid(at, "value", value, problem)
    }

    /// `value` from `at` is not a valid `kind` (`duration`, `size`, …), because `problem`.
    pub fn invalid(
        at: impl Into<Origin>,
        kind: &'static str,
        value: &str,
        problem: impl ToString,
    ) -> Self {
        UsageError::Invalid {
            origin: at.into(),
            kind,
            value: redact_value(value),
            problem: problem.to_string(),
        }
    }
}

/// Where each option's value came from: its `STILLUP_*` variable or a key of the config file,
/// as recorded; otherwise its flag (a clap default is valid, so it is never blamed).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    values: HashMap<String, Origin>,
    /// For repeatable options from the config file: each value's own line.
    items: HashMap<String, Vec<Origin>>,
}

impl Origins {
    /// The variables that set options, as [`Sources`] saw them.
    pub fn new(sources: &Sources) -> Origins {
        let values = sources
            .variables()
            .map(|(key, var)| (key.to_string(), Origin::from(var)))
            .collect();
        Origins {
            values,
            items: HashMap::new(),
        }
    }

    /// Where the option with this long flag name came from.
    pub fn of(&self, key: &str) -> Origin {
        match self.values.get(key) {
            Some(origin) => origin.clone(),
            None if key == "targets" => Origin::from("TARGET"),
            None => Origin::Arg(format!("--{key}")),
        }
    }

    /// Where value `index` of a repeatable option came from.
    pub fn item(&self, key: &str, index: usize) -> Origin {
        match self.items.get(key).and_then(|items| items.get(index)) {
            Some(origin) => origin.clone(),
            None => self.of(key),
        }
    }

    /// The option now comes from `origin`; a repeatable one's values from `items`, if known.
    pub fn set(&mut self, key: &str, origin: Origin, items: Vec<Origin>) {
        self.values.insert(key.to_string(), origin);
        if items.is_empty() {
            self.items.remove(key);
        } else {
            self.items.insert(key.to_string(), items);
        }
    }

    /// Whether a variable or the config file set the option (flags are in [`Sources`]).
    pub fn is_set(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The option was reset to nothing.
    pub fn clear(&mut self, key: &str) {
        self.values.remove(key);
        self.items.remove(key);
    }
}

/// The most stillup reads of each input, so that `/dev/zero` or a runaway file is an error,
/// not gigabytes of memory. Documented in the README.
pub const MAX_CONFIG_FILE: Limit = Limit {
    bytes: 1 << 20,
    text: "1 MiB limit on config files",
};
pub const MAX_TARGETS_FILE: Limit = Limit {
    bytes: 64 << 20,
    text: "64 MiB limit on targets files",
};
pub const MAX_DATA_FILE: Limit = Limit {
    bytes: 1 << 20,
    text: "1 MiB limit on request bodies",
};
pub const MAX_SECRET_FILE: Limit = Limit {
    bytes: 64 << 10,
    text: "64 KiB limit on secret files",
};

pub const MAX_TLS_FILE: Limit = Limit {
    bytes: 1 << 20,
    text: "1 MiB limit on certificate and key files",
};

/// A size limit on one kind of input, with how messages name it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: u64,
    pub text: &'static str,
}

/// When reading inputs must be done: the run's deadline covers reading them too, so a pipe
/// that is never closed (`(echo URL; sleep 4) | stillup wait --targets-file -`) cannot hold
/// the run past it. `None`: no deadline (a `watch` without `--duration`).
#[derive(Debug, Clone)]
pub struct Input {
    deadline: Option<Instant>,
    /// The deadline as messages name it: "the 1s deadline (--timeout)".
    within: String,
}

impl Input {
    /// Inputs read before `started + budget`, the deadline named `within`.
    pub(crate) fn by(started: Instant, budget: Option<Duration>, within: String) -> Input {
        Input {
            deadline: budget.map(|b| started + b),
            within,
        }
    }

    pub(crate) fn unbounded() -> Input {
        Input {
            deadline: None,
            within: String::new(),
        }
    }
}

/// Why an input could not be read.
#[derive(Debug, Clone)]
enum ReadFailure {
    Io(String),
    TooLarge(Limit),
    /// Not read to its end before the deadline.
    TooSlow,
}

/// Reads what `open` opens to its end: at most `limit`, and before `input`'s deadline. The
/// read runs on a thread of its own, so a source that never ends (a pipe left open, a FIFO
/// without a writer) is given up at the deadline; the thread ends with the process.
fn read_bounded<R: std::io::Read + Send + 'static>(
    open: impl FnOnce() -> std::io::Result<R> + Send + 'static,
    limit: Limit,
    input: &Input,
) -> Result<Vec<u8>, ReadFailure> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("stillup-input".into())
        .spawn(move || {
            let read = open().and_then(|reader| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut reader.take(limit.bytes + 1), &mut bytes)
                    .map(|_| bytes)
            });
            let _ = tx.send(read);
        });
    if let Err(e) = spawned {
        return Err(ReadFailure::Io(e.to_string()));
    }
    let read = match input.deadline {
        Some(deadline) => rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| ReadFailure::TooSlow)?,
        None => rx.recv().map_err(|_| ReadFailure::TooSlow)?,
    };
    let bytes = read.map_err(|e| ReadFailure::Io(e.to_string()))?;
    if bytes.len() as u64 > limit.bytes {
        return Err(ReadFailure::TooLarge(limit));
    }
    Ok(bytes)
}

/// Standard input, read once however many targets' settings use it (one option reads it:
/// see `check_stdin` in `config.rs`).
fn stdin_bytes(limit: Limit, input: &Input) -> Result<Vec<u8>, ReadFailure> {
    static STDIN: OnceLock<Result<Vec<u8>, ReadFailure>> = OnceLock::new();
    STDIN
        .get_or_init(|| {
            let started = Instant::now();
            let read = read_bounded(|| Ok(std::io::stdin()), limit, input);
            let _ = STDIN_WAITED.set(started.elapsed());
            read
        })
        .clone()
}

/// The file at `path` (`-`: standard input), within `limit` and `input`'s deadline; an error
/// names the option (`at`), the file, and the limit or the deadline.
pub(crate) fn read_input(
    at: impl Into<Origin>,
    path: &str,
    limit: Limit,
    input: &Input,
) -> Result<Vec<u8>, UsageError> {
    let read = if path == "-" {
        stdin_bytes(limit, input)
    } else {
        let owned = path.to_string();
        read_bounded(move || std::fs::File::open(owned), limit, input)
    };
    let source = if path == "-" {
        "standard input"
    } else {
        "the file"
    };
    read.map_err(|failure| {
        let problem = match failure {
            ReadFailure::Io(e) => format!("cannot read it: {e}"),
            ReadFailure::TooLarge(limit) => format!("{source} is larger than the {}", limit.text),
            ReadFailure::TooSlow => format!(
                "{source} was not read to its end within {}; is something still writing to it?",
                input.within
            ),
        };
        UsageError::invalid(at, "file", path, problem)
    })
}

/// How long stillup waited for standard input, if it read it.
pub(crate) fn stdin_waited() -> Duration {
    STDIN_WAITED.get().copied().unwrap_or_default()
}

static STDIN_WAITED: OnceLock<Duration> = OnceLock::new();
