//! `http+unix://` targets: HTTP/1.1 over a Unix domain socket in a temp dir, with the same
//! conditions, redirects and classes as over TCP; a missing socket, or one nobody listens on,
//! is `refused` naming the path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use super::support::*;

/// An HTTP/1.1 server on a Unix socket answering each request with the next canned response
/// (the last one forever), logging every request head. A connection stays open for further
/// requests unless the response says `Connection: close`.
struct UnixServer {
    heads: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    runtime: Option<Runtime>,
}

impl UnixServer {
    fn start(path: &Path, responses: Vec<Vec<u8>>) -> UnixServer {
        assert!(!responses.is_empty());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = {
            let _inside = runtime.enter();
            tokio::net::UnixListener::bind(path).unwrap()
        };
        let heads = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, accepted) = (Arc::clone(&heads), Arc::clone(&connections));
        let responses = Arc::new(responses);
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (log, responses) = (Arc::clone(&log), Arc::clone(&responses));
                tokio::spawn(async move {
                    let mut chunk = [0u8; 1024];
                    loop {
                        let mut head = Vec::new();
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let response = {
                            let mut log = log.lock().unwrap();
                            log.push(String::from_utf8_lossy(&head).into_owned());
                            &responses[(log.len() - 1).min(responses.len() - 1)]
                        };
                        let closes = response.windows(17).any(|w| w == b"Connection: close");
                        if stream.write_all(response).await.is_err() || closes {
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                });
            }
        });
        UnixServer {
            heads,
            connections,
            runtime: Some(runtime),
        }
    }

    /// The request heads read so far.
    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A response after which the server closes the connection.
fn response(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text.into_bytes()
}

/// `http+unix://<percent-encoded socket>/path`.
fn unix_url(socket: &Path, path: &str) -> String {
    let encoded = utf8_percent_encode(socket.to_str().unwrap(), NON_ALPHANUMERIC);
    format!("http+unix://{encoded}{path}")
}

fn socket_in(dir: &TempDir) -> PathBuf {
    dir.file("app.sock")
}

#[test]
fn http_over_a_unix_socket_is_healthy() {
    let dir = TempDir::new("unix-ok");
    let socket = socket_in(&dir);
    let server = UnixServer::start(&socket, vec![response("200 OK", &[], "OK")]);
    let url = unix_url(&socket, "/_ping");
    let run = check_json(&url, &[]);
    run.assert_code(0)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    let only = target(&report, 0);
    assert_eq!(only["target"], url.as_str());
    assert_eq!(only["kind"], "http");
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    let attempt = &attempts_of(only)[0];
    assert_eq!(attempt["status"], 200);
    assert!(attempt["remote"].is_null(), "{run}");
    let timings = &attempt["timings"];
    assert!(timings["connect_ms"].is_number(), "{run}");
    assert!(timings["first_byte_ms"].is_number(), "{run}");
    assert!(timings["dns_ms"].is_null(), "{run}");
    assert!(timings["tls_ms"].is_null(), "{run}");

    let heads = server.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /_ping http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: localhost\r\n"), "{head}");
}

#[test]
fn a_unix_socket_answering_503_then_200_becomes_healthy() {
    let dir = TempDir::new("unix-503");
    let socket = socket_in(&dir);
    let _server = UnixServer::start(
        &socket,
        vec![
            response("503 Service Unavailable", &[], ""),
            response("200 OK", &[], "OK"),
        ],
    );
    let run = wait_json(
        &[&unix_url(&socket, "/health")],
        &["--timeout", "20s", "--interval", "100ms"],
    );
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(story(&report), ["http_status", HEALTHY], "{run}");
}

#[test]
fn json_conditions_and_redirects_work_over_a_unix_socket() {
    let dir = TempDir::new("unix-json");
    let socket = socket_in(&dir);
    let server = UnixServer::start(
        &socket,
        vec![
            response(
                "200 OK",
                &["Content-Type: application/json"],
                r#"{"status":"degraded"}"#,
            ),
            response("302 Found", &["Location: /ready"], ""),
            response(
                "200 OK",
                &["Content-Type: application/json"],
                r#"{"status":"healthy"}"#,
            ),
        ],
    );
    let run = wait_json(
        &[&unix_url(&socket, "/health")],
        &[
            "--expect-json",
            r#"$.status == "healthy""#,
            "--timeout",
            "20s",
            "--interval",
            "100ms",
        ],
    );
    run.assert_code(0);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["condition_failed", HEALTHY], "{run}");
    let last = attempts_of(target(&report, 0)).last().unwrap().clone();
    assert_eq!(last["redirects"], 1, "{run}");
    let paths: Vec<String> = server
        .heads()
        .iter()
        .map(|h| h.split_whitespace().nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(paths, ["/health", "/health", "/ready"]);
}

#[test]
fn keep_alive_asks_again_on_the_same_unix_socket_connection() {
    let dir = TempDir::new("unix-keep-alive");
    let socket = socket_in(&dir);
    let open = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let unavailable = open("503 Service Unavailable", "starting");
    let server = UnixServer::start(
        &socket,
        vec![unavailable.clone(), unavailable, open("200 OK", "OK")],
    );
    let url = unix_url(&socket, "/_ping");
    let run = wait_json(&[&url], &["--interval", "50ms", "--keep-alive"]);
    run.assert_code(0);
    assert_eq!(
        classes(&run.json()),
        ["http_status", "http_status", HEALTHY],
        "{run}"
    );
    assert_eq!(server.heads().len(), 3);
    assert_eq!(server.connections(), 1, "{run}");
}

#[test]
fn a_missing_unix_socket_fails_as_refused_naming_the_path() {
    let dir = TempDir::new("unix-missing");
    let socket = socket_in(&dir);
    let url = unix_url(&socket, "/_ping");
    let run = check_json(&url, &[]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(3) + SLACK);
    let report = run.json();
    assert_matches_schema(&report);
    assert_eq!(classes(&report), ["refused"], "{run}");
    let message = last_message(&report);
    assert!(message.contains(socket.to_str().unwrap()), "{message}");

    let run = wait_json(&[&url], &["--timeout", "1s", "--interval", "200ms"]);
    run.assert_code(1)
        .assert_within(Duration::from_secs(1) + SLACK);
    let report = run.json();
    assert_eq!(report["outcome"], "gave_up", "{run}");
    assert_eq!(story(&report), ["refused"], "{run}");
}

#[test]
fn a_socket_file_nobody_listens_on_fails_as_refused() {
    let dir = TempDir::new("unix-stale");
    let socket = socket_in(&dir);
    // Bound and closed: the file stays behind, as after a server that stopped.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let run = check_json(&unix_url(&socket, "/_ping"), &[]);
    run.assert_code(1);
    let report = run.json();
    assert_eq!(classes(&report), ["refused"], "{run}");
    let message = last_message(&report);
    assert!(message.contains(socket.to_str().unwrap()), "{message}");
    assert!(message.contains("nothing is listening"), "{message}");
}

#[test]
fn a_socket_that_appears_later_becomes_healthy() {
    let dir = TempDir::new("unix-later");
    let socket = socket_in(&dir);
    let later = socket.clone();
    let starter = std::thread::spawn(move || {
        // Long enough that the first attempt comes before, even on a busy machine.
        std::thread::sleep(Duration::from_millis(1500));
        UnixServer::start(&later, vec![response("200 OK", &[], "OK")])
    });
    let run = wait_json(
        &[&unix_url(&socket, "/_ping")],
        &["--timeout", "20s", "--interval", "5s"],
    );
    let _server = starter.join().unwrap();
    run.assert_code(0)
        .assert_within(Duration::from_secs(20) + SLACK);
    let report = run.json();
    assert_eq!(story(&report), ["refused", HEALTHY], "{run}");
    // Re-probed fast while refused (--refused-interval), not only every 5 s.
    assert!(report["elapsed_ms"].as_f64().unwrap() < 4_500.0, "{run}");
}

#[test]
fn unix_targets_without_a_socket_path_are_usage_errors() {
    for (bad, hint) in [
        (
            "http+unix://",
            "http+unix://%2Fvar%2Frun%2Fdocker.sock/_ping",
        ),
        (
            "http+unix:///run/app.sock/health",
            "http+unix://%2Frun%2Fapp.sock/health",
        ),
        ("http+unix://%2Frun%2Fapp.sock:80/", "port"),
    ] {
        let run = stillup(["check", bad]);
        let line = run.usage_error_line(bad);
        assert!(line.contains(hint), "{bad}: {hint:?} missing from {line}");
    }
}

#[test]
fn a_relative_redirect_made_absolute_with_the_host_sent_stays_on_the_unix_socket() {
    // As nginx answers `return 302 /health;`: absolute, with the `Host: localhost` stillup
    // sent over the socket (and a port, where `port_in_redirect` adds one).
    let dir = TempDir::new("unix-absolute-redirect");
    let socket = socket_in(&dir);
    let html = "<html>\r\n<head><title>302 Found</title></head>\r\n</html>\r\n";
    let server = UnixServer::start(
        &socket,
        vec![
            response(
                "302 Moved Temporarily",
                &[
                    "Server: nginx/1.22.1",
                    "Content-Type: text/html",
                    "Location: http://localhost/health",
                ],
                html,
            ),
            response(
                "302 Moved Temporarily",
                &[
                    "Server: nginx/1.22.1",
                    "Location: http://localhost:8080/ready?x=1",
                ],
                html,
            ),
            response("200 OK", &["Server: nginx/1.22.1"], "ok"),
        ],
    );
    let run = wait_json(&[&unix_url(&socket, "/start")], &["--timeout", "10s"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert_eq!(attempts_of(target(&report, 0))[0]["redirects"], 2, "{run}");
    let heads = server.heads();
    let paths: Vec<&str> = heads
        .iter()
        .map(|h| h.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    assert_eq!(paths, ["/start", "/health", "/ready?x=1"]);
}

/// nginx, if installed, as a child of the test: its own prefix, config, pid and log files in a
/// temp dir, listening only on a Unix socket there; killed when dropped.
struct Nginx {
    child: std::process::Child,
    socket: PathBuf,
    _dir: TempDir,
}

impl Nginx {
    /// `None` (after saying so) when nginx is not installed.
    fn start(locations: &str) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let Some(binary) = binary else {
            eprintln!("SKIPPED: nginx is not installed (apt-get install nginx-light); the scripted test covers its answer");
            return None;
        };
        let dir = TempDir::new("nginx");
        let path = |name: &str| dir.file(name).to_str().unwrap().to_string();
        let socket = dir.file("nginx.sock");
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {pid};\nerror_log {log};\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n\
             server {{\n    listen unix:{socket};\n{locations}\n  }}\n}}\n",
            pid = path("nginx.pid"),
            log = path("error.log"),
            t = dir.path().display(),
            socket = socket.display(),
        );
        std::fs::write(dir.file("nginx.conf"), config).unwrap();
        let child = std::process::Command::new(binary)
            .args([
                "-p",
                &path(""),
                "-c",
                &path("nginx.conf"),
                "-e",
                &path("error.log"),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            child,
            socket,
            _dir: dir,
        };
        for _ in 0..200 {
            if nginx.socket.exists() {
                return Some(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(nginx._dir.file("error.log")).unwrap_or_default();
                panic!("nginx exited with {status}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not create its socket within 10s");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_on_a_unix_socket_has_its_relative_redirect_followed() {
    let locations = "    location = /start { return 302 /health; }\n    \
                     location = /health { return 200 \"ok\\n\"; }\n";
    let Some(nginx) = Nginx::start(locations) else {
        return;
    };
    let run = wait_json(&[&unix_url(&nginx.socket, "/start")], &["--timeout", "10s"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(classes(&report), [HEALTHY], "{run}");
    assert_eq!(attempts_of(target(&report, 0))[0]["redirects"], 1, "{run}");
}
