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

# Section (8) compares with blackbox_exporter under load from wrk: install both from Debian when
# missing and we can (bench is not CI; without them the section says so and is skipped).
wants_8=1
if [[ " $* " == *" --only "* && " $* " != *" --only 8 "* ]]; then wants_8=0; fi
if [ "$wants_8" = 1 ] && ! { command -v wrk && command -v prometheus-blackbox-exporter; } >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing wrk and prometheus-blackbox-exporter for section (8)" >&2
    bash "$root/scripts/peers.sh" >&2
    command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends wrk >/dev/null
fi

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
