//! Name lookups through the system resolver (getaddrinfo), bounded however the resolver
//! behaves.
//!
//! getaddrinfo blocks and cannot be cancelled: each lookup runs on a thread of its own, and an
//! attempt whose budget runs out stops waiting for it (the thread ends when glibc gives up,
//! minutes later for a resolver that never answers). Left alone, an attempt every 50 ms would
//! leave a new thread behind every 50 ms. So a name has at most one lookup pending: an attempt
//! that needs a name already being looked up waits for that lookup's answer, within its own
//! budget. And at most [`MAX_PENDING_LOOKUPS`] lookups (threads) run at once over all names;
//! a name that finds every slot taken waits for one, and if its budget ends first, the attempt
//! is `local_limit` (stillup's own limit, no evidence about the target), not `dns_timeout`.
//!
//! Answers are never cached: every attempt after a lookup ended asks again, so a name that
//! changes during a rollout is followed.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{watch, Semaphore};

use crate::deadline::Deadline;
use crate::failure::Failure;

/// Lookups (each a thread blocked in getaddrinfo) at once, over all names.
pub const MAX_PENDING_LOOKUPS: usize = 64;

/// Where one pending lookup is.
#[derive(Debug, Clone)]
enum State {
    /// Waiting for a free slot: the resolver has not been asked yet.
    Queued,
    /// The resolver is being asked.
    Asking,
    /// The answer (or why there is none).
    Done(Result<Vec<IpAddr>, Failure>),
}

/// A blocking lookup of one name: its addresses, or the resolver's error.
pub(crate) type Resolve = fn(&str) -> io::Result<Vec<IpAddr>>;

/// The pending lookups, one per name, and the slots they run in.
#[derive(Debug)]
pub(crate) struct Lookups {
    /// Attempts subscribe to a name's lookup here; it is removed when the answer is out.
    pending: Mutex<HashMap<String, Arc<watch::Sender<State>>>>,
    slots: Arc<Semaphore>,
    capacity: usize,
    resolve: Resolve,
}

/// The lookups of the whole process.
fn system() -> &'static Lookups {
    static SYSTEM: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    SYSTEM.get_or_init(|| Lookups::new(MAX_PENDING_LOOKUPS, getaddrinfo))
}

/// The addresses of `host` (not an IP literal), within `budget`.
pub async fn lookup(host: &str, budget: &Deadline) -> Result<Vec<IpAddr>, Failure> {
    system().lookup(host, budget).await
}

fn getaddrinfo(host: &str) -> io::Result<Vec<IpAddr>> {
    use std::net::ToSocketAddrs;
    Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

impl Lookups {
    pub(crate) fn new(capacity: usize, resolve: Resolve) -> Lookups {
        let capacity = capacity.max(1);
        Lookups {
            pending: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            resolve,
        }
    }

    pub(crate) async fn lookup(
        &'static self,
        host: &str,
        budget: &Deadline,
    ) -> Result<Vec<IpAddr>, Failure> {
        let started = Instant::now();
        let mut state = self.join_or_start(host);
        let waited = tokio::time::timeout(
            budget.remaining(),
            state.wait_for(|s| matches!(s, State::Done(_))),
        )
        .await
        .map(|waited| {
            waited.ok().and_then(|done| match &*done {
                State::Done(result) => Some(result.clone()),
                _ => None,
            })
        });
        let timed_out = || Failure::DnsTimeout {
            host: host.to_string(),
            after: started.elapsed(),
        };
        match waited {
            Ok(Some(result)) => result,
            // The lookup's task ended without an answer: only when the runtime shuts down.
            Ok(None) => Err(timed_out()),
            Err(_) => match *state.borrow() {
                // stillup's own limit kept the resolver from being asked.
                State::Queued => Err(Failure::LocalLimit {
                    detail: format!(
                        "{} DNS lookups of other names are pending, so {host} was not looked up in time",
                        self.capacity
                    ),
                }),
                _ => Err(timed_out()),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<watch::Sender<State>>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pending lookup of `host`, started now if there is none.
    fn join_or_start(&'static self, host: &str) -> watch::Receiver<State> {
        let mut pending = self.lock();
        if let Some(state) = pending.get(host) {
            return state.subscribe();
        }
        let (state, waiting) = watch::channel(State::Queued);
        let state = Arc::new(state);
        pending.insert(host.to_string(), state.clone());
        drop(pending);
        // Not tied to the attempt that started it: later attempts may wait on it.
        tokio::spawn(self.run(host.to_string(), state));
        waiting
    }

    /// Wait for a slot, ask the resolver on a thread of its own, publish the answer.
    async fn run(&'static self, host: String, state: Arc<watch::Sender<State>>) {
        let slot = loop {
            tokio::select! {
                slot = self.slots.clone().acquire_owned() => break slot.ok(),
                () = state.closed() => {
                    // Every attempt that wanted it gave up: no need to ask any more — unless
                    // one came meanwhile (it subscribes under the lock).
                    let mut pending = self.lock();
                    if state.receiver_count() == 0 {
                        pending.remove(&host);
                        return;
                    }
                }
            }
        };
        let Some(slot) = slot else {
            self.lock().remove(&host);
            return;
        };
        state.send_replace(State::Asking);
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        let resolve = self.resolve;
        let name = host.clone();
        let spawned = std::thread::Builder::new()
            .name("stillup-dns".into())
            .spawn(move || {
                let answer = resolve(&name);
                // The slot is free once the resolver let go, not before.
                drop(slot);
                let _ = answer_tx.send(answer);
            });
        let result = match spawned {
            Err(_) => Err(Failure::LocalLimit {
                detail: format!(
                    "no thread could be started to look up {host} (out of threads or memory)"
                ),
            }),
            Ok(_) => match answer_rx.await {
                Ok(Ok(addrs)) if addrs.is_empty() => Err(Failure::Dns {
                    host: host.clone(),
                    detail: "the name has no addresses".into(),
                }),
                Ok(Ok(addrs)) => Ok(addrs),
                Ok(Err(e)) => Err(Failure::Dns {
                    host: host.clone(),
                    detail: dns_detail(&e),
                }),
                Err(_) => Err(Failure::Dns {
                    host: host.clone(),
                    detail: "the lookup ended without an answer".into(),
                }),
            },
        };
        // Forgotten first: an attempt that comes after the answer asks afresh.
        self.lock().remove(&host);
        state.send_replace(State::Done(result));
    }
}

/// The resolver's own words, minus the Rust prefix, as the failure detail.
fn dns_detail(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    if text.is_empty() {
        "no such host".into()
    } else {
        text.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// A resolver that takes 300 ms to answer 127.0.0.1 for every name.
    fn slow(_host: &str) -> io::Result<Vec<IpAddr>> {
        SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        Ok(vec![IpAddr::from([127, 0, 0, 1])])
    }

    /// A resolver that never answers (as long as a test lasts).
    fn silent(_host: &str) -> io::Result<Vec<IpAddr>> {
        std::thread::sleep(Duration::from_secs(30));
        Ok(Vec::new())
    }

    fn leak(lookups: Lookups) -> &'static Lookups {
        Box::leak(Box::new(lookups))
    }

    #[tokio::test]
    async fn attempts_that_need_a_name_being_looked_up_share_its_one_lookup() {
        let lookups = leak(Lookups::new(4, slow));
        let budget = Deadline::after(Duration::from_secs(5));
        let all = (0..20).map(|_| lookups.lookup("api.example.test", &budget));
        let answers = futures_util::future::join_all(all).await;
        assert!(answers
            .iter()
            .all(|a| a.as_ref().is_ok_and(|a| a.len() == 1)));
        assert_eq!(
            SLOW_CALLS.load(Ordering::SeqCst),
            1,
            "one lookup for one name"
        );
        // Answers are not cached: the next attempt asks again.
        lookups.lookup("api.example.test", &budget).await.unwrap();
        assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_resolver_that_never_answers_holds_at_most_the_slots_and_then_is_local_limit() {
        let lookups = leak(Lookups::new(2, silent));
        let budget = Deadline::after(Duration::from_millis(200));
        let names = ["a.test", "b.test", "c.test"];
        let answers =
            futures_util::future::join_all(names.iter().map(|n| lookups.lookup(n, &budget))).await;
        let classes: Vec<&str> = answers
            .iter()
            .map(|a| a.as_ref().unwrap_err().class().as_str())
            .collect();
        // Two were asked and never answered; the third never got a slot.
        assert_eq!(classes, ["dns_timeout", "dns_timeout", "local_limit"]);
        assert_eq!(
            lookups.slots.available_permits(),
            0,
            "the two threads still hold theirs"
        );
        // Again, with the same names: still no more than two threads.
        let budget = Deadline::after(Duration::from_millis(100));
        for name in names {
            let _ = lookups.lookup(name, &budget).await;
        }
        assert_eq!(lookups.slots.available_permits(), 0);
        assert!(lookups.lock().len() <= 3);
    }
}
