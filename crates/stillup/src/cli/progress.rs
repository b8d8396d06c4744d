//! What a run prints on stderr as it goes: the live spinner on a terminal (attempt number and
//! elapsed / deadline), or plain lines everywhere else (CI logs), written by [`Lines`] from a
//! thread of their own so a reader that does not keep up never holds the run.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use stillup_core::sanitize::Safe;
use stillup_core::timeline::short_seconds;

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// The target's name comes through the gate: it is drawn on every tick.
    pub fn start(target: &Safe, timeout: Duration) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let template = format!(
            "{{spinner}} waiting for {{prefix}} — attempt {{msg}} ({{elapsed}} / {}s)",
            short_seconds(timeout)
        );
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(target.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar }
    }

    /// A status line for `watch`: what is watched and how it goes so far.
    pub fn status(what: &Safe) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} watching {prefix} · {elapsed} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar }
    }

    pub fn message(&self, text: String) {
        self.bar.set_message(text);
    }

    pub fn attempt(&self, number: u32) {
        self.bar.set_message(number.to_string());
    }

    /// Print a line above the spinner.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    /// Remove the line (when the value must live on, e.g. inside a struct).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Progress lines queued for a stderr that is not being read, at most: past this many,
/// further progress lines are dropped (and counted) rather than held in memory.
const QUEUED_PROGRESS_LINES: usize = 1_000;

/// Plain lines to stderr, written from a thread of their own.
///
/// Progress lines are best effort: when stderr blocks (a log driver that stalls, a pipe
/// nobody reads) and the queue is full, they are dropped and counted, never allowed to hold
/// the run. Lines of the final summary are always queued; [`Lines::drain`] then waits for
/// them a bounded time at most.
#[derive(Debug)]
pub struct Lines {
    /// `None` when no thread could be started: lines are then written directly.
    shared: Option<Arc<Shared>>,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a line is queued.
    queued: Condvar,
    /// Signalled when the queue is empty and nothing is being written.
    idle: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<String>,
    /// A line is being written (taken off the queue, not yet out).
    writing: bool,
    dropped: u64,
}

impl Lines {
    pub fn start() -> Lines {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        let started = std::thread::Builder::new()
            .name("stillup-stderr".into())
            .stack_size(64 * 1024)
            .spawn(move || writer.write_forever());
        Lines {
            // Out of threads: lines go out directly, as they always could.
            shared: started.ok().map(|_| shared),
        }
    }

    /// Lines written directly, for a run that prints none while it goes (quiet, or the
    /// spinner prints them).
    pub fn direct() -> Lines {
        Lines { shared: None }
    }

    /// Queue a progress line, or drop it (counted) if stderr is not keeping up.
    pub fn progress(&self, line: &str) {
        match &self.shared {
            Some(shared) => {
                let mut queue = shared.lock();
                if queue.lines.len() >= QUEUED_PROGRESS_LINES {
                    queue.dropped += 1;
                    return;
                }
                queue.lines.push_back(line.to_string());
                shared.queued.notify_one();
            }
            None => write_line(line),
        }
    }

    /// Queue a line of the summary (never dropped here; see [`Lines::drain`]). The first
    /// says how many progress lines were dropped, if any were.
    pub fn summary(&self, line: &str) {
        match &self.shared {
            Some(shared) => {
                let mut queue = shared.lock();
                if queue.dropped > 0 {
                    let dropped = std::mem::take(&mut queue.dropped);
                    let plural = if dropped == 1 { "" } else { "s" };
                    queue.lines.push_back(format!(
                        "  ({dropped} progress line{plural} dropped: stderr was not read fast enough)"
                    ));
                }
                queue.lines.push_back(line.to_string());
                shared.queued.notify_one();
            }
            None => write_line(line),
        }
    }

    /// Wait until every queued line is out, or `grace` has passed; says whether all are out.
    pub fn drain(&self, grace: Duration) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let until = Instant::now() + grace;
        let mut queue = shared.lock();
        while !queue.lines.is_empty() || queue.writing {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = shared
                .idle
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: whatever is queued, in one write, blocking on stderr as long as
    /// stderr blocks (the process may exit meanwhile; that ends the thread too).
    fn write_forever(&self) {
        let mut queue = self.lock();
        loop {
            if queue.lines.is_empty() {
                self.idle.notify_all();
                queue = self
                    .queued
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let lines = std::mem::take(&mut queue.lines);
            queue.writing = true;
            drop(queue);
            let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
            // A closed stderr is no reason to fail the run.
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
            queue = self.lock();
            queue.writing = false;
        }
    }
}

fn write_line(line: &str) {
    // A closed stderr is no reason to fail the run.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
