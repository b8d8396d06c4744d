//! Names answered by a stub resolver of the test's own, so that no test asks the system
//! resolver and no DNS query leaves the machine.
//!
//! The run happens in a fresh network and mount namespace (`unshare`) that has only `lo`.
//! There `/etc/resolv.conf` and `/etc/nsswitch.conf` are bind-mounted (privately) so that
//! 127.0.0.1:53 is the only nameserver, and on it a small UDP responder (python3) answers
//! every query NXDOMAIN and counts them, proving the lookup was answered there.
//! (`dns.rs` does the same with a resolver that never answers.)
//!
//! Needs `unshare` (util-linux), `ip` (iproute2), `python3`, and root (or unprivileged user
//! namespaces, then `--map-root-user` is used). Without them the tests say why on stderr and
//! pass — except when `CI` is set: CI runs as root, so there they fail.

use std::ffi::OsStr;

use super::dns::namespace_flags;
use super::support::{run_to_end, wrapper, Run, TempDir};

/// Only our responder, asked once per query: it answers at once.
const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n";

/// Files, then DNS: no NSS module may answer from outside the namespace.
const NSSWITCH_CONF: &str = "hosts: files dns\n";

/// How long the responder lives at most, whatever happens to the run.
const RESPONDER_LIFETIME_SECS: u32 = 30;

/// Binds 127.0.0.1:53, says so by creating DIR/ready, then answers every query NXDOMAIN
/// (same id and question, no records) and counts them into DIR/queries.
const RESPONDER: &str = r#"
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
        query, peer = sock.recvfrom(4096)
    except socket.timeout:
        break
    if len(query) < 17:
        continue
    end_of_name = 12
    while end_of_name < len(query) and query[end_of_name] != 0:
        end_of_name += query[end_of_name] + 1
    question = query[12:end_of_name + 5]
    # QR, the query's opcode and RD; RA; RCODE 3 (NXDOMAIN). One question, no records.
    flags = bytes([0x80 | (query[2] & 0x79), 0x80 | 3])
    sock.sendto(query[:2] + flags + b"\0\1\0\0\0\0\0\0" + question, peer)
    queries += 1
    # Written aside, then renamed: a kill mid-write must not leave an empty count.
    with open(os.path.join(directory, "queries.new"), "w") as f:
        f.write(str(queries))
    os.replace(os.path.join(directory, "queries.new"), os.path.join(directory, "queries"))
"#;

/// Run inside the namespace as `sh -c SETUP sh DIR STILLUP ARGS…`: prepare the namespace,
/// start the responder, run stillup (its output passes through), stop the responder, exit
/// with stillup's code. A failed step exits 97 naming the step.
const SETUP: &str = r#"
dir=$1; shift
fail() { echo "stub-resolver setup failed: $*" >&2; exit 97; }
ip link set lo up || fail "ip link set lo up"
mount --bind "$dir/resolv.conf" /etc/resolv.conf || fail "bind-mount over /etc/resolv.conf"
mount --bind "$dir/nsswitch.conf" /etc/nsswitch.conf || fail "bind-mount over /etc/nsswitch.conf"
if [ -d /var/run/nscd ]; then
    mount -t tmpfs stillup-no-nscd /var/run/nscd || fail "hide nscd's socket"
fi
python3 "$dir/respond.py" "$dir" "$RESPONDER_LIFETIME" &
responder=$!
tries=0
while [ ! -e "$dir/ready" ]; do
    tries=$((tries + 1))
    kill -0 "$responder" 2>/dev/null || fail "the responder did not start"
    if [ "$tries" -gt 100 ]; then
        kill "$responder"
        fail "the responder did not bind 127.0.0.1:53 within 5 s"
    fi
    sleep 0.05
done
"$@"
code=$?
kill "$responder" 2>/dev/null
wait "$responder"
exit "$code"
"#;

/// A run of stillup whose only resolver answers every name NXDOMAIN.
#[derive(Debug)]
pub struct StubRun {
    pub run: Run,
    /// Queries the responder answered.
    pub queries: u64,
}

/// `stillup ARGS…` where every name is answered NXDOMAIN by the test's own resolver; `None`
/// (with the reason on stderr) when this machine cannot make the namespace and `CI` is not set.
pub fn with_an_nxdomain_resolver(args: &[&str]) -> Option<StubRun> {
    let flags = match namespace_flags() {
        Ok(flags) => flags,
        Err(why) if std::env::var_os("CI").is_some() => panic!(
            "CI is set, so this test must run, but no network + mount namespace could be made \
             (it needs root, unshare, ip and python3): {why}"
        ),
        Err(why) => {
            eprintln!(
                "SKIPPED: a stub resolver needs a network + mount namespace (root, unshare, ip, \
                 python3), and the system resolver must not be asked instead: {why}"
            );
            return None;
        }
    };
    let dir = TempDir::new("stub-resolver");
    std::fs::write(dir.file("resolv.conf"), RESOLV_CONF).unwrap();
    std::fs::write(dir.file("nsswitch.conf"), NSSWITCH_CONF).unwrap();
    std::fs::write(dir.file("respond.py"), RESPONDER).unwrap();
    let host_resolv_conf = std::fs::read("/etc/resolv.conf").ok();

    let binary = assert_cmd::cargo::cargo_bin("stillup");
    let mut unshare_args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    unshare_args.extend(["--", "sh", "-c", SETUP, "sh"].map(OsStr::new));
    unshare_args.push(dir.path().as_os_str());
    unshare_args.push(binary.as_os_str());
    unshare_args.extend(args.iter().map(OsStr::new));
    let mut cmd = wrapper("unshare", unshare_args);
    // Variables that would change how glibc resolves, behind the test's back.
    for name in ["RES_OPTIONS", "LOCALDOMAIN", "HOSTALIASES"] {
        cmd.env_remove(name);
    }
    cmd.env("RESPONDER_LIFETIME", RESPONDER_LIFETIME_SECS.to_string());
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
    let queries = std::fs::read_to_string(dir.file("queries"))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    Some(StubRun { run, queries })
}
