#!/usr/bin/env bash
# Run the whole imaging uploader on this machine: local PostgreSQL and RabbitMQ,
# demo data, then the four services in the foreground under honcho (Procfile).
# Ctrl-C stops them all; so does any service exiting on its own.
#
#   LAUNCHERS=3 VALIDATORS=2 scripts/run.sh    (make run LAUNCHERS=3 VALIDATORS=2): that many replicas
#   LORIS=1 scripts/run.sh                     (make run LORIS=1): LORIS site mode on the local stand-in LORIS
#                                              database (docs/loris-site.md), the reference pipeline as LORIS-MRI
#
# Validators and launchers answer /readyz on ports from UPLOADER_REPLICA_BASE_PORT (default 9000):
# validators 9000, 9001, ...; launchers 9100, 9101, ... Any UPLOADER_* variable already set wins
# over what this script sets.
set -euo pipefail

cd "$(dirname "$0")/.."

LAUNCHERS=${LAUNCHERS:-1}
VALIDATORS=${VALIDATORS:-1}
LORIS=${LORIS:-0}
LORIS_DB_NAME=${UPLOADER_LORIS_DB_NAME:-loris}
# The reference pipeline as LORIS-MRI: it reads the upload's mri_upload row and spools its log (pipeline/loris_site.py).
LORIS_PIPELINE_COMMAND='{python} -m pipeline --upload-id {upload_id} --loris-upload-id {loris_upload_id} --output-dir {output_dir} {scan_path}'
REPLICA_BASE_PORT=${UPLOADER_REPLICA_BASE_PORT:-9000}
HEALTH_TIMEOUT=60
PYTHON=.venv/bin/python

honcho_pid=
stop_requested=0

# shellcheck source=scripts/local_postgres.sh
source scripts/local_postgres.sh
# shellcheck source=scripts/local_mariadb.sh
source scripts/local_mariadb.sh

say() { printf 'run: %s\n' "$*"; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

check_replica_counts() {
    local name
    for name in LAUNCHERS VALIDATORS; do
        [[ ${!name} =~ ^[1-9][0-9]?$ ]] || die "$name must be a number from 1 to 99, not '${!name}'"
    done
    [[ $LORIS == [01] ]] || die "LORIS must be 0 or 1, not '$LORIS'"
}

# Only what `make run` needs beyond the settings' own defaults (docs/configuration.md). Their relative
# paths (var/incoming, var/output) are this folder's, where the services start; they make them.
export_defaults() {
    export UPLOADER_DATABASE_URL=${UPLOADER_DATABASE_URL:-$(local_pg_url "${UPLOADER_DB_NAME:-uploader}")}
    # A logstore moved to another port: the gateway finds it there.
    if [[ -n ${UPLOADER_LOGSTORE_PORT:-} ]]; then
        export UPLOADER_LOGSTORE_URL=${UPLOADER_LOGSTORE_URL:-http://127.0.0.1:$UPLOADER_LOGSTORE_PORT}
    fi
    # The Procfile runs `python`: the venv's.
    export PATH=$PWD/.venv/bin:$PATH
    export PYTHONUNBUFFERED=1
}

# LORIS site mode on the local LORIS database that setup.sh --with-loris makes, as its MariaDB users.
export_loris_defaults() {
    export UPLOADER_LORIS_DATABASE_URL=${UPLOADER_LORIS_DATABASE_URL:-$(local_loris_url "$LORIS_DB_NAME")}
    export UPLOADER_LORIS_MRI_DATABASE_URL=${UPLOADER_LORIS_MRI_DATABASE_URL:-$(local_loris_mri_url "$LORIS_DB_NAME")}
    export UPLOADER_PIPELINE_COMMAND=${UPLOADER_PIPELINE_COMMAND:-$LORIS_PIPELINE_COMMAND}
}

# Where each secret came from, for the banner: its variable, or its file.
declare -A secret_source

# Exports variable $1 as set in the environment, else as kept in file $2, which is
# made once (readable by its owner only) with a random value of $3 bytes.
export_secret() {
    local variable=$1 file=$2 random_bytes=$3
    secret_source[$variable]=$variable
    if [[ -z ${!variable:-} ]]; then
        secret_source[$variable]=$file
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
    "$PYTHON" -m services.validator.demo_registry
    "$PYTHON" -m services.gateway.admin.demo_user
}

# The demo project into the LORIS database (as the local administrator: the uploader's user may not write
# candidates or users), then the demo token for LORIS's user demo.
load_loris_demo_data() {
    say "loading the LORIS demo project into the LORIS database $LORIS_DB_NAME"
    "$PYTHON" -m loris_standin.demo "$(local_mariadb_admin_url "$LORIS_DB_NAME")"
    # LORIS's own setting decides when UPLOADER_AUTO_LAUNCH is not given: the demo's uploads run once validated.
    as_mariadb_admin "$LORIS_DB_NAME" -e "UPDATE Config SET Value = '1' WHERE ConfigID =
        (SELECT ID FROM ConfigSettings WHERE Name = 'ImagingUploaderAutoLaunch')"
    "$PYTHON" -m services.gateway.admin.demo_user
}

refuse_if_gateway_port_taken() {
    if gateway_ready; then
        die "something already answers on port ${UPLOADER_GATEWAY_PORT:-8080} (another run.sh?); stop it first"
    fi
}

# The venv's Python, not curl: a fresh Debian machine may have no curl.
gateway_ready() {
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "http://127.0.0.1:${UPLOADER_GATEWAY_PORT:-8080}/readyz" 2>/dev/null
}

# honcho prefixes each line with the process (launcher.2) and stops every process when one exits.
# Its own .env loading is off (--env /dev/null): this script's environment is the configuration.
start_services() {
    say "starting $VALIDATORS validator(s), $LAUNCHERS launcher(s), the logstore and the gateway"
    "$PYTHON" scripts/start_procfile.py --procfile Procfile --env /dev/null --port "$REPLICA_BASE_PORT" \
        --concurrency "validator=$VALIDATORS,launcher=$LAUNCHERS" &
    honcho_pid=$!
}

honcho_running() {
    [[ -n $honcho_pid ]] && kill -0 "$honcho_pid" 2>/dev/null
}

stop_services() {
    if honcho_running; then
        kill -TERM "$honcho_pid" 2>/dev/null || true
    fi
}

# Ctrl-C reaches honcho from the terminal by itself; a signal sent to this script alone is passed on.
on_stop_signal() {
    stop_requested=1
    stop_services
}

# Returns honcho's exit status once it has exited (a trapped signal interrupts `wait`, hence the loop).
wait_for_honcho() {
    local status=0
    while true; do
        wait "$honcho_pid" && status=0 || status=$?
        honcho_running || return "$status"
    done
}

# Fails when Ctrl-C came first, honcho stopped (a service exited), or the gateway took too long.
wait_until_ready() {
    local deadline=$(( SECONDS + HEALTH_TIMEOUT ))
    until gateway_ready; do
        if (( stop_requested )) || ! honcho_running; then
            return 1
        fi
        if (( SECONDS >= deadline )); then
            failure="the gateway was not ready (/readyz) within ${HEALTH_TIMEOUT}s"
            return 1
        fi
        sleep 0.5
    done
}

# "9000" for one replica, "9100-9102" for three.
port_range() {
    local first=$1 count=$2
    if (( count == 1 )); then echo "$first"; else echo "$first-$(( first + count - 1 ))"; fi
}

# "user@host:port/database" of a mysql:// URL, without its password.
url_without_password() {
    local url=${1#mysql://} user
    user=${url%%@*}
    printf '%s@%s' "${user%%:*}" "${url#*@}"
}

print_user_lines() {
    if (( ! LORIS )); then
        echo "  User: demo  Password: $UPLOADER_DEMO_PASSWORD"
        return
    fi
    cat <<EOF
  LORIS site mode on the LORIS database $(url_without_password "$UPLOADER_LORIS_DATABASE_URL")
            (UPLOADER_LORIS_DATABASE_URL): its candidates, users and mri_upload rows are the uploader's
  Pipeline: $UPLOADER_PIPELINE_COMMAND
            as LORIS-MRI's user $(url_without_password "$UPLOADER_LORIS_MRI_DATABASE_URL"); its log is read from notification_spool
  User: demo (LORIS's users table)  Password: $UPLOADER_DEMO_PASSWORD   (from ${secret_source[UPLOADER_DEMO_PASSWORD]})
  Token of LORIS's user demo: from ${secret_source[UPLOADER_DEMO_TOKEN]} (the uploader keeps its digest)
  Auto-launch: $(auto_launch_source)
EOF
}

auto_launch_source() {
    if [[ -n ${UPLOADER_AUTO_LAUNCH:-} ]]; then
        echo "$UPLOADER_AUTO_LAUNCH (UPLOADER_AUTO_LAUNCH)"
    else
        echo "LORIS's Config ImagingUploaderAutoLaunch (set to 1 in the demo database)"
    fi
}

print_banner() {
    local base="http://127.0.0.1:${UPLOADER_GATEWAY_PORT:-8080}"
    local token=$UPLOADER_DEMO_TOKEN
    cat <<EOF

Imaging uploader is running at $base/
$(print_user_lines)
  API:      $base/api/v1/uploads   (OpenAPI: /api/v1/openapi.json)
  Token:    $token   (send as: Authorization: Bearer $token)
  Scan:     .venv/bin/uploader-admin demo-archive   (writes MTL0001_300001_V1.tgz into the current folder; --broken: one the pipeline fails)
  Example:  curl -H "Authorization: Bearer $token" -F candid=300001 -F pscid=MTL0001 -F visit_label=V1 -F file=@MTL0001_300001_V1.tgz $base/api/v1/uploads
  Workers:  $VALIDATORS validator(s) on port(s) $(port_range "$REPLICA_BASE_PORT" "$VALIDATORS"), $LAUNCHERS launcher(s) on port(s) $(port_range $(( REPLICA_BASE_PORT + 100 )) "$LAUNCHERS") (/readyz, /metrics)
Press Ctrl-C to stop.


EOF
}

main() {
    local status failure="a service exited on its own and honcho stopped the others"
    check_replica_counts
    if (( LORIS )); then
        bash scripts/setup.sh --with-database --with-loris
    else
        bash scripts/setup.sh --with-database
    fi
    export_defaults
    export_secrets
    refuse_if_gateway_port_taken
    if (( LORIS )); then
        export_loris_defaults
        load_loris_demo_data
    else
        load_demo_data
    fi
    trap on_stop_signal INT TERM
    # Whatever ends this script early (set -e included) must not leave services behind.
    trap 'stop_services; [[ -z $honcho_pid ]] || wait_for_honcho || true' EXIT
    start_services
    if wait_until_ready; then
        print_banner
    else
        stop_services
    fi
    wait_for_honcho && status=0 || status=$?
    trap - EXIT
    # 130 and 143: honcho itself was stopped by Ctrl-C or SIGTERM (sent to the process group, say, when
    # this script runs in the background and ignores SIGINT).
    if (( stop_requested || status == 130 || status == 143 )); then
        say "stopped"
        exit 0
    fi
    say "$failure (honcho's status: $status)"
    exit 1
}

main "$@"
