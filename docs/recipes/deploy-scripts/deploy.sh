#!/usr/bin/env bash
# Roll out a new image, wait for it with stillup, and act on why it did not come up:
# a certificate or login problem fails at once (a rollback would not fix it), a service that
# never answered or answered an error status is rolled back.
#
#   IMAGE=registry.example.com/api:1.4.3 ./deploy.sh
set -euo pipefail

image=${IMAGE:?set IMAGE to the image to deploy}
health_url=${HEALTH_URL:-https://api.example.com/health}
db_url=${DB_URL:-postgres://db.example.com:5432/app}
timeout=${TIMEOUT:-5m}
report=$(mktemp)
trap 'rm -f "$report"' EXIT

kubectl set image deployment/api "api=$image"

code=0
stillup wait "$health_url" "$db_url" --timeout "$timeout" \
    --fail-fast tls_verify,auth_failed --output-file "json=$report" || code=$?

if [ "$code" -eq 0 ]; then
    echo "deploy: $image is healthy"
    exit 0
fi
if [ ! -s "$report" ]; then
    echo "deploy: stillup refused its input (exit $code); nothing was rolled back" >&2
    exit 2
fi

class=$(jq -r '[.targets[] | select(.healthy | not) | .last_failure.class // empty][0] // "unknown"' "$report")
case "$class" in
    tls_verify | tls_handshake)
        echo "deploy: TLS failed ($class): fix the certificate or the trust store; not rolling back" >&2
        exit 3
        ;;
    auth_failed)
        echo "deploy: the login was refused: check the credentials; not rolling back" >&2
        exit 3
        ;;
    *)
        echo "deploy: $image did not come up ($class); rolling back" >&2
        kubectl rollout undo deployment/api
        exit 1
        ;;
esac
