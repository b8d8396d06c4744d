#!/usr/bin/env bash
# Build stillup and the bench server in release mode, then measure stillup against curl on
# 127.0.0.1 in one run and print a table of ratios. See bench/README.md.
#
#   bench/run.sh                      everything (about three minutes after the build)
#   bench/run.sh --runs 100           more runs in section 1
#   bench/run.sh --only 2             one section (repeat --only for more)
#   CURL=/opt/curl/bin/curl bench/run.sh
#
# Extra arguments go to bench/bench.py (see bench/bench.py --help).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in cargo python3 "${CURL:-curl}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/run.sh: $tool not found on PATH" >&2
        exit 2
    fi
done

echo "building (release): stillup, examples/bench_server, examples/bench_spawn, examples/bench_many" >&2
cargo build --release --quiet -p stillup --bin stillup --example bench_server --example bench_spawn \
    --example bench_many

target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec python3 "$root/bench/bench.py" \
    --stillup "$target_dir/release/stillup" \
    --server "$target_dir/release/examples/bench_server" \
    --spawn "$target_dir/release/examples/bench_spawn" \
    --many-server "$target_dir/release/examples/bench_many" \
    --curl "$(command -v "${CURL:-curl}")" \
    "$@"
