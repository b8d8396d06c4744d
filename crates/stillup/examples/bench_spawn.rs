//! Run one command and print its wall time and peak RSS — the measuring half of `bench/run.sh`,
//! so the benchmark needs neither GNU time nor hyperfine. It owns only spawning, waiting and the
//! one output line; statistics over many runs are left to the harness.
//!
//! ```text
//! bench_spawn CMD [ARGS...]
//! wall_ns=3312455 maxrss_kb=5120 status=0
//! ```
//!
//! The command's stdin, stdout and stderr are `/dev/null`. `status` is the exit code, or minus
//! the signal that ended it. Wall time runs from just before the spawn to the moment the child
//! is reaped.
//!
//! Why a separate process: Linux carries the peak RSS of the memory image a process had before
//! `exec` into its `ru_maxrss`, and a child starts with (a copy of, or under vfork the very) image
//! of its parent. Spawned straight from the Python harness, every command would therefore report
//! at least the harness's own ~16 MB. Spawned from this small program the floor is its own
//! footprint, about 1 MB; the harness prints that floor (the peak RSS of `true`) next to the
//! results.

// One call to `libc::wait4`, which std does not wrap: it is the only way to get the rusage of
// this one child (std's `Child::wait` reaps it without keeping the rusage).
#![allow(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, args)) = argv.split_first() else {
        eprintln!("usage: bench_spawn CMD [ARGS...]");
        return ExitCode::from(2);
    };

    let start = Instant::now();
    let child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            eprintln!("bench_spawn: cannot run {program}: {err}");
            return ExitCode::from(2);
        }
    };
    let pid = match libc::pid_t::try_from(child.id()) {
        Ok(pid) => pid,
        Err(_) => {
            eprintln!("bench_spawn: pid {} out of range", child.id());
            return ExitCode::FAILURE;
        }
    };

    let (status, usage) = match wait4(pid) {
        Ok(reaped) => reaped,
        Err(err) => {
            eprintln!("bench_spawn: waiting for {program}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let wall = start.elapsed();
    // `child` is dropped without waiting: it has been reaped above, and dropping a std Child
    // neither kills nor waits.
    drop(child);

    let status = ExitStatus::from_raw(status);
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| -signal))
        .unwrap_or(i32::MIN);
    // On Linux ru_maxrss is in KiB.
    println!(
        "wall_ns={} maxrss_kb={} status={code}",
        wall.as_nanos(),
        usage.ru_maxrss
    );
    ExitCode::SUCCESS
}

/// Reap `pid`, retrying on EINTR; the raw wait status and the child's rusage.
fn wait4(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is a plain C struct for which all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live, writable locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
