//! The config file (`--config stillup.toml`, or `STILLUP_CONFIG`): a `[defaults]` table of
//! options by their long flag names, named `[targets.NAME]` tables, each with a `url` and
//! options for that target alone, and, for `stillup exporter`, `[modules.NAME]` tables, each
//! with an optional `prober` (the kind of target) and the options of its probes.
//!
//! This module owns the file's shape — TOML syntax, unknown keys, wrong types, keys in the
//! wrong table, each reported with file, line and key — and layers the file's values under
//! what flags and `STILLUP_*` variables set. It judges no value itself: `config.rs` does,
//! with the same functions as for flags, and [`Origins`] tells it which file line and key to
//! blame. Relative paths in the file are taken relative to the file's directory.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::args::{choice, OutputArgs, ProbeArgs, Sources, TargetArgs, WaitArgs};
use super::exporter::module::ModuleDef;
use super::input::{read_input, Input, Origin, Origins, UsageError, MAX_CONFIG_FILE};
use super::options::{self, Kind, Scope, Value};
use super::output_file;

/// Whether `key` is an option of one target's probe (a `[targets.NAME]` table may set it),
/// rather than of the whole run.
pub(crate) fn is_per_target(key: &str) -> bool {
    options::config_key(key).is_some_and(|o| o.scope == Scope::Target)
}

/// Whether `key` is an option only `[defaults]` (or a flag, or a variable) sets.
fn is_run_wide(key: &str) -> bool {
    options::config_key(key).is_some_and(|o| o.scope == Scope::Run)
}

/// Every key a table may hold: `url`, `prober` and the declared options.
fn keys() -> impl Iterator<Item = &'static str> {
    ["url", "prober"]
        .into_iter()
        .chain(options::config_keys().map(|o| o.name))
}

/// A single value: a string, or a bare number (`max-body = 65536`, `jitter = 0.5`), kept as
/// text so that it is judged exactly as the flag's value would be (`timeout = 90` is refused
/// for want of a unit, as `--timeout 90` is).
#[derive(Debug, Clone)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// A repeatable option: an array of strings (each with its place in the file), or one string.
#[derive(Debug, Clone, Default)]
struct List(Vec<(String, Option<Range<usize>>)>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = List;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings, or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<List, E> {
                Ok(List(vec![(v.to_string(), None)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    let span = item.span();
                    items.push((item.into_inner(), Some(span)));
                }
                Ok(List(items))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// One option's value as the file holds it, of the type its declaration gives it.
#[derive(Debug, Clone)]
enum Setting {
    Flag(bool),
    Text(Text),
    List(List),
}

/// One table: `[defaults]` or `[targets.NAME]`. Its keys are `url` and the options declared
/// in `options.rs` (whose value type decides the type the file must give); which table may
/// hold which key is checked after reading, by the option's scope.
#[derive(Debug, Default)]
struct Options {
    url: Option<Spanned<String>>,
    /// A module's kind of target.
    prober: Option<Spanned<String>>,
    /// The options the table sets, in the order of the file.
    set: Vec<(&'static str, Spanned<Setting>)>,
}

impl Options {
    fn get(&self, key: &str) -> Option<&Spanned<Setting>> {
        self.set.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys this table sets, with where their values are: `url`, then the options in the
    /// order of the file.
    fn set_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let url = self.url.as_ref().map(|url| ("url", url.span()));
        let prober = self.prober.as_ref().map(|p| ("prober", p.span()));
        url.into_iter()
            .chain(prober)
            .chain(self.set.iter().map(|(key, value)| (*key, value.span())))
            .collect()
    }
}

/// Every key a table may hold, for serde's messages.
fn fields() -> &'static [&'static str] {
    static FIELDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| keys().collect())
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Options", fields(), OptionsVisitor)
    }
}

struct OptionsVisitor;

impl<'de> Visitor<'de> for OptionsVisitor {
    type Value = Options;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of options")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
        let mut options = Options::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if options.is_set(key)
                || (key == "url" && options.url.is_some())
                || (key == "prober" && options.prober.is_some())
            {
                return Err(de::Error::duplicate_field(key));
            }
            if key == "url" {
                options.url = Some(map.next_value()?);
                continue;
            }
            if key == "prober" {
                options.prober = Some(map.next_value()?);
                continue;
            }
            let value = match options::config_key(key).map(|o| o.value) {
                Some(Value::Switch) => {
                    let v: Spanned<bool> = map.next_value()?;
                    Spanned::new(v.span(), Setting::Flag(v.into_inner()))
                }
                Some(Value::Many(_)) => {
                    let v: Spanned<List> = map.next_value()?;
                    Spanned::new(v.span(), Setting::List(v.into_inner()))
                }
                _ => {
                    let v: Spanned<Text> = map.next_value()?;
                    Spanned::new(v.span(), Setting::Text(v.into_inner()))
                }
            };
            options.set.push((key, value));
        }
        Ok(options)
    }
}

/// A key of a table: `url` or a declared option (`headers` is taken for `header`).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an option name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        match v {
            "url" => Ok("url"),
            "prober" => Ok("prober"),
            "headers" => Ok("header"),
            _ => options::config_key(v)
                .map(|o| o.name)
                .ok_or_else(|| E::unknown_field(v, fields())),
        }
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    defaults: Option<Spanned<Options>>,
    targets: Option<BTreeMap<String, Spanned<Options>>>,
    modules: Option<BTreeMap<String, Spanned<Options>>>,
}

/// A config file, read and checked; its values are judged when they are used.
#[derive(Debug)]
pub struct ConfigFile {
    /// As given, for messages.
    path: String,
    /// What relative paths in the file are relative to.
    dir: PathBuf,
    /// The byte offset where each line starts.
    lines: Vec<usize>,
    defaults: Options,
    targets: Vec<FileTarget>,
    modules: Vec<FileModule>,
}

/// A `[modules.NAME]` table.
#[derive(Debug)]
struct FileModule {
    name: String,
    /// Where the table starts.
    at: Range<usize>,
    options: Options,
}

/// A `[targets.NAME]` table.
#[derive(Debug)]
pub struct FileTarget {
    pub name: String,
    pub url: String,
    /// Where the url is, for messages about it.
    pub url_origin: Origin,
    /// Where the first probe option of the table is, if it has one.
    first_option: Option<Origin>,
    options: Options,
}

impl FileTarget {
    /// Whether the table sets options of its own (beyond `url`).
    pub fn has_probe_options(&self) -> bool {
        self.first_option.is_some()
    }
}

impl ConfigFile {
    /// Read and check the file at `path`, named by `origin` (`--config` or `STILLUP_CONFIG`).
    /// The file is read within [`MAX_CONFIG_FILE`] and `input`'s deadline.
    pub fn load(path: &str, origin: Origin, input: &Input) -> Result<ConfigFile, UsageError> {
        let bytes = read_input(&origin, path, MAX_CONFIG_FILE, input)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            UsageError::invalid(origin, "file", path, "cannot read it: it is not UTF-8 text")
        })?;
        ConfigFile::parse(path, &text)
    }

    /// Check `text`, the contents of the file at `path` (named in messages, and what
    /// relative paths in the file are relative to).
    pub fn parse(path: &str, text: &str) -> Result<ConfigFile, UsageError> {
        let mut file = ConfigFile {
            path: path.to_string(),
            dir: Path::new(path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            lines: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            defaults: Options::default(),
            targets: Vec::new(),
            modules: Vec::new(),
        };
        let document: Document = toml::from_str(text).map_err(|e| file.toml_error(text, &e))?;
        if let Some(defaults) = document.defaults {
            let defaults = defaults.into_inner();
            if let Some(url) = &defaults.url {
                return Err(file.error(
                    url.span(),
                    "defaults.url".to_string(),
                    "a url belongs to one target: put it under [targets.NAME]",
                ));
            }
            if let Some(prober) = &defaults.prober {
                return Err(file.error(
                    prober.span(),
                    "defaults.prober".to_string(),
                    "a prober belongs to one module: put it under [modules.NAME]",
                ));
            }
            file.defaults = defaults;
        }
        let mut modules: Vec<(String, Spanned<Options>)> =
            document.modules.unwrap_or_default().into_iter().collect();
        modules.sort_by_key(|(_, table)| table.span().start);
        for (name, table) in modules {
            let at = table.span();
            let options = table.into_inner();
            let prefix = format!("modules.{name}");
            if let Some(url) = &options.url {
                return Err(file.error(
                    url.span(),
                    format!("{prefix}.url"),
                    "a module probes the target each scrape names (/probe?target=…); \
                     a url belongs to [targets.NAME], for wait and check",
                ));
            }
            let run_wide = options
                .set_keys()
                .into_iter()
                .find(|(key, _)| is_run_wide(key) && *key != "attempt-timeout");
            if let Some((key, span)) = run_wide {
                return Err(file.error(
                    span,
                    format!("{prefix}.{key}"),
                    "applies to a whole run of wait or check, not to one probe of the exporter",
                ));
            }
            file.modules.push(FileModule { name, at, options });
        }
        let mut tables: Vec<(String, Spanned<Options>)> =
            document.targets.unwrap_or_default().into_iter().collect();
        tables.sort_by_key(|(_, table)| table.span().start);
        for (name, table) in tables {
            let span = table.span();
            let options = table.into_inner();
            let prefix = format!("targets.{name}");
            let set = options.set_keys();
            if let Some((key, at)) = set.iter().find(|(key, _)| is_run_wide(key)) {
                return Err(file.error(
                    at.clone(),
                    format!("{prefix}.{key}"),
                    format!(
                        "applies to the whole run, not one target: set it under [defaults] \
                         or with --{key}"
                    ),
                ));
            }
            if let Some(prober) = &options.prober {
                return Err(file.error(
                    prober.span(),
                    format!("{prefix}.prober"),
                    "the url's scheme says what a target is; prober belongs to [modules.NAME]",
                ));
            }
            let Some(url) = &options.url else {
                return Err(file.error(
                    span,
                    prefix,
                    "no url; add url = \"http://…\" or url = \"tcp://host:port\"",
                ));
            };
            let first_option = set
                .iter()
                .find(|(key, _)| *key != "url")
                .map(|(key, at)| file.origin(at.clone(), &format!("{prefix}.{key}")));
            file.targets.push(FileTarget {
                url: url.get_ref().clone(),
                url_origin: file.origin(url.span(), &format!("{prefix}.url")),
                name,
                first_option,
                options,
            });
        }
        Ok(file)
    }

    /// For `stillup exporter`: each `[modules.NAME]` table as a module, layered over
    /// `[defaults]`. What the exporter has no use for is refused, never ignored: a
    /// `[targets.NAME]` table, and options of a whole wait (other than `attempt-timeout`).
    pub fn modules(&self) -> Result<Vec<ModuleDef>, UsageError> {
        if let Some(target) = self.targets.first() {
            let at = match &target.url_origin {
                Origin::File { at, .. } => at.clone(),
                other => other.to_string(),
            };
            return Err(UsageError::File {
                at,
                key: Some(format!("targets.{}", target.name)),
                message: "the exporter probes the targets Prometheus names; [targets.NAME] \
                          tables are for wait and check: give the exporter a file of \
                          [modules.NAME] tables"
                    .to_string(),
            });
        }
        let run_wide = self
            .defaults
            .set_keys()
            .into_iter()
            .find(|(key, _)| is_run_wide(key) && *key != "attempt-timeout");
        if let Some((key, span)) = run_wide {
            return Err(self.error(
                span,
                format!("defaults.{key}"),
                "applies to a whole run of wait or check, not to one probe of the exporter",
            ));
        }
        let sources = Sources::default();
        let mut modules = Vec::new();
        for module in &self.modules {
            let table = format!("modules.{}", module.name);
            let mut args = WaitArgs::defaults().probe;
            let mut fail_when = Vec::new();
            let mut origins = Origins::default();
            for (name, options) in [
                ("defaults".to_string(), &self.defaults),
                (table.clone(), &module.options),
            ] {
                let mut layer = self.layer_table(name.clone(), options, &sources, &mut origins);
                layer.text("attempt-timeout", &mut args.attempt_timeout);
                Self::layer_probe(layer, &mut args, &mut fail_when)?;
            }
            if !fail_when.is_empty() {
                return Err(UsageError::invalid(
                    origins.of("fail-when"),
                    "condition",
                    &fail_when[0],
                    "the exporter makes one attempt per scrape: fail-when is wait's; use \
                     expect-json for what a healthy answer holds",
                ));
            }
            let prober = match &module.options.prober {
                None => None,
                Some(prober) => Some(
                    Kind::ALL
                        .iter()
                        .copied()
                        .find(|kind| kind.as_str() == prober.get_ref().as_str())
                        .ok_or_else(|| {
                            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                            self.error(
                                prober.span(),
                                format!("{table}.prober"),
                                format!(
                                    "unknown prober {:?}: expected one of {}",
                                    prober.get_ref(),
                                    names.join(", ")
                                ),
                            )
                        })?,
                ),
            };
            modules.push(ModuleDef {
                name: module.name.clone(),
                origin: Origin::File {
                    at: self.at(module.at.start),
                    key: table,
                },
                prober,
                args,
                origins,
                ip: None,
                form: None,
            });
        }
        Ok(modules)
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `[targets.NAME]` tables, in the order of the file.
    pub fn targets(&self) -> &[FileTarget] {
        &self.targets
    }

    pub fn target(&self, name: &str) -> Option<&FileTarget> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// `stillup.toml:7` for a byte offset into the file.
    fn at(&self, offset: usize) -> String {
        let line = self.lines.partition_point(|&start| start <= offset);
        format!("{}:{line}", self.path)
    }

    fn origin(&self, span: Range<usize>, key: &str) -> Origin {
        Origin::File {
            at: self.at(span.start),
            key: key.to_string(),
        }
    }

    fn error(&self, span: Range<usize>, key: String, message: impl ToString) -> UsageError {
        UsageError::File {
            at: self.at(span.start),
            key: Some(key),
            message: message.to_string(),
        }
    }

    /// A TOML or serde error as file, line, dotted key and message. The key is found by
    /// where the error points in the parsed document; an error pointing at a key (not at a
    /// value) is a key this file may not hold.
    fn toml_error(&self, text: &str, error: &toml::de::Error) -> UsageError {
        let message = error.message().trim().replace('\n', "; ");
        let Some(span) = error.span() else {
            return UsageError::File {
                at: self.path.clone(),
                key: None,
                message,
            };
        };
        let at = self.at(span.start);
        let Ok(document) = DeTable::parse(text) else {
            return UsageError::File {
                at,
                key: None,
                message: format!("invalid TOML: {message}"),
            };
        };
        let mut path = Vec::new();
        let found = locate(document.get_ref(), span.start, &mut path);
        let key = (!path.is_empty()).then(|| path.join("."));
        let message = match found {
            Some(Found::Key) => unknown_key(&path),
            _ => message,
        };
        UsageError::File { at, key, message }
    }

    /// Writes one table's values wherever no flag or variable set the option.
    fn layer<'a>(
        &'a self,
        target: Option<&'a FileTarget>,
        sources: &'a Sources,
        origins: &'a mut Origins,
    ) -> Layer<'a> {
        let (table, options) = match target {
            Some(t) => (format!("targets.{}", t.name), &t.options),
            None => ("defaults".to_string(), &self.defaults),
        };
        self.layer_table(table, options, sources, origins)
    }

    fn layer_table<'a>(
        &'a self,
        table: String,
        options: &'a Options,
        sources: &'a Sources,
        origins: &'a mut Origins,
    ) -> Layer<'a> {
        Layer {
            file: self,
            table,
            options,
            sources,
            origins,
        }
    }

    /// `[defaults]`' options that only `wait` has.
    pub fn apply_wait(
        &self,
        args: &mut WaitArgs,
        sources: &Sources,
        origins: &mut Origins,
    ) -> Result<(), UsageError> {
        let mut layer = self.layer(None, sources, origins);
        layer.choice("until", &mut args.until)?;
        layer.text("successes", &mut args.successes);
        layer.list("fail-fast", &mut args.fail_fast, false);
        layer.text("timeout", &mut args.timeout);
        layer.text("interval", &mut args.interval);
        layer.choice("backoff", &mut args.backoff)?;
        layer.text("max-interval", &mut args.max_interval);
        layer.some_text("jitter", &mut args.jitter);
        layer.flag("keep-alive", &mut args.keep_alive);
        Ok(())
    }

    /// `[defaults]`' run-wide options that `wait` and `check` share.
    pub fn apply_run(
        &self,
        targets: &mut TargetArgs,
        probe: &mut ProbeArgs,
        output: &mut OutputArgs,
        sources: &Sources,
        origins: &mut Origins,
    ) -> Result<(), UsageError> {
        let mut layer = self.layer(None, sources, origins);
        layer.text("attempt-timeout", &mut probe.attempt_timeout);
        layer.text("refused-interval", &mut probe.refused_interval);
        if layer.group(&["any", "require"]) {
            targets.any = false;
            targets.require = None;
            layer.flag("any", &mut targets.any);
            layer.some_text("require", &mut targets.require);
        }
        layer.choice("output", &mut output.output)?;
        layer.output_files("output-file", &mut output.output_file);
        layer.flag("quiet", &mut output.quiet);
        layer.choice("color", &mut output.color)?;
        Ok(())
    }

    /// The probe options of a target's table, or of `[defaults]` for `None`.
    pub fn apply_probe(
        &self,
        target: Option<&FileTarget>,
        args: &mut ProbeArgs,
        fail_when: &mut Vec<String>,
        sources: &Sources,
        origins: &mut Origins,
    ) -> Result<(), UsageError> {
        let layer = self.layer(target, sources, origins);
        Self::layer_probe(layer, args, fail_when)
    }

    /// The options of one probe, from `layer`'s table.
    fn layer_probe(
        mut layer: Layer<'_>,
        args: &mut ProbeArgs,
        fail_when: &mut Vec<String>,
    ) -> Result<(), UsageError> {
        layer.text("expect-status", &mut args.expect_status);
        layer.list("expect-json", &mut args.expect_json, false);
        layer.list("expect-body", &mut args.expect_body, false);
        layer.list("reject-body", &mut args.reject_body, false);
        layer.list("expect-header", &mut args.expect_header, false);
        layer.some_text("max-latency", &mut args.max_latency);
        layer.text("method", &mut args.method);
        layer.list("header", &mut args.headers, false);
        if layer.group(&["data", "data-file"]) {
            args.data = None;
            args.data_file = None;
            layer.some_text("data", &mut args.data);
            layer.path("data-file", &mut args.data_file);
        }
        if layer.group(&["user", "bearer"]) {
            args.user = None;
            args.bearer = None;
            layer.secret("user", &mut args.user);
            layer.secret("bearer", &mut args.bearer);
        }
        layer.flag("insecure", &mut args.insecure);
        layer.list("cacert", &mut args.cacert, true);
        if layer.group(&["cert", "key"]) {
            args.cert = None;
            args.key = None;
            layer.path("cert", &mut args.cert);
            layer.path("key", &mut args.key);
        }
        layer.flag("no-follow", &mut args.no_follow);
        layer.flag("http2", &mut args.http2);
        layer.list("resolve", &mut args.resolve, false);
        layer.list("connect-to", &mut args.connect_to, false);
        layer.text("max-body", &mut args.max_body);
        layer.list("fail-when", fail_when, false);
        Ok(())
    }

    /// A path from the file, relative to the file's directory unless absolute (or `-`).
    fn resolve(&self, raw: &str) -> String {
        if raw == "-" || Path::new(raw).is_absolute() || self.dir.as_os_str().is_empty() {
            raw.to_string()
        } else {
            self.dir.join(raw).display().to_string()
        }
    }
}

/// One table of the file being written under the flags and variables.
struct Layer<'a> {
    file: &'a ConfigFile,
    /// `defaults` or `targets.NAME`.
    table: String,
    options: &'a Options,
    sources: &'a Sources,
    origins: &'a mut Origins,
}

impl<'a> Layer<'a> {
    fn origin(&self, key: &str, span: Range<usize>) -> Origin {
        self.file.origin(span, &format!("{}.{key}", self.table))
    }

    /// Takes the value unless a flag or variable set the option; records where it came from.
    fn take(&mut self, key: &'static str) -> Option<&'a Spanned<Setting>> {
        let value = self.options.get(key)?;
        if self.sources.explicit(key) {
            return None;
        }
        let origin = self.origin(key, value.span());
        self.origins.set(key, origin, Vec::new());
        Some(value)
    }

    /// The text the file gives `key`, unless a flag or variable set it.
    fn take_text(&mut self, key: &'static str) -> Option<&'a str> {
        match self.take(key).map(Spanned::get_ref) {
            Some(Setting::Text(Text(value))) => Some(value),
            Some(_) => unreachable!("{key} is declared with a value, so the file gives it text"),
            None => None,
        }
    }

    fn text(&mut self, key: &'static str, slot: &mut String) {
        if let Some(value) = self.take_text(key) {
            *slot = value.to_string();
        }
    }

    fn some_text(&mut self, key: &'static str, slot: &mut Option<String>) {
        if let Some(value) = self.take_text(key) {
            *slot = Some(value.to_string());
        }
    }

    fn path(&mut self, key: &'static str, slot: &mut Option<String>) {
        if let Some(value) = self.take_text(key) {
            *slot = Some(self.file.resolve(value));
        }
    }

    /// `env:VAR`, `file:PATH` (relative to the file) or the secret; for `user`, after `USER:`.
    fn secret(&mut self, key: &'static str, slot: &mut Option<String>) {
        let Some(value) = self.take_text(key) else {
            return;
        };
        let resolve = |source: &str| match source.strip_prefix("file:") {
            Some(path) => format!("file:{}", self.file.resolve(path)),
            None => source.to_string(),
        };
        *slot = Some(match value.split_once(':') {
            Some((user, source)) if key == "user" => format!("{user}:{}", resolve(source)),
            _ => resolve(value),
        });
    }

    fn flag(&mut self, key: &'static str, slot: &mut bool) {
        match self.take(key).map(Spanned::get_ref) {
            Some(&Setting::Flag(value)) => *slot = value,
            Some(_) => unreachable!("{key} is declared a switch, so the file gives it a boolean"),
            None => {}
        }
    }

    fn list(&mut self, key: &'static str, slot: &mut Vec<String>, paths: bool) {
        let file = self.file;
        self.list_with(key, slot, |value| match paths {
            true => file.resolve(value),
            false => value.to_string(),
        });
    }

    /// `output-file`: paths relative to the file, also after `FORMAT=`.
    fn output_files(&mut self, key: &'static str, slot: &mut Vec<String>) {
        let file = self.file;
        self.list_with(key, slot, |value| match output_file::split(value) {
            (Some(format), path) => format!("{format}={}", file.resolve(path)),
            (None, path) => file.resolve(path),
        });
    }

    fn list_with(
        &mut self,
        key: &'static str,
        slot: &mut Vec<String>,
        each: impl Fn(&str) -> String,
    ) {
        let Some(list) = self.take(key) else {
            return;
        };
        let Setting::List(List(items)) = list.get_ref() else {
            unreachable!("{key} is declared repeatable, so the file gives it a list");
        };
        *slot = items.iter().map(|(value, _)| each(value)).collect();
        let items = items
            .iter()
            .map(|(_, span)| self.origin(key, span.clone().unwrap_or(list.span())))
            .collect();
        let origin = self.origin(key, list.span());
        self.origins.set(key, origin, items);
    }

    fn choice<T: ValueEnum>(&mut self, key: &'static str, slot: &mut T) -> Result<(), UsageError> {
        if let Some(value) = self.take_text(key) {
            *slot = choice(value).map_err(|problem| {
                UsageError::invalid(self.origins.of(key), key, value, problem)
            })?;
        }
        Ok(())
    }

    /// Options that only make sense together (`data` and `data-file`, `user` and `bearer`,
    /// `cert` and `key`, `any` and `require`): a table that sets one of them replaces them all,
    /// unless a flag or variable set one, which then decides for the whole group.
    fn group(&mut self, keys: &[&'static str]) -> bool {
        let sets = keys.iter().any(|key| self.options.is_set(key));
        if !sets || keys.iter().any(|key| self.sources.explicit(key)) {
            return false;
        }
        for key in keys {
            self.origins.clear(key);
        }
        true
    }
}

/// What an error's offset points at.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Key,
    Value,
}

/// Fills `path` with the dotted key at `offset`, depth first: the nearest key or value
/// containing it. A `[header]` table's own span is only its header line, so every table is
/// searched, not just those whose span contains the offset.
fn locate(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> Option<Found> {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if key.span().contains(&offset) {
            return Some(Found::Key);
        }
        let inner = match value.get_ref() {
            DeValue::Table(table) => locate(table, offset, path),
            DeValue::Array(items) => items.iter().find_map(|item| match item.get_ref() {
                DeValue::Table(table) => locate(table, offset, path),
                _ => None,
            }),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
        if value.span().contains(&offset) {
            return Some(Found::Value);
        }
        path.pop();
    }
    None
}

/// What to say about a key the file may not hold, at dotted `path`.
fn unknown_key(path: &[String]) -> String {
    let key = path.last().map(String::as_str).unwrap_or_default();
    if path.len() == 1 {
        let hint = if keys().any(|k| k == key) {
            format!("options go in a table: put {key} under [defaults] or [targets.NAME]")
        } else {
            "the file holds a [defaults] table, [targets.NAME] tables and (for the exporter) [modules.NAME] tables".to_string()
        };
        return format!("unknown key; {hint}");
    }
    let nearest = keys()
        .map(|k| (edit_distance(key, k), k))
        .min()
        .filter(|(distance, _)| *distance <= 2);
    match nearest {
        Some((_, k)) => format!("unknown key; did you mean {k}?"),
        None => "unknown key; keys are the long flag names of stillup wait, e.g. timeout, \
                 expect-status, header"
            .to_string(),
    }
}

/// Levenshtein distance, for "did you mean".
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A value of the type the declaration gives `key` (`url` is a string).
    fn sample(key: &str) -> &'static str {
        match options::config_key(key).map(|o| o.value) {
            Some(Value::Switch) => "true",
            Some(Value::Many(_)) => "[\"x\"]",
            _ => "\"x\"",
        }
    }

    /// Every declared key is a field of [`Options`] of the declared type, and is reported as
    /// set; a value of another type is refused.
    #[test]
    fn every_key_is_a_field_of_its_type_and_is_reported_as_set() {
        for key in keys() {
            let options: Options = toml::from_str(&format!("{key} = {}", sample(key)))
                .unwrap_or_else(|e| panic!("{key} = {}: {e}", sample(key)));
            let set: Vec<&str> = options.set_keys().into_iter().map(|(k, _)| k).collect();
            assert_eq!(set, [key]);
            let wrong = if sample(key) == "true" {
                "\"x\""
            } else {
                "true"
            };
            assert!(
                toml::from_str::<Options>(&format!("{key} = {wrong}")).is_err(),
                "{key} takes {wrong}"
            );
        }
    }

    /// Every declared key, set in `[defaults]`, is layered under the flags: none is read
    /// and then ignored.
    #[test]
    fn every_key_is_layered() {
        let mut text = String::from("[defaults]\n");
        for option in options::config_keys() {
            let value = match option.value {
                Value::Choice(names) => format!("\"{}\"", names[0]),
                _ => sample(option.name).to_string(),
            };
            text.push_str(&format!("{} = {value}\n", option.name));
        }
        let file = ConfigFile::parse("s.toml", &text).unwrap();
        let mut args = WaitArgs::defaults();
        let (sources, mut origins) = (Sources::default(), Origins::default());
        file.apply_wait(&mut args, &sources, &mut origins).unwrap();
        let WaitArgs {
            targets,
            probe,
            output,
            fail_when,
            ..
        } = &mut args;
        file.apply_run(targets, probe, output, &sources, &mut origins)
            .unwrap();
        file.apply_probe(None, probe, fail_when, &sources, &mut origins)
            .unwrap();
        for option in options::config_keys() {
            assert!(
                origins.is_set(option.name),
                "{} is read from the file but never layered",
                option.name
            );
        }
    }

    /// The README's promise: every option of wait and check can be set in the file (the
    /// file cannot name another config file or targets file, nor hold `-- COMMAND`).
    #[test]
    fn every_flag_of_wait_and_check_is_a_key() {
        let cli = super::super::args::Cli::command();
        for name in ["wait", "check"] {
            for arg in cli.find_subcommand(name).unwrap().get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if matches!(long, "config" | "targets-file" | "help" | "version") {
                    continue;
                }
                assert!(
                    options::config_key(long).is_some(),
                    "--{long} of {name} is no key of the config file"
                );
            }
        }
    }

    #[test]
    fn lines_count_from_one() {
        let file = ConfigFile {
            path: "s.toml".into(),
            dir: PathBuf::new(),
            lines: vec![0, 4, 9],
            defaults: Options::default(),
            targets: Vec::new(),
            modules: Vec::new(),
        };
        assert_eq!(file.at(0), "s.toml:1");
        assert_eq!(file.at(3), "s.toml:1");
        assert_eq!(file.at(4), "s.toml:2");
        assert_eq!(file.at(100), "s.toml:3");
    }

    #[test]
    fn unknown_keys_get_a_suggestion_or_a_hint() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            unknown_key(&path(&["defaults", "timout"])),
            "unknown key; did you mean timeout?"
        );
        assert!(unknown_key(&path(&["timeout"])).contains("[defaults]"));
        assert!(unknown_key(&path(&["targets", "api", "zzzzzz"])).contains("flag names"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn located_keys_follow_header_tables() {
        let text =
            "[defaults]\ntimeout = \"2m\"\n\n[targets.api]\nurl = \"http://h/\"\ntmeout = 1\n";
        let doc = DeTable::parse(text).unwrap();
        let offset = text.find("tmeout").unwrap();
        let mut path = Vec::new();
        assert_eq!(locate(doc.get_ref(), offset, &mut path), Some(Found::Key));
        assert_eq!(path, ["targets", "api", "tmeout"]);
        let offset = text.find("\"2m\"").unwrap();
        let mut path = Vec::new();
        assert_eq!(locate(doc.get_ref(), offset, &mut path), Some(Found::Value));
        assert_eq!(path, ["defaults", "timeout"]);
    }
}
