//! The stream of events a run emits as it goes, consumed alike by the CLI (to print lines
//! and drive the spinner) and by library users (to log or export attempts).

use std::time::Duration;

use crate::attempt::Attempt;

/// Something that happened during a run. Offsets are from the start of the run.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Attempt `number` is starting.
    AttemptStarted {
        /// 1-based, as [`Attempt::number`].
        number: u32,
        /// When it starts, from the start of the run.
        at: Duration,
    },
    /// An attempt ended, healthy or not.
    AttemptFinished(&'a Attempt),
    /// Nothing to do until the next attempt starts at `next_at`.
    Sleeping {
        /// When the next attempt starts, from the start of the run.
        next_at: Duration,
    },
}
