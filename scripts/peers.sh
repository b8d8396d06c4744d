#!/usr/bin/env bash
# Install the peer programs some tests run next to stillup, when missing: nginx (the unix-socket
# redirect test), Prometheus and promtool, and blackbox_exporter (the exporter's end-to-end and
# side-by-side tests). Debian packages; `apt-get update` only when something is missing. The
# packages' own services are not started: the tests start their own instances on free ports.
set -euo pipefail

missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-blackbox-exporter >/dev/null || missing+=(prometheus-blackbox-exporter)

if [ ${#missing[@]} -eq 0 ]; then
    echo "peers: nginx, prometheus, promtool and prometheus-blackbox-exporter are installed"
    exit 0
fi

echo "peers: installing ${missing[*]}"
# Debian's maintainer scripts start a package's service unless policy-rc.d says no (exit 101);
# the file is ours only if it was not there before.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
