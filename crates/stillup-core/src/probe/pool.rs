//! Idle HTTP/1.1 connections kept between attempts for `--keep-alive`.
//!
//! One pool may serve many targets (the CLI gives every target built from the same options
//! the same pool): ten thousand paths on one server then share as many connections as there
//! are attempts in flight, instead of opening ten thousand. A connection is only ever reused
//! for its own origin (scheme, host, port), and probes sharing a pool share the options that
//! shape a connection (TLS, address overrides), so reuse never changes what an attempt means.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::attempt::DEFAULT_MAX_CONCURRENT_ATTEMPTS;

/// A stream hyper can speak HTTP/1.1 over, whatever its kind (TCP, TLS, unix socket).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// An HTTP/1.1 connection between requests: only the open stream (hyper's state and buffers
/// are made per request, so thousands of idle connections cost little).
pub(crate) struct Idle {
    pub io: Box<dyn Io>,
    /// The address it is connected to, reported as the attempt's remote.
    pub remote: Option<SocketAddr>,
}

/// More idle connections than this, over all origins, are closed rather than kept: no more
/// can be in use at once than attempts in flight.
const MAX_IDLE: usize = DEFAULT_MAX_CONCURRENT_ATTEMPTS;

/// Idle connections by origin, shared by clones (and by whichever probes are given a clone).
#[derive(Clone, Default)]
pub struct ConnectionPool(Arc<Mutex<IdleByOrigin>>);

#[derive(Default)]
struct IdleByOrigin {
    by_origin: HashMap<String, Vec<Idle>>,
    count: usize,
}

impl ConnectionPool {
    /// The most recently returned connection to `origin` (the likeliest to be still open).
    pub(crate) fn take(&self, origin: &str) -> Option<Idle> {
        let mut idle = self.lock();
        let connection = idle.by_origin.get_mut(origin)?.pop()?;
        idle.count -= 1;
        Some(connection)
    }

    pub(crate) fn put(&self, origin: String, connection: Idle) {
        let mut idle = self.lock();
        if idle.count < MAX_IDLE {
            idle.count += 1;
            idle.by_origin.entry(origin).or_default().push(connection);
        }
    }

    /// Close every idle connection to `origin`.
    pub(crate) fn forget(&self, origin: &str) {
        let mut idle = self.lock();
        if let Some(closed) = idle.by_origin.remove(origin) {
            idle.count -= closed.len();
        }
    }

    /// Whether `self` and `other` are one pool.
    pub fn is_shared_with(&self, other: &ConnectionPool) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Connections idle now.
    pub fn idle(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> MutexGuard<'_, IdleByOrigin> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionPool({} idle)", self.idle())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(port: u16) -> Idle {
        let (io, _) = tokio::io::duplex(64);
        Idle {
            io: Box::new(io),
            remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    #[test]
    fn connections_are_reused_only_for_their_own_origin_newest_first() {
        let pool = ConnectionPool::default();
        let shared = pool.clone();
        pool.put("http://a:80".into(), idle(1));
        pool.put("http://a:80".into(), idle(2));
        shared.put("http://b:80".into(), idle(3));
        assert_eq!(pool.idle(), 3);
        assert!(pool.take("http://c:80").is_none());
        let port = |c: Option<Idle>| c.and_then(|c| c.remote).map(|r| r.port());
        assert_eq!(port(shared.take("http://a:80")), Some(2));
        assert_eq!(port(pool.take("http://a:80")), Some(1));
        assert_eq!(port(pool.take("http://a:80")), None);
        assert_eq!(port(pool.take("http://b:80")), Some(3));
        assert_eq!(pool.idle(), 0);

        pool.put("http://a:80".into(), idle(4));
        pool.put("http://a:80".into(), idle(5));
        pool.put("http://b:80".into(), idle(6));
        pool.forget("http://a:80");
        assert_eq!(pool.idle(), 1);
        assert!(pool.take("http://a:80").is_none());
    }

    /// Twenty paths on one server, two attempts in flight at a time: with one pool they share
    /// the two connections in use at once; each with a pool of its own opens one apiece.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn targets_given_one_pool_share_its_connections() {
        use std::time::Duration;

        use crate::{wait_group, Backoff, HttpProbe, HttpTarget, Require, WaitPolicy};
        use stillup_testkit::KeepAliveServer;

        const TARGETS: usize = 20;
        let policy = WaitPolicy {
            timeout: Duration::from_secs(20),
            backoff: Backoff {
                interval: Duration::from_millis(20),
                ..Backoff::default()
            },
            max_concurrent_attempts: 2,
            ..WaitPolicy::default()
        };
        let run = |server: &KeepAliveServer, shared: Option<ConnectionPool>| {
            let probes: Vec<HttpProbe> = (0..TARGETS)
                .map(|i| {
                    let url = server.url(&format!("/t/{i}"));
                    let mut probe = HttpProbe::new(HttpTarget::parse(&url).unwrap());
                    probe.keep_alive = true;
                    if let Some(pool) = &shared {
                        probe.pool = pool.clone();
                    }
                    probe
                })
                .collect();
            let policy = policy.clone();
            async move {
                wait_group(
                    &probes,
                    &policy,
                    Require::All,
                    |_, _| {},
                    std::future::pending(),
                )
                .await
            }
        };

        // Two 503s per target on average before the server turns healthy.
        let server = KeepAliveServer::start(2 * TARGETS).unwrap();
        let outcome = run(&server, Some(ConnectionPool::default())).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert!(server.requests() >= 3 * TARGETS, "{}", server.requests());
        assert!(
            server.connections() <= 2,
            "{} connections",
            server.connections()
        );

        let server = KeepAliveServer::start(2 * TARGETS).unwrap();
        let outcome = run(&server, None).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(server.connections(), TARGETS);
    }

    /// A server that answers one request per connection, says nothing of closing, then
    /// closes: every pooled connection is dead when next taken, and each attempt still
    /// succeeds on a fresh one.
    #[tokio::test]
    async fn a_pooled_connection_the_server_closed_is_replaced_by_a_fresh_one() {
        use std::time::Duration;

        use crate::deadline::Deadline;
        use crate::probe::Prober;
        use crate::{HttpProbe, HttpTarget};
        use stillup_testkit::KeepAliveServer;

        let server = KeepAliveServer::closing_after(0, 1).unwrap();
        let mut probe = HttpProbe::new(HttpTarget::parse(&server.url("/health")).unwrap());
        probe.keep_alive = true;
        for attempt in 1..=3 {
            let result = probe
                .probe_once(&Deadline::after(Duration::from_secs(5)))
                .await;
            assert!(result.result.is_ok(), "attempt {attempt}: {result:?}");
            assert_eq!(probe.pool.idle(), 1, "kept for the next attempt");
            // Let the server's close arrive.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.connections(), 3);
    }

    #[test]
    fn past_the_bound_connections_are_closed_not_kept() {
        let pool = ConnectionPool::default();
        for i in 0..MAX_IDLE + 10 {
            pool.put("http://a:80".into(), idle(i as u16));
        }
        assert_eq!(pool.idle(), MAX_IDLE);
    }
}
