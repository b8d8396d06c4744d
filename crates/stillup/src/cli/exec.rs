//! `stillup wait TARGETS… -- COMMAND ARGS…`: run the next step of the pipeline once the
//! targets are ready, pass its exit code through, and forward SIGINT / SIGTERM / SIGHUP to it
//! so a cancelled pipeline or a closed terminal does not leave it orphaned.

use std::io::Write;
use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal as NixSignal};
use nix::unistd::Pid;
use tokio::process::Command;

use super::exit::{self, Signal};
use super::signals::Listeners;

/// Run `command` with stillup's stdin, stdout and stderr; return the code to exit with.
pub async fn run_command(command: &[String]) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return exit::HEALTHY;
    };
    // Listening before the child exists: a signal in between is forwarded, not lost.
    let mut listeners = Listeners::new();
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => {
            // The program only, never its arguments (they carry tokens); through the gate.
            let program = stillup_core::sanitize::Safe::text(program);
            let _ = writeln!(std::io::stderr(), "stillup: cannot run {program}: {e}");
            return cannot_run_code(&e);
        }
    };
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    loop {
        tokio::select! {
            status = child.wait() => return code_of(status),
            signal = listeners.next() => forward(pid, signal),
        }
    }
}

/// As shells say: 127 when the program is not found, 126 when it is but cannot run
/// (permissions, not an executable, or no resources to start it).
fn cannot_run_code(error: &std::io::Error) -> u8 {
    if error.kind() == std::io::ErrorKind::NotFound {
        exit::COMMAND_NOT_FOUND
    } else {
        exit::COMMAND_CANNOT_RUN
    }
}

fn forward(pid: Option<Pid>, signal: Signal) {
    let signal = match signal {
        Signal::Interrupt => NixSignal::SIGINT,
        Signal::Terminate => NixSignal::SIGTERM,
        Signal::Hangup => NixSignal::SIGHUP,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_errors_map_to_the_codes_shells_use() {
        let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let not_executable = std::io::Error::from_raw_os_error(8); // ENOEXEC
        assert_eq!(cannot_run_code(&not_found), 127);
        assert_eq!(cannot_run_code(&denied), 126);
        assert_eq!(cannot_run_code(&not_executable), 126);
    }
}
