//! SIGINT, SIGTERM and SIGHUP: the one place that listens for them (the `-- COMMAND` runner
//! listens on its own, to forward each one to the child). A SIGHUP (terminal closed, ssh
//! dropped) ends a run as the other two do, with its summary, unless stillup was started
//! with SIGHUP ignored (`nohup`): then it stays ignored, for stillup and its command.

use tokio::signal::unix::{signal, Signal as Listener, SignalKind};

use super::exit::Signal;

/// Listeners for the signals that end a run; a signal whose listener could not be set up
/// keeps its default action (which still ends the process).
#[derive(Debug)]
pub struct Listeners {
    interrupt: Option<Listener>,
    terminate: Option<Listener>,
    hangup: Option<Listener>,
}

impl Listeners {
    /// Start listening. Must run inside the runtime.
    pub fn new() -> Listeners {
        Listeners {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: if hangup_ignored() {
                None
            } else {
                signal(SignalKind::hangup()).ok()
            },
        }
    }

    /// Completes at the next of the signals, saying which.
    pub async fn next(&mut self) -> Signal {
        async fn on(listener: &mut Option<Listener>) {
            match listener {
                Some(listener) => {
                    listener.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = on(&mut self.interrupt) => Signal::Interrupt,
            () = on(&mut self.terminate) => Signal::Terminate,
            () = on(&mut self.hangup) => Signal::Hangup,
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners::new()
    }
}

/// Completes at the first SIGINT, SIGTERM or SIGHUP, saying which.
pub async fn next_signal() -> Signal {
    Listeners::new().next().await
}

/// Whether this process was started with SIGHUP ignored, as `nohup` does (Linux: read from
/// /proc, which needs no unsafe code; elsewhere assumed not).
fn hangup_ignored() -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return false;
        };
        status
            .lines()
            .find_map(|line| line.strip_prefix("SigIgn:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            // Bit n-1 stands for signal n; SIGHUP is 1.
            .is_some_and(|mask| mask & 1 != 0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
