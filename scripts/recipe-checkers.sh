#!/usr/bin/env bash
# What the recipe test (crates/stillup/tests/integration/recipes.rs) runs besides stillup: jq,
# which the recipes' shell steps use, and check-jsonschema (PyPI), whose bundled schemas of
# GitHub Actions, GitLab CI and compose validate the recipes offline. check-jsonschema goes
# into a virtualenv under target/, where the test looks for it and `cargo clean` removes it.
# Idempotent: what is installed is left alone.
set -uo pipefail
cd "$(dirname "$0")/.."

venv=target/recipe-checkers
version=0.39.0

command -v jq >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq
} || echo "recipe-checkers: installing jq failed (the recipe tests will fail loudly)"

if [ -x "$venv/bin/check-jsonschema" ] \
    && "$venv/bin/check-jsonschema" --version 2>/dev/null | grep -q "version $version\$"; then
    exit 0
fi
mkdir -p target
# Debian's python3 makes a venv only with python3-venv installed.
python3 -m venv --clear "$venv" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
        && python3 -m venv --clear "$venv"
} || { echo "recipe-checkers: python3 -m venv failed (the recipe schema test will fail loudly)"; exit 0; }
timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$version" \
    || echo "recipe-checkers: installing check-jsonschema failed (the recipe schema test will fail loudly)"
