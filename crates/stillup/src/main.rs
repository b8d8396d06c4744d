//! `stillup`: parse, validate, run the engine on a small runtime, print, exit with the
//! documented code. SIGINT, SIGTERM and SIGHUP end a run promptly with the summary so far.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};

use stillup::cli;
use stillup::cli::args::{Cli, Command, Sources};
use stillup::cli::config::{self, RunConfig};
use stillup::cli::exit::{self, Signal};
use stillup::cli::output;
use stillup::cli::render::Renderer;
use stillup_core::Prober;

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
    let command = cli::args::command();
    let argv = cli::args::normalize(&command, std::env::args_os());
    let parsed = command
        .clone()
        .try_get_matches_from(&argv)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, sources) = match parsed {
        Ok((cli, matches)) => (cli, Sources::of(&command, &matches)),
        Err(e) => {
            if let Some(line) = cli::args::usage_line(&command, &argv, &e) {
                let line = stillup_core::sanitize::Safe::line(&line);
                let _ = writeln!(std::io::stderr(), "stillup: {line}");
                return exit::code(exit::USAGE);
            }
            let printed = print_clap_error(&e);
            return match e.kind() {
                // Bare `stillup` prints the short help, on stderr, as the usage error it is.
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match printed {
                    // Asked-for output that did not arrive is a failure; `| head` is not.
                    Err(failed) if failed.kind() != std::io::ErrorKind::BrokenPipe => {
                        let what = match e.kind() {
                            ErrorKind::DisplayVersion => "the version",
                            _ => "the help",
                        };
                        exit::code(output::failed(what, &failed))
                    }
                    _ => exit::code(exit::HEALTHY),
                },
                _ => exit::code(exit::USAGE),
            };
        }
    };
    let prepared = match &cli.command {
        Command::Wait(args) => config::wait_config(args, &sources).map(Some),
        Command::Check(args) => config::check_config(args, &sources).map(Some),
        Command::Demo(_) => Ok(None),
        Command::Exporter(args) => {
            let config = match cli::exporter::exporter_config(args, &sources) {
                Ok(config) => config,
                Err(e) => {
                    usage_error(&e);
                    return exit::code(exit::USAGE);
                }
            };
            // Many probes at once: the multi-threaded runtime.
            return run_on_runtime(usize::MAX, cli::exporter::run(config));
        }
        Command::Watch(args) => {
            let config = match cli::watch::watch_config(args, &sources) {
                Ok(config) => config,
                Err(e) => {
                    usage_error(&e);
                    return exit::code(exit::USAGE);
                }
            };
            return run_on_runtime(config.probes.len(), cli::watch::run(config));
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            // Into memory first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "stillup", &mut script);
            return match output::write_stdout(script) {
                Ok(()) => exit::code(exit::HEALTHY),
                Err(e) => exit::code(output::failed("the completions", &e)),
            };
        }
        Command::Man { command } => {
            let text = match cli::manual::page(command.as_deref()) {
                Ok(text) => text,
                Err(e) => {
                    // It quotes what the user typed: through the gate.
                    let line = stillup_core::sanitize::Safe::line(&e.to_string());
                    let _ = writeln!(std::io::stderr(), "stillup: {line}");
                    return exit::code(exit::USAGE);
                }
            };
            return match output::write_stdout(text) {
                Ok(()) => exit::code(exit::HEALTHY),
                Err(e) => exit::code(output::failed("the man page", &e)),
            };
        }
        Command::Classes => {
            return match output::write_stdout(cli::classes::table().into_bytes()) {
                Ok(()) => exit::code(exit::HEALTHY),
                Err(e) => exit::code(output::failed("the failure classes", &e)),
            };
        }
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            usage_error(&e);
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
        files,
    } = config;
    // Lines name a config file's target by its [targets.NAME], any other by its URL.
    let labels = probes
        .iter()
        .zip(&names)
        .map(|(probe, name)| name.clone().unwrap_or_else(|| probe.describe()))
        .collect();
    let stdout_format = presentation.format;
    let mut renderer = Renderer::new(presentation, command, policy.until, labels, policy.timeout);
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(None);
    let cancel = wait_for_signal(signal_tx);
    // Owned: a hundred thousand targets' probes are held once, not copied.
    let mut group = stillup_core::wait_group_owned(
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
    if let Err(e) = renderer.finish(&group, signal) {
        // The command would follow output the caller never got.
        let what = match stdout_format {
            cli::args::OutputFormat::OpenMetrics => "the metrics page",
            cli::args::OutputFormat::Markdown => "the Markdown report",
            _ => "the JSON document",
        };
        return output::failed(what, &e);
    }
    let code = exit::for_outcome(group.kind, signal);
    if let Some(failed) = cli::output_file::write_run(&files, command, policy.until, &group, code) {
        return failed;
    }
    if code != exit::HEALTHY || exec.is_empty() {
        return code;
    }
    renderer.running(&exec);
    cli::exec::run_command(&exec).await
}

/// Completes on SIGINT, SIGTERM or SIGHUP, recording which one arrived.
async fn wait_for_signal(record: tokio::sync::watch::Sender<Option<Signal>>) {
    let _ = record.send(Some(cli::signals::next_signal().await));
}

/// Up to this many targets, one thread runs everything: a target's attempts run one at a
/// time, so a few targets gain nothing from more threads, and each costs start-up and memory.
const SINGLE_THREAD_TARGETS: usize = 8;

/// Descriptors tokio's runtime opens as it starts (epoll, its waker, the signal socket pair
/// and a clone of it, …; it panics when the pair cannot be made), measured with `prlimit`
/// for both runtime flavours. With fewer, stillup cannot start at all; with just these, every
/// attempt reports `local_limit`, which is inconclusive too.
const DESCRIPTORS_TO_START: usize = 6;

/// Whether `n` more descriptors can be opened: tried with socket pairs (no file system
/// needed), closed again at once. Called before any other thread exists, so nothing takes
/// them between this check and the runtime's start.
fn descriptors_free(n: usize) -> std::io::Result<()> {
    let mut held = Vec::with_capacity(n / 2 + 1);
    while held.len() * 2 < n {
        held.push(std::os::unix::net::UnixStream::pair()?);
    }
    Ok(())
}

/// Run one future to its end on a runtime sized for `targets` and exit with its code.
fn run_on_runtime(targets: usize, job: impl std::future::Future<Output = u8>) -> ExitCode {
    // Stillup's own trouble, no verdict about any target: inconclusive.
    if let Err(e) = descriptors_free(DESCRIPTORS_TO_START) {
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or_else(|_| "unknown".to_string(), |(soft, _)| soft.to_string());
        let _ = writeln!(
            std::io::stderr(),
            "stillup: cannot start: fewer than {DESCRIPTORS_TO_START} file descriptors free (open files limit {limit}: {e}); raise `ulimit -n` — no verdict about any target"
        );
        return exit::code(exit::INCONCLUSIVE);
    }
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

/// One line naming the bad input, through the gate: it may quote what the user (or the
/// environment) gave, control characters and all.
fn usage_error(e: &config::UsageError) {
    let line = stillup_core::sanitize::Safe::line(&e.to_string());
    let _ = writeln!(std::io::stderr(), "stillup: {line}");
}

/// clap's own message. Help and version go out as clap writes them; an error may quote an
/// argument, so each of its lines goes through the gate (plain: no styling to escape).
fn print_clap_error(e: &clap::Error) -> std::io::Result<()> {
    if !e.use_stderr() {
        return e.print();
    }
    let text = e.render().to_string();
    let mut err = std::io::stderr().lock();
    for line in text.lines() {
        let _ = writeln!(err, "{}", stillup_core::sanitize::Safe::line(line));
    }
    Ok(())
}
