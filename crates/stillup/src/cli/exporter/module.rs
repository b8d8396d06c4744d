//! Modules of the exporter: named sets of probe options that `/probe?module=NAME` applies
//! to its target. Each source (the TOML config's `[modules.NAME]`, a blackbox_exporter
//! `blackbox.yml`) produces a [`ModuleDef`]: the options as the flags would give them, with
//! where each came from; the exporter judges them as it judges flags.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stillup_core::Target;

use crate::cli::args::{ProbeArgs, WaitArgs};
use crate::cli::config::{probe_recipe, ProbeRecipe};
use crate::cli::input::{Origin, Origins, UsageError};
use crate::cli::options::Kind;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    Ip4,
    Ip6,
}

/// Which addresses of a name to try first (blackbox's `preferred_ip_protocol`), and whether
/// the other family may be tried at all (`ip_protocol_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPreference {
    pub preferred: IpProtocol,
    pub fallback: bool,
}

/// How a module writes a target that has no scheme: `grpcs://` for blackbox's
/// `grpc.tls: true`, `/SERVICE` after it for `grpc.service` (stillup's gRPC targets carry both
/// in the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetForm {
    /// `http`, `tcp`, `grpc` or `grpcs`.
    pub scheme: &'static str,
    /// Appended after `host:port`: empty, or `/SERVICE` for gRPC.
    pub path: String,
}

impl TargetForm {
    /// The URL of `target` (`host:port`, or for http `host[:port][/path]`) under this module.
    pub fn url(&self, target: &str) -> String {
        format!("{}://{target}{}", self.scheme, self.path)
    }
}

/// One module as a file declares it, before its values are judged.
#[derive(Debug, Clone)]
pub struct ModuleDef {
    pub name: String,
    /// Where the module is declared (`file:line`), for messages about it as a whole.
    pub origin: Origin,
    /// The kind of target it probes (blackbox's `prober`), when the file says; a target
    /// without a scheme takes it, a target with another scheme is refused.
    pub prober: Option<Kind>,
    /// Its options as the flags would give them (`WaitArgs::defaults().probe` where unset);
    /// `attempt_timeout` is the module's timeout.
    pub args: ProbeArgs,
    /// Where each option that was set came from (file, line, key).
    pub origins: Origins,
    /// Address family preference, when the file sets one.
    pub ip: Option<IpPreference>,
    /// How a target without a scheme is written; `None`: as the prober's first scheme.
    pub form: Option<TargetForm>,
}

/// The module a scrape gets when it names none: it probes each target by its scheme, with
/// stillup's defaults.
pub const DEFAULT_MODULE: &str = "default";

/// A module, judged: what the probe of each scrape that names it is built from.
#[derive(Debug)]
pub struct Module {
    pub name: String,
    /// The kind of target it probes; `None` takes the kind from the target's scheme.
    pub prober: Option<Kind>,
    pub recipe: ProbeRecipe,
    pub ip: Option<IpPreference>,
    pub form: Option<TargetForm>,
    /// The module's own timeout, when it sets one; otherwise a probe has what the scrape
    /// allows (as blackbox_exporter does), or the default attempt timeout without a scrape
    /// timeout.
    pub timeout: Option<Duration>,
    /// Where it was declared, for the index page: `stillup.toml:12`, or `built in`.
    pub source: String,
}

impl Module {
    /// The target a scrape names, as this module reads it: a target without a scheme
    /// (`host:port`, as blackbox's tcp and grpc modules take them) is of the module's kind;
    /// one with a scheme must be of it. The error is the reason, safe to show.
    pub fn target(&self, raw: &str) -> Result<Target, String> {
        let has_scheme = raw.contains("://");
        let target = match (self.prober, has_scheme) {
            (Some(kind), false) => Target::parse(&format!("{}://{raw}", kind.info().schemes[0])),
            _ => Target::parse(raw),
        }
        .map_err(|e| e.to_string())?;
        if let Some(kind) = self.prober {
            if target.kind() != kind {
                return Err(format!(
                    "module {} probes {} ({}), but the target is {}; leave out the scheme or \
                     choose a module of that kind",
                    self.name,
                    kind.info().noun,
                    kind.info().scheme_list(),
                    target.kind().info().noun,
                ));
            }
        }
        if let Some((origin, applies_to)) = self.recipe.not_applicable(target.kind()) {
            return Err(UsageError::NotApplicable {
                origin,
                target: target.to_string(),
                kind: target.kind(),
                applies_to,
                mixed: false,
            }
            .to_string());
        }
        Ok(target)
    }
}

/// Every module a scrape may name, by name.
#[derive(Debug, Default)]
pub struct Modules {
    by_name: BTreeMap<String, Arc<Module>>,
}

impl Modules {
    /// The built-in modules (`default`, one per kind named after it, and blackbox's
    /// `http_2xx` and `tcp_connect`), then `defs` from the files: a file's module of a
    /// built-in name replaces it; two from the files of one name are refused.
    pub fn build(defs: Vec<ModuleDef>) -> Result<Modules, UsageError> {
        let mut modules = Modules::default();
        let defaults = WaitArgs::defaults().probe;
        let builtins = std::iter::once((DEFAULT_MODULE.to_string(), None))
            .chain(Kind::ALL.iter().map(|k| (k.as_str().to_string(), Some(*k))))
            .chain([
                ("http_2xx".to_string(), Some(Kind::Http)),
                ("tcp_connect".to_string(), Some(Kind::Tcp)),
            ]);
        for (name, prober) in builtins {
            let recipe = probe_recipe(&defaults, &Origins::default())?;
            let module = Module {
                name: name.clone(),
                prober,
                recipe,
                ip: None,
                form: None,
                timeout: None,
                source: "built in".to_string(),
            };
            modules.by_name.insert(name, Arc::new(module));
        }
        let mut from_files: Vec<(String, Origin)> = Vec::new();
        for def in defs {
            if let Some((_, first)) = from_files.iter().find(|(name, _)| *name == def.name) {
                return Err(UsageError::invalid(
                    def.origin.clone(),
                    "module",
                    "",
                    format!("module {} is already declared ({first})", def.name),
                ));
            }
            from_files.push((def.name.clone(), def.origin.clone()));
            let module = judge(def)?;
            modules
                .by_name
                .insert(module.name.clone(), Arc::new(module));
        }
        Ok(modules)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Module>> {
        self.by_name.get(name).cloned()
    }

    /// Every module, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Module>> {
        self.by_name.values()
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

/// A module's options judged as flags are, and held to its prober's kind.
fn judge(def: ModuleDef) -> Result<Module, UsageError> {
    let recipe = probe_recipe(&def.args, &def.origins)?;
    if let Some(kind) = def.prober {
        if let Some((origin, applies_to)) = recipe.not_applicable(kind) {
            return Err(UsageError::NotApplicable {
                origin,
                target: format!("the targets of module {}", def.name),
                kind,
                applies_to,
                mixed: false,
            });
        }
    }
    let source = match &def.origin {
        Origin::File { at, .. } => at.clone(),
        other => other.to_string(),
    };
    let timeout = def
        .origins
        .is_set("attempt-timeout")
        .then(|| recipe.attempt_timeout());
    Ok(Module {
        name: def.name,
        prober: def.prober,
        recipe,
        ip: def.ip,
        form: def.form,
        timeout,
        source,
    })
}
