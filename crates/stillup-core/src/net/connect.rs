//! Resolve a host and open a TCP connection, or connect to a Unix domain socket, each within
//! the attempt's remaining budget.
//!
//! The resolver runs the system's getaddrinfo on a thread of its own (see [`super::dns`]:
//! one pending lookup per name, a bounded number in all); when the budget runs out we stop
//! waiting for it (the thread finishes on its own), so DNS can never hold a run past its
//! deadline. `localhost` names always mean both loopback addresses (RFC 6761), so
//! an app listening on 127.0.0.1 or only on ::1 is found whatever /etc/hosts says. Every
//! address is tried in order until one connects, each with a fair share of the budget so a
//! black-holed first address cannot starve the others.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::deadline::Deadline;
use crate::failure::Failure;

/// Resolve `host:port`. IP literals skip DNS and report no DNS time.
pub async fn resolve(
    host: &str,
    port: u16,
    budget: &Deadline,
) -> Result<(Vec<SocketAddr>, Option<Duration>), Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![SocketAddr::new(ip, port)], None));
    }
    if is_localhost(host) {
        let loopbacks = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        return Ok((loopbacks.map(|ip| SocketAddr::new(ip, port)).to_vec(), None));
    }
    let started = Instant::now();
    // One pending lookup per name, a bounded number over all names (see `dns`).
    let ips = super::dns::lookup(host, budget).await?;
    let addrs = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    Ok((addrs, Some(started.elapsed())))
}

fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Connect to the first address that accepts, within the budget.
pub async fn connect(
    addrs: &[SocketAddr],
    budget: &Deadline,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut refused = Vec::new();
    let mut other = None;
    let mut timed_out = None;
    for (i, addr) in addrs.iter().enumerate() {
        let started = Instant::now();
        // A fair share: what remains, split among the addresses not tried yet.
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let remaining = budget.remaining() / left;
        if remaining.is_zero() {
            return Err(Failure::ConnectTimeout {
                addr: addr.to_string(),
                after: started.elapsed(),
            });
        }
        match tokio::time::timeout(remaining, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Probes send one small request; waiting for Nagle only adds latency.
                let _ = stream.set_nodelay(true);
                return Ok((stream, *addr));
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused.push(addr.to_string());
            }
            Ok(Err(e)) if is_out_of_descriptors(&e) => return Err(out_of_descriptors()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                // Seen when a listener closes with our connection still in its backlog.
                other = Some(Failure::Reset {
                    detail: format!(
                        "reset by {addr} while connecting (is the listener shutting down?)"
                    ),
                });
            }
            Ok(Err(e)) => {
                other = Some(Failure::Connect {
                    addr: addr.to_string(),
                    detail: connect_detail(&e),
                });
            }
            Err(_) => {
                timed_out = Some(Failure::ConnectTimeout {
                    addr: addr.to_string(),
                    after: started.elapsed(),
                });
            }
        }
    }
    if let Some(failure) = timed_out {
        return Err(failure);
    }
    if let Some(failure) = other {
        return Err(failure);
    }
    Err(Failure::Refused {
        addr: refused.join(" and "),
    })
}

/// Connect to the Unix domain socket at `path`, within the budget.
#[cfg(unix)]
pub async fn connect_unix(
    path: &std::path::Path,
    budget: &Deadline,
) -> Result<tokio::net::UnixStream, Failure> {
    let started = Instant::now();
    let remaining = budget.remaining();
    let timed_out = || Failure::ConnectTimeout {
        addr: format!("unix socket {}", path.display()),
        after: started.elapsed(),
    };
    if remaining.is_zero() {
        return Err(timed_out());
    }
    match tokio::time::timeout(remaining, tokio::net::UnixStream::connect(path)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(classify_unix(&e, path)),
        Err(_) => Err(timed_out()),
    }
}

/// Unix sockets do not exist here; the attempt fails rather than the build.
#[cfg(not(unix))]
pub async fn connect_unix(
    path: &std::path::Path,
    _budget: &Deadline,
) -> Result<tokio::net::TcpStream, Failure> {
    Err(Failure::Connect {
        addr: format!("unix socket {}", path.display()),
        detail: "unix sockets are not supported on this platform".into(),
    })
}

/// A failed Unix connect, by its error kind. A missing file and a file nobody listens on are
/// both `refused` (the server may simply not be up yet); a path that is not a socket at all,
/// or that stillup may not open, will not heal by waiting and is `connect`.
#[cfg(unix)]
fn classify_unix(e: &io::Error, path: &std::path::Path) -> Failure {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display().to_string();
    let connect = |detail: &str| Failure::Connect {
        addr: format!("unix socket {shown}"),
        detail: detail.to_string(),
    };
    if is_out_of_descriptors(e) {
        return out_of_descriptors();
    }
    match e.kind() {
        io::ErrorKind::NotFound => Failure::SocketRefused {
            path: shown,
            missing: true,
        },
        io::ErrorKind::ConnectionRefused => match std::fs::metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                connect("the path exists but is not a socket (a regular file or a directory?)")
            }
            _ => Failure::SocketRefused {
                path: shown,
                missing: false,
            },
        },
        io::ErrorKind::PermissionDenied => connect(
            "permission denied — stillup's user may not open the socket; check its owner and mode (e.g. membership of the docker group)",
        ),
        io::ErrorKind::NotADirectory => connect("a part of the path is not a directory"),
        _ => connect(&e.to_string()),
    }
}

/// stillup (or the system) has no descriptor left for a socket: no evidence about the target.
fn out_of_descriptors() -> Failure {
    Failure::LocalLimit {
        detail: "too many open files".into(),
    }
}

/// EMFILE / ENFILE: this process (or the system) has no descriptor left for a socket.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE))
}

fn connect_detail(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        io::ErrorKind::PermissionDenied => "not permitted (firewall?)".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ip_literals_skip_dns() {
        let d = Deadline::after(Duration::from_secs(1));
        let (addrs, dns) = resolve("::1", 80, &d).await.unwrap();
        assert_eq!(addrs, vec!["[::1]:80".parse().unwrap()]);
        assert!(dns.is_none());
    }

    #[tokio::test]
    async fn localhost_means_both_loopbacks() {
        let d = Deadline::after(Duration::from_secs(1));
        let (addrs, dns) = resolve("LocalHost.", 8080, &d).await.unwrap();
        assert_eq!(addrs.len(), 2);
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080));
        assert!(dns.is_none());
    }

    #[tokio::test]
    async fn an_ipv6_only_listener_is_found_after_a_refusing_ipv4() {
        let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let d = Deadline::after(Duration::from_secs(5));
        let (addrs, _) = resolve("localhost", port, &d).await.unwrap();
        let (_stream, remote) = connect(&addrs, &d).await.unwrap();
        assert!(remote.is_ipv6(), "answered by {remote}");
    }

    #[tokio::test]
    async fn invalid_names_are_dns_failures() {
        // An empty label: the resolver refuses the name itself, before any query, so this test
        // never asks a nameserver. Names that merely do not exist are tested against a stub
        // resolver (`deadlines::a_name_that_does_not_resolve_fails_as_dns_and_exits_1`).
        let d = Deadline::after(Duration::from_secs(5));
        match resolve("no-such..host.invalid", 80, &d).await {
            Err(Failure::Dns { host, .. }) => assert_eq!(host, "no-such..host.invalid"),
            other => panic!("expected a DNS failure, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_missing_socket_is_refused_and_permission_denied_is_connect() {
        let path =
            std::env::temp_dir().join(format!("stillup-no-such-{}.sock", std::process::id()));
        let d = Deadline::after(Duration::from_secs(5));
        match connect_unix(&path, &d).await {
            Err(Failure::SocketRefused { path: p, missing }) => {
                assert!(missing);
                assert_eq!(p, path.display().to_string());
            }
            other => panic!("expected refused, got {other:?}"),
        }
        // Tests may run as root, whom no file mode stops: classify the error itself.
        let denied = classify_unix(&io::Error::from(io::ErrorKind::PermissionDenied), &path);
        assert_eq!(denied.class(), "connect");
        assert!(denied.to_string().contains("permission denied"), "{denied}");
        assert!(denied.to_string().contains(&path.display().to_string()));
    }

    #[cfg(unix)]
    #[test]
    fn a_unix_connect_out_of_descriptors_is_a_local_limit() {
        let path = std::path::Path::new("/run/app.sock");
        for errno in [23, 24] {
            let failure = classify_unix(&io::Error::from_raw_os_error(errno), path);
            assert_eq!(failure.class(), "local_limit", "errno {errno}: {failure}");
            assert!(failure.is_inconclusive());
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_regular_file_is_not_a_socket() {
        let path = std::env::temp_dir().join(format!("stillup-plain-{}.sock", std::process::id()));
        std::fs::write(&path, b"not a socket").unwrap();
        let d = Deadline::after(Duration::from_secs(5));
        let result = connect_unix(&path, &d).await;
        let _ = std::fs::remove_file(&path);
        match result {
            Err(failure @ Failure::Connect { .. }) => {
                assert!(failure.to_string().contains("not a socket"), "{failure}")
            }
            other => panic!("expected a connect failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let d = Deadline::after(Duration::from_secs(5));
        match connect(&[addr], &d).await {
            Err(Failure::Refused { addr: a }) => assert_eq!(a, addr.to_string()),
            other => panic!("expected refused, got {other:?}"),
        }
    }
}
