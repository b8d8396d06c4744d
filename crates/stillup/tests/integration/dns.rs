//! A resolver that never answers: the DNS phase ends by its budget as `dns_timeout`, the
//! getaddrinfo threads it abandons do not hold the exit — although glibc itself is told to
//! wait minutes — and they do not pile up: a name has one pending lookup at most.
//!
//! Each run happens in a fresh network and mount namespace (`unshare`) that has only `lo`.
//! There `/etc/resolv.conf` is bind-mounted to name 127.0.0.1 as the only nameserver, and
//! on 127.0.0.1:53 a small UDP socket (python3) counts queries and answers none, so a query
//! is proven to have reached it and nothing can leave the machine. The mounts are private to
//! the namespace; the host's resolver configuration is checked to be untouched.
//!
//! Needs `unshare` (util-linux), `ip` (iproute2), `python3`, and root (or unprivileged user
//! namespaces, then `--map-root-user` is used). Without them the tests print why to stderr
//! and pass — except when `CI` is set: CI runs as root, so there they fail.

use std::sync::OnceLock;
use std::time::Duration;

use super::support::*;

const DEADLINE: Duration = Duration::from_secs(2);

/// Slack for the process to exit past its deadline. A lookup thread holding the exit would
/// hold it for the resolver's 30 s per try, so this can stay well under [`SLACK`].
const EXIT_SLACK: Duration = Duration::from_millis(1500);

/// A name no one answers for; `.test` is reserved (RFC 6761), and only our socket is asked.
const URL: &str = "http://never-answered.example.test:8080/";

/// Only our socket, and patience: glibc alone would wait 30 s per try, 5 tries.
const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n";

/// Files, then DNS: no NSS module (mdns, systemd-resolved) may answer from outside the
/// namespace through a Unix socket.
const NSSWITCH_CONF: &str = "hosts: files dns\n";

/// How long the swallower lives at most, whatever happens to the run.
const SWALLOWER_LIFETIME_SECS: u32 = 30;

/// Binds 127.0.0.1:53, says so by creating DIR/ready, then receives and counts queries into
/// DIR/queries without ever answering, until killed or its lifetime ends.
const SWALLOWER: &str = r#"
import os, socket, sys, time
directory, lifetime = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
open(os.path.join(directory, "ready"), "w").close()
end = time.monotonic() + lifetime
queries = 0
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    sock.settimeout(left)
    try:
        sock.recvfrom(4096)
    except socket.timeout:
        break
    queries += 1
    with open(os.path.join(directory, "queries"), "w") as f:
        f.write(str(queries))
"#;

/// Run inside the namespace as `sh -c SETUP sh DIR STILLUP ARGS…`: prepare the namespace,
/// start the swallower, run stillup (its stdout and stderr pass through) timed by the clock
/// in DIR/started and DIR/ended, stop the swallower, exit with stillup's code. A failed
/// step exits 97 naming the step.
const SETUP: &str = r#"
dir=$1; shift
fail() { echo "silent-resolver setup failed: $*" >&2; exit 97; }
ip link set lo up || fail "ip link set lo up"
mount --bind "$dir/resolv.conf" /etc/resolv.conf || fail "bind-mount over /etc/resolv.conf"
mount --bind "$dir/nsswitch.conf" /etc/nsswitch.conf || fail "bind-mount over /etc/nsswitch.conf"
if [ -d /var/run/nscd ]; then
    mount -t tmpfs stillup-no-nscd /var/run/nscd || fail "hide nscd's socket"
fi
python3 "$dir/swallow.py" "$dir" "$SWALLOWER_LIFETIME" &
swallower=$!
tries=0
while [ ! -e "$dir/ready" ]; do
    tries=$((tries + 1))
    kill -0 "$swallower" 2>/dev/null || fail "the swallower did not start"
    if [ "$tries" -gt 100 ]; then
        kill "$swallower"
        fail "the swallower did not bind 127.0.0.1:53 within 5 s"
    fi
    sleep 0.05
done
date +%s%N > "$dir/started"
"$@"
code=$?
date +%s%N > "$dir/ended"
kill "$swallower" 2>/dev/null
wait "$swallower"
exit "$code"
"#;

/// What the probe runs inside a namespace: are the tools there, may we configure `lo`?
const PROBE: &str = r#"
command -v ip >/dev/null || { echo "ip (iproute2) is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is not installed" >&2; exit 1; }
command -v date >/dev/null || { echo "date is not installed" >&2; exit 1; }
ip link set lo up
"#;

/// The `unshare` flags that work on this machine, or why none do (also for `stub_dns.rs`).
pub(crate) fn namespace_flags() -> Result<&'static [&'static str], String> {
    static FLAGS: OnceLock<Result<&'static [&'static str], String>> = OnceLock::new();
    FLAGS
        .get_or_init(|| {
            const AS_ROOT: &[&str] = &["--net", "--mount", "--propagation", "private"];
            const MAPPED: &[&str] = &[
                "--map-root-user",
                "--net",
                "--mount",
                "--propagation",
                "private",
            ];
            let mut reasons = Vec::new();
            for flags in [AS_ROOT, MAPPED] {
                let mut cmd = assert_cmd::Command::new("unshare");
                cmd.args(flags)
                    .args(["--", "sh", "-c", PROBE])
                    .timeout(Duration::from_secs(10));
                match cmd.output() {
                    Ok(out) if out.status.success() => return Ok(flags),
                    Ok(out) => reasons.push(format!(
                        "unshare {}: {}",
                        flags.join(" "),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => return Err(format!("unshare cannot be run: {e}")),
                }
            }
            Err(reasons.join("; "))
        })
        .clone()
}

/// A run of stillup whose only resolver swallows every query.
#[derive(Debug)]
struct SilentRun {
    run: Run,
    /// Queries the swallower received.
    queries: u64,
    /// From just before stillup started to just after it exited, inside the namespace.
    wall: Duration,
}

/// `stillup ARGS…` with a resolver that never answers; `None` (with the reason on stderr)
/// when this machine cannot make the namespace and `CI` is not set.
fn with_a_silent_resolver(args: &[&str]) -> Option<SilentRun> {
    let flags = match namespace_flags() {
        Ok(flags) => flags,
        Err(why) if std::env::var_os("CI").is_some() => panic!(
            "CI is set, so this test must run, but no network + mount namespace could be made \
             (it needs root, unshare, ip and python3): {why}"
        ),
        Err(why) => {
            eprintln!(
                "skipped: a resolver that never answers needs a network + mount namespace \
                 (root, unshare, ip, python3): {why}"
            );
            return None;
        }
    };
    let dir = TempDir::new("silent-resolver");
    std::fs::write(dir.file("resolv.conf"), RESOLV_CONF).unwrap();
    std::fs::write(dir.file("nsswitch.conf"), NSSWITCH_CONF).unwrap();
    std::fs::write(dir.file("swallow.py"), SWALLOWER).unwrap();
    let host_resolv_conf = std::fs::read("/etc/resolv.conf").ok();

    let binary = assert_cmd::cargo::cargo_bin("stillup");
    let mut unshare_args: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
    unshare_args.extend(["--", "sh", "-c", SETUP, "sh"].map(std::ffi::OsStr::new));
    unshare_args.push(dir.path().as_os_str());
    unshare_args.push(binary.as_os_str());
    unshare_args.extend(args.iter().map(std::ffi::OsStr::new));
    let mut cmd = wrapper("unshare", unshare_args);
    // Variables that would change how glibc resolves, behind the test's back.
    for name in ["RES_OPTIONS", "LOCALDOMAIN", "HOSTALIASES"] {
        cmd.env_remove(name);
    }
    cmd.env("SWALLOWER_LIFETIME", SWALLOWER_LIFETIME_SECS.to_string());
    let run = run_to_end(cmd);

    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        host_resolv_conf,
        "the host's /etc/resolv.conf changed: the bind mount was not private to the namespace"
    );
    assert_ne!(
        run.code,
        Some(97),
        "the namespace could not be set up\n{run}"
    );
    let read_number = |name: &str| -> Option<u128> {
        let text = std::fs::read_to_string(dir.file(name)).ok()?;
        text.trim().parse().ok()
    };
    let (Some(started), Some(ended)) = (read_number("started"), read_number("ended")) else {
        panic!("stillup's start and end were not timed in the namespace\n{run}");
    };
    let wall = Duration::from_nanos(u64::try_from(ended.saturating_sub(started)).unwrap());
    let queries = read_number("queries").map_or(0, |n| u64::try_from(n).unwrap());
    Some(SilentRun { run, queries, wall })
}

impl SilentRun {
    /// Panics unless stillup exited within `bound` (timed inside the namespace, so the
    /// namespace's set-up is not counted) and said so in its report.
    #[track_caller]
    fn assert_exited_within(&self, bound: Duration) -> serde_json::Value {
        let run = &self.run;
        assert!(
            self.wall < bound,
            "stillup took {:?} from start to exit, expected under {bound:?} (held by a lookup \
             thread?)\n{run}",
            self.wall
        );
        let report = run.json();
        let elapsed = report["elapsed_ms"].as_f64().unwrap();
        assert!(
            elapsed < bound.as_millis() as f64,
            "the report says {elapsed}ms, expected under {bound:?}\n{run}"
        );
        report
    }

    /// Panics unless the swallower received at least `n` queries: the lookups went to our
    /// socket, rather than failing for some other reason.
    #[track_caller]
    fn assert_queries_at_least(&self, n: u64) {
        assert!(
            self.queries >= n,
            "the silent resolver received {} queries, expected at least {n}\n{}",
            self.queries,
            self.run
        );
    }
}

#[test]
fn a_resolver_that_never_answers_fails_as_dns_timeout_and_gives_up_at_the_deadline() {
    let Some(silent) =
        with_a_silent_resolver(&["wait", URL, "--timeout", "2s", "--output", "json"])
    else {
        return;
    };
    silent.run.assert_code(1);
    let report = silent.assert_exited_within(DEADLINE + EXIT_SLACK);
    assert_matches_schema(&report);
    assert_eq!(report["outcome"], "gave_up", "{}", silent.run);
    let target = target(&report, 0);
    let classes = classes_of(target);
    assert!(
        !classes.is_empty() && classes.iter().all(|c| c == "dns_timeout"),
        "expected only dns_timeout, got {classes:?}\n{}",
        silent.run
    );
    assert_eq!(target["last_failure"]["class"], "dns_timeout");
    silent.assert_queries_at_least(1);
}

#[test]
fn lookups_abandoned_at_each_attempt_timeout_do_not_hold_the_exit() {
    let Some(silent) = with_a_silent_resolver(&[
        "wait",
        URL,
        "--timeout",
        "2s",
        "--attempt-timeout",
        "400ms",
        "--interval",
        "200ms",
        "--output",
        "json",
    ]) else {
        return;
    };
    silent.run.assert_code(1);
    let report = silent.assert_exited_within(DEADLINE + EXIT_SLACK);
    assert_eq!(report["outcome"], "gave_up", "{}", silent.run);
    let attempts = attempts_of(target(&report, 0));
    assert!(
        attempts.len() >= 2,
        "expected several attempts of 400ms in 2s\n{}",
        silent.run
    );
    for attempt in attempts {
        assert_eq!(attempt["class"], "dns_timeout", "{}", silent.run);
        let took = attempt["duration_ms"].as_f64().unwrap();
        assert!(
            took < (Duration::from_millis(400) + EXIT_SLACK).as_millis() as f64,
            "an attempt's lookup ran {took}ms past its 400ms budget\n{}",
            silent.run
        );
    }
    silent.assert_queries_at_least(1);
}

/// An attempt every 50 ms against a resolver that never answers: each attempt waits on the
/// one lookup of the name still pending instead of leaving a thread of its own behind, so
/// the resolver is asked once (A and AAAA), however many attempts there are.
#[test]
fn attempts_against_a_resolver_that_never_answers_share_one_pending_lookup() {
    let Some(silent) = with_a_silent_resolver(&[
        "wait",
        URL,
        "--timeout",
        "3s",
        "--attempt-timeout",
        "100ms",
        "--interval",
        "50ms",
        "--output",
        "json",
    ]) else {
        return;
    };
    silent.run.assert_code(1);
    let report = silent.assert_exited_within(Duration::from_secs(3) + EXIT_SLACK);
    let attempts = attempts_of(target(&report, 0));
    assert!(attempts.len() >= 10, "{}", silent.run);
    assert!(
        classes_of(target(&report, 0))
            .iter()
            .all(|c| c == "dns_timeout"),
        "{}",
        silent.run
    );
    silent.assert_queries_at_least(1);
    // One lookup: glibc's first try (its timeout is 30 s), an A and an AAAA query at most.
    assert!(
        silent.queries <= 2,
        "{} queries for {} attempts: the lookups were not shared\n{}",
        silent.queries,
        attempts.len(),
        silent.run
    );
}

#[test]
fn check_with_a_resolver_that_never_answers_fails_once_as_dns_timeout_at_the_attempt_timeout() {
    let Some(silent) =
        with_a_silent_resolver(&["check", URL, "--attempt-timeout", "1s", "--output", "json"])
    else {
        return;
    };
    silent.run.assert_code(1);
    let report = silent.assert_exited_within(Duration::from_secs(1) + EXIT_SLACK);
    let target = target(&report, 0);
    assert_eq!(classes_of(target), ["dns_timeout"], "{}", silent.run);
    silent.assert_queries_at_least(1);
}
