//! Many health endpoints in one local process, for section (5) of `bench/run.sh`: TARGETS paths
//! spread over a few ports on 127.0.0.1, each answering 503 until its own random moment within a
//! window and 200 from then on. It owns the sockets, the switch moments and the record of when
//! each target was first served healthy; judging the client is left to the harness.
//!
//! ```text
//! bench_many TARGETS PORTS WINDOW_SECS SEED
//! ```
//!
//! Target `i` (0-based) is `http://127.0.0.1:<port number i % PORTS>/t/<i>`. Its switch moment is
//! drawn uniformly from `[0, WINDOW_SECS)` by a PRNG seeded with `SEED` (same seed, same
//! moments); `WINDOW_SECS` 0 means healthy from the start. The clock (`go`) starts when the
//! server reads its first request head for a target, so the client's own start-up (reading
//! thousands of targets) is not counted as detection lag. "First served healthy" is the moment
//! the head of the first request answered 200 was read, on the same clock.
//!
//! Connections persist as HTTP/1.1 says (for a client that reuses them, `stillup wait
//! --keep-alive`), unless the request says `Connection: close` (stillup's default: a fresh
//! connection per attempt, like a client that polls a service that is starting). Several ports,
//! each with the largest backlog the kernel allows, keep the accept queue and the client's
//! ephemeral ports from becoming the bottleneck.
//!
//! Protocol, one line each way:
//!
//! ```text
//! READY <port>,<port>,...   once every port listens
//! stats  →  STATS requests=N connections=N accept_errors=N go_us=N   (go_us: µs from READY to
//!           go, -1 before the first request)
//! dump   →  one line per target, then END:
//!           T <i> <switch_us> <first_healthy_us or -1> <requests> <unhealthy_requests>
//!           (times in µs since go)
//! ```
//!
//! It runs until stdin closes or it is killed.

use std::io::{self, BufRead, BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const USAGE: &str = "usage: bench_many TARGETS PORTS WINDOW_SECS SEED";
/// Asked of `listen`; the kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 65_535;
/// Largest request head read; a longer one gets no answer.
const MAX_HEAD: usize = 16 * 1024;
/// A client that connects and sends nothing is dropped after this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) rather than spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);
/// `first_healthy` before any 200 was served.
const NOT_YET: u64 = u64::MAX;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nstarting\n";
const OK_KEEP: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
const UNAVAILABLE_KEEP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nstarting\n";
const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The command line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Config {
    targets: usize,
    ports: usize,
    window: Duration,
    seed: u64,
}

impl Config {
    fn parse(args: &[String]) -> Result<Config, String> {
        let [targets, ports, window, seed] = args else {
            return Err(format!("expected 4 arguments, got {}", args.len()));
        };
        let targets: usize = parse_number(targets, "TARGETS")?;
        let ports: usize = parse_number(ports, "PORTS")?;
        if targets == 0 || ports == 0 || ports > targets {
            return Err(format!(
                "need 1 <= PORTS <= TARGETS, got PORTS={ports} TARGETS={targets}"
            ));
        }
        let secs: f64 = parse_number(window, "WINDOW_SECS")?;
        let window = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("WINDOW_SECS must be a non-negative number, got {secs}"))?;
        Ok(Config {
            targets,
            ports,
            window,
            seed: parse_number(seed, "SEED")?,
        })
    }
}

fn parse_number<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid {name}: {value:?}"))
}

/// One endpoint: when it turns healthy and what it has seen.
#[derive(Debug)]
struct Target {
    switch: Duration,
    /// µs since go when the first 200 was decided, or NOT_YET.
    first_healthy: AtomicU64,
    requests: AtomicU32,
    unhealthy_requests: AtomicU32,
}

#[derive(Debug)]
struct Shared {
    targets: Vec<Target>,
    go: OnceLock<Instant>,
    requests: AtomicUsize,
    connections: AtomicUsize,
    accept_errors: AtomicUsize,
}

/// Switch moments drawn uniformly from `[0, window)`, reproducible from the seed.
fn switch_moments(config: Config) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let window_ns = u64::try_from(config.window.as_nanos()).unwrap_or(u64::MAX);
    (0..config.targets)
        .map(|_| match window_ns {
            0 => Duration::ZERO,
            w => Duration::from_nanos(rng.u64(0..w)),
        })
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::parse(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("bench_many: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_many: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> io::Result<()> {
    let shared = Arc::new(Shared {
        targets: switch_moments(config)
            .into_iter()
            .map(|switch| Target {
                switch,
                first_healthy: AtomicU64::new(NOT_YET),
                requests: AtomicU32::new(0),
                unhealthy_requests: AtomicU32::new(0),
            })
            .collect(),
        go: OnceLock::new(),
        requests: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
        accept_errors: AtomicUsize::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listeners = runtime.block_on(async {
        (0..config.ports)
            .map(|_| listen())
            .collect::<io::Result<Vec<_>>>()
    })?;
    let mut ports = Vec::with_capacity(listeners.len());
    for listener in listeners {
        ports.push(listener.local_addr()?.port().to_string());
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
    }

    let mut out = io::stdout().lock();
    let ready = Instant::now();
    writeln!(out, "READY {}", ports.join(","))?;
    out.flush()?;

    for line in io::stdin().lock().lines() {
        match line?.trim() {
            "stats" => {
                let go_us = shared.go.get().map_or(-1, |go| {
                    i64::try_from(go.saturating_duration_since(ready).as_micros()).unwrap_or(-1)
                });
                writeln!(
                    out,
                    "STATS requests={} connections={} accept_errors={} go_us={go_us}",
                    shared.requests.load(Ordering::SeqCst),
                    shared.connections.load(Ordering::SeqCst),
                    shared.accept_errors.load(Ordering::SeqCst),
                )?;
                out.flush()?;
            }
            "dump" => {
                let mut w = BufWriter::new(&mut out);
                for (i, target) in shared.targets.iter().enumerate() {
                    let first = match target.first_healthy.load(Ordering::SeqCst) {
                        NOT_YET => -1,
                        us => i64::try_from(us).unwrap_or(-1),
                    };
                    writeln!(
                        w,
                        "T {i} {} {first} {} {}",
                        target.switch.as_micros(),
                        target.requests.load(Ordering::SeqCst),
                        target.unhealthy_requests.load(Ordering::SeqCst),
                    )?;
                }
                writeln!(w, "END")?;
                w.flush()?;
            }
            other => eprintln!("bench_many: unknown command {other:?} (try: stats, dump)"),
        }
    }
    runtime.shutdown_background();
    Ok(())
}

fn listen() -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    socket.listen(BACKLOG)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(tcp, Arc::clone(&shared)));
            }
            Err(_) => {
                shared.accept_errors.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

async fn connection(mut tcp: TcpStream, shared: Arc<Shared>) {
    let mut head = Vec::with_capacity(512);
    loop {
        head.clear();
        match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut tcp, &mut head)).await {
            Ok(Ok(true)) => {}
            _ => return,
        }
        let keep = !asks_to_close(&head);
        let response = match (answer(&head, &shared), keep) {
            (None, _) => NOT_FOUND,
            (Some(true), true) => OK_KEEP,
            (Some(true), false) => OK,
            (Some(false), true) => UNAVAILABLE_KEEP,
            (Some(false), false) => UNAVAILABLE,
        };
        // The client may already be gone; nothing to do about it here.
        if tcp.write_all(response).await.is_err() || !keep || response == NOT_FOUND {
            let _ = tcp.shutdown().await;
            return;
        }
    }
}

/// Record one request; whether its target is healthy, or None for an unknown path.
fn answer(head: &[u8], shared: &Shared) -> Option<bool> {
    let now = Instant::now();
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let target = target_index(head).and_then(|i| shared.targets.get(i))?;
    let go = *shared.go.get_or_init(|| now);
    let since = now.saturating_duration_since(go);
    target.requests.fetch_add(1, Ordering::SeqCst);
    if since >= target.switch {
        let us = u64::try_from(since.as_micros()).unwrap_or(NOT_YET - 1);
        // Only the first 200 counts.
        let _ =
            target
                .first_healthy
                .compare_exchange(NOT_YET, us, Ordering::SeqCst, Ordering::SeqCst);
        Some(true)
    } else {
        target.unhealthy_requests.fetch_add(1, Ordering::SeqCst);
        Some(false)
    }
}

/// Whether the request head carries `Connection: close`.
fn asks_to_close(head: &[u8]) -> bool {
    let wanted = b"\r\nconnection: close";
    head.windows(wanted.len())
        .any(|w| w.eq_ignore_ascii_case(wanted))
}

/// Read until the end of the request head; false on EOF or an over-long head.
async fn read_head(tcp: &mut TcpStream, head: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 2048];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(true);
        }
        if head.len() > MAX_HEAD {
            return Ok(false);
        }
    }
}

/// `GET /t/17?x HTTP/1.1` → 17.
fn target_index(head: &[u8]) -> Option<usize> {
    let line = head.split(|&b| b == b'\r').next()?;
    let path = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    let rest = path.strip_prefix("/t/")?;
    rest.split(['?', '#']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Config::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_rejected() {
        assert_eq!(
            parse(&["100", "4", "3", "7"]),
            Ok(Config {
                targets: 100,
                ports: 4,
                window: Duration::from_secs(3),
                seed: 7
            })
        );
        assert!(parse(&["100", "4", "3"]).is_err());
        assert!(parse(&["0", "1", "3", "7"]).is_err());
        assert!(parse(&["2", "3", "3", "7"]).is_err());
        assert!(parse(&["10", "1", "-1", "7"]).is_err());
    }

    #[test]
    fn switch_moments_are_reproducible_and_inside_the_window() {
        let config = Config {
            targets: 1000,
            ports: 1,
            window: Duration::from_secs(3),
            seed: 42,
        };
        let a = switch_moments(config);
        assert_eq!(a, switch_moments(config));
        assert!(a.iter().all(|d| *d < Duration::from_secs(3)));
        let zero = switch_moments(Config {
            window: Duration::ZERO,
            ..config
        });
        assert!(zero.iter().all(|d| d.is_zero()));
    }

    #[test]
    fn connection_close_is_found_in_any_case() {
        assert!(asks_to_close(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(asks_to_close(
            b"GET / HTTP/1.1\r\nconnection: Close\r\n\r\n"
        ));
        assert!(!asks_to_close(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    }

    #[test]
    fn target_index_reads_the_path() {
        assert_eq!(
            target_index(b"GET /t/17 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(17)
        );
        assert_eq!(target_index(b"GET /t/3?a=1 HTTP/1.1\r\n\r\n"), Some(3));
        assert_eq!(target_index(b"GET /health HTTP/1.1\r\n\r\n"), None);
        assert_eq!(target_index(b"GET /t/x HTTP/1.1\r\n\r\n"), None);
    }
}
