#!/usr/bin/env bash
# Run the side-by-side test of `stillup exporter` and blackbox_exporter (same targets, same
# blackbox.yml) and write its table of verdicts to bench/exporter-vs-blackbox.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/bench/exporter-vs-blackbox.md"
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
STILLUP_REQUIRE_SERVICES=1 STILLUP_EXPORTER_TABLE="$table" cargo test --locked -q -p stillup \
    --test integration -- blackbox::stillup_and_blackbox_exporter_give_the_same_verdicts
{
    echo "# \`stillup exporter\` and blackbox_exporter, side by side"
    echo
    echo "Written by \`bench/exporter_table.sh\` from the integration test"
    echo "\`blackbox::stillup_and_blackbox_exporter_give_the_same_verdicts\`"
    echo "(crates/stillup/tests/integration/blackbox.rs): the same loopback targets, one"
    echo "\`blackbox.yml\` given to blackbox_exporter and to stillup (\`--blackbox-config\`), and the"
    echo "same modules as \`[modules.NAME]\` tables of a stillup config; one \`/probe\` per case and"
    echo "exporter, scrape timeout 10 s unless the case says otherwise."
    echo "$(prometheus-blackbox-exporter --version 2>&1 | head -n1 | sed 's/^/blackbox: /'); $(date -u +%Y-%m-%d)."
    echo
    cat "$table"
} >"$out"
echo "wrote $out"
