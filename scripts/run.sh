#!/usr/bin/env bash
# Run the whole imaging uploader on this machine: local PostgreSQL and RabbitMQ,
# demo data, then the four services in the foreground. Ctrl-C stops them all.
#
# Any UPLOADER_* variable already set wins over the defaults below.
set -euo pipefail

if (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501 )); then
    echo "run: error: needs bash 5.1 or newer (for wait -n -p)" >&2
    exit 1
fi

cd "$(dirname "$0")/.."

SERVICES=(logstore validator launcher gateway)
HEALTH_TIMEOUT=60
# Above the launcher's default shutdown grace (30 s) for running pipelines.
STOP_TIMEOUT=60
PYTHON=.venv/bin/python

declare -A service_pid=()   # name -> pid
declare -A pid_service=()   # pid -> name
stop_requested=0

say() { printf 'run: %s\n' "$*"; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

export_defaults() {
    export UPLOADER_DATABASE_URL=${UPLOADER_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/${UPLOADER_DB_NAME:-uploader}}
    export UPLOADER_AMQP_URL=${UPLOADER_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}
    export UPLOADER_INCOMING_PATH=${UPLOADER_INCOMING_PATH:-$PWD/var/incoming}
    mkdir -p "$UPLOADER_INCOMING_PATH"
}

# Exports variable $1 as set in the environment, else as kept in file $2, which is
# made once (readable by its owner only) with a random value of $3 bytes.
export_secret() {
    local variable=$1 file=$2 random_bytes=$3
    if [[ -z ${!variable:-} ]]; then
        if [[ ! -s $file ]]; then
            mkdir -p "$(dirname "$file")"
            (umask 077 && "$PYTHON" -c 'import secrets, sys; print(secrets.token_urlsafe(int(sys.argv[1])))' \
                "$random_bytes" >"$file")
        fi
        printf -v "$variable" '%s' "$(<"$file")"
    fi
    export "$variable"
}

export_secrets() {
    export_secret UPLOADER_DEMO_TOKEN var/demo-token 24
    export_secret UPLOADER_DEMO_PASSWORD var/demo-password 12
    # Shared by the gateway and the logstore, which refuses requests without it.
    export_secret UPLOADER_INTERNAL_SECRET var/internal-secret 32
}

load_demo_data() {
    say "loading demo data"
    "$PYTHON" -m services.validator.load_demo
    "$PYTHON" -m services.gateway.load_demo
}

refuse_if_gateway_port_taken() {
    if gateway_healthy; then
        die "something already answers on port ${UPLOADER_GATEWAY_PORT:-8080} (another run.sh?); stop it first"
    fi
}

start_services() {
    local name
    for name in "${SERVICES[@]}"; do
        "$PYTHON" -m "services.$name" &
        service_pid[$name]=$!
        pid_service[$!]=$name
        say "started $name (pid $!)"
    done
}

running_pids() {
    local pid
    for pid in "${service_pid[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

first_dead_service() {
    local name
    for name in "${SERVICES[@]}"; do
        if ! kill -0 "${service_pid[$name]}" 2>/dev/null; then
            echo "$name"
            return 0
        fi
    done
    return 1
}

stop_services() {
    local pids deadline
    mapfile -t pids < <(running_pids)
    (( ${#pids[@]} )) || return 0
    say "stopping ${#pids[@]} service(s)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$(( SECONDS + STOP_TIMEOUT ))
    while [[ -n $(running_pids) ]] && (( SECONDS < deadline )); do
        sleep 0.2
    done
    mapfile -t pids < <(running_pids)
    if (( ${#pids[@]} )); then
        say "still running after ${STOP_TIMEOUT}s, killing: ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    wait || true
}

on_stop_signal() {
    stop_requested=1
}

# The venv's Python, not curl: a fresh Debian machine may have no curl.
gateway_healthy() {
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "http://127.0.0.1:${UPLOADER_GATEWAY_PORT:-8080}/readyz" 2>/dev/null
}

wait_until_healthy() {
    local deadline=$(( SECONDS + HEALTH_TIMEOUT )) dead
    until gateway_healthy; do
        if (( stop_requested )); then
            stop_services
            exit 0
        fi
        if dead=$(first_dead_service); then
            say "$dead exited before the gateway became healthy"
            stop_services
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            say "the gateway was not ready (/readyz) within ${HEALTH_TIMEOUT}s"
            stop_services
            exit 1
        fi
        sleep 0.5
    done
}

print_banner() {
    local base="http://127.0.0.1:${UPLOADER_GATEWAY_PORT:-8080}"
    local token=$UPLOADER_DEMO_TOKEN
    cat <<EOF

Imaging uploader is running at $base/
  User: demo  Password: $UPLOADER_DEMO_PASSWORD
  API:      $base/api/v1/uploads   (OpenAPI: /api/v1/openapi.json)
  Token:    $token   (send as: Authorization: Bearer $token)
  Scan:     .venv/bin/uploader-admin demo-archive   (writes MTL0001_300001_V1.tgz into the current folder; --broken: one the pipeline fails)
  Example:  curl -H "Authorization: Bearer $token" -F candid=300001 -F pscid=MTL0001 -F visit_label=V1 -F file=@MTL0001_300001_V1.tgz $base/api/v1/uploads
Press Ctrl-C to stop.

EOF
}

# Returns when a service exits on its own (exit 1) or Ctrl-C/SIGTERM arrives (exit 0).
supervise() {
    local exited_pid status
    while true; do
        exited_pid=
        status=0
        wait -n -p exited_pid "${service_pid[@]}" || status=$?
        if (( stop_requested )); then
            stop_services
            say "stopped"
            exit 0
        fi
        if [[ -n $exited_pid ]]; then
            say "${pid_service[$exited_pid]} exited on its own (status $status); stopping the others"
            stop_services
            exit 1
        fi
    done
}

main() {
    bash scripts/setup.sh --with-database
    export_defaults
    export_secrets
    refuse_if_gateway_port_taken
    load_demo_data
    trap on_stop_signal INT TERM
    # Whatever ends this script early (set -e included) must not leave services behind.
    trap stop_services EXIT
    start_services
    wait_until_healthy
    print_banner
    supervise
}

main "$@"
