//! Proxies from the environment: absolute-form requests through an HTTP proxy, CONNECT
//! tunnels for https, `no_proxy` (names, CIDR ranges), loopback never proxied, and a proxy
//! that refuses.
//!
//! Loopback targets always go direct, so a CIDR range is tried on the "this host" addresses
//! `0.0.0.0` and `::`: not loopback to the proxy rules, yet Linux connects them to
//! 127.0.0.1 and ::1, so nothing leaves the machine either way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use stillup_testkit::{Behavior, Reply};

use super::support::{last_class, serve, serve_tls, stillup_with_env, TempDir};

/// A CONNECT proxy that tunnels every request to 127.0.0.1:`upstream`, whatever host was
/// asked for, or answers `refuse_with` instead. Serves up to `max` connections.
fn connect_proxy(upstream: u16, refuse_with: Option<u16>, max: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming().take(max) {
            let Ok(mut client) = client else { continue };
            thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16_384 {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                if !head.starts_with(b"CONNECT ") {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                }
                if let Some(code) = refuse_with {
                    let _ = client.write_all(
                        format!("HTTP/1.1 {code} No\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    );
                    return;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let (mut c3, mut s3) = (client, server);
                let _ = std::io::copy(&mut s3, &mut c3);
                let _ = up.join();
            });
        }
    });
    port
}

#[test]
fn http_targets_go_through_the_proxy_in_absolute_form_with_its_credentials() {
    let proxy = serve(Behavior::Respond(Reply::text(200, "via proxy")));
    let proxy_url = format!("http://pxuser:pxsecret@127.0.0.1:{}", proxy.port());
    let run = stillup_with_env(
        ["check", "http://api.invalid:8080/health?deep=1"],
        &[("http_proxy", proxy_url.as_str())],
    );
    run.assert_code(0);
    let seen = proxy.request_log();
    assert_eq!(seen[0].target, "http://api.invalid:8080/health?deep=1");
    assert_eq!(seen[0].header("host"), Some("api.invalid:8080"));
    // pxuser:pxsecret
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some("Basic cHh1c2VyOnB4c2VjcmV0")
    );
    assert!(
        !format!("{}{}", run.stdout, run.stderr).contains("pxsecret"),
        "{run}"
    );
}

#[test]
fn https_targets_tunnel_through_connect_and_verify_the_real_server() {
    let dir = TempDir::new("proxy-tls");
    let cert = super::support::self_signed(&["api.example"], None);
    let ca = cert.write_pem(&dir, "ca.pem");
    let server = serve_tls(&cert, Behavior::Respond(Reply::text(200, "ok")));
    let proxy = connect_proxy(server.port(), None, 4);
    let proxy_url = format!("http://127.0.0.1:{proxy}");
    let run = stillup_with_env(
        [
            "check",
            "https://api.example/health",
            "--cacert",
            ca.to_str().unwrap(),
        ],
        &[("HTTPS_PROXY", proxy_url.as_str())],
    );
    run.assert_code(0);
    assert_eq!(server.request_log()[0].target, "/health");
}

#[test]
fn a_proxy_that_refuses_the_tunnel_fails_as_proxy() {
    let proxy = connect_proxy(1, Some(403), 4);
    let proxy_url = format!("http://127.0.0.1:{proxy}");
    let run = stillup_with_env(
        ["check", "https://api.example/", "--output", "json"],
        &[("https_proxy", proxy_url.as_str())],
    );
    run.assert_code(1);
    let report = run.json();
    assert_eq!(last_class(&report), "proxy", "{run}");
    assert!(
        super::support::last_message(&report).contains("403"),
        "{run}"
    );
}

#[test]
fn no_proxy_and_loopback_targets_go_direct() {
    let proxy = serve(Behavior::Respond(Reply::text(200, "via proxy")));
    let direct = serve(Behavior::Respond(Reply::text(200, "direct")));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let loopback = direct.url("/");
    stillup_with_env(
        ["check", loopback.as_str()],
        &[("http_proxy", proxy_url.as_str())],
    )
    .assert_code(0);
    // A name no_proxy matches goes direct: pinned with --resolve to the direct server, so no
    // DNS query is sent, and reaching that server proves the proxy was bypassed.
    let port = direct.port();
    let url = format!("http://api.invalid:{port}/");
    let pin = format!("api.invalid:{port}:127.0.0.1");
    let run = stillup_with_env(
        ["check", url.as_str(), "--resolve", pin.as_str()],
        &[
            ("http_proxy", proxy_url.as_str()),
            ("no_proxy", "localhost,.invalid"),
        ],
    );
    run.assert_code(0);
    assert_eq!(proxy.requests(), 0);
    assert_eq!(direct.requests(), 2);
    assert_eq!(
        direct.request_log()[1].header("host"),
        Some(format!("api.invalid:{port}").as_str())
    );
}

/// A bad proxy variable matters to the targets that would use it only: for them it is a
/// usage error naming it; a loopback target (never proxied) runs as if it were not set.
#[test]
fn a_bad_proxy_variable_is_a_usage_error_naming_it_for_targets_that_would_use_it() {
    let server = serve(Behavior::Respond(Reply::text(200, "ok")));
    let bad = [("HTTPS_PROXY", "socks5://u:hunter2@proxy:1080")];
    let run = stillup_with_env(
        [
            "check",
            "https://api.example:1/",
            "--resolve",
            &format!("api.example:1:{}", server.addr().ip()),
        ],
        &bad,
    );
    run.assert_code(2);
    assert!(run.stderr.contains("HTTPS_PROXY"), "{run}");
    assert!(!run.stderr.contains("hunter2"), "{run}");
    assert_eq!(server.connections(), 0);
    let run = stillup_with_env(["check", server.url("/").as_str()], &bad);
    run.assert_code(0);
}

/// A server on [::1] that answers `max` connections with 200 and counts them.
fn serve_v6_loopback(max: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback is available");
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

/// `no_proxy=0.0.0.0/8` covers the target 0.0.0.0: it goes direct (to the server on
/// 127.0.0.1) and the proxy sees nothing; with a range that does not cover it, the same
/// target goes through the proxy.
#[test]
fn an_ipv4_target_in_a_no_proxy_cidr_range_goes_direct_and_one_outside_through_the_proxy() {
    let proxy = serve(Behavior::Respond(Reply::text(200, "via proxy")));
    let direct = serve(Behavior::Respond(Reply::text(200, "direct")));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let target = format!("http://0.0.0.0:{}/health", direct.port());
    let covered = stillup_with_env(
        ["check", target.as_str()],
        &[
            ("http_proxy", proxy_url.as_str()),
            ("NO_PROXY", "example.internal,0.0.0.0/8"),
        ],
    );
    covered.assert_code(0);
    assert_eq!(proxy.requests(), 0, "{covered}");
    assert_eq!(direct.requests(), 1, "{covered}");
    let outside = stillup_with_env(
        ["check", target.as_str()],
        &[
            ("http_proxy", proxy_url.as_str()),
            ("NO_PROXY", "10.0.0.0/8 192.168.0.0/16"),
        ],
    );
    outside.assert_code(0);
    assert_eq!(direct.requests(), 1, "{outside}");
    let seen = proxy.request_log();
    assert_eq!(seen.len(), 1, "{outside}");
    assert_eq!(seen[0].target, target);
}

/// The same for IPv6: `::/128` covers the target `[::]`, which goes to the server on [::1];
/// `fd00::/8` does not, and the proxy gets it.
#[test]
fn an_ipv6_target_in_a_no_proxy_cidr_range_goes_direct_and_one_outside_through_the_proxy() {
    let proxy = serve(Behavior::Respond(Reply::text(200, "via proxy")));
    let (port, direct) = serve_v6_loopback(4);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let target = format!("http://[::]:{port}/health");
    let covered = stillup_with_env(
        ["check", target.as_str()],
        &[("http_proxy", proxy_url.as_str()), ("no_proxy", "[::]/128")],
    );
    covered.assert_code(0);
    assert_eq!(proxy.requests(), 0, "{covered}");
    assert_eq!(direct.load(Ordering::SeqCst), 1, "{covered}");
    let outside = stillup_with_env(
        ["check", target.as_str()],
        &[("http_proxy", proxy_url.as_str()), ("no_proxy", "fd00::/8")],
    );
    outside.assert_code(0);
    assert_eq!(direct.load(Ordering::SeqCst), 1, "{outside}");
    assert_eq!(proxy.request_log()[0].target, target);
}

/// A `no_proxy` entry stillup cannot read may have been meant for a target a proxy would
/// take: for that target it is a usage error naming the variable and the entry, and nothing
/// is sent; a loopback target (never proxied) runs as if it were not there.
#[test]
fn an_unreadable_no_proxy_entry_is_a_usage_error_for_targets_a_proxy_would_take() {
    let proxy = serve(Behavior::Respond(Reply::text(200, "via proxy")));
    let direct = serve(Behavior::Respond(Reply::text(200, "direct")));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let vars = [
        ("http_proxy", proxy_url.as_str()),
        ("NO_PROXY", "10.0.0.0/8,192.168.*"),
    ];
    let target = format!("http://0.0.0.0:{}/", direct.port());
    let run = stillup_with_env(["check", target.as_str()], &vars);
    run.assert_code(2);
    assert!(
        run.stderr.contains("NO_PROXY") && run.stderr.contains("192.168.*"),
        "{run}"
    );
    assert!(run.stderr.contains("192.168.0.0/16"), "says how: {run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert_eq!(proxy.connections() + direct.connections(), 0, "{run}");
    stillup_with_env(["check", direct.url("/").as_str()], &vars).assert_code(0);
}
