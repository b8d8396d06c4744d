//! A blackbox_exporter `blackbox.yml`, read as modules (`--blackbox-config FILE`): the common
//! subset is translated to stillup's options; anything else is refused with file, line and key.
//!
//! This module owns the file's shape — YAML syntax, the keys blackbox_exporter documents
//! (CONFIGURATION.md), their types — and their translation into a [`ModuleDef`] whose `args`
//! hold what the equivalent flags would (`valid_status_codes: [200, 204]` is
//! `--expect-status 200,204`), each with the file line and key it came from. It judges no value
//! that a flag would carry (a regex, a method, a header): `config.rs` does, as for flags, and
//! blames the key recorded here. A key whose meaning stillup cannot give is refused, never read
//! and ignored. The YAML parser (saphyr-parser) is behind [`Tree::parse`] alone.
//!
//! Hostile files: the file is read within [`MAX_CONFIG_FILE`]; aliases are expanded with a cap
//! on the values they make ([`MAX_VALUES`]), so an alias bomb is refused in microseconds; nesting
//! is capped ([`MAX_DEPTH`]). Values of secret-bearing keys (headers, passwords, tokens) are
//! never part of a message.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::module::{IpPreference, IpProtocol, ModuleDef};
use crate::cli::args::{ProbeArgs, WaitArgs};
use crate::cli::file::edit_distance;
use crate::cli::input::{read_input, Input, Origin, Origins, UsageError, MAX_CONFIG_FILE};
use crate::cli::options::Kind;

/// Most values (scalars, lists, maps) a file may make, aliases expanded: far above any real
/// blackbox.yml, far below what would cost noticeable memory or time.
pub const MAX_VALUES: usize = 250_000;

/// Deepest nesting of lists and maps (blackbox's own keys go five deep).
pub const MAX_DEPTH: usize = 64;

/// Longest module or header name shown in a message, in characters.
const SHOWN_NAME: usize = 80;

/// One blackbox module: its options, and how it completes a target given without a scheme.
#[derive(Debug, Clone)]
pub struct BlackboxModule {
    pub def: ModuleDef,
    /// What the module makes of `host:port` (blackbox's tcp and grpc targets, and http
    /// targets without `http://`).
    pub target: TargetForm,
}

pub use super::module::TargetForm;

/// Read the blackbox.yml at `path`, named by `origin` (`--blackbox-config`), within
/// [`MAX_CONFIG_FILE`] and `input`'s deadline, and translate its modules.
pub fn load(path: &str, origin: Origin, input: &Input) -> Result<Vec<BlackboxModule>, UsageError> {
    let bytes = read_input(&origin, path, MAX_CONFIG_FILE, input)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        UsageError::invalid(origin, "file", path, "cannot read it: it is not UTF-8 text")
    })?;
    parse(path, &text)
}

/// Translate `text`, the contents of the blackbox.yml at `path` (named in messages, and what
/// relative paths in it are relative to), into modules, in the order of the file.
pub fn parse(path: &str, text: &str) -> Result<Vec<BlackboxModule>, UsageError> {
    let file = File {
        path,
        dir: Path::new(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let Some(root) = Tree::parse(text).map_err(|(line, message)| UsageError::File {
        at: format!("{path}:{line}"),
        key: None,
        message,
    })?
    else {
        return Ok(Vec::new());
    };
    if !matches!(root.value, Value::Map(_)) {
        return Err(UsageError::File {
            at: file.at(&root),
            key: None,
            message: "expected a map with modules: in it".into(),
        });
    }
    let defaults = WaitArgs::defaults().probe;
    let mut modules = Vec::new();
    for (key, key_node, value) in file.entries(&root, "")? {
        if key != "modules" {
            return Err(file.refuse(
                key_node,
                key,
                "unknown key; a blackbox.yml holds modules: only",
            ));
        }
        // Names are unique: a key given twice in a map was refused while reading.
        for (name, name_node, body) in file.entries(value, "modules")? {
            modules.push(file.module(name, name_node, body, &defaults)?);
        }
    }
    Ok(modules)
}

fn module_key(name: &str) -> String {
    format!("modules.{}", shown(name))
}

/// `name` cut to [`SHOWN_NAME`] characters, for messages.
fn shown(name: &str) -> String {
    if name.chars().count() <= SHOWN_NAME {
        return name.to_string();
    }
    let kept: String = name.chars().take(SHOWN_NAME - 1).collect();
    format!("{kept}…")
}

/// The file being translated.
struct File<'a> {
    path: &'a str,
    /// What relative paths are relative to.
    dir: PathBuf,
}

impl File<'_> {
    fn at(&self, node: &Node) -> String {
        format!("{}:{}", self.path, node.line)
    }

    fn origin(&self, node: &Node, key: &str) -> Origin {
        Origin::File {
            at: self.at(node),
            key: key.to_string(),
        }
    }

    fn refuse(&self, node: &Node, key: &str, message: impl Into<String>) -> UsageError {
        UsageError::File {
            at: self.at(node),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// A path from the file, relative to the file's directory unless absolute.
    fn resolve(&self, raw: &str) -> String {
        if Path::new(raw).is_absolute() || self.dir.as_os_str().is_empty() {
            raw.to_string()
        } else {
            self.dir.join(raw).display().to_string()
        }
    }

    /// The entries of a map (none for null) as (key, key's node, value), in file order.
    fn entries<'n>(
        &self,
        node: &'n Node,
        key: &str,
    ) -> Result<Vec<(&'n str, &'n Node, &'n Node)>, UsageError> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| match &k.value {
                    Value::Scalar(s) => Ok((s.text.as_str(), k, v)),
                    _ => Err(self.refuse(k, key, "a key must be a name, not a list or a map")),
                })
                .collect(),
            _ if node.is_null() => Ok(Vec::new()),
            _ => Err(self.refuse(node, key, "expected a map of keys")),
        }
    }

    /// The items of a list (none for null).
    fn items<'n>(&self, node: &'n Node, key: &str) -> Result<&'n [Node], UsageError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ if node.is_null() => Ok(&[]),
            _ => Err(self.refuse(
                node,
                key,
                "expected a list, e.g. [200, 204] or lines of '- …'",
            )),
        }
    }

    /// A string; `None` for null. The value is never shown: it may be a secret.
    fn string<'n>(&self, node: &'n Node, key: &str) -> Result<Option<&'n str>, UsageError> {
        if node.is_null() {
            return Ok(None);
        }
        match &node.value {
            Value::Scalar(s) if s.tag_is_plain_string() => Ok(Some(&s.text)),
            Value::Scalar(_) => Err(self.refuse(
                node,
                key,
                "YAML tags other than !!str are not supported here; write the value as text",
            )),
            _ => Err(self.refuse(node, key, "expected a single value, not a list or a map")),
        }
    }

    fn bool(&self, node: &Node, key: &str) -> Result<Option<bool>, UsageError> {
        let Some(text) = self.string(node, key)? else {
            return Ok(None);
        };
        match text {
            "true" | "True" | "TRUE" => Ok(Some(true)),
            "false" | "False" | "FALSE" => Ok(Some(false)),
            _ => Err(self.refuse(node, key, "expected true or false")),
        }
    }

    /// One module.
    fn module(
        &self,
        name: &str,
        name_node: &Node,
        body: &Node,
        defaults: &ProbeArgs,
    ) -> Result<BlackboxModule, UsageError> {
        let prefix = module_key(name);
        let mut out = Out {
            args: defaults.clone(),
            origins: Origins::default(),
            ip: IpSpec::default(),
            target: TargetForm {
                scheme: "http",
                path: String::new(),
            },
        };
        let mut prober = None;
        let mut sections = Vec::new();
        for (key, key_node, value) in self.entries(body, &prefix)? {
            let path = format!("{prefix}.{key}");
            match key {
                "prober" => {
                    let text = self.string(value, &path)?.unwrap_or_default();
                    prober = Some(match text {
                        "http" => Kind::Http,
                        "tcp" => Kind::Tcp,
                        "grpc" => Kind::Grpc,
                        "icmp" | "dns" | "unix" | "websocket" => {
                            return Err(self.refuse(
                                key_node,
                                &path,
                                format!(
                                    "the {text} prober is not supported by stillup, which \
                                     probes http, tcp and grpc (and databases and brokers \
                                     by URL); keep blackbox_exporter for this module"
                                ),
                            ))
                        }
                        _ => {
                            return Err(self.refuse(key_node, &path, "expected http, tcp or grpc"))
                        }
                    });
                }
                "timeout" => self.timeout(&mut out, key_node, value, &path)?,
                "http" | "tcp" | "grpc" | "icmp" | "dns" | "unix" | "websocket" => {
                    sections.push((key, key_node, value));
                }
                _ => return Err(self.refuse(key_node, &path, unknown(key, MODULE_KEYS))),
            }
        }
        let Some(kind) = prober else {
            return Err(self.refuse(
                name_node,
                &prefix,
                "no prober; add prober: http, tcp or grpc",
            ));
        };
        let own = match kind {
            Kind::Grpc => "grpc",
            Kind::Tcp => "tcp",
            _ => "http",
        };
        for (key, key_node, value) in sections {
            let path = format!("{prefix}.{key}");
            if key != own {
                return Err(self.refuse(
                    key_node,
                    &path,
                    format!("settings of the {key} prober in a module of the {own} prober have no effect; remove them"),
                ));
            }
            match kind {
                Kind::Grpc => self.grpc(&mut out, value, &path)?,
                Kind::Tcp => self.tcp(&mut out, value, &path)?,
                _ => self.http(&mut out, value, &path)?,
            }
        }
        out.target.scheme = match (kind, out.target.scheme) {
            (Kind::Grpc, "grpcs") => "grpcs",
            (Kind::Grpc, _) => "grpc",
            (Kind::Tcp, _) => "tcp",
            _ => "http",
        };
        let ip = out.ip.preference();
        Ok(BlackboxModule {
            def: ModuleDef {
                name: name.to_string(),
                origin: self.origin(name_node, &prefix),
                prober: Some(kind),
                args: out.args,
                origins: out.origins,
                ip,
                form: Some(out.target.clone()),
            },
            target: out.target,
        })
    }

    /// `timeout`: a Go duration (`5s`, `1m30s`, `1.5s`, `500ms`) as stillup's
    /// `attempt-timeout`. `0s` is blackbox's "as long as the scrape allows", as no timeout is.
    fn timeout(
        &self,
        out: &mut Out,
        key_node: &Node,
        value: &Node,
        path: &str,
    ) -> Result<(), UsageError> {
        let Some(text) = self.string(value, path)? else {
            return Ok(());
        };
        let duration = go_duration(text.trim()).map_err(|problem| {
            UsageError::invalid(self.origin(key_node, path), "duration", text, problem)
        })?;
        if duration.is_zero() {
            return Ok(());
        }
        // Kept as written where stillup reads it the same, else spelled out (1.5s → 1s 500ms).
        let same = humantime::parse_duration(text.trim()).ok() == Some(duration);
        out.args.attempt_timeout = if same {
            text.trim().to_string()
        } else {
            humantime::format_duration(duration).to_string()
        };
        out.set("attempt-timeout", self.origin(key_node, path));
        Ok(())
    }

    /// The `http:` section.
    fn http(&self, out: &mut Out, section: &Node, prefix: &str) -> Result<(), UsageError> {
        let mut follow: Option<(bool, Origin)> = None;
        let mut no_follow: Option<(bool, Origin)> = None;
        let mut body: Option<&Node> = None;
        let mut auth: Option<(&str, &Node)> = None;
        for (key, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{key}");
            let origin = self.origin(key_node, &path);
            match key {
                "valid_status_codes" => {
                    let mut codes = Vec::new();
                    for item in self.items(value, &path)? {
                        let text = self.string(item, &path)?.unwrap_or_default();
                        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(self.refuse(
                                item,
                                &path,
                                "expected a list of status codes, e.g. [200, 204]",
                            ));
                        }
                        codes.push(text);
                    }
                    // An empty list is blackbox's default, 2xx, as stillup's is.
                    if !codes.is_empty() {
                        out.args.expect_status = codes.join(",");
                        out.set("expect-status", origin);
                    }
                }
                "method" => {
                    if let Some(method) = self.string(value, &path)? {
                        out.args.method = method.to_string();
                        out.set("method", origin);
                    }
                }
                "headers" => {
                    let mut items = Vec::new();
                    for (name, name_node, header) in self.entries(value, &path)? {
                        let item_path = self.header_path(&path, name, name_node)?;
                        let Some(text) = self.string(header, &item_path)? else {
                            // Go's header map takes null as the empty value.
                            out.args.headers.push(format!("{name}:"));
                            items.push(self.origin(name_node, &item_path));
                            continue;
                        };
                        out.args.headers.push(format!("{name}: {text}"));
                        items.push(self.origin(name_node, &item_path));
                    }
                    if !items.is_empty() {
                        out.set_list("header", origin, items);
                    }
                }
                "fail_if_body_not_matches_regexp" | "fail_if_body_matches_regexp" => {
                    let (option, slot) = match key {
                        "fail_if_body_not_matches_regexp" => {
                            ("expect-body", &mut out.args.expect_body)
                        }
                        _ => ("reject-body", &mut out.args.reject_body),
                    };
                    let mut items = Vec::new();
                    for item in self.items(value, &path)? {
                        let text = self.string(item, &path)?.unwrap_or_default();
                        slot.push(text.to_string());
                        items.push(self.origin(item, &path));
                    }
                    if !items.is_empty() {
                        out.set_list(option, origin, items);
                    }
                }
                "fail_if_header_not_matches" => {
                    let mut items = Vec::new();
                    for item in self.items(value, &path)? {
                        let condition = self.header_match(item, &path)?;
                        out.args.expect_header.push(condition);
                        items.push(self.origin(item, &path));
                    }
                    if !items.is_empty() {
                        out.set_list("expect-header", origin, items);
                    }
                }
                "tls_config" => self.tls_config(out, value, &path)?,
                "follow_redirects" => {
                    if let Some(on) = self.bool(value, &path)? {
                        follow = Some((on, origin));
                    }
                }
                "no_follow_redirects" => {
                    if let Some(on) = self.bool(value, &path)? {
                        no_follow = Some((on, origin));
                    }
                }
                "body" => {
                    if let Some(text) = self.string(value, &path)? {
                        if body.replace(key_node).is_some() {
                            return Err(self.refuse(
                                key_node,
                                &path,
                                "body and body_file both set; keep one",
                            ));
                        }
                        out.args.data = Some(text.to_string());
                        out.set("data", origin);
                    }
                }
                "body_file" => {
                    if let Some(text) = self.string(value, &path)? {
                        if body.replace(key_node).is_some() {
                            return Err(self.refuse(
                                key_node,
                                &path,
                                "body and body_file both set; keep one",
                            ));
                        }
                        out.args.data_file = Some(self.resolve(text));
                        out.set("data-file", origin);
                    }
                }
                "basic_auth" | "authorization" => {
                    if let Some((other, _)) = auth.replace((key, key_node)) {
                        return Err(self.refuse(
                            key_node,
                            &path,
                            format!("{other} is set too; keep one"),
                        ));
                    }
                    match key {
                        "basic_auth" => self.basic_auth(out, value, &path, origin)?,
                        _ => self.authorization(out, value, &path, origin)?,
                    }
                }
                "preferred_ip_protocol" | "ip_protocol_fallback" => {
                    self.ip(out, key, key_node, value, &path)?;
                }
                // Settings whose "off" is what stillup does anyway.
                "fail_if_ssl"
                | "fail_if_not_ssl"
                | "enable_http3"
                | "skip_resolve_phase_with_proxy"
                | "enable_http2" => {
                    if self.bool(value, &path)? == Some(true) {
                        return Err(self.refuse(key_node, &path, not_supported(key)));
                    }
                }
                "valid_http_versions"
                | "http_headers"
                | "body_size_limit"
                | "compression"
                | "fail_if_body_json_matches_cel"
                | "fail_if_body_json_not_matches_cel"
                | "fail_if_header_matches"
                | "oauth2"
                | "proxy_url"
                | "no_proxy"
                | "proxy_from_environment"
                | "proxy_connect_header"
                | "bearer_token"
                | "bearer_token_file" => {
                    return Err(self.refuse(key_node, &path, not_supported(key)));
                }
                _ => return Err(self.refuse(key_node, &path, unknown(key, HTTP_KEYS))),
            }
        }
        // blackbox: the deprecated no_follow_redirects, when set, decides.
        if let Some((on, origin)) = no_follow.or(follow.map(|(on, origin)| (!on, origin))) {
            out.args.no_follow = on;
            out.set("no-follow", origin);
        }
        Ok(())
    }

    /// `modules.M.http.headers.NAME` for a valid header name; a name that is not one is
    /// refused without being shown (a misplaced `Authorization Bearer …` would be a secret).
    fn header_path(&self, path: &str, name: &str, node: &Node) -> Result<String, UsageError> {
        if http::HeaderName::from_bytes(name.trim().as_bytes()).is_err() || name.trim() != name {
            return Err(self.refuse(
                node,
                path,
                "a header name here is not a valid HTTP header name (not shown, it may be a \
                 secret); write Name: value",
            ));
        }
        Ok(format!("{path}.{}", shown(name)))
    }

    /// One `fail_if_header_not_matches` item: `{header, regexp, allow_missing}`.
    fn header_match(&self, item: &Node, path: &str) -> Result<String, UsageError> {
        let (mut header, mut regexp) = (None, None);
        for (key, key_node, value) in self.entries(item, path)? {
            let item_path = format!("{path}.{key}");
            match key {
                "header" => header = self.string(value, &item_path)?.map(|h| (h, key_node)),
                "regexp" => regexp = self.string(value, &item_path)?.map(|r| (r, key_node)),
                "allow_missing" => {
                    if self.bool(value, &item_path)? == Some(true) {
                        return Err(self.refuse(
                            key_node,
                            &item_path,
                            "not supported by stillup: its header conditions need the \
                             header; drop allow_missing, or the condition",
                        ));
                    }
                }
                _ => {
                    return Err(self.refuse(
                        key_node,
                        &item_path,
                        unknown(key, &["header", "regexp", "allow_missing"]),
                    ))
                }
            }
        }
        let Some((name, name_node)) = header else {
            return Err(self.refuse(item, path, "no header; each item needs header: NAME"));
        };
        let item_path = self.header_path(&format!("{path}.header"), name, name_node)?;
        match regexp {
            // blackbox's empty regexp matches any value: the header must only be present.
            None | Some(("", _)) => Ok(name.to_string()),
            Some((regexp, node)) if regexp.trim() != regexp => Err(self.refuse(
                node,
                &item_path,
                "a regexp that starts or ends with white space is not supported (stillup \
                 trims it); use \\s or [ ] instead",
            )),
            Some((regexp, _)) => Ok(format!("{name}: {regexp}")),
        }
    }

    /// `tls_config`, of http and grpc.
    fn tls_config(&self, out: &mut Out, section: &Node, prefix: &str) -> Result<(), UsageError> {
        let (mut cert, mut key) = (None, None);
        for (name, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{name}");
            let origin = self.origin(key_node, &path);
            match name {
                "insecure_skip_verify" => {
                    if let Some(on) = self.bool(value, &path)? {
                        out.args.insecure = on;
                        out.set("insecure", origin);
                    }
                }
                "ca_file" => {
                    if let Some(file) = self.string(value, &path)? {
                        out.args.cacert = vec![self.resolve(file)];
                        out.set_list("cacert", origin.clone(), vec![origin]);
                    }
                }
                "cert_file" => cert = self.string(value, &path)?.map(|f| (f, origin, key_node)),
                "key_file" => key = self.string(value, &path)?.map(|f| (f, origin, key_node)),
                "server_name" | "min_version" | "max_version" | "ca" | "cert" | "key"
                | "ca_ref" | "cert_ref" | "key_ref" => {
                    return Err(self.refuse(key_node, &path, not_supported(name)));
                }
                _ => return Err(self.refuse(key_node, &path, unknown(name, TLS_KEYS))),
            }
        }
        match (cert, key) {
            (Some((cert, cert_origin, _)), Some((key, key_origin, _))) => {
                out.args.cert = Some(self.resolve(cert));
                out.args.key = Some(self.resolve(key));
                out.set("cert", cert_origin);
                out.set("key", key_origin);
            }
            (Some((_, _, node)), None) => {
                return Err(self.refuse(
                    node,
                    &format!("{prefix}.cert_file"),
                    "a client certificate needs its key_file",
                ))
            }
            (None, Some((_, _, node))) => {
                return Err(self.refuse(
                    node,
                    &format!("{prefix}.key_file"),
                    "a key needs its cert_file",
                ))
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// `basic_auth: {username, password | password_file}` as `--user USER:SECRET`.
    fn basic_auth(
        &self,
        out: &mut Out,
        section: &Node,
        prefix: &str,
        origin: Origin,
    ) -> Result<(), UsageError> {
        let (mut user, mut secret) = (None, None);
        for (name, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{name}");
            match name {
                "username" => user = self.string(value, &path)?.map(|u| (u, key_node)),
                "password" | "password_file" => {
                    let Some(text) = self.string(value, &path)? else {
                        continue;
                    };
                    if secret.is_some() {
                        return Err(self.refuse(
                            key_node,
                            &path,
                            "password and password_file both set; keep one",
                        ));
                    }
                    secret = Some(self.secret(name == "password_file", text, key_node, &path)?);
                }
                "username_file" => return Err(self.refuse(key_node, &path, not_supported(name))),
                _ => {
                    return Err(self.refuse(
                        key_node,
                        &path,
                        unknown(
                            name,
                            &["username", "password", "password_file", "username_file"],
                        ),
                    ))
                }
            }
        }
        let Some((user, user_node)) = user else {
            return Err(self.refuse(section, prefix, "no username"));
        };
        if user.contains(':') {
            return Err(self.refuse(
                user_node,
                &format!("{prefix}.username"),
                "a basic auth user name cannot contain ':'",
            ));
        }
        out.args.user = Some(format!("{user}:{}", secret.unwrap_or_default()));
        out.set("user", origin);
        Ok(())
    }

    /// `authorization: {type: Bearer, credentials | credentials_file}` as `--bearer SECRET`.
    fn authorization(
        &self,
        out: &mut Out,
        section: &Node,
        prefix: &str,
        origin: Origin,
    ) -> Result<(), UsageError> {
        let mut secret = None;
        for (name, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{name}");
            match name {
                "type" => {
                    let kind = self.string(value, &path)?.unwrap_or("Bearer");
                    if !kind.eq_ignore_ascii_case("bearer") {
                        return Err(self.refuse(
                            key_node,
                            &path,
                            "only type: Bearer is supported (stillup sends Authorization: \
                             Bearer …); for another scheme, a header in a TOML module",
                        ));
                    }
                }
                "credentials" | "credentials_file" => {
                    let Some(text) = self.string(value, &path)? else {
                        continue;
                    };
                    if secret.is_some() {
                        return Err(self.refuse(
                            key_node,
                            &path,
                            "credentials and credentials_file both set; keep one",
                        ));
                    }
                    secret =
                        Some(self.secret(name == "credentials_file", text, key_node, &path)?);
                }
                _ => {
                    return Err(self.refuse(
                        key_node,
                        &path,
                        unknown(name, &["type", "credentials", "credentials_file"]),
                    ))
                }
            }
        }
        let Some(secret) = secret else {
            return Err(self.refuse(section, prefix, "no credentials or credentials_file"));
        };
        out.args.bearer = Some(secret);
        out.set("bearer", origin);
        Ok(())
    }

    /// A secret as stillup's options take it: `file:PATH` for a file, else the value itself
    /// (which stillup would read as a source if it began with `env:` or `file:`).
    fn secret(
        &self,
        from_file: bool,
        text: &str,
        node: &Node,
        path: &str,
    ) -> Result<String, UsageError> {
        if from_file {
            return Ok(format!("file:{}", self.resolve(text)));
        }
        if text.starts_with("env:") || text.starts_with("file:") {
            return Err(self.refuse(
                node,
                path,
                "a secret that begins with env: or file: cannot be given inline (the value is \
                 not shown); put it in a file and use the _file key",
            ));
        }
        Ok(text.to_string())
    }

    /// `preferred_ip_protocol` / `ip_protocol_fallback`, of every prober.
    fn ip(
        &self,
        out: &mut Out,
        key: &str,
        key_node: &Node,
        value: &Node,
        path: &str,
    ) -> Result<(), UsageError> {
        if key == "ip_protocol_fallback" {
            out.ip.fallback = self.bool(value, path)?;
            return Ok(());
        }
        out.ip.preferred = match self.string(value, path)? {
            None => None,
            Some("ip4") => Some(IpProtocol::Ip4),
            Some("ip6") => Some(IpProtocol::Ip6),
            Some(_) => return Err(self.refuse(key_node, path, "expected ip4 or ip6")),
        };
        Ok(())
    }

    /// The `tcp:` section: a plain connection, nothing more.
    fn tcp(&self, out: &mut Out, section: &Node, prefix: &str) -> Result<(), UsageError> {
        for (key, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{key}");
            match key {
                "preferred_ip_protocol" | "ip_protocol_fallback" => {
                    self.ip(out, key, key_node, value, &path)?;
                }
                "tls" => {
                    if self.bool(value, &path)? == Some(true) {
                        return Err(self.refuse(key_node, &path, not_supported("tcp.tls")));
                    }
                }
                "query_response" => {
                    if !self.items(value, &path)?.is_empty() {
                        return Err(self.refuse(key_node, &path, not_supported(key)));
                    }
                }
                "tls_config" => return Err(self.refuse(key_node, &path, not_supported("tcp.tls"))),
                "source_ip_address" => {
                    return Err(self.refuse(key_node, &path, not_supported(key)))
                }
                _ => return Err(self.refuse(key_node, &path, unknown(key, TCP_KEYS))),
            }
        }
        Ok(())
    }

    /// The `grpc:` section: the standard health check, of `service` over TLS or not.
    fn grpc(&self, out: &mut Out, section: &Node, prefix: &str) -> Result<(), UsageError> {
        let mut metadata = Vec::new();
        for (key, key_node, value) in self.entries(section, prefix)? {
            let path = format!("{prefix}.{key}");
            match key {
                "service" => {
                    let service = self.string(value, &path)?.unwrap_or_default();
                    if service.contains(['/', '?', '#', '%'])
                        || service.chars().any(char::is_whitespace)
                    {
                        return Err(self.refuse(key_node, &path, "a gRPC service name has no '/', '?', '#', '%' or spaces, e.g. payments.v1.Ledger"));
                    }
                    out.target.path = if service.is_empty() {
                        String::new()
                    } else {
                        format!("/{service}")
                    };
                }
                "tls" => {
                    if self.bool(value, &path)? == Some(true) {
                        out.target.scheme = "grpcs";
                    }
                }
                "tls_config" => self.tls_config(out, value, &path)?,
                "preferred_ip_protocol" | "ip_protocol_fallback" => {
                    self.ip(out, key, key_node, value, &path)?;
                }
                "metadata" => {
                    for (name, name_node, values) in self.entries(value, &path)? {
                        let item_path = self.header_path(&path, name, name_node)?;
                        let values = self.items(values, &item_path)?;
                        let [one] = values else {
                            return Err(self.refuse(
                                name_node,
                                &item_path,
                                "stillup sends one value per metadata key; give one",
                            ));
                        };
                        let text = self.string(one, &item_path)?.unwrap_or_default();
                        out.args.headers.push(format!("{name}: {text}"));
                        metadata.push(self.origin(name_node, &item_path));
                    }
                    if !metadata.is_empty() {
                        out.set_list(
                            "header",
                            self.origin(key_node, &path),
                            std::mem::take(&mut metadata),
                        );
                    }
                }
                _ => return Err(self.refuse(key_node, &path, unknown(key, GRPC_KEYS))),
            }
        }
        Ok(())
    }
}

/// Keys of a module, for "did you mean".
const MODULE_KEYS: &[&str] = &[
    "prober",
    "timeout",
    "http",
    "tcp",
    "grpc",
    "icmp",
    "dns",
    "unix",
    "websocket",
];
const HTTP_KEYS: &[&str] = &[
    "valid_status_codes",
    "valid_http_versions",
    "method",
    "headers",
    "http_headers",
    "body_size_limit",
    "compression",
    "follow_redirects",
    "no_follow_redirects",
    "fail_if_ssl",
    "fail_if_not_ssl",
    "fail_if_body_json_matches_cel",
    "fail_if_body_json_not_matches_cel",
    "fail_if_body_matches_regexp",
    "fail_if_body_not_matches_regexp",
    "fail_if_header_matches",
    "fail_if_header_not_matches",
    "tls_config",
    "basic_auth",
    "authorization",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "skip_resolve_phase_with_proxy",
    "oauth2",
    "enable_http2",
    "enable_http3",
    "preferred_ip_protocol",
    "ip_protocol_fallback",
    "body",
    "body_file",
];
const TLS_KEYS: &[&str] = &[
    "insecure_skip_verify",
    "ca_file",
    "cert_file",
    "key_file",
    "server_name",
    "min_version",
    "max_version",
];
const TCP_KEYS: &[&str] = &[
    "preferred_ip_protocol",
    "ip_protocol_fallback",
    "source_ip_address",
    "query_response",
    "tls",
    "tls_config",
];
const GRPC_KEYS: &[&str] = &[
    "service",
    "tls",
    "tls_config",
    "preferred_ip_protocol",
    "ip_protocol_fallback",
    "metadata",
];

/// What to say about a key blackbox documents and stillup does not do.
fn not_supported(key: &str) -> String {
    let what = match key {
        "valid_http_versions" => "stillup does not judge the HTTP version; remove it",
        "http_headers" => "use headers: (a map of Name: value) instead",
        "body_size_limit" => {
            "stillup always caps the body (1MiB by default); set max-body in a [modules.NAME] \
             table of the TOML config instead"
        }
        "compression" => "stillup asks for no compression and reads the body as sent; remove it",
        "fail_if_ssl" | "fail_if_not_ssl" => {
            "the target's scheme says whether TLS is used (https:// or http://); remove it"
        }
        "fail_if_body_json_matches_cel" | "fail_if_body_json_not_matches_cel" => {
            "stillup has no CEL; write the condition as expect-json ('$.status == \"ok\"') in a \
             [modules.NAME] table of the TOML config"
        }
        "fail_if_header_matches" => {
            "stillup has no condition that a header must not match; use \
             fail_if_header_not_matches with the values that are healthy"
        }
        "oauth2" => "stillup does not fetch OAuth 2.0 tokens; use authorization.credentials_file with a token kept fresh by another job",
        "proxy_url" | "no_proxy" | "proxy_connect_header" | "proxy_from_environment" | "skip_resolve_phase_with_proxy" => {
            "stillup takes its proxy from HTTP_PROXY, HTTPS_PROXY and NO_PROXY of its environment; remove it and set those"
        }
        "bearer_token" | "bearer_token_file" => "use authorization: {credentials_file: …} instead",
        "enable_http2" => {
            "stillup speaks HTTP/1.1 unless told otherwise, and its http2 option speaks HTTP/2 \
             without TLS too (h2c), unlike blackbox; remove it, or set http2 = true in a \
             [modules.NAME] table of the TOML config"
        }
        "enable_http3" => "stillup does not speak HTTP/3; remove it",
        "server_name" => "stillup checks the certificate against the target's own name; probe by that name, with resolve or connect-to in a TOML module to pick the address",
        "min_version" | "max_version" => "stillup accepts TLS 1.2 and 1.3; remove it",
        "ca" | "cert" | "key" | "ca_ref" | "cert_ref" | "key_ref" => {
            "write the PEM to a file and use ca_file, cert_file or key_file"
        }
        "username_file" => "write the user name in username:",
        "tcp.tls" => "stillup's tcp:// probe does not speak TLS; probe the service by its own protocol's URL (e.g. https://, rediss://, amqps://) instead",
        "query_response" => "stillup's tcp:// probe only connects; probe the service by its own protocol's URL (postgres://, redis://, mysql://, amqp://, mqtt://, nats://) instead",
        "source_ip_address" => "stillup connects from the address the system picks; remove it",
        _ => "remove it",
    };
    format!("not supported by stillup ({what})")
}

/// What to say about a key blackbox does not have either.
fn unknown(key: &str, keys: &[&str]) -> String {
    match keys.iter().map(|k| (edit_distance(key, k), *k)).min() {
        Some((distance, k)) if distance <= 2 => format!("unknown key; did you mean {k}?"),
        _ => format!("unknown key; keys here are {}", keys.join(", ")),
    }
}

/// A Go duration (`time.ParseDuration`): `300ms`, `1.5h`, `2h45m`, `1m30s`; `0` alone.
/// Units ns, us (µs, μs), ms, s, m, h. A bare number is refused (Go would read nanoseconds,
/// which no one means).
fn go_duration(text: &str) -> Result<Duration, String> {
    let hint = "expected a duration like 5s, 500ms or 1m30s";
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(hint.to_string());
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("add a unit, e.g. {text}s"));
    }
    let mut total = 0u128;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| hint.to_string())?;
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "{unit:?} is not a unit of Go durations (ns, us, ms, s, m, h)"
                ))
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(hint.to_string());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| hint.to_string())?
        };
        // Digits past nanoseconds cannot matter; 20 keeps the arithmetic within u128.
        let fraction = &fraction[..fraction.len().min(20)];
        let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(20));
        let fraction: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| hint.to_string())?
        };
        total = whole
            .checked_mul(nanos_per)
            .and_then(|t| t.checked_add(fraction * nanos_per / scale))
            .and_then(|t| total.checked_add(t))
            .ok_or_else(|| "too long".to_string())?;
        rest = after;
    }
    let nanos = u64::try_from(total).map_err(|_| "too long".to_string())?;
    Ok(Duration::from_nanos(nanos))
}

/// What one module is becoming.
struct Out {
    args: ProbeArgs,
    origins: Origins,
    ip: IpSpec,
    target: TargetForm,
}

impl Out {
    fn set(&mut self, option: &str, origin: Origin) {
        self.origins.set(option, origin, Vec::new());
    }

    fn set_list(&mut self, option: &str, origin: Origin, items: Vec<Origin>) {
        self.origins.set(option, origin, items);
    }
}

/// `preferred_ip_protocol` and `ip_protocol_fallback` as the file gives them.
#[derive(Debug, Default)]
struct IpSpec {
    preferred: Option<IpProtocol>,
    fallback: Option<bool>,
}

impl IpSpec {
    /// With blackbox's defaults (ip6, fallback) for the one not given; `None` when neither
    /// is, so that stillup tries the addresses in the resolver's order.
    fn preference(&self) -> Option<IpPreference> {
        if self.preferred.is_none() && self.fallback.is_none() {
            return None;
        }
        Some(IpPreference {
            preferred: self.preferred.unwrap_or(IpProtocol::Ip6),
            fallback: self.fallback.unwrap_or(true),
        })
    }
}

/// A YAML value with the line it starts on.
#[derive(Debug, Clone)]
struct Node {
    line: usize,
    value: Value,
    /// The values it holds, itself included, aliases expanded.
    size: usize,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
struct Scalar {
    text: String,
    plain: bool,
    /// The tag's suffix, if the scalar has one (`str` for `!!str`).
    tag: Option<String>,
}

impl Scalar {
    /// Untagged or `!!str`: its text is the value.
    fn tag_is_plain_string(&self) -> bool {
        self.tag.as_deref().is_none_or(|t| t == "str")
    }
}

impl Node {
    /// YAML's null: `~`, `null`, or nothing.
    fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.plain && s.tag.is_none()
            && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// A container being read.
struct Open {
    line: usize,
    anchor: usize,
    /// The map's key waiting for its value.
    key: Option<Node>,
    value: Value,
}

/// The document as a tree of [`Node`]s: the only code that knows the YAML parser.
struct Tree;

impl Tree {
    /// The first document's root, `None` for an empty file; or the line and reason it is
    /// refused.
    fn parse(text: &str) -> Result<Option<Node>, (usize, String)> {
        let mut anchors: HashMap<usize, Node> = HashMap::new();
        let mut open: Vec<Open> = Vec::new();
        let mut root = None;
        let mut documents = 0;
        let mut values = 0usize;
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| {
                (
                    e.marker().line().max(1),
                    format!("invalid YAML: {}", e.info()),
                )
            })?;
            let line = span.start.line().max(1);
            let node = match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err((
                            line,
                            "more than one YAML document; a blackbox.yml is one".into(),
                        ));
                    }
                    continue;
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    if open.len() >= MAX_DEPTH {
                        return Err((line, format!("nested more than {MAX_DEPTH} levels deep")));
                    }
                    let value = match event {
                        Event::SequenceStart(..) => Value::Seq(Vec::new()),
                        _ => Value::Map(Vec::new()),
                    };
                    open.push(Open {
                        line,
                        anchor,
                        key: None,
                        value,
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(done) = open.pop() else {
                        return Err((line, "invalid YAML: unbalanced collection".into()));
                    };
                    let value = match done.value {
                        Value::Map(entries) => Value::Map(merge(entries)?),
                        other => other,
                    };
                    let size = 1 + match &value {
                        Value::Seq(items) => items.iter().map(|n| n.size).sum(),
                        Value::Map(entries) => entries.iter().map(|(k, v)| k.size + v.size).sum(),
                        Value::Scalar(_) => 0,
                    };
                    values += 1;
                    let node = Node {
                        line: done.line,
                        value,
                        size,
                    };
                    if done.anchor > 0 {
                        anchors.insert(done.anchor, node.clone());
                    }
                    node
                }
                Event::Scalar(text, style, anchor, tag) => {
                    values += 1;
                    let node = Node {
                        line,
                        value: Value::Scalar(Scalar {
                            text: text.into_owned(),
                            plain: style == ScalarStyle::Plain,
                            tag: tag.map(|t| match t.is_yaml_core_schema() {
                                true => t.suffix.clone(),
                                false => format!("{}{}", t.handle, t.suffix),
                            }),
                        }),
                        size: 1,
                    };
                    if anchor > 0 {
                        anchors.insert(anchor, node.clone());
                    }
                    node
                }
                Event::Alias(anchor) => {
                    let Some(node) = anchors.get(&anchor) else {
                        return Err((line, "an alias to an unknown anchor".into()));
                    };
                    // Counted before copying: a bomb is refused before it costs anything.
                    values = values.saturating_add(node.size);
                    if values > MAX_VALUES {
                        return Err((line, format!("aliases expand to more than {MAX_VALUES} values; refused (an alias bomb?)")));
                    }
                    let mut node = node.clone();
                    node.line = line;
                    node
                }
                _ => continue,
            };
            if values > MAX_VALUES {
                return Err((line, format!("more than {MAX_VALUES} values; refused")));
            }
            match open.last_mut() {
                None => {
                    if root.is_none() {
                        root = Some(node);
                    }
                }
                Some(parent) => match &mut parent.value {
                    Value::Seq(items) => items.push(node),
                    Value::Map(entries) => match parent.key.take() {
                        None => parent.key = Some(node),
                        Some(key) => entries.push((key, node)),
                    },
                    Value::Scalar(_) => {}
                },
            }
        }
        Ok(root.filter(|root| !root.is_null()))
    }
}

/// A map's entries with YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`) applied as Go's
/// yaml does: the map's own keys win, then the merged maps in order. A key given twice in
/// the map itself is refused, as blackbox refuses it.
fn merge(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, (usize, String)> {
    fn name(node: &Node) -> Option<&str> {
        match &node.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }
    let mut own: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (key, value) in entries {
        let is_merge = matches!(&key.value, Value::Scalar(s) if s.plain && s.text == "<<");
        if !is_merge {
            own.push((key, value));
            continue;
        }
        match value.value {
            Value::Map(entries) => merged.extend(entries),
            Value::Seq(items) => {
                for item in items {
                    match item.value {
                        Value::Map(entries) => merged.extend(entries),
                        _ => {
                            return Err((
                                item.line,
                                "a merge key (<<) takes maps, e.g. <<: [*a, *b]".to_string(),
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err((
                    key.line,
                    "a merge key (<<) takes a map, e.g. <<: *defaults".to_string(),
                ))
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::with_capacity(own.len());
    for (key, _) in &own {
        if let Some(k) = name(key) {
            if !seen.insert(k.to_string()) {
                return Err((
                    key.line,
                    format!("the key {:?} is given twice in one map", shown(k)),
                ));
            }
        }
    }
    for (key, value) in merged {
        // The map's own keys, then the first merged map that has the key.
        if name(&key).is_none_or(|k| seen.insert(k.to_string())) {
            own.push((key, value));
        }
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use stillup_core::condition::{BodyPattern, HeaderCondition, StatusSet};

    /// The modules of blackbox_exporter's own blackbox.yml that stillup can do, as shipped.
    const SHIPPED: &str = "\
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: \"ip4\"
  http_post_2xx:
    prober: http
    http:
      method: POST
  tcp_connect:
    prober: tcp
  grpc:
    prober: grpc
    grpc:
      tls: true
      preferred_ip_protocol: \"ip4\"
  grpc_plain:
    prober: grpc
    grpc:
      tls: false
      service: \"service1\"
";

    fn parsed(text: &str) -> Vec<BlackboxModule> {
        parse("/etc/stillup/blackbox.yml", text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn one(text: &str) -> BlackboxModule {
        let mut modules = parsed(text);
        assert_eq!(modules.len(), 1, "{text}");
        modules.remove(0)
    }

    fn refused(text: &str) -> String {
        match parse("blackbox.yml", text) {
            Ok(modules) => panic!("accepted, as {} modules:\n{text}", modules.len()),
            Err(e) => e.to_string(),
        }
    }

    /// What `config.rs` will judge, judged here with the same parsers: each value the
    /// translation produced is one a flag could have given.
    fn assert_judgeable(module: &BlackboxModule) {
        let args = &module.def.args;
        let name = &module.def.name;
        StatusSet::parse(&args.expect_status).unwrap_or_else(|e| panic!("{name}: {e}"));
        for regex in args.expect_body.iter().chain(&args.reject_body) {
            BodyPattern::parse(regex).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for condition in &args.expect_header {
            HeaderCondition::parse(condition).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for header in &args.headers {
            let (header_name, _) = header.split_once(':').expect("Name: value");
            http::HeaderName::from_bytes(header_name.trim().as_bytes()).unwrap();
        }
        crate::cli::config::duration(
            module.def.origins.of("attempt-timeout"),
            &args.attempt_timeout,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        http::Method::from_bytes(args.method.as_bytes()).unwrap();
    }

    #[test]
    fn blackboxs_shipped_modules_translate_to_what_the_flags_would_say() {
        let modules = parsed(SHIPPED);
        let names: Vec<&str> = modules.iter().map(|m| m.def.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "http_2xx",
                "http_post_2xx",
                "tcp_connect",
                "grpc",
                "grpc_plain"
            ]
        );
        let defaults = WaitArgs::defaults().probe;
        for module in &modules {
            assert_judgeable(module);
            // No timeout in the file: the exporter's budget is the scrape's, as blackbox's is.
            assert!(!module.def.origins.is_set("attempt-timeout"));
            assert_eq!(module.def.args.expect_status, "2xx", "blackbox's default");
        }
        let [http_2xx, post, tcp, grpc, grpc_plain] = &modules[..] else {
            unreachable!()
        };
        assert_eq!(http_2xx.def.prober, Some(Kind::Http));
        assert_eq!(
            http_2xx.def.ip,
            Some(IpPreference {
                preferred: IpProtocol::Ip4,
                fallback: true
            })
        );
        assert_eq!(
            http_2xx.target.url("example.com/health"),
            "http://example.com/health"
        );
        assert_eq!(http_2xx.def.args.method, defaults.method);
        assert_eq!(
            http_2xx.def.origin,
            Origin::File {
                at: "/etc/stillup/blackbox.yml:2".into(),
                key: "modules.http_2xx".into()
            }
        );
        assert_eq!(post.def.args.method, "POST");
        assert_eq!(
            post.def.origins.of("method"),
            Origin::File {
                at: "/etc/stillup/blackbox.yml:9".into(),
                key: "modules.http_post_2xx.http.method".into()
            }
        );
        assert_eq!(
            post.def.ip, None,
            "the resolver's order when the file says nothing"
        );
        assert_eq!(tcp.def.prober, Some(Kind::Tcp));
        assert_eq!(tcp.target.url("db:5432"), "tcp://db:5432");
        assert_eq!(grpc.def.prober, Some(Kind::Grpc));
        assert_eq!(grpc.target.url("api:443"), "grpcs://api:443");
        assert_eq!(grpc.def.ip.map(|ip| ip.preferred), Some(IpProtocol::Ip4));
        assert_eq!(
            grpc_plain.target.url("api:50051"),
            "grpc://api:50051/service1"
        );
        for module in &modules {
            let target = stillup_core::target::Target::parse(&module.target.url("h:1")).unwrap();
            assert_eq!(
                Some(target.kind()),
                module.def.prober,
                "{}",
                module.def.name
            );
        }
    }

    /// The rest of blackbox's shipped file is refused at its first module stillup cannot do,
    /// naming the line and the key.
    #[test]
    fn blackboxs_whole_shipped_file_is_refused_at_pop3s_banner() {
        let text = format!(
            "{SHIPPED}  pop3s_banner:\n    prober: tcp\n    tcp:\n      query_response:\n      - expect: \"^+OK\"\n      tls: true\n"
        );
        let message = refused(&text);
        assert!(
            message.starts_with("blackbox.yml:25: modules.pop3s_banner.tcp.query_response: not supported by stillup ("),
            "{message}"
        );
        assert!(
            message.contains("postgres://"),
            "says what to do instead: {message}"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn the_common_subset_of_http_translates_key_by_key() {
        let module = one("modules:
  api:
    prober: http
    timeout: 1m30s
    http:
      valid_status_codes: [200, 204]
      method: HEAD
      headers:
        X-Probe: stillup
        Accept: application/json
      fail_if_body_not_matches_regexp:
        - ready
        - \"version: [0-9]+\"
      fail_if_body_matches_regexp: [error, maintenance]
      fail_if_header_not_matches:
        - header: Content-Type
          regexp: json
        - header: X-Ready
          regexp: ''
          allow_missing: false
      follow_redirects: false
      body: '{\"ping\": true}'
      fail_if_ssl: false
      enable_http2: false
      tls_config:
        insecure_skip_verify: true
        ca_file: certs/ca.pem
        cert_file: /abs/client.pem
        key_file: client.key
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false
");
        assert_judgeable(&module);
        let args = &module.def.args;
        assert_eq!(args.attempt_timeout, "1m30s");
        assert_eq!(args.expect_status, "200,204");
        assert_eq!(args.method, "HEAD");
        assert_eq!(
            args.headers,
            ["X-Probe: stillup", "Accept: application/json"]
        );
        assert_eq!(args.expect_body, ["ready", "version: [0-9]+"]);
        assert_eq!(args.reject_body, ["error", "maintenance"]);
        assert_eq!(args.expect_header, ["Content-Type: json", "X-Ready"]);
        assert!(args.no_follow);
        assert_eq!(args.data.as_deref(), Some("{\"ping\": true}"));
        assert!(args.insecure);
        assert_eq!(args.cacert, ["/etc/stillup/certs/ca.pem"]);
        assert_eq!(args.cert.as_deref(), Some("/abs/client.pem"));
        assert_eq!(args.key.as_deref(), Some("/etc/stillup/client.key"));
        assert_eq!(
            module.def.ip,
            Some(IpPreference {
                preferred: IpProtocol::Ip6,
                fallback: false
            })
        );
        // Each value is blamed on its own line and key.
        let at = |key: &str, line: usize, path: &str| {
            (
                key.to_string(),
                Origin::File {
                    at: format!("/etc/stillup/blackbox.yml:{line}"),
                    key: path.to_string(),
                },
            )
        };
        let o = &module.def.origins;
        for (key, expected) in [
            at("attempt-timeout", 4, "modules.api.timeout"),
            at("expect-status", 6, "modules.api.http.valid_status_codes"),
            at("header", 8, "modules.api.http.headers"),
            at("no-follow", 21, "modules.api.http.follow_redirects"),
            at("cacert", 27, "modules.api.http.tls_config.ca_file"),
        ] {
            assert_eq!(o.of(&key), expected, "{key}");
        }
        assert_eq!(
            o.item("header", 1),
            at("", 10, "modules.api.http.headers.Accept").1
        );
        assert_eq!(
            o.item("expect-body", 1),
            at("", 13, "modules.api.http.fail_if_body_not_matches_regexp").1
        );
        assert_eq!(
            o.item("reject-body", 0),
            at("", 14, "modules.api.http.fail_if_body_matches_regexp").1
        );
        assert_eq!(
            o.item("expect-header", 1),
            at("", 18, "modules.api.http.fail_if_header_not_matches").1
        );
    }

    /// Relative paths are relative to the yml's directory; absolute ones and paths of a file
    /// in the working directory stay as they are.
    #[test]
    fn ca_file_and_body_file_are_relative_to_the_yml() {
        let text = "modules:\n  m:\n    prober: http\n    http:\n      body_file: req.json\n      tls_config:\n        ca_file: ../ca.pem\n";
        let at = |path: &str| parse(path, text).unwrap().remove(0).def.args;
        let args = at("/etc/blackbox/blackbox.yml");
        assert_eq!(args.cacert, ["/etc/blackbox/../ca.pem"]);
        assert_eq!(args.data_file.as_deref(), Some("/etc/blackbox/req.json"));
        let args = at("conf/blackbox.yml");
        assert_eq!(args.cacert, ["conf/../ca.pem"]);
        let args = at("blackbox.yml");
        assert_eq!(args.cacert, ["../ca.pem"]);
        let absolute = text.replace("../ca.pem", "/srv/ca.pem");
        let args = parse("/etc/blackbox/blackbox.yml", &absolute)
            .unwrap()
            .remove(0)
            .def
            .args;
        assert_eq!(args.cacert, ["/srv/ca.pem"]);
    }

    /// Every key stillup does not do, refused on its own line with its key path.
    #[test]
    fn every_unsupported_key_is_refused_on_its_line() {
        let http = [
            ("valid_http_versions: [\"HTTP/1.1\"]", "valid_http_versions"),
            ("http_headers: {X: {values: [a]}}", "http_headers"),
            ("body_size_limit: 10MB", "body_size_limit"),
            ("compression: gzip", "compression"),
            ("fail_if_ssl: true", "fail_if_ssl"),
            ("fail_if_not_ssl: true", "fail_if_not_ssl"),
            (
                "fail_if_body_json_matches_cel: 'body.ok'",
                "fail_if_body_json_matches_cel",
            ),
            (
                "fail_if_body_json_not_matches_cel: 'body.ok'",
                "fail_if_body_json_not_matches_cel",
            ),
            (
                "fail_if_header_matches: [{header: X, regexp: y}]",
                "fail_if_header_matches",
            ),
            ("oauth2: {client_id: x, token_url: 'http://t/'}", "oauth2"),
            ("proxy_url: http://proxy:3128", "proxy_url"),
            ("no_proxy: localhost", "no_proxy"),
            ("proxy_from_environment: true", "proxy_from_environment"),
            ("proxy_connect_header: {X: [y]}", "proxy_connect_header"),
            (
                "skip_resolve_phase_with_proxy: true",
                "skip_resolve_phase_with_proxy",
            ),
            ("enable_http2: true", "enable_http2"),
            ("enable_http3: true", "enable_http3"),
            ("bearer_token: x", "bearer_token"),
            (
                "fail_if_header_not_matches: [{header: X, regexp: y, allow_missing: true}]",
                "fail_if_header_not_matches.allow_missing",
            ),
            ("tls_config: {server_name: api}", "tls_config.server_name"),
            ("tls_config: {min_version: TLS13}", "tls_config.min_version"),
            ("tls_config: {ca: PEM}", "tls_config.ca"),
            ("basic_auth: {username_file: u}", "basic_auth.username_file"),
            (
                "authorization: {type: Basic, credentials: x}",
                "authorization.type",
            ),
            ("fial_if_ssl: true", "fial_if_ssl"),
        ];
        for (line, key) in http {
            let text = format!("# leading comment\nmodules:\n  web:\n    prober: http\n    http:\n      method: GET\n      {line}\n");
            let message = refused(&text);
            assert!(
                message.starts_with(&format!("blackbox.yml:7: modules.web.http.{key}: ")),
                "{line}: {message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
        let tcp = [
            ("tls: true", "tls"),
            ("tls_config: {insecure_skip_verify: true}", "tls_config"),
            ("source_ip_address: 10.0.0.1", "source_ip_address"),
            ("query_response: [{expect: '^SSH'}]", "query_response"),
        ];
        for (line, key) in tcp {
            let text = format!("modules:\n  ssh:\n    prober: tcp\n    tcp:\n      {line}\n");
            let message = refused(&text);
            assert!(
                message.starts_with(&format!(
                    "blackbox.yml:5: modules.ssh.tcp.{key}: not supported"
                )),
                "{message}"
            );
        }
        for prober in ["icmp", "dns", "unix", "websocket"] {
            let message = refused(&format!(
                "modules:\n  p:\n    timeout: 5s\n    prober: {prober}\n"
            ));
            assert!(
                message.starts_with("blackbox.yml:4: modules.p.prober: the "),
                "{message}"
            );
            assert!(message.contains("keep blackbox_exporter"), "{message}");
        }
        for (text, expected) in [
            ("modules:\n  p:\n    prober: ftp\n", "blackbox.yml:3: modules.p.prober: expected http, tcp or grpc"),
            ("modules:\n  p:\n    http: {method: GET}\n", "blackbox.yml:2: modules.p: no prober"),
            ("modules:\n  p:\n    prober: http\n    tcp: {tls: false}\n", "blackbox.yml:4: modules.p.tcp: settings of the tcp prober"),
            ("modules:\n  p:\n    prober: grpc\n    grpc: {metadata: {a: [x, y]}}\n", "blackbox.yml:4: modules.p.grpc.metadata.a: stillup sends one value"),
            ("modules:\n  p:\n    prober: http\n    timeout: 5\n", "blackbox.yml:4: modules.p.timeout: invalid duration \"5\": add a unit"),
            ("modules:\n  p:\n    prober: http\n    http: {preferred_ip_protocol: ip5}\n", "blackbox.yml:4: modules.p.http.preferred_ip_protocol: expected ip4 or ip6"),
            ("modules:\n  p:\n    prober: http\n    http: {follow_redirects: maybe}\n", "blackbox.yml:4: modules.p.http.follow_redirects: expected true or false"),
            ("modules:\n  p:\n    prober: http\n    http: {valid_status_codes: [2xx]}\n", "blackbox.yml:4: modules.p.http.valid_status_codes: expected a list of status codes"),
            ("modules:\n  p:\n    prober: http\n    retries: 3\n", "blackbox.yml:4: modules.p.retries: unknown key; keys here are prober"),
            ("modules:\n  p:\n    prober: http\n    timeuot: 3s\n", "blackbox.yml:4: modules.p.timeuot: unknown key; did you mean timeout?"),
            ("module:\n  p: {prober: http}\n", "blackbox.yml:1: module: unknown key"),
            ("- modules\n", "blackbox.yml:1: expected a map with modules: in it"),
            ("modules:\n  p: {prober: http}\n  p: {prober: tcp}\n", "blackbox.yml:3: the key \"p\" is given twice"),
            ("modules:\n  p: {prober: http}\n---\nmodules: {}\n", "blackbox.yml:3: more than one YAML document"),
            ("modules:\n  p: {prober: http\n", "blackbox.yml:"),
            ("modules:\n  p:\n    prober: !!binary aHR0cA==\n", "blackbox.yml:3: modules.p.prober: YAML tags"),
        ] {
            let message = refused(text);
            assert!(message.starts_with(expected), "{text}\n→ {message}");
        }
    }

    /// A header value, a password and a token are never part of a message, whatever goes
    /// wrong around them.
    #[test]
    fn a_secret_is_never_echoed() {
        const SECRET: &str = "s3cr3t-T0ken";
        let cases = [
            // Something unsupported next to the secret.
            format!("modules:\n  m:\n    prober: http\n    http:\n      headers:\n        Authorization: Bearer {SECRET}\n      fail_if_ssl: true\n"),
            // A header value of the wrong shape.
            format!("modules:\n  m:\n    prober: http\n    http:\n      headers:\n        Authorization: [Bearer {SECRET}]\n"),
            // A header name that is the secret (a colon forgotten).
            format!("modules:\n  m:\n    prober: http\n    http:\n      headers:\n        Authorization Bearer {SECRET}: x\n"),
            // YAML broken right after it.
            format!("modules:\n  m:\n    prober: http\n    http:\n      headers: {{Authorization: Bearer {SECRET}\n"),
            format!("modules:\n  m:\n    prober: http\n    http:\n      headers:\n        X-Token: {SECRET}\n        @oops: 1\n"),
            // Passwords and tokens.
            format!("modules:\n  m:\n    prober: http\n    http:\n      basic_auth: {{password: {SECRET}}}\n"),
            format!("modules:\n  m:\n    prober: http\n    http:\n      basic_auth: {{username: u, password: env:{SECRET}}}\n"),
            format!("modules:\n  m:\n    prober: http\n    http:\n      authorization: {{credentials: {SECRET}, credentials_file: f}}\n"),
            format!("modules:\n  m:\n    prober: http\n    http:\n      authorization: {{type: Token, credentials: {SECRET}}}\n"),
            format!("modules:\n  m:\n    prober: grpc\n    grpc:\n      metadata:\n        authorization: [{SECRET}, {SECRET}]\n"),
        ];
        for text in &cases {
            let message = refused(text);
            assert!(!message.contains(SECRET), "{message}");
            assert!(!message.contains("T0ken"), "{message}");
        }
        // Accepted, they become the options config.rs takes as secrets.
        let module = one("modules:\n  m:\n    prober: http\n    http:\n      basic_auth: {username: deploy, password_file: pw.txt}\n");
        assert_eq!(
            module.def.args.user.as_deref(),
            Some("deploy:file:/etc/stillup/pw.txt")
        );
        let module = one(&format!("modules:\n  m:\n    prober: http\n    http:\n      authorization: {{credentials: {SECRET}}}\n"));
        assert_eq!(module.def.args.bearer.as_deref(), Some(SECRET));
        assert_eq!(
            module.def.origins.of("bearer"),
            Origin::File {
                at: "/etc/stillup/blackbox.yml:5".into(),
                key: "modules.m.http.authorization".into()
            }
        );
    }

    /// A billion laughs: each level doubles nine times; expanded it would be 10^9 values.
    #[test]
    fn an_alias_bomb_is_refused_at_once() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text.push_str("modules:\n  m:\n    prober: http\n    http:\n      headers: *a9\n");
        let started = Instant::now();
        let message = refused(&text);
        assert!(message.contains("alias bomb"), "{message}");
        // Generous: refusing it takes microseconds; expanding it would take minutes and gigabytes.
        assert!(started.elapsed() < Duration::from_secs(5));
        // Deep nesting, in flow and block style.
        let deep = format!("modules: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        // saphyr-parser stops flow nesting itself, at a depth below what would hurt.
        let message = refused(&deep);
        assert!(
            message.contains("nested more than 64 levels")
                || message.contains("recursion limit exceeded"),
            "{message}"
        );
        let mut block = String::from("modules:\n");
        for depth in 1..100 {
            block.push_str(&format!("{}k:\n", "  ".repeat(depth)));
        }
        assert!(
            refused(&block).contains("nested more than"),
            "{}",
            refused(&block)
        );
    }

    /// Anchors, aliases and merge keys, as real files use them to share settings.
    #[test]
    fn aliases_and_merge_keys_share_settings_between_modules() {
        let modules = parsed(
            "modules:
  a:
    prober: http
    http: &common
      valid_status_codes: [200]
      headers: {X-Probe: stillup}
      method: POST
  b:
    prober: http
    http:
      <<: *common
      valid_status_codes: [204]
      method: GET
",
        );
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].def.args.expect_status, "200");
        assert_eq!(modules[0].def.args.method, "POST");
        assert_eq!(
            modules[1].def.args.expect_status, "204",
            "the module's own key wins"
        );
        assert_eq!(modules[1].def.args.headers, ["X-Probe: stillup"]);
        assert_eq!(modules[1].def.args.method, "GET");
        // A merged key is blamed where it is written.
        assert_eq!(
            modules[1].def.origins.of("header"),
            Origin::File {
                at: "/etc/stillup/blackbox.yml:6".into(),
                key: "modules.b.http.headers".into()
            }
        );
    }

    #[test]
    fn go_durations_become_stillups() {
        for (go, expected) in [
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("1h", Duration::from_secs(3600)),
            (".5s", Duration::from_millis(500)),
            ("300us", Duration::from_micros(300)),
            ("2µs", Duration::from_micros(2)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(go_duration(go), Ok(expected), "{go}");
        }
        for bad in [
            "",
            "5",
            "-1s",
            "5x",
            "1..5s",
            "s",
            "1s5",
            "99999999999999999999999h",
        ] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
        // Kept as written where stillup reads it alike; else spelled as stillup reads it.
        for go in ["5s", "1m30s", "1.5s", "250ms", ".5s", "2µs", "1h2m3.5s"] {
            let module = one(&format!(
                "modules:\n  m:\n    prober: tcp\n    timeout: {go}\n"
            ));
            let read = crate::cli::config::duration("t", &module.def.args.attempt_timeout);
            assert_eq!(
                read.ok(),
                go_duration(go).ok(),
                "{go} → {}",
                module.def.args.attempt_timeout
            );
            assert_judgeable(&module);
        }
        // 0s is blackbox's "as long as the scrape allows": as if unset.
        let module = one("modules:\n  m:\n    prober: tcp\n    timeout: 0s\n");
        assert!(!module.def.origins.is_set("attempt-timeout"));
    }

    #[test]
    fn redirects_auth_ip_and_grpc_settings() {
        let module = one("modules:\n  m:\n    prober: http\n    http:\n      follow_redirects: false\n      no_follow_redirects: false\n");
        assert!(
            !module.def.args.no_follow,
            "the deprecated key, when set, decides"
        );
        let module =
            one("modules:\n  m:\n    prober: http\n    http:\n      no_follow_redirects: true\n");
        assert!(module.def.args.no_follow);
        let module = one("modules:\n  m:\n    prober: http\n    http:\n      basic_auth: {username: deploy, password: hunter2}\n");
        assert_eq!(module.def.args.user.as_deref(), Some("deploy:hunter2"));
        let module = one("modules:\n  m:\n    prober: tcp\n    tcp:\n      ip_protocol_fallback: false\n      tls: false\n      query_response: []\n");
        assert_eq!(
            module.def.ip,
            Some(IpPreference {
                preferred: IpProtocol::Ip6,
                fallback: false
            }),
            "blackbox's default family is ip6"
        );
        let module = one("modules:\n  m:\n    prober: grpc\n    grpc:\n      service: payments.v1.Ledger\n      tls: true\n      tls_config: {ca_file: ca.pem}\n      metadata: {x-tenant: [blue]}\n");
        assert_eq!(
            module.target.url("pay:443"),
            "grpcs://pay:443/payments.v1.Ledger"
        );
        assert_eq!(module.def.args.cacert, ["/etc/stillup/ca.pem"]);
        assert_eq!(module.def.args.headers, ["x-tenant: blue"]);
        assert_judgeable(&module);
        assert!(
            refused("modules:\n  m:\n    prober: grpc\n    grpc: {service: a/b}\n")
                .contains("modules.m.grpc.service")
        );
        assert!(parsed("").is_empty());
        assert!(parsed("# nothing yet\n").is_empty());
        assert!(parsed("modules:\n").is_empty());
    }

    /// Whatever is cut off where, the parser answers (a module or a line), never panics.
    #[test]
    fn every_prefix_of_a_file_is_parsed_or_refused_without_panic() {
        let text = format!(
            "{SHIPPED}  x:\n    prober: http\n    http:\n      headers: {{\"A\": 'b'}}\n      basic_auth: {{username: u, password: p}}\n      fail_if_header_not_matches:\n      - {{header: X, regexp: \"y\"}}\n"
        );
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            if let Err(e) = parse("p.yml", &text[..end]) {
                let line = e.to_string();
                assert!(line.starts_with("p.yml:") && !line.contains('\n'), "{line}");
            }
        }
        for odd in [
            "\t\t",
            "\u{feff}modules: {}",
            "modules: !!map {}",
            "? [a]\n: b",
            "&a [*a]",
            "*x",
            "modules: {[a]: b}",
            "\0",
        ] {
            let _ = parse("p.yml", odd);
        }
    }

    /// A file near the size limit: thousands of modules, each read once (no step is
    /// quadratic in the number of modules or keys).
    #[test]
    fn thousands_of_modules_are_read_in_order() {
        let mut text = String::from("modules:\n");
        for i in 0..8_000 {
            text.push_str(&format!("  m{i}:\n    prober: http\n    timeout: 5s\n    http: {{valid_status_codes: [200, 204], method: GET}}\n"));
        }
        assert!(text.len() < 1 << 20);
        let modules = parsed(&text);
        assert_eq!(modules.len(), 8_000);
        assert_eq!(modules[7_999].def.name, "m7999");
        assert_eq!(modules[7_999].def.args.expect_status, "200,204");
    }

    #[test]
    fn load_reads_within_the_size_limit() {
        let dir = std::env::temp_dir().join(format!("stillup-blackbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blackbox.yml");
        std::fs::write(&path, SHIPPED).unwrap();
        let input = Input::by(Instant::now(), Some(Duration::from_secs(5)), "5s".into());
        let path_text = path.display().to_string();
        let modules = load(&path_text, Origin::from("--blackbox-config"), &input).unwrap();
        assert_eq!(modules.len(), 5);
        let big = format!("{SHIPPED}#{}\n", "x".repeat(2 << 20));
        std::fs::write(&path, big).unwrap();
        let error = load(&path_text, Origin::from("--blackbox-config"), &input).unwrap_err();
        assert!(error.to_string().contains("1 MiB"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
