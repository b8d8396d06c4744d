//! Outage windows from a stream of samples in the order of their intended start.
//!
//! A window opens at the intended start of the first failed sample and closes at the intended
//! start of the first successful one after it — so its length is measured on the schedule,
//! not on when answers happened to arrive. Within a window, a change of failure class (or
//! label, e.g. HTTP 502 → 503) starts a new phase: "2.1 s refused, then 0.4 s HTTP 502".

use std::time::Duration;

/// One stretch of an outage with one cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutagePhase {
    pub class: &'static str,
    pub label: String,
    pub from: Duration,
    pub to: Duration,
    pub samples: u64,
}

/// A time the target was down, with the phases of why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageWindow {
    pub from: Duration,
    pub to: Duration,
    pub phases: Vec<OutagePhase>,
    /// Still down when the watch ended: `to` is the end of the watch.
    pub ongoing: bool,
}

impl OutageWindow {
    pub fn length(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }
}

/// Builds windows incrementally; memory grows with the number of outages, not samples.
#[derive(Debug, Default)]
pub struct OutageBuilder {
    open: Option<OutageWindow>,
    closed: Vec<OutageWindow>,
}

impl OutageBuilder {
    /// Feed the next sample in intended-start order: `None` when healthy, else its cause.
    pub fn push(&mut self, intended: Duration, failure: Option<(&'static str, String)>) {
        match (failure, self.open.as_mut()) {
            (None, None) => {}
            (None, Some(_)) => {
                let mut window = self.open.take().expect("checked above");
                window.to = intended;
                window.ongoing = false;
                if let Some(last) = window.phases.last_mut() {
                    last.to = intended;
                }
                self.closed.push(window);
            }
            (Some((class, label)), None) => {
                self.open = Some(OutageWindow {
                    from: intended,
                    to: intended,
                    phases: vec![OutagePhase {
                        class,
                        label,
                        from: intended,
                        to: intended,
                        samples: 1,
                    }],
                    ongoing: true,
                });
            }
            (Some((class, label)), Some(window)) => {
                window.to = intended;
                let last = window.phases.last_mut().expect("a window has a phase");
                if last.class == class && last.label == label {
                    last.samples += 1;
                    last.to = intended;
                } else {
                    last.to = intended;
                    window.phases.push(OutagePhase {
                        class,
                        label,
                        from: intended,
                        to: intended,
                        samples: 1,
                    });
                }
            }
        }
    }

    /// The windows so far, without closing the open one.
    pub fn closed(&self) -> &[OutageWindow] {
        &self.closed
    }

    /// Whether the target is down now.
    pub fn is_down(&self) -> bool {
        self.open.is_some()
    }

    /// All windows; one still open is closed at `end` and marked ongoing.
    pub fn finish(mut self, end: Duration) -> Vec<OutageWindow> {
        if let Some(mut window) = self.open.take() {
            window.to = end.max(window.to);
            if let Some(last) = window.phases.last_mut() {
                last.to = window.to;
            }
            self.closed.push(window);
        }
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn refused() -> Option<(&'static str, String)> {
        Some(("refused", "connection refused".into()))
    }

    fn status(code: u16) -> Option<(&'static str, String)> {
        Some(("http_status", format!("HTTP {code}")))
    }

    #[test]
    fn a_window_runs_from_first_failure_to_first_success_with_phases() {
        let mut b = OutageBuilder::default();
        b.push(ms(0), None);
        b.push(ms(100), refused());
        b.push(ms(200), refused());
        b.push(ms(300), status(502));
        b.push(ms(400), None);
        b.push(ms(500), None);
        let windows = b.finish(ms(600));
        assert_eq!(windows.len(), 1);
        let w = &windows[0];
        assert_eq!((w.from, w.to, w.ongoing), (ms(100), ms(400), false));
        assert_eq!(w.phases.len(), 2);
        assert_eq!(
            (w.phases[0].from, w.phases[0].to, w.phases[0].samples),
            (ms(100), ms(300), 2)
        );
        assert_eq!((w.phases[1].from, w.phases[1].to), (ms(300), ms(400)));
    }

    #[test]
    fn an_open_outage_is_closed_at_the_end_and_marked_ongoing() {
        let mut b = OutageBuilder::default();
        b.push(ms(0), status(503));
        assert!(b.is_down());
        let windows = b.finish(ms(1000));
        assert_eq!(windows[0].length(), ms(1000));
        assert!(windows[0].ongoing);
    }

    #[test]
    fn flapping_makes_one_window_per_failure_run() {
        let mut b = OutageBuilder::default();
        for i in 0..10u64 {
            b.push(ms(i * 100), if i % 2 == 0 { None } else { refused() });
        }
        let windows = b.finish(ms(1000));
        assert_eq!(windows.len(), 5);
        assert!(windows.iter().all(|w| w.length() == ms(100)));
    }
}
