#!/usr/bin/env bash
# Run the test suite: scripts/test.sh [pytest arguments...]
# The tests make their own database and RabbitMQ vhost per run, so setup.sh
# only has to make sure the servers are there, with Chromium for the browser tests,
# Compose for the compose file's and Prometheus for the monitoring test.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/setup.sh --with-browser --with-compose --with-monitoring

status=0
.venv/bin/pytest "$@" || status=$?
# pytest's 5 means "no tests collected": a run that tested nothing must not pass.
if (( status == 5 )); then
    echo "test: error: pytest collected no tests" >&2
fi
exit "$status"
