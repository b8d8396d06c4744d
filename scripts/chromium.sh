#!/usr/bin/env bash
# Install Debian's `chromium` when missing: the watch report's screenshot test renders the HTML
# page in headless Chromium. `apt-get update` only when it is missing; nothing is started.
set -euo pipefail

if command -v chromium >/dev/null && [ -d /usr/share/fonts/truetype/dejavu ]; then
    echo "chromium: installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

echo "chromium: installing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# A font for the page's text: without one, headless Chromium draws none.
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(chromium --version 2>/dev/null || echo 'installed')"
