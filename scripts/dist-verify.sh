#!/usr/bin/env bash
# Prove a static stillup binary needs nothing but itself: run it under `env -i` in an empty
# chroot (no /etc, no /dev, no /tmp, no certificates, no resolver config) against a listener on
# 127.0.0.1 outside it — loopback is shared with the chroot. This is what the FROM-scratch
# Dockerfile relies on, since no Docker engine runs here. Needs root (or unprivileged user
# namespaces, for `unshare -r`).
#
#   scripts/dist-verify.sh dist/x86_64-unknown-linux-musl/stillup
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:?usage: scripts/dist-verify.sh PATH-TO-STATIC-BINARY}
[ -x "$binary" ] || { echo "dist-verify: $binary is not an executable file" >&2; exit 2; }

# Absolute paths: under env -i there is no PATH.
if [ "$(id -u)" = 0 ]; then
    enter=("$(command -v chroot)")
elif unshare -r true 2>/dev/null; then
    enter=("$(command -v unshare)" -r "$(command -v chroot)")
else
    echo "dist-verify: chroot needs root or user namespaces (unshare -r); neither is available" >&2
    exit 1
fi

root=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$root" "$root.port"
}
trap cleanup EXIT
cp "$binary" "$root/stillup"
echo "== in an empty chroot: $(ls -A "$root" | tr '\n' ' ')(and nothing else)"

# An HTTP server on 127.0.0.1, port 0, for at most a minute; it writes its port when listening.
timeout 60 python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
' "$root.port" &
server_pid=$!
for _ in $(seq 1 100); do
    [ -s "$root.port" ] && break
    sleep 0.1
done
port=$(cat "$root.port")
[ -n "$port" ] || { echo "dist-verify: the test server did not start" >&2; exit 1; }

failures=0
# expect CODE DESCRIPTION -- ARGS…: run /stillup ARGS in the chroot, bounded, and compare the
# exit code. 134 would be a panic (panic = "abort" in release), 124 the bound.
expect() {
    local want=$1 what=$2
    shift 3
    local out code=0
    out=$(timeout 60 env -i "${enter[@]}" "$root" /stillup "$@" 2>&1) || code=$?
    if [ "$code" = "$want" ]; then
        echo "   ok   $what (exit $code)"
    else
        echo "   FAIL $what: exit $code, expected $want; output:" >&2
        printf '%s\n' "$out" | sed 's/^/        /' >&2
        failures=$((failures + 1))
    fi
    last_output=$out
}

expect 0 "stillup --version" -- --version
expect 0 "check tcp://127.0.0.1 (an IP literal: no /etc/hosts, no resolv.conf needed)" -- \
    check "tcp://127.0.0.1:$port"
expect 0 "check tcp://localhost (named without /etc/hosts: stillup knows localhost)" -- \
    check "tcp://localhost:$port"
expect 0 "check http://127.0.0.1 (HTTP/1.1 through hyper)" -- check "http://127.0.0.1:$port/"
# TLS with no trust store on disk: rustls starts, the handshake fails as a classified attempt.
expect 1 "check https:// against a plain-HTTP port fails as an attempt, not a crash" -- \
    check "https://127.0.0.1:$port/" --attempt-timeout 5s
case $last_output in
    *tls* | *TLS*) ;;
    *) echo "   FAIL the https attempt does not name TLS: $last_output" >&2; failures=$((failures + 1)) ;;
esac
expect 1 "check a closed port: connection refused" -- check "tcp://127.0.0.1:1"
case $last_output in
    *refused*) ;;
    *) echo "   FAIL the closed port is not reported as refused: $last_output" >&2; failures=$((failures + 1)) ;;
esac
expect 0 "stillup --output json check (writes JSON with no /tmp, no HOME)" -- \
    check "tcp://127.0.0.1:$port" --output json
case $last_output in
    *'"outcome"'*) ;;
    *) echo "   FAIL no JSON report: $last_output" >&2; failures=$((failures + 1)) ;;
esac
expect 0 "stillup demo (scripted servers on 127.0.0.1 inside the chroot)" -- demo

if [ "$failures" -gt 0 ]; then
    echo "dist-verify: $failures check(s) failed in the bare chroot" >&2
    exit 1
fi
echo "== the static binary runs alone under env -i"
