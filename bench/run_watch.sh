#!/usr/bin/env bash
# Benchmark `stillup watch` on 127.0.0.1: a sustained 1000 samples/s for 60 s (CPU, memory over
# time, samples lost, against the same run at 100/s) and the accuracy of measured outage lengths
# at 10/s and 100/s. See bench/WATCH.md for what each number means.
#
#   bench/run_watch.sh                 the full run (about 4 minutes after the build)
#   bench/run_watch.sh --quick         for development: 10 s per rate, 2 runs per scenario
#   bench/run_watch.sh --only 2        one part (repeat --only for more)
#
# Extra arguments go to bench/watch.py (see bench/watch.py --help). The build goes to
# CARGO_TARGET_DIR (default /tmp/bench-watch-target), so it does not contend with other builds
# of the working tree for cargo's lock.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in cargo python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/run_watch.sh: $tool not found on PATH" >&2
        exit 2
    fi
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/bench-watch-target}"
echo "building (release, in $CARGO_TARGET_DIR): stillup, examples/bench_watch_server, examples/bench_spawn" >&2
cargo build --release --quiet -p stillup --bin stillup --example bench_watch_server --example bench_spawn

exec python3 "$root/bench/watch.py" \
    --stillup "$CARGO_TARGET_DIR/release/stillup" \
    --server "$CARGO_TARGET_DIR/release/examples/bench_watch_server" \
    --spawn "$CARGO_TARGET_DIR/release/examples/bench_spawn" \
    "$@"
