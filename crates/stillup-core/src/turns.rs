//! Turns to make an attempt, shared by the targets of a group: the group hands out first
//! turns in order (`group.rs`), each target's loop takes its later ones (`wait.rs`). Apart
//! from both so that neither loop imports the other.

use std::sync::Arc;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Whose turn it is to make an attempt: at most `max_in_flight` attempts at once, and no
/// target's second attempt before every target has had its first turn (the group gives
/// first turns, in order), so a target late in a long list is never starved by the retries
/// of those before it.
#[derive(Debug)]
pub(crate) struct Turns {
    pub(crate) permits: Arc<Semaphore>,
    /// Set once every target has had its first turn; later attempts wait for it.
    pub(crate) all_started: watch::Sender<bool>,
}

/// A target's place in the turns, and the permit of its first attempt.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    pub(crate) turns: &'a Turns,
    pub(crate) first: Option<OwnedSemaphorePermit>,
}

impl Turns {
    pub(crate) fn new(max_in_flight: usize, targets: usize) -> Turns {
        Turns {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            all_started: watch::Sender::new(targets == 0),
        }
    }

    /// Wait for the turn of a later attempt (the first came with the task); the permit ends
    /// the turn when dropped. The semaphore is fair: first come, first served.
    pub(crate) async fn take(&self) -> Option<OwnedSemaphorePermit> {
        let mut all_started = self.all_started.subscribe();
        // The sender lives as long as `self`.
        let _ = all_started.wait_for(|all| *all).await;
        self.permits.clone().acquire_owned().await.ok()
    }
}
