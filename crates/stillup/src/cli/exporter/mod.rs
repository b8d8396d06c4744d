//! `stillup exporter`: a Prometheus probe endpoint, compatible with blackbox_exporter's
//! metric names, that also says why a probe failed (`probe_failure_info{class}`).
//!
//! This module validates the exporter's options and runs it (listen, reload on SIGHUP, stop
//! on SIGINT / SIGTERM). `module.rs` holds the modules (what `/probe?module=NAME` probes
//! with), from the TOML config's `[modules.NAME]` tables or a blackbox_exporter `blackbox.yml`
//! (`blackbox.rs`); `server.rs` answers HTTP requests; `metrics.rs` writes the pages;
//! `allow.rs` bounds what may be probed; `log.rs` writes the log without ever blocking.

pub mod allow;
pub mod blackbox;
pub mod log;
pub mod metrics;
pub mod module;
pub mod page;
pub mod server;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use super::args::{ExporterArgs, Sources};
use super::file::ConfigFile;
use super::input::{Input, Origin, Origins, UsageError};
use allow::{AllowList, Pattern};
use module::Modules;

/// The exporter's options, validated.
#[derive(Debug)]
pub struct ExporterConfig {
    pub listen: SocketAddr,
    /// Where the modules come from, read again at each reload.
    pub sources: ModuleSources,
    pub allow: AllowList,
    pub max_concurrent: usize,
    pub quiet: bool,
    /// The modules as first read.
    pub modules: Modules,
}

/// The files modules are read from.
#[derive(Debug, Clone)]
pub struct ModuleSources {
    config: Option<(String, Origin)>,
    blackbox: Option<(String, Origin)>,
}

impl ModuleSources {
    /// Read and judge every module, as at start and at each reload.
    pub fn load(&self) -> Result<Modules, UsageError> {
        let mut defs = Vec::new();
        if let Some((path, origin)) = &self.config {
            let file = ConfigFile::load(path, origin.clone(), &Input::unbounded())?;
            defs.extend(file.modules()?);
        }
        if let Some((path, origin)) = &self.blackbox {
            let modules = blackbox::load(path, origin.clone(), &Input::unbounded())?;
            defs.extend(modules.into_iter().map(|module| module.def));
        }
        Modules::build(defs)
    }
}

/// Judge the exporter's options; read and judge its modules.
pub fn exporter_config(
    args: &ExporterArgs,
    sources: &Sources,
) -> Result<ExporterConfig, UsageError> {
    let origins = Origins::new(sources);
    let listen = listen_address(origins.of("listen"), &args.listen)?;
    let mut patterns = Vec::new();
    for (i, raw) in args.allow_target.iter().flat_map(|v| v.lines()).enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let pattern = Pattern::parse(raw).map_err(|problem| {
            UsageError::invalid(origins.item("allow-target", i), "pattern", raw, problem)
        })?;
        patterns.push(pattern);
    }
    let max_concurrent = super::config::count(origins.of("max-concurrent"), &args.max_concurrent)?;
    if max_concurrent == 0 {
        return Err(UsageError::invalid(
            origins.of("max-concurrent"),
            "number",
            &args.max_concurrent,
            "must be at least 1",
        ));
    }
    let module_sources = ModuleSources {
        config: args.config.clone().map(|p| (p, origins.of("config"))),
        blackbox: args
            .blackbox_config
            .clone()
            .map(|p| (p, origins.of("blackbox-config"))),
    };
    Ok(ExporterConfig {
        listen,
        modules: module_sources.load()?,
        sources: module_sources,
        allow: AllowList::new(patterns),
        max_concurrent: max_concurrent as usize,
        quiet: args.quiet,
    })
}

/// `HOST:PORT` with HOST an address (`127.0.0.1`, `[::1]`, `0.0.0.0`) or `localhost`.
fn listen_address(at: Origin, raw: &str) -> Result<SocketAddr, UsageError> {
    let raw = raw.trim();
    let localhost = raw
        .strip_prefix("localhost:")
        .map(|port| format!("127.0.0.1:{port}"));
    localhost.as_deref().unwrap_or(raw).parse().map_err(|_| {
        UsageError::invalid(
            at,
            "address",
            raw,
            "write HOST:PORT with an IP address, e.g. 127.0.0.1:9115, [::1]:9115 or \
                 0.0.0.0:9115 (every interface: then use --allow-target)",
        )
    })
}

/// Serve until SIGINT or SIGTERM; SIGHUP reloads the modules. Returns the exit code.
pub async fn run(config: ExporterConfig) -> u8 {
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            log::line(&format!("cannot listen on {}: {e}", config.listen));
            return super::exit::USAGE;
        }
    };
    let bound = listener.local_addr().unwrap_or(config.listen);
    let log = log::Log::start(config.quiet);
    let state = Arc::new(server::State {
        modules: RwLock::new(Arc::new(config.modules)),
        sources: config.sources,
        allow: config.allow,
        slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent)),
        max_concurrent: config.max_concurrent,
        stats: metrics::Stats::new(),
        log,
    });
    // Printed at once and whatever --quiet says: scripts and tests wait for it (port 0).
    log::line(&format!("listening on http://{bound}"));
    if !state.allow.is_open() {
        log::line(&format!("probing only {}", state.allow));
    } else if !bound.ip().is_loopback() {
        log::line(
            "warning: listening beyond loopback with no --allow-target: anyone who reaches \
             this port can make it probe any address",
        );
    }
    let hangups = {
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(mut hangup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return std::future::pending().await;
            };
            while hangup.recv().await.is_some() {
                let _ = server::reload(&state).await;
            }
        })
    };
    // SIGHUP reloads (above); these two stop.
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    async fn on(listener: &mut Option<tokio::signal::unix::Signal>) {
        match listener {
            Some(listener) => {
                listener.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = server::serve(listener, state.clone()) => {}
        () = on(&mut interrupt) => log::line("stopping (SIGINT)"),
        () = on(&mut terminate) => log::line("stopping (SIGTERM)"),
    }
    hangups.abort();
    state.log.flush(std::time::Duration::from_millis(500));
    super::exit::HEALTHY
}
