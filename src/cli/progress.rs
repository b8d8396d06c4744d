//! The live spinner on a terminal: attempt number and elapsed / deadline. Never used when
//! stderr is not a terminal (CI logs get plain lines only).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sanitize::Safe;
use crate::timeline::short_seconds;

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
