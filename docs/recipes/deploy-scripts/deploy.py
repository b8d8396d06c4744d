#!/usr/bin/env python3
"""Roll out a new image, wait for it with stillup, and act on why it did not come up.

A certificate or login problem fails at once (a rollback would not fix it); a service that
never answered or answered an error status is rolled back.

    IMAGE=registry.example.com/api:1.4.3 ./deploy.py
"""

import json
import os
import subprocess
import sys

FAIL_AT_ONCE = {
    "tls_verify": "TLS: the certificate is not trusted; fix it or the trust store",
    "tls_handshake": "TLS: the handshake failed; check the server's TLS set-up",
    "auth_failed": "the login was refused; check the credentials",
}


def kubectl(*args):
    subprocess.run(["kubectl", *args], check=True, timeout=120)


def wait(targets, timeout):
    """The JSON report of `stillup wait`, or None when stillup refused its input."""
    run = subprocess.run(
        ["stillup", "wait", *targets, "--timeout", timeout,
         "--fail-fast", "tls_verify,auth_failed", "--output", "json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if run.returncode == 2:
        return None
    return json.loads(run.stdout)


def failure_class(report):
    for target in report["targets"]:
        if not target["healthy"] and target["last_failure"]:
            return target["last_failure"]["class"]
    return "unknown"


def main():
    image = os.environ["IMAGE"]
    targets = [
        os.environ.get("HEALTH_URL", "https://api.example.com/health"),
        os.environ.get("DB_URL", "postgres://db.example.com:5432/app"),
    ]
    kubectl("set", "image", "deployment/api", f"api={image}")

    report = wait(targets, os.environ.get("TIMEOUT", "5m"))
    if report is None:
        print("deploy: stillup refused its input; nothing was rolled back", file=sys.stderr)
        return 2
    if report["success"]:
        print(f"deploy: {image} is healthy")
        return 0
    cls = failure_class(report)
    if cls in FAIL_AT_ONCE:
        print(f"deploy: {FAIL_AT_ONCE[cls]} ({cls}); not rolling back", file=sys.stderr)
        return 3
    print(f"deploy: {image} did not come up ({cls}); rolling back", file=sys.stderr)
    kubectl("rollout", "undo", "deployment/api")
    return 1


if __name__ == "__main__":
    sys.exit(main())
