//! The exporter's log on stderr: start-up, reloads, its own errors and (unless `--quiet`)
//! each failed probe with its reason. Lines go through a bounded queue to a thread of their
//! own, so a stderr that blocks (a stalled log driver) drops lines, counted in `/metrics`,
//! instead of stalling probes. Every line is sanitized: server text never reaches a terminal
//! raw.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stillup_core::sanitize::Safe;

/// Lines waiting for stderr at most; more are dropped.
const QUEUE: usize = 1024;

/// Write one line now, before serving starts or as it stops (never from a probe).
pub fn line(text: &str) {
    let _ = writeln!(std::io::stderr(), "stillup exporter: {}", Safe::line(text));
}

#[derive(Debug)]
pub struct Log {
    sender: Mutex<Option<SyncSender<String>>>,
    dropped: Arc<AtomicU64>,
    quiet: bool,
    done: Mutex<Option<Receiver<()>>>,
}

impl Log {
    /// Start the writer thread. With `quiet`, failed probes are not logged.
    pub fn start(quiet: bool) -> Log {
        let (sender, lines) = sync_channel::<String>(QUEUE);
        let (finished, done) = sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("stillup-log".into())
            .spawn(move || {
                let stderr = std::io::stderr();
                for text in lines {
                    let _ = writeln!(stderr.lock(), "stillup exporter: {text}");
                }
                let _ = finished.send(());
            });
        Log {
            // Without a thread (out of threads), lines are dropped and counted.
            sender: Mutex::new(spawned.is_ok().then_some(sender)),
            dropped: Arc::new(AtomicU64::new(0)),
            quiet,
            done: Mutex::new(Some(done)),
        }
    }

    /// Queue an event of the exporter's own (reloads, errors): always logged.
    pub fn event(&self, text: &str) {
        self.send(Safe::line(text).as_str().to_string());
    }

    /// Queue a probe's line, unless `--quiet`.
    pub fn probe(&self, text: &str) {
        if !self.quiet {
            self.event(text);
        }
    }

    fn send(&self, text: String) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let sent = match sender.as_ref() {
            Some(sender) => match sender.try_send(text) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Let the queued lines out, waiting at most `grace` for a slow stderr.
    pub fn flush(&self, grace: Duration) {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let started = Instant::now();
            let _ = done.recv_timeout(grace.saturating_sub(started.elapsed()));
        }
    }
}
