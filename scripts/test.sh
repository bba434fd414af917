#!/usr/bin/env bash
# Run the test suite: scripts/test.sh [pytest arguments...]
# The tests make their own database and RabbitMQ vhost per run, so setup.sh
# only has to make sure the servers are there (MariaDB too, for the LORIS site mode's tests: they make their
# own LORIS database per run), with Chromium for the browser tests, Compose for the compose file's and
# Prometheus for the monitoring test.
#
# The long-outage test spends five minutes waiting with the servers cut away from
# its services, the machine idle. When the arguments are options only (no test
# chosen), it runs beside the rest of the suite, in a pytest of its own (with a
# database and vhost of its own, like any run); its output follows the suite's.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/setup.sh --with-browser --with-compose --with-monitoring --with-loris

LONG_OUTAGE=tests/e2e/test_long_outage.py

options_only() {
    local argument
    for argument in "$@"; do
        [[ $argument == -* ]] || return 1
    done
}

# pytest's 5 means "no tests collected": a run that tested nothing must not pass.
checked() {
    local status=$1 what=$2
    if (( status == 5 )); then
        echo "test: error: pytest collected no tests ($what)" >&2
    fi
    return "$status"
}

if ! options_only "$@"; then
    status=0
    .venv/bin/pytest "$@" || status=$?
    checked "$status" "the tests asked for" || exit $?
    exit 0
fi

mkdir -p var
outage_log=var/test-long-outage.log
# A background job would ignore SIGINT: Ctrl-C must reach it too, so that it tears its stack down.
( trap - INT; exec .venv/bin/pytest -p no:cacheprovider "$@" "$LONG_OUTAGE" >"$outage_log" 2>&1 ) &
outage_pid=$!
trap 'wait "$outage_pid" 2>/dev/null; exit 130' INT

status=0
.venv/bin/pytest "$@" --ignore="$LONG_OUTAGE" || status=$?
outage_status=0
wait "$outage_pid" || outage_status=$?
trap - INT

echo
echo "test: $LONG_OUTAGE, run beside the suite (its output, also in $outage_log):"
cat "$outage_log"
checked "$status" "the suite" || exit $?
checked "$outage_status" "$LONG_OUTAGE" || exit $?
