//! Outage windows from a stream of samples in the order they started.
//!
//! Each sample stands for the time from its start to the start of the next one (the last, to
//! the end of the watch): a window opens where the first failed sample starts and closes where
//! the first healthy one after it starts, so its length is measured on when samples started,
//! not on when answers happened to arrive. Within a window, a change of failure class (or
//! label, e.g. HTTP 502 → 503) starts a new phase: "2.1 s refused, then 0.4 s HTTP 502".
//!
//! Time covered by no evidence (stillup out of descriptors, or stillup itself running late) is
//! *unknown*: it is neither up nor down. It never opens or closes a window; inside one (down,
//! unknown, down again) it is a gap that is not counted as downtime, and a window followed by
//! unknown time ends where the evidence ended.

use std::time::Duration;

/// One stretch of an outage with one cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutagePhase {
    /// The failure class of its samples.
    pub class: &'static str,
    /// What the summary prints, e.g. "HTTP 502".
    pub label: String,
    /// Where its first sample started, from the start of the watch.
    pub from: Duration,
    /// Where the next phase, the window's end or a gap without evidence begins.
    pub to: Duration,
    /// Samples in it.
    pub samples: u64,
}

/// A time the target was down, with the phases of why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageWindow {
    /// Where the first failed sample started, from the start of the watch.
    pub from: Duration,
    /// Where the first healthy sample after it started (or the evidence ended).
    pub to: Duration,
    /// Why it was down, oldest first.
    pub phases: Vec<OutagePhase>,
    /// Still down when the watch ended: `to` is the end of the watch.
    pub ongoing: bool,
    /// Time inside the window with no evidence either way (gaps between its phases).
    pub unknown: Duration,
}

impl OutageWindow {
    /// Time known to be down: the window without its unknown gaps.
    pub fn length(&self) -> Duration {
        self.to
            .saturating_sub(self.from)
            .saturating_sub(self.unknown)
    }
}

/// What one sample says about the target from its start on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The target was healthy.
    Up,
    /// Down, with the failure class and its label ("HTTP 502").
    Down(&'static str, String),
    /// No evidence either way: stillup's own trouble.
    Unknown,
}

/// The kind of the stretch of time being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stretch {
    Up,
    Down,
    Unknown,
}

/// Builds windows incrementally; memory grows with the number of outages, not samples.
#[derive(Debug, Default)]
pub struct OutageBuilder {
    open: Option<OutageWindow>,
    closed: Vec<OutageWindow>,
    /// The stretch being built and where it started.
    current: Option<(Stretch, Duration)>,
    unknown: Duration,
    unknown_runs: u64,
}

impl OutageBuilder {
    /// Feed what the next sample says from `at` on; `at` never goes back (earlier values are
    /// taken as `at` of the previous sample).
    pub fn push(&mut self, at: Duration, evidence: Evidence) {
        let at = self.current.map_or(at, |(_, since)| at.max(since));
        let previous = self.end_current(at);
        match evidence {
            Evidence::Unknown => {
                if previous != Some(Stretch::Unknown) {
                    self.unknown_runs += 1;
                }
                // A window stays open across a gap; it closes on the next healthy sample.
                self.current = Some((Stretch::Unknown, at));
            }
            Evidence::Up => {
                if let Some(mut window) = self.open.take() {
                    window.ongoing = false;
                    self.closed.push(window);
                }
                self.current = Some((Stretch::Up, at));
            }
            Evidence::Down(class, label) => {
                self.current = Some((Stretch::Down, at));
                let Some(window) = self.open.as_mut() else {
                    self.open = Some(OutageWindow {
                        from: at,
                        to: at,
                        phases: vec![OutagePhase {
                            class,
                            label,
                            from: at,
                            to: at,
                            samples: 1,
                        }],
                        ongoing: true,
                        unknown: Duration::ZERO,
                    });
                    return;
                };
                if previous == Some(Stretch::Unknown) {
                    // Down on both sides of the gap: one outage, the gap not counted.
                    window.unknown += at.saturating_sub(window.to);
                }
                window.to = at;
                let last = window.phases.last_mut().expect("a window has a phase");
                if previous == Some(Stretch::Down) && last.class == class && last.label == label {
                    last.samples += 1;
                } else {
                    window.phases.push(OutagePhase {
                        class,
                        label,
                        from: at,
                        to: at,
                        samples: 1,
                    });
                }
            }
        }
    }

    /// Ends the current stretch at `at`; returns its kind.
    fn end_current(&mut self, at: Duration) -> Option<Stretch> {
        let (kind, since) = self.current?;
        match kind {
            Stretch::Down => {
                if let Some(window) = self.open.as_mut() {
                    window.to = at;
                    if let Some(last) = window.phases.last_mut() {
                        last.to = at;
                    }
                }
            }
            Stretch::Unknown => self.unknown += at.saturating_sub(since),
            Stretch::Up => {}
        }
        Some(kind)
    }

    /// The windows so far, without closing the open one.
    pub fn closed(&self) -> &[OutageWindow] {
        &self.closed
    }

    /// Whether the target is down now.
    pub fn is_down(&self) -> bool {
        self.open.is_some()
    }

    /// All windows, the time without evidence and the number of its runs; the stretch in
    /// progress ends at `end`. A window still open is closed there, ongoing if the target was
    /// still seen down at the end (not if the evidence had stopped before).
    pub fn finish(mut self, end: Duration) -> Finished {
        let last = self.end_current(end);
        if let Some(mut window) = self.open.take() {
            window.ongoing = last == Some(Stretch::Down);
            self.closed.push(window);
        }
        Finished {
            windows: self.closed,
            unknown: self.unknown,
            unknown_runs: self.unknown_runs,
        }
    }
}

/// What [`OutageBuilder::finish`] gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// The outage windows, oldest first.
    pub windows: Vec<OutageWindow>,
    /// Time covered by no evidence, inside windows and outside.
    pub unknown: Duration,
    /// Separate stretches of it: each could have hidden one outage.
    pub unknown_runs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn refused() -> Evidence {
        Evidence::Down("refused", "connection refused".into())
    }

    fn status(code: u16) -> Evidence {
        Evidence::Down("http_status", format!("HTTP {code}"))
    }

    #[test]
    fn a_window_runs_from_first_failure_to_first_success_with_phases() {
        let mut b = OutageBuilder::default();
        b.push(ms(0), Evidence::Up);
        b.push(ms(100), refused());
        b.push(ms(200), refused());
        b.push(ms(300), status(502));
        b.push(ms(400), Evidence::Up);
        b.push(ms(500), Evidence::Up);
        let windows = b.finish(ms(600)).windows;
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
        let windows = b.finish(ms(1000)).windows;
        assert_eq!(windows[0].length(), ms(1000));
        assert!(windows[0].ongoing);
    }

    #[test]
    fn the_last_failed_sample_counts_for_its_whole_period() {
        // Down for the whole watch at 1/s for 5 s: 5 s down, not 4 s.
        let mut b = OutageBuilder::default();
        for i in 0..5 {
            b.push(ms(i * 1000), refused());
        }
        let windows = b.finish(ms(5000)).windows;
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].length(), ms(5000));
    }

    #[test]
    fn flapping_makes_one_window_per_failure_run() {
        let mut b = OutageBuilder::default();
        for i in 0..10u64 {
            b.push(
                ms(i * 100),
                if i % 2 == 0 { Evidence::Up } else { refused() },
            );
        }
        let windows = b.finish(ms(1000)).windows;
        assert_eq!(windows.len(), 5);
        assert!(windows.iter().all(|w| w.length() == ms(100)));
    }

    #[test]
    fn unknown_time_is_never_downtime_and_never_splits_an_outage() {
        let mut b = OutageBuilder::default();
        b.push(ms(0), refused());
        b.push(ms(100), Evidence::Unknown);
        b.push(ms(150), Evidence::Unknown);
        b.push(ms(400), refused());
        b.push(ms(500), Evidence::Up);
        let finished = b.finish(ms(600));
        assert_eq!(finished.windows.len(), 1);
        let w = &finished.windows[0];
        assert_eq!((w.from, w.to, w.unknown), (ms(0), ms(500), ms(300)));
        assert_eq!(w.length(), ms(200));
        assert_eq!(w.phases.len(), 2, "the gap separates the phases");
        assert_eq!((finished.unknown, finished.unknown_runs), (ms(300), 1));
    }

    #[test]
    fn an_outage_followed_by_unknown_time_ends_where_the_evidence_ended() {
        let mut b = OutageBuilder::default();
        b.push(ms(0), Evidence::Up);
        b.push(ms(100), refused());
        b.push(ms(200), Evidence::Unknown);
        b.push(ms(700), Evidence::Up);
        b.push(ms(800), refused());
        b.push(ms(900), Evidence::Unknown);
        let finished = b.finish(ms(1000));
        let w = &finished.windows;
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].from, w[0].to, w[0].ongoing),
            (ms(100), ms(200), false)
        );
        assert_eq!(
            (w[1].from, w[1].to, w[1].ongoing),
            (ms(800), ms(900), false)
        );
        assert_eq!((finished.unknown, finished.unknown_runs), (ms(600), 2));
    }

    #[test]
    fn only_unknown_makes_no_window() {
        let mut b = OutageBuilder::default();
        for i in 0..10 {
            b.push(ms(i * 100), Evidence::Unknown);
        }
        let finished = b.finish(ms(1000));
        assert!(finished.windows.is_empty());
        assert_eq!((finished.unknown, finished.unknown_runs), (ms(1000), 1));
    }
}
