//! `stillup wait TARGETS… -- COMMAND ARGS…`: run the next step of the pipeline once the
//! targets are ready, pass its exit code through, and forward SIGINT / SIGTERM to it so a
//! cancelled pipeline does not leave it orphaned.

use std::io::Write;
use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal as NixSignal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};

use super::exit;

/// Run `command` with stillup's stdin, stdout and stderr; return the code to exit with.
pub async fn run_command(command: &[String]) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return exit::HEALTHY;
    };
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => {
            // The program only, never its arguments (they carry tokens); through the gate.
            let program = crate::sanitize::Safe::text(program);
            let _ = writeln!(std::io::stderr(), "stillup: cannot run {program}: {e}");
            // As shells do: 127 not found, 126 found but not runnable.
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return code_of(child.wait().await);
    };
    loop {
        tokio::select! {
            status = child.wait() => return code_of(status),
            _ = interrupt.recv() => forward(pid, NixSignal::SIGINT),
            _ = terminate.recv() => forward(pid, NixSignal::SIGTERM),
        }
    }
}

fn forward(pid: Option<Pid>, signal: NixSignal) {
    if let Some(pid) = pid {
        // The child may have just exited; nothing to do then.
        let _ = kill(pid, signal);
    }
}

/// The child's exit code, or 128 + the signal that ended it, as shells report.
fn code_of(status: std::io::Result<ExitStatus>) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
            (None, Some(signal)) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(1),
            _ => 1,
        },
        Err(_) => 1,
    }
}
