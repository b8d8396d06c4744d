//! `stillup`: parse, validate, run the engine on a small runtime, print, exit with the
//! documented code. SIGINT and SIGTERM end a run promptly with the summary so far.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use stillup::cli;
use stillup::cli::args::{Cli, Command, Sources};
use stillup::cli::config::{self, RunConfig};
use stillup::cli::exit::{self, Signal};
use stillup::cli::render::Renderer;
use stillup::Prober;

/// Many targets mean many sockets: use the hard limit on open files, not the (often 1024)
/// soft one. Failing to raise it is harmless; attempts then report `local_limit`.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let wanted = hard.min(1 << 20);
        if soft < wanted {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, wanted, hard);
        }
    }
}

fn main() -> ExitCode {
    raise_open_file_limit();
    // Parsed in two steps so the config file can tell flags and variables from defaults.
    let command = Cli::command();
    let parsed = command
        .clone()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, sources) = match parsed {
        Ok((cli, matches)) => (cli, Sources::of(&command, &matches)),
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::code(exit::HEALTHY),
                _ => exit::code(exit::USAGE),
            };
        }
    };
    let prepared = match &cli.command {
        Command::Wait(args) => config::wait_config(args, &sources).map(Some),
        Command::Check(args) => config::check_config(args, &sources).map(Some),
        Command::Demo(_) => Ok(None),
        Command::Watch(args) => {
            let config = match cli::watch::watch_config(args) {
                Ok(config) => config,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "stillup: {e}");
                    return exit::code(exit::USAGE);
                }
            };
            return run_on_runtime(config.probes.len(), cli::watch::run(config));
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(*shell, &mut command, "stillup", &mut std::io::stdout());
            return exit::code(exit::HEALTHY);
        }
        Command::Man { command } => {
            let root = Cli::command();
            let page = match command {
                None => root,
                Some(name) => match root.find_subcommand(name) {
                    // Named as man(1) expects: stillup-wait.
                    Some(sub) => sub.clone().name(format!("stillup-{name}")),
                    None => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "stillup: invalid COMMAND {name:?}: expected wait, check, watch or demo"
                        );
                        return exit::code(exit::USAGE);
                    }
                },
            };
            return match clap_mangen::Man::new(page).render(&mut std::io::stdout()) {
                Ok(()) => exit::code(exit::HEALTHY),
                Err(_) => exit::code(exit::USAGE),
            };
        }
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "stillup: {e}");
            return exit::code(exit::USAGE);
        }
    };
    let targets = prepared.as_ref().map_or(1, |config| config.probes.len());
    run_on_runtime(targets, async move {
        match (&cli.command, prepared) {
            (_, Some(config)) => run(config).await,
            (Command::Demo(args), None) => demo(args).await,
            (_, None) => unreachable!("every command but demo is prepared"),
        }
    })
}

async fn demo(args: &cli::args::DemoArgs) -> u8 {
    let (server, config) = match cli::demo::start(args).await {
        Ok(started) => started,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "stillup: cannot start the demo service: {e}"
            );
            return exit::USAGE;
        }
    };
    if !config.presentation.quiet {
        let _ = write!(
            std::io::stderr(),
            "{}",
            cli::demo::intro(&server.url("/health"))
        );
    }
    let code = run(config).await;
    drop(server);
    code
}

/// Run a validated configuration to its end and return the exit code.
async fn run(config: RunConfig) -> u8 {
    let RunConfig {
        command,
        probes,
        names,
        policy,
        require,
        presentation,
        exec,
    } = config;
    // Lines name a config file's target by its [targets.NAME], any other by its URL.
    let labels = probes
        .iter()
        .zip(&names)
        .map(|(probe, name)| name.clone().unwrap_or_else(|| probe.describe()))
        .collect();
    let mut renderer = Renderer::new(
        presentation,
        command,
        policy.until,
        labels,
        policy.timeout,
        policy.backoff.interval,
    );
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(None);
    let cancel = wait_for_signal(signal_tx);
    // Owned: a hundred thousand targets' probes are held once, not copied.
    let mut group = stillup::wait_group_owned(
        probes,
        &policy,
        require,
        |index, event| renderer.on_event(index, event),
        cancel,
    )
    .await;
    for (target, name) in group.targets.iter_mut().zip(names) {
        target.name = name;
    }
    let signal = *signal_rx.borrow();
    renderer.finish(&group, signal);
    let code = exit::for_outcome(group.kind, signal);
    if code != exit::HEALTHY || exec.is_empty() {
        return code;
    }
    renderer.running(&exec);
    cli::exec::run_command(&exec).await
}

/// Completes on SIGINT or SIGTERM, recording which one arrived.
async fn wait_for_signal(record: tokio::sync::watch::Sender<Option<Signal>>) {
    let _ = record.send(Some(cli::signals::next_signal().await));
}

/// Up to this many targets, one thread runs everything: a target's attempts run one at a
/// time, so a few targets gain nothing from more threads, and each costs start-up and memory.
const SINGLE_THREAD_TARGETS: usize = 8;

/// Run one future to its end on a runtime sized for `targets` and exit with its code.
fn run_on_runtime(targets: usize, job: impl std::future::Future<Output = u8>) -> ExitCode {
    let mut builder = if targets <= SINGLE_THREAD_TARGETS {
        tokio::runtime::Builder::new_current_thread()
    } else {
        // Thousands of targets are CPU work (connects, TLS): spread them over a few cores.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            // Out of descriptors or threads: stillup's own trouble, no verdict on any target.
            let _ = writeln!(std::io::stderr(), "stillup: cannot start the runtime: {e}");
            return exit::code(exit::INCONCLUSIVE);
        }
    };
    let code = runtime.block_on(job);
    // A resolver thread stuck in getaddrinfo must not hold the exit past the deadline.
    runtime.shutdown_background();
    exit::code(code)
}
